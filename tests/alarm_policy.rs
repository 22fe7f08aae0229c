//! AlarmPolicy against the emulator, through the real SDK: create, steady state, drift, ownership,
//! Observe, Retain and throttling.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic, Tag};
use dialtone::api::alarm_policy::{AlarmPolicy, ManagementPolicy};
use dialtone::controller::{AlarmEngine, Mode, PolicyOutcome};
use k8s_openapi::jiff::Timestamp;
use support::emulator::Emulator;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn named(policies: &[AlarmPolicy], name: &str) -> AlarmPolicy {
    policies
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some(name))
        .expect("example policy")
        .clone()
}

fn outcome<'a>(outcomes: &'a [PolicyOutcome], owner: &str) -> &'a PolicyOutcome {
    outcomes
        .iter()
        .find(|o| o.owner == owner)
        .expect("outcome for policy")
}

async fn sweep(
    engine: &mut AlarmEngine,
    policies: &[AlarmPolicy],
    mode: Mode,
) -> Vec<PolicyOutcome> {
    engine.reconcile(policies, mode, Timestamp::now()).await
}

/// The queue-wait alarm as someone writes it by hand, watching `queue` above `threshold`;
/// callers add what else they change.
fn hand_written_queue_wait(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    queue: &str,
    threshold: f64,
) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    cloudwatch
        .put_metric_alarm()
        .alarm_name(QUEUE_WAIT)
        .namespace("AWS/Connect")
        .metric_name("LongestQueueWaitTime")
        .dimensions(dimension(
            "InstanceId",
            "7c0e9b14-8a3d-4f6e-9d21-3b5f2a1c4e88",
        ))
        .dimensions(dimension("MetricGroup", "Queue"))
        .dimensions(dimension("QueueName", queue))
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(3)
        .datapoints_to_alarm(2)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
}

const PRIMARY: &str = "contact-center/connect-primary";
const QUEUE_WAIT: &str = "cc-prod-use1-queue-wait-basic";

#[tokio::test]
async fn first_apply_creates_every_alarm_with_owner_tag_and_routing() {
    let emulator = Emulator::acquire().await;
    let mut engine = AlarmEngine::new(emulator.clients().await);
    let policies = support::example_alarm_policies();
    let outcomes = sweep(&mut engine, &policies, Mode::Apply).await;
    for outcome in &outcomes {
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        let summary = outcome.status.summary.clone().expect("summary");
        assert_eq!(
            (summary.drifted, summary.conflicts),
            (0, 0),
            "{}",
            outcome.owner
        );
        assert!(
            outcome
                .status
                .alarms
                .iter()
                .all(|a| a.arn.is_some() && a.state.is_some())
        );
        let ready = &outcome.status.conditions[0];
        assert_eq!(
            (
                ready.type_.as_str(),
                ready.status.as_str(),
                ready.reason.as_str()
            ),
            ("Ready", "True", "Reconciled")
        );
    }
    assert_eq!(emulator.count("cloudwatch:PutMetricAlarm"), 18);

    let east = emulator.cloudwatch("us-east-1");
    let alarm = emulator.alarm("us-east-1", QUEUE_WAIT).await;
    assert_eq!(alarm.threshold(), Some(120.0));
    assert_eq!(
        alarm.alarm_actions().len(),
        2,
        "high routes to pager and ServiceNow"
    );
    assert_eq!(
        (alarm.evaluation_periods(), alarm.datapoints_to_alarm()),
        (Some(3), Some(2))
    );
    let tags = east
        .list_tags_for_resource()
        .resource_arn(alarm.alarm_arn().expect("arn"))
        .send()
        .await
        .expect("tags");
    let tags: BTreeSet<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        tags.contains(&("dialtone.io/owner".into(), PRIMARY.into())),
        "{tags:?}"
    );
    assert!(tags.contains(&("team".into(), "contact-center".into())));

    let west = emulator
        .cloudwatch("us-west-2")
        .describe_alarms()
        .send()
        .await
        .expect("describe west");
    assert_eq!(
        west.metric_alarms().len(),
        2,
        "the secondary policy lives in us-west-2"
    );
}

#[tokio::test]
async fn second_apply_makes_zero_write_calls_and_batches_reads() {
    let emulator = Emulator::acquire().await;
    let mut engine = AlarmEngine::new(emulator.clients().await);
    let policies = support::example_alarm_policies();
    sweep(&mut engine, &policies, Mode::Apply).await;
    emulator.forget_calls();

    let outcomes = sweep(
        &mut AlarmEngine::new(emulator.clients().await),
        &policies,
        Mode::Apply,
    )
    .await;
    assert!(
        outcomes
            .iter()
            .all(|o| o.plan.actions.is_empty() && o.done.is_empty())
    );
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
    // Two regions: one DescribeAlarms and one GetResources each, whatever the number of policies.
    assert_eq!(emulator.count("cloudwatch:DescribeAlarms"), 2);
    assert_eq!(emulator.count("resourcegroupstaggingapi:GetResources"), 2);

    // The same engine keeps ownership cached while nothing changes: DescribeAlarms only.
    sweep(&mut engine, &policies, Mode::Apply).await;
    emulator.forget_calls();
    sweep(&mut engine, &policies, Mode::Apply).await;
    assert_eq!(
        emulator.calls(),
        ["cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarms"]
    );
}

#[tokio::test]
async fn out_of_band_changes_show_as_drift_and_are_corrected() {
    let emulator = Emulator::acquire().await;
    let mut engine = AlarmEngine::new(emulator.clients().await);
    let policies = vec![named(&support::example_alarm_policies(), "connect-primary")];
    sweep(&mut engine, &policies, Mode::Apply).await;

    // Someone edits the queue-wait alarm by hand: threshold, a dimension and the actions.
    let east = emulator.cloudwatch("us-east-1");
    hand_written_queue_wait(&east, "VIPQueue", 300.0)
        .treat_missing_data("notBreaching")
        .alarm_description(
            "Longest wait in BasicQueue above 2 minutes. Check staffing and routing profiles.",
        )
        .alarm_actions("arn:aws:sns:us-east-1:123456789012:somebody-else")
        .ok_actions("arn:aws:sns:us-east-1:123456789012:cc-oncall-pager")
        .send()
        .await
        .expect("hand edit");
    // ... and deletes another one.
    east.delete_alarms()
        .alarm_names("cc-prod-use1-missed-calls")
        .send()
        .await
        .expect("hand delete");

    let planned = sweep(&mut engine, &policies, Mode::Plan).await;
    let plan = outcome(&planned, PRIMARY);
    let queue = plan
        .status
        .alarms
        .iter()
        .find(|a| a.alarm_name == QUEUE_WAIT)
        .expect("queue alarm");
    let fields: BTreeSet<(&str, &str, &str)> = queue
        .drift
        .iter()
        .map(|d| (d.field.as_str(), d.desired.as_str(), d.actual.as_str()))
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            ("threshold", "120", "300"),
            ("metric.dimensions.QueueName", "BasicQueue", "VIPQueue"),
            (
                "alarmActions",
                "arn:aws:sns:us-east-1:123456789012:cc-oncall-pager, arn:aws:sns:us-east-1:123456789012:cc-servicenow",
                "arn:aws:sns:us-east-1:123456789012:somebody-else"
            ),
        ])
    );
    let missed = plan
        .status
        .alarms
        .iter()
        .find(|a| a.alarm_name == "cc-prod-use1-missed-calls")
        .expect("missed");
    assert_eq!(missed.drift[0].field, "alarm");
    assert_eq!(plan.status.summary.as_ref().map(|s| s.drifted), Some(2));
    assert_eq!(plan.status.conditions[0].reason, "Drifted");

    let applied = sweep(&mut engine, &policies, Mode::Apply).await;
    let applied = outcome(&applied, PRIMARY);
    assert_eq!(
        applied.done.len(),
        2,
        "one update, one re-create: {:?}",
        applied.done
    );
    assert_eq!(applied.status.summary.as_ref().map(|s| s.drifted), Some(0));
    let fixed = emulator.alarm("us-east-1", QUEUE_WAIT).await;
    assert_eq!(fixed.threshold(), Some(120.0));
    assert_eq!(fixed.dimensions().len(), 3);
    assert!(
        fixed
            .dimensions()
            .iter()
            .any(|d| d.value() == Some("BasicQueue"))
    );
    let after = sweep(&mut engine, &policies, Mode::Plan).await;
    assert!(outcome(&after, PRIMARY).plan.actions.is_empty());
}

#[tokio::test]
async fn foreign_alarm_with_the_same_name_is_reported_and_untouched_unless_adopted() {
    let emulator = Emulator::acquire().await;
    let east = emulator.cloudwatch("us-east-1");
    east.put_metric_alarm()
        .alarm_name(QUEUE_WAIT)
        .namespace("Custom")
        .metric_name("Foreign")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(7.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .tags(Tag::builder().key("team").value("someone-else").build())
        .send()
        .await
        .expect("foreign alarm");
    emulator.forget_calls();

    let mut policy = named(&support::example_alarm_policies(), "connect-primary");
    let mut engine = AlarmEngine::new(emulator.clients().await);
    let outcomes = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    let result = outcome(&outcomes, PRIMARY);
    let queue = result
        .status
        .alarms
        .iter()
        .find(|a| a.alarm_name == QUEUE_WAIT)
        .expect("queue alarm");
    assert!(
        queue
            .conflict
            .as_deref()
            .is_some_and(|c| c.contains("adoptExisting")),
        "{queue:?}"
    );
    assert_eq!(result.status.conditions[0].reason, "Conflict");
    assert_eq!(result.status.summary.as_ref().map(|s| s.conflicts), Some(1));
    assert_eq!(
        emulator.count("cloudwatch:PutMetricAlarm"),
        7,
        "the other alarms are created"
    );
    let foreign = emulator.alarm("us-east-1", QUEUE_WAIT).await;
    assert_eq!(foreign.metric_name(), Some("Foreign"), "untouched");
    assert_eq!(foreign.threshold(), Some(7.0));

    policy.spec.adopt_existing = true;
    let outcomes = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    assert_eq!(outcome(&outcomes, PRIMARY).plan.conflicts(), 0);
    let adopted = emulator.alarm("us-east-1", QUEUE_WAIT).await;
    assert_eq!(adopted.metric_name(), Some("LongestQueueWaitTime"));
    let arn = adopted.alarm_arn().expect("arn");
    let tags = east
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .expect("tags");
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == Some("dialtone.io/owner") && t.value() == Some(PRIMARY))
    );
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == Some("team") && t.value() == Some("contact-center"))
    );
}

#[tokio::test]
async fn alarm_removed_from_the_policy_is_deleted() {
    let emulator = Emulator::acquire().await;
    let mut engine = AlarmEngine::new(emulator.clients().await);
    let mut policy = named(&support::example_alarm_policies(), "connect-primary");
    sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    policy.spec.alarms.retain(|a| a.name != "missed-calls");
    let outcomes = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    assert!(
        outcome(&outcomes, PRIMARY)
            .done
            .iter()
            .any(|a| a.alarm_name() == "cc-prod-use1-missed-calls")
    );
    let names = emulator.alarm_names("us-east-1").await;
    assert_eq!(names.len(), 7);
    assert!(!names.iter().any(|n| n == "cc-prod-use1-missed-calls"));
}

#[tokio::test]
async fn observe_reads_and_reports_but_writes_nothing() {
    let emulator = Emulator::acquire().await;
    let mut policy = named(&support::example_alarm_policies(), "connect-primary");
    let mut engine = AlarmEngine::new(emulator.clients().await);
    sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    emulator.delete_alarm("us-east-1", QUEUE_WAIT).await;
    emulator.forget_calls();

    policy.spec.management_policy = ManagementPolicy::Observe;
    policy.spec.alarms.retain(|a| a.name != "missed-calls");
    let outcomes = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
    let result = outcome(&outcomes, PRIMARY);
    assert_eq!(result.status.summary.as_ref().map(|s| s.drifted), Some(1));
    assert_eq!(result.status.conditions[0].reason, "Drifted");
    assert!(result.status.conditions[0].message.contains("Observe"));
}

#[tokio::test]
async fn cleanup_deletes_owned_alarms_and_treats_gone_as_success() {
    let emulator = Emulator::acquire().await;
    let policy = named(&support::example_alarm_policies(), "connect-primary");
    let mut engine = AlarmEngine::new(emulator.clients().await);
    sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    let first = engine
        .cleanup(&policy, Timestamp::now())
        .await
        .expect("cleanup");
    assert!(first.errors.is_empty());
    assert_eq!(first.done.len(), 8);
    assert!(emulator.alarm_names("us-east-1").await.iter().all(
        |n| !n.starts_with("cc-prod-use1-")
            || n.contains("lambda")
            || n.contains("dynamodb")
            || n.contains("lex")
            || n.contains("api")
    ));
    let again = engine
        .cleanup(&policy, Timestamp::now())
        .await
        .expect("cleanup");
    assert!(
        again.errors.is_empty() && again.done.is_empty(),
        "already gone is fine"
    );
    let mut never = policy.clone();
    never.metadata.name = Some("never-applied".into());
    never.spec.alarm_name_prefix = Some("never-applied-".into());
    let never = engine
        .cleanup(&never, Timestamp::now())
        .await
        .expect("cleanup");
    assert!(never.errors.is_empty() && never.done.is_empty());
}

fn dialtone(emulator: &Emulator, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(args)
        .envs(emulator.env())
        .output()
        .expect("dialtone runs")
}

#[tokio::test]
async fn injected_throttling_still_converges_through_the_cli() {
    let emulator = Emulator::acquire().await;
    // Every second PutMetricAlarm and every third DescribeAlarms are throttled for a while.
    emulator.inject_throttling("cloudwatch", "PutMetricAlarm", 2, 12);
    emulator.inject_throttling("cloudwatch", "DescribeAlarms", 3, 3);
    let examples = examples();
    let out = dialtone(
        &emulator,
        &[
            "apply",
            "-f",
            examples.to_str().expect("utf-8"),
            "--aws-rate",
            "all=0",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        emulator.throttled() >= 12,
        "throttling was injected: {}",
        emulator.throttled()
    );
    let east = emulator
        .cloudwatch("us-east-1")
        .describe_alarms()
        .send()
        .await
        .expect("describe");
    assert_eq!(east.metric_alarms().len(), 16);
    let plan = dialtone(
        &emulator,
        &[
            "plan",
            "-f",
            examples.to_str().expect("utf-8"),
            "--detailed-exitcode",
        ],
    );
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&plan.stdout)
    );
}

#[tokio::test]
async fn plan_cli_exit_codes_and_json() {
    let emulator = Emulator::acquire().await;
    let examples = examples();
    let path = examples.to_str().expect("utf-8");
    let pending = dialtone(&emulator, &["plan", "-f", path, "--detailed-exitcode"]);
    assert_eq!(pending.status.code(), Some(2));
    let text = String::from_utf8_lossy(&pending.stdout);
    assert!(
        text.contains("+ create cc-prod-use1-queue-wait-basic"),
        "{text}"
    );
    // A new alarm is shown whole, as terraform shows a new resource.
    let created = text
        .split("+ create cc-prod-use1-queue-wait-basic\n")
        .nth(1)
        .and_then(|rest| rest.split("  + ").next())
        .expect("the alarm's attributes");
    for attribute in [
        "metric.namespace = \"AWS/Connect\"",
        "metric.metricName = \"LongestQueueWaitTime\"",
        "metric.dimensions.QueueName = \"BasicQueue\"",
        "threshold = \"120\"",
        "comparisonOperator = \"GreaterThanThreshold\"",
        "alarmActions = \"arn:aws:sns:us-east-1:123456789012:cc-oncall-pager, arn:aws:sns:us-east-1:123456789012:cc-servicenow\"",
        "dialtone.io/owner=contact-center/connect-primary, env=prod",
    ] {
        assert!(created.contains(attribute), "{attribute} in\n{created}");
    }
    // The 18 alarms of the AlarmPolicies, and the FailoverPlan's DNS lever alarm.
    assert!(text.contains("Plan: 19 to create"), "{text}");
    assert!(
        text.contains("create the DNS lever alarm dialtone/contact-center/connect-dr/dns-lever"),
        "{text}"
    );
    assert!(emulator.writes().is_empty(), "plan writes nothing");

    let json = dialtone(&emulator, &["plan", "-f", path, "-o", "json"]);
    assert_eq!(
        json.status.code(),
        Some(0),
        "without --detailed-exitcode pending changes are success"
    );
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON plan");
    assert_eq!(parsed["summary"]["create"], 19);
    let objects = parsed["objects"].as_array().expect("objects");
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "AlarmPolicy").count(),
        3,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"ContactCenterRegion") && kinds.contains(&"FailoverPlan"));
    let primary = objects
        .iter()
        .find(|o| o["name"] == "connect-primary")
        .expect("primary");
    assert_eq!(primary["changes"].as_array().map(Vec::len), Some(8));
    assert_eq!(primary["changes"][0]["action"], "create");

    assert!(dialtone(&emulator, &["apply", "-f", path]).status.success());
    emulator
        .cloudwatch("us-east-1")
        .set_alarm_state()
        .alarm_name(QUEUE_WAIT)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("Threshold Crossed: drill")
        .send()
        .await
        .expect("set state");
    let clean = dialtone(
        &emulator,
        &["plan", "-f", path, "--detailed-exitcode", "-o", "json"],
    );
    assert_eq!(clean.status.code(), Some(0));
    let parsed: serde_json::Value = serde_json::from_slice(&clean.stdout).expect("JSON plan");
    let primary = parsed["objects"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "connect-primary"))
        .expect("primary");
    let queue = primary["status"]["alarms"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["alarmName"] == QUEUE_WAIT))
        .expect("queue alarm");
    assert_eq!(queue["state"], "ALARM");
    assert_eq!(queue["stateReason"], "Threshold Crossed: drill");
}

#[tokio::test]
async fn drift_of_an_observe_policy_fires_a_detailed_exitcode_check() {
    let emulator = Emulator::acquire().await;
    let scratch = support::process::Scratch::empty("observe-drift");
    let text =
        std::fs::read_to_string(examples().join("10-alarms-contact-center.yaml")).expect("example");
    scratch.write("policy.yaml", &text);
    assert!(
        dialtone(
            &emulator,
            &["apply", "-f", scratch.path(), "--aws-rate", "all=0"]
        )
        .status
        .success()
    );
    // Someone edits a threshold by hand; the policy only observes.
    hand_written_queue_wait(&emulator.cloudwatch("us-east-1"), "BasicQueue", 999.0)
        .send()
        .await
        .expect("edit by hand");
    scratch.write(
        "policy.yaml",
        &text.replace(
            "  region: us-east-1\n",
            "  region: us-east-1\n  managementPolicy: Observe\n",
        ),
    );
    let plan = dialtone(
        &emulator,
        &[
            "plan",
            "-f",
            scratch.path(),
            "--detailed-exitcode",
            "--aws-rate",
            "all=0",
        ],
    );
    let printed = String::from_utf8_lossy(&plan.stdout);
    assert_eq!(plan.status.code(), Some(2), "{printed}");
    assert!(
        printed.contains("? drift  cc-prod-use1-queue-wait-basic"),
        "{printed}"
    );
    assert!(
        printed.contains("1 drifted (Observe: reported only)"),
        "{printed}"
    );
    let json = dialtone(
        &emulator,
        &[
            "plan",
            "-f",
            scratch.path(),
            "-o",
            "json",
            "--aws-rate",
            "all=0",
        ],
    );
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON plan");
    assert_eq!(parsed["summary"]["drifted"], 1, "{parsed}");
    assert_eq!(
        parsed["summary"]["changes"], 0,
        "nothing is written for an Observe policy"
    );
}

#[tokio::test]
async fn invalid_manifests_fail_the_plan_without_any_aws_call() {
    let emulator = Emulator::acquire().await;
    let dir = std::env::temp_dir().join(format!("dialtone-invalid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let text = std::fs::read_to_string(examples().join("10-alarms-contact-center.yaml"))
        .expect("example")
        .replace(
            "Check staffing and routing profiles.",
            "Check staffing and routing profiles.\n    threshold: 120\n    anomalyBand: {standardDeviations: 2}",
        );
    std::fs::write(dir.join("bad.yaml"), text).expect("write");
    let out = dialtone(&emulator, &["plan", "-f", dir.to_str().expect("utf-8")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("spec.alarms[0]: set exactly one of threshold or anomalyBand"),
        "{text}"
    );
    assert!(emulator.calls().is_empty(), "{:?}", emulator.calls());
}

#[tokio::test]
async fn per_policy_sweeps_share_the_regions_ownership_cache() {
    // In a cluster each object is reconciled on its own; the region's ownership cache must still
    // spare the Tagging API once nothing changes.
    let emulator = Emulator::acquire().await;
    let policies = support::example_alarm_policies();
    let mut engine = AlarmEngine::new(emulator.clients().await);
    for _ in 0..2 {
        for policy in &policies {
            sweep(&mut engine, std::slice::from_ref(policy), Mode::Apply).await;
        }
    }
    emulator.forget_calls();
    for _ in 0..3 {
        for policy in &policies {
            sweep(&mut engine, std::slice::from_ref(policy), Mode::Apply).await;
        }
    }
    assert_eq!(
        emulator.count("resourcegroupstaggingapi:GetResources"),
        0,
        "{:?}",
        emulator.calls()
    );
    assert_eq!(emulator.count("cloudwatch:DescribeAlarms"), 9);
    assert!(emulator.writes().is_empty());
}

#[tokio::test]
async fn a_tag_removed_from_the_spec_is_removed_from_the_alarms_foreign_tags_stay() {
    let emulator = Emulator::acquire().await;
    let mut policy = named(&support::example_alarm_policies(), "connect-primary");
    let mut engine = AlarmEngine::new(emulator.clients().await);
    sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    let east = emulator.cloudwatch("us-east-1");
    let arn = format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{QUEUE_WAIT}");
    east.tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("cost-center").value("42").build())
        .send()
        .await
        .expect("a tag set by someone else");

    policy.spec.tags.remove("env");
    let outcomes = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    assert!(outcome(&outcomes, PRIMARY).errors.is_empty());
    let tags = east
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("tags");
    let keys: BTreeSet<&str> = tags.tags().iter().filter_map(|t| t.key()).collect();
    assert!(!keys.contains("env"), "{keys:?}");
    assert!(
        keys.contains("team") && keys.contains("cost-center") && keys.contains("dialtone.io/owner"),
        "{keys:?}"
    );
    let after = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Plan).await;
    assert!(
        outcome(&after, PRIMARY).plan.actions.is_empty(),
        "{:?}",
        outcome(&after, PRIMARY).plan.actions
    );
}

#[tokio::test]
async fn an_alarm_whose_untag_failed_keeps_its_record_until_the_key_is_gone() {
    let emulator = Emulator::acquire().await;
    let mut policy = named(&support::example_alarm_policies(), "connect-primary");
    let mut engine = AlarmEngine::new(emulator.clients().await);
    sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;

    // env is dropped from the spec, and every attempt (6, the SDK's retries) of the first
    // UntagResource, the queue-wait alarm's, is throttled: its record must not be rewritten
    // without env while env is on the alarm.
    policy.spec.tags.remove("env");
    emulator.inject_throttling("cloudwatch", "UntagResource", 1, 6);
    let failed = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    assert!(
        !outcome(&failed, PRIMARY).errors.is_empty(),
        "the untags failed"
    );
    let held = emulator.alarm_tags("us-east-1", QUEUE_WAIT).await;
    assert!(held.contains_key("env"), "{held:?}");
    assert_eq!(
        dialtone::plan::alarm::managed_tag_keys(&held),
        ["env", "team"],
        "the record still names env: {held:?}"
    );

    // The next sweep removes it, then rewrites the record.
    let repaired = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    assert!(
        outcome(&repaired, PRIMARY).errors.is_empty(),
        "{:?}",
        outcome(&repaired, PRIMARY).errors
    );
    let held = emulator.alarm_tags("us-east-1", QUEUE_WAIT).await;
    assert!(!held.contains_key("env"), "{held:?}");
    assert_eq!(
        dialtone::plan::alarm::managed_tag_keys(&held),
        ["team"],
        "{held:?}"
    );
}

#[tokio::test]
async fn a_region_move_in_a_cluster_cleans_up_through_the_footprint_in_status() {
    let emulator = Emulator::acquire().await;
    let mut policy = named(&support::example_alarm_policies(), "connect-secondary");
    let mut engine = AlarmEngine::new(emulator.clients().await);
    let first = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    let status = first[0].status.clone();
    assert_eq!(status.footprint.len(), 1);
    assert_eq!(status.footprint[0].region, "us-west-2");
    assert_eq!(status.footprint[0].names.len(), 2);

    // The status as the API server keeps it, and a commit that moves the policy.
    policy.status = Some(status);
    policy.spec.region = "eu-west-1".into();
    let moved = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    assert!(moved[0].errors.is_empty(), "{:?}", moved[0].errors);
    assert!(emulator.alarm_names("us-west-2").await.is_empty());
    assert_eq!(emulator.alarm_names("eu-west-1").await.len(), 2);
    let regions: Vec<&str> = moved[0]
        .status
        .footprint
        .iter()
        .map(|f| f.region.as_str())
        .collect();
    assert_eq!(
        regions,
        ["eu-west-1"],
        "the old region is forgotten once empty"
    );
}

#[tokio::test]
async fn during_an_outage_the_last_known_alarms_are_kept_and_said_to_be_stale() {
    let emulator = Emulator::acquire().await;
    let mut policy = named(&support::example_alarm_policies(), "connect-primary");
    let mut engine = AlarmEngine::new(emulator.clients().await);
    let first = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    policy.status = Some(outcome(&first, PRIMARY).status.clone());

    emulator.outage("us-east-1", Some("cloudwatch"));
    let during = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    emulator.end_outages();
    let status = &outcome(&during, PRIMARY).status;
    assert!(!outcome(&during, PRIMARY).errors.is_empty());
    assert_eq!(status.alarms.len(), 8, "not 0 alarms: {status:?}");
    assert_eq!(status.summary.as_ref().map(|s| s.total), Some(8));
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(ready.status, "False");
    assert!(ready.message.contains("stale"), "{}", ready.message);
}

#[tokio::test]
async fn a_hand_edited_managed_tags_record_never_removes_a_tag_dialtone_did_not_set() {
    let emulator = Emulator::acquire().await;
    let policy = named(&support::example_alarm_policies(), "connect-primary");
    let mut engine = AlarmEngine::new(emulator.clients().await);
    sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    let east = emulator.cloudwatch("us-east-1");
    let arn = format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{QUEUE_WAIT}");
    // Someone sets cost-center and, by hand, adds it to dialtone's record.
    let record = emulator
        .alarm_tags("us-east-1", QUEUE_WAIT)
        .await
        .get("dialtone.io/managed-tags")
        .cloned()
        .expect("a record");
    east.tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("cost-center").value("42").build())
        .tags(
            Tag::builder()
                .key("dialtone.io/managed-tags")
                .value(record.replacen("env", "cost-center,env", 1))
                .build(),
        )
        .send()
        .await
        .expect("hand edit");
    // A fresh engine reads ownership again (a restart, or the 10-minute refresh).
    let mut engine = AlarmEngine::new(emulator.clients().await);
    let outcomes = sweep(&mut engine, std::slice::from_ref(&policy), Mode::Apply).await;
    assert!(outcome(&outcomes, PRIMARY).errors.is_empty());
    let held = emulator.alarm_tags("us-east-1", QUEUE_WAIT).await;
    assert_eq!(
        held.get("cost-center").map(String::as_str),
        Some("42"),
        "{held:?}"
    );
    assert_eq!(
        held.get("dialtone.io/managed-tags"),
        Some(&record),
        "the record is dialtone's again: {held:?}"
    );
}

//! Deletion is safe: one regression test per case seen, through the `dialtone` binary and the real
//! SDK against the emulator, asserting what exists in AWS afterwards and what was never written.
//!
//! The rule: an alarm is deleted only when it is (a) owned by the object, read fresh, (b) a name the
//! object declares or declared, and (c) wanted by no object of a source that loaded cleanly.

mod support;

use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic, Tag};
use support::emulator::Emulator;
use support::process::{Scratch, dialtone, drain, eventually, run_manifests, text, wait_for};

const PRIMARY_FILE: &str = "10-alarms-contact-center.yaml";
const SECONDARY_FILE: &str = "12-alarms-secondary.yaml";
const QUEUE_WAIT: &str = "cc-prod-use1-queue-wait-basic";
const BACKEND_ALARM: &str = "cc-prod-use1-lambda-router-error-rate";
const WEST: [&str; 2] = [
    "cc-prod-usw2-calls-over-quota",
    "cc-prod-usw2-queue-wait-basic",
];

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// The example FailoverPlan's DNS lever alarm, in us-west-2.
const LEVER: &str = "dialtone/contact-center/connect-dr/dns-lever";

/// The AlarmPolicy alarms in us-west-2 (the lever alarm lives there too).
async fn west(emulator: &Emulator) -> Vec<String> {
    let names = emulator.alarm_names("us-west-2").await;
    sorted(names.into_iter().filter(|n| n != LEVER).collect())
}

fn apply(emulator: &Emulator, scratch: &Scratch, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "-f", scratch.path(), "--aws-rate", "all=0"];
    args.extend_from_slice(extra);
    dialtone(emulator, &args)
}

fn deletes(emulator: &Emulator) -> usize {
    emulator.count("cloudwatch:DeleteAlarms")
}

/// Case 1 and 8: a manifest that breaks (kind typo, name or metadata removed, file truncated)
/// deletes nothing; the other files still reconcile; the cause is a status line and a metric.
#[tokio::test]
async fn run_deletes_nothing_while_a_manifest_is_broken_and_repairs_the_others() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("broken");
    let (_child, lines) = run_manifests(&emulator, scratch.path());
    let serving = wait_for(&lines, "serving /metrics", Duration::from_secs(30));
    let addr = serving
        .rsplit("http://")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    wait_for(
        &lines,
        "connect-secondary [us-west-2]: 2 alarms",
        Duration::from_secs(60),
    );
    let before = sorted(emulator.alarm_names("us-east-1").await);
    assert_eq!(before.len(), 16);
    let original = scratch.read(PRIMARY_FILE);
    let breakages = [
        ("kind typo", original.replace("kind: AlarmPolicy", "kind: AlarmPolicyy"), "is not one of"),
        ("name removed", original.replace("  name: connect-primary\n", ""), "metadata.name is missing"),
        (
            "metadata removed",
            original.replace(
                "metadata:\n  name: connect-primary\n  namespace: contact-center\n  labels: {tier: prod, region: us-east-1}\n",
                "",
            ),
            "metadata.name is missing",
        ),
        ("truncated", String::new(), "holds no object"),
    ];
    for (what, broken, message) in breakages {
        emulator.forget_calls();
        scratch.write(PRIMARY_FILE, &broken);
        wait_for(&lines, message, Duration::from_secs(60));
        // The line above is printed after the sweep that loaded the broken file: had it deleted
        // anything, it would be gone by now. Another sweep for good measure:
        emulator.forget_calls();
        eventually("a later sweep", Duration::from_secs(60), || async {
            emulator.count("cloudwatch:DescribeAlarms") >= 2
        })
        .await;
        assert_eq!(deletes(&emulator), 0, "{what}: nothing deleted");
        assert_eq!(
            sorted(emulator.alarm_names("us-east-1").await),
            before,
            "{what}: every alarm is still there"
        );
        if what == "kind typo" {
            // The other files still reconcile: another team's alarm deleted by hand comes back.
            emulator.delete_alarm("us-east-1", BACKEND_ALARM).await;
            wait_for(
                &lines,
                &format!("created {BACKEND_ALARM}"),
                Duration::from_secs(60),
            );
            let (_, metrics) = support::process::http_get(&addr, "/metrics");
            assert!(metrics.contains("dialtone_manifest_errors 1"), "{metrics}");
        }
        scratch.write(PRIMARY_FILE, &original);
        wait_for(&lines, "every manifest loaded", Duration::from_secs(60));
    }
    assert_eq!(sorted(emulator.alarm_names("us-east-1").await), before);
    drain(&lines);
}

/// Case 8: `validate` lists every broken file, not only the first.
#[test]
fn validate_lists_every_broken_file() {
    let scratch = Scratch::examples("validate-all");
    scratch.write("00-broken.yaml", "kind: [unclosed");
    scratch.write("99-empty.yaml", "");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["validate", "-f", scratch.path()])
        .output()
        .expect("validate runs");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("00-broken.yaml: not valid YAML"),
        "{stdout}"
    );
    assert!(
        stdout.contains("99-empty.yaml: holds no object"),
        "{stdout}"
    );
    assert!(
        stdout.contains("valid    ")
            && stdout.contains("AlarmPolicy contact-center/connect-primary"),
        "{stdout}"
    );
}

/// Case 2: the same policy in two files is an error naming both; neither copy writes, nothing is
/// deleted, and repeated runs do not flap.
#[tokio::test]
async fn a_duplicated_policy_writes_nothing_and_deletes_nothing() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("duplicate");
    assert!(apply(&emulator, &scratch, &[]).status.success());
    // A copy of the primary policy with one alarm less, in a second file.
    let copy = scratch.read(PRIMARY_FILE).replace(
        "  - name: missed-calls\n",
        "  - name: missed-calls-renamed\n",
    );
    scratch.write("15-copy.yaml", &copy);
    emulator.forget_calls();
    for _ in 0..3 {
        let out = apply(&emulator, &scratch, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let output = text(&out);
        assert!(
            output
                .contains("AlarmPolicy contact-center/connect-primary is declared more than once")
                && output.contains(PRIMARY_FILE)
                && output.contains("15-copy.yaml"),
            "{output}"
        );
    }
    assert_eq!(deletes(&emulator), 0);
    assert_eq!(
        emulator.count("cloudwatch:PutMetricAlarm"),
        0,
        "{:?}",
        emulator.writes()
    );
    assert_eq!(emulator.alarm_names("us-east-1").await.len(), 16);
}

/// Case 3: an alarm whose owner tag a colleague removed is no longer ours: removing it from the
/// policy does not delete it, whatever a cache says.
#[tokio::test]
async fn run_never_deletes_on_cached_ownership() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("stale");
    let (_child, lines) = run_manifests(&emulator, scratch.path());
    wait_for(
        &lines,
        "connect-primary [us-east-1]: 8 alarms",
        Duration::from_secs(60),
    );
    // Two more sweeps: the running operator now trusts its ownership cache.
    emulator.forget_calls();
    eventually("steady state", Duration::from_secs(60), || async {
        emulator.count("cloudwatch:DescribeAlarms") >= 4
    })
    .await;
    let arn = emulator
        .alarm("us-east-1", QUEUE_WAIT)
        .await
        .alarm_arn()
        .unwrap_or_default()
        .to_string();
    emulator
        .cloudwatch("us-east-1")
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("dialtone.io/owner")
        .send()
        .await
        .expect("a colleague removes the owner tag");
    let without = remove_alarm(&scratch.read(PRIMARY_FILE), "queue-wait-basic");
    scratch.write(PRIMARY_FILE, &without);
    wait_for(
        &lines,
        "connect-primary [us-east-1]: 7 alarms",
        Duration::from_secs(60),
    );
    emulator.forget_calls();
    eventually("two more sweeps", Duration::from_secs(60), || async {
        emulator.count("cloudwatch:DescribeAlarms") >= 4
    })
    .await;
    let names = emulator.alarm_names("us-east-1").await;
    assert!(names.contains(&QUEUE_WAIT.to_string()), "kept: {names:?}");
    assert!(
        drain(&lines)
            .iter()
            .all(|l| !l.contains(&format!("deleted {QUEUE_WAIT}")))
    );
}

/// Removes the alarm entry `name` (up to the next entry) from a policy manifest.
fn remove_alarm(manifest: &str, name: &str) -> String {
    let start = manifest
        .find(&format!("  - name: {name}\n"))
        .unwrap_or_else(|| panic!("alarm {name} in manifest"));
    let rest = &manifest[start + 4..];
    let end = rest
        .find("  - name: ")
        .map(|i| start + 4 + i)
        .unwrap_or(manifest.len());
    format!("{}{}", &manifest[..start], &manifest[end..])
}

/// Case 4: a second policy declaring the owner's alarm name (and sorting first) gets Conflict; the
/// owner keeps repairing its alarm.
#[tokio::test]
async fn the_owner_keeps_repairing_its_alarm_when_another_policy_claims_its_name() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("claim");
    assert!(apply(&emulator, &scratch, &[]).status.success());
    scratch.write(
        "05-claimant.yaml",
        &format!(
            "apiVersion: dialtone.io/v1alpha1\nkind: AlarmPolicy\nmetadata: {{name: aaa-claimant, namespace: contact-center}}\nspec:\n  region: us-east-1\n  routing: {{high: {{}}}}\n  alarms:\n  - name: mine\n    alarmName: {QUEUE_WAIT}\n    severity: high\n    metric: {{namespace: AWS/Connect, metricName: QueueSize, dimensions: {{InstanceId: x}}, statistic: Maximum}}\n    threshold: 1\n    comparisonOperator: GreaterThanThreshold\n"
        ),
    );
    // Someone breaks the owner's alarm by hand: threshold raised, actions removed (paging broken).
    let alarm = emulator.alarm("us-east-1", QUEUE_WAIT).await;
    emulator
        .cloudwatch("us-east-1")
        .put_metric_alarm()
        .alarm_name(QUEUE_WAIT)
        .namespace("AWS/Connect")
        .metric_name("LongestQueueWaitTime")
        .set_dimensions(Some(alarm.dimensions().to_vec()))
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(3)
        .datapoints_to_alarm(2)
        .threshold(300.0)
        .treat_missing_data("notBreaching")
        .set_alarm_description(alarm.alarm_description().map(str::to_string))
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("hand edit");
    let out = apply(&emulator, &scratch, &[]);
    let output = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the claimant's conflict fails the apply: {output}"
    );
    let repaired = emulator.alarm("us-east-1", QUEUE_WAIT).await;
    assert_eq!(repaired.threshold(), Some(120.0), "{output}");
    assert_eq!(repaired.alarm_actions().len(), 2, "paging restored");
    assert_eq!(
        repaired.metric_name(),
        Some("LongestQueueWaitTime"),
        "never the claimant's metric"
    );
    assert!(
        output.contains("AlarmPolicy contact-center/connect-primary [us-east-1]: 8 alarms, 0 firing, 0 drifted, 0 conflicts"),
        "{output}"
    );
    assert!(
        output.contains("AlarmPolicy contact-center/aaa-claimant [us-east-1]: 1 alarms, 0 firing, 0 drifted, 1 conflicts"),
        "{output}"
    );
}

async fn put_hand_made(emulator: &Emulator, name: &str, owner: &str) {
    emulator
        .cloudwatch("us-east-1")
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("Custom")
        .metric_name("Made")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .tags(Tag::builder().key("dialtone.io/owner").value(owner).build())
        .send()
        .await
        .expect("hand-made alarm");
}

/// Case 5: an alarm made by hand with a copied owner tag, outside the policy's prefix and never
/// declared, is an orphan: reported, kept, deleted only with --prune.
#[tokio::test]
async fn a_copied_owner_tag_is_an_orphan_never_a_silent_deletion() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("copied");
    assert!(apply(&emulator, &scratch, &[]).status.success());
    put_hand_made(
        &emulator,
        "hand-made-copy",
        "contact-center/connect-primary",
    )
    .await;
    let plan = dialtone(
        &emulator,
        &["plan", "-f", scratch.path(), "--detailed-exitcode"],
    );
    let plan_text = text(&plan);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "an orphan is not a change: {plan_text}"
    );
    assert!(plan_text.contains("? orphan hand-made-copy"), "{plan_text}");
    assert!(
        !plan_text.contains("no longer in the policy"),
        "{plan_text}"
    );
    emulator.forget_calls();
    assert!(apply(&emulator, &scratch, &[]).status.success());
    assert_eq!(deletes(&emulator), 0);
    assert!(
        emulator
            .alarm_names("us-east-1")
            .await
            .contains(&"hand-made-copy".to_string())
    );

    let pruning = dialtone(
        &emulator,
        &[
            "plan",
            "-f",
            scratch.path(),
            "--prune",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(pruning.status.code(), Some(2), "{}", text(&pruning));
    assert!(
        text(&pruning).contains("- orphan hand-made-copy"),
        "{}",
        text(&pruning)
    );
    let out = apply(&emulator, &scratch, &["--prune"]);
    assert!(out.status.success(), "{}", text(&out));
    let names = emulator.alarm_names("us-east-1").await;
    assert!(!names.contains(&"hand-made-copy".to_string()));
    assert_eq!(names.len(), 16, "only the orphan went");
}

/// Case 6a: a policy whose region changes takes its alarms out of the old region.
#[tokio::test]
async fn a_region_change_deletes_the_alarms_left_in_the_old_region() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("moved");
    assert!(apply(&emulator, &scratch, &[]).status.success());
    assert_eq!(west(&emulator).await, WEST);
    let moved = scratch
        .read(SECONDARY_FILE)
        .replace("region: us-west-2\n", "region: eu-west-1\n")
        // Its topics move with it: CloudWatch runs only actions in the alarm's region.
        .replace("arn:aws:sns:us-west-2:", "arn:aws:sns:eu-west-1:");
    scratch.write(SECONDARY_FILE, &moved);
    let plan = dialtone(&emulator, &["plan", "-f", scratch.path()]);
    assert!(
        text(&plan).contains("- delete cc-prod-usw2-queue-wait-basic (left behind in us-west-2)"),
        "{}",
        text(&plan)
    );
    let out = apply(&emulator, &scratch, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        west(&emulator).await.is_empty(),
        "nothing left in the old region"
    );
    assert_eq!(sorted(emulator.alarm_names("eu-west-1").await), WEST);
    emulator.forget_calls();
    let again = dialtone(
        &emulator,
        &["plan", "-f", scratch.path(), "--detailed-exitcode"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}

/// Case 6b and 6c: a manifest removed while dialtone was not running is cleaned up by the next
/// apply (the state remembers it); without the state its alarms are orphans: reported by `plan`,
/// deleted by `apply --prune`.
#[tokio::test]
async fn a_manifest_removed_while_dialtone_was_down_is_cleaned_up_or_reported() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("removed");
    assert!(apply(&emulator, &scratch, &[]).status.success());
    let secondary = scratch.read(SECONDARY_FILE);
    scratch.remove(SECONDARY_FILE);
    let plan = dialtone(
        &emulator,
        &["plan", "-f", scratch.path(), "--detailed-exitcode"],
    );
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    assert!(
        text(&plan).contains("- delete cc-prod-usw2-calls-over-quota (the AlarmPolicy is gone)"),
        "{}",
        text(&plan)
    );
    let out = apply(&emulator, &scratch, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(west(&emulator).await.is_empty());

    // The same with the state lost: orphans, reported and kept until --prune.
    scratch.write(SECONDARY_FILE, &secondary);
    assert!(apply(&emulator, &scratch, &[]).status.success());
    std::fs::remove_file(&emulator.state).expect("state lost");
    scratch.remove(SECONDARY_FILE);
    // Orphans are looked for in the regions the source uses: another policy keeps us-west-2 in.
    scratch.write(
        "13-west-watch.yaml",
        "apiVersion: dialtone.io/v1alpha1\nkind: AlarmPolicy\nmetadata: {name: west-watch, namespace: contact-center}\nspec:\n  region: us-west-2\n  routing: {low: {}}\n  alarms:\n  - name: calls\n    severity: low\n    metric: {namespace: AWS/Connect, metricName: CallsPerInterval, dimensions: {InstanceId: x}, statistic: Sum}\n    threshold: 1\n    comparisonOperator: GreaterThanThreshold\n",
    );
    let plan = dialtone(&emulator, &["plan", "-f", scratch.path()]);
    let plan_text = text(&plan);
    assert!(
        plan_text.contains("? orphan cc-prod-usw2-calls-over-quota: AlarmPolicy contact-center/connect-secondary is not in the source"),
        "{plan_text}"
    );
    emulator.forget_calls();
    assert!(apply(&emulator, &scratch, &[]).status.success());
    assert_eq!(deletes(&emulator), 0, "orphans are kept without --prune");
    assert!(apply(&emulator, &scratch, &["--prune"]).status.success());
    assert_eq!(
        west(&emulator).await,
        ["contact-center/west-watch/calls"],
        "--prune deleted the orphans only"
    );
    assert!(
        emulator
            .alarm_names("us-west-2")
            .await
            .contains(&LEVER.to_string()),
        "a FailoverPlan's lever alarm is never an AlarmPolicy orphan"
    );
}

/// Case 7: removing the manifest of a policy last seen under Observe deletes nothing, and its
/// alarms are not orphans.
#[tokio::test]
async fn removing_an_observe_policy_deletes_nothing() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("observe");
    assert!(apply(&emulator, &scratch, &[]).status.success());
    let observing = scratch.read(SECONDARY_FILE).replace(
        "  region: us-west-2\n",
        "  region: us-west-2\n  managementPolicy: Observe\n",
    );
    scratch.write(SECONDARY_FILE, &observing);
    assert!(apply(&emulator, &scratch, &[]).status.success());
    scratch.remove(SECONDARY_FILE);
    emulator.forget_calls();
    let plan = dialtone(
        &emulator,
        &[
            "plan",
            "-f",
            scratch.path(),
            "--prune",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(!text(&plan).contains(" orphan "), "{}", text(&plan));
    let out = apply(&emulator, &scratch, &["--prune"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(deletes(&emulator), 0);
    assert_eq!(west(&emulator).await, WEST);
}

/// Every write is logged as it is made, with progress, so a killed apply leaves a record.
#[tokio::test]
async fn every_write_is_logged_as_it_is_made_with_progress() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("log");
    let out = apply(&emulator, &scratch, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let writes: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(": created ") && l.contains(" AlarmPolicy "))
        .collect();
    assert_eq!(writes.len(), 18, "{stderr}");
    assert!(
        writes
            .iter()
            .any(|l| l.contains(&format!("created {QUEUE_WAIT} (")) && l.contains("/16)")),
        "{stderr}"
    );
    assert!(writes.iter().any(|l| l.contains("(2/2)")), "{stderr}");

    // In the JSON log format, the same record as one object per line.
    emulator.delete_alarm("us-east-1", QUEUE_WAIT).await;
    let json = dialtone(
        &emulator,
        &[
            "--log-format",
            "json",
            "apply",
            "-f",
            scratch.path(),
            "--aws-rate",
            "all=0",
        ],
    );
    assert!(json.status.success(), "{}", text(&json));
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| {
            v["fields"]["action"] == "create" && v["fields"]["kind"] == "AlarmPolicy"
        })
        .collect();
    assert_eq!(records.len(), 1, "{}", text(&json));
    assert_eq!(records[0]["fields"]["name"], QUEUE_WAIT);
    assert_eq!(records[0]["fields"]["kind"], "AlarmPolicy");
    assert_eq!(records[0]["fields"]["region"], "us-east-1");
    assert_eq!(records[0]["fields"]["done"], 1);
}

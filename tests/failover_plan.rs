//! FailoverPlan against the emulator, through the `dialtone` binary and the real SDK: a commit that
//! flips `activeRegion` is a failover carried out as idempotent steps (readiness, one
//! UpdateTrafficDistribution in the target region, the DNS lever published with no Route 53 call,
//! the checklist), previewed by `plan`, blocked when the target is not ready, and finished by a new
//! process after a crash in the middle.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::emulator::Emulator;
use support::process::{Scratch, apply_json, dialtone, spawn, text, wait_for};

fn regions(instance: &str, group: &str) -> String {
    let region = |name: &str, region: &str| {
        format!(
            "apiVersion: dialtone.io/v1alpha1\nkind: ContactCenterRegion\nmetadata: {{name: {name}, namespace: cc}}\nspec:\n  region: {region}\n  instanceId: {instance}\n  trafficDistributionGroupArn: {group}\n"
        )
    };
    format!(
        "{}---\n{}",
        region("use1", "us-east-1"),
        region("usw2", "us-west-2")
    )
}

fn plan(group: &str, active: &str, annotations: &str) -> String {
    format!(
        "apiVersion: dialtone.io/v1alpha1\nkind: FailoverPlan\nmetadata: {{name: dr, namespace: cc{annotations}}}\nspec:\n  primary: {{regionRef: use1}}\n  secondary: {{regionRef: usw2}}\n  activeRegion: {active}\n  trafficDistribution: {{groupArn: {group}}}\n  dns:\n    hostedZoneId: Z0123456789ABCDEFGHIJ\n    records:\n    - {{name: chat.contact.example.com, type: CNAME, primary: chat-use1.example.com, secondary: chat-usw2.example.com}}\n"
    )
}

async fn contact_center(emulator: &Emulator, name: &str) -> (Scratch, String, String) {
    let (instance, group) = emulator.replicated_instance().await;
    let scratch = Scratch::empty(name);
    scratch.write("20-regions.yaml", &regions(&instance, &group));
    scratch.write("30-plan.yaml", &plan(&group, "primary", ""));
    (scratch, instance, group)
}

fn apply(emulator: &Emulator, scratch: &Scratch) -> (Value, String) {
    let applied = apply_json(emulator, scratch.path());
    (applied.document, applied.log)
}

fn plan_status(document: &Value) -> Value {
    document["objects"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["kind"] == "FailoverPlan"))
        .map(|o| o["status"].clone())
        .expect("the plan's status")
}

async fn telephony(emulator: &Emulator, group: &str) -> Vec<(String, i32)> {
    let traffic = emulator
        .connect("us-east-1")
        .get_traffic_distribution()
        .id(group)
        .send()
        .await
        .expect("GetTrafficDistribution");
    let mut shares: Vec<(String, i32)> = traffic
        .telephony_config()
        .map(|t| t.distributions())
        .unwrap_or_default()
        .iter()
        .map(|d| (d.region().to_string(), d.percentage()))
        .collect();
    shares.sort();
    shares
}

async fn lever_state(emulator: &Emulator) -> Option<String> {
    emulator
        .cloudwatch("us-west-2")
        .describe_alarms()
        .alarm_names("dialtone/cc/dr/dns-lever")
        .send()
        .await
        .expect("DescribeAlarms")
        .metric_alarms()
        .first()
        .and_then(|a| a.state_value().map(|s| s.as_str().to_string()))
}

fn route53_calls(emulator: &Emulator) -> Vec<String> {
    emulator
        .dialtone_calls()
        .into_iter()
        .filter(|c| c.starts_with("route53:"))
        .collect()
}

#[tokio::test]
async fn a_commit_fails_over_with_one_traffic_call_and_no_route53_call_then_fails_back() {
    let emulator = Emulator::acquire().await;
    emulator.set_update_seconds(1);
    let (scratch, _, group) = contact_center(&emulator, "fp-flip").await;
    let (document, _) = apply(&emulator, &scratch);
    let status = plan_status(&document);
    assert_eq!(status["phase"], "Steady", "{status}");
    assert_eq!(status["activeRegion"], "primary");
    assert_eq!(
        lever_state(&emulator).await.as_deref(),
        Some("OK"),
        "the lever alarm exists"
    );
    emulator.forget_calls();
    apply(&emulator, &scratch);
    assert!(
        emulator.writes().is_empty(),
        "peacetime converged: {:?}",
        emulator.writes()
    );

    // The commit.
    scratch.write("30-plan.yaml", &plan(&group, "secondary", ""));
    emulator.forget_calls();
    let (document, log) = apply(&emulator, &scratch);
    assert_eq!(
        emulator.regions_of("connect:UpdateTrafficDistribution"),
        ["us-west-2"],
        "exactly one UpdateTrafficDistribution, in the target region: {log}"
    );
    assert_eq!(
        emulator.regions_of("cloudwatch:PutMetricData"),
        ["us-west-2"]
    );
    assert!(
        route53_calls(&emulator).is_empty(),
        "{:?}",
        route53_calls(&emulator)
    );
    assert_eq!(
        telephony(&emulator, &group).await,
        [("us-east-1".to_string(), 0), ("us-west-2".to_string(), 100)]
    );
    assert_eq!(lever_state(&emulator).await.as_deref(), Some("ALARM"));
    let status = plan_status(&document);
    assert_eq!(status["phase"], "FailedOver", "{status}");
    assert_eq!(status["activeRegion"], "secondary");
    let last = &status["lastFailover"];
    assert_eq!(
        (
            last["from"].as_str(),
            last["to"].as_str(),
            last["trigger"].as_str()
        ),
        (Some("primary"), Some("secondary"), Some("spec"))
    );
    let steps: Vec<&str> = last["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(steps, ["readiness", "traffic", "dns", "checklist"]);
    let checklist = last["checklist"].as_array().expect("checklist");
    assert_eq!(checklist.len(), 3);
    assert!(
        checklist.iter().all(|c| c["passed"] == true),
        "{checklist:?}"
    );
    assert!(last["durationSeconds"].is_number());

    emulator.forget_calls();
    apply(&emulator, &scratch);
    assert!(
        emulator.writes().is_empty(),
        "a second apply writes nothing: {:?}",
        emulator.writes()
    );

    // Failback, with the Route 53 control plane down: it is not needed.
    emulator.outage("us-east-1", Some("route53"));
    scratch.write("30-plan.yaml", &plan(&group, "primary", ""));
    let (document, log) = apply(&emulator, &scratch);
    emulator.end_outages();
    let status = plan_status(&document);
    assert_eq!(status["phase"], "Steady", "{status}\n{log}");
    assert_eq!(
        telephony(&emulator, &group).await,
        [("us-east-1".to_string(), 100), ("us-west-2".to_string(), 0)]
    );
    assert_eq!(lever_state(&emulator).await.as_deref(), Some("OK"));
}

#[tokio::test]
async fn a_target_that_is_not_ready_blocks_with_no_write_unless_forced() {
    let emulator = Emulator::acquire().await;
    emulator.set_update_seconds(0);
    let (scratch, instance, group) = contact_center(&emulator, "fp-blocked").await;
    apply(&emulator, &scratch);
    emulator.set_replication(
        "us-west-2",
        &instance,
        "us-west-2",
        "INSTANCE_REPLICATION_IN_PROGRESS",
    );
    scratch.write("30-plan.yaml", &plan(&group, "secondary", ""));
    emulator.forget_calls();
    let (document, _) = apply(&emulator, &scratch);
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
    let status = plan_status(&document);
    assert_eq!(status["phase"], "Blocked", "{status}");
    let ready = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .expect("Ready");
    assert_eq!(ready["reason"], "Blocked");
    assert!(
        ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains("IN_PROGRESS"),
        "{ready}"
    );

    scratch.write(
        "30-plan.yaml",
        &plan(
            &group,
            "secondary",
            ", annotations: {dialtone.io/force-failover: \"INC-5 primary is down\"}",
        ),
    );
    let (document, _) = apply(&emulator, &scratch);
    let status = plan_status(&document);
    assert_eq!(status["activeRegion"], "secondary", "{status}");
    assert_eq!(
        emulator.regions_of("connect:UpdateTrafficDistribution"),
        ["us-west-2"]
    );
    let readiness = &status["lastFailover"]["steps"][0];
    assert!(
        readiness["message"]
            .as_str()
            .unwrap_or_default()
            .contains("forced: INC-5"),
        "{readiness}"
    );
}

#[tokio::test]
async fn plan_previews_a_pending_failover_as_steps_and_calls_and_writes_nothing() {
    let emulator = Emulator::acquire().await;
    let (scratch, _, group) = contact_center(&emulator, "fp-plan").await;
    apply(&emulator, &scratch);
    scratch.write("30-plan.yaml", &plan(&group, "secondary", ""));
    emulator.forget_calls();
    let out = dialtone(
        &emulator,
        &["plan", "-f", scratch.path(), "--detailed-exitcode"],
    );
    let output = text(&out);
    assert_eq!(out.status.code(), Some(2), "{output}");
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
    assert!(
        output.contains("! failover to the secondary side"),
        "{output}"
    );
    assert!(
        output.contains("UpdateTrafficDistribution in us-west-2:")
            && output.contains("telephony us-west-2 100 %, us-east-1 0 %"),
        "{output}"
    );
    assert!(
        output.contains(
            "PutMetricData in us-west-2: dialtone/SideEnabled{FailoverPlan=cc/dr, Side=primary} = 0"
        ),
        "{output}"
    );
    assert!(output.contains("1 failover(s)"), "{output}");
}

#[tokio::test]
async fn a_crash_after_the_traffic_call_is_finished_by_the_next_apply_without_a_second_call() {
    let emulator = Emulator::acquire().await;
    emulator.set_update_seconds(6);
    let (scratch, _, group) = contact_center(&emulator, "fp-crash").await;
    apply(&emulator, &scratch);
    scratch.write("30-plan.yaml", &plan(&group, "secondary", ""));
    emulator.forget_calls();
    let (mut child, lines) = spawn(
        &emulator,
        &["apply", "-f", scratch.path(), "--aws-rate", "all=0"],
    );
    wait_for(&lines, "UpdateTrafficDistribution", Duration::from_secs(60));
    // kill -9 while the group is UPDATE_IN_PROGRESS.
    child.0.kill().expect("kill -9");
    let _ = child.0.wait();
    assert_eq!(
        emulator
            .regions_of("connect:UpdateTrafficDistribution")
            .len(),
        1
    );
    assert!(
        lever_state(&emulator).await.as_deref() != Some("ALARM"),
        "the DNS step did not run yet"
    );

    let (document, log) = apply(&emulator, &scratch);
    let status = plan_status(&document);
    assert_eq!(status["phase"], "FailedOver", "{status}\n{log}");
    assert_eq!(
        emulator
            .regions_of("connect:UpdateTrafficDistribution")
            .len(),
        1,
        "the same failover finished, no second traffic call"
    );
    let traffic_step = &status["lastFailover"]["steps"][1];
    assert_eq!(traffic_step["result"], "AlreadyDone", "{traffic_step}");
    assert_eq!(lever_state(&emulator).await.as_deref(), Some("ALARM"));
    assert!(
        status["lastFailover"]["checklist"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["passed"] == true))
    );
}

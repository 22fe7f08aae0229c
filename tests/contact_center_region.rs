//! ContactCenterRegion against the emulator, through the `dialtone` binary and the real SDK: health
//! and readiness of the two regions of a replicated Amazon Connect instance, from alarms,
//! replication, the traffic distribution group, and outages; batched, read-only probes.

mod support;

use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use serde_json::Value;
use support::emulator::Emulator;
use support::process::{Scratch, dialtone, http_get, run_manifests, text, wait_for};

const EAST_CRITICAL: &str = "cc-use1-calls-over-quota";
const EAST_HIGH: &str = "cc-use1-queue-wait";

fn policy(name: &str, region: &str, prefix: &str, alarms: &[(&str, &str)]) -> String {
    let entries: String = alarms
        .iter()
        .map(|(alarm, severity)| {
            format!(
                "  - name: {alarm}\n    severity: {severity}\n    metric: {{namespace: AWS/Connect, metricName: CallsBreachingConcurrencyQuota, dimensions: {{InstanceId: x}}, statistic: Sum}}\n    threshold: 0\n    comparisonOperator: GreaterThanThreshold\n"
            )
        })
        .collect();
    format!(
        "apiVersion: dialtone.io/v1alpha1\nkind: AlarmPolicy\nmetadata: {{name: {name}, namespace: contact-center, labels: {{tier: prod, region: {region}}}}}\nspec:\n  region: {region}\n  alarmNamePrefix: {prefix}\n  routing: {{critical: {{}}, high: {{}}, low: {{}}}}\n  alarms:\n{entries}"
    )
}

fn region(name: &str, region: &str, instance: &str, group: &str) -> String {
    format!(
        "apiVersion: dialtone.io/v1alpha1\nkind: ContactCenterRegion\nmetadata: {{name: {name}, namespace: contact-center}}\nspec:\n  region: {region}\n  instanceId: {instance}\n  trafficDistributionGroupArn: {group}\n  probeInterval: 10s\n  health:\n    alarmPolicySelector: {{matchLabels: {{tier: prod, region: {region}}}}}\n"
    )
}

/// A contact center in two regions: alarms in each, and a region object for each.
async fn contact_center(emulator: &Emulator, name: &str) -> (Scratch, String, String) {
    let (instance, group) = emulator.replicated_instance().await;
    let scratch = Scratch::empty(name);
    scratch.write(
        "10-east.yaml",
        &policy(
            "east",
            "us-east-1",
            "cc-use1-",
            &[
                ("calls-over-quota", "critical"),
                ("queue-wait", "high"),
                ("low-thing", "low"),
            ],
        ),
    );
    scratch.write(
        "11-west.yaml",
        &policy(
            "west",
            "us-west-2",
            "cc-usw2-",
            &[("calls-over-quota", "critical")],
        ),
    );
    scratch.write(
        "20-regions.yaml",
        &format!(
            "{}---\n{}",
            region("use1", "us-east-1", &instance, &group),
            region("usw2", "us-west-2", &instance, &group)
        ),
    );
    (scratch, instance, group)
}

/// The statuses of the regions, from `COMMAND -f DIR -o json`.
fn statuses(emulator: &Emulator, command: &str, scratch: &Scratch) -> (Value, Value) {
    let out = dialtone(
        emulator,
        &[
            command,
            "-f",
            scratch.path(),
            "-o",
            "json",
            "--aws-rate",
            "all=0",
        ],
    );
    let document: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("JSON ({err}): {}", text(&out)));
    let find = |name: &str| {
        document["objects"]
            .as_array()
            .and_then(|objects| {
                objects
                    .iter()
                    .find(|o| o["kind"] == "ContactCenterRegion" && o["name"] == name)
            })
            .map(|o| o["status"].clone())
            .unwrap_or_else(|| panic!("region {name} in {document}"))
    };
    (find("use1"), find("usw2"))
}

fn condition(status: &Value, type_: &str) -> (String, String) {
    let condition = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("condition {type_} in {status}"));
    (
        condition["status"].as_str().unwrap_or_default().to_string(),
        condition["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

async fn set_state(emulator: &Emulator, name: &str, state: StateValue) {
    emulator
        .cloudwatch("us-east-1")
        .set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("set by the test")
        .send()
        .await
        .expect("SetAlarmState");
}

#[tokio::test]
async fn both_regions_of_a_replicated_instance_are_healthy_and_ready_with_traffic_read_back() {
    let emulator = Emulator::acquire().await;
    let (scratch, _, group) = contact_center(&emulator, "ccr-healthy").await;
    let (east, west) = statuses(&emulator, "apply", &scratch);
    for status in [&east, &west] {
        assert_eq!(status["health"], "Healthy", "{status}");
        assert_eq!(condition(status, "Healthy").0, "True");
        assert_eq!(condition(status, "ReadyForTraffic").0, "True", "{status}");
        assert_eq!(condition(status, "Ready").0, "True");
        assert_eq!(status["trafficDistributionGroup"]["arn"], group.as_str());
        assert_eq!(status["trafficDistributionGroup"]["status"], "ACTIVE");
        assert_eq!(status["trafficDistributionGroup"]["isDefault"], true);
        assert!(status["lastProbeTime"].is_string());
        assert!(status.get("unreachableSince").is_none());
    }
    assert_eq!(
        east["traffic"],
        serde_json::json!({"telephony": 100, "agents": 100, "signIn": true})
    );
    assert_eq!(
        west["traffic"],
        serde_json::json!({"telephony": 0, "agents": 0, "signIn": true})
    );
    assert_eq!(
        east["instance"]["replication"].as_array().map(Vec::len),
        Some(2)
    );

    let plan = dialtone(&emulator, &["plan", "-f", scratch.path()]);
    assert!(
        text(&plan).contains("ContactCenterRegion contact-center/use1 [us-east-1]: Healthy"),
        "{}",
        text(&plan)
    );
}

#[tokio::test]
async fn firing_alarms_make_their_region_unhealthy_or_degraded_and_leave_the_other_healthy() {
    let emulator = Emulator::acquire().await;
    let (scratch, _, _) = contact_center(&emulator, "ccr-alarms").await;
    statuses(&emulator, "apply", &scratch);

    set_state(&emulator, EAST_CRITICAL, StateValue::Alarm).await;
    set_state(&emulator, "cc-use1-low-thing", StateValue::Alarm).await;
    let (east, west) = statuses(&emulator, "plan", &scratch);
    assert_eq!(east["health"], "Unhealthy", "{east}");
    assert_eq!(east["firingAlarms"][0]["alarmName"], EAST_CRITICAL);
    assert_eq!(east["firingAlarms"][0]["severity"], "critical");
    assert_eq!(
        east["firingAlarmCount"], 1,
        "a low alarm does not count: {east}"
    );
    let (ready, why) = condition(&east, "ReadyForTraffic");
    assert_eq!(ready, "False");
    assert!(why.contains(EAST_CRITICAL), "{why}");
    assert_eq!(west["health"], "Healthy", "{west}");

    set_state(&emulator, EAST_CRITICAL, StateValue::Ok).await;
    set_state(&emulator, EAST_HIGH, StateValue::Alarm).await;
    let (east, _) = statuses(&emulator, "plan", &scratch);
    assert_eq!(east["health"], "Degraded", "{east}");
    assert!(
        east["healthReason"]
            .as_str()
            .unwrap_or_default()
            .contains(EAST_HIGH)
    );
    assert_eq!(
        condition(&east, "ReadyForTraffic").0,
        "True",
        "a high alarm does not block traffic"
    );
    assert_eq!(condition(&east, "Healthy").0, "False");
}

#[tokio::test]
async fn failed_replication_makes_the_region_unhealthy_and_a_busy_group_degraded() {
    let emulator = Emulator::acquire().await;
    let (scratch, instance, group) = contact_center(&emulator, "ccr-replication").await;
    emulator.set_replication(
        "us-west-2",
        &instance,
        "us-west-2",
        "INSTANCE_REPLICATION_FAILED",
    );
    let (east, west) = statuses(&emulator, "plan", &scratch);
    assert_eq!(west["health"], "Unhealthy", "{west}");
    assert!(
        west["healthReason"]
            .as_str()
            .unwrap_or_default()
            .contains("INSTANCE_REPLICATION_FAILED")
    );
    assert_eq!(condition(&west, "ReadyForTraffic").0, "False");
    assert_eq!(
        east["health"], "Healthy",
        "east's own view of replication is unchanged: {east}"
    );

    emulator.set_replication(
        "us-west-2",
        &instance,
        "us-west-2",
        "INSTANCE_REPLICATION_COMPLETE",
    );
    emulator.set_group_status(&group, "UPDATE_IN_PROGRESS");
    let (east, west) = statuses(&emulator, "plan", &scratch);
    for status in [&east, &west] {
        assert_eq!(status["health"], "Degraded", "{status}");
        assert_eq!(condition(status, "ReadyForTraffic").0, "False");
    }
}

#[tokio::test]
async fn an_outage_of_one_region_makes_it_unknown_naming_the_call_and_leaves_the_other_healthy() {
    let emulator = Emulator::acquire().await;
    let (scratch, _, _) = contact_center(&emulator, "ccr-outage").await;
    statuses(&emulator, "apply", &scratch);
    emulator.outage("us-west-2", None);
    let (east, west) = statuses(&emulator, "plan", &scratch);
    emulator.end_outages();
    assert_eq!(west["health"], "Unknown", "{west}");
    let reason = west["healthReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("DescribeAlarms") || reason.contains("DescribeInstance"),
        "the reason names the call: {reason}"
    );
    assert!(reason.contains("us-west-2"), "{reason}");
    assert!(west["unreachableSince"].is_string(), "{west}");
    assert_eq!(condition(&west, "Ready").0, "False");
    assert_eq!(condition(&west, "Healthy").0, "Unknown");
    assert_eq!(east["health"], "Healthy", "{east}");
}

#[tokio::test]
async fn a_probe_reads_alarms_in_batches_of_100_and_never_writes() {
    let emulator = Emulator::acquire().await;
    let (instance, group) = emulator.replicated_instance().await;
    // 250 alarms in three policies (a policy holds at most 100).
    let names: Vec<String> = (0..250).map(|i| format!("a{i:03}")).collect();
    let alarms: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "critical")).collect();
    let scratch = Scratch::empty("ccr-batches");
    for (i, chunk) in alarms.chunks(100).enumerate() {
        scratch.write(
            &format!("1{i}-east.yaml"),
            &policy(
                &format!("east-{i}"),
                "us-east-1",
                &format!("cc-use1-{i}-"),
                chunk,
            ),
        );
    }
    scratch.write(
        "20-region.yaml",
        &region("use1", "us-east-1", &instance, &group),
    );
    let snapshot = dialtone::source::manifests::load(&scratch.dir).expect("loads");
    let policies: Vec<&dialtone::api::AlarmPolicy> = snapshot.alarm_policies().collect();
    let regions: Vec<&dialtone::api::ContactCenterRegion> = snapshot
        .objects
        .values()
        .filter_map(|(_, o)| match o {
            dialtone::api::Object::ContactCenterRegion(r) => Some(r),
            _ => None,
        })
        .collect();
    let inputs: Vec<_> = regions.iter().map(|r| (*r, None)).collect();
    emulator.forget_calls();
    let clients = emulator.clients().await;
    let probes = dialtone::controller::contact_center_region::probe(
        &clients,
        &inputs,
        &policies,
        &Default::default(),
    )
    .await;
    assert_eq!(probes[0].alarms.as_ref().map(Vec::len), Ok(250));
    assert_eq!(
        emulator.count("cloudwatch:DescribeAlarms"),
        3,
        "{:?}",
        emulator.calls()
    );
    assert_eq!(emulator.count("connect:DescribeInstance"), 1);
    assert_eq!(
        emulator.count("connect:DescribeTrafficDistributionGroup"),
        1
    );
    assert_eq!(emulator.count("connect:GetTrafficDistribution"), 1);
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());

    // In a sweep, the region uses the alarm states the policies' own reads just fetched.
    emulator.forget_calls();
    let plan = dialtone(
        &emulator,
        &["plan", "-f", scratch.path(), "--aws-rate", "all=0"],
    );
    assert!(plan.status.code().is_some(), "{}", text(&plan));
    assert_eq!(
        emulator.count("cloudwatch:DescribeAlarms"),
        3,
        "{:?}",
        emulator.calls()
    );
    assert!(emulator.writes().is_empty());
}

#[tokio::test]
async fn run_serves_every_objects_status_and_prints_each_regions_health() {
    let emulator = Emulator::acquire().await;
    let (scratch, _, _) = contact_center(&emulator, "ccr-run").await;
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
        "ContactCenterRegion contact-center/usw2 [us-west-2]: Healthy",
        Duration::from_secs(60),
    );
    let (code, body) = http_get(&addr, "/status");
    assert_eq!(code, 200, "{body}");
    let document: Value = serde_json::from_str(&body).expect("JSON status");
    let objects = document["objects"].as_array().expect("objects");
    let west = objects
        .iter()
        .find(|o| o["kind"] == "ContactCenterRegion" && o["name"] == "usw2")
        .expect("usw2");
    assert_eq!(west["status"]["health"], "Healthy");
    assert!(
        objects
            .iter()
            .any(|o| o["kind"] == "AlarmPolicy" && o["status"]["summary"]["total"] == 1)
    );

    set_state(&emulator, EAST_CRITICAL, StateValue::Alarm).await;
    wait_for(
        &lines,
        "ContactCenterRegion contact-center/use1 [us-east-1]: Unhealthy",
        Duration::from_secs(60),
    );
    let (_, metrics) = http_get(&addr, "/metrics");
    assert!(
        metrics.contains(
            "dialtone_region_health{namespace=\"contact-center\",name=\"use1\",health=\"Unhealthy\"} 1"
        ),
        "{metrics}"
    );
}

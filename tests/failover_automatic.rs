//! FailoverPlan, part two, against the emulator through `dialtone run --manifests` and the real
//! SDK: `mode: Automatic` fails over when the active region stays unhealthy, latched until a
//! commit, at most once per `minInterval`; a drill started with `dialtone.io/drill-now` fails
//! over, holds, fails back and leaves a report; a drill with a region unhealthy does not start.
//!
//! Each test waits for the state it needs (the traffic distribution in AWS, the status served on
//! `/status`), with generous bounds, never for a log line that could race.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::StateValue;
use serde_json::Value;
use support::emulator::Emulator;
use support::process::{Scratch, dialtone, eventually, http_get, run_manifests, text, wait_for};

/// One critical alarm per region, the regions (probed every 10 s) and the plan.
fn policy(name: &str, region: &str) -> String {
    format!(
        "apiVersion: dialtone.io/v1alpha1\nkind: AlarmPolicy\nmetadata: {{name: {name}, namespace: cc, labels: {{region: {region}}}}}\nspec:\n  region: {region}\n  alarmNamePrefix: {name}-\n  routing: {{critical: {{}}, high: {{}}, low: {{}}}}\n  alarms:\n  - name: calls-over-quota\n    severity: critical\n    metric: {{namespace: AWS/Connect, metricName: CallsBreachingConcurrencyQuota, dimensions: {{InstanceId: x}}, statistic: Sum}}\n    threshold: 0\n    comparisonOperator: GreaterThanThreshold\n"
    )
}

fn regions(instance: &str, group: &str) -> String {
    let region = |name: &str, region: &str| {
        format!(
            "apiVersion: dialtone.io/v1alpha1\nkind: ContactCenterRegion\nmetadata: {{name: {name}, namespace: cc}}\nspec:\n  region: {region}\n  instanceId: {instance}\n  trafficDistributionGroupArn: {group}\n  probeInterval: 10s\n  health:\n    alarmPolicySelector: {{matchLabels: {{region: {region}}}}}\n"
        )
    };
    format!(
        "{}---\n{}",
        region("use1", "us-east-1"),
        region("usw2", "us-west-2")
    )
}

/// The plan: traffic distribution only (a failover is one UpdateTrafficDistribution).
fn plan(group: &str, active: &str, annotations: &str, spec: &str) -> String {
    format!(
        "apiVersion: dialtone.io/v1alpha1\nkind: FailoverPlan\nmetadata: {{name: dr, namespace: cc{annotations}}}\nspec:\n  primary: {{regionRef: use1}}\n  secondary: {{regionRef: usw2}}\n  activeRegion: {active}\n  trafficDistribution: {{groupArn: {group}}}\n{spec}"
    )
}

const AUTOMATIC: &str = "  mode: Automatic\n  automatic: {unhealthyFor: 1m}\n";
const DRILL: &str = "  drill: {schedule: \"0 6 1 */3 *\", holdFor: 5s}\n";

struct Cc {
    scratch: Scratch,
    group: String,
}

async fn contact_center(emulator: &Emulator, name: &str, spec: &str) -> Cc {
    let (instance, group) = emulator.replicated_instance().await;
    let scratch = Scratch::empty(name);
    scratch.write("10-east.yaml", &policy("east", "us-east-1"));
    scratch.write("11-west.yaml", &policy("west", "us-west-2"));
    scratch.write("20-regions.yaml", &regions(&instance, &group));
    scratch.write("30-plan.yaml", &plan(&group, "primary", "", spec));
    Cc { scratch, group }
}

async fn set_state(emulator: &Emulator, region: &str, alarm: &str, state: StateValue) {
    emulator
        .cloudwatch(region)
        .set_alarm_state()
        .alarm_name(alarm)
        .state_value(state)
        .state_reason("set by the test")
        .send()
        .await
        .expect("SetAlarmState");
}

/// Telephony's share in us-west-2, as GetTrafficDistribution reads it.
async fn west_share(emulator: &Emulator, group: &str) -> i32 {
    let traffic = emulator
        .connect("us-east-1")
        .get_traffic_distribution()
        .id(group)
        .send()
        .await
        .expect("GetTrafficDistribution");
    traffic
        .telephony_config()
        .map(|t| t.distributions())
        .unwrap_or_default()
        .iter()
        .find(|d| d.region() == "us-west-2")
        .map(|d| d.percentage())
        .unwrap_or_default()
}

/// The `run` process's HTTP address.
fn address(lines: &std::sync::mpsc::Receiver<String>) -> String {
    wait_for(lines, "serving /metrics", Duration::from_secs(60))
        .rsplit("http://")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The status of object `kind`/`name` as `/status` serves it now (Null before the first sweep).
fn status_of(addr: &str, kind: &str, name: &str) -> Value {
    let (code, body) = http_get(addr, "/status");
    if code != 200 {
        return Value::Null;
    }
    let document: Value = serde_json::from_str(&body).unwrap_or_default();
    document["objects"]
        .as_array()
        .and_then(|objects| {
            objects
                .iter()
                .find(|o| o["kind"] == kind && o["name"] == name)
        })
        .map(|o| o["status"].clone())
        .unwrap_or_default()
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

/// Waits until the plan's status satisfies `check`; returns it.
async fn plan_until(
    addr: &str,
    what: &str,
    limit: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    let deadline = Instant::now() + limit;
    loop {
        let status = status_of(addr, "FailoverPlan", "dr");
        if check(&status) {
            return status;
        }
        last = if status.is_null() { last } else { status };
        assert!(
            Instant::now() < deadline,
            "{what}: not within {limit:?}; last status {last}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn an_unhealthy_active_region_fails_over_automatically_once_latched_until_a_commit() {
    let emulator = Emulator::acquire().await;
    let cc = contact_center(&emulator, "fp-auto", AUTOMATIC).await;
    let (_child, lines) = run_manifests(&emulator, cc.scratch.path());
    let addr = address(&lines);
    plan_until(
        &addr,
        "steady on the primary",
        Duration::from_secs(90),
        |s| s["phase"] == "Steady" && s["automatic"]["primaryHealthySince"].is_string(),
    )
    .await;

    // The primary's critical alarm fires: after unhealthyFor (1m) and not before, the traffic
    // moves to the secondary, trigger automatic.
    let fired = Instant::now();
    set_state(
        &emulator,
        "us-east-1",
        "east-calls-over-quota",
        StateValue::Alarm,
    )
    .await;
    let watching = plan_until(
        &addr,
        "watching the primary",
        Duration::from_secs(60),
        |s| {
            s["automatic"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Unhealthy for"))
        },
    )
    .await;
    assert!(
        watching["automatic"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("of 1m")),
        "{watching}"
    );
    eventually(
        "the traffic moved to us-west-2",
        Duration::from_secs(180),
        || async { west_share(&emulator, &cc.group).await == 100 },
    )
    .await;
    let took = fired.elapsed();
    assert!(
        took >= Duration::from_secs(55),
        "failed over after {took:?}, before unhealthyFor (1m) had passed"
    );
    let status = plan_until(
        &addr,
        "the automatic failover recorded",
        Duration::from_secs(60),
        |s| condition(s, "Ready")["reason"] == "AutomaticFailover",
    )
    .await;
    assert_eq!(status["lastFailover"]["trigger"], "automatic", "{status}");
    assert_eq!(status["lastFailover"]["to"], "secondary");
    assert_eq!(status["activeRegion"], "secondary");
    assert_eq!(condition(&status, "Ready")["status"], "False");
    let message = condition(&status, "Ready")["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("commit spec.activeRegion: secondary")
            && message.contains("us-east-1 (primary side) Unhealthy"),
        "{message}"
    );
    assert_eq!(emulator.count("connect:UpdateTrafficDistribution"), 1);

    // The primary recovers: the traffic stays (latched), and Ready still asks for the commit.
    set_state(
        &emulator,
        "us-east-1",
        "east-calls-over-quota",
        StateValue::Ok,
    )
    .await;
    eventually(
        "us-east-1 healthy again",
        Duration::from_secs(60),
        || async { status_of(&addr, "ContactCenterRegion", "use1")["health"] == "Healthy" },
    )
    .await;
    let healthy = status_of(&addr, "ContactCenterRegion", "use1")["lastProbeTime"].clone();
    eventually(
        "another probe of us-east-1",
        Duration::from_secs(60),
        || async { status_of(&addr, "ContactCenterRegion", "use1")["lastProbeTime"] != healthy },
    )
    .await;
    let status = status_of(&addr, "FailoverPlan", "dr");
    assert_eq!(west_share(&emulator, &cc.group).await, 100, "no move back");
    assert_eq!(
        condition(&status, "Ready")["reason"],
        "AutomaticFailover",
        "{status}"
    );
    assert_eq!(emulator.count("connect:UpdateTrafficDistribution"), 1);

    // The commit of the new side clears the condition.
    cc.scratch
        .write("30-plan.yaml", &plan(&cc.group, "secondary", "", AUTOMATIC));
    let status = plan_until(
        &addr,
        "the commit takes over",
        Duration::from_secs(60),
        |s| condition(s, "Ready")["status"] == "True",
    )
    .await;
    assert_eq!(status["phase"], "FailedOver", "{status}");
    assert!(status["automatic"]["latched"].is_null(), "{status}");

    // A second incident, now in us-west-2, inside minInterval (1h by default): no failover.
    set_state(
        &emulator,
        "us-west-2",
        "west-calls-over-quota",
        StateValue::Alarm,
    )
    .await;
    let status = plan_until(
        &addr,
        "the second failover withheld",
        Duration::from_secs(180),
        |s| {
            s["automatic"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("minInterval"))
        },
    )
    .await;
    assert!(
        status["automatic"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("us-west-2 (secondary side) Unhealthy")),
        "{status}"
    );
    assert_eq!(west_share(&emulator, &cc.group).await, 100);
    assert_eq!(emulator.count("connect:UpdateTrafficDistribution"), 1);
}

#[tokio::test]
async fn a_drill_fails_over_holds_fails_back_and_reports_and_does_not_start_on_an_unhealthy_region()
{
    let emulator = Emulator::acquire().await;
    emulator.set_update_seconds(1);
    let cc = contact_center(&emulator, "fp-drill", DRILL).await;
    let asked = ", annotations: {dialtone.io/drill-now: \"Q4 drill\"}";
    cc.scratch
        .write("30-plan.yaml", &plan(&cc.group, "primary", asked, DRILL));

    // `plan` names the drill that is due, with its steps; nothing is written.
    emulator.forget_calls();
    let out = dialtone(
        &emulator,
        &["plan", "-f", cc.scratch.path(), "--aws-rate", "all=0"],
    );
    let printed = text(&out);
    assert!(
        printed.contains("failover to the secondary side (drill (annotation: Q4 drill)"),
        "{printed}"
    );
    assert!(
        printed.contains("UpdateTrafficDistribution in us-west-2"),
        "{printed}"
    );
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());

    let (_child, lines) = run_manifests(&emulator, cc.scratch.path());
    let addr = address(&lines);
    let status = plan_until(&addr, "the drill passes", Duration::from_secs(180), |s| {
        s["lastDrill"]["stage"] == "Done"
    })
    .await;
    let drill = &status["lastDrill"];
    assert_eq!(drill["result"], "Passed", "{status}");
    assert_eq!(drill["trigger"], "annotation");
    assert_eq!(drill["reason"], "Q4 drill");
    for (movement, to) in [("failover", "secondary"), ("failback", "primary")] {
        let record = &drill[movement];
        assert_eq!(record["trigger"], "drill", "{movement}: {record}");
        assert_eq!(record["to"], to, "{movement}");
        let steps: Vec<&str> = record["steps"]
            .as_array()
            .map(|s| s.iter().filter_map(|s| s["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            steps,
            ["readiness", "traffic", "checklist"],
            "{movement}: {record}"
        );
        let checklist = record["checklist"].as_array().expect("checklist");
        assert!(
            !checklist.is_empty() && checklist.iter().all(|c| c["passed"] == true),
            "{movement}: {record}"
        );
    }
    // Held for holdFor (5 s) between the two.
    let held = drill["heldSince"].as_str().expect("heldSince");
    let back = drill["failback"]["startedAt"]
        .as_str()
        .expect("failback start");
    let seconds = |t: &str| t.parse::<jiff::Timestamp>().expect("time").as_second();
    assert!(seconds(back) - seconds(held) >= 5, "{drill}");
    assert_eq!(
        west_share(&emulator, &cc.group).await,
        0,
        "back on the primary"
    );
    assert_eq!(emulator.count("connect:UpdateTrafficDistribution"), 2);
    assert_eq!(status["phase"], "Steady");
    assert!(status["nextDrill"].is_string(), "{status}");

    // The primary unhealthy: a new request does not start, and says why.
    set_state(
        &emulator,
        "us-east-1",
        "east-calls-over-quota",
        StateValue::Alarm,
    )
    .await;
    eventually("us-east-1 unhealthy", Duration::from_secs(60), || async {
        status_of(&addr, "ContactCenterRegion", "use1")["health"] == "Unhealthy"
    })
    .await;
    let again = ", annotations: {dialtone.io/drill-now: \"another\"}";
    cc.scratch
        .write("30-plan.yaml", &plan(&cc.group, "primary", again, DRILL));
    let status = plan_until(&addr, "the drill refused", Duration::from_secs(60), |s| {
        s["lastDrill"]["reason"] == "another"
    })
    .await;
    assert_eq!(status["lastDrill"]["result"], "NotStarted", "{status}");
    assert!(
        status["lastDrill"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("us-east-1 (primary side) is Unhealthy, not Healthy")),
        "{status}"
    );
    assert_eq!(emulator.count("connect:UpdateTrafficDistribution"), 2);
    assert_eq!(west_share(&emulator, &cc.group).await, 0);
}

//! Benchmark: 1,000 alarms in 40 AlarmPolicies in one region, against the local emulator.
//!
//!     cargo bench --bench sweep
//!
//! Prints AWS requests per operation for the first apply and for steady-state sweeps (with the
//! ownership cache of a running operator, and after a restart), wall time and peak RSS of this
//! process. Client-side rate limits are off: with CloudWatch's default 3 PutMetricAlarm/s the
//! first apply of 1,000 alarms takes about 5.5 minutes by design, whatever the machine.

#[path = "../tests/support/emulator.rs"]
#[allow(dead_code)]
mod emulator;

use std::collections::BTreeMap;
use std::time::Instant;

use dialtone::api::alarm_policy::AlarmPolicy;
use dialtone::controller::maintenance_window::{MuteEngine, Standing, WindowView};
use dialtone::controller::{AlarmEngine, Mode};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

const POLICIES: usize = 40;
const ALARMS_PER_POLICY: usize = 25;

fn policies() -> Vec<AlarmPolicy> {
    (0..POLICIES)
        .map(|p| {
            let alarms: Vec<_> = (0..ALARMS_PER_POLICY)
                .map(|a| {
                    json!({
                        "name": format!("queue-{a}-wait"),
                        "severity": if a % 2 == 0 { "high" } else { "medium" },
                        "metric": {
                            "namespace": "AWS/Connect",
                            "metricName": "LongestQueueWaitTime",
                            "dimensions": {"InstanceId": "7c0e9b14-8a3d-4f6e-9d21-3b5f2a1c4e88", "MetricGroup": "Queue", "QueueName": format!("Queue{p}-{a}")},
                            "statistic": "Maximum"
                        },
                        "threshold": 120,
                        "comparisonOperator": "GreaterThanThreshold"
                    })
                })
                .collect();
            serde_json::from_value(json!({
                "apiVersion": "dialtone.io/v1alpha1",
                "kind": "AlarmPolicy",
                "metadata": {"name": format!("team-{p}"), "namespace": "contact-center"},
                "spec": {
                    "region": "us-east-1",
                    "routing": {
                        "high": {"alarmActions": ["arn:aws:sns:us-east-1:123456789012:pager"]},
                        "medium": {"alarmActions": ["arn:aws:sns:us-east-1:123456789012:tickets"]}
                    },
                    "defaults": {"period": 60, "evaluationPeriods": 3, "datapointsToAlarm": 2},
                    "alarms": alarms
                }
            }))
            .expect("benchmark policy")
        })
        .collect()
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn report(label: &str, calls: &[String], seconds: f64, alarms: usize) {
    let mut by_op: BTreeMap<&str, usize> = BTreeMap::new();
    for call in calls {
        *by_op.entry(call.as_str()).or_default() += 1;
    }
    println!(
        "\n{label}: {seconds:.2} s wall, {} AWS requests for {alarms} alarms",
        calls.len()
    );
    for (op, count) in by_op {
        println!("  {op:<45} {count:>5}");
    }
}

async fn sweep_windows(mute: &mut MuteEngine, views: &[WindowView<'_>], policies: &[&AlarmPolicy]) {
    mute.sweep(
        views,
        policies,
        &Default::default(),
        None,
        Mode::Apply,
        &Default::default(),
        Timestamp::now(),
    )
    .await;
}

#[tokio::main]
async fn main() {
    let policies = policies();
    let alarms = POLICIES * ALARMS_PER_POLICY;
    let emulator = emulator::Emulator::acquire().await;
    let mut engine = AlarmEngine::new(emulator.clients().await);
    println!(
        "dialtone sweep benchmark: {alarms} alarms in {POLICIES} policies, one region (emulator, no client-side rate limits)"
    );

    let start = Instant::now();
    let outcomes = engine
        .reconcile(&policies, Mode::Apply, Timestamp::now())
        .await;
    let created: usize = outcomes.iter().map(|o| o.done.len()).sum();
    assert_eq!(created, alarms, "first apply creates every alarm");
    report(
        "first apply",
        &emulator.calls(),
        start.elapsed().as_secs_f64(),
        alarms,
    );

    // The running operator's next sweep re-reads ownership once (it wrote), then never again.
    engine
        .reconcile(&policies, Mode::Apply, Timestamp::now())
        .await;
    emulator.forget_calls();
    let start = Instant::now();
    let outcomes = engine
        .reconcile(&policies, Mode::Apply, Timestamp::now())
        .await;
    assert!(outcomes.iter().all(|o| o.done.is_empty()));
    report(
        "steady-state sweep (running operator)",
        &emulator.calls(),
        start.elapsed().as_secs_f64(),
        alarms,
    );

    emulator.forget_calls();
    let start = Instant::now();
    let mut restarted = AlarmEngine::new(emulator.clients().await);
    let outcomes = restarted
        .reconcile(&policies, Mode::Apply, Timestamp::now())
        .await;
    assert!(outcomes.iter().all(|o| o.done.is_empty()));
    report(
        "steady-state sweep (after a restart)",
        &emulator.calls(),
        start.elapsed().as_secs_f64(),
        alarms,
    );
    let writes = emulator.writes();
    println!("\nwrites in steady state: {}", writes.len());

    // A maintenance window muting all 1,000 alarms: ten mute rules of 100.
    let window: dialtone::api::MaintenanceWindow = serde_json::from_value(json!({
        "apiVersion": "dialtone.io/v1alpha1", "kind": "MaintenanceWindow",
        "metadata": {"name": "weekly", "namespace": "contact-center"},
        "spec": {"schedule": "0 2 * * SUN", "timeZone": "America/New_York", "duration": "2h",
                 "suppress": {"alarmPolicySelector": {"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}}},
    }))
    .expect("benchmark window");
    let selected: Vec<&AlarmPolicy> = policies.iter().collect();
    let views = [WindowView {
        owner: "contact-center/weekly".into(),
        standing: Standing::Present(&window),
        footprint: &[],
    }];
    let mut mute = MuteEngine::new(emulator.clients().await);
    emulator.forget_calls();
    let start = Instant::now();
    sweep_windows(&mut mute, &views, &selected).await;
    report(
        "maintenance window, first sweep (10 mute rules)",
        &emulator.calls(),
        start.elapsed().as_secs_f64(),
        alarms,
    );
    sweep_windows(&mut mute, &views, &selected).await;
    emulator.forget_calls();
    let start = Instant::now();
    sweep_windows(&mut mute, &views, &selected).await;
    let mute_calls: Vec<String> = emulator
        .calls()
        .into_iter()
        .filter(|c| c.contains("MuteRule") || c.contains("ListTagsForResource"))
        .collect();
    report(
        "maintenance window, steady-state sweep (mute-rule calls)",
        &mute_calls,
        start.elapsed().as_secs_f64(),
        alarms,
    );
    println!(
        "peak RSS of dialtone (this process): {:.1} MiB",
        peak_rss_mib()
    );
}

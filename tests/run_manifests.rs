//! `dialtone run --manifests`: the continuous loop without a cluster, as a user runs it.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use support::emulator::Emulator;
use support::process::{Running, http_get as get, wait_for};

fn spawn(emulator: &Emulator) -> (Running, Receiver<String>) {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    support::process::run_manifests(emulator, examples.to_str().expect("utf-8 path"))
}

#[tokio::test]
async fn run_serves_metrics_health_and_readiness() {
    let emulator = Emulator::acquire().await;
    let (child, lines) = spawn(&emulator);
    let serving = wait_for(&lines, "serving /metrics", Duration::from_secs(30));
    let addr = serving
        .rsplit("http://")
        .next()
        .expect("address")
        .trim()
        .to_string();
    assert_eq!(get(&addr, "/healthz").0, 200);
    wait_for(
        &lines,
        "connect-secondary [us-west-2]: 2 alarms",
        Duration::from_secs(60),
    );
    assert_eq!(get(&addr, "/readyz").0, 200, "ready after the first sweep");
    let (code, metrics) = get(&addr, "/metrics");
    assert_eq!(code, 200);
    for wanted in [
        r#"dialtone_reconciles_total{kind="AlarmPolicy",result="ok"}"#,
        // The AlarmPolicies' 18 alarms and the FailoverPlan's lever alarm.
        r#"dialtone_aws_requests_total{service="cloudwatch",operation="PutMetricAlarm",outcome="ok"} 19"#,
        "dialtone_sweep_duration_seconds_bucket",
        // Creating what the spec declares is not drift.
        r#"dialtone_drift_found_total{kind="AlarmPolicy"} 0"#,
        r#"dialtone_drift_corrected_total{kind="AlarmPolicy"} 0"#,
        "dialtone_leader 1",
        r#"dialtone_build_info{version=""#,
        r#"dialtone_object_ready{kind="AlarmPolicy",namespace="contact-center",name="connect-primary"} 1"#,
        r#"dialtone_object_drifted_alarms{kind="AlarmPolicy",namespace="contact-center",name="connect-primary"} 0"#,
        r#"dialtone_object_conflicts{kind="AlarmPolicy",namespace="contact-center",name="connect-primary"} 0"#,
        r#"dialtone_object_ready{kind="ContactCenterRegion",namespace="contact-center",name="use1"}"#,
        r#"dialtone_last_success_timestamp_seconds{kind="AlarmPolicy",namespace="contact-center",name="connect-primary"}"#,
        "dialtone_manifest_errors 0",
    ] {
        assert!(metrics.contains(wanted), "missing {wanted} in\n{metrics}");
    }
    let alarms: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("dialtone_alarms{state="))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(alarms, 18.0, "alarms by state add up to the managed alarms");
    assert!(
        !metrics.contains("dialtone_reconcile_duration_seconds_count{kind=\"AlarmPolicy\"}"),
        "a sweep is not timed as one policy's reconcile"
    );
    assert_eq!(get(&addr, "/nothing").0, 404);
    drop(child);
}

#[tokio::test]
async fn run_repairs_on_its_next_sweep_and_stops_on_sigterm() {
    let emulator = Emulator::acquire().await;
    let (mut child, lines) = spawn(&emulator);
    wait_for(
        &lines,
        "connect-primary [us-east-1]: 8 alarms, 0 firing, 0 drifted",
        Duration::from_secs(60),
    );
    wait_for(
        &lines,
        "connect-secondary [us-west-2]: 2 alarms",
        Duration::from_secs(60),
    );

    // Deleted by hand: the running loop puts it back by itself (bounded generously: CI machines
    // are loaded; the resync is 1 s).
    emulator
        .delete_alarm("us-east-1", "cc-prod-use1-queue-wait-basic")
        .await;
    wait_for(
        &lines,
        "created cc-prod-use1-queue-wait-basic",
        Duration::from_secs(60),
    );
    assert!(
        emulator
            .alarm_names("us-east-1")
            .await
            .contains(&"cc-prod-use1-queue-wait-basic".to_string())
    );

    let pid = child.0.id().to_string();
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = child.0.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(30),
            "dialtone did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    wait_for(&lines, "dialtone: stopped", Duration::from_secs(10));
}

#[tokio::test]
async fn a_removed_policy_is_said_to_be_cleaned_up_and_never_shown_with_0_alarms() {
    let emulator = Emulator::acquire().await;
    let scratch = support::process::Scratch::examples("removed-policy");
    let (_child, lines) = support::process::run_manifests(&emulator, scratch.path());
    wait_for(
        &lines,
        "backends-primary [us-east-1]: 8 alarms",
        Duration::from_secs(120),
    );
    scratch.remove("11-alarms-backends.yaml");
    wait_for(
        &lines,
        "AlarmPolicy contact-center/backends-primary: gone from the source, cleaned up",
        Duration::from_secs(120),
    );
    // A few more sweeps (the resync is 1 s): nothing more is said of it.
    std::thread::sleep(Duration::from_secs(4));
    let after = support::process::drain(&lines);
    assert!(
        !after.iter().any(|l| l.contains("backends-primary [")),
        "{after:?}"
    );
    assert!(
        emulator
            .alarm_names("us-east-1")
            .await
            .iter()
            .all(|n| !n.contains("lambda"))
    );
}

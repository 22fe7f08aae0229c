//! The examples in examples/ are a realistic contact center: every kind, all valid.

use std::collections::BTreeSet;
use std::path::PathBuf;

use dialtone::api::Object;
use dialtone::source::manifests;

#[test]
fn every_example_is_valid_and_every_kind_is_exercised() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let loaded = manifests::load(&dir).expect("examples load");
    assert_eq!(loaded.problem_count(), 0, "{:#?}", loaded.problems());
    let kinds: BTreeSet<&str> = loaded
        .objects
        .values()
        .map(|(_, o)| match o {
            Object::AlarmPolicy(_) => "AlarmPolicy",
            Object::ContactCenterRegion(_) => "ContactCenterRegion",
            Object::FailoverPlan(_) => "FailoverPlan",
            Object::MaintenanceWindow(_) => "MaintenanceWindow",
        })
        .collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
}

#[test]
fn examples_cover_the_manuals_alerts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let loaded = manifests::load(&dir).expect("examples load");
    let metrics: BTreeSet<String> = loaded
        .objects
        .values()
        .filter_map(|(_, o)| match o {
            Object::AlarmPolicy(p) => Some(p),
            _ => None,
        })
        .flat_map(|p| p.spec.alarms.iter())
        .flat_map(|a| {
            let direct = a
                .metric
                .iter()
                .map(|m| format!("{}/{}", m.namespace, m.metric_name));
            let math = a
                .expression
                .iter()
                .flat_map(|e| e.metrics.iter())
                .map(|q| format!("{}/{}", q.metric.namespace, q.metric.metric_name));
            direct.chain(math).collect::<Vec<_>>()
        })
        .collect();
    for wanted in [
        "AWS/Connect/LongestQueueWaitTime",
        "AWS/Connect/MissedCalls",
        "AWS/Connect/ConcurrentCallsPercentage",
        "AWS/Lambda/Errors",
        "AWS/DynamoDB/ConsumedReadCapacityUnits",
        "AWS/Lex/RuntimeSystemErrors",
        "AWS/ApiGateway/Latency",
    ] {
        assert!(
            metrics.contains(wanted),
            "examples lack {wanted}: {metrics:?}"
        );
    }
}

#[test]
fn the_validate_command_accepts_the_examples_and_rejects_a_bad_manifest() {
    let dialtone = env!("CARGO_BIN_EXE_dialtone");
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let ok = std::process::Command::new(dialtone)
        .args(["validate", "-f"])
        .arg(&examples)
        .output()
        .expect("runs");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    let dir = std::env::temp_dir().join(format!("dialtone-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.yaml");
    let text = std::fs::read_to_string(examples.join("10-alarms-contact-center.yaml"))
        .expect("example")
        .replacen("severity: critical", "severity: urgent", 1);
    std::fs::write(&bad, text).expect("write");
    let rejected = std::process::Command::new(dialtone)
        .args(["validate", "-f"])
        .arg(&bad)
        .output()
        .expect("runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(rejected.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&rejected.stdout);
    assert!(
        stdout.contains("AlarmPolicy contact-center/connect-primary: spec.alarms[2].severity"),
        "{stdout}"
    );
}

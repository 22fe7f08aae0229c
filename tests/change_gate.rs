//! The change gate, through the `dialtone` binary and the real SDK: a spec change of a gated
//! AlarmPolicy waits for a maintenance window while the spec admitted last stays enforced; a
//! window (or the emergency annotation) lets it in; nothing of a new gated policy is written
//! before; and all of it survives restarts.

mod support;

use std::time::Duration;

use k8s_openapi::jiff::{Timestamp, ToSpan};
use serde_json::Value;
use support::emulator::Emulator;
use support::process::{Scratch, apply_json, dialtone, run_manifests, text, wait_for};

fn policy(name: &str, threshold: u32, alarms: usize, annotation: Option<&str>) -> String {
    let entries: String = (0..alarms)
        .map(|i| {
            let threshold = if i == 0 { threshold } else { 1 };
            format!(
                "  - name: a{i}\n    severity: high\n    metric: {{namespace: AWS/Connect, metricName: QueueSize, dimensions: {{InstanceId: x, QueueName: q{i}}}, statistic: Maximum}}\n    threshold: {threshold}\n    comparisonOperator: GreaterThanThreshold\n"
            )
        })
        .collect();
    let annotations = annotation
        .map(|reason| format!(", annotations: {{dialtone.io/emergency-change: \"{reason}\"}}"))
        .unwrap_or_default();
    format!(
        "apiVersion: dialtone.io/v1alpha1\nkind: AlarmPolicy\nmetadata: {{name: {name}, namespace: cc, labels: {{tier: prod}}{annotations}}}\nspec:\n  region: us-east-1\n  routing: {{high: {{}}}}\n  alarms:\n{entries}"
    )
}

/// A gate that opens on New Year's Day only (closed now), plus one-off windows.
fn gate(one_off: &str) -> String {
    format!(
        "apiVersion: dialtone.io/v1alpha1\nkind: MaintenanceWindow\nmetadata: {{name: change-window, namespace: cc}}\nspec:\n  schedule: \"0 2 1 1 *\"\n  duration: 2h\n{one_off}  changeGate:\n    alarmPolicySelector: {{matchLabels: {{tier: prod}}}}\n"
    )
}

fn open_now() -> String {
    let now = Timestamp::now();
    let minute = |t: Timestamp| t.strftime("%Y-%m-%dT%H:%M:00Z").to_string();
    format!(
        "  windows:\n  - {{start: \"{}\", end: \"{}\", reason: CHG-7 now}}\n",
        minute(now - 1.minutes()),
        minute(now + 59.minutes())
    )
}

fn apply(emulator: &Emulator, scratch: &Scratch) -> (Value, String) {
    let applied = apply_json(emulator, scratch.path());
    assert!(applied.success, "{}\n{}", applied.document, applied.log);
    (applied.document, applied.log)
}

fn object<'a>(document: &'a Value, kind: &str, name: &str) -> &'a Value {
    document["objects"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["kind"] == kind && o["name"] == name))
        .unwrap_or_else(|| panic!("{kind} {name} in {document}"))
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
}

async fn threshold(emulator: &Emulator, alarm: &str) -> Option<f64> {
    emulator.alarm("us-east-1", alarm).await.threshold()
}

#[tokio::test]
async fn a_held_change_waits_for_the_window_while_the_admitted_spec_is_enforced() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::empty("gate-held");
    scratch.write("10-queues.yaml", &policy("queues", 1, 3, None));
    apply(&emulator, &scratch);
    scratch.write("40-gate.yaml", &gate(""));
    apply(&emulator, &scratch);

    // A change while the gate is closed: a threshold raised and an alarm added.
    scratch.write("10-queues.yaml", &policy("queues", 5, 4, None));
    emulator.forget_calls();
    let (document, log) = apply(&emulator, &scratch);
    assert!(
        emulator.writes().is_empty(),
        "nothing of the held change is written: {:?}",
        emulator.writes()
    );
    assert!(log.contains("ChangeHeld: AlarmPolicy cc/queues"), "{log}");
    assert_eq!(threshold(&emulator, "cc/queues/a0").await, Some(1.0));
    assert!(
        !emulator
            .alarm_names("us-east-1")
            .await
            .contains(&"cc/queues/a3".to_string())
    );
    let status = &object(&document, "AlarmPolicy", "queues")["status"];
    let held = condition(status, "ChangeHeld").expect("ChangeHeld");
    assert_eq!(
        (held["status"].as_str(), held["reason"].as_str()),
        (Some("True"), Some("WaitingForWindow"))
    );
    assert!(
        held["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cc/change-window"),
        "{held}"
    );
    let window = &object(&document, "MaintenanceWindow", "change-window")["status"];
    assert_eq!(window["heldChangeCount"], 1, "{window}");
    assert_eq!(window["heldChanges"][0]["name"], "queues");
    assert_eq!(window["heldChanges"][0]["kind"], "AlarmPolicy");
    assert!(
        window["heldChanges"][0]["heldUntil"]
            .as_str()
            .unwrap_or_default()
            .contains("-01-01T02:00:00"),
        "{window}"
    );

    // Drift on the admitted spec is still repaired meanwhile.
    let alarm = emulator.alarm("us-east-1", "cc/queues/a0").await;
    emulator
        .cloudwatch("us-east-1")
        .put_metric_alarm()
        .alarm_name("cc/queues/a0")
        .namespace("AWS/Connect")
        .metric_name("QueueSize")
        .set_dimensions(Some(alarm.dimensions().to_vec()))
        .statistic(aws_sdk_cloudwatch::types::Statistic::Maximum)
        .period(60)
        .evaluation_periods(1)
        .threshold(99.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("hand edit");
    apply(&emulator, &scratch);
    assert_eq!(
        threshold(&emulator, "cc/queues/a0").await,
        Some(1.0),
        "repaired to the admitted spec"
    );

    // `plan` shows the change as held, and what it would write once in; nothing is pending.
    let plan = dialtone(
        &emulator,
        &["plan", "-f", scratch.path(), "--detailed-exitcode"],
    );
    let plan_text = text(&plan);
    assert_eq!(plan.status.code(), Some(0), "{plan_text}");
    assert!(
        plan_text.contains("AlarmPolicy cc/queues [change held]"),
        "{plan_text}"
    );
    assert!(plan_text.contains("+ create cc/queues/a3"), "{plan_text}");
    assert!(
        plan_text.contains("threshold: \"1\" -> \"5\""),
        "{plan_text}"
    );

    // A window that covers now lets it in.
    scratch.write("40-gate.yaml", &gate(&open_now()));
    let (document, log) = apply(&emulator, &scratch);
    assert!(
        log.contains("ChangeAdmitted: AlarmPolicy cc/queues"),
        "{log}"
    );
    assert_eq!(threshold(&emulator, "cc/queues/a0").await, Some(5.0));
    assert!(
        emulator
            .alarm_names("us-east-1")
            .await
            .contains(&"cc/queues/a3".to_string())
    );
    let status = &object(&document, "AlarmPolicy", "queues")["status"];
    assert_eq!(
        condition(status, "ChangeHeld").map(|c| c["status"].clone()),
        Some("False".into())
    );
}

#[tokio::test]
async fn the_emergency_annotation_lets_a_change_in_now_and_says_why() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::empty("gate-emergency");
    scratch.write("10-queues.yaml", &policy("queues", 1, 2, None));
    apply(&emulator, &scratch);
    scratch.write("40-gate.yaml", &gate(""));
    scratch.write("10-queues.yaml", &policy("queues", 7, 2, None));
    apply(&emulator, &scratch);
    assert_eq!(
        threshold(&emulator, "cc/queues/a0").await,
        Some(1.0),
        "held"
    );

    scratch.write(
        "10-queues.yaml",
        &policy("queues", 7, 2, Some("INC-42 paging storm")),
    );
    let (_, log) = apply(&emulator, &scratch);
    assert_eq!(threshold(&emulator, "cc/queues/a0").await, Some(7.0));
    assert!(
        log.contains("EmergencyChange: AlarmPolicy cc/queues")
            && log.contains("INC-42 paging storm"),
        "{log}"
    );
}

#[tokio::test]
async fn a_new_policy_under_a_closed_gate_creates_nothing_and_holding_survives_restarts() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::empty("gate-new");
    scratch.write("40-gate.yaml", &gate(""));
    scratch.write("10-fresh.yaml", &policy("fresh", 1, 2, None));
    for _ in 0..2 {
        // Each apply is a new process: the state file keeps what was admitted.
        let (document, _) = apply(&emulator, &scratch);
        let status = &object(&document, "AlarmPolicy", "fresh")["status"];
        assert_eq!(
            condition(status, "ChangeHeld").map(|c| c["status"].clone()),
            Some("True".into())
        );
        assert_eq!(
            condition(status, "Ready").map(|c| c["reason"].clone()),
            Some("ChangeHeld".into())
        );
    }
    assert!(
        emulator.alarm_names("us-east-1").await.is_empty(),
        "nothing created"
    );

    // run --manifests, restarted, keeps holding too.
    for _ in 0..2 {
        emulator.forget_calls();
        let (child, lines) = run_manifests(&emulator, scratch.path());
        wait_for(
            &lines,
            "AlarmPolicy cc/fresh [us-east-1]: not created yet",
            Duration::from_secs(60),
        );
        drop(child);
        assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
    }
    scratch.write("40-gate.yaml", &gate(&open_now()));
    apply(&emulator, &scratch);
    assert_eq!(
        emulator.alarm_names("us-east-1").await.len(),
        2,
        "in once the window opens"
    );
}

//! Presets through the `dialtone` binary and the real SDK, against the emulator: a policy of
//! presets yields exactly the alarms they expand to (metric, dimensions, statistic, period,
//! threshold, metric math), a second apply writes nothing, and a missing param writes nothing and
//! names the param; `dialtone presets` prints the catalog and one preset's alarm.

mod support;

use support::emulator::Emulator;
use support::process::{Scratch, apply_json, dialtone, text};

const POLICY: &str = r#"apiVersion: dialtone.io/v1alpha1
kind: AlarmPolicy
metadata: {name: presets, namespace: cc}
spec:
  region: us-east-1
  alarmNamePrefix: "p-"
  routing: {high: {alarmActions: ["arn:aws:sns:us-east-1:123456789012:pager"]}, medium: {}}
  alarms:
  - {preset: connect-queue-wait, params: {instanceId: i-1, queueName: BasicQueue}}
  - {preset: connect-packet-loss, params: {instanceId: i-1}}
  - {preset: lambda-error-rate, params: {functionName: cc-router}}
  - {preset: connect-call-volume-anomaly, params: {instanceId: i-1}}
  - {name: latency, preset: apigateway-latency, params: {apiName: cc-callback, stage: prod}, threshold: 1000}
"#;

#[tokio::test]
async fn a_policy_of_presets_yields_exactly_their_alarms_and_a_second_apply_writes_nothing() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::empty("presets");
    scratch.write("policy.yaml", POLICY);
    let applied = apply_json(&emulator, scratch.path());
    assert!(applied.success, "{}", applied.log);

    let mut names = emulator.alarm_names("us-east-1").await;
    names.sort();
    assert_eq!(
        names,
        [
            "p-connect-call-volume-anomaly",
            "p-connect-packet-loss",
            "p-connect-queue-wait-BasicQueue",
            "p-lambda-error-rate-cc-router",
            "p-latency",
        ]
    );
    let alarms = emulator
        .cloudwatch("us-east-1")
        .describe_alarms()
        .alarm_name_prefix("p-")
        .send()
        .await
        .expect("DescribeAlarms");
    let alarm = |name: &str| {
        alarms
            .metric_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(name))
            .unwrap_or_else(|| panic!("{name}"))
    };
    let dimensions = |a: &aws_sdk_cloudwatch::types::MetricAlarm| {
        let mut d: Vec<(String, String)> = a
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_string(),
                    d.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        d.sort();
        d
    };

    let wait = alarm("p-connect-queue-wait-BasicQueue");
    assert_eq!(
        (
            wait.namespace(),
            wait.metric_name(),
            wait.statistic().map(|s| s.as_str()),
            wait.period(),
            wait.threshold()
        ),
        (
            Some("AWS/Connect"),
            Some("LongestQueueWaitTime"),
            Some("Maximum"),
            Some(60),
            Some(120.0)
        )
    );
    assert_eq!(
        dimensions(wait),
        [
            ("InstanceId".to_string(), "i-1".to_string()),
            ("MetricGroup".into(), "Queue".into()),
            ("QueueName".into(), "BasicQueue".into())
        ]
    );
    assert_eq!(
        wait.alarm_actions(),
        ["arn:aws:sns:us-east-1:123456789012:pager"],
        "high severity routes to the pager"
    );

    // Dimension names with spaces, as Amazon Connect publishes them.
    let loss = alarm("p-connect-packet-loss");
    assert_eq!(
        dimensions(loss),
        [
            ("Instance ID".to_string(), "i-1".to_string()),
            ("Participant".into(), "Agent".into()),
            ("Stream Type".into(), "Voice".into()),
            ("Type of Connection".into(), "WebRTC".into())
        ]
    );

    // Metric math, 2 of 3.
    let errors = alarm("p-lambda-error-rate-cc-router");
    let queries: Vec<&str> = errors
        .metrics()
        .iter()
        .filter_map(|q| q.expression())
        .collect();
    assert_eq!(queries, ["100 * errors / invocations"]);
    assert_eq!(
        (errors.evaluation_periods(), errors.datapoints_to_alarm()),
        (Some(3), Some(2))
    );

    // The anomaly band, and the threshold that a preset leaves to the user.
    let volume = alarm("p-connect-call-volume-anomaly");
    assert_eq!(
        volume.comparison_operator().map(|c| c.as_str()),
        Some("LessThanLowerOrGreaterThanUpperThreshold")
    );
    assert!(volume.threshold_metric_id().is_some(), "{volume:?}");
    let latency = alarm("p-latency");
    assert_eq!(
        (latency.extended_statistic(), latency.threshold()),
        (Some("p90"), Some(1000.0))
    );

    // Drift is compared against the expanded alarms: the second apply writes nothing.
    emulator.forget_calls();
    let again = apply_json(&emulator, scratch.path());
    assert!(again.success, "{}", again.log);
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
}

#[tokio::test]
async fn a_missing_param_writes_nothing_and_names_the_param() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::empty("presets-missing");
    scratch.write(
        "policy.yaml",
        &POLICY.replace(
            "{instanceId: i-1, queueName: BasicQueue}",
            "{instanceId: i-1}",
        ),
    );
    emulator.forget_calls();
    let out = dialtone(
        &emulator,
        &["apply", "-f", scratch.path(), "--aws-rate", "all=0"],
    );
    let printed = text(&out);
    assert!(!out.status.success(), "{printed}");
    assert!(
        printed.contains("spec.alarms[0].params.queueName")
            && printed.contains("required by preset connect-queue-wait"),
        "{printed}"
    );
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
    assert!(emulator.alarm_names("us-east-1").await.is_empty());
}

#[tokio::test]
async fn the_catalog_and_one_preset_are_printed() {
    let emulator = Emulator::acquire().await;
    let out = dialtone(&emulator, &["presets"]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    for preset in ["connect-queue-wait", "lex-errors", "s3-unusual-access"] {
        assert!(printed.contains(preset), "{preset}: {printed}");
    }
    let out = dialtone(&emulator, &["presets", "lex-errors", "-o", "json"]);
    let document: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(document["name"], "lex-errors");
    assert_eq!(
        document["alarm"]["expression"]["metrics"][0]["metric"]["dimensions"]["LocaleId"],
        "<localeId>"
    );
    let out = dialtone(&emulator, &["presets", "connect-queue-wiat"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("connect-queue-wait"), "{}", text(&out));
}

//! Each preset against its row of the catalog (../shared/reference/connect-operations.md).

use super::*;
use crate::api::alarm_policy::TreatMissingData;

/// A catalog row: what the expansion must be.
struct Row {
    preset: &'static str,
    params: &'static [(&'static str, &'static str)],
    /// The metric's namespace and name, or the expression.
    watched: &'static str,
    /// For an expression: each metric as `id=Namespace/Name:Statistic`.
    inputs: &'static [&'static str],
    dimensions: &'static [(&'static str, &'static str)],
    /// `Sum`, `Maximum`, ... or an extended statistic (`p99`).
    stat: &'static str,
    period: i32,
    comparison: ComparisonOperator,
    /// The threshold, or the band's standard deviations (`band`).
    threshold: Option<f64>,
    band: Option<f64>,
    severity: Severity,
    /// (evaluation periods, datapoints to alarm) when the row says "N of M".
    of: Option<(i32, i32)>,
}

const ID: &str = "7c0e9b14-8a3d-4f6e-9d21-3b5f2a1c4e88";
const I: (&str, &str) = ("instanceId", ID);

fn rows() -> Vec<Row> {
    use ComparisonOperator::{
        GreaterThanOrEqualToThreshold as AtLeast, GreaterThanThreshold as Above,
        LessThanLowerOrGreaterThanUpperThreshold as Outside,
    };
    use Severity::{High, Low, Medium};
    let row =
        |preset, params, watched, dimensions, stat, period, comparison, threshold, severity| Row {
            preset,
            params,
            watched,
            inputs: &[],
            dimensions,
            stat,
            period,
            comparison,
            threshold,
            band: None,
            severity,
            of: None,
        };
    let voice: &'static [(&str, &str)] = &[("InstanceId", ID), ("MetricGroup", "VoiceCalls")];
    let queue: &'static [(&str, &str)] = &[
        ("InstanceId", ID),
        ("MetricGroup", "Queue"),
        ("QueueName", "BasicQueue"),
    ];
    let flow: &'static [(&str, &str)] = &[
        ("ContactFlowName", "Main-Inbound"),
        ("InstanceId", ID),
        ("MetricGroup", "ContactFlow"),
    ];
    let api: &'static [(&str, &str)] = &[("ApiName", "cc-callback"), ("Stage", "prod")];
    let table: &'static [(&str, &str)] = &[("TableName", "cc-customers")];
    vec![
        row(
            "connect-concurrent-calls",
            &[I],
            "AWS/Connect ConcurrentCallsPercentage",
            voice,
            "Maximum",
            300,
            AtLeast,
            Some(0.8),
            High,
        ),
        row(
            "connect-calls-over-quota",
            &[I],
            "AWS/Connect CallsBreachingConcurrencyQuota",
            &[("InstanceId", ID)],
            "Sum",
            900,
            Above,
            Some(0.0),
            High,
        ),
        row(
            "connect-throttled-calls",
            &[I],
            "AWS/Connect ThrottledCalls",
            voice,
            "Sum",
            300,
            Above,
            Some(0.0),
            High,
        ),
        row(
            "connect-queue-wait",
            &[I, ("queueName", "BasicQueue")],
            "AWS/Connect LongestQueueWaitTime",
            queue,
            "Maximum",
            60,
            Above,
            Some(120.0),
            High,
        ),
        row(
            "connect-queue-full",
            &[I, ("queueName", "BasicQueue")],
            "AWS/Connect QueueCapacityExceededError",
            queue,
            "Sum",
            60,
            Above,
            Some(0.0),
            High,
        ),
        row(
            "connect-missed-calls",
            &[I],
            "AWS/Connect MissedCalls",
            voice,
            "Sum",
            3600,
            Above,
            Some(5.0),
            Medium,
        ),
        row(
            "connect-flow-errors",
            &[I, ("contactFlowName", "Main-Inbound")],
            "AWS/Connect ContactFlowErrors",
            flow,
            "Sum",
            3600,
            Above,
            Some(5.0),
            Medium,
        ),
        row(
            "connect-flow-fatal-errors",
            &[I, ("contactFlowName", "Main-Inbound")],
            "AWS/Connect ContactFlowFatalErrors",
            flow,
            "Sum",
            300,
            Above,
            Some(0.0),
            High,
        ),
        row(
            "connect-recording-upload-errors",
            &[I],
            "AWS/Connect CallRecordingUploadError",
            &[("InstanceId", ID), ("MetricGroup", "CallRecordings")],
            "Sum",
            300,
            Above,
            Some(0.0),
            Medium,
        ),
        row(
            "connect-packet-loss",
            &[I],
            "AWS/Connect ToInstancePacketLossRate",
            &[
                ("Instance ID", ID),
                ("Participant", "Agent"),
                ("Stream Type", "Voice"),
                ("Type of Connection", "WebRTC"),
            ],
            "Average",
            900,
            Above,
            Some(0.01),
            Medium,
        ),
        Row {
            band: Some(2.0),
            ..row(
                "connect-call-volume-anomaly",
                &[I],
                "AWS/Connect CallsPerInterval",
                voice,
                "Sum",
                300,
                Outside,
                None,
                Medium,
            )
        },
        Row {
            inputs: &[
                "errors=AWS/Lambda/Errors:Sum",
                "invocations=AWS/Lambda/Invocations:Sum",
            ],
            of: Some((3, 2)),
            ..row(
                "lambda-error-rate",
                &[("functionName", "cc-router")],
                "100 * errors / invocations",
                &[("FunctionName", "cc-router")],
                "",
                60,
                Above,
                Some(5.0),
                High,
            )
        },
        row(
            "lambda-duration",
            &[("functionName", "cc-router")],
            "AWS/Lambda Duration",
            &[("FunctionName", "cc-router")],
            "p99",
            60,
            Above,
            Some(3000.0),
            Medium,
        ),
        Row {
            inputs: &[
                "consumed=AWS/DynamoDB/ConsumedReadCapacityUnits:Sum",
                "provisioned=AWS/DynamoDB/ProvisionedReadCapacityUnits:Average",
            ],
            ..row(
                "dynamodb-read-capacity",
                &[("tableName", "cc-customers")],
                "100 * (consumed / PERIOD(consumed)) / provisioned",
                table,
                "",
                60,
                Above,
                Some(85.0),
                Medium,
            )
        },
        Row {
            inputs: &[
                "consumed=AWS/DynamoDB/ConsumedWriteCapacityUnits:Sum",
                "provisioned=AWS/DynamoDB/ProvisionedWriteCapacityUnits:Average",
            ],
            ..row(
                "dynamodb-write-capacity",
                &[("tableName", "cc-customers")],
                "100 * (consumed / PERIOD(consumed)) / provisioned",
                table,
                "",
                60,
                Above,
                Some(85.0),
                Medium,
            )
        },
        Row {
            inputs: &[
                "reads=AWS/DynamoDB/ReadThrottleEvents:Sum",
                "writes=AWS/DynamoDB/WriteThrottleEvents:Sum",
            ],
            ..row(
                "dynamodb-throttles",
                &[("tableName", "cc-customers")],
                "FILL(reads, 0) + FILL(writes, 0)",
                table,
                "",
                60,
                Above,
                Some(0.0),
                High,
            )
        },
        Row {
            inputs: &[
                "errors=AWS/Lex/RuntimeSystemErrors:Sum",
                "throttled=AWS/Lex/RuntimeThrottledEvents:Sum",
            ],
            ..row(
                "lex-errors",
                &[
                    ("botId", "ABCDEFGHIJ"),
                    ("botAliasId", "TSTALIASID"),
                    ("localeId", "en_US"),
                    ("operation", "RecognizeUtterance"),
                ],
                "FILL(errors, 0) + FILL(throttled, 0)",
                &[
                    ("BotAliasId", "TSTALIASID"),
                    ("BotId", "ABCDEFGHIJ"),
                    ("LocaleId", "en_US"),
                    ("Operation", "RecognizeUtterance"),
                ],
                "",
                300,
                Above,
                Some(0.0),
                High,
            )
        },
        Row {
            of: Some((3, 3)),
            ..row(
                "apigateway-5xx",
                &[("apiName", "cc-callback"), ("stage", "prod")],
                "AWS/ApiGateway 5XXError",
                api,
                "Average",
                60,
                Above,
                Some(0.05),
                High,
            )
        },
        row(
            "apigateway-latency",
            &[("apiName", "cc-callback"), ("stage", "prod")],
            "AWS/ApiGateway Latency",
            api,
            "p90",
            60,
            Above,
            Some(1000.0),
            Medium,
        ),
        Row {
            band: Some(2.0),
            ..row(
                "s3-unusual-access",
                &[("bucketName", "cc-recordings"), ("filterId", "all")],
                "AWS/S3 AllRequests",
                &[("BucketName", "cc-recordings"), ("FilterId", "all")],
                "Sum",
                300,
                Outside,
                None,
                Low,
            )
        },
    ]
}

fn entry(preset: &str, params: &[(&str, &str)]) -> AlarmEntry {
    serde_json::from_value(serde_json::json!({
        "preset": preset,
        "params": params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
    }))
    .expect("an entry")
}

fn stat(metric: &MetricSpec) -> String {
    metric
        .statistic
        .map(|s| format!("{s:?}"))
        .or_else(|| metric.extended_statistic.clone())
        .unwrap_or_default()
}

fn dims(metric: &MetricSpec) -> Vec<(String, String)> {
    metric.dimensions.clone().into_iter().collect()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_preset_expands_to_its_catalog_row() {
    let rows = rows();
    let covered: Vec<&str> = rows.iter().map(|r| r.preset).collect();
    let catalog: Vec<&str> = CATALOG.iter().map(|p| p.name).collect();
    assert_eq!(
        covered.iter().copied().collect::<BTreeSet<_>>(),
        catalog.iter().copied().collect::<BTreeSet<_>>(),
        "a row per preset"
    );
    for row in rows {
        let mut written = entry(row.preset, row.params);
        if find(row.preset).is_some_and(|p| p.required_threshold.is_some()) {
            // The one preset without a default threshold: the entry gives it.
            written.threshold = row.threshold;
        }
        let alarm =
            expand(&written, "spec.alarms[0]").unwrap_or_else(|e| panic!("{}: {e:?}", row.preset));
        let what = row.preset;
        match (&alarm.metric, &alarm.expression) {
            (Some(metric), None) => {
                assert_eq!(
                    format!("{} {}", metric.namespace, metric.metric_name),
                    row.watched,
                    "{what}"
                );
                assert_eq!(dims(metric), owned(row.dimensions), "{what}");
                assert_eq!(stat(metric), row.stat, "{what}");
                assert_eq!(metric.period, Some(row.period), "{what}");
            }
            (None, Some(expression)) => {
                assert_eq!(expression.expression, row.watched, "{what}");
                assert_eq!(expression.period, Some(row.period), "{what}");
                let inputs: Vec<String> = expression
                    .metrics
                    .iter()
                    .map(|q| {
                        format!(
                            "{}={}/{}:{}",
                            q.id,
                            q.metric.namespace,
                            q.metric.metric_name,
                            stat(&q.metric)
                        )
                    })
                    .collect();
                assert_eq!(inputs, row.inputs, "{what}");
                for query in &expression.metrics {
                    assert_eq!(dims(&query.metric), owned(row.dimensions), "{what}");
                    assert_eq!(query.metric.period, Some(row.period), "{what}");
                }
            }
            _ => panic!("{what}: one of metric or expression"),
        }
        assert_eq!(alarm.comparison_operator, row.comparison, "{what}");
        assert_eq!(alarm.threshold, row.threshold, "{what}");
        assert_eq!(
            alarm.anomaly_band.map(|b| b.standard_deviations),
            row.band,
            "{what}"
        );
        assert_eq!(alarm.severity, row.severity, "{what}");
        assert_eq!(alarm.evaluation_periods, row.of.map(|o| o.0), "{what}");
        assert_eq!(alarm.datapoints_to_alarm, row.of.map(|o| o.1), "{what}");
    }
}

#[test]
fn the_latency_preset_needs_a_threshold_and_every_field_overrides() {
    let mut latency = entry(
        "apigateway-latency",
        &[("apiName", "cc-callback"), ("stage", "prod")],
    );
    let errors = expand(&latency, "spec.alarms[2]").expect_err("no threshold");
    assert_eq!(errors[0].path, "spec.alarms[2].threshold");
    assert!(
        errors[0].message.contains("apigateway-latency"),
        "{errors:?}"
    );
    latency.threshold = Some(1000.0);
    let alarm = expand(&latency, "spec.alarms[2]").expect("with a threshold");
    let metric = alarm.metric.expect("a metric");
    assert_eq!(
        (
            metric.metric_name.as_str(),
            stat(&metric).as_str(),
            alarm.threshold
        ),
        ("Latency", "p90", Some(1000.0))
    );

    // Overrides win: name, severity, threshold, periods, missing data, description.
    let mut wait = entry("connect-queue-wait", &[I, ("queueName", "BasicQueue")]);
    wait.name = Some("queue-wait-basic".into());
    wait.severity = Some(Severity::Critical);
    wait.threshold = Some(60.0);
    wait.evaluation_periods = Some(5);
    wait.datapoints_to_alarm = Some(4);
    wait.treat_missing_data = Some(TreatMissingData::Breaching);
    wait.description = Some("mine".into());
    let alarm = expand(&wait, "spec.alarms[0]").expect("expands");
    assert_eq!(alarm.name, "queue-wait-basic");
    assert_eq!(alarm.severity, Severity::Critical);
    assert_eq!(alarm.threshold, Some(60.0));
    assert_eq!(
        (alarm.evaluation_periods, alarm.datapoints_to_alarm),
        (Some(5), Some(4))
    );
    assert_eq!(alarm.treat_missing_data, Some(TreatMissingData::Breaching));
    assert_eq!(alarm.description.as_deref(), Some("mine"));

    // Only evaluationPeriods overridden: 2 of 3 becomes 1 of 1; 3 of 3 becomes 5 of 5.
    let mut errors = entry("lambda-error-rate", &[("functionName", "f")]);
    errors.evaluation_periods = Some(1);
    let alarm = expand(&errors, "p").expect("expands");
    assert_eq!(
        (alarm.evaluation_periods, alarm.datapoints_to_alarm),
        (Some(1), Some(1))
    );
    let mut five = entry("apigateway-5xx", &[("apiName", "a"), ("stage", "s")]);
    five.evaluation_periods = Some(5);
    let alarm = expand(&five, "p").expect("expands");
    assert_eq!(
        (alarm.evaluation_periods, alarm.datapoints_to_alarm),
        (Some(5), Some(5))
    );

    // A threshold on a band preset replaces the band.
    let mut volume = entry("connect-call-volume-anomaly", &[I]);
    volume.threshold = Some(1000.0);
    let alarm = expand(&volume, "spec.alarms[0]").expect("expands");
    assert_eq!((alarm.threshold, alarm.anomaly_band), (Some(1000.0), None));
    assert_eq!(
        alarm.comparison_operator,
        ComparisonOperator::GreaterThanThreshold
    );
}

#[test]
fn bad_params_and_unknown_presets_name_the_field_and_the_preset() {
    let errors = expand(&entry("connect-queue-wait", &[I]), "spec.alarms[3]").expect_err("missing");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "spec.alarms[3].params.queueName");
    assert!(
        errors[0].message.contains("connect-queue-wait")
            && errors[0].message.contains("instanceId, queueName"),
        "{errors:?}"
    );
    let errors = expand(
        &entry("connect-missed-calls", &[I, ("queue", "x")]),
        "spec.alarms[0]",
    )
    .expect_err("unknown param");
    assert_eq!(errors[0].path, "spec.alarms[0].params.queue");
    assert!(
        errors[0]
            .message
            .contains("not a param of preset connect-missed-calls")
    );
    let errors = expand(&entry("connect-queue-wiat", &[I]), "spec.alarms[0]").expect_err("unknown");
    assert_eq!(errors[0].path, "spec.alarms[0].preset");
    assert!(
        errors[0].message.contains("connect-queue-wait"),
        "lists the presets: {errors:?}"
    );
}

#[test]
fn default_names_are_readable_stable_and_never_collide_silently() {
    let alarm = expand(
        &entry("connect-queue-wait", &[I, ("queueName", "Basic Queue/EN")]),
        "p",
    )
    .expect("expands");
    assert_eq!(alarm.name, "connect-queue-wait-Basic-Queue-EN");
    assert_eq!(
        expand(&entry("connect-missed-calls", &[I]), "p").map(|a| a.name),
        Ok("connect-missed-calls".to_string())
    );
    let twice = [
        entry("connect-missed-calls", &[I]),
        entry("connect-missed-calls", &[("instanceId", "other")]),
    ];
    let errors = expand_all(&twice).expect_err("same name");
    assert_eq!(errors[0].path, "spec.alarms[1].name");
    assert!(
        errors[0]
            .message
            .contains("as does spec.alarms[0] (preset connect-missed-calls)"),
        "{errors:?}"
    );
}

//! Presets, pure: the operations manual's alert catalog (../shared/reference/connect-operations.md,
//! "Preset alarm catalog"), each a grounded alarm (namespace, metric or metric math, dimensions,
//! statistic, period, comparison, threshold, severity) that an alarm entry names with `preset:` and
//! the dimension values it needs in `params`. Expansion happens before validation: the expanded
//! alarm meets the same checks as one written out, and drift compares against it.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::alarm_policy::{
    AlarmEntry, AlarmSpec, AnomalyBand, ComparisonOperator, ExpressionSpec, MetricQuery,
    MetricSpec, Statistic,
};
use crate::api::common::Severity;
use crate::validate::FieldError;

/// A param of a preset: the dimension value it fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub doc: &'static str,
}

const INSTANCE: Param = Param {
    name: "instanceId",
    doc: "the Amazon Connect instance id",
};
const QUEUE: Param = Param {
    name: "queueName",
    doc: "the queue's name, exactly as in Amazon Connect",
};
const FLOW: Param = Param {
    name: "contactFlowName",
    doc: "the contact flow's name, exactly as in Amazon Connect",
};
const FUNCTION: Param = Param {
    name: "functionName",
    doc: "the Lambda function's name",
};
const TABLE: Param = Param {
    name: "tableName",
    doc: "the DynamoDB table's name",
};
const BOT: Param = Param {
    name: "botId",
    doc: "the Lex V2 bot id",
};
const ALIAS: Param = Param {
    name: "botAliasId",
    doc: "the bot alias id",
};
const LOCALE: Param = Param {
    name: "localeId",
    doc: "the locale, e.g. en_US (CloudWatch's dimension is LocaleId, not BotLocale)",
};
const OPERATION: Param = Param {
    name: "operation",
    doc: "the runtime operation, e.g. RecognizeUtterance or RecognizeText",
};
const API: Param = Param {
    name: "apiName",
    doc: "the API Gateway REST API's name",
};
const STAGE: Param = Param {
    name: "stage",
    doc: "the stage, e.g. prod",
};
const BUCKET: Param = Param {
    name: "bucketName",
    doc: "the S3 bucket's name",
};
const FILTER: Param = Param {
    name: "filterId",
    doc: "the id of the bucket's request-metrics configuration (S3 publishes request metrics only for one)",
};

/// One preset of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    /// What it watches, in one line (also the alarm's default description).
    pub watches: &'static str,
    /// Its page of docs: why this metric, these dimensions, this threshold.
    pub doc: &'static str,
    pub params: &'static [Param],
    pub severity: Severity,
    /// The default threshold; None when the preset compares with an anomaly band, or needs one
    /// (`required_threshold`).
    pub threshold: Option<f64>,
    /// The preset has no sensible default threshold: the entry must set `threshold`.
    pub required_threshold: Option<&'static str>,
}

/// The catalog, in the manual's order.
pub const CATALOG: &[Preset] = &[
    Preset {
        name: "connect-concurrent-calls",
        watches: "Concurrent calls at 80 % of the instance's quota",
        doc: "AWS/Connect ConcurrentCallsPercentage is a fraction (0.8 = 80 %), dimensions InstanceId and MetricGroup=VoiceCalls; Maximum over 5 minutes. At 80 % there is time to raise the quota or shed load before calls are refused.",
        params: &[INSTANCE],
        severity: Severity::High,
        threshold: Some(0.8),
        required_threshold: None,
    },
    Preset {
        name: "connect-calls-over-quota",
        watches: "Calls refused because the instance is over its concurrent-call quota",
        doc: "AWS/Connect CallsBreachingConcurrencyQuota, dimension InstanceId only; Sum over 15 minutes, above 0: any refused call.",
        params: &[INSTANCE],
        severity: Severity::High,
        threshold: Some(0.0),
        required_threshold: None,
    },
    Preset {
        name: "connect-throttled-calls",
        watches: "Calls throttled by Amazon Connect",
        doc: "AWS/Connect ThrottledCalls, dimensions InstanceId and MetricGroup=VoiceCalls; Sum over 5 minutes, above 0.",
        params: &[INSTANCE],
        severity: Severity::High,
        threshold: Some(0.0),
        required_threshold: None,
    },
    Preset {
        name: "connect-queue-wait",
        watches: "Longest wait in a queue above 2 minutes",
        doc: "AWS/Connect LongestQueueWaitTime (seconds), dimensions InstanceId, MetricGroup=Queue and QueueName; Maximum per minute above 120 s, the manual's seed: tune it per queue after a few weeks of data.",
        params: &[INSTANCE, QUEUE],
        severity: Severity::High,
        threshold: Some(120.0),
        required_threshold: None,
    },
    Preset {
        name: "connect-queue-full",
        watches: "Calls rejected because a queue reached its capacity",
        doc: "AWS/Connect QueueCapacityExceededError, dimensions InstanceId, MetricGroup=Queue and QueueName; Sum per minute above 0.",
        params: &[INSTANCE, QUEUE],
        severity: Severity::High,
        threshold: Some(0.0),
        required_threshold: None,
    },
    Preset {
        name: "connect-missed-calls",
        watches: "More than 5 calls an hour routed to agents who did not answer",
        doc: "AWS/Connect MissedCalls, dimensions InstanceId and MetricGroup=VoiceCalls; Sum over an hour above 5.",
        params: &[INSTANCE],
        severity: Severity::Medium,
        threshold: Some(5.0),
        required_threshold: None,
    },
    Preset {
        name: "connect-flow-errors",
        watches: "More than 5 errors an hour in a contact flow",
        doc: "AWS/Connect ContactFlowErrors, dimensions InstanceId, MetricGroup=ContactFlow and ContactFlowName; Sum over an hour above 5.",
        params: &[INSTANCE, FLOW],
        severity: Severity::Medium,
        threshold: Some(5.0),
        required_threshold: None,
    },
    Preset {
        name: "connect-flow-fatal-errors",
        watches: "A contact flow failed fatally (callers may be dropped)",
        doc: "AWS/Connect ContactFlowFatalErrors, dimensions InstanceId, MetricGroup=ContactFlow and ContactFlowName; Sum over 5 minutes above 0.",
        params: &[INSTANCE, FLOW],
        severity: Severity::High,
        threshold: Some(0.0),
        required_threshold: None,
    },
    Preset {
        name: "connect-recording-upload-errors",
        watches: "Call recordings failed to upload to S3",
        doc: "AWS/Connect CallRecordingUploadError, dimensions InstanceId and MetricGroup=CallRecordings; Sum over 5 minutes above 0.",
        params: &[INSTANCE],
        severity: Severity::Medium,
        threshold: Some(0.0),
        required_threshold: None,
    },
    Preset {
        name: "connect-packet-loss",
        watches: "Agents' WebRTC voice packet loss above 1 %",
        doc: "AWS/Connect ToInstancePacketLossRate (a fraction), dimensions Participant=Agent, \"Type of Connection\"=WebRTC, \"Instance ID\" and \"Stream Type\"=Voice (these names, with spaces); Average over 15 minutes above 0.01.",
        params: &[INSTANCE],
        severity: Severity::Medium,
        threshold: Some(0.01),
        required_threshold: None,
    },
    Preset {
        name: "connect-call-volume-anomaly",
        watches: "Calls per interval outside the learned band",
        doc: "AWS/Connect CallsPerInterval, dimensions InstanceId and MetricGroup=VoiceCalls; Sum over 5 minutes compared with an anomaly-detection band of 2 standard deviations, either side: an outage upstream, or a storm of callers.",
        params: &[INSTANCE],
        severity: Severity::Medium,
        threshold: None,
        required_threshold: None,
    },
    Preset {
        name: "lambda-error-rate",
        watches: "More than 5 % of a Lambda function's invocations fail",
        doc: "Metric math 100 * Errors / Invocations over AWS/Lambda, dimension FunctionName, Sum per minute; above 5 in 2 of 3 minutes.",
        params: &[FUNCTION],
        severity: Severity::High,
        threshold: Some(5.0),
        required_threshold: None,
    },
    Preset {
        name: "lambda-duration",
        watches: "A Lambda function's p99 duration above 3 s (Amazon Connect times out at 8 s)",
        doc: "AWS/Lambda Duration (milliseconds), dimension FunctionName, p99 per minute above 3000.",
        params: &[FUNCTION],
        severity: Severity::Medium,
        threshold: Some(3000.0),
        required_threshold: None,
    },
    Preset {
        name: "dynamodb-read-capacity",
        watches: "A DynamoDB table consumes more than 85 % of its provisioned read capacity",
        doc: "Metric math 100 * (consumed / PERIOD(consumed)) / provisioned over AWS/DynamoDB ConsumedReadCapacityUnits (Sum) and ProvisionedReadCapacityUnits (Average), dimension TableName, per minute; above 85. (Auto scaling's own alarms are never touched.)",
        params: &[TABLE],
        severity: Severity::Medium,
        threshold: Some(85.0),
        required_threshold: None,
    },
    Preset {
        name: "dynamodb-write-capacity",
        watches: "A DynamoDB table consumes more than 85 % of its provisioned write capacity",
        doc: "Metric math 100 * (consumed / PERIOD(consumed)) / provisioned over AWS/DynamoDB ConsumedWriteCapacityUnits (Sum) and ProvisionedWriteCapacityUnits (Average), dimension TableName, per minute; above 85.",
        params: &[TABLE],
        severity: Severity::Medium,
        threshold: Some(85.0),
        required_threshold: None,
    },
    Preset {
        name: "dynamodb-throttles",
        watches: "Reads or writes to a DynamoDB table are throttled",
        doc: "Metric math FILL(reads, 0) + FILL(writes, 0) over AWS/DynamoDB ReadThrottleEvents and WriteThrottleEvents, dimension TableName, Sum per minute; above 0. (ThrottledRequests needs an Operation dimension per operation: write it out if you want one.)",
        params: &[TABLE],
        severity: Severity::High,
        threshold: Some(0.0),
        required_threshold: None,
    },
    Preset {
        name: "lex-errors",
        watches: "A Lex V2 bot fails or is throttled at runtime",
        doc: "Metric math FILL(errors, 0) + FILL(throttled, 0) over AWS/Lex RuntimeSystemErrors and RuntimeThrottledEvents, dimensions BotId, BotAliasId, LocaleId (not BotLocale) and Operation, Sum over 5 minutes; above 0.",
        params: &[BOT, ALIAS, LOCALE, OPERATION],
        severity: Severity::High,
        threshold: Some(0.0),
        required_threshold: None,
    },
    Preset {
        name: "apigateway-5xx",
        watches: "An API returns server errors for more than 5 % of requests",
        doc: "AWS/ApiGateway 5XXError (Average is the error rate), dimensions ApiName and Stage, per minute above 0.05 in 3 of 3 minutes.",
        params: &[API, STAGE],
        severity: Severity::High,
        threshold: Some(0.05),
        required_threshold: None,
    },
    Preset {
        name: "apigateway-latency",
        watches: "An API's p90 latency above its SLA",
        doc: "AWS/ApiGateway Latency (milliseconds), dimensions ApiName and Stage, p90 per minute above `threshold`: set it to your SLA.",
        params: &[API, STAGE],
        severity: Severity::Medium,
        threshold: None,
        required_threshold: Some("the API's latency SLA in milliseconds, e.g. 1000"),
    },
    Preset {
        name: "s3-unusual-access",
        watches: "Requests to an S3 bucket outside the learned band",
        doc: "AWS/S3 AllRequests, dimensions BucketName and FilterId (request metrics must be configured on the bucket), Sum over 5 minutes compared with an anomaly-detection band of 2 standard deviations.",
        params: &[BUCKET, FILTER],
        severity: Severity::Low,
        threshold: None,
        required_threshold: None,
    },
];

/// The preset named `name`.
pub fn find(name: &str) -> Option<&'static Preset> {
    CATALOG.iter().find(|p| p.name == name)
}

fn names() -> String {
    CATALOG
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn takes(preset: &Preset) -> String {
    preset
        .params
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn metric(
    namespace: &str,
    name: &str,
    dimensions: &[(&str, &str)],
    statistic: Statistic,
    period: i32,
) -> MetricSpec {
    MetricSpec {
        namespace: namespace.into(),
        metric_name: name.into(),
        dimensions: dimensions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        statistic: Some(statistic),
        extended_statistic: None,
        period: Some(period),
        unit: None,
    }
}

fn percentile(
    namespace: &str,
    name: &str,
    dimensions: &[(&str, &str)],
    stat: &str,
    period: i32,
) -> MetricSpec {
    MetricSpec {
        statistic: None,
        extended_statistic: Some(stat.into()),
        ..metric(namespace, name, dimensions, Statistic::Sum, period)
    }
}

fn math(
    expression: &str,
    label: &str,
    period: i32,
    metrics: Vec<(&str, MetricSpec)>,
) -> ExpressionSpec {
    ExpressionSpec {
        expression: expression.into(),
        label: Some(label.into()),
        period: Some(period),
        metrics: metrics
            .into_iter()
            .map(|(id, metric)| MetricQuery {
                id: id.into(),
                metric,
            })
            .collect(),
    }
}

/// What a preset watches and how: the alarm before overrides.
struct Base {
    metric: Option<MetricSpec>,
    expression: Option<ExpressionSpec>,
    comparison: ComparisonOperator,
    band: Option<f64>,
    evaluation_periods: Option<i32>,
    datapoints_to_alarm: Option<i32>,
}

fn on(metric: MetricSpec, comparison: ComparisonOperator) -> Base {
    Base {
        metric: Some(metric),
        expression: None,
        comparison,
        band: None,
        evaluation_periods: None,
        datapoints_to_alarm: None,
    }
}

fn of(expression: ExpressionSpec) -> Base {
    Base {
        metric: None,
        expression: Some(expression),
        comparison: ComparisonOperator::GreaterThanThreshold,
        band: None,
        evaluation_periods: None,
        datapoints_to_alarm: None,
    }
}

fn banded(metric: MetricSpec) -> Base {
    Base {
        band: Some(2.0),
        ..on(
            metric,
            ComparisonOperator::LessThanLowerOrGreaterThanUpperThreshold,
        )
    }
}

/// The grounded alarm of `preset` with `p` (every param present: checked before).
fn base(preset: &Preset, p: &BTreeMap<String, String>) -> Base {
    use ComparisonOperator::{
        GreaterThanOrEqualToThreshold as AtLeast, GreaterThanThreshold as Above,
    };
    use Statistic::{Average, Maximum, Sum};
    let v = |name: &str| p.get(name).map(String::as_str).unwrap_or_default();
    let connect = |name: &str, group: &str, stat, period| {
        metric(
            "AWS/Connect",
            name,
            &[("InstanceId", v("instanceId")), ("MetricGroup", group)],
            stat,
            period,
        )
    };
    let queue = |name: &str, stat| {
        metric(
            "AWS/Connect",
            name,
            &[
                ("InstanceId", v("instanceId")),
                ("MetricGroup", "Queue"),
                ("QueueName", v("queueName")),
            ],
            stat,
            60,
        )
    };
    let flow = |name: &str, period| {
        metric(
            "AWS/Connect",
            name,
            &[
                ("InstanceId", v("instanceId")),
                ("MetricGroup", "ContactFlow"),
                ("ContactFlowName", v("contactFlowName")),
            ],
            Sum,
            period,
        )
    };
    let table = |name: &str, stat| {
        metric(
            "AWS/DynamoDB",
            name,
            &[("TableName", v("tableName"))],
            stat,
            60,
        )
    };
    let capacity = |kind: &str| {
        of(math(
            "100 * (consumed / PERIOD(consumed)) / provisioned",
            &format!("{kind} capacity used (%)"),
            60,
            vec![
                (
                    "consumed",
                    table(&format!("Consumed{kind}CapacityUnits"), Sum),
                ),
                (
                    "provisioned",
                    table(&format!("Provisioned{kind}CapacityUnits"), Average),
                ),
            ],
        ))
    };
    let api = [("ApiName", v("apiName")), ("Stage", v("stage"))];
    match preset.name {
        "connect-concurrent-calls" => on(
            connect("ConcurrentCallsPercentage", "VoiceCalls", Maximum, 300),
            AtLeast,
        ),
        "connect-calls-over-quota" => on(
            metric(
                "AWS/Connect",
                "CallsBreachingConcurrencyQuota",
                &[("InstanceId", v("instanceId"))],
                Sum,
                900,
            ),
            Above,
        ),
        "connect-throttled-calls" => on(connect("ThrottledCalls", "VoiceCalls", Sum, 300), Above),
        "connect-queue-wait" => on(queue("LongestQueueWaitTime", Maximum), Above),
        "connect-queue-full" => on(queue("QueueCapacityExceededError", Sum), Above),
        "connect-missed-calls" => on(connect("MissedCalls", "VoiceCalls", Sum, 3600), Above),
        "connect-flow-errors" => on(flow("ContactFlowErrors", 3600), Above),
        "connect-flow-fatal-errors" => on(flow("ContactFlowFatalErrors", 300), Above),
        "connect-recording-upload-errors" => on(
            connect("CallRecordingUploadError", "CallRecordings", Sum, 300),
            Above,
        ),
        "connect-packet-loss" => on(
            metric(
                "AWS/Connect",
                "ToInstancePacketLossRate",
                &[
                    ("Participant", "Agent"),
                    ("Type of Connection", "WebRTC"),
                    ("Instance ID", v("instanceId")),
                    ("Stream Type", "Voice"),
                ],
                Average,
                900,
            ),
            Above,
        ),
        "connect-call-volume-anomaly" => {
            banded(connect("CallsPerInterval", "VoiceCalls", Sum, 300))
        }
        "lambda-error-rate" => {
            let lambda = |name: &str| {
                metric(
                    "AWS/Lambda",
                    name,
                    &[("FunctionName", v("functionName"))],
                    Sum,
                    60,
                )
            };
            Base {
                evaluation_periods: Some(3),
                datapoints_to_alarm: Some(2),
                ..of(math(
                    "100 * errors / invocations",
                    "Error rate (%)",
                    60,
                    vec![
                        ("errors", lambda("Errors")),
                        ("invocations", lambda("Invocations")),
                    ],
                ))
            }
        }
        "lambda-duration" => on(
            percentile(
                "AWS/Lambda",
                "Duration",
                &[("FunctionName", v("functionName"))],
                "p99",
                60,
            ),
            Above,
        ),
        "dynamodb-read-capacity" => capacity("Read"),
        "dynamodb-write-capacity" => capacity("Write"),
        // FILL: throttle and error metrics are published only when they happen; a sum over a
        // missing series would be missing too, and never fire.
        "dynamodb-throttles" => of(math(
            "FILL(reads, 0) + FILL(writes, 0)",
            "Throttle events",
            60,
            vec![
                ("reads", table("ReadThrottleEvents", Sum)),
                ("writes", table("WriteThrottleEvents", Sum)),
            ],
        )),
        "lex-errors" => {
            let lex = |name: &str| {
                metric(
                    "AWS/Lex",
                    name,
                    &[
                        ("BotId", v("botId")),
                        ("BotAliasId", v("botAliasId")),
                        ("LocaleId", v("localeId")),
                        ("Operation", v("operation")),
                    ],
                    Sum,
                    300,
                )
            };
            of(math(
                "FILL(errors, 0) + FILL(throttled, 0)",
                "Runtime errors and throttled events",
                300,
                vec![
                    ("errors", lex("RuntimeSystemErrors")),
                    ("throttled", lex("RuntimeThrottledEvents")),
                ],
            ))
        }
        "apigateway-5xx" => Base {
            evaluation_periods: Some(3),
            datapoints_to_alarm: Some(3),
            ..on(
                metric("AWS/ApiGateway", "5XXError", &api, Average, 60),
                Above,
            )
        },
        "apigateway-latency" => on(
            percentile("AWS/ApiGateway", "Latency", &api, "p90", 60),
            Above,
        ),
        // "s3-unusual-access", the last of the catalog.
        _ => banded(metric(
            "AWS/S3",
            "AllRequests",
            &[("BucketName", v("bucketName")), ("FilterId", v("filterId"))],
            Sum,
            300,
        )),
    }
}

/// The name a preset entry gets when it sets none: the preset's, then every param but the
/// instance id (one policy usually watches one instance), made a valid alarm name.
pub fn default_name(preset: &Preset, params: &BTreeMap<String, String>) -> String {
    let mut name = preset.name.to_string();
    for param in preset.params.iter().filter(|p| p.name != INSTANCE.name) {
        name.push('-');
        name.push_str(
            params
                .get(param.name)
                .map(String::as_str)
                .unwrap_or_default(),
        );
    }
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect();
    cleaned
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// One entry expanded: written out as it is, or its preset with its params and overrides.
/// Errors name the field (`{path}.params.queueName`) and the preset.
pub fn expand(entry: &AlarmEntry, path: &str) -> Result<AlarmSpec, Vec<FieldError>> {
    let Some(preset_name) = &entry.preset else {
        return written_out(entry, path);
    };
    let Some(preset) = find(preset_name) else {
        return Err(vec![FieldError::new(
            format!("{path}.preset"),
            format!(
                "unknown preset {preset_name:?}; `dialtone presets` lists them: {}",
                names()
            ),
        )]);
    };
    let mut problems = Vec::new();
    for param in preset.params {
        if !entry.params.contains_key(param.name) {
            problems.push(FieldError::new(
                format!("{path}.params.{}", param.name),
                format!(
                    "required by preset {}: {} (it takes: {})",
                    preset.name,
                    param.doc,
                    takes(preset)
                ),
            ));
        }
    }
    let known: BTreeSet<&str> = preset.params.iter().map(|p| p.name).collect();
    for key in entry.params.keys().filter(|k| !known.contains(k.as_str())) {
        problems.push(FieldError::new(
            format!("{path}.params.{key}"),
            format!(
                "not a param of preset {} (it takes: {})",
                preset.name,
                takes(preset)
            ),
        ));
    }
    if let (Some(what), None, None) = (
        preset.required_threshold,
        entry.threshold,
        &entry.anomaly_band,
    ) {
        problems.push(FieldError::new(
            format!("{path}.threshold"),
            format!("required by preset {}: {what}", preset.name),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let base = base(preset, &entry.params);
    // A threshold or a band set on the entry replaces the preset's way of comparing.
    let (threshold, anomaly_band, comparison) = match (entry.threshold, &entry.anomaly_band) {
        (Some(threshold), _) => (
            Some(threshold),
            None,
            if base.band.is_some() {
                ComparisonOperator::GreaterThanThreshold
            } else {
                base.comparison
            },
        ),
        (None, Some(band)) => (
            None,
            Some(band.clone()),
            if base.band.is_some() {
                base.comparison
            } else {
                ComparisonOperator::LessThanLowerOrGreaterThanUpperThreshold
            },
        ),
        (None, None) => (
            preset.threshold,
            base.band.map(|standard_deviations| AnomalyBand {
                standard_deviations,
            }),
            base.comparison,
        ),
    };
    Ok(AlarmSpec {
        name: entry
            .name
            .clone()
            .unwrap_or_else(|| default_name(preset, &entry.params)),
        severity: entry.severity.unwrap_or(preset.severity),
        description: entry
            .description
            .clone()
            .or_else(|| Some(format!("{} (preset {}).", preset.watches, preset.name))),
        alarm_name: entry.alarm_name.clone(),
        metric: base.metric,
        expression: base.expression,
        threshold,
        anomaly_band,
        comparison_operator: entry.comparison_operator.unwrap_or(comparison),
        evaluation_periods: entry.evaluation_periods.or(base.evaluation_periods),
        datapoints_to_alarm: entry
            .datapoints_to_alarm
            .or_else(|| {
                // Only `evaluationPeriods` overridden: "all of them" stays all of them, "2 of 3"
                // never asks for more datapoints than are evaluated.
                let evaluated = entry.evaluation_periods?;
                match (base.evaluation_periods, base.datapoints_to_alarm) {
                    (Some(of), Some(needed)) if needed == of => Some(evaluated),
                    (_, Some(needed)) => Some(needed.min(evaluated)),
                    _ => None,
                }
            })
            .or(base.datapoints_to_alarm),
        treat_missing_data: entry.treat_missing_data,
    })
}

/// An entry written out: the fields the schema requires without a preset.
fn written_out(entry: &AlarmEntry, path: &str) -> Result<AlarmSpec, Vec<FieldError>> {
    let required = |field: &str| FieldError::new(format!("{path}.{field}"), "required");
    let mut problems = Vec::new();
    if entry.name.is_none() {
        problems.push(required("name"));
    }
    if entry.severity.is_none() {
        problems.push(required("severity"));
    }
    if entry.comparison_operator.is_none() {
        problems.push(required("comparisonOperator"));
    }
    match (&entry.name, entry.severity, entry.comparison_operator) {
        (Some(name), Some(severity), Some(comparison_operator)) if problems.is_empty() => {
            Ok(AlarmSpec {
                name: name.clone(),
                severity,
                description: entry.description.clone(),
                alarm_name: entry.alarm_name.clone(),
                metric: entry.metric.clone(),
                expression: entry.expression.clone(),
                threshold: entry.threshold,
                anomaly_band: entry.anomaly_band.clone(),
                comparison_operator,
                evaluation_periods: entry.evaluation_periods,
                datapoints_to_alarm: entry.datapoints_to_alarm,
                treat_missing_data: entry.treat_missing_data,
            })
        }
        _ => Err(problems),
    }
}

/// Every entry of a policy expanded; two presets that would get the same name are an error
/// naming both.
pub fn expand_all(entries: &[AlarmEntry]) -> Result<Vec<AlarmSpec>, Vec<FieldError>> {
    let mut problems = Vec::new();
    let mut alarms = Vec::new();
    let mut named: BTreeMap<String, usize> = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("spec.alarms[{i}]");
        match expand(entry, &path) {
            Ok(alarm) => {
                if let Some(first) = named.get(&alarm.name)
                    && (entry.name.is_none() || entries[*first].name.is_none())
                {
                    let what = |e: &AlarmEntry| {
                        e.preset
                            .as_deref()
                            .map(|p| format!("preset {p}"))
                            .unwrap_or_else(|| "the alarm written out".into())
                    };
                    problems.push(FieldError::new(
                        format!("{path}.name"),
                        format!(
                            "{} expands to the name {:?}, as does spec.alarms[{first}] ({}): set name on one of them",
                            what(entry),
                            alarm.name,
                            what(&entries[*first])
                        ),
                    ));
                }
                named.entry(alarm.name.clone()).or_insert(i);
                alarms.push(alarm);
            }
            Err(errors) => problems.extend(errors),
        }
    }
    if problems.is_empty() {
        Ok(alarms)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
#[path = "presets_tests.rs"]
mod tests;

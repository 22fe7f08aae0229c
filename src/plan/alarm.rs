//! One CloudWatch alarm's configuration in a normalized form that both the spec and CloudWatch's
//! answer map to, so that comparing them is comparing values, not spellings.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::alarm_policy::{
    AlarmPolicySpec, AlarmSpec, MANAGED_TAGS_TAG, MetricSpec, OWNER_TAG, SeverityActions,
    TreatMissingData,
};
use crate::validate::default_alarm_name_prefix;

/// Built-in defaults when neither an alarm nor `spec.defaults` sets a value.
pub const DEFAULT_PERIOD: i32 = 60;
pub const DEFAULT_EVALUATION_PERIODS: i32 = 1;
pub const DEFAULT_TREAT_MISSING_DATA: &str = "missing";
/// Id of the query that carries a metric-math alarm's expression, and of the band's metric.
pub const EXPRESSION_ID: &str = "dialtone_expr";
pub const BAND_METRIC_ID: &str = "m1";
pub const BAND_ID: &str = "band";

/// A metric and how it is aggregated.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricStat {
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: BTreeMap<String, String>,
    /// A simple statistic (`Sum`) or an extended one (`p99`).
    pub stat: String,
    pub period: i32,
    pub unit: Option<String>,
}

/// One query of a metric-math alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub metric: Option<MetricStat>,
    pub expression: Option<String>,
    pub label: Option<String>,
    pub return_data: bool,
}

/// What an alarm watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Metric(MetricStat),
    /// Queries by id.
    Math(BTreeMap<String, Query>),
}

/// What the watched value is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Threshold {
    Static(f64),
    /// An anomaly-detection band of this many standard deviations around the metric.
    Band(f64),
    /// A threshold metric dialtone did not write and cannot read as a band (shown as found).
    Unrecognized(String),
}

/// Everything PutMetricAlarm sets (tags aside, which it ignores on update).
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmConfig {
    pub alarm_name: String,
    pub description: Option<String>,
    pub alarm_actions: BTreeSet<String>,
    pub ok_actions: BTreeSet<String>,
    pub insufficient_data_actions: BTreeSet<String>,
    pub source: Source,
    pub threshold: Threshold,
    pub comparison_operator: String,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: i32,
    pub treat_missing_data: String,
}

/// An alarm the spec asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredAlarm {
    /// The alarm's `name` in the spec.
    pub name: String,
    pub config: AlarmConfig,
    /// Tags it must carry, the owner tag included.
    pub tags: BTreeMap<String, String>,
}

/// An alarm as CloudWatch holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedAlarm {
    pub arn: String,
    pub config: AlarmConfig,
    pub state: String,
    pub state_reason: Option<String>,
    /// Seconds since the epoch of the last state change.
    pub state_updated: Option<i64>,
    /// Seconds since the epoch of the last configuration change (ownership caches key on it).
    pub config_updated: Option<i64>,
}

/// CloudWatch's limit on tag values.
const MAX_TAG_VALUE: usize = 256;

/// The managed-tags tag's value: the user tag keys, comma-separated, then `;h=` and a checksum
/// of them (`env,team;h=5c1e0a9b`), so that a record edited by hand is recognised and never
/// trusted to remove a tag. When the keys do not fit a tag value, nothing is recorded and keys
/// removed from the spec stay on the alarms (never a wrong removal).
pub fn managed_tags_value(tags: &BTreeMap<String, String>) -> String {
    let keys = tags.keys().cloned().collect::<Vec<_>>().join(",");
    let value = format!("{keys};h={}", checksum(&keys));
    if value.len() <= MAX_TAG_VALUE && !tags.keys().any(|k| k.contains(',') || k.contains(';')) {
        value
    } else {
        String::new()
    }
}

/// The user tag keys an alarm's managed-tags tag records, when the record is dialtone's own (its
/// checksum holds). A record edited by hand, or written before records carried a checksum,
/// names nothing: dialtone removes no tag on its word, and rewrites it.
pub fn managed_tag_keys(tags: &BTreeMap<String, String>) -> Vec<String> {
    let Some((keys, sum)) = tags
        .get(MANAGED_TAGS_TAG)
        .and_then(|value| value.rsplit_once(";h="))
    else {
        return Vec::new();
    };
    if sum != checksum(keys) {
        return Vec::new();
    }
    keys.split(',')
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

/// Eight hex digits of SHA-256 over the record's keys: not a secret, a guard against edits.
fn checksum(keys: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{MANAGED_TAGS_TAG}:{keys}").as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// Tag value naming the owning policy.
pub fn owner(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The prefix of the policy's CloudWatch alarm names: `alarmNamePrefix`, else `<namespace>/<name>/`.
pub fn effective_prefix(namespace: &str, name: &str, spec: &AlarmPolicySpec) -> String {
    spec.alarm_name_prefix
        .clone()
        .unwrap_or_else(|| default_alarm_name_prefix(namespace, name))
}

/// The alarms an AlarmPolicy asks for, with defaults and routing applied. The spec must be valid.
pub fn desired_alarms(namespace: &str, name: &str, spec: &AlarmPolicySpec) -> Vec<DesiredAlarm> {
    let prefix = effective_prefix(namespace, name, spec);
    let mut tags = spec.tags.clone();
    tags.insert(MANAGED_TAGS_TAG.to_string(), managed_tags_value(&spec.tags));
    tags.insert(OWNER_TAG.to_string(), owner(namespace, name));
    spec.alarms
        .iter()
        .map(|alarm| DesiredAlarm {
            name: alarm.name.clone(),
            config: alarm_config(&prefix, alarm, spec),
            tags: tags.clone(),
        })
        .collect()
}

fn alarm_config(prefix: &str, alarm: &AlarmSpec, spec: &AlarmPolicySpec) -> AlarmConfig {
    let defaults = &spec.defaults;
    let evaluation_periods = alarm
        .evaluation_periods
        .or(defaults.evaluation_periods)
        .unwrap_or(DEFAULT_EVALUATION_PERIODS);
    let actions = spec
        .routing
        .get(alarm.severity)
        .cloned()
        .unwrap_or_default();
    let SeverityActions {
        alarm_actions,
        ok_actions,
        insufficient_data_actions,
    } = actions;
    // An anomaly band is stored by CloudWatch as metric math (the metric plus an
    // ANOMALY_DETECTION_BAND expression); the CloudWatch adapter translates both ways, so here it
    // is simply a metric with a band threshold.
    let source = match (&alarm.metric, &alarm.expression) {
        (Some(metric), _) => Source::Metric(metric_stat(metric, spec)),
        (None, Some(expression)) => {
            let mut queries: BTreeMap<String, Query> = expression
                .metrics
                .iter()
                .map(|q| {
                    (
                        q.id.clone(),
                        Query {
                            metric: Some(metric_stat(&q.metric, spec)),
                            expression: None,
                            label: None,
                            return_data: false,
                        },
                    )
                })
                .collect();
            queries.insert(
                EXPRESSION_ID.to_string(),
                Query {
                    metric: None,
                    expression: Some(expression.expression.clone()),
                    label: expression.label.clone(),
                    return_data: true,
                },
            );
            Source::Math(queries)
        }
        // Validation guarantees one of metric or expression.
        (None, None) => Source::Math(BTreeMap::new()),
    };
    AlarmConfig {
        alarm_name: alarm
            .alarm_name
            .clone()
            .unwrap_or_else(|| format!("{prefix}{}", alarm.name)),
        description: alarm.description.clone(),
        alarm_actions: alarm_actions.into_iter().collect(),
        ok_actions: ok_actions.into_iter().collect(),
        insufficient_data_actions: insufficient_data_actions.into_iter().collect(),
        source,
        threshold: match &alarm.anomaly_band {
            Some(band) => Threshold::Band(band.standard_deviations),
            None => Threshold::Static(alarm.threshold.unwrap_or_default()),
        },
        comparison_operator: format!("{:?}", alarm.comparison_operator),
        evaluation_periods,
        datapoints_to_alarm: alarm
            .datapoints_to_alarm
            .or(defaults.datapoints_to_alarm)
            .unwrap_or(evaluation_periods),
        treat_missing_data: alarm
            .treat_missing_data
            .or(defaults.treat_missing_data)
            .map(treat_missing_data)
            .unwrap_or(DEFAULT_TREAT_MISSING_DATA)
            .to_string(),
    }
}

fn metric_stat(metric: &MetricSpec, spec: &AlarmPolicySpec) -> MetricStat {
    MetricStat {
        namespace: metric.namespace.clone(),
        metric_name: metric.metric_name.clone(),
        dimensions: metric.dimensions.clone(),
        stat: match (&metric.statistic, &metric.extended_statistic) {
            (Some(statistic), _) => format!("{statistic:?}"),
            (None, Some(extended)) => extended.clone(),
            (None, None) => String::new(),
        },
        period: metric
            .period
            .or(spec.defaults.period)
            .unwrap_or(DEFAULT_PERIOD),
        unit: metric.unit.map(|u| {
            serde_json::to_value(u)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        }),
    }
}

/// The metric-math expression of an anomaly band, as CloudWatch stores it.
pub fn band_expression(standard_deviations: f64) -> String {
    format!("ANOMALY_DETECTION_BAND({BAND_METRIC_ID}, {standard_deviations})")
}

fn treat_missing_data(value: TreatMissingData) -> &'static str {
    match value {
        TreatMissingData::Breaching => "breaching",
        TreatMissingData::NotBreaching => "notBreaching",
        TreatMissingData::Ignore => "ignore",
        TreatMissingData::Missing => "missing",
    }
}

//! AlarmPolicy rules that no schema can express.

use std::collections::{BTreeMap, BTreeSet};

use super::{FieldError, Problems, check_printable};
use crate::api::alarm_policy::{AlarmPolicySpec, AlarmSpec, MetricSpec};

/// CloudWatch's limit on alarm names.
const MAX_ALARM_NAME: usize = 255;
/// CloudWatch allows 50 tags per alarm; dialtone's owner and managed-tags tags take two.
const MAX_USER_TAGS: usize = 48;
/// Built-in defaults when neither the alarm nor `spec.defaults` sets a value.
pub const DEFAULT_PERIOD: i32 = 60;
pub const DEFAULT_EVALUATION_PERIODS: i32 = 1;

/// The alarm name prefix used when `spec.alarmNamePrefix` is unset.
pub fn default_alarm_name_prefix(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}/")
}

/// Every semantic problem of the AlarmPolicy `namespace/name`.
pub fn alarm_policy(namespace: &str, name: &str, spec: &AlarmPolicySpec) -> Vec<FieldError> {
    let mut problems = Problems::default();
    let prefix = spec
        .alarm_name_prefix
        .clone()
        .unwrap_or_else(|| default_alarm_name_prefix(namespace, name));

    check_tags(&mut problems, &spec.tags);
    check_routing(&mut problems, spec);
    if let Some(prefix) = &spec.alarm_name_prefix {
        check_printable(&mut problems, "spec.alarmNamePrefix", "the prefix", prefix);
    }

    let mut names = BTreeSet::new();
    let mut cloudwatch_names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, alarm) in spec.alarms.iter().enumerate() {
        let path = format!("spec.alarms[{i}]");
        check_printable(
            &mut problems,
            &format!("{path}.name"),
            "the name",
            &alarm.name,
        );
        if let Some(name) = &alarm.alarm_name {
            check_printable(
                &mut problems,
                &format!("{path}.alarmName"),
                "the name",
                name,
            );
        }
        if !names.insert(alarm.name.as_str()) {
            problems.add(
                format!("{path}.name"),
                format!("{:?} is used by another alarm of this policy", alarm.name),
            );
        }
        let cloudwatch_name = alarm
            .alarm_name
            .clone()
            .unwrap_or_else(|| format!("{prefix}{}", alarm.name));
        if cloudwatch_name.chars().count() > MAX_ALARM_NAME {
            problems.add(
                format!("{path}.name"),
                format!(
                    "the CloudWatch name {cloudwatch_name:?} is longer than {MAX_ALARM_NAME} characters; shorten the name, spec.alarmNamePrefix or set alarmName"
                ),
            );
        }
        if let Some(first) = cloudwatch_names.insert(cloudwatch_name.clone(), i) {
            problems.add(
                format!("{path}.alarmName"),
                format!(
                    "CloudWatch name {cloudwatch_name:?} is also the name of spec.alarms[{first}]"
                ),
            );
        }
        if spec.routing.get(alarm.severity).is_none() {
            problems.add(
                format!("{path}.severity"),
                format!(
                    "severity {} has no entry in spec.routing; add spec.routing.{} (use {{}} for no actions)",
                    alarm.severity, alarm.severity
                ),
            );
        }
        check_alarm(&mut problems, &path, alarm, spec);
    }
    problems.into_vec()
}

/// CloudWatch runs only actions in the alarm's own region and partition; PutMetricAlarm refuses
/// the others ("Invalid region us-west-2 specified. Only us-east-1 is supported.", "Invalid
/// partition aws specified. Only aws-us-gov is supported.").
fn check_routing(problems: &mut Problems, spec: &AlarmPolicySpec) {
    use crate::api::common::Severity;
    let partition = partition_of(&spec.region);
    for severity in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ] {
        let Some(actions) = spec.routing.get(severity) else {
            continue;
        };
        for (field, arns) in [
            ("alarmActions", &actions.alarm_actions),
            ("okActions", &actions.ok_actions),
            (
                "insufficientDataActions",
                &actions.insufficient_data_actions,
            ),
        ] {
            for (i, arn) in arns.iter().enumerate() {
                let path = format!("spec.routing.{severity}.{field}[{i}]");
                let parts: Vec<&str> = arn.splitn(5, ':').collect();
                let (Some(arn_partition), Some(region)) = (parts.get(1), parts.get(3)) else {
                    continue;
                };
                if *arn_partition != partition {
                    problems.add(
                        path,
                        format!(
                            "partition {arn_partition} is not the partition of {} ({partition}); CloudWatch runs only actions of the alarm's own partition",
                            spec.region
                        ),
                    );
                } else if !region.is_empty() && *region != spec.region {
                    problems.add(
                        path,
                        format!(
                            "the action is in {region}, the alarm in {}; CloudWatch runs only actions in the alarm's own region (use a topic in {})",
                            spec.region, spec.region
                        ),
                    );
                }
            }
        }
    }
}

/// The AWS partition of `region`.
fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-isof-") {
        "aws-iso-f"
    } else if region.starts_with("eu-isoe-") {
        "aws-iso-e"
    } else if region.starts_with("eusc-") {
        "aws-eusc"
    } else {
        "aws"
    }
}

fn check_tags(problems: &mut Problems, tags: &BTreeMap<String, String>) {
    if tags.len() > MAX_USER_TAGS {
        problems.add(
            "spec.tags",
            format!(
                "{} tags; at most {MAX_USER_TAGS} (CloudWatch allows 50 and dialtone's own tags take two)",
                tags.len()
            ),
        );
    }
    for (key, value) in tags {
        let path = format!("spec.tags.{key}");
        check_printable(problems, &path, "the tag key", key);
        check_printable(problems, &path, "the tag value", value);
        if key.starts_with("dialtone.io/") || key.starts_with("aws:") {
            problems.add(
                &path,
                "keys starting with dialtone.io/ or aws: are reserved",
            );
        }
        if key.is_empty() || key.chars().count() > 128 {
            problems.add(&path, "tag keys must be 1 to 128 characters");
        }
        if value.chars().count() > 256 {
            problems.add(&path, "tag values must be at most 256 characters");
        }
    }
}

fn check_alarm(problems: &mut Problems, path: &str, alarm: &AlarmSpec, spec: &AlarmPolicySpec) {
    match (&alarm.metric, &alarm.expression) {
        (Some(_), Some(_)) | (None, None) => {
            problems.add(path, "set exactly one of metric or expression")
        }
        _ => {}
    }
    match (alarm.threshold, &alarm.anomaly_band) {
        (Some(_), Some(_)) | (None, None) => {
            problems.add(path, "set exactly one of threshold or anomalyBand")
        }
        _ => {}
    }
    if alarm.anomaly_band.is_some() != alarm.comparison_operator.is_band() {
        problems.add(
            format!("{path}.comparisonOperator"),
            "LessThanLowerOrGreaterThanUpperThreshold, LessThanLowerThreshold and GreaterThanUpperThreshold go with anomalyBand, the others with threshold",
        );
    }
    if alarm.anomaly_band.is_some() && alarm.expression.is_some() {
        problems.add(
            format!("{path}.anomalyBand"),
            "anomalyBand works with metric, not expression",
        );
    }

    let evaluation_periods = alarm
        .evaluation_periods
        .or(spec.defaults.evaluation_periods)
        .unwrap_or(DEFAULT_EVALUATION_PERIODS);
    if let Some(datapoints) = alarm
        .datapoints_to_alarm
        .or(spec.defaults.datapoints_to_alarm)
        && datapoints > evaluation_periods
    {
        problems.add(
            format!("{path}.datapointsToAlarm"),
            format!(
                "{datapoints} datapoints to alarm exceed the {evaluation_periods} evaluation periods"
            ),
        );
    }

    if let Some(metric) = &alarm.metric {
        let period = check_metric(problems, &format!("{path}.metric"), metric, spec);
        check_evaluation_range(problems, path, period, evaluation_periods);
    }
    if let Some(expression) = &alarm.expression {
        let mut ids = BTreeSet::new();
        let mut periods = BTreeSet::new();
        for (j, query) in expression.metrics.iter().enumerate() {
            if !ids.insert(query.id.as_str()) {
                problems.add(
                    format!("{path}.expression.metrics[{j}].id"),
                    format!("id {:?} is used twice", query.id),
                );
            }
        }
        let used = match super::metric_math::parse(&expression.expression, &ids) {
            Ok(used) => Some(used),
            Err(err) => {
                problems.add(format!("{path}.expression.expression"), err.to_string());
                None
            }
        };
        for (j, query) in expression.metrics.iter().enumerate() {
            let query_path = format!("{path}.expression.metrics[{j}]");
            if used.as_ref().is_some_and(|used| !used.contains(&query.id)) {
                problems.add(
                    format!("{query_path}.id"),
                    format!("id {:?} is not used by the expression", query.id),
                );
            }
            periods.insert(check_metric(
                problems,
                &format!("{query_path}.metric"),
                &query.metric,
                spec,
            ));
        }
        let period = expression
            .period
            .or_else(|| periods.iter().next_back().copied())
            .unwrap_or(DEFAULT_PERIOD);
        check_period(problems, &format!("{path}.expression.period"), period);
        check_evaluation_range(problems, path, period, evaluation_periods);
    }
}

/// Checks one metric; returns its effective period.
fn check_metric(
    problems: &mut Problems,
    path: &str,
    metric: &MetricSpec,
    spec: &AlarmPolicySpec,
) -> i32 {
    if metric.statistic.is_some() == metric.extended_statistic.is_some() {
        problems.add(path, "set exactly one of statistic or extendedStatistic");
    }
    for (name, value) in &metric.dimensions {
        if name.is_empty() || name.chars().count() > 255 {
            problems.add(
                format!("{path}.dimensions.{name}"),
                "dimension names must be 1 to 255 characters",
            );
        }
        if value.is_empty() || value.chars().count() > 1024 {
            problems.add(
                format!("{path}.dimensions.{name}"),
                "dimension values must be 1 to 1024 characters",
            );
        }
    }
    let period = metric
        .period
        .or(spec.defaults.period)
        .unwrap_or(DEFAULT_PERIOD);
    check_period(problems, &format!("{path}.period"), period);
    period
}

fn check_period(problems: &mut Problems, path: &str, period: i32) {
    let valid = matches!(period, 10 | 20 | 30) || (period >= 60 && period % 60 == 0);
    if !valid {
        problems.add(
            path,
            format!("period {period} must be 10, 20, 30 or a multiple of 60 seconds"),
        );
    }
}

/// CloudWatch evaluates at most one day of data, or seven days for periods of an hour or more.
fn check_evaluation_range(problems: &mut Problems, path: &str, period: i32, periods: i32) {
    let limit: i64 = if period >= 3600 { 7 * 86_400 } else { 86_400 };
    let total = i64::from(period) * i64::from(periods);
    if total > limit {
        problems.add(
            format!("{path}.evaluationPeriods"),
            format!(
                "{periods} periods of {period}s cover {total}s; CloudWatch evaluates at most {limit}s"
            ),
        );
    }
}

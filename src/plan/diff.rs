//! Field-by-field differences between what the spec declares and what CloudWatch holds.
//!
//! Field paths follow the spec (`threshold`, `metric.dimensions.QueueName`,
//! `expression.metrics.errors.metric.statistic`); actions, which come from `spec.routing`, use
//! CloudWatch's names (`alarmActions`). Dimensions and action lists compare as sets.

use std::collections::{BTreeMap, BTreeSet};

use super::alarm::{AlarmConfig, MetricStat, Query, Source, Threshold};
use crate::api::alarm_policy::FieldDrift;

fn drift(
    field: impl Into<String>,
    desired: impl Into<String>,
    actual: impl Into<String>,
) -> FieldDrift {
    FieldDrift {
        field: field.into(),
        desired: desired.into(),
        actual: actual.into(),
    }
}

fn compare<T: PartialEq + ToString>(
    out: &mut Vec<FieldDrift>,
    field: &str,
    desired: &T,
    actual: &T,
) {
    if desired != actual {
        out.push(drift(field, desired.to_string(), actual.to_string()));
    }
}

fn optional(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

fn set(values: &BTreeSet<String>) -> String {
    values.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Every field of `actual` that differs from `desired`.
pub fn config_drift(desired: &AlarmConfig, actual: &AlarmConfig) -> Vec<FieldDrift> {
    let mut out = Vec::new();
    if desired.description != actual.description {
        out.push(drift(
            "description",
            optional(&desired.description),
            optional(&actual.description),
        ));
    }
    for (field, d, a) in [
        (
            "alarmActions",
            &desired.alarm_actions,
            &actual.alarm_actions,
        ),
        ("okActions", &desired.ok_actions, &actual.ok_actions),
        (
            "insufficientDataActions",
            &desired.insufficient_data_actions,
            &actual.insufficient_data_actions,
        ),
    ] {
        if d != a {
            out.push(drift(field, set(d), set(a)));
        }
    }
    match (&desired.source, &actual.source) {
        (Source::Metric(d), Source::Metric(a)) => metric_drift(&mut out, "metric", d, a),
        (Source::Math(d), Source::Math(a)) => math_drift(&mut out, d, a),
        (Source::Metric(_), Source::Math(_)) => out.push(drift(
            "metric",
            "a single metric",
            "a metric-math expression",
        )),
        (Source::Math(_), Source::Metric(_)) => out.push(drift(
            "expression",
            "a metric-math expression",
            "a single metric",
        )),
    }
    threshold_drift(&mut out, &desired.threshold, &actual.threshold);
    compare(
        &mut out,
        "comparisonOperator",
        &desired.comparison_operator,
        &actual.comparison_operator,
    );
    compare(
        &mut out,
        "evaluationPeriods",
        &desired.evaluation_periods,
        &actual.evaluation_periods,
    );
    compare(
        &mut out,
        "datapointsToAlarm",
        &desired.datapoints_to_alarm,
        &actual.datapoints_to_alarm,
    );
    compare(
        &mut out,
        "treatMissingData",
        &desired.treat_missing_data,
        &actual.treat_missing_data,
    );
    out
}

/// Every field `config` sets, as drift from nothing: what a created alarm will hold (the plan
/// shows it as terraform shows a new resource).
pub fn config_fields(config: &AlarmConfig) -> Vec<FieldDrift> {
    let blank_metric = |_: &MetricStat| MetricStat {
        namespace: String::new(),
        metric_name: String::new(),
        dimensions: BTreeMap::new(),
        stat: String::new(),
        period: 0,
        unit: None,
    };
    let source = match &config.source {
        Source::Metric(m) => Source::Metric(blank_metric(m)),
        Source::Math(queries) => Source::Math(
            queries
                .iter()
                .map(|(id, q)| {
                    let blank = Query {
                        metric: q.metric.as_ref().map(blank_metric),
                        expression: None,
                        label: None,
                        return_data: q.return_data,
                    };
                    (id.clone(), blank)
                })
                .collect(),
        ),
    };
    let blank = AlarmConfig {
        alarm_name: config.alarm_name.clone(),
        description: None,
        alarm_actions: BTreeSet::new(),
        ok_actions: BTreeSet::new(),
        insufficient_data_actions: BTreeSet::new(),
        source,
        threshold: Threshold::Unrecognized(String::new()),
        comparison_operator: String::new(),
        evaluation_periods: 0,
        datapoints_to_alarm: 0,
        treat_missing_data: String::new(),
    };
    config_drift(config, &blank)
}

fn threshold_drift(out: &mut Vec<FieldDrift>, desired: &Threshold, actual: &Threshold) {
    match (desired, actual) {
        (Threshold::Static(d), Threshold::Static(a)) => compare(out, "threshold", d, a),
        (Threshold::Band(d), Threshold::Band(a)) => {
            compare(out, "anomalyBand.standardDeviations", d, a)
        }
        (Threshold::Static(d), other) => {
            out.push(drift("threshold", d.to_string(), describe(other)))
        }
        (Threshold::Band(d), other) => out.push(drift(
            "anomalyBand.standardDeviations",
            d.to_string(),
            describe(other),
        )),
        (Threshold::Unrecognized(d), other) => {
            out.push(drift("threshold", d.clone(), describe(other)))
        }
    }
}

fn describe(threshold: &Threshold) -> String {
    match threshold {
        Threshold::Static(value) => value.to_string(),
        Threshold::Band(deviations) => format!("anomaly band of {deviations} standard deviations"),
        Threshold::Unrecognized(text) => text.clone(),
    }
}

fn metric_drift(out: &mut Vec<FieldDrift>, path: &str, desired: &MetricStat, actual: &MetricStat) {
    compare(
        out,
        &format!("{path}.namespace"),
        &desired.namespace,
        &actual.namespace,
    );
    compare(
        out,
        &format!("{path}.metricName"),
        &desired.metric_name,
        &actual.metric_name,
    );
    let names: BTreeSet<&String> = desired
        .dimensions
        .keys()
        .chain(actual.dimensions.keys())
        .collect();
    for name in names {
        let (d, a) = (desired.dimensions.get(name), actual.dimensions.get(name));
        if d != a {
            out.push(drift(
                format!("{path}.dimensions.{name}"),
                d.cloned().unwrap_or_default(),
                a.cloned().unwrap_or_default(),
            ));
        }
    }
    compare(
        out,
        &format!("{path}.statistic"),
        &desired.stat,
        &actual.stat,
    );
    compare(
        out,
        &format!("{path}.period"),
        &desired.period,
        &actual.period,
    );
    if desired.unit != actual.unit {
        out.push(drift(
            format!("{path}.unit"),
            optional(&desired.unit),
            optional(&actual.unit),
        ));
    }
}

fn math_drift(
    out: &mut Vec<FieldDrift>,
    desired: &BTreeMap<String, Query>,
    actual: &BTreeMap<String, Query>,
) {
    let ids: BTreeSet<&String> = desired.keys().chain(actual.keys()).collect();
    for id in ids {
        let path = format!("expression.metrics.{id}");
        match (desired.get(id), actual.get(id)) {
            (Some(d), Some(a)) => {
                match (&d.metric, &a.metric) {
                    (Some(dm), Some(am)) => metric_drift(out, &format!("{path}.metric"), dm, am),
                    (None, None) => {}
                    (dm, am) => out.push(drift(
                        format!("{path}.metric"),
                        dm.as_ref()
                            .map(|m| m.metric_name.clone())
                            .unwrap_or_default(),
                        am.as_ref()
                            .map(|m| m.metric_name.clone())
                            .unwrap_or_default(),
                    )),
                }
                // The expression query is spelled `expression.expression` in the spec.
                let expression_path = if d.metric.is_none() {
                    "expression.expression".to_string()
                } else {
                    format!("{path}.expression")
                };
                if d.expression != a.expression {
                    out.push(drift(
                        expression_path,
                        optional(&d.expression),
                        optional(&a.expression),
                    ));
                }
                if d.label != a.label {
                    out.push(drift(
                        "expression.label",
                        optional(&d.label),
                        optional(&a.label),
                    ));
                }
                compare(
                    out,
                    &format!("{path}.returnData"),
                    &d.return_data,
                    &a.return_data,
                );
            }
            (Some(_), None) => out.push(drift(path, "present", "")),
            (None, Some(_)) => out.push(drift(path, "", "present")),
            (None, None) => {}
        }
    }
}

/// Tags the alarm lacks or holds with another value. Tags present in AWS but not declared are
/// left alone: other tools (cost allocation, AWS Organizations policies) may own them.
pub fn tag_drift(
    desired: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
) -> Vec<FieldDrift> {
    desired
        .iter()
        .filter(|(key, value)| actual.get(*key) != Some(value))
        .map(|(key, value)| {
            drift(
                format!("tags.{key}"),
                value.clone(),
                actual.get(key).cloned().unwrap_or_default(),
            )
        })
        .collect()
}

//! CloudWatch alarms: batched reads, writes only when asked, every call rate-limited.

use std::collections::BTreeMap;

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery,
    MetricStat as SdkMetricStat, StandardUnit, Statistic, Tag,
};
use aws_sdk_resourcegroupstagging::types::TagFilter;

use super::rate::RateLimiter;
use super::{AwsError, settle};
use crate::api::alarm_policy::OWNER_TAG;
use crate::plan::alarm::{
    AlarmConfig, BAND_ID, BAND_METRIC_ID, MetricStat, ObservedAlarm, Query, Source, Threshold,
    band_expression,
};
use crate::plan::sweep::OwnedAlarm;

/// DescribeAlarms and DeleteAlarms take at most 100 names; GetResources returns at most 100.
pub const BATCH: usize = 100;

/// CloudWatch alarms of one region (and role).
pub struct CloudWatchAlarms {
    cloudwatch: aws_sdk_cloudwatch::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
    limiter: Arc<RateLimiter>,
}

impl CloudWatchAlarms {
    pub fn new(config: &SdkConfig, limiter: Arc<RateLimiter>) -> Self {
        Self {
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            tagging: aws_sdk_resourcegroupstagging::Client::new(config),
            limiter,
        }
    }

    /// The metric alarms among `names`, in ceil(len/100) DescribeAlarms calls (plus pages).
    pub async fn describe(&self, names: &[String]) -> Result<Vec<ObservedAlarm>, AwsError> {
        let mut found = Vec::new();
        for batch in names.chunks(BATCH) {
            let mut token = None;
            loop {
                self.limiter.acquire("DescribeAlarms").await;
                let page = settle(
                    "cloudwatch",
                    "DescribeAlarms",
                    self.cloudwatch
                        .describe_alarms()
                        .set_alarm_names(Some(batch.to_vec()))
                        .alarm_types(AlarmType::MetricAlarm)
                        .max_records(BATCH as i32)
                        .set_next_token(token)
                        .send()
                        .await,
                )?;
                found.extend(page.metric_alarms().iter().map(observed));
                token = page
                    .next_token()
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// Every alarm of the region that carries a `dialtone.io/owner` tag, with its tags, by name:
    /// one GetResources call per 100 alarms.
    pub async fn owned(&self) -> Result<BTreeMap<String, OwnedAlarm>, AwsError> {
        let mut owned = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            self.limiter.acquire("GetResources").await;
            let page = settle(
                "tagging",
                "GetResources",
                self.tagging
                    .get_resources()
                    .resource_type_filters("cloudwatch:alarm")
                    .tag_filters(TagFilter::builder().key(OWNER_TAG).build())
                    .resources_per_page(BATCH as i32)
                    .set_pagination_token(token)
                    .send()
                    .await,
            )?;
            for mapping in page.resource_tag_mapping_list() {
                let Some(arn) = mapping.resource_arn() else {
                    continue;
                };
                let Some(name) = alarm_name_of(arn) else {
                    continue;
                };
                let tags = mapping
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect();
                owned.insert(
                    name.to_string(),
                    OwnedAlarm {
                        arn: arn.to_string(),
                        tags,
                    },
                );
            }
            token = page
                .pagination_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(owned)
    }

    /// PutMetricAlarm: creates the alarm, or overwrites its whole configuration (state is kept).
    /// `tags` apply only on creation; CloudWatch ignores them on update.
    pub async fn put(
        &self,
        alarm: &AlarmConfig,
        tags: Option<&BTreeMap<String, String>>,
    ) -> Result<(), AwsError> {
        self.limiter.acquire("PutMetricAlarm").await;
        let mut request = self
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&alarm.alarm_name)
            .set_alarm_description(alarm.description.clone())
            .actions_enabled(true)
            .set_alarm_actions(Some(alarm.alarm_actions.iter().cloned().collect()))
            .set_ok_actions(Some(alarm.ok_actions.iter().cloned().collect()))
            .set_insufficient_data_actions(Some(
                alarm.insufficient_data_actions.iter().cloned().collect(),
            ))
            .comparison_operator(ComparisonOperator::from(alarm.comparison_operator.as_str()))
            .evaluation_periods(alarm.evaluation_periods)
            .datapoints_to_alarm(alarm.datapoints_to_alarm)
            .treat_missing_data(&alarm.treat_missing_data)
            .set_tags(tags.map(sdk_tags));
        request = match (&alarm.source, &alarm.threshold) {
            (Source::Metric(metric), Threshold::Band(deviations)) => request
                .metrics(metric_query(BAND_METRIC_ID, metric, true))
                .metrics(
                    MetricDataQuery::builder()
                        .id(BAND_ID)
                        .expression(band_expression(*deviations))
                        .return_data(true)
                        .build(),
                )
                .threshold_metric_id(BAND_ID),
            (Source::Metric(metric), threshold) => {
                let request = request
                    .namespace(&metric.namespace)
                    .metric_name(&metric.metric_name)
                    .set_dimensions(Some(dimensions(&metric.dimensions)))
                    .period(metric.period)
                    .set_unit(metric.unit.as_deref().map(StandardUnit::from))
                    .set_threshold(static_threshold(threshold));
                if is_simple_statistic(&metric.stat) {
                    request.statistic(Statistic::from(metric.stat.as_str()))
                } else {
                    request.extended_statistic(&metric.stat)
                }
            }
            (Source::Math(queries), threshold) => queries
                .iter()
                .fold(request, |request, (id, query)| {
                    request.metrics(math_query(id, query))
                })
                .set_threshold(static_threshold(threshold)),
        };
        settle("cloudwatch", "PutMetricAlarm", request.send().await)?;
        Ok(())
    }

    /// ListTagsForResource: the tags of one alarm.
    pub async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        list_tags(&self.cloudwatch, &self.limiter, arn).await
    }

    /// TagResource: sets `tags` on the alarm (other tags stay).
    pub async fn tag(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
        self.limiter.acquire("TagResource").await;
        settle(
            "cloudwatch",
            "TagResource",
            self.cloudwatch
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(sdk_tags(tags)))
                .send()
                .await,
        )?;
        Ok(())
    }

    /// UntagResource: removes `keys` from the alarm.
    pub async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        self.limiter.acquire("UntagResource").await;
        settle(
            "cloudwatch",
            "UntagResource",
            self.cloudwatch
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(keys.to_vec()))
                .send()
                .await,
        )?;
        Ok(())
    }

    /// PutMetricData: one value of one metric (the DNS lever of a FailoverPlan). A data-plane call:
    /// it works while CloudWatch's control plane, and Route 53's, are impaired. Stamped now by
    /// CloudWatch, standard resolution.
    pub async fn put_metric(
        &self,
        namespace: &str,
        metric_name: &str,
        dimensions_of: &BTreeMap<String, String>,
        value: f64,
    ) -> Result<(), AwsError> {
        self.limiter.acquire("PutMetricData").await;
        let datum = aws_sdk_cloudwatch::types::MetricDatum::builder()
            .metric_name(metric_name)
            .set_dimensions(Some(dimensions(dimensions_of)))
            .value(value)
            .unit(StandardUnit::Count)
            .build();
        settle(
            "cloudwatch",
            "PutMetricData",
            self.cloudwatch
                .put_metric_data()
                .namespace(namespace)
                .metric_data(datum)
                .send()
                .await,
        )?;
        Ok(())
    }

    /// DeleteAlarms in batches of 100. Names that do not exist are not an error.
    pub async fn delete(&self, names: &[String]) -> Result<(), AwsError> {
        for batch in names.chunks(BATCH) {
            self.limiter.acquire("DeleteAlarms").await;
            settle(
                "cloudwatch",
                "DeleteAlarms",
                self.cloudwatch
                    .delete_alarms()
                    .set_alarm_names(Some(batch.to_vec()))
                    .send()
                    .await,
            )?;
        }
        Ok(())
    }
}

/// `arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME` -> NAME (names may contain colons).
pub fn alarm_name_of(arn: &str) -> Option<&str> {
    arn.split_once(":alarm:").map(|(_, name)| name)
}

fn is_simple_statistic(stat: &str) -> bool {
    matches!(
        stat,
        "Average" | "Sum" | "Minimum" | "Maximum" | "SampleCount"
    )
}

fn static_threshold(threshold: &Threshold) -> Option<f64> {
    match threshold {
        Threshold::Static(value) => Some(*value),
        _ => None,
    }
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn dimensions(dimensions: &BTreeMap<String, String>) -> Vec<Dimension> {
    dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect()
}

fn metric_query(id: &str, metric: &MetricStat, return_data: bool) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            SdkMetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(&metric.namespace)
                        .metric_name(&metric.metric_name)
                        .set_dimensions(Some(dimensions(&metric.dimensions)))
                        .build(),
                )
                .period(metric.period)
                .stat(&metric.stat)
                .set_unit(metric.unit.as_deref().map(StandardUnit::from))
                .build(),
        )
        .return_data(return_data)
        .build()
}

fn math_query(id: &str, query: &Query) -> MetricDataQuery {
    match &query.metric {
        Some(metric) => metric_query(id, metric, query.return_data),
        None => MetricDataQuery::builder()
            .id(id)
            .set_expression(query.expression.clone())
            .set_label(query.label.clone())
            .return_data(query.return_data)
            .build(),
    }
}

fn observed_dimensions(dimensions: &[Dimension]) -> BTreeMap<String, String> {
    dimensions
        .iter()
        .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
        .collect()
}

fn observed_query(query: &MetricDataQuery) -> Query {
    Query {
        metric: query.metric_stat().map(|stat| {
            let metric = stat.metric();
            MetricStat {
                namespace: metric
                    .and_then(Metric::namespace)
                    .unwrap_or_default()
                    .to_string(),
                metric_name: metric
                    .and_then(Metric::metric_name)
                    .unwrap_or_default()
                    .to_string(),
                dimensions: observed_dimensions(metric.map(Metric::dimensions).unwrap_or_default()),
                stat: stat.stat().unwrap_or_default().to_string(),
                period: stat.period().unwrap_or_default(),
                unit: stat.unit().map(|u| u.as_str().to_string()),
            }
        }),
        expression: query.expression().map(str::to_string),
        label: query.label().map(str::to_string),
        // CloudWatch treats an absent ReturnData as true.
        return_data: query.return_data().unwrap_or(true),
    }
}

/// Reads a band alarm back into (metric, deviations) when it has the shape dialtone writes.
fn band(queries: &BTreeMap<String, Query>, threshold_id: &str) -> Option<(MetricStat, f64)> {
    let expression = queries.get(threshold_id)?.expression.as_deref()?;
    let inner = expression
        .trim()
        .strip_prefix("ANOMALY_DETECTION_BAND(")?
        .strip_suffix(')')?;
    let (metric_id, deviations) = inner.split_once(',')?;
    let metric = queries.get(metric_id.trim())?.metric.clone()?;
    if queries.len() != 2 {
        return None;
    }
    Some((metric, deviations.trim().parse().ok()?))
}

fn observed(alarm: &MetricAlarm) -> ObservedAlarm {
    let queries: BTreeMap<String, Query> = alarm
        .metrics()
        .iter()
        .filter_map(|q| Some((q.id()?.to_string(), observed_query(q))))
        .collect();
    let (source, threshold) = match alarm.threshold_metric_id() {
        Some(id) => match band(&queries, id) {
            Some((metric, deviations)) => (Source::Metric(metric), Threshold::Band(deviations)),
            None => (
                Source::Math(queries),
                Threshold::Unrecognized(format!("threshold metric {id}")),
            ),
        },
        None if alarm.metric_name().is_some() => (
            Source::Metric(MetricStat {
                namespace: alarm.namespace().unwrap_or_default().to_string(),
                metric_name: alarm.metric_name().unwrap_or_default().to_string(),
                dimensions: observed_dimensions(alarm.dimensions()),
                stat: alarm
                    .statistic()
                    .map(|s| s.as_str().to_string())
                    .or_else(|| alarm.extended_statistic().map(str::to_string))
                    .unwrap_or_default(),
                period: alarm.period().unwrap_or_default(),
                unit: alarm.unit().map(|u| u.as_str().to_string()),
            }),
            Threshold::Static(alarm.threshold().unwrap_or_default()),
        ),
        None => (
            Source::Math(queries),
            Threshold::Static(alarm.threshold().unwrap_or_default()),
        ),
    };
    let evaluation_periods = alarm.evaluation_periods().unwrap_or_default();
    ObservedAlarm {
        arn: alarm.alarm_arn().unwrap_or_default().to_string(),
        config: AlarmConfig {
            alarm_name: alarm.alarm_name().unwrap_or_default().to_string(),
            description: alarm
                .alarm_description()
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            alarm_actions: alarm.alarm_actions().iter().cloned().collect(),
            ok_actions: alarm.ok_actions().iter().cloned().collect(),
            insufficient_data_actions: alarm.insufficient_data_actions().iter().cloned().collect(),
            source,
            threshold,
            comparison_operator: alarm
                .comparison_operator()
                .map(|c| c.as_str().to_string())
                .unwrap_or_default(),
            evaluation_periods,
            // CloudWatch treats an absent DatapointsToAlarm as "all evaluation periods".
            datapoints_to_alarm: alarm.datapoints_to_alarm().unwrap_or(evaluation_periods),
            treat_missing_data: alarm.treat_missing_data().unwrap_or("missing").to_string(),
        },
        state: alarm
            .state_value()
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "INSUFFICIENT_DATA".to_string()),
        state_reason: alarm.state_reason().map(str::to_string),
        state_updated: alarm.state_updated_timestamp().map(|t| t.secs()),
        config_updated: alarm
            .alarm_configuration_updated_timestamp()
            .map(|t| t.secs()),
    }
}

/// ListTagsForResource on any CloudWatch resource (an alarm, a mute rule).
pub(crate) async fn list_tags(
    client: &aws_sdk_cloudwatch::Client,
    limiter: &RateLimiter,
    arn: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    limiter.acquire("ListTagsForResource").await;
    let output = settle(
        "cloudwatch",
        "ListTagsForResource",
        client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await,
    )?;
    Ok(output
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_names_come_from_arns_even_with_colons() {
        assert_eq!(
            alarm_name_of("arn:aws:cloudwatch:us-east-1:123456789012:alarm:a:b/c"),
            Some("a:b/c")
        );
        assert_eq!(
            alarm_name_of("arn:aws:sns:us-east-1:123456789012:topic"),
            None
        );
    }

    #[test]
    fn band_alarms_read_back_as_written() {
        let metric = MetricStat {
            namespace: "AWS/Connect".into(),
            metric_name: "CallsPerInterval".into(),
            dimensions: BTreeMap::new(),
            stat: "Sum".into(),
            period: 300,
            unit: None,
        };
        let queries = BTreeMap::from([
            (
                BAND_METRIC_ID.to_string(),
                observed_query(&metric_query(BAND_METRIC_ID, &metric, true)),
            ),
            (
                BAND_ID.to_string(),
                Query {
                    metric: None,
                    expression: Some(band_expression(2.5)),
                    label: None,
                    return_data: true,
                },
            ),
        ]);
        assert_eq!(band(&queries, BAND_ID), Some((metric, 2.5)));
        assert_eq!(band(&queries, "other"), None);
    }
}

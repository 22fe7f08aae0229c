//! Route 53: health checks and the record sets of a hosted zone. Route 53 is one control plane
//! for the account (in us-east-1), with one quota of 5 requests per second across all its APIs:
//! every call here takes the same rate-limit bucket, `Route53`. One change batch at a time per
//! zone (a second one while the first is PENDING is refused with PriorRequestNotComplete): the
//! adapter holds the zone until GetChange says INSYNC or the wait ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_route53::types::{
    AlarmIdentifier, Change, ChangeAction, ChangeBatch, ChangeStatus, CloudWatchRegion,
    HealthCheckConfig, HealthCheckType, InsufficientDataHealthStatus, ResourceRecord,
    ResourceRecordSet, ResourceRecordSetFailover, RrType, Tag, TagResourceType,
};

use super::rate::RateLimiter;
use super::{AwsError, settle};
use crate::ErrorClass;
use crate::plan::dns::{CheckSpec, ObservedCheck, RecordChange, RecordSet};

/// The one rate-limit bucket of every Route 53 call.
pub const RATE_BUCKET: &str = "Route53";
/// ListTagsForResources takes at most 10 ids.
const TAG_BATCH: usize = 10;
/// How often a change is polled while PENDING.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// Route 53 for one account (through one role).
pub struct Route53 {
    client: aws_sdk_route53::Client,
    limiter: Arc<RateLimiter>,
    zones: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// How a change batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeOutcome {
    pub id: String,
    /// False when the wait ended while Route 53 still said PENDING.
    pub insync: bool,
}

fn invalid(operation: &'static str, err: impl std::fmt::Display) -> AwsError {
    AwsError::invalid("route53", operation, err)
}

impl Route53 {
    pub fn new(config: &SdkConfig, limiter: Arc<RateLimiter>) -> Self {
        Self {
            client: aws_sdk_route53::Client::new(config),
            limiter,
            zones: Mutex::new(HashMap::new()),
        }
    }

    /// ListHealthChecks, every page: the checks dialtone can read back (endpoint, metric and
    /// calculated ones; other types are skipped), without roles (tags are read separately).
    pub async fn health_checks(&self) -> Result<Vec<ObservedCheck>, AwsError> {
        let mut checks = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            self.limiter.acquire(RATE_BUCKET).await;
            let output = settle(
                "route53",
                "ListHealthChecks",
                self.client
                    .list_health_checks()
                    .set_marker(marker.clone())
                    .send()
                    .await,
            )?;
            checks.extend(output.health_checks().iter().filter_map(|check| {
                Some(ObservedCheck {
                    id: check.id().to_string(),
                    version: check.health_check_version(),
                    caller_reference: check.caller_reference().to_string(),
                    role: None,
                    spec: check_spec(check.health_check_config()?)?,
                })
            }));
            match output.next_marker() {
                Some(next) if output.is_truncated() => marker = Some(next.to_string()),
                _ => return Ok(checks),
            }
        }
    }

    /// ListTagsForResources, 10 ids per call: the tags of each check.
    pub async fn check_tags(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, AwsError> {
        let mut tags = BTreeMap::new();
        for batch in ids.chunks(TAG_BATCH) {
            self.limiter.acquire(RATE_BUCKET).await;
            let output = settle(
                "route53",
                "ListTagsForResources",
                self.client
                    .list_tags_for_resources()
                    .resource_type(TagResourceType::Healthcheck)
                    .set_resource_ids(Some(batch.to_vec()))
                    .send()
                    .await,
            )?;
            for set in output.resource_tag_sets() {
                let Some(id) = set.resource_id() else {
                    continue;
                };
                tags.insert(
                    id.to_string(),
                    set.tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                        .collect(),
                );
            }
        }
        Ok(tags)
    }

    /// CreateHealthCheck, then its tags. `caller_reference` makes a repeat after a crash return
    /// the check the first attempt made (same reference, same settings) instead of a second one.
    pub async fn create_check(
        &self,
        caller_reference: &str,
        spec: &CheckSpec,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, AwsError> {
        let config = check_config(spec)?;
        self.limiter.acquire(RATE_BUCKET).await;
        let output = settle(
            "route53",
            "CreateHealthCheck",
            self.client
                .create_health_check()
                .caller_reference(caller_reference)
                .health_check_config(config)
                .send()
                .await,
        )?;
        let id = output
            .health_check()
            .map(|c| c.id().to_string())
            .ok_or_else(|| invalid("CreateHealthCheck", "the answer holds no health check"))?;
        self.tag_check(&id, tags).await?;
        Ok(id)
    }

    /// ChangeTagsForResource: adds `tags` to a check.
    pub async fn tag_check(
        &self,
        id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        self.limiter.acquire(RATE_BUCKET).await;
        settle(
            "route53",
            "ChangeTagsForResource",
            self.client
                .change_tags_for_resource()
                .resource_type(TagResourceType::Healthcheck)
                .resource_id(id)
                .set_add_tags(Some(
                    tags.iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .send()
                .await,
        )?;
        Ok(())
    }

    /// UpdateHealthCheck at `version` (Route 53 refuses it if someone changed the check since).
    pub async fn update_check(
        &self,
        id: &str,
        version: i64,
        spec: &CheckSpec,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .update_health_check()
            .health_check_id(id)
            .health_check_version(version);
        let request = match spec {
            CheckSpec::Endpoint {
                ip,
                host,
                port,
                path,
                failure_threshold,
                ..
            } => request
                .set_ip_address(ip.clone())
                .set_fully_qualified_domain_name(host.clone())
                .port(*port)
                .set_resource_path(path.clone())
                .failure_threshold(*failure_threshold),
            CheckSpec::Metric {
                region,
                alarm,
                insufficient_data,
            } => request
                .alarm_identifier(alarm_identifier(region, alarm)?)
                .insufficient_data_health_status(InsufficientDataHealthStatus::from(
                    insufficient_data.as_str(),
                )),
            CheckSpec::Calculated {
                children,
                threshold,
            } => request
                .set_child_health_checks(Some(children.clone()))
                .health_threshold(*threshold),
        };
        self.limiter.acquire(RATE_BUCKET).await;
        settle("route53", "UpdateHealthCheck", request.send().await)?;
        Ok(())
    }

    /// DeleteHealthCheck; one already gone is not an error.
    pub async fn delete_check(&self, id: &str) -> Result<(), AwsError> {
        self.limiter.acquire(RATE_BUCKET).await;
        match settle(
            "route53",
            "DeleteHealthCheck",
            self.client
                .delete_health_check()
                .health_check_id(id)
                .send()
                .await,
        ) {
            Ok(_) => Ok(()),
            Err(err) if err.class == ErrorClass::NotFound => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// ListResourceRecordSets from `name`/`type`: the record sets of exactly that name and type
    /// (a failover pair and whatever else is there).
    pub async fn record_sets(
        &self,
        zone: &str,
        name: &str,
        record_type: &str,
    ) -> Result<Vec<RecordSet>, AwsError> {
        self.limiter.acquire(RATE_BUCKET).await;
        let output = settle(
            "route53",
            "ListResourceRecordSets",
            self.client
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .start_record_name(name)
                .start_record_type(RrType::from(record_type))
                .max_items(20)
                .send()
                .await,
        )?;
        Ok(output
            .resource_record_sets()
            .iter()
            .filter(|r| r.name() == name && r.r#type().as_str() == record_type)
            .map(|r| RecordSet {
                name: r.name().to_string(),
                record_type: r.r#type().as_str().to_string(),
                set_identifier: r.set_identifier().map(str::to_string),
                failover: r.failover().map(|f| f.as_str().to_string()),
                ttl: r.ttl(),
                values: r
                    .resource_records()
                    .iter()
                    .map(|v| v.value().to_string())
                    .collect(),
                health_check_id: r.health_check_id().map(str::to_string),
                alias: r.alias_target().is_some(),
            })
            .collect())
    }

    /// ChangeResourceRecordSets with every change in one batch (all or nothing), then GetChange
    /// until INSYNC or `wait` has passed. One batch per zone at a time.
    pub async fn change(
        &self,
        zone: &str,
        changes: &[RecordChange],
        comment: &str,
        wait: Duration,
    ) -> Result<ChangeOutcome, AwsError> {
        let batch = ChangeBatch::builder()
            .comment(comment)
            .set_changes(Some(
                changes.iter().map(change).collect::<Result<Vec<_>, _>>()?,
            ))
            .build()
            .map_err(|e| invalid("ChangeResourceRecordSets", e))?;
        let lock = self.zone_lock(zone);
        let _held = lock.lock().await;
        self.limiter.acquire(RATE_BUCKET).await;
        let output = settle(
            "route53",
            "ChangeResourceRecordSets",
            self.client
                .change_resource_record_sets()
                .hosted_zone_id(zone)
                .change_batch(batch)
                .send()
                .await,
        )?;
        let info = output
            .change_info()
            .ok_or_else(|| invalid("ChangeResourceRecordSets", "the answer holds no ChangeInfo"))?;
        let id = info.id().to_string();
        let mut insync = *info.status() == ChangeStatus::Insync;
        let deadline = tokio::time::Instant::now() + wait;
        while !insync && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(POLL_EVERY).await;
            self.limiter.acquire(RATE_BUCKET).await;
            let output = settle(
                "route53",
                "GetChange",
                self.client.get_change().id(&id).send().await,
            )?;
            insync = output
                .change_info()
                .is_some_and(|c| *c.status() == ChangeStatus::Insync);
        }
        Ok(ChangeOutcome { id, insync })
    }

    fn zone_lock(&self, zone: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        zones.entry(zone.to_string()).or_default().clone()
    }
}

fn alarm_identifier(region: &str, alarm: &str) -> Result<AlarmIdentifier, AwsError> {
    AlarmIdentifier::builder()
        .region(CloudWatchRegion::from(region))
        .name(alarm)
        .build()
        .map_err(|e| invalid("CreateHealthCheck", e))
}

/// A read configuration as dialtone compares it; None for types dialtone never writes.
fn check_spec(config: &HealthCheckConfig) -> Option<CheckSpec> {
    match config.r#type() {
        HealthCheckType::Http | HealthCheckType::Https | HealthCheckType::Tcp => {
            Some(CheckSpec::Endpoint {
                protocol: config.r#type().as_str().to_string(),
                ip: config.ip_address().map(str::to_string),
                host: config.fully_qualified_domain_name().map(str::to_string),
                port: config.port().unwrap_or_default(),
                path: config.resource_path().map(str::to_string),
                failure_threshold: config.failure_threshold().unwrap_or(3),
                request_interval: config.request_interval().unwrap_or(30),
            })
        }
        HealthCheckType::CloudwatchMetric => {
            let alarm = config.alarm_identifier()?;
            Some(CheckSpec::Metric {
                region: alarm.region().as_str().to_string(),
                alarm: alarm.name().to_string(),
                insufficient_data: config
                    .insufficient_data_health_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "LastKnownStatus".into()),
            })
        }
        HealthCheckType::Calculated => {
            let mut children = config.child_health_checks().to_vec();
            children.sort();
            Some(CheckSpec::Calculated {
                children,
                threshold: config.health_threshold().unwrap_or_default(),
            })
        }
        _ => None,
    }
}

/// The configuration CreateHealthCheck takes for a spec (children: health check ids).
fn check_config(spec: &CheckSpec) -> Result<HealthCheckConfig, AwsError> {
    let builder = HealthCheckConfig::builder();
    let builder = match spec {
        CheckSpec::Endpoint {
            protocol,
            ip,
            host,
            port,
            path,
            failure_threshold,
            request_interval,
        } => builder
            .r#type(HealthCheckType::from(protocol.as_str()))
            .set_ip_address(ip.clone())
            .set_fully_qualified_domain_name(host.clone())
            .port(*port)
            .set_resource_path(path.clone())
            .failure_threshold(*failure_threshold)
            .request_interval(*request_interval),
        CheckSpec::Metric {
            region,
            alarm,
            insufficient_data,
        } => builder
            .r#type(HealthCheckType::CloudwatchMetric)
            .alarm_identifier(alarm_identifier(region, alarm)?)
            .insufficient_data_health_status(InsufficientDataHealthStatus::from(
                insufficient_data.as_str(),
            )),
        CheckSpec::Calculated {
            children,
            threshold,
        } => builder
            .r#type(HealthCheckType::Calculated)
            .set_child_health_checks(Some(children.clone()))
            .health_threshold(*threshold),
    };
    builder.build().map_err(|e| invalid("CreateHealthCheck", e))
}

fn change(change: &RecordChange) -> Result<Change, AwsError> {
    let (action, set) = match change {
        RecordChange::Upsert(set) => (ChangeAction::Upsert, set),
        RecordChange::Delete(set) => (ChangeAction::Delete, set),
    };
    let records = set
        .values
        .iter()
        .map(|v| {
            ResourceRecord::builder()
                .value(v)
                .build()
                .map_err(|e| invalid("ChangeResourceRecordSets", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let record_set = ResourceRecordSet::builder()
        .name(&set.name)
        .r#type(RrType::from(set.record_type.as_str()))
        .set_set_identifier(set.set_identifier.clone())
        .set_failover(set.failover.as_deref().map(ResourceRecordSetFailover::from))
        .set_ttl(set.ttl)
        .set_resource_records(Some(records))
        .set_health_check_id(set.health_check_id.clone())
        .build()
        .map_err(|e| invalid("ChangeResourceRecordSets", e))?;
    Change::builder()
        .action(action)
        .resource_record_set(record_set)
        .build()
        .map_err(|e| invalid("ChangeResourceRecordSets", e))
}

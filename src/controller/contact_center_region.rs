//! ContactCenterRegion: probe (read-only, batched) -> assess (pure) -> status (pure).
//!
//! A probe reads the states of the selected AlarmPolicies' alarms (the DescribeAlarms batches of
//! 100 names that AlarmPolicy uses, shared by every region of a target, and skipped for alarms the
//! same sweep already read), DescribeInstance, and for a region in a traffic distribution group
//! DescribeTrafficDistributionGroup and GetTrafficDistribution. It never writes.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::core::{Selector, SelectorExt};

use super::status::StatusBase;
use crate::api::alarm_policy::AlarmPolicy;
use crate::api::conditions::{READY, SYNCED, Status, set_condition};
use crate::api::contact_center_region::{
    ContactCenterRegion, ContactCenterRegionStatus, FiringAlarm, Health, InstanceStatus,
    RegionReplication, TrafficDistributionGroupStatus, TrafficShare,
};
use crate::aws::{AwsClients, AwsError, Target};
use crate::plan::alarm::desired_alarms;
use crate::plan::health::{
    AlarmState, Assessment, CountedAlarm, ObservedGroup, ObservedInstance, ObservedTraffic, Probe,
    Severities, assess,
};
use crate::plan::scope::target_of;

/// Condition `Healthy`: True only while the region is Healthy.
pub const HEALTHY: &str = "Healthy";
/// Condition `ReadyForTraffic`: the region could take all traffic now.
pub const READY_FOR_TRAFFIC: &str = "ReadyForTraffic";

/// Alarm states already known (read in this sweep, or held by a policy's status), by target and
/// name; None: the alarm does not exist.
pub type KnownAlarms = BTreeMap<Target, BTreeMap<String, Option<AlarmState>>>;

/// What one probe found for one region.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    /// `<namespace>/<name>`.
    pub owner: String,
    pub region: String,
    pub probe: Probe,
    pub assessment: Assessment,
    pub status: ContactCenterRegionStatus,
}

/// The region and role a ContactCenterRegion reads Connect with.
pub fn region_target(region: &ContactCenterRegion) -> Target {
    Target {
        region: region.spec.region.clone(),
        role_arn: region.spec.role_arn.clone(),
    }
}

fn namespace_of(meta: &kube::core::ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

/// Whether `region`'s selector picks `policy`: same namespace, labels match. An unset or empty
/// selector picks none (health then comes from replication and traffic distribution alone).
pub fn selects(region: &ContactCenterRegion, policy: &AlarmPolicy) -> bool {
    let Some(selector) = region.spec.health.alarm_policy_selector.clone() else {
        return false;
    };
    if namespace_of(&region.metadata) != namespace_of(&policy.metadata) {
        return false;
    }
    match Selector::try_from(selector) {
        Ok(selector) if !selector.selects_all() => {
            selector.matches(&policy.metadata.labels.clone().unwrap_or_default())
        }
        _ => false,
    }
}

/// The alarms `region` counts, each in the target its policy lives in, without states yet.
pub fn counted_alarms(
    region: &ContactCenterRegion,
    policies: &[&AlarmPolicy],
) -> Vec<(Target, CountedAlarm)> {
    policies
        .iter()
        .filter(|policy| selects(region, policy))
        .flat_map(|policy| {
            let namespace = namespace_of(&policy.metadata);
            let name = policy.metadata.name.as_deref().unwrap_or_default();
            let owner = format!("{namespace}/{name}");
            let target = target_of(policy);
            desired_alarms(namespace, name, &policy.spec)
                .into_iter()
                .zip(&policy.spec.alarms)
                .map(move |(desired, spec)| {
                    (
                        target.clone(),
                        CountedAlarm {
                            policy: owner.clone(),
                            alarm_name: desired.config.alarm_name,
                            severity: spec.severity,
                            state: None,
                            reason: None,
                            since: None,
                        },
                    )
                })
        })
        .collect()
}

fn unreadable(err: &AwsError, region: &str) -> String {
    format!("{err} (in {region})")
}

/// The states of `wanted` alarm names, by target (None: the alarm does not exist): those `known`
/// holds, the rest read in DescribeAlarms batches of 100 names per target. A target whose read
/// failed says why.
pub async fn alarm_states(
    clients: &AwsClients,
    wanted: BTreeMap<Target, BTreeSet<String>>,
    known: &KnownAlarms,
) -> BTreeMap<Target, Result<BTreeMap<String, Option<AlarmState>>, String>> {
    let mut states = BTreeMap::new();
    for (target, names) in wanted {
        let mut found: BTreeMap<String, Option<AlarmState>> = BTreeMap::new();
        let mut unknown = Vec::new();
        for name in names {
            match known.get(&target).and_then(|k| k.get(&name)) {
                Some(state) => {
                    found.insert(name, state.clone());
                }
                None => unknown.push(name),
            }
        }
        let result = if unknown.is_empty() {
            Ok(found)
        } else {
            match clients.cloudwatch(&target).await.describe(&unknown).await {
                Ok(alarms) => {
                    let read: BTreeMap<&str, AlarmState> = alarms
                        .iter()
                        .map(|a| (a.config.alarm_name.as_str(), AlarmState::from(a)))
                        .collect();
                    for name in unknown {
                        let state = read.get(name.as_str()).cloned();
                        found.insert(name, state);
                    }
                    Ok(found)
                }
                Err(err) => Err(unreadable(&err, &target.region)),
            }
        };
        states.insert(target, result);
    }
    states
}

/// Probes every region: alarm states in one batched read per target (names already read this sweep
/// are not read again), then each region's instance and traffic distribution group, unless the
/// region comes with the Connect part of an earlier probe to reuse (its probe interval has not
/// passed).
pub async fn probe(
    clients: &AwsClients,
    regions: &[(&ContactCenterRegion, Option<&Probe>)],
    policies: &[&AlarmPolicy],
    known: &KnownAlarms,
) -> Vec<Probe> {
    let counted: Vec<Vec<(Target, CountedAlarm)>> = regions
        .iter()
        .map(|(region, _)| counted_alarms(region, policies))
        .collect();
    let mut wanted: BTreeMap<Target, BTreeSet<String>> = BTreeMap::new();
    for (target, alarm) in counted.iter().flatten() {
        wanted
            .entry(target.clone())
            .or_default()
            .insert(alarm.alarm_name.clone());
    }
    let states = alarm_states(clients, wanted, known).await;
    let mut probes = Vec::new();
    for ((region, earlier), counted) in regions.iter().zip(counted) {
        let alarms = counted
            .into_iter()
            .map(|(target, mut alarm)| {
                let state = match states.get(&target) {
                    Some(Ok(states)) => states.get(&alarm.alarm_name).and_then(Option::as_ref),
                    Some(Err(why)) => return Err(why.clone()),
                    None => None,
                };
                if let Some(state) = state {
                    alarm.state = Some(state.state.clone());
                    alarm.reason = state.reason.clone();
                    alarm.since = state.since;
                }
                Ok(alarm)
            })
            .collect();
        let probe = match earlier {
            Some(earlier) => Probe {
                alarms,
                ..(*earlier).clone()
            },
            None => {
                let (instance, group, traffic) = probe_connect(clients, region).await;
                Probe {
                    alarms,
                    instance,
                    group,
                    traffic,
                }
            }
        };
        probes.push(probe);
    }
    probes
}

type ConnectPart = (
    Result<Option<ObservedInstance>, String>,
    Option<Result<Option<ObservedGroup>, String>>,
    Option<Result<ObservedTraffic, String>>,
);

/// DescribeInstance, and for a region in a traffic distribution group the group and its traffic
/// (the traffic only when the group exists).
async fn probe_connect(clients: &AwsClients, region: &ContactCenterRegion) -> ConnectPart {
    let target = region_target(region);
    let connect = clients.connect(&target).await;
    let why = |err: AwsError| unreadable(&err, &target.region);
    let instance = connect
        .describe_instance(&region.spec.instance_id)
        .await
        .map_err(why);
    let Some(arn) = &region.spec.traffic_distribution_group_arn else {
        return (instance, None, None);
    };
    let group = connect.describe_group(arn).await.map_err(why);
    let traffic = match &group {
        Ok(Some(_)) => Some(connect.traffic(arn).await.map_err(why)),
        _ => None,
    };
    (instance, Some(group), traffic)
}

/// Probes and assesses every region, with statuses built on `previous` (by owner). A region
/// in `reuse` keeps the Connect part of its earlier probe (its alarms are read afresh).
pub async fn reconcile(
    clients: &AwsClients,
    regions: &[(&ContactCenterRegion, Option<&Probe>)],
    policies: &[&AlarmPolicy],
    known: &KnownAlarms,
    previous: &BTreeMap<String, ContactCenterRegionStatus>,
    now: Timestamp,
) -> Vec<ProbeOutcome> {
    let probes = probe(clients, regions, policies, known).await;
    regions
        .iter()
        .zip(probes)
        .map(|((region, _), probe)| {
            let owner = owner_of(region);
            let severities = Severities {
                unhealthy: region.spec.health.unhealthy_severities.clone(),
                degraded: region.spec.health.degraded_severities.clone(),
            };
            let assessment = assess(&region.spec.region, &severities, &probe);
            let before = previous.get(&owner).or(region.status.as_ref());
            let base = StatusBase {
                generation: region.metadata.generation,
                conditions: before.map(|s| s.conditions.clone()).unwrap_or_default(),
            };
            let status = region_status(region, &probe, &assessment, before, &base, now);
            ProbeOutcome {
                owner,
                region: region.spec.region.clone(),
                probe,
                assessment,
                status,
            }
        })
        .collect()
}

/// `<namespace>/<name>` of a region.
pub fn owner_of(region: &ContactCenterRegion) -> String {
    format!(
        "{}/{}",
        namespace_of(&region.metadata),
        region.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The probe interval of a region (default 60 s).
pub fn probe_interval(region: &ContactCenterRegion) -> std::time::Duration {
    let seconds = region
        .spec
        .probe_interval
        .as_deref()
        .and_then(crate::api::common::parse_duration)
        .filter(|s| *s > 0)
        .unwrap_or(60);
    std::time::Duration::from_secs(seconds)
}

/// The status of a region after a probe. Values a failed read could not refresh are kept from
/// `previous`.
pub fn region_status(
    region: &ContactCenterRegion,
    probe: &Probe,
    assessment: &Assessment,
    previous: Option<&ContactCenterRegionStatus>,
    base: &StatusBase,
    now: Timestamp,
) -> ContactCenterRegionStatus {
    let here = &region.spec.region;
    let instance = match &probe.instance {
        Ok(Some(instance)) => Some(InstanceStatus {
            arn: instance.arn.clone(),
            alias: instance.alias.clone(),
            status: instance.status.clone(),
            replication: instance
                .replication
                .iter()
                .map(|r| RegionReplication {
                    region: r.region.clone(),
                    status: r.status.clone(),
                    reason: r.reason.clone(),
                })
                .collect(),
            traffic_distribution_group_status: match &probe.group {
                Some(Ok(Some(group))) => Some(group.status.clone()),
                _ => None,
            },
        }),
        Ok(None) => None,
        Err(_) => previous.and_then(|p| p.instance.clone()),
    };
    let group = match &probe.group {
        Some(Ok(Some(group))) => Some(TrafficDistributionGroupStatus {
            arn: group.arn.clone(),
            status: group.status.clone(),
            is_default: group.is_default,
        }),
        Some(Err(_)) => previous.and_then(|p| p.traffic_distribution_group.clone()),
        _ => None,
    };
    let traffic = match &probe.traffic {
        Some(Ok(traffic)) => {
            let (telephony, agents, sign_in) = traffic.share(here);
            Some(TrafficShare {
                telephony,
                agents,
                sign_in,
            })
        }
        Some(Err(_)) => previous.and_then(|p| p.traffic.clone()),
        None => None,
    };
    let firing: Vec<FiringAlarm> = assessment
        .firing
        .iter()
        .map(|a| FiringAlarm {
            policy: a.policy.clone(),
            alarm_name: a.alarm_name.clone(),
            severity: a.severity.to_string(),
            reason: a.reason.clone(),
            since: a
                .since
                .and_then(|s| Timestamp::from_second(s).ok())
                .map(Time),
        })
        .collect();
    let unreachable_since = assessment.unreadable.as_ref().map(|_| {
        previous
            .and_then(|p| p.unreachable_since.clone())
            .unwrap_or(Time(now))
    });

    let mut conditions = base.conditions.clone();
    let generation = base.generation;
    let mut set = |type_: &str, status: Status, reason: &str, message: &str| {
        set_condition(
            &mut conditions,
            type_,
            status,
            reason,
            message,
            generation,
            now,
        );
    };
    match &assessment.unreadable {
        Some(why) => {
            set(READY, Status::False, "Unreachable", why);
            set(SYNCED, Status::False, "AwsError", why);
        }
        None => {
            let message = format!("probed: {:?}", assessment.health);
            set(READY, Status::True, "Probed", &message);
            set(SYNCED, Status::True, "Probed", "every read reached AWS");
        }
    }
    let health_word = format!("{:?}", assessment.health);
    let healthy = if assessment.health == Health::Healthy {
        Status::True
    } else if assessment.health == Health::Unknown {
        Status::Unknown
    } else {
        Status::False
    };
    set(HEALTHY, healthy, &health_word, &assessment.reason);
    if assessment.ready_for_traffic() {
        set(
            READY_FOR_TRAFFIC,
            Status::True,
            "Ready",
            "instance present, replication complete, traffic distribution group ACTIVE, no unhealthy-severity alarm firing",
        );
    } else {
        set(
            READY_FOR_TRAFFIC,
            Status::False,
            "NotReady",
            &assessment.not_ready.join("; "),
        );
    }
    ContactCenterRegionStatus {
        observed_generation: generation,
        conditions,
        health: Some(assessment.health),
        health_reason: Some(assessment.reason.clone()),
        firing_alarm_count: Some(i32::try_from(firing.len()).unwrap_or(i32::MAX)),
        firing_alarms: firing,
        instance,
        traffic,
        traffic_distribution_group: group,
        last_probe_time: Some(Time(now)),
        unreachable_since,
    }
}

/// Exports a region's health as `dialtone_region_health{namespace,name,health}` (1 for the
/// current health, 0 for the others).
pub fn record_metrics(outcome: &ProbeOutcome) {
    let (namespace, name) = outcome
        .owner
        .split_once('/')
        .unwrap_or(("default", &outcome.owner));
    crate::metrics::Metrics::global().region_health(namespace, name, outcome.assessment.health);
}

//! The planner for one sweep of one region: (desired alarms of every policy, what CloudWatch holds)
//! -> per policy, the ordered actions and each alarm's drift. Pure: no I/O, no clock.

use std::collections::{BTreeMap, BTreeSet};

use super::alarm::{DesiredAlarm, ObservedAlarm, managed_tag_keys};
use super::diff::{config_drift, tag_drift};
use crate::api::alarm_policy::{AlarmStatus, FieldDrift, OWNER_TAG};

/// One policy's wishes.
#[derive(Debug, Clone)]
pub struct PolicyInput {
    /// The owner tag value: `<namespace>/<name>`.
    pub owner: String,
    pub desired: Vec<DesiredAlarm>,
    /// False under `managementPolicy: Observe`: report, never write.
    pub manage: bool,
    pub adopt_existing: bool,
}

/// What CloudWatch holds in the region.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Alarms by name, for the names that were asked for.
    pub alarms: BTreeMap<String, ObservedAlarm>,
    /// Tags of every alarm that carries a `dialtone.io/owner` tag, by alarm name, with its ARN.
    pub owned: BTreeMap<String, OwnedAlarm>,
}

/// An alarm carrying an owner tag.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedAlarm {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

impl OwnedAlarm {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }
}

/// One change to CloudWatch.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// PutMetricAlarm with tags: the alarm does not exist.
    Create { alarm: DesiredAlarm },
    /// PutMetricAlarm: the alarm is ours and differs.
    Update {
        alarm: DesiredAlarm,
        drift: Vec<FieldDrift>,
    },
    /// TagResource: the alarm lacks declared tags (PutMetricAlarm ignores tags on update).
    Tag {
        alarm_name: String,
        arn: String,
        tags: BTreeMap<String, String>,
        drift: Vec<FieldDrift>,
    },
    /// UntagResource: keys dialtone set that the spec no longer declares.
    Untag {
        alarm_name: String,
        arn: String,
        keys: Vec<String>,
    },
    /// PutMetricAlarm (if it differs) and TagResource: take over an alarm that has no owner.
    Adopt {
        alarm: DesiredAlarm,
        arn: String,
        drift: Vec<FieldDrift>,
    },
    /// DeleteAlarms: the alarm is ours and no longer declared.
    Delete { alarm_name: String },
}

impl Action {
    /// Whether the action writes to CloudWatch's alarm configuration or tags.
    pub fn alarm_name(&self) -> &str {
        match self {
            Action::Create { alarm }
            | Action::Update { alarm, .. }
            | Action::Adopt { alarm, .. } => &alarm.config.alarm_name,
            Action::Tag { alarm_name, .. }
            | Action::Untag { alarm_name, .. }
            | Action::Delete { alarm_name } => alarm_name,
        }
    }
}

/// One policy's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyPlan {
    pub owner: String,
    pub manage: bool,
    /// In execution order: creates, adoptions, updates, tags, untags, deletes.
    pub actions: Vec<Action>,
    /// Per declared alarm, as found: ARN, state, drift and conflicts.
    pub alarms: Vec<AlarmStatus>,
}

impl PolicyPlan {
    pub fn conflicts(&self) -> usize {
        self.alarms.iter().filter(|a| a.conflict.is_some()).count()
    }

    pub fn drifted(&self) -> usize {
        self.alarms.iter().filter(|a| !a.drift.is_empty()).count()
    }
}

/// Drift reported for an alarm that does not exist.
pub fn missing_drift() -> FieldDrift {
    FieldDrift {
        field: "alarm".into(),
        desired: "exists".into(),
        actual: "missing".into(),
    }
}

/// Plans every policy of a region. A CloudWatch name declared by two policies is a conflict for
/// every policy but the first (by owner), so the same alarm is never written twice.
pub fn plan_sweep(policies: &[PolicyInput], observed: &Observed) -> Vec<PolicyPlan> {
    let mut policies: Vec<&PolicyInput> = policies.iter().collect();
    policies.sort_by(|a, b| a.owner.cmp(&b.owner));
    let mut claimed: BTreeMap<&str, &str> = BTreeMap::new();
    policies
        .into_iter()
        .map(|policy| {
            let mut taken = BTreeMap::new();
            for alarm in &policy.desired {
                let name = alarm.config.alarm_name.as_str();
                match claimed.get(name) {
                    Some(first) => {
                        taken.insert(name.to_string(), (*first).to_string());
                    }
                    None => {
                        claimed.insert(name, &policy.owner);
                    }
                }
            }
            plan_policy(policy, observed, &taken)
        })
        .collect()
}

fn plan_policy(
    policy: &PolicyInput,
    observed: &Observed,
    taken: &BTreeMap<String, String>,
) -> PolicyPlan {
    let mut creates = Vec::new();
    let mut adoptions = Vec::new();
    let mut updates = Vec::new();
    let mut tags = Vec::new();
    let mut untags = Vec::new();
    let mut alarms = Vec::new();

    for desired in &policy.desired {
        let name = &desired.config.alarm_name;
        let mut status = AlarmStatus {
            name: desired.name.clone(),
            alarm_name: name.clone(),
            ..AlarmStatus::default()
        };
        if let Some(first) = taken.get(name) {
            status.conflict = Some(format!(
                "AlarmPolicy {first} declares the same CloudWatch name"
            ));
            alarms.push(status);
            continue;
        }
        let Some(actual) = observed.alarms.get(name) else {
            status.drift.push(missing_drift());
            creates.push(Action::Create {
                alarm: desired.clone(),
            });
            alarms.push(status);
            continue;
        };
        status.arn = Some(actual.arn.clone());
        status.state = Some(actual.state.clone());
        status.state_reason = actual.state_reason.clone();
        let config = config_drift(&desired.config, &actual.config);
        let owned = observed.owned.get(name);
        match owned.and_then(OwnedAlarm::owner) {
            Some(owner) if owner == policy.owner => {
                let tag = tag_drift(
                    &desired.tags,
                    &owned.map(|o| o.tags.clone()).unwrap_or_default(),
                );
                if !config.is_empty() {
                    updates.push(Action::Update {
                        alarm: desired.clone(),
                        drift: config.clone(),
                    });
                }
                if !tag.is_empty() {
                    tags.push(Action::Tag {
                        alarm_name: name.clone(),
                        arn: actual.arn.clone(),
                        tags: desired.tags.clone(),
                        drift: tag.clone(),
                    });
                }
                let held = owned.map(|o| o.tags.clone()).unwrap_or_default();
                let removed: Vec<String> = managed_tag_keys(&held)
                    .into_iter()
                    .filter(|k| held.contains_key(k) && !desired.tags.contains_key(k))
                    .collect();
                if !removed.is_empty() {
                    untags.push(Action::Untag {
                        alarm_name: name.clone(),
                        arn: actual.arn.clone(),
                        keys: removed,
                    });
                }
                status.drift = config.into_iter().chain(tag).collect();
            }
            Some(other) => {
                status.conflict = Some(format!(
                    "owned by AlarmPolicy {other} (tag {OWNER_TAG}); dialtone never takes over another policy's alarm"
                ));
                status.drift = config;
            }
            None if policy.adopt_existing => {
                adoptions.push(Action::Adopt {
                    alarm: desired.clone(),
                    arn: actual.arn.clone(),
                    drift: config.clone(),
                });
                status.drift = config;
            }
            None => {
                status.conflict = Some(format!(
                    "exists in CloudWatch without the {OWNER_TAG} tag; set adoptExisting: true to take it over"
                ));
                status.drift = config;
            }
        }
        alarms.push(status);
    }

    let declared: BTreeSet<&str> = policy
        .desired
        .iter()
        .map(|d| d.config.alarm_name.as_str())
        .collect();
    let deletes = observed
        .owned
        .iter()
        .filter(|(name, alarm)| {
            alarm.owner() == Some(policy.owner.as_str()) && !declared.contains(name.as_str())
        })
        .map(|(name, _)| Action::Delete {
            alarm_name: name.clone(),
        });

    let actions = if policy.manage {
        creates
            .into_iter()
            .chain(adoptions)
            .chain(updates)
            .chain(tags)
            .chain(untags)
            .chain(deletes)
            .collect()
    } else {
        Vec::new()
    };
    PolicyPlan {
        owner: policy.owner.clone(),
        manage: policy.manage,
        actions,
        alarms,
    }
}

//! The planner for one sweep of one region: (desired alarms of every policy, what CloudWatch holds)
//! -> per policy, the ordered actions and each alarm's drift. Pure: no I/O, no clock.

use std::collections::{BTreeMap, BTreeSet};

use super::alarm::{DesiredAlarm, ObservedAlarm, managed_tag_keys};
pub use super::deletion::Claim;
use super::deletion::{Decision, Facts, decide};
use super::diff::{config_drift, tag_drift};
use crate::api::alarm_policy::{AlarmStatus, FieldDrift, OWNER_KIND_TAG, OWNER_TAG};

/// One policy's wishes in one region (and role).
#[derive(Debug, Clone)]
pub struct PolicyInput {
    /// The owner tag value: `<namespace>/<name>`.
    pub owner: String,
    /// Empty for a policy that is gone, or for a region its alarms moved away from.
    pub desired: Vec<DesiredAlarm>,
    /// False under `managementPolicy: Observe`: report, never write, never delete.
    pub manage: bool,
    pub adopt_existing: bool,
    /// The CloudWatch names this policy declares or declared here: the only names it may delete.
    pub claim: Claim,
}

/// What to do with orphans: alarms that carry a dialtone owner tag but that no object of the
/// source declares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Orphans {
    /// Not looked for: the sweep does not cover the whole source (one object in a cluster).
    #[default]
    Ignore,
    /// Reported, never deleted.
    Report,
    /// Reported and deleted (`--prune`), under the same conditions as every deletion.
    Prune,
}

/// Everything one region's sweep plans over.
#[derive(Debug, Clone, Default)]
pub struct RegionInput {
    pub policies: Vec<PolicyInput>,
    /// Owners that exist but cannot be planned now (invalid, declared twice, retained): their
    /// alarms are not touched and are not orphans.
    pub untouchable: BTreeSet<String>,
    /// Why deletions are withheld in this sweep (a manifest could not be loaded), if they are.
    pub withheld: Option<String>,
    pub orphans: Orphans,
}

/// What CloudWatch holds in the region.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Alarms by name, for the names that were asked for.
    pub alarms: BTreeMap<String, ObservedAlarm>,
    /// Tags of every alarm that carries a `dialtone.io/owner` tag, by alarm name, with its ARN.
    pub owned: BTreeMap<String, OwnedAlarm>,
    /// Whether `owned` was read from AWS in this sweep. Deletions are only ever decided on fresh
    /// ownership, never on a cached view.
    pub owned_fresh: bool,
}

/// An alarm carrying an owner tag.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedAlarm {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

impl OwnedAlarm {
    /// The AlarmPolicy that owns the alarm (an alarm another kind owns has none here).
    pub fn owner(&self) -> Option<&str> {
        if self
            .tags
            .get(OWNER_KIND_TAG)
            .is_some_and(|kind| kind != "AlarmPolicy")
        {
            return None;
        }
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
    /// What the action does, in one word.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Create { .. } => "create",
            Action::Update { .. } => "update",
            Action::Tag { .. } => "tag",
            Action::Untag { .. } => "untag",
            Action::Adopt { .. } => "adopt",
            Action::Delete { .. } => "delete",
        }
    }

    /// The CloudWatch name of the alarm the action concerns.
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
    /// In execution order: creates, adoptions, updates, untags, tags, deletes.
    pub actions: Vec<Action>,
    /// Per declared alarm, as found: ARN, state, drift and conflicts.
    pub alarms: Vec<AlarmStatus>,
    /// Owned alarms no longer declared that are not deleted now, and why.
    pub kept: Vec<Kept>,
    /// The names to remember as declared here once the plan is carried out (the footprint):
    /// deletions that succeed are taken out by the executor.
    pub remember: BTreeSet<String>,
}

impl PolicyPlan {
    pub fn conflicts(&self) -> usize {
        self.alarms.iter().filter(|a| a.conflict.is_some()).count()
    }

    pub fn drifted(&self) -> usize {
        self.alarms.iter().filter(|a| !a.drift.is_empty()).count()
    }
}

/// An owned alarm that is no longer declared but stays, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub alarm_name: String,
    pub reason: String,
}

/// An alarm with a dialtone owner tag that no object of the source may delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub alarm_name: String,
    pub arn: String,
    /// The owner tag's value.
    pub owner: String,
    pub reason: String,
}

/// One region's plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegionPlan {
    pub policies: Vec<PolicyPlan>,
    pub orphans: Vec<Orphan>,
    /// Deletions of orphans (`--prune`), in execution order after every policy's actions.
    pub prune: Vec<Action>,
    /// Something would be deleted but ownership came from a cache: read it afresh and plan again.
    pub needs_fresh_ownership: bool,
}

/// Drift reported for an alarm that does not exist.
pub fn missing_drift() -> FieldDrift {
    FieldDrift {
        field: "alarm".into(),
        desired: "exists".into(),
        actual: "missing".into(),
    }
}

/// Who may manage a CloudWatch name that several policies declare: the one whose owner tag the
/// alarm carries; when it carries none (or does not exist), the first by `<namespace>/<name>`.
/// None when the alarm is owned by a policy that does not declare it (all declarers conflict).
fn claimant<'a>(name: &str, declarers: &[&'a str], observed: &Observed) -> Option<&'a str> {
    let owner = observed
        .alarms
        .contains_key(name)
        .then(|| observed.owned.get(name).and_then(OwnedAlarm::owner))
        .flatten();
    match owner {
        Some(owner) => declarers.iter().find(|d| **d == owner).copied(),
        None => declarers.iter().min().copied(),
    }
}

/// Plans every policy of a region, and the orphans found there.
///
/// The deletion rule, the same for every kind: an alarm is deleted only when it is (a) owned by the
/// object, by an owner tag read from AWS in this sweep, (b) a name the object declares or declared
/// (its prefix or its recorded names), and (c) wanted by no object, while every manifest loaded
/// cleanly and the object is managed. Owned alarms outside (b), or whose owner is not in the
/// source, are orphans: reported, and deleted only with `--prune` under (a) and (c).
pub fn plan_sweep(input: &RegionInput, observed: &Observed) -> RegionPlan {
    let mut policies: Vec<&PolicyInput> = input.policies.iter().collect();
    policies.sort_by(|a, b| a.owner.cmp(&b.owner));
    let mut declarers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for policy in &policies {
        for alarm in &policy.desired {
            let list = declarers.entry(&alarm.config.alarm_name).or_default();
            if !list.contains(&policy.owner.as_str()) {
                list.push(&policy.owner);
            }
        }
    }
    let mut needs_fresh = false;
    let mut orphans = Vec::new();
    let plans = policies
        .iter()
        .map(|policy| {
            let taken: BTreeMap<String, String> = policy
                .desired
                .iter()
                .filter_map(|alarm| {
                    let name = alarm.config.alarm_name.as_str();
                    let list = declarers.get(name)?;
                    match claimant(name, list, observed) {
                        Some(winner) if winner != policy.owner => {
                            Some((name.to_string(), winner.to_string()))
                        }
                        _ => None,
                    }
                })
                .collect();
            let mut plan = plan_policy(policy, observed, &taken);
            let owner_text = format!("AlarmPolicy {}", policy.owner);
            for (name, alarm) in &observed.owned {
                if alarm.owner() != Some(policy.owner.as_str())
                    || policy.desired.iter().any(|d| &d.config.alarm_name == name)
                {
                    continue;
                }
                let wanted_by = declarers
                    .get(name.as_str())
                    .map(|list| format!("AlarmPolicy {}", list.join(", ")));
                let facts = Facts {
                    owner: &owner_text,
                    claim: &policy.claim,
                    manage: policy.manage,
                    wanted_by: wanted_by.as_deref(),
                    withheld: input.withheld.as_deref(),
                    fresh: observed.owned_fresh,
                };
                match decide(name, facts) {
                    Decision::Delete => plan.actions.push(Action::Delete {
                        alarm_name: name.clone(),
                    }),
                    Decision::Keep(reason) => plan.kept.push(Kept {
                        alarm_name: name.clone(),
                        reason,
                    }),
                    Decision::ConfirmOwnership => needs_fresh = true,
                    Decision::Orphan(reason) => {
                        if input.orphans != Orphans::Ignore {
                            orphans.push(Orphan {
                                alarm_name: name.clone(),
                                arn: alarm.arn.clone(),
                                owner: policy.owner.clone(),
                                reason,
                            });
                        }
                    }
                }
            }
            plan.remember = remember(policy, observed, &taken);
            plan
        })
        .collect();

    let mut prune = Vec::new();
    if input.orphans != Orphans::Ignore {
        let known: BTreeSet<&str> = policies
            .iter()
            .map(|p| p.owner.as_str())
            .chain(input.untouchable.iter().map(String::as_str))
            .collect();
        for (name, alarm) in &observed.owned {
            let Some(owner) = alarm.owner() else { continue };
            if known.contains(owner) {
                continue;
            }
            let reason = match declarers.get(name.as_str()) {
                Some(list) => format!(
                    "AlarmPolicy {owner} is not in the source; AlarmPolicy {} declares this name but never takes over another policy's alarm",
                    list.join(", ")
                ),
                None => format!("AlarmPolicy {owner} is not in the source"),
            };
            orphans.push(Orphan {
                alarm_name: name.clone(),
                arn: alarm.arn.clone(),
                owner: owner.to_string(),
                reason,
            });
        }
        orphans.sort_by(|a, b| a.alarm_name.cmp(&b.alarm_name));
        if input.orphans == Orphans::Prune && input.withheld.is_none() {
            for orphan in &orphans {
                if declarers.contains_key(orphan.alarm_name.as_str()) {
                    continue;
                }
                if observed.owned_fresh {
                    prune.push(Action::Delete {
                        alarm_name: orphan.alarm_name.clone(),
                    });
                } else {
                    needs_fresh = true;
                }
            }
        }
    }
    if needs_fresh {
        // Nothing is deleted on a cached view: the caller reads ownership and plans again.
        return RegionPlan {
            policies: plans,
            orphans,
            prune: Vec::new(),
            needs_fresh_ownership: true,
        };
    }
    RegionPlan {
        policies: plans,
        orphans,
        prune,
        needs_fresh_ownership: false,
    }
}

/// The names a policy keeps as its footprint here: what it declares and manages now, and what it
/// recorded before unless fresh ownership shows the alarm is no longer its own.
fn remember(
    policy: &PolicyInput,
    observed: &Observed,
    taken: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let mine = |name: &str| {
        observed
            .owned
            .get(name)
            .and_then(OwnedAlarm::owner)
            .is_some_and(|o| o == policy.owner)
    };
    let declared = policy
        .desired
        .iter()
        .map(|d| &d.config.alarm_name)
        .filter(|name| policy.manage && !taken.contains_key(*name))
        .cloned();
    let recorded = policy
        .claim
        .recorded
        .iter()
        .filter(|name| !observed.owned_fresh || mine(name))
        .cloned();
    declared.chain(recorded).collect()
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
        let actual = observed.alarms.get(name);
        if let Some(actual) = actual {
            status.arn = Some(actual.arn.clone());
            status.state = Some(actual.state.clone());
            status.state_reason = actual.state_reason.clone();
        }
        if let Some(winner) = taken.get(name) {
            let owns = actual.is_some()
                && observed.owned.get(name).and_then(OwnedAlarm::owner) == Some(winner.as_str());
            status.conflict = Some(if owns {
                format!(
                    "owned by AlarmPolicy {winner}, which declares it too; dialtone never takes over another policy's alarm"
                )
            } else {
                format!("AlarmPolicy {winner} declares the same CloudWatch name and comes first")
            });
            alarms.push(status);
            continue;
        }
        let Some(actual) = actual else {
            status.drift.push(missing_drift());
            creates.push(Action::Create {
                alarm: desired.clone(),
            });
            alarms.push(status);
            continue;
        };
        let config = config_drift(&desired.config, &actual.config);
        let owned = observed.owned.get(name);
        match owned.and_then(OwnedAlarm::owner) {
            Some(owner) if owner == policy.owner => {
                let held = owned.map(|o| o.tags.clone()).unwrap_or_default();
                let tag = tag_drift(&desired.tags, &held);
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

    let actions = if policy.manage {
        creates
            .into_iter()
            .chain(adoptions)
            .chain(updates)
            // Untags before tags: the TagResource that rewrites the managed-tags record comes
            // last, so a crash between the two leaves a record that still names the dropped key
            // (the next sweep rewrites it) and never a dropped key the record forgot.
            .chain(untags)
            .chain(tags)
            .collect()
    } else {
        Vec::new()
    };
    PolicyPlan {
        owner: policy.owner.clone(),
        manage: policy.manage,
        actions,
        alarms,
        kept: Vec::new(),
        remember: BTreeSet::new(),
    }
}

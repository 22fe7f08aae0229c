//! What each AlarmPolicy asks of each region in one sweep, from how it stands in the source and
//! where it wrote before. Pure.

use std::collections::{BTreeMap, BTreeSet};

use super::alarm::{desired_alarms, effective_prefix};
use super::sweep::{Claim, Orphans, PolicyInput, RegionInput};
use crate::api::alarm_policy::{AlarmPolicy, DeletionPolicy, ManagementPolicy};
use crate::api::common::Footprint;
use crate::aws::Target;

/// How a policy stands in the source of this sweep.
#[derive(Debug, Clone, Copy)]
pub enum Standing<'a> {
    /// Valid: its spec is enforced, and what it declared in other regions before is cleaned up.
    Present(&'a AlarmPolicy),
    /// Being deleted, or gone from a source that loaded cleanly: what it declared goes, unless its
    /// deletion policy is Retain or it was last seen under Observe.
    Gone {
        deletion: DeletionPolicy,
        manage: bool,
        /// Its alarm-name prefix, while its spec is still known (a cluster object being deleted).
        prefix: Option<&'a str>,
    },
    /// Exists but cannot be used now (invalid, declared twice): its alarms are left alone.
    Untouchable,
}

/// One policy as a sweep sees it.
#[derive(Debug, Clone)]
pub struct PolicyView<'a> {
    /// `<namespace>/<name>`.
    pub owner: String,
    pub standing: Standing<'a>,
    /// Where it wrote before, as recorded.
    pub footprint: &'a [Footprint],
}

/// The region and role of a policy's spec.
pub fn target_of(policy: &AlarmPolicy) -> Target {
    Target {
        region: policy.spec.region.clone(),
        role_arn: policy.spec.role_arn.clone(),
    }
}

fn target_of_footprint(footprint: &Footprint) -> Target {
    Target {
        region: footprint.region.clone(),
        role_arn: footprint.role_arn.clone(),
    }
}

/// The regions to sweep and what every policy asks of each. A policy's former regions get an
/// input that declares nothing there, so its alarms left behind are deleted by the same rule.
pub fn scope(
    views: &[PolicyView<'_>],
    withheld: Option<&str>,
    orphans: Orphans,
) -> BTreeMap<Target, RegionInput> {
    let mut regions: BTreeMap<Target, RegionInput> = BTreeMap::new();
    let mut untouchable = BTreeSet::new();
    let recorded = |view: &PolicyView<'_>, target: &Target| -> BTreeSet<String> {
        view.footprint
            .iter()
            .filter(|f| &target_of_footprint(f) == target)
            .flat_map(|f| f.names.iter().cloned())
            .collect()
    };
    for view in views {
        let owner = view.owner.clone();
        match view.standing {
            Standing::Present(policy) => {
                let (namespace, name) = owner.split_once('/').unwrap_or(("default", &owner));
                let here = target_of(policy);
                let prefix = effective_prefix(namespace, name, &policy.spec);
                let manage = policy.spec.management_policy == ManagementPolicy::Manage;
                regions
                    .entry(here.clone())
                    .or_default()
                    .policies
                    .push(PolicyInput {
                        owner: owner.clone(),
                        desired: desired_alarms(namespace, name, &policy.spec),
                        manage,
                        adopt_existing: policy.spec.adopt_existing,
                        claim: Claim {
                            prefix: Some(prefix.clone()),
                            recorded: recorded(view, &here),
                        },
                    });
                for former in former_targets(view.footprint, Some(&here)) {
                    let claim = Claim {
                        prefix: Some(prefix.clone()),
                        recorded: recorded(view, &former),
                    };
                    regions
                        .entry(former)
                        .or_default()
                        .policies
                        .push(removal(&owner, manage, claim));
                }
            }
            Standing::Gone {
                deletion: DeletionPolicy::Delete,
                manage: true,
                prefix,
            } => {
                for former in former_targets(view.footprint, None) {
                    let claim = Claim {
                        prefix: prefix.map(str::to_string),
                        recorded: recorded(view, &former),
                    };
                    regions
                        .entry(former)
                        .or_default()
                        .policies
                        .push(removal(&owner, true, claim));
                }
            }
            Standing::Gone { .. } | Standing::Untouchable => {
                untouchable.insert(owner);
            }
        }
    }
    for input in regions.values_mut() {
        input.untouchable = untouchable.clone();
        input.withheld = withheld.map(str::to_string);
        input.orphans = orphans;
    }
    regions
}

/// Targets of a footprint other than `current`, each once, in order.
fn former_targets(footprint: &[Footprint], current: Option<&Target>) -> Vec<Target> {
    let mut seen = BTreeSet::new();
    footprint
        .iter()
        .map(target_of_footprint)
        .filter(|t| Some(t) != current && seen.insert(t.clone()))
        .collect()
}

/// A policy that declares nothing in a region: its owned alarms there are deleted by the rule.
fn removal(owner: &str, manage: bool, claim: Claim) -> PolicyInput {
    PolicyInput {
        owner: owner.to_string(),
        desired: Vec::new(),
        manage,
        adopt_existing: false,
        claim,
    }
}

/// The footprint to record before anything is written: what was recorded, plus every name the
/// policy declares in its region now (a crash after the write must still find it).
pub fn footprint_before(
    policy: &AlarmPolicy,
    owner: &str,
    previous: &[Footprint],
) -> Vec<Footprint> {
    if policy.spec.management_policy == ManagementPolicy::Observe {
        return previous.to_vec();
    }
    let (namespace, name) = owner.split_once('/').unwrap_or(("default", owner));
    let here = target_of(policy);
    let declared: BTreeSet<String> = desired_alarms(namespace, name, &policy.spec)
        .into_iter()
        .map(|d| d.config.alarm_name)
        .collect();
    let mut footprint: BTreeMap<Target, BTreeSet<String>> = previous
        .iter()
        .map(|f| (target_of_footprint(f), f.names.iter().cloned().collect()))
        .collect();
    footprint.entry(here).or_default().extend(declared);
    to_footprint(footprint)
}

/// A footprint from names by target; targets with no names are dropped.
pub fn to_footprint(names: BTreeMap<Target, BTreeSet<String>>) -> Vec<Footprint> {
    names
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(target, names)| Footprint {
            region: target.region,
            role_arn: target.role_arn,
            names: names.into_iter().collect(),
        })
        .collect()
}

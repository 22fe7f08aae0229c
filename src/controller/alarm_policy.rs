//! AlarmPolicy: observe -> plan -> execute -> status, one region at a time, every policy of the
//! region in the same batched reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use super::status::{StatusBase, alarm_policy_status};
use crate::api::alarm_policy::{AlarmPolicy, AlarmPolicyStatus, DeletionPolicy, ManagementPolicy};
use crate::aws::{AwsClients, AwsError, CloudWatchAlarms, Target};
use crate::plan::alarm::{DesiredAlarm, desired_alarms, owner};
use crate::plan::sweep::{Action, Observed, OwnedAlarm, PolicyInput, PolicyPlan, plan_sweep};

/// Whether a sweep writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read and plan only (`dialtone plan`).
    Plan,
    /// Read, plan and execute (`apply`, `run`).
    Apply,
}

/// What one sweep found and did for one policy.
#[derive(Debug, Clone)]
pub struct PolicyOutcome {
    /// `<namespace>/<name>`.
    pub owner: String,
    pub target: Target,
    /// The plan as computed before executing anything.
    pub plan: PolicyPlan,
    /// Actions that were carried out.
    pub done: Vec<Action>,
    /// Calls that failed (the alarms they concern are left as they were).
    pub errors: Vec<AwsError>,
    pub status: AlarmPolicyStatus,
}

/// Ownership read once per region and reused while nothing changed, so a steady-state sweep costs
/// only DescribeAlarms: the Tagging API is read again when an alarm is first seen, its
/// configuration timestamp moved, dialtone itself wrote, or `OWNERSHIP_MAX_AGE` passed (tag edits
/// by hand do not move the configuration timestamp). One cache per region serves every policy.
#[derive(Debug, Default)]
struct OwnershipCache {
    owned: Option<BTreeMap<String, OwnedAlarm>>,
    /// AlarmConfigurationUpdatedTimestamp of every alarm seen, by name.
    seen: BTreeMap<String, Option<i64>>,
    /// When ownership was last read.
    read_at: Option<std::time::Instant>,
}

/// How long ownership is trusted without a change that would show it moved.
const OWNERSHIP_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// A policy dialtone reconciled before, remembered so that its alarms are cleaned up when it
/// disappears from the source (a manifest deleted from the directory).
#[derive(Debug, Clone)]
struct Known {
    target: Target,
    deletion: DeletionPolicy,
}

/// The AlarmPolicy engine shared by `plan`, `apply`, `run --manifests` and the cluster controller.
pub struct AlarmEngine {
    clients: Arc<AwsClients>,
    caches: BTreeMap<Target, OwnershipCache>,
    known: BTreeMap<String, Known>,
}

/// The region and role of a policy.
pub fn target_of(policy: &AlarmPolicy) -> Target {
    Target {
        region: policy.spec.region.clone(),
        role_arn: policy.spec.role_arn.clone(),
    }
}

/// `<namespace>/<name>` of a policy (namespace `default` when unset).
pub fn owner_of(policy: &AlarmPolicy) -> String {
    owner(
        policy.metadata.namespace.as_deref().unwrap_or("default"),
        policy.metadata.name.as_deref().unwrap_or_default(),
    )
}

impl AlarmEngine {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Self {
            clients,
            caches: BTreeMap::new(),
            known: BTreeMap::new(),
        }
    }

    /// Reconciles `policies` (all valid). With `Some(invalid)` (the owners of policies that exist
    /// but are invalid right now), also cleans up after policies seen by earlier sweeps that are
    /// gone from the source, per their `deletionPolicy`. An invalid policy is never taken for a
    /// gone one: a typo must not delete alarms.
    pub async fn sweep(
        &mut self,
        policies: &[AlarmPolicy],
        mode: Mode,
        forget_missing: Option<&BTreeSet<String>>,
        now: Timestamp,
    ) -> Vec<PolicyOutcome> {
        let mut by_target: BTreeMap<Target, Vec<(PolicyInput, StatusBase)>> = BTreeMap::new();
        let mut present: BTreeSet<String> = policies.iter().map(owner_of).collect();
        if let Some(invalid) = forget_missing {
            present.extend(invalid.iter().cloned());
        }
        for policy in policies {
            let (namespace, name) = (
                policy.metadata.namespace.as_deref().unwrap_or("default"),
                policy.metadata.name.as_deref().unwrap_or_default(),
            );
            let input = PolicyInput {
                owner: owner(namespace, name),
                desired: desired_alarms(namespace, name, &policy.spec),
                manage: policy.spec.management_policy == ManagementPolicy::Manage,
                adopt_existing: policy.spec.adopt_existing,
            };
            by_target
                .entry(target_of(policy))
                .or_default()
                .push((input, status_base(policy)));
        }
        if forget_missing.is_some() {
            for (gone, known) in &self.known {
                if !present.contains(gone) && known.deletion == DeletionPolicy::Delete {
                    by_target
                        .entry(known.target.clone())
                        .or_default()
                        .push((removal(gone), StatusBase::default()));
                }
            }
        }

        let mut outcomes = Vec::new();
        for (target, inputs) in by_target {
            let cloudwatch = self.clients.cloudwatch(&target).await;
            let cache = self.caches.entry(target.clone()).or_default();
            outcomes.extend(sweep_target(&cloudwatch, cache, &target, inputs, mode, now).await);
        }
        if mode == Mode::Apply {
            for policy in policies {
                self.known.insert(
                    owner_of(policy),
                    Known {
                        target: target_of(policy),
                        deletion: policy.spec.deletion_policy,
                    },
                );
            }
            if forget_missing.is_some() {
                let cleaned: BTreeSet<&String> = outcomes
                    .iter()
                    .filter(|o| o.errors.is_empty())
                    .map(|o| &o.owner)
                    .collect();
                // Keep what exists, and gone policies whose cleanup has yet to succeed.
                self.known.retain(|owner, known| {
                    present.contains(owner)
                        || (known.deletion == DeletionPolicy::Delete && !cleaned.contains(owner))
                });
            }
        }
        outcomes
    }

    /// Deletes every alarm owned by `owner` in `target` (a policy being deleted). Returns the
    /// outcome; alarms already gone count as deleted.
    pub async fn cleanup(&mut self, owner: &str, target: &Target, now: Timestamp) -> PolicyOutcome {
        let cloudwatch = self.clients.cloudwatch(target).await;
        let cache = self.caches.entry(target.clone()).or_default();
        // Deleting is decided on ownership read now, never on a cached view.
        cache.owned = None;
        let mut outcomes = sweep_target(
            &cloudwatch,
            cache,
            target,
            vec![(removal(owner), StatusBase::default())],
            Mode::Apply,
            now,
        )
        .await;
        self.known.remove(owner);
        outcomes.remove(0)
    }
}

fn status_base(policy: &AlarmPolicy) -> StatusBase {
    StatusBase {
        generation: policy.metadata.generation,
        conditions: policy
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default(),
    }
}

/// A policy that is gone: nothing desired, so its owned alarms are planned for deletion.
fn removal(owner: &str) -> PolicyInput {
    PolicyInput {
        owner: owner.to_string(),
        desired: Vec::new(),
        manage: true,
        adopt_existing: false,
    }
}

async fn sweep_target(
    cloudwatch: &CloudWatchAlarms,
    cache: &mut OwnershipCache,
    target: &Target,
    inputs: Vec<(PolicyInput, StatusBase)>,
    mode: Mode,
    now: Timestamp,
) -> Vec<PolicyOutcome> {
    let policies: Vec<PolicyInput> = inputs.iter().map(|(p, _)| p.clone()).collect();
    let bases: BTreeMap<String, StatusBase> =
        inputs.into_iter().map(|(p, b)| (p.owner, b)).collect();
    let failed = |err: AwsError| {
        policies
            .iter()
            .map(|p| {
                let plan = PolicyPlan {
                    owner: p.owner.clone(),
                    manage: p.manage,
                    actions: vec![],
                    alarms: vec![],
                };
                let errors = vec![err.clone()];
                let status = alarm_policy_status(&plan, &[], &errors, None, &bases[&p.owner], now);
                PolicyOutcome {
                    owner: p.owner.clone(),
                    target: target.clone(),
                    plan,
                    done: vec![],
                    errors,
                    status,
                }
            })
            .collect()
    };

    let names: Vec<String> = policies
        .iter()
        .flat_map(|p| p.desired.iter().map(|d| d.config.alarm_name.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let described = match cloudwatch.describe(&names).await {
        Ok(described) => described,
        Err(err) => return failed(err),
    };
    let fresh = cache.owned.is_none()
        || cache
            .read_at
            .is_none_or(|at| at.elapsed() >= OWNERSHIP_MAX_AGE)
        || described
            .iter()
            .any(|a| cache.seen.get(&a.config.alarm_name) != Some(&a.config_updated));
    if fresh {
        match cloudwatch.owned().await {
            Ok(owned) => cache.owned = Some(owned),
            Err(err) => return failed(err),
        }
        cache.read_at = Some(std::time::Instant::now());
    }
    // Merged, not replaced: other policies of the region keep their entries.
    for alarm in &described {
        cache
            .seen
            .insert(alarm.config.alarm_name.clone(), alarm.config_updated);
    }
    let observed = Observed {
        alarms: described
            .into_iter()
            .map(|a| (a.config.alarm_name.clone(), a))
            .collect(),
        owned: cache.owned.clone().unwrap_or_default(),
    };

    let plans = plan_sweep(&policies, &observed);
    let mut outcomes = Vec::new();
    let mut wrote = false;
    for plan in plans {
        let (done, errors) = match mode {
            Mode::Apply => execute(cloudwatch, &plan.actions).await,
            Mode::Plan => (vec![], vec![]),
        };
        wrote |= !done.is_empty();
        outcomes.push((plan, done, errors));
    }
    if wrote {
        // Our own writes change ownership and timestamps: read both afresh next time.
        cache.owned = None;
    }

    // Alarms created or changed now: read them back once for their ARN and state.
    let changed: Vec<String> = outcomes
        .iter()
        .flat_map(|(_, done, _)| done.iter())
        .filter(|a| !matches!(a, Action::Delete { .. }))
        .map(|a| a.alarm_name().to_string())
        .collect();
    let reread: BTreeMap<String, _> = if changed.is_empty() {
        BTreeMap::new()
    } else {
        cloudwatch
            .describe(&changed)
            .await
            .map(|alarms| {
                alarms
                    .into_iter()
                    .map(|a| (a.config.alarm_name.clone(), a))
                    .collect()
            })
            .unwrap_or_default()
    };

    outcomes
        .into_iter()
        .map(|(plan, done, errors)| {
            let status = alarm_policy_status(
                &plan,
                &done,
                &errors,
                Some(&reread),
                &bases[&plan.owner],
                now,
            );
            PolicyOutcome {
                owner: plan.owner.clone(),
                target: target.clone(),
                plan,
                done,
                errors,
                status,
            }
        })
        .collect()
}

/// Carries out `actions` in order. A failed call leaves its alarm as it was and does not stop the
/// others (they are independent alarms).
async fn execute(
    cloudwatch: &CloudWatchAlarms,
    actions: &[Action],
) -> (Vec<Action>, Vec<AwsError>) {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    let mut deletes = Vec::new();
    for action in actions {
        let result = match action {
            Action::Create { alarm } => cloudwatch.put(&alarm.config, Some(&alarm.tags)).await,
            Action::Update { alarm, .. } => cloudwatch.put(&alarm.config, None).await,
            Action::Tag { arn, tags, .. } => cloudwatch.tag(arn, tags).await,
            Action::Untag { arn, keys, .. } => cloudwatch.untag(arn, keys).await,
            Action::Adopt { alarm, arn, drift } => {
                adopt(cloudwatch, alarm, arn, !drift.is_empty()).await
            }
            Action::Delete { alarm_name } => {
                deletes.push(alarm_name.clone());
                continue;
            }
        };
        match result {
            Ok(()) => done.push(action.clone()),
            Err(err) => errors.push(err),
        }
    }
    if !deletes.is_empty() {
        match cloudwatch.delete(&deletes).await {
            Ok(()) => done.extend(
                deletes
                    .into_iter()
                    .map(|alarm_name| Action::Delete { alarm_name }),
            ),
            Err(err) => errors.push(err),
        }
    }
    (done, errors)
}

async fn adopt(
    cloudwatch: &CloudWatchAlarms,
    alarm: &DesiredAlarm,
    arn: &str,
    differs: bool,
) -> Result<(), AwsError> {
    if differs {
        cloudwatch.put(&alarm.config, None).await?;
    }
    cloudwatch.tag(arn, &alarm.tags).await
}

/// Exports what a sweep found and did for one policy.
pub fn record_metrics(outcome: &PolicyOutcome) {
    let metrics = crate::metrics::Metrics::global();
    let found: usize = outcome.plan.alarms.iter().map(|a| a.drift.len()).sum();
    let corrected: usize = outcome
        .done
        .iter()
        .map(|action| match action {
            Action::Update { drift, .. }
            | Action::Tag { drift, .. }
            | Action::Adopt { drift, .. } => drift.len(),
            Action::Untag { keys, .. } => keys.len(),
            Action::Create { .. } | Action::Delete { .. } => 1,
        })
        .sum();
    metrics.drift("AlarmPolicy", found, corrected);
    let mut states: BTreeMap<String, i64> = BTreeMap::new();
    for alarm in &outcome.status.alarms {
        if let Some(state) = &alarm.state {
            *states.entry(state.clone()).or_default() += 1;
        }
    }
    metrics.alarm_states(&outcome.owner, states);
}

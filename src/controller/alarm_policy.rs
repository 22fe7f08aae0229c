//! AlarmPolicy: observe -> plan -> execute -> status, one region at a time, every policy of the
//! region in the same batched reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use super::progress::{Progress, Write};
use super::status::{StatusBase, alarm_policy_status};
use crate::api::alarm_policy::{
    AlarmPolicy, AlarmPolicyStatus, AlarmStatus, AlarmSummary, ManagementPolicy,
};
use crate::api::common::Footprint;
use crate::aws::{AwsClients, AwsError, CloudWatchAlarms, Target};
use crate::plan::alarm::{DesiredAlarm, ObservedAlarm, desired_alarms, effective_prefix, owner};
use crate::plan::health::AlarmState;
use crate::plan::scope::{self, PolicyView, Standing, to_footprint};
use crate::plan::sweep::{
    Action, Observed, Orphan, Orphans, OwnedAlarm, PolicyPlan, RegionInput, plan_sweep,
};

pub use crate::plan::scope::target_of;

/// Whether a sweep writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read and plan only (`dialtone plan`).
    Plan,
    /// Read, plan and execute (`apply`, `run`).
    Apply,
}

/// What one sweep found and did for one policy in one region (or role).
#[derive(Debug, Clone)]
pub struct Executed {
    pub target: Target,
    /// The plan as computed before executing anything.
    pub plan: PolicyPlan,
    /// Actions that were carried out.
    pub done: Vec<Action>,
    /// Calls that failed (the alarms they concern are left as they were).
    pub errors: Vec<AwsError>,
    /// Names to keep in the footprint of this region.
    pub remember: BTreeSet<String>,
}

/// What one sweep found and did for one policy.
#[derive(Debug, Clone)]
pub struct PolicyOutcome {
    /// `<namespace>/<name>`.
    pub owner: String,
    /// Where the policy lives now (for a removed policy: the first region it is cleaned up in).
    pub target: Target,
    /// The plan there, as computed before executing anything.
    pub plan: PolicyPlan,
    /// Actions that were carried out there.
    pub done: Vec<Action>,
    /// Calls that failed, in every region (the alarms they concern are left as they were).
    pub errors: Vec<AwsError>,
    pub status: AlarmPolicyStatus,
    /// Cleanup in the regions (or roles) the policy left.
    pub elsewhere: Vec<Executed>,
    /// Gone from the source, or being deleted: everything it planned is cleanup.
    pub removed: bool,
    /// Where its alarms are after this sweep.
    pub footprint: Vec<Footprint>,
    /// Alarms it created that its last status never showed: new, not drift put back.
    pub new_alarms: BTreeSet<String>,
}

impl PolicyOutcome {
    /// Every action carried out, in every region.
    pub fn all_done(&self) -> impl Iterator<Item = (&Target, &Action)> {
        self.done.iter().map(|a| (&self.target, a)).chain(
            self.elsewhere
                .iter()
                .flat_map(|e| e.done.iter().map(|a| (&e.target, a))),
        )
    }

    /// Every action planned, in every region.
    pub fn all_planned(&self) -> impl Iterator<Item = (&Target, &Action)> {
        std::iter::once((&self.target, &self.plan))
            .chain(self.elsewhere.iter().map(|e| (&e.target, &e.plan)))
            .flat_map(|(t, p)| p.actions.iter().map(move |a| (t, a)))
    }
}

/// What a sweep found in a region besides its policies: orphans, and what `--prune` deleted.
#[derive(Debug, Clone)]
pub struct RegionOutcome {
    pub target: Target,
    pub orphans: Vec<Orphan>,
    /// Orphan deletions planned (`--prune`).
    pub prune: Vec<Action>,
    /// Orphan deletions carried out.
    pub pruned: Vec<Action>,
    pub errors: Vec<AwsError>,
    /// The state of every alarm name read in this sweep (None: it does not exist), after writes
    /// as read back: other kinds' probes use them instead of reading again.
    pub states: BTreeMap<String, Option<AlarmState>>,
}

/// Everything one sweep found and did.
#[derive(Debug, Clone, Default)]
pub struct SweepOutcome {
    pub policies: Vec<PolicyOutcome>,
    pub regions: Vec<RegionOutcome>,
}

/// A policy as the caller knows it: for its status and its outcome.
#[derive(Debug, Clone)]
pub struct Subject {
    pub owner: String,
    /// Where it lives now; None when it is gone or being deleted.
    pub target: Option<Target>,
    pub base: StatusBase,
    /// Its alarms and their counts as last reported: shown (as stale) while its region cannot be
    /// read, instead of "0 alarms".
    pub last: Option<(Vec<AlarmStatus>, Option<AlarmSummary>)>,
}

/// Ownership read once per region and reused while nothing changed, so a steady-state sweep costs
/// only DescribeAlarms: the Tagging API is read again when an alarm is first seen, its
/// configuration timestamp moved, dialtone itself wrote, `OWNERSHIP_MAX_AGE` passed (tag edits
/// by hand do not move the configuration timestamp), or something is to be deleted (deletions are
/// decided on ownership read in the same sweep, never on this cache). One cache per region serves
/// every policy.
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

/// The AlarmPolicy engine shared by `plan`, `apply`, `run --manifests` and the cluster controller.
pub struct AlarmEngine {
    clients: Arc<AwsClients>,
    caches: BTreeMap<Target, OwnershipCache>,
}

/// `<namespace>/<name>` of a policy (namespace `default` when unset).
pub fn owner_of(policy: &AlarmPolicy) -> String {
    owner(
        policy.metadata.namespace.as_deref().unwrap_or("default"),
        policy.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// What a new status of `policy` builds on: its generation and its current conditions.
pub fn status_base(policy: &AlarmPolicy) -> StatusBase {
    StatusBase {
        generation: policy.metadata.generation,
        conditions: policy
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default(),
    }
}

/// The footprint recorded in a policy's status.
pub fn recorded_footprint(policy: &AlarmPolicy) -> &[Footprint] {
    policy
        .status
        .as_ref()
        .map(|s| s.footprint.as_slice())
        .unwrap_or_default()
}

impl AlarmEngine {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Self {
            clients,
            caches: BTreeMap::new(),
        }
    }

    /// Reconciles valid `policies`, each with the footprint in its status: their alarms, and what
    /// they left in regions they moved away from. Orphans are not looked for (the policies need
    /// not be the whole source), and nothing is withheld.
    pub async fn reconcile(
        &mut self,
        policies: &[AlarmPolicy],
        mode: Mode,
        now: Timestamp,
    ) -> Vec<PolicyOutcome> {
        let views: Vec<PolicyView<'_>> = policies
            .iter()
            .map(|policy| PolicyView {
                owner: owner_of(policy),
                standing: Standing::Present(policy),
                footprint: recorded_footprint(policy),
            })
            .collect();
        let subjects: Vec<Subject> = policies
            .iter()
            .map(|policy| Subject {
                owner: owner_of(policy),
                target: Some(target_of(policy)),
                base: status_base(policy),
                last: policy
                    .status
                    .as_ref()
                    .map(|s| (s.alarms.clone(), s.summary.clone())),
            })
            .collect();
        let regions = scope::scope(&views, None, Orphans::Ignore);
        self.sweep(regions, &subjects, mode, now).await.policies
    }

    /// The one deletion path of a policy being deleted: everything it declared, in its region and
    /// every region its footprint names, by the deletion rule (ownership read now). None when there
    /// is nothing to clean up: `deletionPolicy: Retain`, or `managementPolicy: Observe` (a policy
    /// that never writes never deletes).
    pub async fn cleanup(&mut self, policy: &AlarmPolicy, now: Timestamp) -> Option<PolicyOutcome> {
        let owner = owner_of(policy);
        let (namespace, name) = owner.split_once('/').unwrap_or(("default", &owner));
        let prefix = effective_prefix(namespace, name, &policy.spec);
        let here = target_of(policy);
        let mut footprint = recorded_footprint(policy).to_vec();
        footprint.push(Footprint {
            region: here.region,
            role_arn: here.role_arn,
            names: desired_alarms(namespace, name, &policy.spec)
                .into_iter()
                .map(|d| d.config.alarm_name)
                .collect(),
        });
        let view = PolicyView {
            owner: owner.clone(),
            standing: Standing::Gone {
                deletion: policy.spec.deletion_policy,
                manage: policy.spec.management_policy == ManagementPolicy::Manage,
                prefix: Some(&prefix),
            },
            footprint: &footprint,
        };
        let regions = scope::scope(&[view], None, Orphans::Ignore);
        let subject = Subject {
            owner: owner.clone(),
            target: None,
            base: StatusBase::default(),
            last: None,
        };
        self.sweep(regions, &[subject], Mode::Apply, now)
            .await
            .policies
            .into_iter()
            .next()
    }

    /// Sweeps every region of `regions` (one after the other; every policy of a region in the
    /// same batched reads) and returns one outcome per subject that had work, and per region.
    pub async fn sweep(
        &mut self,
        regions: BTreeMap<Target, RegionInput>,
        subjects: &[Subject],
        mode: Mode,
        now: Timestamp,
    ) -> SweepOutcome {
        let mut executed: BTreeMap<String, Vec<Executed>> = BTreeMap::new();
        let mut region_outcomes = Vec::new();
        for (target, input) in regions {
            let cloudwatch = self.clients.cloudwatch(&target).await;
            let cache = self.caches.entry(target.clone()).or_default();
            let (policies, region) = sweep_target(&cloudwatch, cache, &target, &input, mode).await;
            for done in policies {
                executed
                    .entry(done.plan.owner.clone())
                    .or_default()
                    .push(done);
            }
            region_outcomes.push(region);
        }
        let policies = subjects
            .iter()
            .filter_map(|subject| {
                let parts = executed.remove(&subject.owner)?;
                Some(assemble(subject, parts, now))
            })
            .collect();
        SweepOutcome {
            policies,
            regions: region_outcomes,
        }
    }
}

/// One outcome per policy from its parts in every region: the part in its current region carries
/// its alarms; the others are cleanup.
fn assemble(subject: &Subject, mut parts: Vec<Executed>, now: Timestamp) -> PolicyOutcome {
    let index = subject
        .target
        .as_ref()
        .and_then(|t| parts.iter().position(|p| &p.target == t))
        .unwrap_or(0);
    let main = parts.remove(index);
    let errors: Vec<AwsError> = main
        .errors
        .iter()
        .chain(parts.iter().flat_map(|p| &p.errors))
        .cloned()
        .collect();
    let footprint = to_footprint(
        std::iter::once(&main)
            .chain(&parts)
            .map(|p| (p.target.clone(), p.remember.clone()))
            .collect(),
    );
    let mut status = alarm_policy_status(&main.plan, &main.done, &errors, &subject.base, now);
    status.footprint = footprint.clone();
    // Nothing could be read in its region: the alarms as last read, said to be stale.
    let last = subject
        .last
        .as_ref()
        .filter(|(alarms, _)| !alarms.is_empty());
    if main.plan.alarms.is_empty()
        && !main.errors.is_empty()
        && let Some((alarms, summary)) = last
    {
        status.alarms = alarms.clone();
        status.summary = summary.clone();
        for condition in &mut status.conditions {
            if condition.type_ == crate::api::conditions::READY {
                condition.message = format!(
                    "{}; alarms as last read (stale: the region could not be read)",
                    condition.message
                );
            }
        }
    }
    let seen_before: BTreeSet<&str> = subject
        .last
        .iter()
        .flat_map(|(alarms, _)| alarms)
        .filter(|a| a.arn.is_some())
        .map(|a| a.alarm_name.as_str())
        .collect();
    let new_alarms = main
        .done
        .iter()
        .filter_map(|action| match action {
            Action::Create { alarm } if !seen_before.contains(alarm.config.alarm_name.as_str()) => {
                Some(alarm.config.alarm_name.clone())
            }
            _ => None,
        })
        .collect();
    PolicyOutcome {
        new_alarms,
        owner: subject.owner.clone(),
        target: main.target.clone(),
        plan: main.plan,
        done: main.done,
        errors,
        status,
        elsewhere: parts,
        removed: subject.target.is_none(),
        footprint,
    }
}

async fn sweep_target(
    cloudwatch: &CloudWatchAlarms,
    cache: &mut OwnershipCache,
    target: &Target,
    input: &RegionInput,
    mode: Mode,
) -> (Vec<Executed>, RegionOutcome) {
    let failed = |err: AwsError| {
        let policies = input
            .policies
            .iter()
            .map(|p| {
                // Nothing was read: keep every name recorded or declared.
                let remember = p
                    .claim
                    .recorded
                    .iter()
                    .cloned()
                    .chain(p.desired.iter().map(|d| d.config.alarm_name.clone()))
                    .collect();
                Executed {
                    target: target.clone(),
                    plan: PolicyPlan {
                        owner: p.owner.clone(),
                        manage: p.manage,
                        actions: vec![],
                        alarms: vec![],
                        kept: vec![],
                        remember: BTreeSet::new(),
                    },
                    done: vec![],
                    errors: vec![err.clone()],
                    remember,
                }
            })
            .collect();
        let region = RegionOutcome {
            target: target.clone(),
            orphans: vec![],
            prune: vec![],
            pruned: vec![],
            errors: vec![err],
            states: BTreeMap::new(),
        };
        (policies, region)
    };

    let names: Vec<String> = input
        .policies
        .iter()
        .flat_map(|p| p.desired.iter().map(|d| d.config.alarm_name.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let described = match cloudwatch.describe(&names).await {
        Ok(described) => described,
        Err(err) => return failed(err),
    };
    let stale = cache.owned.is_none()
        || cache
            .read_at
            .is_none_or(|at| at.elapsed() >= OWNERSHIP_MAX_AGE)
        || described
            .iter()
            .any(|a| cache.seen.get(&a.config.alarm_name) != Some(&a.config_updated));
    let mut fresh = false;
    if stale {
        if let Err(err) = read_ownership(cloudwatch, cache).await {
            return failed(err);
        }
        fresh = true;
    }
    // Merged, not replaced: other policies of the region keep their entries.
    for alarm in &described {
        cache
            .seen
            .insert(alarm.config.alarm_name.clone(), alarm.config_updated);
    }
    let mut observed = Observed {
        alarms: described
            .into_iter()
            .map(|a| (a.config.alarm_name.clone(), a))
            .collect(),
        // Lent to the plan, not copied (every owned alarm of the region), and given back below.
        owned: cache.owned.take().unwrap_or_default(),
        owned_fresh: fresh,
    };
    let mut plan = plan_sweep(input, &observed);
    if plan.needs_fresh_ownership {
        // Something is to be deleted: decide it on ownership read now.
        if let Err(err) = read_ownership(cloudwatch, cache).await {
            return failed(err);
        }
        observed.owned = cache.owned.take().unwrap_or_default();
        observed.owned_fresh = true;
        plan = plan_sweep(input, &observed);
    }
    cache.owned = Some(std::mem::take(&mut observed.owned));

    let total = plan.policies.iter().map(|p| p.actions.len()).sum::<usize>() + plan.prune.len();
    let mut progress = Progress::new("AlarmPolicy", target, total);
    let mut executed = Vec::new();
    let mut wrote = false;
    for policy_plan in plan.policies {
        let (done, errors) = match mode {
            Mode::Apply => {
                execute(
                    cloudwatch,
                    &policy_plan.owner,
                    &policy_plan.actions,
                    &mut progress,
                )
                .await
            }
            Mode::Plan => (vec![], vec![]),
        };
        wrote |= !done.is_empty();
        let mut remember = policy_plan.remember.clone();
        for action in &done {
            if let Action::Delete { alarm_name } = action {
                remember.remove(alarm_name);
            }
        }
        executed.push(Executed {
            target: target.clone(),
            plan: policy_plan,
            done,
            errors,
            remember,
        });
    }
    let (pruned, prune_errors) = match mode {
        Mode::Apply if !plan.prune.is_empty() => {
            execute(cloudwatch, "orphans", &plan.prune, &mut progress).await
        }
        _ => (vec![], vec![]),
    };
    wrote |= !pruned.is_empty();
    if wrote {
        // Our own writes change ownership and timestamps: read both afresh next time.
        cache.owned = None;
    }

    // Alarms created or changed now: read them back once for their ARN and state.
    let changed: Vec<String> = executed
        .iter()
        .flat_map(|e| e.done.iter())
        .filter(|a| !matches!(a, Action::Delete { .. }))
        .map(|a| a.alarm_name().to_string())
        .collect();
    let mut found = observed.alarms;
    if !changed.is_empty()
        && let Ok(reread) = cloudwatch.describe(&changed).await
    {
        let reread: BTreeMap<String, ObservedAlarm> = reread
            .into_iter()
            .map(|a| (a.config.alarm_name.clone(), a))
            .collect();
        for part in &mut executed {
            refresh(&mut part.plan, &reread);
        }
        found.extend(reread);
    }
    for done in executed.iter().flat_map(|e| &e.done).chain(&pruned) {
        if let Action::Delete { alarm_name } = done {
            found.remove(alarm_name);
        }
    }
    let states = names
        .into_iter()
        .map(|name| {
            let state = found.get(&name).map(AlarmState::from);
            (name, state)
        })
        .collect();
    let region = RegionOutcome {
        target: target.clone(),
        orphans: plan.orphans,
        prune: plan.prune,
        pruned,
        errors: prune_errors,
        states,
    };
    (executed, region)
}

/// ARN and state of alarms read back after a write.
fn refresh(plan: &mut PolicyPlan, reread: &BTreeMap<String, ObservedAlarm>) {
    for alarm in &mut plan.alarms {
        if let Some(fresh) = reread.get(&alarm.alarm_name) {
            alarm.arn = Some(fresh.arn.clone());
            alarm.state = Some(fresh.state.clone());
            alarm.state_reason = fresh.state_reason.clone();
        }
    }
}

async fn read_ownership(
    cloudwatch: &CloudWatchAlarms,
    cache: &mut OwnershipCache,
) -> Result<(), AwsError> {
    cache.owned = Some(cloudwatch.owned().await?);
    cache.read_at = Some(std::time::Instant::now());
    Ok(())
}

/// The write log's line for an alarm action.
fn write_of<'a>(owner: &'a str, action: &'a Action) -> Write<'a> {
    Write {
        owner,
        verb: action.verb(),
        name: action.alarm_name(),
        line: crate::render::done_line(action),
    }
}

/// Carries out `actions` in order. A failed call leaves its alarm as it was and does not stop the
/// others (they are independent alarms), except that an alarm whose untag failed is not re-tagged:
/// its managed-tags record must keep naming the key still on it, so the next sweep removes it.
async fn execute(
    cloudwatch: &CloudWatchAlarms,
    owner: &str,
    actions: &[Action],
    progress: &mut Progress<'_>,
) -> (Vec<Action>, Vec<AwsError>) {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    let mut deletes = Vec::new();
    let mut untag_failed = std::collections::BTreeSet::new();
    for action in actions {
        if let Action::Tag { alarm_name, .. } = action
            && untag_failed.contains(alarm_name)
        {
            continue;
        }
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
        progress.log(write_of(owner, action), &result);
        match result {
            Ok(()) => done.push(action.clone()),
            Err(err) => {
                if let Action::Untag { alarm_name, .. } = action {
                    untag_failed.insert(alarm_name.clone());
                }
                errors.push(err);
            }
        }
    }
    if !deletes.is_empty() {
        let result = cloudwatch.delete(&deletes).await;
        for alarm_name in deletes {
            let action = Action::Delete { alarm_name };
            progress.log(write_of(owner, &action), &result);
            if result.is_ok() {
                done.push(action);
            }
        }
        if let Err(err) = result {
            errors.push(err);
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
    // A new alarm is missing before its creation: that is not drift.
    let found: usize = outcome
        .plan
        .alarms
        .iter()
        .filter(|a| !outcome.new_alarms.contains(&a.alarm_name))
        .map(|a| a.drift.len())
        .sum();
    let corrected: usize = outcome
        .all_done()
        .map(|(_, action)| match action {
            Action::Update { drift, .. }
            | Action::Tag { drift, .. }
            | Action::Adopt { drift, .. } => drift.len(),
            Action::Untag { keys, .. } => keys.len(),
            // A re-created alarm was drift (it vanished); a new one was not.
            Action::Create { alarm } => {
                usize::from(!outcome.new_alarms.contains(&alarm.config.alarm_name))
            }
            Action::Delete { .. } => 1,
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
    let summary = outcome.status.summary.clone().unwrap_or_default();
    let ready =
        crate::api::conditions::find(&outcome.status.conditions, crate::api::conditions::READY)
            .is_some_and(|c| c.status == "True");
    metrics.object(
        "AlarmPolicy",
        &outcome.owner,
        crate::metrics::ObjectHealth {
            ready,
            alarms: Some((
                usize::try_from(summary.drifted).unwrap_or_default(),
                usize::try_from(summary.conflicts).unwrap_or_default(),
            )),
            succeeded: outcome.errors.is_empty(),
        },
    );
}

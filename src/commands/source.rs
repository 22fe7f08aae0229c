//! One manifest path, reconciled: its snapshot, what the state file remembers, the engine, and the
//! last status of every object. `plan`, `apply` and `run --manifests` all sweep through here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::FileOptions;
use super::failover;
use super::gate::{self, Gated, Held};
use crate::api::Object;
use crate::api::alarm_policy::{AlarmPolicy, AlarmPolicyStatus, DeletionPolicy, ManagementPolicy};
use crate::api::common::Footprint;
use crate::api::conditions::{
    CHANGE_HELD, READY, SYNCED, Status, find, set_change_admitted, set_condition,
};
use crate::api::contact_center_region::{ContactCenterRegion, ContactCenterRegionStatus};
use crate::api::failover_plan::FailoverPlanStatus;
use crate::api::maintenance_window::{HeldChange, MaintenanceWindowStatus};
use crate::aws::AwsClients;
use crate::controller::alarm_policy::{
    AlarmEngine, Mode, PolicyOutcome, Subject, SweepOutcome, target_of,
};
use crate::controller::contact_center_region::{self as region, KnownAlarms, ProbeOutcome};
use crate::controller::failover_plan::{FailoverEngine, FailoverOutcome};
use crate::controller::maintenance_window::{
    self as window, MuteEngine, Standing as WindowStanding, WindowOutcome, WindowView,
};
use crate::controller::status::StatusBase;
use crate::plan::gate::Admitted;
use crate::plan::health::Probe;
use crate::plan::scope::{self, PolicyView, Standing};
use crate::plan::sweep::Orphans;
use crate::source::state::{Record, State, StateFile};
use crate::source::{Kind, ObjectKey, Snapshot};
use crate::{ErrorClass, Result};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Everything one sweep found and did, every kind.
#[derive(Debug, Default)]
pub struct Report {
    pub alarms: SweepOutcome,
    pub regions: Vec<ProbeOutcome>,
    pub windows: Vec<WindowOutcome>,
    /// Spec changes that wait for a maintenance window, each with the status of its policy.
    pub held: Vec<(Held, AlarmPolicyStatus)>,
    /// `plan` only: what the held changes would write once they go in.
    pub when_admitted: Vec<PolicyOutcome>,
    pub plans: Vec<FailoverOutcome>,
}

impl Report {
    /// Whether an AWS error of the sweep may go away by trying again (throttling, 5xx, AWS not
    /// reached).
    pub fn retryable(&self) -> bool {
        self.first_retryable().is_some()
    }

    /// The first AWS error of the sweep that may go away by trying again.
    pub fn first_retryable(&self) -> Option<&crate::aws::AwsError> {
        self.alarms
            .policies
            .iter()
            .flat_map(|o| &o.errors)
            .chain(self.alarms.regions.iter().flat_map(|r| &r.errors))
            .chain(self.windows.iter().flat_map(|w| w.aws_errors()))
            .chain(self.plans.iter().flat_map(|p| &p.errors))
            .find(|e| e.class == ErrorClass::Retryable)
    }
}

/// A manifest path and what dialtone keeps about it between sweeps.
pub struct ManifestSource {
    clients: Arc<AwsClients>,
    engine: AlarmEngine,
    options: FileOptions,
    pub state_file: StateFile,
    state: State,
    /// Digest of the state as last read or written: a sweep that changed nothing writes nothing
    /// (a digest, not a copy: the state of 10,000 alarms takes tens of MiB in memory).
    saved: Option<Vec<u8>>,
    policy_statuses: BTreeMap<String, AlarmPolicyStatus>,
    region_statuses: BTreeMap<String, ContactCenterRegionStatus>,
    window_statuses: BTreeMap<String, MaintenanceWindowStatus>,
    plan_statuses: BTreeMap<String, FailoverPlanStatus>,
    mute: MuteEngine,
    failover: FailoverEngine,
    /// The last Connect reads of each region, with the spec and time they were made for.
    probes: BTreeMap<String, (ContactCenterRegion, Timestamp, Probe)>,
    /// Policies whose change was held at the last sweep (to say when they go in).
    held_before: BTreeSet<ObjectKey>,
}

impl ManifestSource {
    /// Opens the state of `path` (a missing state is a fresh start; a corrupt one an error).
    pub fn open(path: &Path, clients: Arc<AwsClients>, options: &FileOptions) -> Result<Self> {
        let state_file = StateFile::locate(options.state.as_deref(), path)?;
        let state = state_file.load()?;
        Ok(Self {
            engine: AlarmEngine::new(clients.clone()),
            mute: MuteEngine::new(clients.clone()),
            failover: FailoverEngine::new(clients.clone()),
            plan_statuses: BTreeMap::new(),
            clients,
            options: options.clone(),
            state_file,
            saved: digest(&state),
            state,
            policy_statuses: BTreeMap::new(),
            region_statuses: BTreeMap::new(),
            window_statuses: BTreeMap::new(),
            probes: BTreeMap::new(),
            held_before: BTreeSet::new(),
        })
    }

    /// One sweep of `snapshot`: AlarmPolicies (with `Mode::Apply`, written, and the state saved
    /// before and after the writes), every ContactCenterRegion probed, then every
    /// MaintenanceWindow's mute rules (which name only alarms that exist: an alarm created in this
    /// sweep joins its rule on the next).
    pub async fn sweep(&mut self, snapshot: &Snapshot, mode: Mode) -> Result<Report> {
        let now = Timestamp::now();
        let gated = gate::decide(snapshot, &self.state, now);
        self.say_gate_changes(&gated, mode);
        if mode == Mode::Apply {
            record_intent(snapshot, &gated, &mut self.state);
            self.save()?;
        }
        let views = views(snapshot, &self.state, &gated);
        let subjects = subjects(&views, &self.policy_statuses);
        let withheld = snapshot.withheld();
        let regions = scope::scope(&views, withheld.as_deref(), self.options.orphans());
        let mut alarms = self.engine.sweep(regions, &subjects, mode, now).await;
        if mode == Mode::Apply {
            record_outcome(snapshot, &alarms, &mut self.state);
            self.save()?;
        }
        let held = mark_held(&gated, &mut alarms, &self.policy_statuses, now);
        for outcome in &alarms.policies {
            if outcome.removed {
                self.policy_statuses.remove(&outcome.owner);
            } else {
                self.policy_statuses
                    .insert(outcome.owner.clone(), outcome.status.clone());
            }
        }
        for (held, status) in &held {
            self.policy_statuses
                .insert(held.key.owner(), status.clone());
        }
        let regions = self.probe_regions(snapshot, &alarms).await;
        let mut windows = self
            .sweep_windows(snapshot, &alarms, withheld.as_deref(), mode)
            .await?;
        list_held_changes(&gated, &mut windows);
        let plans = failover::sweep_plans(
            &self.failover,
            snapshot,
            &regions,
            &mut self.state,
            &mut self.plan_statuses,
            withheld.as_deref(),
            mode,
            now,
        )
        .await;
        if mode == Mode::Apply {
            self.save()?;
        }
        let when_admitted = if mode == Mode::Plan && !gated.held.is_empty() {
            self.plan_held(&gated, now).await
        } else {
            Vec::new()
        };
        Ok(Report {
            alarms,
            regions,
            windows,
            held,
            when_admitted,
            plans,
        })
    }

    /// What the held changes would write once they go in: their declared specs, planned.
    async fn plan_held(&mut self, gated: &Gated<'_>, now: Timestamp) -> Vec<PolicyOutcome> {
        let footprint = |key: &ObjectKey| {
            self.state
                .record(&key.to_string())
                .map(|r| r.footprint.clone())
                .unwrap_or_default()
        };
        let footprints: Vec<Vec<Footprint>> =
            gated.held.iter().map(|h| footprint(&h.key)).collect();
        let views: Vec<PolicyView<'_>> = gated
            .held
            .iter()
            .zip(&footprints)
            .map(|(held, footprint)| PolicyView {
                owner: held.key.owner(),
                standing: Standing::Present(&held.declared),
                footprint,
            })
            .collect();
        let subjects = subjects(&views, &BTreeMap::new());
        let regions = scope::scope(&views, None, Orphans::Ignore);
        self.engine
            .sweep(regions, &subjects, Mode::Plan, now)
            .await
            .policies
    }

    /// The next instant a window opens or closes (when held changes go in, rules change).
    pub fn next_boundary(report: &Report) -> Option<Timestamp> {
        report
            .windows
            .iter()
            .flat_map(|w| {
                let status = &w.status;
                status
                    .current_window
                    .iter()
                    .map(|c| c.end.0)
                    .chain(status.next_window.iter().map(|n| n.start.0))
            })
            .min()
    }

    /// Says, once, when a change starts to wait and when it goes in (and why).
    fn say_gate_changes(&mut self, gated: &Gated<'_>, mode: Mode) {
        if mode != Mode::Apply {
            return;
        }
        for held in &gated.held {
            if !self.held_before.contains(&held.key) {
                tracing::info!(
                    event = "ChangeHeld", object = %held.key, window = %held.window,
                    "ChangeHeld: {}: {}", held.key, gate::held_message(held)
                );
            }
        }
        for (key, why) in &gated.admitted {
            match why {
                Admitted::Emergency { reason } => tracing::warn!(
                    event = "EmergencyChange", object = %key, reason = %reason,
                    "EmergencyChange: {key}: let in now, outside any maintenance window: {reason}"
                ),
                Admitted::WindowOpen { window } => tracing::info!(
                    event = "ChangeAdmitted", object = %key, window = %window,
                    "ChangeAdmitted: {key}: MaintenanceWindow {window} is open, the change goes in"
                ),
                _ => {}
            }
        }
        self.held_before = gated.held.iter().map(|h| h.key.clone()).collect();
    }

    async fn sweep_windows(
        &mut self,
        snapshot: &Snapshot,
        alarms: &SweepOutcome,
        withheld: Option<&str>,
        mode: Mode,
    ) -> Result<Vec<WindowOutcome>> {
        let policies: Vec<&AlarmPolicy> = snapshot.alarm_policies().collect();
        let known: KnownAlarms = alarms
            .regions
            .iter()
            .map(|r| (r.target.clone(), r.states.clone()))
            .collect();
        let views = window_views(snapshot, &self.state);
        let outcomes = self
            .mute
            .sweep(
                &views,
                &policies,
                &known,
                withheld,
                mode,
                &self.window_statuses,
                Timestamp::now(),
            )
            .await;
        if mode == Mode::Apply {
            for outcome in &outcomes {
                let (namespace, name) = outcome
                    .owner
                    .split_once('/')
                    .unwrap_or(("default", &outcome.owner));
                let key = ObjectKey::new(Kind::MaintenanceWindow, namespace, name).to_string();
                if let Some(record) = self.state.objects.get_mut(&key) {
                    record.footprint = outcome.footprint.clone();
                }
            }
            forget_cleaned_up(snapshot, &mut self.state);
            self.save()?;
        }
        for outcome in &outcomes {
            if outcome.removed {
                self.window_statuses.remove(&outcome.owner);
            } else {
                self.window_statuses
                    .insert(outcome.owner.clone(), outcome.status.clone());
            }
        }
        Ok(outcomes)
    }

    async fn probe_regions(
        &mut self,
        snapshot: &Snapshot,
        alarms: &SweepOutcome,
    ) -> Vec<ProbeOutcome> {
        let now = Timestamp::now();
        let policies: Vec<&AlarmPolicy> = snapshot.alarm_policies().collect();
        let regions: Vec<&ContactCenterRegion> = snapshot
            .objects
            .values()
            .filter_map(|(_, object)| match object {
                Object::ContactCenterRegion(region) => Some(region),
                _ => None,
            })
            .collect();
        let known: KnownAlarms = alarms
            .regions
            .iter()
            .map(|r| (r.target.clone(), r.states.clone()))
            .collect();
        let inputs: Vec<(&ContactCenterRegion, Option<&Probe>)> = regions
            .iter()
            .map(|r| {
                let earlier =
                    self.probes
                        .get(&region::owner_of(r))
                        .and_then(|(spec, at, probe)| {
                            let fresh = now.duration_since(*at).unsigned_abs()
                                < region::probe_interval(r).min(Duration::from_secs(3600));
                            (spec.spec == r.spec && fresh).then_some(probe)
                        });
                (*r, earlier)
            })
            .collect();
        let outcomes = region::reconcile(
            &self.clients,
            &inputs,
            &policies,
            &known,
            &self.region_statuses,
            now,
        )
        .await;
        let reused: Vec<bool> = inputs.iter().map(|(_, e)| e.is_some()).collect();
        for ((region, reused), outcome) in regions.iter().zip(reused).zip(&outcomes) {
            if !reused {
                self.probes.insert(
                    outcome.owner.clone(),
                    ((*region).clone(), now, outcome.probe.clone()),
                );
            }
            self.region_statuses
                .insert(outcome.owner.clone(), outcome.status.clone());
        }
        let present: Vec<String> = regions.iter().map(|r| region::owner_of(r)).collect();
        self.probes.retain(|owner, _| present.contains(owner));
        self.region_statuses
            .retain(|owner, _| present.contains(owner));
        outcomes
    }

    fn save(&mut self) -> Result<()> {
        let now = digest(&self.state);
        if now.is_none() || now != self.saved {
            self.state_file.save(&self.state)?;
            self.saved = now;
        }
        Ok(())
    }

    /// The last status of an AlarmPolicy, by owner.
    pub fn set_policy_status(&mut self, owner: &str, status: AlarmPolicyStatus) {
        self.policy_statuses.insert(owner.to_string(), status);
    }
}

/// SHA-256 of the state's JSON (None if it does not serialize, which then counts as changed).
fn digest(state: &State) -> Option<Vec<u8>> {
    use sha2::{Digest, Sha256};
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hashing = Hashing(Sha256::new());
    serde_json::to_writer(&mut hashing, state).ok()?;
    Some(hashing.0.finalize().to_vec())
}

/// Every AlarmPolicy the source or the state knows, as a sweep sees it: present (valid),
/// untouchable (invalid, declared twice, or removed but retained), or gone (removed from the
/// source; the state remembers where its alarms are).
fn views<'a>(
    snapshot: &'a Snapshot,
    state: &'a State,
    gated: &'a Gated<'_>,
) -> Vec<PolicyView<'a>> {
    let footprint = |key: &ObjectKey| {
        state
            .record(&key.to_string())
            .map(|r| r.footprint.as_slice())
            .unwrap_or_default()
    };
    let mut views = Vec::new();
    for (key, policy) in &gated.effective {
        views.push(PolicyView {
            owner: key.owner(),
            standing: Standing::Present(policy),
            footprint: footprint(key),
        });
    }
    // A new policy whose creation waits for a window: nothing of it is written or deleted.
    for held in gated.held.iter().filter(|h| !h.enforcing_admitted) {
        views.push(PolicyView {
            owner: held.key.owner(),
            standing: Standing::Untouchable,
            footprint: footprint(&held.key),
        });
    }
    for key in snapshot.unusable().filter(|k| k.kind == Kind::AlarmPolicy) {
        views.push(PolicyView {
            owner: key.owner(),
            standing: Standing::Untouchable,
            footprint: footprint(key),
        });
    }
    for (text, record) in &state.objects {
        let Some(key) = ObjectKey::parse(text) else {
            continue;
        };
        if key.kind != Kind::AlarmPolicy || snapshot.declares(&key) {
            continue;
        }
        let standing = if record.retained {
            Standing::Untouchable
        } else {
            Standing::Gone {
                deletion: record.deletion_policy,
                manage: record.management_policy == ManagementPolicy::Manage,
                prefix: None,
            }
        };
        views.push(PolicyView {
            owner: key.owner(),
            standing,
            footprint: &record.footprint,
        });
    }
    views
}

/// Every MaintenanceWindow the source or the state knows, as a sweep sees it. A window gone from
/// the source takes its rules with it (deleting a rule unmutes its alarms at once).
fn window_views<'a>(snapshot: &'a Snapshot, state: &'a State) -> Vec<WindowView<'a>> {
    let footprint = |key: &ObjectKey| {
        state
            .record(&key.to_string())
            .map(|r| r.footprint.as_slice())
            .unwrap_or_default()
    };
    let mut views = Vec::new();
    for (key, (_, object)) in &snapshot.objects {
        if let Object::MaintenanceWindow(window) = object {
            views.push(WindowView {
                owner: key.owner(),
                standing: WindowStanding::Present(window),
                footprint: footprint(key),
            });
        }
    }
    for key in snapshot
        .unusable()
        .filter(|k| k.kind == Kind::MaintenanceWindow)
    {
        views.push(WindowView {
            owner: key.owner(),
            standing: WindowStanding::Untouchable,
            footprint: footprint(key),
        });
    }
    for (text, record) in &state.objects {
        let Some(key) = ObjectKey::parse(text) else {
            continue;
        };
        if key.kind == Kind::MaintenanceWindow && !snapshot.declares(&key) {
            views.push(WindowView {
                owner: key.owner(),
                standing: WindowStanding::Gone,
                footprint: &record.footprint,
            });
        }
    }
    views
}

/// What the status of each planned policy builds on: its generation and its last conditions.
fn subjects(
    views: &[PolicyView<'_>],
    statuses: &BTreeMap<String, AlarmPolicyStatus>,
) -> Vec<Subject> {
    views
        .iter()
        .filter_map(|view| {
            let (target, generation) = match view.standing {
                Standing::Present(policy) => (Some(target_of(policy)), policy.metadata.generation),
                Standing::Gone { .. } => (None, None),
                Standing::Untouchable => return None,
            };
            let last = statuses.get(&view.owner);
            let conditions = last.map(|s| s.conditions.clone()).unwrap_or_default();
            Some(Subject {
                owner: view.owner.clone(),
                target,
                base: StatusBase {
                    generation,
                    conditions,
                },
                last: last.map(|s| (s.alarms.clone(), s.summary.clone())),
            })
        })
        .collect()
}

/// Before anything is written: every present policy's record, with the names it is about to
/// write added to its footprint (a crash mid-apply must leave them findable), and removed
/// policies that keep their alarms marked as retained.
fn record_intent(snapshot: &Snapshot, gated: &Gated<'_>, state: &mut State) {
    for policy in gated.effective.values() {
        let owner = crate::controller::alarm_policy::owner_of(policy);
        let key = ObjectKey::new(
            Kind::AlarmPolicy,
            policy.metadata.namespace.as_deref().unwrap_or("default"),
            policy.metadata.name.as_deref().unwrap_or_default(),
        )
        .to_string();
        // Taken out, not cloned: the record is replaced below.
        let previous = state.objects.remove(&key).unwrap_or_default();
        let admitted = if gated.admitted.iter().any(|(k, _)| k.to_string() == key) {
            serde_json::to_value(&policy.spec).ok()
        } else {
            previous.admitted
        };
        state.objects.insert(
            key,
            Record {
                management_policy: policy.spec.management_policy,
                deletion_policy: policy.spec.deletion_policy,
                footprint: scope::footprint_before(policy, &owner, &previous.footprint),
                retained: false,
                admitted,
                ..Record::default()
            },
        );
    }
    let policies: Vec<&AlarmPolicy> = snapshot.alarm_policies().collect();
    for (key, (_, object)) in &snapshot.objects {
        if let Object::MaintenanceWindow(window) = object {
            let key = key.to_string();
            let previous = state.objects.get(&key).cloned().unwrap_or_default();
            state.objects.insert(
                key,
                Record {
                    footprint: window::footprint_before(window, &policies, &previous.footprint),
                    ..Record::default()
                },
            );
        }
    }
    for (text, record) in state.objects.iter_mut() {
        let gone = ObjectKey::parse(text)
            .is_some_and(|key| key.kind == Kind::AlarmPolicy && !snapshot.declares(&key));
        if gone
            && (record.deletion_policy == DeletionPolicy::Retain
                || record.management_policy == ManagementPolicy::Observe)
        {
            record.retained = true;
        }
    }
}

/// After a sweep: footprints as the sweep left them; a policy gone from the source is forgotten
/// once nothing of it is left.
fn record_outcome(snapshot: &Snapshot, sweep: &SweepOutcome, state: &mut State) {
    for outcome in &sweep.policies {
        let (namespace, name) = outcome
            .owner
            .split_once('/')
            .unwrap_or(("default", &outcome.owner));
        let key = ObjectKey::new(Kind::AlarmPolicy, namespace, name).to_string();
        // A region that could not be read keeps every name it had (the engine says so).
        if let Some(record) = state.objects.get_mut(&key) {
            record.footprint = outcome.footprint.clone();
        }
    }
    forget_cleaned_up(snapshot, state);
}

/// Forgets objects gone from the source once nothing of them is left in AWS.
/// Condition `ChangeHeld` on every gated policy: True with the window and when it opens for a
/// held change (and, for a new policy that writes nothing yet, its whole status), False when the
/// declared spec is in effect. Returns the held changes with their statuses.
fn mark_held(
    gated: &Gated<'_>,
    alarms: &mut SweepOutcome,
    previous: &BTreeMap<String, AlarmPolicyStatus>,
    now: Timestamp,
) -> Vec<(Held, AlarmPolicyStatus)> {
    let mut held_statuses = Vec::new();
    for outcome in alarms.policies.iter_mut().filter(|o| !o.removed) {
        let (namespace, name) = outcome
            .owner
            .split_once('/')
            .unwrap_or(("default", &outcome.owner));
        let key = ObjectKey::new(Kind::AlarmPolicy, namespace, name);
        let conditions = &mut outcome.status.conditions;
        match gated.held(&key) {
            Some(held) => {
                set_condition(
                    conditions,
                    CHANGE_HELD,
                    Status::True,
                    "WaitingForWindow",
                    gate::held_message(held),
                    None,
                    now,
                );
                held_statuses.push((held.clone(), outcome.status.clone()));
            }
            None if gated.gated.contains(&key) || find(conditions, CHANGE_HELD).is_some() => {
                set_change_admitted(conditions, None, now)
            }
            None => {}
        }
    }
    for held in gated.held.iter().filter(|h| !h.enforcing_admitted) {
        let mut conditions = previous
            .get(&held.key.owner())
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        let message = gate::held_message(held);
        for (type_, status, reason) in [
            (CHANGE_HELD, Status::True, "WaitingForWindow"),
            (READY, Status::False, "ChangeHeld"),
            (SYNCED, Status::False, "ChangeHeld"),
        ] {
            set_condition(&mut conditions, type_, status, reason, &message, None, now);
        }
        let status = AlarmPolicyStatus {
            conditions,
            ..AlarmPolicyStatus::default()
        };
        held_statuses.push((held.clone(), status));
    }
    held_statuses
}

/// Each gating window lists the changes it holds.
fn list_held_changes(gated: &Gated<'_>, windows: &mut [WindowOutcome]) {
    for window in windows.iter_mut() {
        let held: Vec<HeldChange> = gated
            .held
            .iter()
            .filter(|h| h.window == window.owner)
            .map(|h| HeldChange {
                kind: h.key.kind.to_string(),
                name: h.key.name.clone(),
                generation: h.declared.metadata.generation.unwrap_or(0),
                held_until: h.opens.map(Time),
            })
            .collect();
        window.status.held_change_count = i32::try_from(held.len()).unwrap_or(i32::MAX);
        window.status.held_changes = held;
    }
}

fn forget_cleaned_up(snapshot: &Snapshot, state: &mut State) {
    state.objects.retain(|text, record| {
        let gone = ObjectKey::parse(text).is_some_and(|key| !snapshot.declares(&key));
        !(gone && !record.retained && record.footprint.iter().all(|f| f.names.is_empty()))
    });
}

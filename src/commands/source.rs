//! One manifest path, reconciled: its snapshot, what the state file remembers, the engine, and the
//! last status of every object. `plan`, `apply` and `run --manifests` all sweep through here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::FileOptions;
use crate::api::Object;
use crate::api::alarm_policy::{AlarmPolicy, AlarmPolicyStatus, DeletionPolicy, ManagementPolicy};
use crate::api::contact_center_region::{ContactCenterRegion, ContactCenterRegionStatus};
use crate::api::maintenance_window::MaintenanceWindowStatus;
use crate::aws::AwsClients;
use crate::controller::alarm_policy::{AlarmEngine, Mode, Subject, SweepOutcome, target_of};
use crate::controller::contact_center_region::{self as region, KnownAlarms, ProbeOutcome};
use crate::controller::maintenance_window::{
    self as window, MuteEngine, Standing as WindowStanding, WindowOutcome, WindowView,
};
use crate::controller::status::StatusBase;
use crate::plan::health::Probe;
use crate::plan::scope::{self, PolicyView, Standing};
use crate::source::state::{Record, State, StateFile};
use crate::source::{Kind, ObjectKey, Snapshot};
use crate::{ErrorClass, Result};

/// Everything one sweep found and did, every kind.
#[derive(Debug, Default)]
pub struct Report {
    pub alarms: SweepOutcome,
    pub regions: Vec<ProbeOutcome>,
    pub windows: Vec<WindowOutcome>,
}

impl Report {
    /// Whether an AWS error of the sweep may go away by trying again (throttling, 5xx).
    pub fn retryable(&self) -> bool {
        self.alarms
            .policies
            .iter()
            .flat_map(|o| &o.errors)
            .chain(self.alarms.regions.iter().flat_map(|r| &r.errors))
            .chain(self.windows.iter().flat_map(|w| w.aws_errors()))
            .any(|e| e.class == ErrorClass::Retryable)
    }
}

/// A manifest path and what dialtone keeps about it between sweeps.
pub struct ManifestSource {
    clients: Arc<AwsClients>,
    engine: AlarmEngine,
    options: FileOptions,
    pub state_file: StateFile,
    state: State,
    saved: State,
    policy_statuses: BTreeMap<String, AlarmPolicyStatus>,
    region_statuses: BTreeMap<String, ContactCenterRegionStatus>,
    window_statuses: BTreeMap<String, MaintenanceWindowStatus>,
    mute: MuteEngine,
    /// The last Connect reads of each region, with the spec and time they were made for.
    probes: BTreeMap<String, (ContactCenterRegion, Timestamp, Probe)>,
}

impl ManifestSource {
    /// Opens the state of `path` (a missing state is a fresh start; a corrupt one an error).
    pub fn open(path: &Path, clients: Arc<AwsClients>, options: &FileOptions) -> Result<Self> {
        let state_file = StateFile::locate(options.state.as_deref(), path)?;
        let state = state_file.load()?;
        Ok(Self {
            engine: AlarmEngine::new(clients.clone()),
            mute: MuteEngine::new(clients.clone()),
            clients,
            options: options.clone(),
            state_file,
            saved: state.clone(),
            state,
            policy_statuses: BTreeMap::new(),
            region_statuses: BTreeMap::new(),
            window_statuses: BTreeMap::new(),
            probes: BTreeMap::new(),
        })
    }

    /// One sweep of `snapshot`: AlarmPolicies (with `Mode::Apply`, written, and the state saved
    /// before and after the writes), every ContactCenterRegion probed, then every
    /// MaintenanceWindow's mute rules (which name only alarms that exist: an alarm created in this
    /// sweep joins its rule on the next).
    pub async fn sweep(&mut self, snapshot: &Snapshot, mode: Mode) -> Result<Report> {
        if mode == Mode::Apply {
            record_intent(snapshot, &mut self.state);
            self.save()?;
        }
        let views = views(snapshot, &self.state);
        let subjects = subjects(&views, &self.policy_statuses);
        let withheld = snapshot.withheld();
        let regions = scope::scope(&views, withheld.as_deref(), self.options.orphans());
        let alarms = self
            .engine
            .sweep(regions, &subjects, mode, Timestamp::now())
            .await;
        if mode == Mode::Apply {
            record_outcome(snapshot, &alarms, &mut self.state);
            self.save()?;
        }
        for outcome in &alarms.policies {
            if outcome.removed {
                self.policy_statuses.remove(&outcome.owner);
            } else {
                self.policy_statuses
                    .insert(outcome.owner.clone(), outcome.status.clone());
            }
        }
        let regions = self.probe_regions(snapshot, &alarms).await;
        let windows = self
            .sweep_windows(snapshot, &alarms, withheld.as_deref(), mode)
            .await?;
        Ok(Report {
            alarms,
            regions,
            windows,
        })
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
        if self.state != self.saved {
            self.state_file.save(&self.state)?;
            self.saved = self.state.clone();
        }
        Ok(())
    }

    /// The last status of an AlarmPolicy, by owner.
    pub fn set_policy_status(&mut self, owner: &str, status: AlarmPolicyStatus) {
        self.policy_statuses.insert(owner.to_string(), status);
    }
}

/// Every AlarmPolicy the source or the state knows, as a sweep sees it: present (valid),
/// untouchable (invalid, declared twice, or removed but retained), or gone (removed from the
/// source; the state remembers where its alarms are).
fn views<'a>(snapshot: &'a Snapshot, state: &'a State) -> Vec<PolicyView<'a>> {
    let footprint = |key: &ObjectKey| {
        state
            .record(&key.to_string())
            .map(|r| r.footprint.as_slice())
            .unwrap_or_default()
    };
    let mut views = Vec::new();
    for (key, (_, object)) in &snapshot.objects {
        if let Object::AlarmPolicy(policy) = object {
            views.push(PolicyView {
                owner: key.owner(),
                standing: Standing::Present(policy),
                footprint: footprint(key),
            });
        }
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
            let conditions = statuses
                .get(&view.owner)
                .map(|s| s.conditions.clone())
                .unwrap_or_default();
            Some(Subject {
                owner: view.owner.clone(),
                target,
                base: StatusBase {
                    generation,
                    conditions,
                },
            })
        })
        .collect()
}

/// Before anything is written: every present policy's record, with the names it is about to
/// write added to its footprint (a crash mid-apply must leave them findable), and removed
/// policies that keep their alarms marked as retained.
fn record_intent(snapshot: &Snapshot, state: &mut State) {
    for policy in snapshot.alarm_policies() {
        let owner = crate::controller::alarm_policy::owner_of(policy);
        let key = ObjectKey::new(
            Kind::AlarmPolicy,
            policy.metadata.namespace.as_deref().unwrap_or("default"),
            policy.metadata.name.as_deref().unwrap_or_default(),
        )
        .to_string();
        let previous = state.objects.get(&key).cloned().unwrap_or_default();
        state.objects.insert(
            key,
            Record {
                management_policy: policy.spec.management_policy,
                deletion_policy: policy.spec.deletion_policy,
                footprint: scope::footprint_before(policy, &owner, &previous.footprint),
                retained: false,
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
fn forget_cleaned_up(snapshot: &Snapshot, state: &mut State) {
    state.objects.retain(|text, record| {
        let gone = ObjectKey::parse(text).is_some_and(|key| !snapshot.declares(&key));
        !(gone && !record.retained && record.footprint.iter().all(|f| f.names.is_empty()))
    });
}

//! Each kind in a cluster, on the shared harness: AlarmPolicy (owns alarms: finalizer, cleanup),
//! ContactCenterRegion (read-only: no finalizer; health from its probe and from the selected
//! policies' statuses in the informer store), MaintenanceWindow (owns mute rules: finalizer;
//! wakes at its window boundaries) and FailoverPlan (owns its lever alarm and Route 53 records and
//! health checks: finalizer; see `failover_plans`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::{ObjectRef, Store};

use super::alarm_policy::Mode;
use super::contact_center_region::{self as region, KnownAlarms};
use super::harness::{Applied, Note, ReconcileError, Reconciler};
use super::status::{StatusBase, invalid_status};
use crate::api::Object;
use crate::api::alarm_policy::AlarmPolicy;
use crate::api::contact_center_region::{ContactCenterRegion, ContactCenterRegionStatus, Health};
use crate::api::maintenance_window::{HeldChange, MaintenanceWindow, MaintenanceWindowStatus};
use crate::aws::AwsClients;
use crate::controller::maintenance_window::{
    GateWindow, MuteEngine, Standing as WindowStanding, WindowView, gate_windows, gates_of,
};
use crate::plan::health::{AlarmState, Probe};
use crate::plan::mute::MuteAction;
use crate::plan::schedule::Schedule;
use crate::plan::scope::target_of;
use crate::validate::InvalidSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub use super::harness::{FIELD_MANAGER, FINALIZER, error_policy, reconcile};
pub use alarm_policies::{AlarmPolicies, Context};
use alarm_policies::{Gating, gating};
pub use failover_plans::{FailoverPlans, PlanContextOf, plan_resource};

mod alarm_policies;
mod failover_plans;

/// The AlarmPolicy resource, for untyped APIs.
pub fn resource() -> ApiResource {
    ApiResource::erase::<AlarmPolicy>(&())
}

/// The ContactCenterRegion resource, for untyped APIs.
pub fn region_resource() -> ApiResource {
    ApiResource::erase::<ContactCenterRegion>(&())
}

/// The valid windows of a store that gate AlarmPolicies.
pub(super) fn gate_windows_in(store: &Store<DynamicObject>) -> Vec<GateWindow> {
    let windows: Vec<MaintenanceWindow> = store
        .state()
        .iter()
        .filter(|w| w.metadata.deletion_timestamp.is_none())
        .filter_map(|w| typed_window(w))
        .collect();
    let refs: Vec<&MaintenanceWindow> = windows.iter().collect();
    gate_windows(&refs)
}

/// How long until `at` (and a second past it), if it lies ahead.
pub(super) fn until(at: Option<Timestamp>, now: Timestamp) -> Option<std::time::Duration> {
    at.map(|at| at.duration_since(now).unsigned_abs() + std::time::Duration::from_secs(1))
}

/// ContactCenterRegions in a cluster: probes with the shared AWS clients; the selected policies
/// (and their alarm states) come from the AlarmPolicy informer store, never from an extra call.
pub struct Regions {
    clients: std::sync::Arc<AwsClients>,
    policies: Store<DynamicObject>,
    /// The last Connect reads of each region, with the spec and time they were made for: a
    /// reconcile woken by a policy's alarm change before the probe interval passed reuses them.
    probes: Mutex<BTreeMap<String, (ContactCenterRegion, Timestamp, Probe)>>,
}

impl Regions {
    pub fn new(clients: std::sync::Arc<AwsClients>, policies: Store<DynamicObject>) -> Self {
        Self {
            clients,
            policies,
            probes: Mutex::new(BTreeMap::new()),
        }
    }

    /// The valid AlarmPolicies in the store.
    fn policies(&self) -> Vec<AlarmPolicy> {
        policies_in(&self.policies)
    }
}

/// The ContactCenterRegion harness context.
pub type RegionContext = super::harness::Context<Regions>;

/// The alarm states the selected policies' statuses already hold (when a status describes its
/// policy's current generation): a region reads only what they do not.
fn known_from_statuses(policies: &[&AlarmPolicy]) -> KnownAlarms {
    let mut known = KnownAlarms::new();
    for policy in policies {
        let Some(status) = &policy.status else {
            continue;
        };
        if status.observed_generation != policy.metadata.generation || status.alarms.is_empty() {
            continue;
        }
        let states = known.entry(target_of(policy)).or_default();
        for alarm in &status.alarms {
            if alarm.conflict.is_some() {
                continue;
            }
            states.insert(
                alarm.alarm_name.clone(),
                alarm.state.as_ref().map(|state| AlarmState {
                    state: state.clone(),
                    reason: alarm.state_reason.clone(),
                    since: None,
                }),
            );
        }
    }
    known
}

impl Reconciler for Regions {
    const KIND: &'static str = "ContactCenterRegion";
    const OWNS_AWS_RESOURCES: bool = false;
    type Object = ContactCenterRegion;
    type Status = ContactCenterRegionStatus;

    fn resource() -> ApiResource {
        region_resource()
    }

    fn typed(object: Object) -> Option<ContactCenterRegion> {
        match object {
            Object::ContactCenterRegion(region) => Some(region),
            _ => None,
        }
    }

    fn invalid_status(
        invalid: &InvalidSpec,
        base: &StatusBase,
        now: Timestamp,
    ) -> ContactCenterRegionStatus {
        let generic = invalid_status(invalid, base, now);
        ContactCenterRegionStatus {
            observed_generation: generic.observed_generation,
            conditions: generic.conditions,
            ..ContactCenterRegionStatus::default()
        }
    }

    fn conditions(status: &ContactCenterRegionStatus) -> &[Condition] {
        &status.conditions
    }

    async fn apply(
        &self,
        region: ContactCenterRegion,
        previous: Option<ContactCenterRegionStatus>,
        _base: StatusBase,
    ) -> Applied<ContactCenterRegionStatus> {
        let now = Timestamp::now();
        let owner = region::owner_of(&region);
        let interval = region::probe_interval(&region);
        let earlier = self
            .probes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&owner)
            .filter(|(spec, at, _)| {
                spec.spec == region.spec && now.duration_since(*at).unsigned_abs() < interval
            })
            .map(|(_, _, probe)| probe.clone());
        let policies = self.policies();
        let selected: Vec<&AlarmPolicy> = policies
            .iter()
            .filter(|p| region::selects(&region, p))
            .collect();
        let known = known_from_statuses(&selected);
        let previous_map: BTreeMap<String, ContactCenterRegionStatus> = previous
            .clone()
            .map(|s| (owner.clone(), s))
            .into_iter()
            .collect();
        let outcome = region::reconcile(
            &self.clients,
            &[(&region, earlier.as_ref())],
            &selected,
            &known,
            &previous_map,
            now,
        )
        .await
        .into_iter()
        .next();
        let Some(outcome) = outcome else {
            return Applied {
                status: previous.unwrap_or_default(),
                notes: Vec::new(),
                error: None,
                requeue: Some(interval),
            };
        };
        if earlier.is_none() {
            self.probes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(owner, (region.clone(), now, outcome.probe.clone()));
        }
        region::record_metrics(&outcome);
        let mut notes = Vec::new();
        let before = previous.and_then(|s| s.health);
        let after = outcome.assessment.health;
        if before.is_some_and(|b| b != after) || (before.is_none() && after != Health::Healthy) {
            let message = format!(
                "{} -> {after:?}: {}",
                before
                    .map(|b| format!("{b:?}"))
                    .unwrap_or_else(|| "new".into()),
                outcome.assessment.reason
            );
            let warning = matches!(after, Health::Unhealthy | Health::Unknown);
            notes.push(if warning {
                Note::warning("HealthChanged", message)
            } else {
                Note::normal("HealthChanged", message)
            });
        }
        Applied {
            status: outcome.status,
            notes,
            error: None,
            requeue: Some(interval),
        }
    }

    async fn cleanup(&self, _object: &DynamicObject) -> Result<Vec<Note>, ReconcileError> {
        Ok(Vec::new())
    }
}

/// MaintenanceWindows in a cluster: their mute rules (finalizer: deleting a window deletes its
/// rules), the alarms they mute from the AlarmPolicy store, a reconcile at every window boundary.
pub struct Windows {
    engine: tokio::sync::Mutex<MuteEngine>,
    policies: Store<DynamicObject>,
    /// Every window: a held change waits for the gate that opens first, not always this one.
    windows: Store<DynamicObject>,
}

impl Windows {
    pub fn new(
        clients: std::sync::Arc<AwsClients>,
        policies: Store<DynamicObject>,
        windows: Store<DynamicObject>,
    ) -> Self {
        Self {
            engine: tokio::sync::Mutex::new(MuteEngine::new(clients)),
            policies,
            windows,
        }
    }

    /// The changes held for the window `owner`: gated policies whose change waits for it.
    fn held_changes(
        &self,
        owner: &str,
        policies: &[AlarmPolicy],
        now: Timestamp,
    ) -> Vec<HeldChange> {
        let windows = gate_windows_in(&self.windows);
        policies
            .iter()
            .filter_map(
                |policy| match gating(policy, policy.status.as_ref(), &windows, now) {
                    Gating::Held { window, opens, .. } if window == owner => Some(HeldChange {
                        kind: "AlarmPolicy".into(),
                        name: policy.metadata.name.clone().unwrap_or_default(),
                        generation: policy.metadata.generation.unwrap_or(0),
                        held_until: opens.map(Time),
                    }),
                    _ => None,
                },
            )
            .collect()
    }
}

/// The MaintenanceWindow harness context.
pub type WindowContext = super::harness::Context<Windows>;

/// The MaintenanceWindow resource, for untyped APIs.
pub fn window_resource() -> ApiResource {
    ApiResource::erase::<MaintenanceWindow>(&())
}

/// A window's object, with its status (the footprint of its rules) read as far as it deserializes.
pub(super) fn typed_window(object: &DynamicObject) -> Option<MaintenanceWindow> {
    typed_from(object, |window: &mut MaintenanceWindow| &mut window.status)
}

/// An object of a store as its kind, with its status read as far as it deserializes (a status
/// that does not costs only the status).
fn typed_from<T, S>(
    object: &DynamicObject,
    status_of: impl FnOnce(&mut T) -> &mut Option<S>,
) -> Option<T>
where
    T: serde::de::DeserializeOwned,
    S: serde::de::DeserializeOwned,
{
    let value = serde_json::to_value(object).ok()?;
    let status = value
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok());
    let mut typed: T = serde_json::from_value(without_status(value)).ok()?;
    *status_of(&mut typed) = status;
    Some(typed)
}

impl Reconciler for Windows {
    const KIND: &'static str = "MaintenanceWindow";
    const OWNS_AWS_RESOURCES: bool = true;
    type Object = MaintenanceWindow;
    type Status = MaintenanceWindowStatus;

    fn resource() -> ApiResource {
        window_resource()
    }

    fn typed(object: Object) -> Option<MaintenanceWindow> {
        match object {
            Object::MaintenanceWindow(window) => Some(window),
            _ => None,
        }
    }

    fn invalid_status(
        invalid: &InvalidSpec,
        base: &StatusBase,
        now: Timestamp,
    ) -> MaintenanceWindowStatus {
        let generic = invalid_status(invalid, base, now);
        MaintenanceWindowStatus {
            observed_generation: generic.observed_generation,
            conditions: generic.conditions,
            ..MaintenanceWindowStatus::default()
        }
    }

    fn conditions(status: &MaintenanceWindowStatus) -> &[Condition] {
        &status.conditions
    }

    async fn apply(
        &self,
        window: MaintenanceWindow,
        previous: Option<MaintenanceWindowStatus>,
        _base: StatusBase,
    ) -> Applied<MaintenanceWindowStatus> {
        let now = Timestamp::now();
        let owner = format!(
            "{}/{}",
            window.metadata.namespace.as_deref().unwrap_or("default"),
            window.metadata.name.as_deref().unwrap_or_default()
        );
        let policies = policies_in(&self.policies);
        let all: Vec<&AlarmPolicy> = policies.iter().collect();
        let known = known_from_statuses(&all);
        let footprint = previous
            .as_ref()
            .map(|s| s.footprint.clone())
            .unwrap_or_default();
        let views = [WindowView {
            owner: owner.clone(),
            standing: WindowStanding::Present(&window),
            footprint: &footprint,
        }];
        let previous_map: BTreeMap<String, MaintenanceWindowStatus> =
            previous.clone().map(|s| (owner, s)).into_iter().collect();
        let outcome = self
            .engine
            .lock()
            .await
            .sweep(&views, &all, &known, None, Mode::Apply, &previous_map, now)
            .await
            .into_iter()
            .next();
        let Some(mut outcome) = outcome else {
            return Applied {
                status: previous.unwrap_or_default(),
                notes: Vec::new(),
                error: None,
                requeue: None,
            };
        };
        let held = self.held_changes(&outcome.owner, &policies, now);
        outcome.status.held_change_count = i32::try_from(held.len()).unwrap_or(i32::MAX);
        outcome.status.held_changes = held;
        let mut notes = Vec::new();
        let done: Vec<String> = outcome
            .all_done()
            .map(|(t, a)| format!("{} {} in {}", verb_of(a), a.rule_name(), t.region))
            .collect();
        if !done.is_empty() {
            notes.push(Note::normal("MuteRulesUpdated", done.join("; ")));
        }
        let was_open = previous.as_ref().is_some_and(|s| s.open);
        if outcome.status.open != was_open {
            let message = if outcome.status.open {
                format!(
                    "window open: {} alarm(s) muted",
                    outcome.status.muted_alarms
                )
            } else {
                "window closed".to_string()
            };
            notes.push(Note::normal(
                if outcome.status.open {
                    "WindowOpened"
                } else {
                    "WindowClosed"
                },
                message,
            ));
        }
        for err in outcome.aws_errors() {
            let message = err.to_string();
            notes.push(Note::warning("AwsError", message.clone()).once(message));
        }
        // Wake just past the next boundary (the window opens or closes), or at the resync.
        let requeue = Schedule::parse(&window.spec)
            .ok()
            .and_then(|s| s.next_boundary(now))
            .map(|at| at.duration_since(now).unsigned_abs() + std::time::Duration::from_secs(1));
        let error = outcome.aws_errors().next().cloned();
        Applied {
            error,
            status: outcome.status,
            notes,
            requeue,
        }
    }

    async fn cleanup(&self, object: &DynamicObject) -> Result<Vec<Note>, ReconcileError> {
        let owner = super::harness::key(object);
        let policies = policies_in(&self.policies);
        let all: Vec<&AlarmPolicy> = policies.iter().collect();
        let window = typed_window(object);
        // Every region its rules could be in: those recorded, and those of the alarms it mutes.
        let previous = window
            .as_ref()
            .and_then(|w| w.status.as_ref())
            .map(|s| s.footprint.clone())
            .unwrap_or_default();
        let footprint = match &window {
            Some(window) => super::maintenance_window::footprint_before(window, &all, &previous),
            None => previous,
        };
        let views = [WindowView {
            owner,
            standing: WindowStanding::Gone,
            footprint: &footprint,
        }];
        let outcome = self
            .engine
            .lock()
            .await
            .sweep(
                &views,
                &all,
                &KnownAlarms::new(),
                None,
                Mode::Apply,
                &BTreeMap::new(),
                Timestamp::now(),
            )
            .await
            .into_iter()
            .next();
        let Some(outcome) = outcome else {
            return Ok(Vec::new());
        };
        if let Some(err) = outcome.aws_errors().next() {
            return Err(err.clone().into());
        }
        let deleted = outcome.all_done().count();
        Ok(vec![
            Note::normal(
                "Deleted",
                format!("deleted {deleted} mute rule(s): their alarms are no longer muted"),
            )
            .once("delete"),
        ])
    }
}

fn verb_of(action: &MuteAction) -> &'static str {
    match action {
        MuteAction::Create(_) => "created",
        MuteAction::Update { .. } => "updated",
        MuteAction::Delete { .. } => "deleted",
    }
}

/// The valid AlarmPolicies of a store, each with its status.
pub(super) fn policies_in(store: &Store<DynamicObject>) -> Vec<AlarmPolicy> {
    store
        .state()
        .iter()
        .filter(|o| o.metadata.deletion_timestamp.is_none())
        .filter_map(|o| {
            let mut value = serde_json::to_value(o.as_ref()).ok()?;
            let status = value
                .as_object_mut()
                .and_then(|m| m.remove("status"))
                .and_then(|s| serde_json::from_value(s).ok());
            match crate::validate::object(&value) {
                Ok(Object::AlarmPolicy(mut policy)) => {
                    policy.status = status;
                    Some(policy)
                }
                _ => None,
            }
        })
        .collect()
}

/// The windows that mute `policy`'s alarms or gate its changes: a change of the policy (new alarms,
/// removed ones, a held change) wakes them.
pub fn windows_selecting(
    windows: &Store<DynamicObject>,
    policy: &DynamicObject,
) -> Vec<ObjectRef<DynamicObject>> {
    let Ok(value) = serde_json::to_value(policy) else {
        return Vec::new();
    };
    let Ok(Object::AlarmPolicy(policy)) = crate::validate::object(&without_status(value)) else {
        return Vec::new();
    };
    windows
        .state()
        .iter()
        .filter(|w| {
            typed_window(w).is_some_and(|window| {
                let gates = gate_windows(&[&window]);
                !super::maintenance_window::muted_alarms(&window, &[&policy]).is_empty()
                    || !gates_of(&policy, &gates).is_empty()
            })
        })
        .map(|w| ObjectRef::from_obj_with(w.as_ref(), window_resource()))
        .collect()
}

/// The regions that count `policy`'s alarms: a change of the policy (its status carries its
/// alarms' states) wakes them.
pub fn regions_selecting(
    regions: &Store<DynamicObject>,
    policy: &DynamicObject,
) -> Vec<ObjectRef<DynamicObject>> {
    let Ok(value) = serde_json::to_value(policy) else {
        return Vec::new();
    };
    let Ok(Object::AlarmPolicy(policy)) = crate::validate::object(&without_status(value)) else {
        return Vec::new();
    };
    regions
        .state()
        .iter()
        .filter(|r| {
            serde_json::to_value(r.as_ref())
                .ok()
                .map(without_status)
                .and_then(|v| serde_json::from_value::<ContactCenterRegion>(v).ok())
                .is_some_and(|region| region::selects(&region, &policy))
        })
        .map(|r| ObjectRef::from_obj_with(r.as_ref(), region_resource()))
        .collect()
}

fn without_status(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    value
}

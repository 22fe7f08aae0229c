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

use super::alarm_policy::{AlarmEngine, Mode, PolicyOutcome, owner_of, record_metrics};
use super::contact_center_region::{self as region, KnownAlarms};
use super::harness::{Applied, Note, ReconcileError, Reconciler};
use super::status::{StatusBase, invalid_status};
use crate::api::Object;
use crate::api::alarm_policy::{AlarmPolicy, AlarmPolicyStatus, DeletionPolicy, ManagementPolicy};
use crate::api::common::AdmittedSpec;
use crate::api::conditions::{
    CHANGE_HELD, READY, SYNCED, Status, find, set_change_admitted, set_condition,
};
use crate::api::contact_center_region::{ContactCenterRegion, ContactCenterRegionStatus, Health};
use crate::api::maintenance_window::{
    EMERGENCY_CHANGE_ANNOTATION, HeldChange, MaintenanceWindow, MaintenanceWindowStatus,
};
use crate::aws::AwsClients;
use crate::controller::maintenance_window::{
    GateWindow, MuteEngine, Standing as WindowStanding, WindowView, gate_windows, gates_of,
};
use crate::plan::gate::{Admission, Admitted, admit, held_message};
use crate::plan::health::{AlarmState, Probe};
use crate::plan::mute::MuteAction;
use crate::plan::schedule::Schedule;
use crate::plan::scope::target_of;
use crate::plan::sweep::Action as Change;
use crate::validate::InvalidSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub use super::harness::{FIELD_MANAGER, FINALIZER, error_policy, reconcile};
pub use failover_plans::{FailoverPlans, PlanContextOf, plan_resource};

mod failover_plans;

/// The AlarmPolicy resource, for untyped APIs.
pub fn resource() -> ApiResource {
    ApiResource::erase::<AlarmPolicy>(&())
}

/// The ContactCenterRegion resource, for untyped APIs.
pub fn region_resource() -> ApiResource {
    ApiResource::erase::<ContactCenterRegion>(&())
}

/// AlarmPolicies in a cluster: one engine (its ownership caches) shared by every reconcile, and
/// the MaintenanceWindow store their change gates come from.
pub struct AlarmPolicies {
    engine: tokio::sync::Mutex<AlarmEngine>,
    windows: Store<DynamicObject>,
}

impl AlarmPolicies {
    pub fn new(engine: AlarmEngine, windows: Store<DynamicObject>) -> Self {
        Self {
            engine: tokio::sync::Mutex::new(engine),
            windows,
        }
    }

    /// The valid windows of the store that gate AlarmPolicies.
    fn gate_windows(&self) -> Vec<GateWindow> {
        gate_windows_in(&self.windows)
    }

    /// The window object named `owner` (`<namespace>/<name>`), for events about it.
    fn window_ref(&self, owner: &str) -> Option<k8s_openapi::api::core::v1::ObjectReference> {
        let (namespace, name) = owner.split_once('/')?;
        self.windows
            .state()
            .iter()
            .find(|w| {
                w.metadata.namespace.as_deref() == Some(namespace)
                    && w.metadata.name.as_deref() == Some(name)
            })
            .map(|w| {
                use kube::Resource;
                w.object_ref(&window_resource())
            })
    }
}

/// Where a policy stands at the change gate.
enum Gating {
    /// The declared spec is enforced (and recorded as admitted).
    Declared(Option<Admitted>),
    /// A change waits; the admitted spec (if any) is enforced meanwhile.
    Held {
        window: String,
        opens: Option<Timestamp>,
        admitted: Option<AdmittedSpec>,
    },
}

/// The AlarmPolicy harness context.
pub type Context = super::harness::Context<AlarmPolicies>;

impl Reconciler for AlarmPolicies {
    const KIND: &'static str = "AlarmPolicy";
    const OWNS_AWS_RESOURCES: bool = true;
    type Object = AlarmPolicy;
    type Status = AlarmPolicyStatus;

    fn resource() -> ApiResource {
        resource()
    }

    fn typed(object: Object) -> Option<AlarmPolicy> {
        match object {
            Object::AlarmPolicy(policy) => Some(policy),
            _ => None,
        }
    }

    fn invalid_status(
        invalid: &InvalidSpec,
        base: &StatusBase,
        now: Timestamp,
    ) -> AlarmPolicyStatus {
        invalid_status(invalid, base, now)
    }

    fn conditions(status: &AlarmPolicyStatus) -> &[Condition] {
        &status.conditions
    }

    async fn apply(
        &self,
        mut policy: AlarmPolicy,
        previous: Option<AlarmPolicyStatus>,
        _base: StatusBase,
    ) -> Applied<AlarmPolicyStatus> {
        let now = Timestamp::now();
        let spec_changed =
            previous.as_ref().and_then(|s| s.observed_generation) != policy.metadata.generation;
        let gating = self.gating(&policy, previous.as_ref(), now);
        let declared = AdmittedSpec {
            generation: policy.metadata.generation,
            spec: serde_json::to_value(&policy.spec).unwrap_or_default(),
        };
        // The previous status carries the footprint (where alarms were written).
        policy.status = previous.clone();
        let (admitted, held) = match gating {
            Gating::Declared(why) => (declared, why.map(Err)),
            Gating::Held {
                window,
                opens,
                admitted: Some(admitted),
            } => {
                match serde_json::from_value(admitted.spec.clone()) {
                    Ok(spec) => policy.spec = spec,
                    Err(_) => return self.held_new(&policy, previous, window, opens, now),
                }
                (admitted, Some(Ok((window, opens))))
            }
            Gating::Held {
                window,
                opens,
                admitted: None,
            } => return self.held_new(&policy, previous, window, opens, now),
        };
        let outcome = self
            .engine
            .lock()
            .await
            .reconcile(std::slice::from_ref(&policy), Mode::Apply, now)
            .await
            .into_iter()
            .next();
        let Some(mut outcome) = outcome else {
            // A valid policy always has work in its own region; nothing to report otherwise.
            return Applied {
                status: policy.status.unwrap_or_default(),
                notes: Vec::new(),
                error: None,
                requeue: None,
            };
        };
        record_metrics(&outcome);
        let mut notes = notes(&outcome, spec_changed);
        let mut requeue = None;
        let was_held = previous
            .as_ref()
            .and_then(|s| find(&s.conditions, CHANGE_HELD))
            .is_some_and(|c| c.status == "True");
        match held {
            Some(Ok((window, opens))) => {
                let message = held_message(&window, opens, true);
                outcome.status.observed_generation = admitted.generation;
                set_condition(
                    &mut outcome.status.conditions,
                    CHANGE_HELD,
                    Status::True,
                    "WaitingForWindow",
                    &message,
                    admitted.generation,
                    now,
                );
                notes.push(
                    Note::normal("ChangeHeld", message)
                        .once(format!("{:?}", policy.metadata.generation)),
                );
                requeue = until(opens, now);
            }
            Some(Err(why)) => {
                set_change_admitted(
                    &mut outcome.status.conditions,
                    policy.metadata.generation,
                    now,
                );
                notes.extend(self.admission_notes(&why, was_held));
            }
            None => {}
        }
        outcome.status.admitted = Some(admitted);
        Applied {
            notes,
            error: outcome.errors.first().cloned(),
            status: outcome.status,
            requeue,
        }
    }

    async fn cleanup(&self, object: &DynamicObject) -> Result<Vec<Note>, ReconcileError> {
        // The status carries the footprint (regions and names written); a status that does not
        // deserialize costs only that record, never the cleanup.
        let value = serde_json::to_value(object).ok();
        let policy: Option<AlarmPolicy> = value
            .clone()
            .and_then(|mut v| {
                if let Some(map) = v.as_object_mut() {
                    map.remove("status");
                }
                // Preset entries expanded (as every reconcile saw them): their names are what
                // was written. An entry that no longer expands is left out: the footprint
                // still names what it wrote.
                let v = crate::validate::expand_presets_leniently(&v);
                serde_json::from_value(v).ok()
            })
            .map(|mut policy: AlarmPolicy| {
                policy.status = value
                    .as_ref()
                    .and_then(|v| v.get("status"))
                    .and_then(|s| serde_json::from_value(s.clone()).ok());
                policy
            });
        let Some(policy) = policy else {
            tracing::warn!(object = %super::harness::key(object), "deleting an AlarmPolicy that does not deserialize: its region is unknown, alarms are left in place");
            return Ok(Vec::new());
        };
        let kept = match (policy.spec.deletion_policy, policy.spec.management_policy) {
            (DeletionPolicy::Retain, _) => Some("deletionPolicy Retain: alarms stay in CloudWatch"),
            (_, ManagementPolicy::Observe) => Some(
                "managementPolicy Observe: dialtone never wrote these alarms' configuration and never deletes them",
            ),
            _ => None,
        };
        if let Some(note) = kept {
            return Ok(vec![Note::normal("Retained", note).once("delete")]);
        }
        let outcome = self
            .engine
            .lock()
            .await
            .cleanup(&policy, Timestamp::now())
            .await;
        crate::metrics::Metrics::global().alarm_states(&owner_of(&policy), BTreeMap::new());
        let deleted = match outcome {
            Some(outcome) => {
                if let Some(err) = outcome.errors.into_iter().next() {
                    return Err(err.into());
                }
                outcome
                    .done
                    .iter()
                    .chain(outcome.elsewhere.iter().flat_map(|e| &e.done))
                    .count()
            }
            None => 0,
        };
        Ok(vec![
            Note::normal("Deleted", format!("deleted {deleted} alarm(s)")).once("delete"),
        ])
    }
}

impl AlarmPolicies {
    /// The gate's decision for `policy`, from the windows in the store.
    fn gating(
        &self,
        policy: &AlarmPolicy,
        previous: Option<&AlarmPolicyStatus>,
        now: Timestamp,
    ) -> Gating {
        gating(policy, previous, &self.gate_windows(), now)
    }

    /// A new policy whose creation waits: nothing is written; its status says so.
    fn held_new(
        &self,
        policy: &AlarmPolicy,
        previous: Option<AlarmPolicyStatus>,
        window: String,
        opens: Option<Timestamp>,
        now: Timestamp,
    ) -> Applied<AlarmPolicyStatus> {
        let message = held_message(&window, opens, false);
        let mut status = previous.unwrap_or_default();
        for (type_, value, reason) in [
            (CHANGE_HELD, Status::True, "WaitingForWindow"),
            (READY, Status::False, "ChangeHeld"),
            (SYNCED, Status::False, "ChangeHeld"),
        ] {
            set_condition(
                &mut status.conditions,
                type_,
                value,
                reason,
                &message,
                None,
                now,
            );
        }
        Applied {
            status,
            notes: vec![
                Note::normal("ChangeHeld", message)
                    .once(format!("{:?}", policy.metadata.generation)),
            ],
            error: None,
            requeue: until(opens, now),
        }
    }

    /// Events for a change that goes in: on the policy, and an emergency also on the windows it
    /// went around.
    fn admission_notes(&self, why: &Admitted, was_held: bool) -> Vec<Note> {
        match why {
            Admitted::Emergency { reason } => {
                let message = format!("let in now, outside any maintenance window: {reason}");
                let mut notes = vec![Note::warning("EmergencyChange", message.clone())];
                let windows = self.gate_windows();
                for window in &windows {
                    if let Some(object) = self.window_ref(&window.owner) {
                        notes.push(
                            Note::warning("EmergencyChange", message.clone()).regarding(object),
                        );
                    }
                }
                notes
            }
            Admitted::WindowOpen { window } if was_held => vec![Note::normal(
                "ChangeAdmitted",
                format!("MaintenanceWindow {window} is open: the held change goes in"),
            )],
            _ => Vec::new(),
        }
    }
}

/// The gate's decision for `policy` among `windows`, from the spec admitted last (its status). A
/// policy reconciled before the gate existed counts its observed generation as admitted.
fn gating(
    policy: &AlarmPolicy,
    previous: Option<&AlarmPolicyStatus>,
    windows: &[GateWindow],
    now: Timestamp,
) -> Gating {
    let gates = gates_of(policy, windows);
    let declared = serde_json::to_value(&policy.spec).unwrap_or_default();
    let admitted = previous.and_then(|s| s.admitted.clone()).or_else(|| {
        previous
            .filter(|s| {
                s.observed_generation.is_some()
                    && s.observed_generation == policy.metadata.generation
            })
            .map(|_| AdmittedSpec {
                generation: policy.metadata.generation,
                spec: declared.clone(),
            })
    });
    let changed = admitted.as_ref().map(|a| &a.spec) != Some(&declared);
    let emergency = policy
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(EMERGENCY_CHANGE_ANNOTATION))
        .map(String::as_str);
    match admit(changed, &gates, emergency, None, now) {
        Admission::Admit(Admitted::Unchanged) => Gating::Declared(None),
        Admission::Admit(why) => Gating::Declared(Some(why)),
        Admission::Hold { window, opens } => Gating::Held {
            window,
            opens,
            admitted,
        },
    }
}

/// The valid windows of a store that gate AlarmPolicies.
fn gate_windows_in(store: &Store<DynamicObject>) -> Vec<GateWindow> {
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
fn until(at: Option<Timestamp>, now: Timestamp) -> Option<std::time::Duration> {
    at.map(|at| at.duration_since(now).unsigned_abs() + std::time::Duration::from_secs(1))
}

/// One event per kind of change in this reconcile, naming the alarms (the API server keeps events
/// small; a thousand alarms created at once are one event, not a thousand).
fn notes(outcome: &PolicyOutcome, spec_changed: bool) -> Vec<Note> {
    let mut by_reason: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (_, change) in outcome.all_done() {
        // Without a spec change, any write puts back what someone changed outside dialtone.
        let (reason, what) = match change {
            Change::Create { alarm } if spec_changed => {
                ("Created", alarm.config.alarm_name.clone())
            }
            Change::Create { alarm } => (
                "DriftCorrected",
                format!("{} (re-created)", alarm.config.alarm_name),
            ),
            Change::Update { alarm, .. } | Change::Adopt { alarm, .. } if spec_changed => {
                ("Updated", alarm.config.alarm_name.clone())
            }
            Change::Update { alarm, drift } | Change::Adopt { alarm, drift, .. } => (
                "DriftCorrected",
                format!(
                    "{} ({})",
                    alarm.config.alarm_name,
                    drift
                        .iter()
                        .map(|d| format!("{} {:?} -> {:?}", d.field, d.actual, d.desired))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Change::Tag { alarm_name, .. } if spec_changed => {
                ("Updated", format!("{alarm_name} (tags)"))
            }
            Change::Tag { alarm_name, .. } => ("DriftCorrected", format!("{alarm_name} (tags)")),
            Change::Untag {
                alarm_name, keys, ..
            } => (
                "Updated",
                format!("{alarm_name} (removed tags {})", keys.join(", ")),
            ),
            Change::Delete { alarm_name } => ("Deleted", alarm_name.clone()),
        };
        by_reason.entry(reason).or_default().push(what);
    }
    let mut notes: Vec<Note> = by_reason
        .into_iter()
        .map(|(reason, alarms)| {
            let verb = match reason {
                "Created" => "created",
                "Deleted" => "deleted",
                "Updated" => "updated",
                _ => "corrected",
            };
            Note::normal(
                reason,
                format!("{verb} {} alarm(s): {}", alarms.len(), alarms.join("; ")),
            )
        })
        .collect();
    for alarm in &outcome.status.alarms {
        if let Some(conflict) = &alarm.conflict {
            let message = format!("{}: {conflict}", alarm.alarm_name);
            notes.push(Note::warning("Conflict", message.clone()).once(message));
        }
    }
    for err in &outcome.errors {
        let message = err.to_string();
        notes.push(Note::warning("AwsError", message.clone()).once(message));
    }
    notes
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
fn typed_window(object: &DynamicObject) -> Option<MaintenanceWindow> {
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
fn policies_in(store: &Store<DynamicObject>) -> Vec<AlarmPolicy> {
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

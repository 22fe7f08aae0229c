//! AlarmPolicies in a cluster: each object is reconciled on its own (kube-runtime's per-object
//! queue, backoff, events and status), but the AWS work is one batched sweep per region over
//! every AlarmPolicy of that region in the informer store, as `run --manifests` does. The first
//! reconcile of a region that finds no fresh sweep runs one for all of them; the others take
//! their own outcome from it without an AWS call, and come back at the next resync together, so
//! N alarms in a region cost ceil(N/100) DescribeAlarms per resync whatever the number of
//! policies. A spec change is never served from an older sweep: it sweeps at once.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::Store;

use super::{gate_windows_in, policies_in, resource, until, window_resource};
use crate::api::Object;
use crate::api::alarm_policy::{AlarmPolicy, AlarmPolicyStatus, DeletionPolicy, ManagementPolicy};
use crate::api::common::AdmittedSpec;
use crate::api::conditions::{
    CHANGE_HELD, READY, SYNCED, Status, find, set_change_admitted, set_condition,
};
use crate::api::maintenance_window::EMERGENCY_CHANGE_ANNOTATION;
use crate::aws::Target;
use crate::controller::alarm_policy::{AlarmEngine, Mode, PolicyOutcome, owner_of, record_metrics};
use crate::controller::harness::{Applied, FINALIZER, Note, ReconcileError, Reconciler};
use crate::controller::maintenance_window::{GateWindow, gates_of};
use crate::controller::status::{StatusBase, invalid_status};
use crate::plan::gate::{Admission, Admitted, admit, held_message};
use crate::plan::scope::target_of;
use crate::plan::sweep::Action as Change;
use crate::validate::InvalidSpec;

/// AlarmPolicies in a cluster: one engine (its ownership caches) shared by every reconcile, the
/// AlarmPolicy store a region's sweep covers, the MaintenanceWindow store their change gates come
/// from, and the last sweep of each region.
pub struct AlarmPolicies {
    engine: tokio::sync::Mutex<AlarmEngine>,
    windows: Store<DynamicObject>,
    policies: Store<DynamicObject>,
    resync: Duration,
    swept: Mutex<BTreeMap<Target, RegionSweep>>,
}

/// The outcomes of one region's sweep that their policies have not taken yet. Each is served
/// once, to a reconcile of the same spec (generation, enforced spec and footprint) within half a
/// resync of the sweep's end (a first apply of thousands of alarms takes minutes at CloudWatch's
/// write quota); anything else sweeps again.
struct RegionSweep {
    finished: Instant,
    outcomes: BTreeMap<String, (String, PolicyOutcome)>,
}

/// A policy ready to sweep: the spec the gate lets through, its last status (the footprint).
struct Prepared {
    policy: AlarmPolicy,
    admitted: AdmittedSpec,
    /// Some(Ok): a change waits for this window; Some(Err): a change goes in, for this reason.
    held: Option<Result<(String, Option<Timestamp>), Admitted>>,
}

/// A policy's sweep, as its reconcile uses it.
struct Swept {
    prepared: Prepared,
    outcome: Option<PolicyOutcome>,
    /// How long ago the sweep ended.
    age: Duration,
    /// When the gate decided.
    now: Timestamp,
}

/// What decides a policy's sweep: a cached outcome serves only the same.
fn fingerprint(policy: &AlarmPolicy) -> String {
    let footprint = policy.status.as_ref().map(|s| &s.footprint);
    serde_json::to_string(&(policy.metadata.generation, &policy.spec, footprint))
        .unwrap_or_default()
}

impl AlarmPolicies {
    /// `policies` is the AlarmPolicy store (a region's sweep covers every policy of the region
    /// in it); `resync` is how often every policy is reconciled again.
    pub fn new(
        engine: AlarmEngine,
        windows: Store<DynamicObject>,
        policies: Store<DynamicObject>,
        resync: Duration,
    ) -> Self {
        Self {
            engine: tokio::sync::Mutex::new(engine),
            windows,
            policies,
            resync,
            swept: Mutex::new(BTreeMap::new()),
        }
    }

    /// `policy` as the gate lets it through, or what to report without an AWS call (a new
    /// policy whose creation waits for a window).
    fn prepare(
        &self,
        mut policy: AlarmPolicy,
        previous: Option<AlarmPolicyStatus>,
        now: Timestamp,
    ) -> Result<Prepared, Box<Applied<AlarmPolicyStatus>>> {
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
                    Err(_) => {
                        return Err(Box::new(
                            self.held_new(&policy, previous, window, opens, now),
                        ));
                    }
                }
                (admitted, Some(Ok((window, opens))))
            }
            Gating::Held {
                window,
                opens,
                admitted: None,
            } => {
                return Err(Box::new(
                    self.held_new(&policy, previous, window, opens, now),
                ));
            }
        };
        Ok(Prepared {
            policy,
            admitted,
            held,
        })
    }

    /// The outcome of `policy`'s sweep, the spec it enforced, when it was decided, and how long
    /// ago that sweep ended: taken from the region's last sweep when it covered this very spec
    /// within half a resync, else from a new sweep. The gate is asked again once the engine is
    /// ours (waiting for it can take minutes: a window may have closed meanwhile). A policy whose
    /// last reconcile failed sweeps alone: its own error must not cost the region a full read at
    /// every retry.
    async fn outcome_of(
        &self,
        policy: &AlarmPolicy,
        previous: Option<&AlarmPolicyStatus>,
        first: Prepared,
        now: Timestamp,
    ) -> Result<Swept, Box<Applied<AlarmPolicyStatus>>> {
        let owner = owner_of(&first.policy);
        let target = target_of(&first.policy);
        if let Some((outcome, age)) = self.served(&target, &owner, &fingerprint(&first.policy)) {
            return Ok(Swept {
                prepared: first,
                outcome,
                age,
                now,
            });
        }
        let mut engine = self.engine.lock().await;
        let now = Timestamp::now();
        let prepared = self.prepare(policy.clone(), previous.cloned(), now)?;
        let target = target_of(&prepared.policy);
        // A sweep that finished while this reconcile waited for the engine may cover it.
        if let Some((outcome, age)) = self.served(&target, &owner, &fingerprint(&prepared.policy)) {
            return Ok(Swept {
                prepared,
                outcome,
                age,
                now,
            });
        }
        let failed_last = previous
            .and_then(|s| find(&s.conditions, READY))
            .is_some_and(|c| c.reason == crate::controller::status::reason::AWS_ERROR);
        let retry = failed_last
            && previous.and_then(|s| s.observed_generation) == policy.metadata.generation;
        let mut batch = if retry {
            Vec::new()
        } else {
            self.neighbours(&target, &owner, now)
        };
        batch.push(prepared.policy.clone());
        let fingerprints: BTreeMap<String, String> = batch
            .iter()
            .map(|p| (owner_of(p), fingerprint(p)))
            .collect();
        let mut mine = None;
        let mut others = BTreeMap::new();
        for outcome in engine.reconcile(&batch, Mode::Apply, now).await {
            if outcome.owner == owner {
                mine = Some(outcome);
            } else if let Some(print) = fingerprints.get(&outcome.owner) {
                others.insert(outcome.owner.clone(), (print.clone(), outcome));
            }
        }
        // Published before the engine is let go, so a reconcile waiting for it finds these.
        if !retry {
            let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
            // What an earlier sweep did for a policy that has not taken it yet is kept with
            // the new outcome: its events (alarms created, drift corrected) are not lost.
            if let Some(earlier) = swept.remove(&target) {
                for (owner, (_, untaken)) in earlier.outcomes {
                    if let Some((_, outcome)) = others.get_mut(&owner) {
                        let mut done = untaken.done;
                        done.append(&mut outcome.done);
                        outcome.done = done;
                    }
                }
            }
            swept.insert(
                target,
                RegionSweep {
                    finished: Instant::now(),
                    outcomes: others,
                },
            );
        }
        drop(engine);
        Ok(Swept {
            prepared,
            outcome: mine,
            age: Duration::ZERO,
            now,
        })
    }

    /// `owner`'s outcome from its region's last sweep, if that sweep saw `wanted` and is fresh.
    fn served(
        &self,
        target: &Target,
        owner: &str,
        wanted: &str,
    ) -> Option<(Option<PolicyOutcome>, Duration)> {
        let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
        let sweep = swept.get_mut(target)?;
        let age = sweep.finished.elapsed();
        if age > self.resync / 2 {
            return None;
        }
        let (print, _) = sweep.outcomes.get(owner)?;
        if print != wanted {
            return None;
        }
        let (_, outcome) = sweep.outcomes.remove(owner)?;
        Some((Some(outcome), age))
    }

    /// The other policies of `target`'s region in the store that a sweep covers: valid, carrying
    /// the finalizer (a policy without it has not been seen yet: its own first reconcile adds
    /// it), not being deleted, as the gate lets them through.
    fn neighbours(&self, target: &Target, owner: &str, now: Timestamp) -> Vec<AlarmPolicy> {
        policies_in(&self.policies)
            .into_iter()
            .filter(|p| owner_of(p) != owner)
            .filter(|p| {
                p.metadata
                    .finalizers
                    .as_ref()
                    .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
            })
            .filter_map(|mut p| {
                let previous = p.status.take();
                self.prepare(p, previous, now).ok()
            })
            .map(|prepared| prepared.policy)
            .filter(|p| &target_of(p) == target)
            .collect()
    }

    /// Forgets what a region's last sweep kept for `owner` (it is being deleted).
    fn forget(&self, owner: &str) {
        for sweep in self
            .swept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values_mut()
        {
            sweep.outcomes.remove(owner);
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
pub(super) enum Gating {
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
pub type Context = crate::controller::harness::Context<AlarmPolicies>;

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
        policy: AlarmPolicy,
        previous: Option<AlarmPolicyStatus>,
        _base: StatusBase,
    ) -> Applied<AlarmPolicyStatus> {
        let now = Timestamp::now();
        let spec_changed =
            previous.as_ref().and_then(|s| s.observed_generation) != policy.metadata.generation;
        let first = match self.prepare(policy.clone(), previous.clone(), now) {
            Ok(prepared) => prepared,
            Err(held_new) => return *held_new,
        };
        let Swept {
            prepared,
            outcome,
            age,
            now,
        } = match self
            .outcome_of(&policy, previous.as_ref(), first, now)
            .await
        {
            Ok(swept) => swept,
            Err(held_new) => return *held_new,
        };
        let Prepared {
            policy,
            admitted,
            held,
        } = prepared;
        // Back at the region's next resync, with every policy its sweep covered.
        let mut requeue = self.resync.saturating_sub(age);
        let Some(mut outcome) = outcome else {
            // A valid policy always has work in its own region; nothing to report otherwise.
            return Applied {
                status: policy.status.unwrap_or_default(),
                notes: Vec::new(),
                error: None,
                requeue: Some(requeue),
            };
        };
        record_metrics(&outcome);
        let mut notes = notes(&outcome, spec_changed);
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
                if let Some(opens_in) = until(opens, now) {
                    requeue = requeue.min(opens_in);
                }
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
            requeue: Some(requeue),
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
            tracing::warn!(object = %crate::controller::harness::key(object), "deleting an AlarmPolicy that does not deserialize: its region is unknown, alarms are left in place");
            return Ok(Vec::new());
        };
        let kept = match (policy.spec.deletion_policy, policy.spec.management_policy) {
            (DeletionPolicy::Retain, _) => Some("deletionPolicy Retain: alarms stay in CloudWatch"),
            (_, ManagementPolicy::Observe) => Some(
                "managementPolicy Observe: dialtone never wrote these alarms' configuration and never deletes them",
            ),
            _ => None,
        };
        self.forget(&owner_of(&policy));
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
        crate::metrics::Metrics::global().forget_object("AlarmPolicy", &owner_of(&policy));
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
pub(super) fn gating(
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
    let emergency = crate::api::annotation(&policy.metadata, EMERGENCY_CHANGE_ANNOTATION);
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

//! FailoverPlans in a cluster: the change gate from the MaintenanceWindow store, the two
//! ContactCenterRegions (with their readiness) from the region store, the plan engine, events per
//! step, and a finalizer (deleting a plan deletes its lever alarm, records and health checks).
//!
//! A failover is announced first: one reconcile records it as started (phase FailingOver, which
//! `kubectl get fp` shows) and the next, at once, carries it out.

use std::time::Duration;

use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::Store;

use super::{gate_windows_in, typed_from};
use crate::api::Object;
use crate::api::common::AdmittedSpec;
use crate::api::contact_center_region::ContactCenterRegion;
use crate::api::failover_plan::{
    ActiveRegion, FailoverPhase, FailoverPlan, FailoverPlanStatus, FailoverRecord,
};
use crate::api::maintenance_window::MaintenanceWindow;
use crate::aws::AwsClients;
use crate::controller::alarm_policy::Mode;
use crate::controller::failover_plan::gate::{active_side, gate, mark_held};
use crate::controller::failover_plan::{
    FailoverEngine, FailoverOutcome, PlanContext, record_metrics,
};
use crate::controller::harness::{Applied, Note, ReconcileError, Reconciler};
use crate::controller::status::{StatusBase, invalid_status};
use crate::plan::gate::Admitted;
use crate::validate::InvalidSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;

/// How soon a failover left waiting (a group still UPDATE_IN_PROGRESS, a change PENDING) is
/// looked at again, and a blocked one.
const WAITING: Duration = Duration::from_secs(10);
const BLOCKED: Duration = Duration::from_secs(30);

/// The FailoverPlan resource, for untyped APIs.
pub fn plan_resource() -> ApiResource {
    ApiResource::erase::<FailoverPlan>(&())
}

pub struct FailoverPlans {
    engine: FailoverEngine,
    regions: Store<DynamicObject>,
    windows: Store<DynamicObject>,
}

/// The FailoverPlan harness context.
pub type PlanContextOf = crate::controller::harness::Context<FailoverPlans>;

impl FailoverPlans {
    pub fn new(
        clients: std::sync::Arc<AwsClients>,
        regions: Store<DynamicObject>,
        windows: Store<DynamicObject>,
    ) -> Self {
        Self {
            engine: FailoverEngine::new(clients),
            regions,
            windows,
        }
    }

    /// The ContactCenterRegion `name` in `namespace`, with its status.
    fn region(&self, namespace: &str, name: &str) -> Option<ContactCenterRegion> {
        self.regions
            .state()
            .iter()
            .filter(|r| {
                r.metadata.deletion_timestamp.is_none()
                    && r.metadata.namespace.as_deref() == Some(namespace)
                    && r.metadata.name.as_deref() == Some(name)
            })
            .find_map(|r| typed_from(r, |region: &mut ContactCenterRegion| &mut region.status))
    }

    /// The MaintenanceWindow `name` in `namespace`.
    fn window(&self, namespace: &str, name: &str) -> Option<MaintenanceWindow> {
        self.windows
            .state()
            .iter()
            .filter(|w| {
                w.metadata.deletion_timestamp.is_none()
                    && w.metadata.namespace.as_deref() == Some(namespace)
                    && w.metadata.name.as_deref() == Some(name)
            })
            .find_map(|w| super::typed_window(w))
    }
}

fn namespace_of(plan: &FailoverPlan) -> String {
    plan.metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into())
}

fn region_ref(plan: &FailoverPlan, side: ActiveRegion) -> &str {
    match side {
        ActiveRegion::Primary => &plan.spec.primary.region_ref,
        ActiveRegion::Secondary => &plan.spec.secondary.region_ref,
    }
}

impl Reconciler for FailoverPlans {
    const KIND: &'static str = "FailoverPlan";
    const OWNS_AWS_RESOURCES: bool = true;
    type Object = FailoverPlan;
    type Status = FailoverPlanStatus;

    fn resource() -> ApiResource {
        plan_resource()
    }

    fn typed(object: Object) -> Option<FailoverPlan> {
        match object {
            Object::FailoverPlan(plan) => Some(plan),
            _ => None,
        }
    }

    fn invalid_status(
        invalid: &InvalidSpec,
        base: &StatusBase,
        now: Timestamp,
    ) -> FailoverPlanStatus {
        let generic = invalid_status(invalid, base, now);
        FailoverPlanStatus {
            observed_generation: generic.observed_generation,
            conditions: generic.conditions,
            ..FailoverPlanStatus::default()
        }
    }

    fn conditions(status: &FailoverPlanStatus) -> &[Condition] {
        &status.conditions
    }

    async fn apply(
        &self,
        plan: FailoverPlan,
        previous: Option<FailoverPlanStatus>,
        _base: StatusBase,
    ) -> Applied<FailoverPlanStatus> {
        let now = Timestamp::now();
        let namespace = namespace_of(&plan);
        let declared = AdmittedSpec {
            generation: plan.metadata.generation,
            spec: serde_json::to_value(&plan.spec).unwrap_or_default(),
        };
        // The spec admitted last; a plan reconciled before the gate existed counts its observed
        // generation as admitted.
        let admitted = previous
            .as_ref()
            .and_then(|s| s.admitted.clone())
            .or_else(|| {
                previous
                    .as_ref()
                    .filter(|s| {
                        s.observed_generation.is_some()
                            && s.observed_generation == plan.metadata.generation
                    })
                    .map(|_| declared.clone())
            });
        let admitted_plan: Option<FailoverPlan> = admitted.as_ref().and_then(|a| {
            let mut earlier = plan.clone();
            earlier.spec = serde_json::from_value(a.spec.clone()).ok()?;
            Some(earlier)
        });
        let active = self.region(
            &namespace,
            region_ref(
                &plan,
                active_side(&plan, previous.as_ref(), admitted_plan.as_ref()),
            ),
        );
        let gated = gate(
            &plan,
            admitted.as_ref().map(|a| &a.spec),
            active
                .as_ref()
                .map(|r| (r, r.status.as_ref().and_then(|s| s.health))),
            &gate_windows_in(&self.windows),
            now,
        );
        let mut notes = admission_notes(gated.admitted.as_ref());
        let Some(effective) = gated.effective.clone() else {
            // A new plan whose first spec waits: nothing is written.
            let mut status = previous.clone().unwrap_or_default();
            mark_held(&mut status, &gated, now);
            return Applied {
                status,
                notes,
                error: None,
                requeue: gated
                    .held
                    .as_ref()
                    .and_then(|(_, opens)| super::until(*opens, now)),
            };
        };
        let primary = self.region(&namespace, &effective.spec.primary.region_ref);
        let secondary = self.region(&namespace, &effective.spec.secondary.region_ref);
        let drill_window = effective
            .spec
            .drill
            .as_ref()
            .and_then(|d| d.maintenance_window_ref.as_deref())
            .and_then(|name| self.window(&namespace, name));
        let context = PlanContext {
            plan: &effective,
            primary: primary.as_ref().map(|r| (r, r.status.as_ref())),
            secondary: secondary.as_ref().map(|r| (r, r.status.as_ref())),
            previous: previous.as_ref(),
            withheld: None,
            announce: true,
            drill_window: drill_window.as_ref(),
        };
        let mut outcome = self.engine.reconcile(context, Mode::Apply, now).await;
        mark_held(&mut outcome.status, &gated, now);
        outcome.status.admitted = Some(if gated.held.is_some() {
            admitted.unwrap_or(declared)
        } else {
            declared
        });
        record_metrics(&outcome);
        notes.extend(failover_notes(
            previous.as_ref().and_then(|s| s.last_failover.as_ref()),
            &outcome,
        ));
        notes.append(&mut outcome.notes);
        let requeue = if outcome.announced {
            Some(Duration::ZERO)
        } else {
            match outcome.status.phase {
                Some(FailoverPhase::FailingOver | FailoverPhase::Validating) => Some(WAITING),
                Some(FailoverPhase::Blocked) => Some(BLOCKED),
                _ => gated
                    .held
                    .as_ref()
                    .and_then(|(_, opens)| super::until(*opens, now))
                    .into_iter()
                    .chain(outcome.wake)
                    .min(),
            }
        };
        Applied {
            error: outcome.errors.first().cloned(),
            status: outcome.status,
            notes,
            requeue,
        }
    }

    async fn cleanup(&self, object: &DynamicObject) -> Result<Vec<Note>, ReconcileError> {
        let Some(plan) = typed_from(object, |plan: &mut FailoverPlan| &mut plan.status) else {
            tracing::warn!(object = %crate::controller::harness::key(object), "deleting a FailoverPlan that does not deserialize: what it wrote is left in place");
            return Ok(Vec::new());
        };
        let owner = format!(
            "{}/{}",
            namespace_of(&plan),
            plan.metadata.name.clone().unwrap_or_default()
        );
        let footprint = plan.status.map(|s| s.footprint).unwrap_or_default();
        let (calls, errors, _) = self
            .engine
            .cleanup(&owner, &footprint, None, Mode::Apply)
            .await;
        if let Some(err) = errors.into_iter().next() {
            return Err(err.into());
        }
        Ok(vec![
            Note::normal(
                "Deleted",
                format!(
                    "deleted what the plan wrote ({} call(s): lever alarm, Route 53 records and health checks)",
                    calls.len()
                ),
            )
            .once("delete"),
        ])
    }
}

/// Events for a change the gate let in.
fn admission_notes(why: Option<&Admitted>) -> Vec<Note> {
    match why {
        Some(Admitted::Emergency { reason }) => vec![
            Note::warning(
                "EmergencyChange",
                format!("let in now, outside any maintenance window: {reason}"),
            )
            .once(reason.clone()),
        ],
        Some(Admitted::Exempt { reason }) => {
            vec![Note::warning("ChangeAdmitted", reason.clone()).once(reason.clone())]
        }
        Some(Admitted::WindowOpen { window }) => vec![Note::normal(
            "ChangeAdmitted",
            format!("MaintenanceWindow {window} is open, the change goes in"),
        )],
        _ => Vec::new(),
    }
}

/// Events of a failover: its start, each step as it is recorded, its end (once each).
fn failover_notes(before: Option<&FailoverRecord>, outcome: &FailoverOutcome) -> Vec<Note> {
    let Some(record) = &outcome.status.last_failover else {
        return Vec::new();
    };
    let started = record
        .started_at
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    let side = |s: Option<ActiveRegion>| match s {
        Some(ActiveRegion::Primary) => "primary",
        Some(ActiveRegion::Secondary) => "secondary",
        None => "?",
    };
    let mut notes = Vec::new();
    if outcome.status.phase == Some(FailoverPhase::Blocked) {
        let message = outcome
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.message.clone())
            .unwrap_or_default();
        notes.push(Note::warning("FailoverBlocked", message.clone()).once(message));
        return notes;
    }
    if before.and_then(|b| b.started_at.as_ref()) != record.started_at.as_ref() {
        notes.push(
            Note::warning(
                "FailoverStarted",
                format!(
                    "{} -> {} ({}): {}",
                    side(record.from),
                    side(record.to),
                    record.trigger.as_deref().unwrap_or("spec"),
                    record.reason.as_deref().unwrap_or_default()
                ),
            )
            .once(format!("{started}/start")),
        );
    }
    // One reason per step (FailoverReadiness, FailoverTraffic, FailoverDns, FailoverChecklist):
    // events of one reason on one object are a series, shown as one line with a count.
    for step in &record.steps {
        let mut name = step.name.clone();
        if let Some(first) = name.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        let reason = format!("Failover{name}");
        let message = format!(
            "{}: {}",
            step.result,
            step.message.as_deref().unwrap_or_default()
        );
        let note = if step.result == "Failed" {
            Note::warning(&reason, message)
        } else {
            Note::normal(&reason, message)
        };
        notes.push(note.once(format!("{started}/{}", step.result)));
    }
    if record.completed_at.is_some() {
        let passed = record.checklist.iter().filter(|c| c.passed).count();
        let all = passed == record.checklist.len();
        let message = format!(
            "{} -> {} in {} s; checklist {passed}/{} passed",
            side(record.from),
            side(record.to),
            record.duration_seconds.unwrap_or_default(),
            record.checklist.len()
        );
        notes.push(
            if all {
                Note::normal("FailoverSucceeded", message)
            } else {
                Note::warning("FailoverFailed", message)
            }
            .once(format!("{started}/end")),
        );
    }
    notes
}

//! The change gate of a FailoverPlan, the same in manifest mode and in a cluster: a planned move
//! waits for a MaintenanceWindow that gates the plan (the spec admitted last stays enforced
//! meanwhile); the emergency annotation lets it in now; a plan whose active side is Unhealthy is
//! never held (a failover does not wait for a window).

use jiff::Timestamp;

use crate::api::conditions::{
    CHANGE_HELD, READY, SYNCED, Status, set_change_admitted, set_condition,
};
use crate::api::contact_center_region::{ContactCenterRegion, Health};
use crate::api::failover_plan::{ActiveRegion, FailoverPlan, FailoverPlanStatus};
use crate::api::maintenance_window::EMERGENCY_CHANGE_ANNOTATION;
use crate::controller::maintenance_window::{GateWindow, gates_of_plan};
use crate::plan::gate::{Admission, Admitted, admit, held_message};

/// What the gate lets through.
#[derive(Debug, Clone)]
pub struct PlanGate {
    /// The plan to enforce: the declared one, or the one admitted last while a change waits.
    /// None for a plan whose first spec waits: nothing is written.
    pub effective: Option<FailoverPlan>,
    /// The window a change waits for, and when it opens.
    pub held: Option<(String, Option<Timestamp>)>,
    /// Why a change went in (None: unchanged, or held).
    pub admitted: Option<Admitted>,
    /// Whether any window gates the plan.
    pub gated: bool,
}

/// The side whose region matters for the exemption: the side in effect (as last seen), else the
/// admitted spec's, else the declared one.
pub fn active_side(
    plan: &FailoverPlan,
    previous: Option<&FailoverPlanStatus>,
    admitted: Option<&FailoverPlan>,
) -> ActiveRegion {
    previous
        .and_then(|s| s.active_region)
        .or(admitted.map(|a| a.spec.active_region))
        .unwrap_or(plan.spec.active_region)
}

/// The gate's decision. `admitted`: the spec admitted last (as JSON); `active`: the active side's
/// region and its health, when known.
pub fn gate(
    plan: &FailoverPlan,
    admitted: Option<&serde_json::Value>,
    active: Option<(&ContactCenterRegion, Option<Health>)>,
    windows: &[GateWindow],
    now: Timestamp,
) -> PlanGate {
    let declared = serde_json::to_value(&plan.spec).unwrap_or_default();
    let earlier: Option<FailoverPlan> = admitted.and_then(|spec| {
        let mut earlier = plan.clone();
        earlier.spec = serde_json::from_value(spec.clone()).ok()?;
        Some(earlier)
    });
    let exempt = active.and_then(|(region, health)| {
        (health == Some(Health::Unhealthy)).then(|| {
            format!(
                "the active side's region {} is Unhealthy: a failover never waits for a window",
                region.spec.region
            )
        })
    });
    let emergency = crate::api::annotation(&plan.metadata, EMERGENCY_CHANGE_ANNOTATION);
    let changed = admitted != Some(&declared);
    let gates = gates_of_plan(plan, windows);
    match admit(changed, &gates, emergency, exempt.as_deref(), now) {
        Admission::Admit(why) => PlanGate {
            effective: Some(plan.clone()),
            held: None,
            admitted: Some(why),
            gated: !gates.is_empty(),
        },
        Admission::Hold { window, opens } => PlanGate {
            effective: earlier,
            held: Some((window, opens)),
            admitted: None,
            gated: true,
        },
    }
}

/// Condition `ChangeHeld` on a gated plan; a plan whose first spec waits is not Ready.
pub fn mark_held(status: &mut FailoverPlanStatus, gate: &PlanGate, now: Timestamp) {
    let enforcing = gate.effective.is_some();
    match &gate.held {
        Some((window, opens)) => {
            let message = held_message(window, *opens, enforcing);
            set_condition(
                &mut status.conditions,
                CHANGE_HELD,
                Status::True,
                "WaitingForWindow",
                &message,
                None,
                now,
            );
            if !enforcing {
                for type_ in [READY, SYNCED] {
                    set_condition(
                        &mut status.conditions,
                        type_,
                        Status::False,
                        "ChangeHeld",
                        &message,
                        None,
                        now,
                    );
                }
            }
        }
        None if gate.gated => set_change_admitted(&mut status.conditions, None, now),
        None => {}
    }
}

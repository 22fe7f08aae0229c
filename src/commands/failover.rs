//! FailoverPlans in manifest mode: the change gate (a planned move waits for a window; a failover
//! whose active side is Unhealthy never waits), the plan engine, the failover in progress kept in
//! the state file (a new process continues it), and the lever alarm of a plan that is gone.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;

use crate::api::Object;
use crate::api::failover_plan::{ActiveRegion, FailoverPlan, FailoverPlanStatus};
use crate::api::maintenance_window::MaintenanceWindow;
use crate::controller::alarm_policy::Mode;
use crate::controller::contact_center_region::ProbeOutcome;
use crate::controller::failover_plan::gate::{active_side, gate, mark_held};
use crate::controller::failover_plan::{FailoverEngine, FailoverOutcome, PlanContext};
use crate::controller::maintenance_window::gate_windows;
use crate::plan::gate::Admitted;
use crate::source::state::{Record, State};
use crate::source::{Kind, ObjectKey, Snapshot};

/// Sweeps every FailoverPlan of the snapshot, and cleans up after those gone from it.
#[allow(clippy::too_many_arguments)]
pub async fn sweep_plans(
    engine: &FailoverEngine,
    snapshot: &Snapshot,
    probes: &[ProbeOutcome],
    state: &mut State,
    statuses: &mut BTreeMap<String, FailoverPlanStatus>,
    withheld: Option<&str>,
    mode: Mode,
    now: Timestamp,
) -> Vec<FailoverOutcome> {
    let windows: Vec<&MaintenanceWindow> = snapshot
        .objects
        .values()
        .filter_map(|(_, o)| match o {
            Object::MaintenanceWindow(w) => Some(w),
            _ => None,
        })
        .collect();
    let gates = gate_windows(&windows);
    let region = |namespace: &str, name: &str| {
        let key = ObjectKey::new(Kind::ContactCenterRegion, namespace, name);
        let region = match snapshot.objects.get(&key) {
            Some((_, Object::ContactCenterRegion(region))) => Some(region),
            _ => None,
        }?;
        let status = probes
            .iter()
            .find(|p| p.owner == key.owner())
            .map(|p| &p.status);
        Some((region, status))
    };
    let mut outcomes = Vec::new();
    for (key, (_, object)) in &snapshot.objects {
        let Object::FailoverPlan(plan) = object else {
            continue;
        };
        let owner = key.owner();
        let record = state.record(&key.to_string()).cloned().unwrap_or_default();
        let mut previous = statuses.get(&owner).cloned().unwrap_or_default();
        if previous.last_failover.is_none() {
            // A new process: the failover in progress, from the state file.
            previous.last_failover = record.failover.clone();
        }
        if previous.footprint.is_empty() {
            previous.footprint = record.footprint.clone();
        }
        if !statuses.contains_key(&owner) {
            // What the automatic decision and drills remember, from the state file.
            previous.automatic = record.automatic.clone().map(Box::new);
            previous.last_drill = record.drill.clone().map(Box::new);
            previous.next_drill = record.next_drill.clone();
            previous.drill_now_handled = record.drill_now_handled.clone();
        }

        // The change gate.
        let declared = serde_json::to_value(&plan.spec).unwrap_or_default();
        let admitted: Option<FailoverPlan> = record.admitted.as_ref().and_then(|spec| {
            let mut earlier = plan.clone();
            earlier.spec = serde_json::from_value(spec.clone()).ok()?;
            Some(earlier)
        });
        let active_ref = match active_side(plan, Some(&previous), admitted.as_ref()) {
            ActiveRegion::Primary => &plan.spec.primary.region_ref,
            ActiveRegion::Secondary => &plan.spec.secondary.region_ref,
        };
        let active = region(&key.namespace, active_ref)
            .map(|(region, status)| (region, status.and_then(|s| s.health)));
        let gated = gate(plan, record.admitted.as_ref(), active, &gates, now);
        if let Some(why) = &gated.admitted {
            say_admitted(key, why, mode);
        }
        let (effective, held) = (gated.effective.clone(), gated.held.clone());

        let mut outcome = match &effective {
            Some(effective) => {
                let drill_window = effective
                    .spec
                    .drill
                    .as_ref()
                    .and_then(|d| d.maintenance_window_ref.as_deref())
                    .and_then(|name| {
                        windows.iter().copied().find(|w| {
                            w.metadata.namespace.as_deref().unwrap_or("default") == key.namespace
                                && w.metadata.name.as_deref() == Some(name)
                        })
                    });
                let context = PlanContext {
                    plan: effective,
                    primary: region(&key.namespace, &effective.spec.primary.region_ref),
                    secondary: region(&key.namespace, &effective.spec.secondary.region_ref),
                    previous: Some(&previous),
                    withheld,
                    announce: false,
                    drill_window,
                };
                engine.reconcile(context, mode, now).await
            }
            None => FailoverOutcome::standing(owner.clone(), previous.clone()),
        };
        mark_held(&mut outcome.status, &gated, now);
        if mode == Mode::Apply {
            for note in &outcome.notes {
                say(key, note);
            }
        }
        if mode == Mode::Apply {
            // The engine keeps the footprint (its status); a held plan keeps the recorded one.
            let footprint = if effective.is_some() {
                outcome.status.footprint.clone()
            } else {
                record.footprint.clone()
            };
            state.objects.insert(
                key.to_string(),
                Record {
                    footprint,
                    admitted: if held.is_some() {
                        record.admitted.clone()
                    } else {
                        Some(declared)
                    },
                    failover: outcome.status.last_failover.clone(),
                    automatic: outcome.status.automatic.clone().map(|a| *a),
                    drill: outcome.status.last_drill.clone().map(|d| *d),
                    next_drill: outcome.status.next_drill.clone(),
                    drill_now_handled: outcome.status.drill_now_handled.clone(),
                    ..Record::default()
                },
            );
        }
        statuses.insert(owner, outcome.status.clone());
        outcomes.push(outcome);
    }

    // Plans gone from the source: their lever alarms go, by the deletion rule.
    let gone: Vec<(String, String)> = state
        .objects
        .keys()
        .filter_map(|text| {
            let key = ObjectKey::parse(text)?;
            (key.kind == Kind::FailoverPlan && !snapshot.declares(&key))
                .then(|| (text.clone(), key.owner()))
        })
        .collect();
    for (text, owner) in gone {
        let footprint = state
            .record(&text)
            .map(|r| r.footprint.clone())
            .unwrap_or_default();
        let (calls, errors, left) = engine.cleanup(&owner, &footprint, withheld, mode).await;
        if mode == Mode::Apply {
            if left.is_empty() && errors.is_empty() {
                state.objects.remove(&text);
            } else if let Some(record) = state.objects.get_mut(&text) {
                record.footprint = left;
            }
        }
        statuses.remove(&owner);
        let mut outcome = FailoverOutcome::standing(owner, FailoverPlanStatus::default());
        outcome.calls = calls;
        outcome.errors = errors;
        outcomes.push(outcome);
    }
    outcomes
}

/// An event of the automatic decision or a drill, as a log line.
fn say(key: &ObjectKey, note: &crate::controller::harness::Note) {
    if note.warning {
        tracing::warn!(event = %note.reason, object = %key, "{}: {key}: {}", note.reason, note.message);
    } else {
        tracing::info!(event = %note.reason, object = %key, "{}: {key}: {}", note.reason, note.message);
    }
}

/// Says why a change went in, when it did not simply go in.
fn say_admitted(key: &ObjectKey, why: &Admitted, mode: Mode) {
    if mode != Mode::Apply {
        return;
    }
    match why {
        Admitted::Emergency { reason } => tracing::warn!(
            event = "EmergencyChange", object = %key, reason = %reason,
            "EmergencyChange: {key}: let in now, outside any maintenance window: {reason}"
        ),
        Admitted::Exempt { reason } => tracing::warn!(
            event = "ChangeAdmitted", object = %key,
            "ChangeAdmitted: {key}: {reason}"
        ),
        Admitted::WindowOpen { window } => tracing::info!(
            event = "ChangeAdmitted", object = %key, window = %window,
            "ChangeAdmitted: {key}: MaintenanceWindow {window} is open, the change goes in"
        ),
        Admitted::Ungated | Admitted::Unchanged => {}
    }
}

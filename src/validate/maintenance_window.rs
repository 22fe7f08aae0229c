//! MaintenanceWindow rules that no schema can express.

use super::{FieldError, Problems, check_selector};
use crate::api::maintenance_window::MaintenanceWindowSpec;
use crate::plan::schedule::Schedule;

/// Every semantic problem of a MaintenanceWindow spec.
pub fn maintenance_window(spec: &MaintenanceWindowSpec) -> Vec<FieldError> {
    let mut problems = Problems::default();
    match (&spec.schedule, &spec.duration) {
        (Some(_), None) => problems.add("spec.duration", "a recurring window needs a duration"),
        (None, Some(_)) => problems.add("spec.schedule", "duration needs a schedule"),
        (None, None) if spec.windows.is_empty() => problems.add(
            "spec",
            "set schedule (recurring) or windows (one-off), or both",
        ),
        _ => {}
    }
    // The times: cron syntax CloudWatch mute rules accept, time zone, durations, one-off windows.
    if let Err(errors) = Schedule::parse(spec) {
        for error in errors {
            problems.add(error.path, error.message);
        }
    }
    if spec.suppress.is_none() && spec.change_gate.is_none() {
        problems.add(
            "spec",
            "set suppress, changeGate or both: otherwise the window does nothing",
        );
    }
    if let Some(suppress) = &spec.suppress {
        check_selector(
            &mut problems,
            "spec.suppress.alarmPolicySelector",
            &suppress.alarm_policy_selector,
        );
    }
    if let Some(gate) = &spec.change_gate {
        if gate.alarm_policy_selector.is_none() && gate.failover_plan_selector.is_none() {
            problems.add(
                "spec.changeGate",
                "select AlarmPolicies, FailoverPlans or both",
            );
        }
        for (field, selector) in [
            ("alarmPolicySelector", &gate.alarm_policy_selector),
            ("failoverPlanSelector", &gate.failover_plan_selector),
        ] {
            if let Some(selector) = selector {
                check_selector(&mut problems, &format!("spec.changeGate.{field}"), selector);
            }
        }
    }
    problems.into_vec()
}

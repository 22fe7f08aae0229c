//! MaintenanceWindow rules that no schema can express.

use super::{FieldError, Problems, check_cron, check_duration, check_selector, check_time_zone};
use crate::api::maintenance_window::MaintenanceWindowSpec;

/// CloudWatch alarm mute rules last 1 minute to 15 days.
const MIN_WINDOW: u64 = 60;
const MAX_WINDOW: u64 = 15 * 86_400;

/// Every semantic problem of a MaintenanceWindow spec.
pub fn maintenance_window(spec: &MaintenanceWindowSpec) -> Vec<FieldError> {
    let mut problems = Problems::default();
    match (&spec.schedule, &spec.duration) {
        (Some(schedule), Some(duration)) => {
            check_cron(&mut problems, "spec.schedule", schedule);
            check_duration(
                &mut problems,
                "spec.duration",
                duration,
                MIN_WINDOW,
                MAX_WINDOW,
            );
        }
        (Some(_), None) => problems.add("spec.duration", "a recurring window needs a duration"),
        (None, Some(_)) => problems.add("spec.schedule", "duration needs a schedule"),
        (None, None) if spec.windows.is_empty() => problems.add(
            "spec",
            "set schedule (recurring) or windows (one-off), or both",
        ),
        (None, None) => {}
    }
    if let Some(zone) = &spec.time_zone {
        check_time_zone(&mut problems, "spec.timeZone", zone);
    }
    for (i, window) in spec.windows.iter().enumerate() {
        let seconds = window.end.0.as_second() - window.start.0.as_second();
        if seconds <= 0 {
            problems.add(format!("spec.windows[{i}].end"), "end must be after start");
        } else if !(MIN_WINDOW as i64..=MAX_WINDOW as i64).contains(&seconds) {
            problems.add(
                format!("spec.windows[{i}].end"),
                "a window lasts 1 minute to 15 days (the range of CloudWatch mute rules)",
            );
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

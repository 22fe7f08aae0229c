//! Status from what a sweep found and did. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;

use crate::api::alarm_policy::{AlarmPolicyStatus, AlarmSummary};
use crate::api::conditions::{READY, SYNCED, Status, set_condition};
use crate::aws::AwsError;
use crate::plan::sweep::{Action, PolicyPlan};
use crate::validate::InvalidSpec;

/// Condition reasons, as `kubectl describe` shows them.
pub mod reason {
    pub const RECONCILED: &str = "Reconciled";
    pub const DRIFTED: &str = "Drifted";
    pub const CONFLICT: &str = "Conflict";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const AWS_ERROR: &str = "AwsError";
}

/// What a new status builds on: the generation it describes and the conditions it replaces (their
/// lastTransitionTime is kept where the status does not change).
#[derive(Debug, Clone, Default)]
pub struct StatusBase {
    pub generation: Option<i64>,
    pub conditions: Vec<Condition>,
}

/// The status of a policy after a sweep: per-alarm state and the drift that remains, counts, and
/// Ready/Synced.
pub fn alarm_policy_status(
    plan: &PolicyPlan,
    done: &[Action],
    errors: &[AwsError],
    base: &StatusBase,
    now: Timestamp,
) -> AlarmPolicyStatus {
    let generation = base.generation;
    let applied: Vec<&str> = done.iter().map(Action::alarm_name).collect();
    let alarms: Vec<_> = plan
        .alarms
        .iter()
        .map(|alarm| {
            let mut alarm = alarm.clone();
            if applied.contains(&alarm.alarm_name.as_str()) && alarm.conflict.is_none() {
                alarm.drift.clear();
            }
            alarm
        })
        .collect();
    let count = |f: &dyn Fn(&crate::api::alarm_policy::AlarmStatus) -> bool| {
        alarms.iter().filter(|a| f(a)).count() as i32
    };
    let summary = AlarmSummary {
        total: alarms.len() as i32,
        firing: count(&|a| a.state.as_deref() == Some("ALARM")),
        drifted: count(&|a| !a.drift.is_empty()),
        conflicts: count(&|a| a.conflict.is_some()),
    };

    let (ready, synced, why, message) = if let Some(err) = errors.first() {
        let more = if errors.len() > 1 {
            format!(" (and {} more errors)", errors.len() - 1)
        } else {
            String::new()
        };
        (
            Status::False,
            Status::False,
            reason::AWS_ERROR,
            format!("{err}{more}"),
        )
    } else if summary.conflicts > 0 {
        let first = alarms.iter().find_map(|a| {
            a.conflict
                .as_ref()
                .map(|c| format!("{}: {c}", a.alarm_name))
        });
        (
            Status::False,
            Status::True,
            reason::CONFLICT,
            format!(
                "{} alarm(s) in conflict; first: {}",
                summary.conflicts,
                first.unwrap_or_default()
            ),
        )
    } else if summary.drifted > 0 {
        let verb = if plan.manage {
            "not yet corrected"
        } else {
            "reported only (managementPolicy: Observe)"
        };
        (
            Status::False,
            Status::False,
            reason::DRIFTED,
            format!("{} alarm(s) differ from the spec, {verb}", summary.drifted),
        )
    } else {
        (
            Status::True,
            Status::True,
            reason::RECONCILED,
            format!("{} alarm(s) as declared", summary.total),
        )
    };
    let conditions = ready_and_synced(base, ready, synced, why, &message, now);
    AlarmPolicyStatus {
        observed_generation: generation,
        conditions,
        alarms,
        summary: Some(summary),
        footprint: Vec::new(),
        admitted: None,
    }
}

/// The status of a policy whose spec is invalid: nothing was sent to AWS.
pub fn invalid_status(
    invalid: &InvalidSpec,
    base: &StatusBase,
    now: Timestamp,
) -> AlarmPolicyStatus {
    let generation = base.generation;
    let message = invalid
        .errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let conditions = ready_and_synced(
        base,
        Status::False,
        Status::False,
        reason::INVALID_SPEC,
        &message,
        now,
    );
    AlarmPolicyStatus {
        observed_generation: generation,
        conditions,
        ..AlarmPolicyStatus::default()
    }
}

/// The Ready and Synced conditions on top of the previous ones (transition times kept).
pub(crate) fn ready_and_synced(
    base: &StatusBase,
    ready: Status,
    synced: Status,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Vec<Condition> {
    let mut conditions = base.conditions.clone();
    for (type_, status) in [(READY, ready), (SYNCED, synced)] {
        set_condition(
            &mut conditions,
            type_,
            status,
            reason,
            message,
            base.generation,
            now,
        );
    }
    conditions
}

//! Status conditions in the Kubernetes `metav1.Condition` shape, and the one way to set them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// `Ready`: the object is fully in effect.
pub const READY: &str = "Ready";
/// `Synced`: the last reconcile reached AWS and AWS matched the spec.
pub const SYNCED: &str = "Synced";
/// `ChangeHeld`: a spec change waits for a maintenance window; the spec admitted last is enforced.
pub const CHANGE_HELD: &str = "ChangeHeld";
/// `ReadyToFailOver` (FailoverPlan): a failover (or failback) to the other side could start now;
/// its message lists every problem that would block or break one.
pub const READY_TO_FAIL_OVER: &str = "ReadyToFailOver";

/// Condition status values, as Kubernetes spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }
}

/// Sets condition `type_` in `conditions`. `lastTransitionTime` moves to `now` only when the status
/// changes, so `kubectl` shows how long a condition has held, not when dialtone last looked.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: Status,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Timestamp,
) {
    let message = message.into();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status.as_str() {
                existing.last_transition_time = Time(now);
                existing.status = status.as_str().to_string();
            }
            existing.reason = reason.to_string();
            existing.message = message;
            existing.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status: status.as_str().to_string(),
            reason: reason.to_string(),
            message,
            observed_generation,
            last_transition_time: Time(now),
        }),
    }
}

/// `ChangeHeld=False, Admitted`: the declared spec is in effect (no change waits for a window).
pub fn set_change_admitted(
    conditions: &mut Vec<Condition>,
    observed_generation: Option<i64>,
    now: Timestamp,
) {
    set_condition(
        conditions,
        CHANGE_HELD,
        Status::False,
        "Admitted",
        "the declared spec is in effect",
        observed_generation,
        now,
    );
}

/// The condition of type `type_`, if set.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).expect("valid test timestamp")
    }

    #[test]
    fn new_condition_gets_transition_time() {
        let mut conditions = vec![];
        set_condition(
            &mut conditions,
            READY,
            Status::True,
            "Reconciled",
            "ok",
            Some(1),
            at(100),
        );
        let ready = find(&conditions, READY).expect("set");
        assert_eq!(ready.status, "True");
        assert_eq!(ready.last_transition_time, Time(at(100)));
        assert_eq!(ready.observed_generation, Some(1));
    }

    #[test]
    fn same_status_keeps_transition_time_but_updates_reason() {
        let mut conditions = vec![];
        set_condition(
            &mut conditions,
            READY,
            Status::False,
            "AwsError",
            "a",
            Some(1),
            at(100),
        );
        set_condition(
            &mut conditions,
            READY,
            Status::False,
            "Conflict",
            "b",
            Some(2),
            at(200),
        );
        let ready = find(&conditions, READY).expect("set");
        assert_eq!(ready.last_transition_time, Time(at(100)));
        assert_eq!(
            (ready.reason.as_str(), ready.message.as_str()),
            ("Conflict", "b")
        );
        assert_eq!(ready.observed_generation, Some(2));
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn status_change_moves_transition_time() {
        let mut conditions = vec![];
        set_condition(
            &mut conditions,
            READY,
            Status::False,
            "AwsError",
            "",
            None,
            at(100),
        );
        set_condition(
            &mut conditions,
            READY,
            Status::True,
            "Reconciled",
            "",
            None,
            at(300),
        );
        assert_eq!(
            find(&conditions, READY).expect("set").last_transition_time,
            Time(at(300))
        );
    }

    #[test]
    fn conditions_of_other_types_are_independent() {
        let mut conditions = vec![];
        set_condition(
            &mut conditions,
            READY,
            Status::True,
            "Reconciled",
            "",
            None,
            at(1),
        );
        set_condition(
            &mut conditions,
            SYNCED,
            Status::False,
            "Drifted",
            "",
            None,
            at(2),
        );
        assert_eq!(conditions.len(), 2);
        assert_eq!(find(&conditions, READY).expect("set").status, "True");
    }
}

//! The change gate: a spec change of an object that MaintenanceWindows gate goes in only while one
//! of those windows is open, or at once with the emergency annotation. Until then dialtone keeps
//! enforcing the spec it admitted last. Pure: the caller passes the instant.

use jiff::Timestamp;

use super::schedule::Schedule;

/// A window that gates an object.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    /// `<namespace>/<name>` of the MaintenanceWindow.
    pub window: &'a str,
    pub schedule: &'a Schedule,
}

/// Why a spec goes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// No window gates the object.
    Ungated,
    /// It is the spec admitted already.
    Unchanged,
    /// A gating window is open now.
    WindowOpen { window: String },
    /// `dialtone.io/emergency-change: "<reason>"`.
    Emergency { reason: String },
    /// The change may never wait (a failover whose active side is unhealthy).
    Exempt { reason: String },
}

/// What becomes of an object's current spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// It goes in, and becomes the admitted spec.
    Admit(Admitted),
    /// It waits for `window`, which opens at `opens`.
    Hold {
        window: String,
        opens: Option<Timestamp>,
    },
}

/// Decides whether `changed` (the current spec differs from the admitted one, or nothing was
/// admitted yet) goes in now.
/// The message of a held change's `ChangeHeld` condition: which window, when it opens, what is
/// in effect meanwhile, and how to let the change in now.
pub fn held_message(window: &str, opens: Option<Timestamp>, enforcing: bool) -> String {
    let when = opens
        .map(|t| format!("opens at {t}"))
        .unwrap_or_else(|| "has no window ahead".into());
    let meanwhile = if enforcing {
        "the spec admitted last is enforced meanwhile"
    } else {
        "nothing is written meanwhile"
    };
    format!(
        "spec change held for MaintenanceWindow {window}, which {when}; {meanwhile} (annotation {}: \"<reason>\" lets it in now)",
        crate::api::maintenance_window::EMERGENCY_CHANGE_ANNOTATION
    )
}

pub fn admit(
    changed: bool,
    gates: &[Gate<'_>],
    emergency: Option<&str>,
    exempt: Option<&str>,
    now: Timestamp,
) -> Admission {
    if !changed {
        return Admission::Admit(Admitted::Unchanged);
    }
    if gates.is_empty() {
        return Admission::Admit(Admitted::Ungated);
    }
    if let Some(open) = gates.iter().find(|g| g.schedule.is_open(now)) {
        return Admission::Admit(Admitted::WindowOpen {
            window: open.window.to_string(),
        });
    }
    if let Some(reason) = exempt {
        return Admission::Admit(Admitted::Exempt {
            reason: reason.to_string(),
        });
    }
    if let Some(reason) = emergency.map(str::trim).filter(|r| !r.is_empty()) {
        return Admission::Admit(Admitted::Emergency {
            reason: reason.to_string(),
        });
    }
    // The gate that opens first lets it in. A gate that never opens again (its one-off windows
    // are over) gates nothing: holding a change forever would be a trap.
    let next = gates
        .iter()
        .filter_map(|g| Some((g.schedule.next(now)?.start, g.window)))
        .min();
    match next {
        Some((opens, window)) => Admission::Hold {
            window: window.to_string(),
            opens: Some(opens),
        },
        None => Admission::Admit(Admitted::Ungated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::maintenance_window::MaintenanceWindowSpec;

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn schedule(value: serde_json::Value) -> Schedule {
        let spec: MaintenanceWindowSpec = serde_json::from_value(value).expect("spec");
        Schedule::parse(&spec).expect("valid")
    }

    /// What, changed?, gates, emergency reason, exempt reason, at, expected.
    type Case<'a> = (
        &'static str,
        bool,
        &'a [Gate<'a>],
        Option<&'static str>,
        Option<&'static str>,
        Timestamp,
        Admission,
    );

    #[test]
    fn changes_wait_for_the_first_gate_to_open_unless_urgent() {
        let sunday = schedule(serde_json::json!({
            "schedule": "0 2 * * SUN", "timeZone": "UTC", "duration": "2h",
            "changeGate": {"alarmPolicySelector": {}},
        }));
        let once = schedule(serde_json::json!({
            "windows": [{"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z"}],
            "changeGate": {"alarmPolicySelector": {}},
        }));
        let gates = [
            Gate {
                window: "cc/weekly",
                schedule: &sunday,
            },
            Gate {
                window: "cc/cutover",
                schedule: &once,
            },
        ];
        let closed = ts("2026-11-30T12:00:00Z"); // a Monday
        let cases: Vec<Case<'_>> = vec![
            (
                "unchanged",
                false,
                &gates,
                None,
                None,
                closed,
                Admission::Admit(Admitted::Unchanged),
            ),
            (
                "ungated",
                true,
                &[],
                None,
                None,
                closed,
                Admission::Admit(Admitted::Ungated),
            ),
            (
                "held for the gate that opens first",
                true,
                &gates,
                None,
                None,
                closed,
                Admission::Hold {
                    window: "cc/cutover".into(),
                    opens: Some(ts("2026-12-01T10:00:00Z")),
                },
            ),
            (
                "admitted while a gate is open",
                true,
                &gates,
                None,
                None,
                ts("2026-12-01T10:30:00Z"),
                Admission::Admit(Admitted::WindowOpen {
                    window: "cc/cutover".into(),
                }),
            ),
            (
                "emergency",
                true,
                &gates,
                Some(" outage INC-9 "),
                None,
                closed,
                Admission::Admit(Admitted::Emergency {
                    reason: "outage INC-9".into(),
                }),
            ),
            (
                "an empty emergency reason is no reason",
                true,
                &gates,
                Some(""),
                None,
                closed,
                Admission::Hold {
                    window: "cc/cutover".into(),
                    opens: Some(ts("2026-12-01T10:00:00Z")),
                },
            ),
            (
                "exempt (an unhealthy active side)",
                true,
                &gates,
                None,
                Some("active region us-east-1 is Unhealthy"),
                closed,
                Admission::Admit(Admitted::Exempt {
                    reason: "active region us-east-1 is Unhealthy".into(),
                }),
            ),
            (
                "after the one-off window, the weekly one",
                true,
                &gates,
                None,
                None,
                ts("2026-12-02T00:00:00Z"),
                Admission::Hold {
                    window: "cc/weekly".into(),
                    opens: Some(ts("2026-12-06T02:00:00Z")),
                },
            ),
        ];
        for (what, changed, gates, emergency, exempt, now, expected) in cases {
            assert_eq!(
                admit(changed, gates, emergency, exempt, now),
                expected,
                "{what}"
            );
        }
    }
}

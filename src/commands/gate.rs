//! The change gate in manifest mode: which spec of each AlarmPolicy is enforced this sweep. A spec
//! change of a policy that MaintenanceWindows gate goes in only while one of them is open (or with
//! the emergency annotation); until then the spec admitted last, kept in the state file, is
//! enforced, and a new policy writes nothing.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;

use crate::api::Object;
use crate::api::alarm_policy::AlarmPolicy;
use crate::api::maintenance_window::{EMERGENCY_CHANGE_ANNOTATION, MaintenanceWindow};
use crate::controller::maintenance_window::{GateWindow, gate_windows, gates_of};
use crate::plan::gate::{Admission, Admitted, admit};
use crate::source::state::State;
use crate::source::{ObjectKey, Snapshot};

/// A change that waits.
#[derive(Debug, Clone)]
pub struct Held {
    pub key: ObjectKey,
    /// `<namespace>/<name>` of the window that lets it in first.
    pub window: String,
    pub opens: Option<Timestamp>,
    /// Whether an earlier spec is enforced meanwhile (false: a new policy, nothing is written).
    pub enforcing_admitted: bool,
    /// The policy as declared now (what goes in when the window opens).
    pub declared: AlarmPolicy,
}

/// What the gate decided for every AlarmPolicy of a snapshot.
#[derive(Debug, Default)]
pub struct Gated<'a> {
    /// The policy to enforce, by key: as declared (borrowed from the snapshot), or with the spec
    /// admitted last.
    pub effective: BTreeMap<ObjectKey, Cow<'a, AlarmPolicy>>,
    pub held: Vec<Held>,
    /// Policies whose declared spec goes in now, and why (to record as admitted; their effective
    /// policy is the declared one).
    pub admitted: Vec<(ObjectKey, Admitted)>,
    /// Policies that at least one window gates.
    pub gated: std::collections::BTreeSet<ObjectKey>,
}

impl Gated<'_> {
    pub fn held(&self, key: &ObjectKey) -> Option<&Held> {
        self.held.iter().find(|h| &h.key == key)
    }
}

/// The valid windows of a snapshot that gate AlarmPolicies.
pub fn windows(snapshot: &Snapshot) -> Vec<GateWindow> {
    let windows: Vec<&MaintenanceWindow> = snapshot
        .objects
        .values()
        .filter_map(|(_, object)| match object {
            Object::MaintenanceWindow(window) => Some(window),
            _ => None,
        })
        .collect();
    gate_windows(&windows)
}

/// Decides, for every AlarmPolicy of `snapshot`, which spec is enforced.
pub fn decide<'a>(snapshot: &'a Snapshot, state: &State, now: Timestamp) -> Gated<'a> {
    let windows = windows(snapshot);
    let mut gated = Gated::default();
    for (key, (_, object)) in &snapshot.objects {
        let Object::AlarmPolicy(policy) = object else {
            continue;
        };
        let declared = serde_json::to_value(&policy.spec).unwrap_or_default();
        let admitted = state
            .record(&key.to_string())
            .and_then(|r| r.admitted.as_ref());
        let changed = admitted != Some(&declared);
        let emergency = crate::api::annotation(&policy.metadata, EMERGENCY_CHANGE_ANNOTATION);
        let gates = gates_of(policy, &windows);
        if !gates.is_empty() {
            gated.gated.insert(key.clone());
        }
        match admit(changed, &gates, emergency, None, now) {
            Admission::Admit(why) => {
                if why != Admitted::Unchanged {
                    gated.admitted.push((key.clone(), why));
                }
                gated.effective.insert(key.clone(), Cow::Borrowed(policy));
            }
            Admission::Hold { window, opens } => {
                let enforced = admitted.and_then(|spec| {
                    let mut earlier = policy.clone();
                    earlier.spec = serde_json::from_value(spec.clone()).ok()?;
                    Some(earlier)
                });
                gated.held.push(Held {
                    key: key.clone(),
                    window,
                    opens,
                    enforcing_admitted: enforced.is_some(),
                    declared: policy.clone(),
                });
                if let Some(earlier) = enforced {
                    gated.effective.insert(key.clone(), Cow::Owned(earlier));
                }
            }
        }
    }
    gated
}

/// The message of a held change's `ChangeHeld` condition.
pub fn held_message(held: &Held) -> String {
    crate::plan::gate::held_message(&held.window, held.opens, held.enforcing_admitted)
}

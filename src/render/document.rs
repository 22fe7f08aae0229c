//! The document for machines: `plan -o json`, `apply -o json` and `run --manifests`'s `GET /status`.
//!
//! `{"objects": [{"kind", "namespace", "name", "status", "changes"}], ...}`: every object of every
//! kind, its computed status in exactly the CRD's status shape, and the changes pending (plan) or
//! made (apply, run). Besides `objects`: orphans, the invalid documents, whether deletions are
//! withheld, and a summary of counts.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::Totals;
use crate::api::Object;
use crate::api::conditions::{READY, SYNCED, Status, set_condition};
use crate::aws::Target;
use crate::commands::Report;
use crate::controller::alarm_policy::PolicyOutcome;
use crate::controller::failover_plan::FailoverOutcome;
use crate::controller::maintenance_window::WindowOutcome;
use crate::controller::status::{StatusBase, invalid_status};
use crate::plan::mute::MuteAction;
use crate::plan::sweep::Action;
use crate::source::{ObjectKey, Snapshot};
use crate::validate::{FieldError, InvalidSpec};

/// Which changes a document lists: those a plan would make, or those carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changes {
    Planned,
    Done,
}

fn action_json(action: &Action, target: &Target) -> Value {
    let mut value = match action {
        Action::Create { alarm } => {
            json!({"action": "create", "alarmName": alarm.config.alarm_name, "alarm": alarm.name})
        }
        Action::Update { alarm, drift } => {
            json!({"action": "update", "alarmName": alarm.config.alarm_name, "alarm": alarm.name, "drift": drift})
        }
        Action::Tag {
            alarm_name, drift, ..
        } => json!({"action": "tag", "alarmName": alarm_name, "drift": drift}),
        Action::Adopt { alarm, drift, .. } => {
            json!({"action": "adopt", "alarmName": alarm.config.alarm_name, "alarm": alarm.name, "drift": drift})
        }
        Action::Untag {
            alarm_name, keys, ..
        } => json!({"action": "untag", "alarmName": alarm_name, "keys": keys}),
        Action::Delete { alarm_name } => json!({"action": "delete", "alarmName": alarm_name}),
    };
    value["region"] = json!(target.region);
    value
}

fn changes(outcome: &PolicyOutcome, which: Changes) -> Vec<Value> {
    match which {
        Changes::Planned => outcome
            .all_planned()
            .map(|(t, a)| action_json(a, t))
            .collect(),
        Changes::Done => outcome.all_done().map(|(t, a)| action_json(a, t)).collect(),
    }
}

fn mute_json(action: &MuteAction, target: &Target) -> Value {
    let mut value = match action {
        MuteAction::Create(rule) => json!({
            "action": "create", "muteRule": rule.name, "expression": rule.expression,
            "duration": rule.duration, "timezone": rule.timezone, "alarms": rule.targets.len(),
        }),
        MuteAction::Update { rule, drift } => {
            json!({"action": "update", "muteRule": rule.name, "drift": drift})
        }
        MuteAction::Delete { name } => json!({"action": "delete", "muteRule": name}),
    };
    value["region"] = json!(target.region);
    value
}

fn window_changes(window: &WindowOutcome, which: Changes) -> Vec<Value> {
    match which {
        Changes::Planned => window.all_planned().map(|(t, a)| mute_json(a, t)).collect(),
        Changes::Done => window.all_done().map(|(t, a)| mute_json(a, t)).collect(),
    }
}

fn plan_changes(plan: &FailoverOutcome) -> Vec<Value> {
    plan.peacetime_writes
        .iter()
        .chain(&plan.calls)
        .map(|c| {
            json!({"step": c.step, "operation": c.operation, "region": c.region, "detail": c.detail})
        })
        .collect()
}

fn entry(key: &ObjectKey, status: Value, changes: Vec<Value>) -> Value {
    json!({
        "kind": key.kind.as_str(),
        "namespace": key.namespace,
        "name": key.name,
        "status": status,
        "changes": changes,
    })
}

/// The status of an object that cannot be used: Ready and Synced False, reason InvalidSpec.
fn unusable_status(invalid: &InvalidSpec, generation: Option<i64>) -> Value {
    let base = StatusBase {
        generation,
        conditions: Vec::new(),
    };
    json!(invalid_status(invalid, &base, Timestamp::now()))
}

/// The status of a kind dialtone does not reconcile yet: said, not guessed.
fn not_reconciled_status(kind: &str, generation: Option<i64>) -> Value {
    let mut conditions = Vec::new();
    for type_ in [READY, SYNCED] {
        set_condition(
            &mut conditions,
            type_,
            Status::Unknown,
            "NotReconciled",
            format!("this version of dialtone validates {kind}s but does not reconcile them yet"),
            generation,
            Timestamp::now(),
        );
    }
    json!({"observedGeneration": generation, "conditions": conditions})
}

/// The whole document.
pub fn document(report: &Report, snapshot: &Snapshot, which: Changes) -> Value {
    let mut objects = Vec::new();
    for (key, (_, object)) in &snapshot.objects {
        let generation = match object {
            Object::AlarmPolicy(o) => o.metadata.generation,
            Object::ContactCenterRegion(o) => o.metadata.generation,
            Object::FailoverPlan(o) => o.metadata.generation,
            Object::MaintenanceWindow(o) => o.metadata.generation,
        };
        let (status, object_changes) = match object {
            Object::AlarmPolicy(_) => match report
                .alarms
                .policies
                .iter()
                .find(|o| !o.removed && o.owner == key.owner())
            {
                Some(outcome) => (json!(outcome.status), changes(outcome, which)),
                None => (
                    report
                        .held
                        .iter()
                        .find(|(h, _)| &h.key == key)
                        .map(|(_, status)| json!(status))
                        .unwrap_or(Value::Null),
                    Vec::new(),
                ),
            },
            Object::ContactCenterRegion(_) => (
                report
                    .regions
                    .iter()
                    .find(|r| r.owner == key.owner())
                    .map(|r| json!(r.status))
                    .unwrap_or(Value::Null),
                Vec::new(),
            ),
            Object::MaintenanceWindow(_) => match report
                .windows
                .iter()
                .find(|w| !w.removed && w.owner == key.owner())
            {
                Some(window) => (json!(window.status), window_changes(window, which)),
                None => (Value::Null, Vec::new()),
            },
            Object::FailoverPlan(_) => match report.plans.iter().find(|p| p.owner == key.owner()) {
                Some(plan) => (json!(plan.status), plan_changes(plan)),
                None => (
                    not_reconciled_status(key.kind.as_str(), generation),
                    Vec::new(),
                ),
            },
        };
        let mut value = entry(key, status, object_changes);
        if let Some((held, _)) = report.held.iter().find(|(h, _)| &h.key == key) {
            let when = report
                .when_admitted
                .iter()
                .find(|o| o.owner == key.owner())
                .map(|o| changes(o, Changes::Planned))
                .unwrap_or_default();
            value["held"] = json!({
                "window": held.window,
                "opens": held.opens.map(|t| t.to_string()),
                "whenAdmitted": when,
            });
        }
        objects.push(value);
    }
    for (key, (_, invalid)) in &snapshot.invalid {
        objects.push(entry(key, unusable_status(invalid, None), Vec::new()));
    }
    for (key, origins) in &snapshot.duplicates {
        let places: Vec<String> = origins.iter().map(ToString::to_string).collect();
        let invalid = InvalidSpec {
            object: key.to_string(),
            errors: vec![FieldError::new(
                "metadata.name",
                format!(
                    "declared more than once ({}); no copy is used",
                    places.join(" and ")
                ),
            )],
        };
        objects.push(entry(key, unusable_status(&invalid, None), Vec::new()));
    }
    for window in report.windows.iter().filter(|w| w.removed) {
        let (namespace, name) = window
            .owner
            .split_once('/')
            .unwrap_or(("default", &window.owner));
        let key = ObjectKey::new(crate::source::Kind::MaintenanceWindow, namespace, name);
        let mut removed = entry(&key, Value::Null, window_changes(window, which));
        removed["removed"] = json!(true);
        objects.push(removed);
    }
    for outcome in report.alarms.policies.iter().filter(|o| o.removed) {
        let (namespace, name) = outcome
            .owner
            .split_once('/')
            .unwrap_or(("default", &outcome.owner));
        let key = ObjectKey::new(crate::source::Kind::AlarmPolicy, namespace, name);
        let mut removed = entry(&key, Value::Null, changes(outcome, which));
        removed["removed"] = json!(true);
        objects.push(removed);
    }

    let totals = Totals::of(report);
    let invalid = snapshot.problems();
    json!({
        "objects": objects,
        "orphans": report.alarms.regions.iter().flat_map(|r| r.orphans.iter().map(move |orphan| json!({
            "region": r.target.region,
            "alarmName": orphan.alarm_name,
            "owner": orphan.owner,
            "reason": orphan.reason,
            "prune": r.prune.iter().any(|a| a.alarm_name() == orphan.alarm_name),
        }))).collect::<Vec<_>>(),
        "invalid": invalid,
        "deletionsWithheld": snapshot.withheld(),
        "summary": {
            "create": totals.create, "update": totals.update, "tag": totals.tag,
            "adopt": totals.adopt, "delete": totals.delete, "kept": totals.kept,
            "orphans": totals.orphans, "conflicts": totals.conflicts, "invalid": invalid.len(),
            "errors": totals.errors, "changes": totals.changes(), "drifted": totals.drifted,
        },
    })
}

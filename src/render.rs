//! What `plan`, `apply` and `run` print: for people (like `terraform plan`) and for machines.

use std::fmt::Write;

use serde_json::{Value, json};

use crate::api::alarm_policy::{AlarmPolicyStatus, FieldDrift};
use crate::api::conditions::{READY, find};
use crate::controller::PolicyOutcome;
use crate::plan::sweep::Action;

/// Counts over a whole plan.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub create: usize,
    pub update: usize,
    pub tag: usize,
    pub adopt: usize,
    pub delete: usize,
    pub conflicts: usize,
    pub errors: usize,
}

impl Totals {
    pub fn of(outcomes: &[PolicyOutcome]) -> Self {
        let mut totals = Totals::default();
        for outcome in outcomes {
            for action in &outcome.plan.actions {
                match action {
                    Action::Create { .. } => totals.create += 1,
                    Action::Update { .. } => totals.update += 1,
                    Action::Tag { .. } | Action::Untag { .. } => totals.tag += 1,
                    Action::Adopt { .. } => totals.adopt += 1,
                    Action::Delete { .. } => totals.delete += 1,
                }
            }
            totals.conflicts += outcome.plan.conflicts();
            totals.errors += outcome.errors.len();
        }
        totals
    }

    pub fn changes(&self) -> usize {
        self.create + self.update + self.tag + self.adopt + self.delete
    }
}

fn drift_lines(out: &mut String, indent: &str, drift: &[FieldDrift]) {
    for d in drift {
        let _ = writeln!(
            out,
            "{indent}{}: {} -> {}",
            d.field,
            shown(&d.actual),
            shown(&d.desired)
        );
    }
}

fn shown(value: &str) -> String {
    if value.is_empty() {
        "(none)".to_string()
    } else {
        format!("{value:?}")
    }
}

/// The human-readable plan: each alarm that changes, each drifted field as `actual -> desired`.
pub fn plan_text(outcomes: &[PolicyOutcome], invalid: &[String]) -> String {
    let mut out = String::new();
    for outcome in outcomes {
        let mode = if outcome.plan.manage {
            ""
        } else {
            " [Observe: report only]"
        };
        let _ = writeln!(
            out,
            "AlarmPolicy {} ({}){mode}",
            outcome.owner, outcome.target.region
        );
        let mut shown_any = false;
        for action in &outcome.plan.actions {
            shown_any = true;
            match action {
                Action::Create { alarm } => {
                    let _ = writeln!(out, "  + create {}", alarm.config.alarm_name);
                }
                Action::Update { alarm, drift } => {
                    let _ = writeln!(out, "  ~ update {}", alarm.config.alarm_name);
                    drift_lines(&mut out, "      ", drift);
                }
                Action::Tag {
                    alarm_name, drift, ..
                } => {
                    let _ = writeln!(out, "  ~ tag    {alarm_name}");
                    drift_lines(&mut out, "      ", drift);
                }
                Action::Adopt { alarm, drift, .. } => {
                    let _ = writeln!(
                        out,
                        "  ~ adopt  {} (tag it as ours)",
                        alarm.config.alarm_name
                    );
                    drift_lines(&mut out, "      ", drift);
                }
                Action::Untag {
                    alarm_name, keys, ..
                } => {
                    let _ = writeln!(
                        out,
                        "  ~ untag  {alarm_name}: {} (no longer in spec.tags)",
                        keys.join(", ")
                    );
                }
                Action::Delete { alarm_name } => {
                    let _ = writeln!(out, "  - delete {alarm_name} (no longer in the policy)");
                }
            }
        }
        for alarm in &outcome.plan.alarms {
            if let Some(conflict) = &alarm.conflict {
                shown_any = true;
                let _ = writeln!(out, "  ! conflict {}: {conflict}", alarm.alarm_name);
            } else if !outcome.plan.manage && !alarm.drift.is_empty() {
                shown_any = true;
                let _ = writeln!(out, "  ? drift  {}", alarm.alarm_name);
                drift_lines(&mut out, "      ", &alarm.drift);
            }
        }
        for err in &outcome.errors {
            shown_any = true;
            let _ = writeln!(out, "  x error  {err}");
        }
        if !shown_any {
            let _ = writeln!(
                out,
                "  no changes ({} alarms as declared)",
                outcome.plan.alarms.len()
            );
        }
    }
    for problem in invalid {
        let _ = writeln!(out, "INVALID {problem}");
    }
    let t = Totals::of(outcomes);
    let _ = writeln!(
        out,
        "\nPlan: {} to create, {} to update, {} to tag, {} to adopt, {} to delete; {} conflict(s), {} invalid document(s), {} error(s).",
        t.create,
        t.update,
        t.tag,
        t.adopt,
        t.delete,
        t.conflicts,
        invalid.len(),
        t.errors
    );
    out
}

fn action_json(action: &Action) -> Value {
    match action {
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
    }
}

/// The plan for machines (`-o json`).
pub fn plan_json(outcomes: &[PolicyOutcome], invalid: &[String]) -> Value {
    let t = Totals::of(outcomes);
    json!({
        "policies": outcomes.iter().map(|o| json!({
            "policy": o.owner,
            "region": o.target.region,
            "roleArn": o.target.role_arn,
            "managementPolicy": if o.plan.manage { "Manage" } else { "Observe" },
            "actions": o.plan.actions.iter().map(action_json).collect::<Vec<_>>(),
            "alarms": o.plan.alarms,
            "errors": o.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "invalid": invalid,
        "summary": {
            "create": t.create, "update": t.update, "tag": t.tag, "adopt": t.adopt, "delete": t.delete,
            "conflicts": t.conflicts, "invalid": invalid.len(), "errors": t.errors, "changes": t.changes(),
        },
    })
}

/// One line per action carried out.
pub fn done_lines(outcome: &PolicyOutcome) -> Vec<String> {
    outcome
        .done
        .iter()
        .map(|action| {
            let fields = |drift: &[FieldDrift]| {
                drift
                    .iter()
                    .map(|d| format!("{} {} -> {}", d.field, shown(&d.actual), shown(&d.desired)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match action {
                Action::Create { alarm } => format!("created {}", alarm.config.alarm_name),
                Action::Update { alarm, drift } => {
                    format!("updated {}: {}", alarm.config.alarm_name, fields(drift))
                }
                Action::Tag {
                    alarm_name, drift, ..
                } => format!("tagged {alarm_name}: {}", fields(drift)),
                Action::Adopt { alarm, .. } => format!("adopted {}", alarm.config.alarm_name),
                Action::Untag {
                    alarm_name, keys, ..
                } => {
                    format!("untagged {alarm_name}: {}", keys.join(", "))
                }
                Action::Delete { alarm_name } => format!("deleted {alarm_name}"),
            }
        })
        .collect()
}

/// A concise status line: counts and the Ready condition.
pub fn status_line(owner: &str, region: &str, status: &AlarmPolicyStatus) -> String {
    let summary = status.summary.clone().unwrap_or_default();
    let ready = find(&status.conditions, READY)
        .map(|c| format!("Ready={} ({}): {}", c.status, c.reason, c.message))
        .unwrap_or_else(|| "Ready=Unknown".to_string());
    format!(
        "AlarmPolicy {owner} [{region}]: {} alarms, {} firing, {} drifted, {} conflicts; {ready}",
        summary.total, summary.firing, summary.drifted, summary.conflicts
    )
}

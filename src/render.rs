//! What `plan`, `apply` and `run` print: for people (like `terraform plan`) and for machines.

use std::fmt::Write;

use serde_json::{Value, json};

use crate::api::alarm_policy::{AlarmPolicyStatus, FieldDrift};
use crate::api::conditions::{READY, find};
use crate::aws::Target;
use crate::controller::alarm_policy::{PolicyOutcome, SweepOutcome};
use crate::plan::sweep::{Action, PolicyPlan};

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
    pub orphans: usize,
    pub kept: usize,
}

impl Totals {
    pub fn of(sweep: &SweepOutcome) -> Self {
        let mut totals = Totals::default();
        let planned = sweep
            .policies
            .iter()
            .flat_map(|o| o.all_planned().map(|(_, a)| a))
            .chain(sweep.regions.iter().flat_map(|r| &r.prune));
        for action in planned {
            match action {
                Action::Create { .. } => totals.create += 1,
                Action::Update { .. } => totals.update += 1,
                Action::Tag { .. } | Action::Untag { .. } => totals.tag += 1,
                Action::Adopt { .. } => totals.adopt += 1,
                Action::Delete { .. } => totals.delete += 1,
            }
        }
        for outcome in &sweep.policies {
            totals.conflicts += outcome.plan.conflicts();
            totals.errors += outcome.errors.len();
            totals.kept += outcome.plan.kept.len()
                + outcome
                    .elsewhere
                    .iter()
                    .map(|e| e.plan.kept.len())
                    .sum::<usize>();
        }
        for region in &sweep.regions {
            totals.orphans += region.orphans.len();
            totals.errors += region.errors.len();
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

/// Why a policy's deletion is planned, for the plan's text.
fn deletion_reason(outcome: &PolicyOutcome, target: &Target) -> String {
    if outcome.removed {
        "the AlarmPolicy is gone".to_string()
    } else if target != &outcome.target {
        format!("left behind in {}", where_(target))
    } else {
        "no longer in the policy".to_string()
    }
}

fn where_(target: &Target) -> String {
    match &target.role_arn {
        Some(role) => format!("{} as {role}", target.region),
        None => target.region.clone(),
    }
}

fn action_lines(out: &mut String, outcome: &PolicyOutcome, target: &Target, plan: &PolicyPlan) {
    for action in &plan.actions {
        match action {
            Action::Create { alarm } => {
                let _ = writeln!(out, "  + create {}", alarm.config.alarm_name);
            }
            Action::Update { alarm, drift } => {
                let _ = writeln!(out, "  ~ update {}", alarm.config.alarm_name);
                drift_lines(out, "      ", drift);
            }
            Action::Tag {
                alarm_name, drift, ..
            } => {
                let _ = writeln!(out, "  ~ tag    {alarm_name}");
                drift_lines(out, "      ", drift);
            }
            Action::Adopt { alarm, drift, .. } => {
                let _ = writeln!(
                    out,
                    "  ~ adopt  {} (tag it as ours)",
                    alarm.config.alarm_name
                );
                drift_lines(out, "      ", drift);
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
                let _ = writeln!(
                    out,
                    "  - delete {alarm_name} ({})",
                    deletion_reason(outcome, target)
                );
            }
        }
    }
    for kept in &plan.kept {
        let _ = writeln!(out, "  = keep   {} ({})", kept.alarm_name, kept.reason);
    }
}

/// The human-readable plan: each alarm that changes, each drifted field as `actual -> desired`,
/// what is kept although no longer declared, and orphans.
pub fn plan_text(sweep: &SweepOutcome, invalid: &[String], prune: bool) -> String {
    let mut out = String::new();
    for outcome in &sweep.policies {
        let mode = if outcome.removed {
            " [gone: cleaning up]"
        } else if outcome.plan.manage {
            ""
        } else {
            " [Observe: report only]"
        };
        let _ = writeln!(
            out,
            "AlarmPolicy {} ({}){mode}",
            outcome.owner,
            where_(&outcome.target)
        );
        action_lines(&mut out, outcome, &outcome.target, &outcome.plan);
        for part in &outcome.elsewhere {
            action_lines(&mut out, outcome, &part.target, &part.plan);
        }
        let mut shown_any = outcome.all_planned().next().is_some()
            || !outcome.plan.kept.is_empty()
            || outcome.elsewhere.iter().any(|e| !e.plan.kept.is_empty());
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
    for region in &sweep.regions {
        if region.orphans.is_empty() && region.errors.is_empty() {
            continue;
        }
        let hint = if prune {
            "deleted by --prune"
        } else {
            "reported only; --prune deletes them"
        };
        let _ = writeln!(
            out,
            "Orphans in {} (owner tag of dialtone, no object of this source may delete them; {hint}):",
            where_(&region.target)
        );
        for orphan in &region.orphans {
            let sign = if region
                .prune
                .iter()
                .any(|a| a.alarm_name() == orphan.alarm_name)
            {
                "-"
            } else {
                "?"
            };
            let _ = writeln!(
                out,
                "  {sign} orphan {}: {}",
                orphan.alarm_name, orphan.reason
            );
        }
        for err in &region.errors {
            let _ = writeln!(out, "  x error  {err}");
        }
    }
    for problem in invalid {
        let _ = writeln!(out, "INVALID {problem}");
    }
    let t = Totals::of(sweep);
    let _ = writeln!(
        out,
        "\nPlan: {} to create, {} to update, {} to tag, {} to adopt, {} to delete; {} kept, {} orphan(s), {} conflict(s), {} invalid, {} error(s).",
        t.create,
        t.update,
        t.tag,
        t.adopt,
        t.delete,
        t.kept,
        t.orphans,
        t.conflicts,
        invalid.len(),
        t.errors
    );
    out
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

/// The plan for machines (`-o json`).
pub fn plan_json(sweep: &SweepOutcome, invalid: &[String], withheld: Option<&str>) -> Value {
    let t = Totals::of(sweep);
    let kept = |o: &PolicyOutcome| {
        std::iter::once(&o.plan)
            .chain(o.elsewhere.iter().map(|e| &e.plan))
            .flat_map(|p| &p.kept)
            .map(|k| json!({"alarmName": k.alarm_name, "reason": k.reason}))
            .collect::<Vec<_>>()
    };
    json!({
        "policies": sweep.policies.iter().map(|o| json!({
            "policy": o.owner,
            "region": o.target.region,
            "roleArn": o.target.role_arn,
            "removed": o.removed,
            "managementPolicy": if o.plan.manage { "Manage" } else { "Observe" },
            "actions": o.all_planned().map(|(t, a)| action_json(a, t)).collect::<Vec<_>>(),
            "kept": kept(o),
            "alarms": o.plan.alarms,
            "errors": o.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "orphans": sweep.regions.iter().flat_map(|r| r.orphans.iter().map(move |orphan| json!({
            "region": r.target.region,
            "alarmName": orphan.alarm_name,
            "owner": orphan.owner,
            "reason": orphan.reason,
            "prune": r.prune.iter().any(|a| a.alarm_name() == orphan.alarm_name),
        }))).collect::<Vec<_>>(),
        "invalid": invalid,
        "deletionsWithheld": withheld,
        "summary": {
            "create": t.create, "update": t.update, "tag": t.tag, "adopt": t.adopt, "delete": t.delete,
            "kept": t.kept, "orphans": t.orphans,
            "conflicts": t.conflicts, "invalid": invalid.len(), "errors": t.errors, "changes": t.changes(),
        },
    })
}

/// What an action did, in one line: `created NAME`, `updated NAME: threshold "300" -> "120"`.
pub fn done_line(action: &Action) -> String {
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
        } => format!("untagged {alarm_name}: {}", keys.join(", ")),
        Action::Delete { alarm_name } => format!("deleted {alarm_name}"),
    }
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

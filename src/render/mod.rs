//! What `plan`, `apply` and `run` print: for people (like `terraform plan`) and for machines.

use std::fmt::Write;

mod document;

use crate::api::alarm_policy::{AlarmPolicyStatus, FieldDrift};
use crate::api::conditions::{READY, find};
use crate::api::contact_center_region::Health;
use crate::aws::Target;
use crate::commands::Report;
use crate::controller::alarm_policy::{PolicyOutcome, SweepOutcome};
use crate::controller::contact_center_region::{ProbeOutcome, READY_FOR_TRAFFIC};
use crate::controller::failover_plan::FailoverOutcome;
use crate::controller::maintenance_window::WindowOutcome;
use crate::plan::mute::MuteAction;
use crate::plan::sweep::{Action, PolicyPlan};
pub use document::{Changes, document};

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
    /// Failovers due (plan) or carried out (apply).
    pub failovers: usize,
    /// Alarms of Observe policies that differ from their spec: reported, never written.
    pub drifted: usize,
}

impl Totals {
    pub fn of(report: &Report) -> Self {
        let sweep = &report.alarms;
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
            if !outcome.plan.manage {
                totals.drifted += outcome
                    .plan
                    .alarms
                    .iter()
                    .filter(|a| a.conflict.is_none() && !a.drift.is_empty())
                    .count();
            }
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
        totals.errors += report
            .regions
            .iter()
            .filter(|r| r.assessment.unreadable.is_some())
            .count();
        for window in &report.windows {
            for (_, action) in window.all_planned() {
                match action {
                    MuteAction::Create(_) => totals.create += 1,
                    MuteAction::Update { .. } => totals.update += 1,
                    MuteAction::Delete { .. } => totals.delete += 1,
                }
            }
            totals.errors += window.aws_errors().count() + window.errors.len();
            totals.conflicts += window
                .status
                .mute_rules
                .iter()
                .filter(|r| r.conflict.is_some())
                .count();
        }
        for plan in &report.plans {
            for call in &plan.peacetime_writes {
                match call.operation {
                    "PutMetricAlarm" if call.detail.starts_with("create") => totals.create += 1,
                    _ => totals.update += 1,
                }
            }
            totals.delete += plan
                .calls
                .iter()
                .filter(|c| c.operation == "DeleteAlarms")
                .count();
            totals.failovers += usize::from(plan.moving.is_some() && !plan.calls.is_empty());
            totals.errors += plan.errors.len();
        }
        totals
    }

    pub fn changes(&self) -> usize {
        self.create + self.update + self.tag + self.adopt + self.delete + self.failovers
    }

    /// What `--detailed-exitcode` reports as a difference: changes to make, and drift of
    /// Observe policies (reported, not corrected: a nightly drift check must still fire).
    pub fn differences(&self) -> usize {
        self.changes() + self.drifted
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
                for field in crate::plan::diff::config_fields(&alarm.config) {
                    let _ = writeln!(out, "      {} = {}", field.field, shown(&field.desired));
                }
                let tags: Vec<String> =
                    alarm.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let _ = writeln!(out, "      tags = {}", shown(&tags.join(", ")));
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
pub fn plan_text(report: &Report, invalid: &[String], prune: bool) -> String {
    let sweep = &report.alarms;
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
    for window in &report.windows {
        window_plan_lines(&mut out, window);
    }
    for (held, _) in &report.held {
        let _ = writeln!(
            out,
            "AlarmPolicy {} [change held]: {}",
            held.key.owner(),
            crate::commands::held_message(held)
        );
        match report
            .when_admitted
            .iter()
            .find(|o| o.owner == held.key.owner())
        {
            Some(outcome) if outcome.all_planned().next().is_some() => {
                let _ = writeln!(out, "  when it goes in:");
                action_lines(&mut out, outcome, &outcome.target, &outcome.plan);
                for part in &outcome.elsewhere {
                    action_lines(&mut out, outcome, &part.target, &part.plan);
                }
            }
            _ => {
                let _ = writeln!(out, "  when it goes in: nothing to write");
            }
        }
    }
    for plan in &report.plans {
        failover_plan_lines(&mut out, plan);
    }
    for region in &report.regions {
        let _ = writeln!(out, "{}", region_line(region));
    }
    for problem in invalid {
        let _ = writeln!(out, "INVALID {problem}");
    }
    let t = Totals::of(report);
    let _ = writeln!(
        out,
        "\nPlan: {} to create, {} to update, {} to tag, {} to adopt, {} to delete, {} failover(s); {} drifted (Observe: reported only), {} kept, {} orphan(s), {} conflict(s), {} invalid, {} error(s).",
        t.create,
        t.update,
        t.tag,
        t.adopt,
        t.delete,
        t.failovers,
        t.drifted,
        t.kept,
        t.orphans,
        t.conflicts,
        invalid.len(),
        t.errors
    );
    out
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

/// A region in one line: health and why, readiness, its share of the traffic.
pub fn region_line(outcome: &ProbeOutcome) -> String {
    let status = &outcome.status;
    let health = status.health.unwrap_or(Health::Unknown);
    let ready = find(&status.conditions, READY_FOR_TRAFFIC)
        .map(|c| c.status.clone())
        .unwrap_or_else(|| "Unknown".into());
    let traffic = status
        .traffic
        .as_ref()
        .map(|t| {
            let percent = |p: Option<i32>| p.map(|p| format!("{p}%")).unwrap_or_else(|| "-".into());
            let sign_in = match t.sign_in {
                Some(true) => "on",
                Some(false) => "off",
                None => "-",
            };
            format!(
                "; telephony {}, agents {}, sign-in {sign_in}",
                percent(t.telephony),
                percent(t.agents)
            )
        })
        .unwrap_or_default();
    format!(
        "ContactCenterRegion {} [{}]: {health:?} ({}); ReadyForTraffic={ready}{traffic}",
        outcome.owner,
        outcome.region,
        status.health_reason.as_deref().unwrap_or_default()
    )
}

fn window_plan_lines(out: &mut String, window: &WindowOutcome) {
    let _ = writeln!(
        out,
        "MaintenanceWindow {}{}",
        window.owner,
        if window.removed {
            " [gone: cleaning up]"
        } else {
            ""
        }
    );
    let mut shown = false;
    for part in &window.parts {
        let region = &part.target.region;
        for action in &part.plan.actions {
            shown = true;
            match action {
                MuteAction::Create(rule) => {
                    let _ = writeln!(
                        out,
                        "  + create mute rule {} in {region}: {} for {} ({}), {} alarm(s)",
                        rule.name,
                        rule.expression,
                        rule.duration,
                        rule.timezone,
                        rule.targets.len()
                    );
                }
                MuteAction::Update { rule, drift } => {
                    let _ = writeln!(out, "  ~ update mute rule {} in {region}", rule.name);
                    drift_lines(out, "      ", drift);
                }
                MuteAction::Delete { name } => {
                    let _ = writeln!(
                        out,
                        "  - delete mute rule {name} in {region} (no longer wanted: its alarms are unmuted)"
                    );
                }
            }
        }
        for (name, why) in &part.plan.kept {
            shown = true;
            let _ = writeln!(out, "  = keep   mute rule {name} in {region} ({why})");
        }
        for rule in part.plan.rules.iter().filter(|r| r.conflict.is_some()) {
            shown = true;
            let _ = writeln!(
                out,
                "  ! conflict mute rule {}: {}",
                rule.name,
                rule.conflict.as_deref().unwrap_or_default()
            );
        }
        for err in &part.errors {
            shown = true;
            let _ = writeln!(out, "  x error  {err}");
        }
    }
    for err in &window.errors {
        shown = true;
        let _ = writeln!(out, "  x error  {err}");
    }
    if !shown {
        let _ = writeln!(
            out,
            "  no changes ({} mute rule(s) as declared)",
            window.status.mute_rules.len()
        );
    }
}

/// A new policy whose creation waits for a window, in one line.
pub fn held_line(held: &crate::commands::Held, status: &AlarmPolicyStatus) -> String {
    let ready = find(&status.conditions, READY)
        .map(|c| format!("Ready={} ({})", c.status, c.reason))
        .unwrap_or_default();
    format!(
        "AlarmPolicy {} [{}]: not created yet; {ready}: {}",
        held.key.owner(),
        held.declared.spec.region,
        crate::commands::held_message(held)
    )
}

fn failover_plan_lines(out: &mut String, plan: &FailoverOutcome) {
    let _ = writeln!(out, "{}", failover_line(plan));
    for call in &plan.peacetime_writes {
        let _ = writeln!(
            out,
            "  ~ {} in {}: {}",
            call.operation, call.region, call.detail
        );
    }
    if plan.moving.is_some() && !plan.calls.is_empty() {
        let to = plan
            .moving
            .map(crate::plan::failover::side_name)
            .unwrap_or_default();
        let why = plan
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let _ = writeln!(out, "  ! failover to the {to} side{why}, step by step:");
        let _ = writeln!(
            out,
            "      1. readiness: the target region is ReadyForTraffic"
        );
        let mut n = 2;
        for call in plan.calls.iter().filter(|c| c.step != "cleanup") {
            let _ = writeln!(
                out,
                "      {n}. {}: {} in {}: {}",
                call.step, call.operation, call.region, call.detail
            );
            n += 1;
        }
        let _ = writeln!(
            out,
            "      {n}. checklist: traffic and the DNS lever read back as intended, the target region is Healthy or Degraded"
        );
    }
    for call in plan.calls.iter().filter(|c| c.step == "cleanup") {
        let _ = writeln!(
            out,
            "  - {} in {}: {}",
            call.operation, call.region, call.detail
        );
    }
    for err in &plan.errors {
        let _ = writeln!(out, "  x error  {err}");
    }
}

/// A FailoverPlan in one line: where the traffic is, the phase, the last failover.
pub fn failover_line(plan: &FailoverOutcome) -> String {
    let status = &plan.status;
    let active = status
        .active_region
        .map(crate::plan::failover::side_name)
        .unwrap_or("unknown");
    let phase = status
        .phase
        .map(|p| format!("{p:?}"))
        .unwrap_or_else(|| "-".into());
    let last = status
        .last_failover
        .as_ref()
        .map(|f| {
            let passed = f.checklist.iter().filter(|c| c.passed).count();
            format!(
                "; last failover {} -> {}{}, checklist {passed}/{} passed",
                f.from.map(crate::plan::failover::side_name).unwrap_or("?"),
                f.to.map(crate::plan::failover::side_name).unwrap_or("?"),
                f.duration_seconds
                    .map(|d| format!(" in {d} s"))
                    .unwrap_or_else(|| " (in progress)".into()),
                f.checklist.len()
            )
        })
        .unwrap_or_default();
    let ready = find(&status.conditions, READY)
        .map(|c| format!("Ready={} ({}): {}", c.status, c.reason, c.message))
        .unwrap_or_else(|| "Ready=Unknown".to_string());
    let drill = status
        .last_drill
        .as_ref()
        .map(|d| {
            format!(
                "; last drill {:?}{}",
                d.result,
                match d.result {
                    crate::api::failover_plan::DrillResult::Running => format!(" ({:?})", d.stage),
                    _ => d
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default(),
                }
            )
        })
        .unwrap_or_default();
    format!(
        "FailoverPlan {}: active {active}, phase {phase}{last}{drill}; {ready}",
        plan.owner
    )
}

/// A window in one line: open or when it opens next, its rules, how many alarms are muted now.
pub fn window_line(window: &WindowOutcome) -> String {
    let status = &window.status;
    let when = match (&status.current_window, &status.next_window) {
        (Some(current), _) => format!("open until {}", current.end.0),
        (None, Some(next)) => format!("closed, next opens {}", next.start.0),
        (None, None) => "closed, no window ahead".to_string(),
    };
    let ready = find(&status.conditions, READY)
        .map(|c| format!("Ready={} ({}): {}", c.status, c.reason, c.message))
        .unwrap_or_else(|| "Ready=Unknown".to_string());
    format!(
        "MaintenanceWindow {}: {when}; {} mute rule(s), {} alarm(s) muted now; {ready}",
        window.owner,
        status.mute_rules.len(),
        status.muted_alarms
    )
}

/// Orphans found, one line each.
pub fn orphan_lines(sweep: &SweepOutcome, prune: bool) -> Vec<String> {
    sweep
        .regions
        .iter()
        .flat_map(|r| r.orphans.iter().map(move |o| (r, o)))
        .map(|(region, orphan)| {
            let pruned = region
                .pruned
                .iter()
                .any(|a| a.alarm_name() == orphan.alarm_name);
            let what = if pruned {
                "deleted (--prune)"
            } else if prune {
                "kept"
            } else {
                "kept; --prune deletes it"
            };
            format!(
                "orphan {} [{}]: {} ({what})",
                orphan.alarm_name, region.target.region, orphan.reason
            )
        })
        .collect()
}

/// What `apply` prints after the writes (which were logged as they were made): errors, a status
/// line per object, orphans.
pub fn result_lines(report: &Report, prune: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for outcome in &report.alarms.policies {
        for err in &outcome.errors {
            lines.push(format!("AlarmPolicy {}: error: {err}", outcome.owner));
        }
        if !outcome.removed {
            lines.push(status_line(
                &outcome.owner,
                &outcome.target.region,
                &outcome.status,
            ));
        }
    }
    for (held, status) in &report.held {
        if !held.enforcing_admitted {
            lines.push(held_line(held, status));
        }
    }
    lines.extend(report.regions.iter().map(region_line));
    for plan in &report.plans {
        for err in &plan.errors {
            lines.push(format!("FailoverPlan {}: error: {err}", plan.owner));
        }
        if plan.status.phase.is_some() || !plan.status.conditions.is_empty() {
            lines.push(failover_line(plan));
        }
    }
    for window in &report.windows {
        for err in window.aws_errors() {
            lines.push(format!("MaintenanceWindow {}: error: {err}", window.owner));
        }
        if !window.removed {
            lines.push(window_line(window));
        }
    }
    lines.extend(orphan_lines(&report.alarms, prune));
    lines
}

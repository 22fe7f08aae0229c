//! Which side a plan should be on besides what `spec.activeRegion` says: `mode: Automatic` and
//! drills. The decisions are pure (`plan::automatic`, `plan::drill`); this gathers their inputs
//! from the plan, its regions and its last status, and keeps what they remember in status.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sha2::{Digest, Sha256};

use super::{DRILL_NOW_ANNOTATION, FailoverOutcome, set_ready};
use crate::api::common::parse_duration;
use crate::api::conditions::{READY, Status, find};
use crate::api::contact_center_region::ContactCenterRegionStatus;
use crate::api::failover_plan::{
    ActiveRegion, DrillResult, DrillStage, FailoverMode, FailoverPhase, FailoverPlan,
    FailoverPlanStatus,
};
use crate::api::maintenance_window::MaintenanceWindow;
use crate::controller::alarm_policy::Mode;
use crate::controller::contact_center_region::READY_FOR_TRAFFIC;
use crate::controller::harness::Note;
use crate::controller::status::StatusBase;
use crate::plan::automatic::{self, Settings, SideNow, Verdict};
use crate::plan::drill::{self, Event};
use crate::plan::failover::{Sides, side_name};
use crate::plan::schedule::{Cadence, Schedule};

/// A drill's default hold, and `automatic`'s defaults (the validation rejects other spellings).
const HOLD_FOR: SignedDuration = SignedDuration::from_mins(10);
const UNHEALTHY_FOR: SignedDuration = SignedDuration::from_mins(5);
const MIN_INTERVAL: SignedDuration = SignedDuration::from_hours(1);
/// How often an automatic plan looks at its regions at least (a cluster does not wake a plan when
/// a region's status changes).
const AUTOMATIC_LOOK: Duration = Duration::from_secs(30);
/// How soon a running drill is looked at again.
const DRILL_LOOK: Duration = Duration::from_secs(10);

fn duration(text: Option<&str>, default: SignedDuration) -> SignedDuration {
    text.and_then(parse_duration)
        .and_then(|s| i64::try_from(s).ok())
        .map(SignedDuration::from_secs)
        .unwrap_or(default)
}

/// The version of the spec: a different one is a new commit. In a cluster its
/// `metadata.generation`; in manifest mode, where there are no generations, a digest of the spec.
pub fn spec_version(plan: &FailoverPlan) -> String {
    if let Some(generation) = plan.metadata.generation {
        return format!("generation {generation}");
    }
    let spec = serde_json::to_string(&plan.spec).unwrap_or_default();
    let digest: String = Sha256::digest(spec.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("spec {digest}")
}

fn side_now(status: Option<&ContactCenterRegionStatus>) -> SideNow {
    SideNow {
        health: status.and_then(|s| s.health),
        ready_for_traffic: status
            .and_then(|s| find(&s.conditions, READY_FOR_TRAFFIC))
            .is_some_and(|c| c.status == "True"),
    }
}

/// `mode: Automatic`'s decision for this sweep (for `Manual`, the spec's side).
pub fn automatic(
    plan: &FailoverPlan,
    sides: &Sides,
    primary: Option<&ContactCenterRegionStatus>,
    secondary: Option<&ContactCenterRegionStatus>,
    status: &FailoverPlanStatus,
    now: Timestamp,
) -> automatic::Intent {
    let settings = (plan.spec.mode == FailoverMode::Automatic).then(|| {
        let spec = plan.spec.automatic.as_ref();
        Settings {
            unhealthy_for: duration(spec.map(|a| a.unhealthy_for.as_str()), UNHEALTHY_FOR),
            min_interval: duration(spec.map(|a| a.min_interval.as_str()), MIN_INTERVAL),
            failback: spec.is_some_and(|a| a.failback),
        }
    });
    let digest = spec_version(plan);
    let input = automatic::Input {
        declared: plan.spec.active_region,
        spec: &digest,
        settings,
        primary: side_now(primary),
        secondary: side_now(secondary),
        sides,
        now,
    };
    automatic::decide(
        &input,
        status.automatic.as_deref().unwrap_or(&Default::default()),
    )
}

/// The drill's decision for this sweep, and what it needs said.
pub struct DrillPlan {
    pub intent: drill::Intent,
    /// The `drill-now` value seen (acted on when `intent.request_done`).
    request: Option<String>,
}

impl DrillPlan {
    /// Why the drill wants the side it wants, in words.
    pub fn reason(&self) -> String {
        let Some(report) = &self.intent.report else {
            return "drill".into();
        };
        let why = format!(
            "{}: {}",
            report.trigger,
            report.reason.as_deref().unwrap_or_default()
        );
        match report.stage {
            DrillStage::FailingBack => format!("drill ({why}): failing back to the primary side"),
            DrillStage::Holding => format!("drill ({why}): holding on the secondary side"),
            _ => format!("drill ({why}): failing over to the secondary side"),
        }
    }

    /// A due drill that cannot start: why (a problem for `ReadyToFailOver`).
    pub fn waiting(&self) -> Option<&str> {
        self.intent.waiting.as_deref()
    }
}

fn cadence(plan: &FailoverPlan) -> Option<Cadence> {
    let drill = plan.spec.drill.as_ref()?;
    Cadence::parse(&drill.schedule, drill.time_zone.as_deref()).ok()
}

/// Why the drill's MaintenanceWindow keeps a drill from starting now, if it does.
fn window_closed(
    plan: &FailoverPlan,
    window: Option<&MaintenanceWindow>,
    now: Timestamp,
) -> Option<String> {
    let name = plan.spec.drill.as_ref()?.maintenance_window_ref.as_ref()?;
    let Some(window) = window else {
        return Some(format!(
            "spec.drill.maintenanceWindowRef: no MaintenanceWindow {name:?} in this namespace"
        ));
    };
    match Schedule::parse(&window.spec) {
        Ok(schedule) if schedule.is_open(now) => None,
        Ok(schedule) => Some(format!(
            "MaintenanceWindow {name} is closed{}",
            schedule
                .next(now)
                .map(|w| format!("; it opens at {}", w.start))
                .unwrap_or_default()
        )),
        Err(_) => Some(format!("MaintenanceWindow {name} has an invalid schedule")),
    }
}

/// The drill's decision for this sweep.
pub fn drill(
    plan: &FailoverPlan,
    sides: &Sides,
    (primary, secondary): (
        Option<&ContactCenterRegionStatus>,
        Option<&ContactCenterRegionStatus>,
    ),
    automatic: &automatic::Intent,
    status: &FailoverPlanStatus,
    window: Option<&MaintenanceWindow>,
    now: Timestamp,
) -> DrillPlan {
    let request = crate::api::annotation(&plan.metadata, DRILL_NOW_ANNOTATION)
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    let unhandled = request
        .as_deref()
        .filter(|r| status.drill_now_handled.as_deref() != Some(*r));
    let report = status.last_drill.as_deref();
    let running = report.is_some_and(|r| r.result == DrillResult::Running);
    let real_failover = if plan.spec.active_region == ActiveRegion::Secondary {
        Some("spec.activeRegion is secondary".to_string())
    } else if automatic.latched() {
        Some(format!(
            "an automatic failover holds the traffic on the {} side",
            automatic
                .memory
                .latched
                .map(side_name)
                .unwrap_or("secondary")
        ))
    } else if !running && status.active_region == Some(ActiveRegion::Secondary) {
        Some("the traffic is on the secondary side".to_string())
    } else if !running && status.active_region.is_none() {
        Some("the side the traffic is on could not be read (or is split)".to_string())
    } else {
        None
    };
    let blocked = (status.phase == Some(FailoverPhase::Blocked))
        .then(|| find(&status.conditions, READY).map(|c| c.message.as_str()))
        .flatten();
    let input = drill::Input {
        now,
        due: plan
            .spec
            .drill
            .as_ref()
            .and(status.next_drill.as_ref())
            .map(|t| t.0)
            .filter(|due| *due <= now),
        request: unhandled,
        report,
        hold_for: duration(
            plan.spec.drill.as_ref().map(|d| d.hold_for.as_str()),
            HOLD_FOR,
        ),
        window_closed: window_closed(plan, window, now),
        primary: primary.and_then(|s| s.health),
        secondary: secondary.and_then(|s| s.health),
        secondary_ready: match secondary.and_then(|s| find(&s.conditions, READY_FOR_TRAFFIC)) {
            Some(c) if c.status == "True" => Ok(()),
            Some(c) => Err(c.message.clone()),
            None => Err("not probed".into()),
        },
        sides,
        real_failover,
        last_failover: status.last_failover.as_ref(),
        blocked,
        actual: status.active_region,
    };
    DrillPlan {
        intent: drill::decide(&input),
        request,
    }
}

/// Keeps what the decisions remember in status, and says what they did.
pub fn keep(
    outcome: &mut FailoverOutcome,
    plan: &FailoverPlan,
    automatic: &automatic::Intent,
    drill: &DrillPlan,
    window: Option<&MaintenanceWindow>,
    now: Timestamp,
    mode: Mode,
) {
    let status = &mut outcome.status;
    status.automatic =
        (plan.spec.mode == FailoverMode::Automatic).then(|| Box::new(automatic.memory.clone()));
    status.last_drill = drill.intent.report.clone().map(Box::new);
    if drill.intent.request_done {
        status.drill_now_handled = drill.request.clone();
    }
    status.next_drill = cadence(plan).and_then(|cadence| {
        let due = status
            .next_drill
            .as_ref()
            .map(|t| t.0)
            .filter(|t| *t <= now && !drill.intent.schedule_done);
        due.or_else(|| cadence.next_after(now)).map(Time)
    });

    // When to look again.
    let mut wake: Vec<Duration> = Vec::new();
    if let Some(settings) = &plan
        .spec
        .automatic
        .as_ref()
        .filter(|_| plan.spec.mode == FailoverMode::Automatic)
    {
        let unhealthy_for = duration(Some(settings.unhealthy_for.as_str()), UNHEALTHY_FOR);
        wake.push(AUTOMATIC_LOOK);
        if let Verdict::Watching(_) = automatic.verdict {
            let since = [
                &automatic.memory.primary_unhealthy_since,
                &automatic.memory.secondary_unhealthy_since,
            ]
            .into_iter()
            .flatten()
            .map(|t| t.0)
            .min();
            if let Some(left) = since
                .and_then(|s| s.checked_add(unhealthy_for).ok())
                .map(|at| at.duration_since(now))
                .and_then(|d| Duration::try_from(d).ok())
            {
                wake.push(left.max(Duration::from_secs(1)));
            }
        }
    } else if plan.spec.mode == FailoverMode::Automatic {
        wake.push(AUTOMATIC_LOOK);
    }
    if let Some(report) = &drill.intent.report {
        match report.stage {
            DrillStage::Holding => {
                let hold = duration(
                    plan.spec.drill.as_ref().map(|d| d.hold_for.as_str()),
                    HOLD_FOR,
                );
                let left = report
                    .held_since
                    .as_ref()
                    .and_then(|s| s.0.checked_add(hold).ok())
                    .map(|end| end.duration_since(now))
                    .and_then(|d| Duration::try_from(d).ok())
                    .unwrap_or(DRILL_LOOK);
                wake.push(left.max(Duration::from_secs(1)));
            }
            DrillStage::FailingOver | DrillStage::FailingBack => wake.push(DRILL_LOOK),
            DrillStage::Done => {}
        }
    }
    // The next drill, when it lies ahead (the harness looks at the resync at the latest); a due
    // drill that waits is looked at again at the resync, or when its window opens.
    if let Some(left) = status
        .next_drill
        .as_ref()
        .and_then(|next| Duration::try_from(next.0.duration_since(now)).ok())
        .filter(|left| !left.is_zero())
    {
        wake.push(left);
    }
    if let (Some(_), Some(window)) = (&drill.intent.waiting, window)
        && let Ok(schedule) = Schedule::parse(&window.spec)
        && let Some(next) = schedule.next(now)
        && let Ok(left) = Duration::try_from(next.start.duration_since(now))
    {
        wake.push(left + Duration::from_secs(1));
    }
    outcome.wake = wake.into_iter().min();

    if mode != Mode::Apply {
        return;
    }
    if let Verdict::Move(why) = &automatic.verdict {
        let at = automatic
            .memory
            .last_failover_at
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default();
        outcome
            .notes
            .push(Note::warning("AutomaticFailover", why.clone()).once(format!("auto/{at}")));
    }
    let started = drill
        .intent
        .report
        .as_ref()
        .and_then(|r| r.started_at.as_ref().or(r.completed_at.as_ref()))
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    for event in &drill.intent.events {
        let (note, key) = match event {
            Event::Started(m) => (Note::warning("DrillStarted", m.clone()), "start"),
            Event::NotStarted(m) => (Note::warning("DrillNotStarted", m.clone()), "not-started"),
            Event::FailingBack(m) => (Note::normal("DrillFailingBack", m.clone()), "back"),
            Event::Finished(DrillResult::Passed, m) => {
                (Note::normal("DrillSucceeded", m.clone()), "end")
            }
            Event::Finished(_, m) => (Note::warning("DrillFailed", m.clone()), "end"),
        };
        outcome
            .notes
            .push(note.once(format!("drill/{started}/{key}")));
    }
}

/// While an automatic failover holds the traffic where the spec does not say: `Ready=False`,
/// reason `AutomaticFailover`, with the commit to make.
pub fn latched_condition(
    status: &mut FailoverPlanStatus,
    automatic: &automatic::Intent,
    declared: ActiveRegion,
    failback: bool,
    base: &StatusBase,
    now: Timestamp,
) {
    let Some(message) = automatic::latched_message(&automatic.memory, declared, failback) else {
        return;
    };
    if find(&status.conditions, READY).is_some_and(|c| c.status == "True") {
        set_ready(
            status,
            base,
            Status::False,
            Status::True,
            "AutomaticFailover",
            &message,
            now,
        );
    }
}

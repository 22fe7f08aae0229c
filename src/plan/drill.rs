//! Disaster-recovery drills, pure: whether a drill starts, which side it wants now, and its
//! report, from the last report, what the levers show and the clock passed in. A drill is a
//! failover to the secondary side (trigger `drill`), validated, held for `holdFor`, then a
//! failback, validated; each movement is the ordinary failover with its steps and checklist.
//!
//! It starts only when asked (the schedule is due, or `dialtone.io/drill-now`), with both sides
//! Healthy and the secondary ready for traffic, inside the referenced MaintenanceWindow, and
//! never while a real failover is in effect; one that goes wrong fails back and says why.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::failover::{Sides, Trigger, span};
use crate::api::contact_center_region::Health;
use crate::api::failover_plan::{
    ActiveRegion, DrillReport, DrillResult, DrillStage, FailoverRecord,
};

/// What one sweep knows for the drill.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub now: Timestamp,
    /// The scheduled drill that is due (its time), if one is.
    pub due: Option<Timestamp>,
    /// The `dialtone.io/drill-now` value, when not yet acted on.
    pub request: Option<&'a str>,
    /// The last drill (running, or its report).
    pub report: Option<&'a DrillReport>,
    pub hold_for: SignedDuration,
    /// Why the referenced MaintenanceWindow does not let a drill start now (None: open, or none
    /// referenced).
    pub window_closed: Option<String>,
    pub primary: Option<Health>,
    pub secondary: Option<Health>,
    /// The secondary's ReadyForTraffic: Err with why not.
    pub secondary_ready: Result<(), String>,
    pub sides: &'a Sides,
    /// Why a real failover is in effect, if one is (the spec names the secondary, an automatic
    /// failover holds, the traffic is not on the primary).
    pub real_failover: Option<String>,
    /// The last failover, with its steps and checklist.
    pub last_failover: Option<&'a FailoverRecord>,
    /// The last sweep left the failover Blocked: why.
    pub blocked: Option<&'a str>,
    /// The side the traffic is on, as read in this sweep.
    pub actual: Option<ActiveRegion>,
}

/// What happened to the drill in this sweep, for events and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started(String),
    NotStarted(String),
    FailingBack(String),
    Finished(DrillResult, String),
}

/// The side a drill wants, its report, and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// The side the drill wants now; None when no drill is in effect.
    pub side: Option<ActiveRegion>,
    /// The report to keep as `status.lastDrill`.
    pub report: Option<DrillReport>,
    /// A scheduled drill is due and cannot start yet: why.
    pub waiting: Option<String>,
    /// The due scheduled drill was acted on (started): the next one is the schedule's next time.
    pub schedule_done: bool,
    /// The `drill-now` request was acted on (started, or said why not).
    pub request_done: bool,
    pub events: Vec<Event>,
}

/// A movement of this drill: trigger `drill`, to `to`, started at or after the drill.
fn movement<'a>(
    input: &Input<'a>,
    report: &DrillReport,
    to: ActiveRegion,
) -> Option<&'a FailoverRecord> {
    input.last_failover.filter(|r| {
        r.trigger.as_deref() == Some(Trigger::Drill.as_str())
            && r.to == Some(to)
            && match (&r.started_at, &report.started_at) {
                (Some(moved), Some(drill)) => moved.0 >= drill.0,
                _ => false,
            }
    })
}

/// Why a movement went wrong, if it did.
fn went_wrong(record: &FailoverRecord) -> Option<String> {
    if let Some(step) = record.steps.iter().find(|s| s.result == "Failed") {
        return Some(format!(
            "step {} failed: {}",
            step.name,
            step.message.as_deref().unwrap_or_default()
        ));
    }
    let failed: Vec<String> = record
        .checklist
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{} ({})", c.name, c.message.as_deref().unwrap_or_default()))
        .collect();
    (record.completed_at.is_some() && !failed.is_empty())
        .then(|| format!("checklist failed: {}", failed.join("; ")))
}

/// Why a drill may not start now, if it may not.
fn cannot_start(input: &Input<'_>) -> Option<String> {
    let mut why = Vec::new();
    if let Some(real) = &input.real_failover {
        why.push(format!("a real failover is in effect ({real})"));
    }
    for (side, region, health) in [
        ("primary", &input.sides.primary, input.primary),
        ("secondary", &input.sides.secondary, input.secondary),
    ] {
        if health != Some(Health::Healthy) {
            why.push(format!(
                "{region} ({side} side) is {}, not Healthy",
                health
                    .map(|h| format!("{h:?}"))
                    .unwrap_or_else(|| "not probed".into())
            ));
        }
    }
    if let Err(not_ready) = &input.secondary_ready
        && input.secondary == Some(Health::Healthy)
    {
        why.push(format!(
            "{} is not ready for traffic: {not_ready}",
            input.sides.secondary
        ));
    }
    if let Some(closed) = &input.window_closed {
        why.push(closed.clone());
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Where the drill is, and what it wants now.
pub fn decide(input: &Input<'_>) -> Intent {
    let mut intent = Intent {
        side: None,
        report: input.report.cloned(),
        waiting: None,
        schedule_done: false,
        request_done: false,
        events: Vec::new(),
    };
    let running = input
        .report
        .is_some_and(|r| r.result == DrillResult::Running);
    if !running {
        let Some((trigger, reason)) = input
            .request
            .map(|r| ("annotation", r.to_string()))
            .or_else(|| {
                input
                    .due
                    .map(|due| ("schedule", format!("scheduled for {due}")))
            })
        else {
            return intent;
        };
        let from_request = trigger == "annotation";
        if let (false, Some(real)) = (from_request, &input.real_failover) {
            // A scheduled drill that falls due during a real failover is skipped: the real one
            // is the exercise, and a drill right after the failback would surprise.
            intent.schedule_done = true;
            intent.events.push(Event::NotStarted(format!(
                "the drill due {} was skipped: a real failover is in effect ({real})",
                input.due.map(|d| d.to_string()).unwrap_or_default()
            )));
            return intent;
        }
        if let Some(why) = cannot_start(input) {
            if from_request {
                let message = format!("the drill did not start: {why}");
                intent.report = Some(DrillReport {
                    trigger: trigger.into(),
                    reason: Some(reason),
                    stage: DrillStage::Done,
                    result: DrillResult::NotStarted,
                    message: Some(message.clone()),
                    started_at: None,
                    held_since: None,
                    completed_at: Some(Time(input.now)),
                    duration_seconds: None,
                    failover: None,
                    failback: None,
                });
                intent.request_done = true;
                intent.events.push(Event::NotStarted(message));
            } else {
                intent.waiting = Some(format!(
                    "the drill due {} has not started: {why}",
                    input.due.map(|d| d.to_string()).unwrap_or_default()
                ));
            }
            return intent;
        }
        intent.request_done = input.request.is_some();
        intent.schedule_done = input.due.is_some();
        intent.events.push(Event::Started(format!(
            "drill started ({trigger}: {reason}): failing over to {}, holding {}, failing back",
            input.sides.secondary,
            span(input.hold_for)
        )));
        intent.report = Some(DrillReport {
            trigger: trigger.into(),
            reason: Some(reason),
            stage: DrillStage::FailingOver,
            result: DrillResult::Running,
            message: None,
            started_at: Some(Time(input.now)),
            held_since: None,
            completed_at: None,
            duration_seconds: None,
            failover: None,
            failback: None,
        });
    }
    let Some(report) = intent.report.as_mut() else {
        return intent;
    };

    // A real failover takes precedence: the drill is over, the spec (or the automatic
    // failover) decides where the traffic goes.
    if let Some(real) = &input.real_failover
        && running
    {
        let message = format!("the drill was abandoned: a real failover is in effect ({real})");
        finish(report, DrillResult::Failed, &message, input.now);
        intent
            .events
            .push(Event::Finished(DrillResult::Failed, message));
        return intent;
    }

    // Advance through the stages this sweep's readings allow.
    for _ in 0..4 {
        match report.stage {
            DrillStage::FailingOver => {
                let record = movement(input, report, ActiveRegion::Secondary);
                let wrong = record.and_then(went_wrong).or_else(|| {
                    input
                        .blocked
                        .filter(|_| running)
                        .map(|b| format!("blocked: {b}"))
                });
                if let Some(wrong) = wrong {
                    report.failover = record.cloned();
                    let message = format!(
                        "the failover to the secondary side went wrong ({wrong}): failing back"
                    );
                    report.message = Some(message.clone());
                    report.stage = DrillStage::FailingBack;
                    intent.events.push(Event::FailingBack(message));
                    continue;
                }
                match record {
                    Some(done)
                        if done.completed_at.is_some()
                            && input.actual == Some(ActiveRegion::Secondary) =>
                    {
                        report.failover = Some(done.clone());
                        report.held_since = done.completed_at.clone().or(Some(Time(input.now)));
                        report.stage = DrillStage::Holding;
                    }
                    _ => break,
                }
            }
            DrillStage::Holding => {
                let since = report.held_since.as_ref().map(|t| t.0).unwrap_or(input.now);
                let over = since.checked_add(input.hold_for).unwrap_or(since);
                let secondary_bad = matches!(
                    input.secondary,
                    None | Some(Health::Unhealthy) | Some(Health::Unknown)
                );
                if secondary_bad {
                    // The drill made the secondary the active side: it does not stay there once
                    // that side turns bad.
                    let message = format!(
                        "{} (secondary side) turned {} during the hold: failing back early",
                        input.sides.secondary,
                        input
                            .secondary
                            .map(|h| format!("{h:?}"))
                            .unwrap_or_else(|| "unknown".into())
                    );
                    report.message = Some(message.clone());
                    report.stage = DrillStage::FailingBack;
                    intent.events.push(Event::FailingBack(message));
                    continue;
                }
                if input.now < over {
                    break;
                }
                report.stage = DrillStage::FailingBack;
                intent.events.push(Event::FailingBack(format!(
                    "held on the secondary side for {}: failing back to {}",
                    span(input.hold_for),
                    input.sides.primary
                )));
            }
            DrillStage::FailingBack => {
                let record = movement(input, report, ActiveRegion::Primary);
                if record.is_some_and(|r| r.completed_at.is_none())
                    || input.actual != Some(ActiveRegion::Primary)
                {
                    // Still under way; a failback that cannot go on says why (it goes on as
                    // soon as the primary can take the traffic: the traffic stays on the
                    // secondary meanwhile).
                    let stuck = input
                        .blocked
                        .map(|b| format!("the failback is blocked: {b}"))
                        .or_else(|| {
                            record
                                .and_then(went_wrong)
                                .map(|w| format!("the failback is retried: {w}"))
                        });
                    if let Some(stuck) = stuck {
                        report.message = Some(stuck);
                    }
                    break;
                }
                report.failback = record.cloned();
                let wrong = report.message.clone().or_else(|| {
                    record
                        .and_then(went_wrong)
                        .map(|w| format!("the failback went wrong ({w})"))
                });
                let (result, message) = match wrong {
                    Some(wrong) => (DrillResult::Failed, wrong),
                    None => (
                        DrillResult::Passed,
                        format!(
                            "failed over to {} and back to {}: every check passed",
                            input.sides.secondary, input.sides.primary
                        ),
                    ),
                };
                finish(report, result, &message, input.now);
                intent.events.push(Event::Finished(result, message));
            }
            DrillStage::Done => break,
        }
    }
    intent.side = match report.stage {
        DrillStage::FailingOver | DrillStage::Holding => Some(ActiveRegion::Secondary),
        DrillStage::FailingBack => Some(ActiveRegion::Primary),
        DrillStage::Done => None,
    };
    intent
}

fn finish(report: &mut DrillReport, result: DrillResult, message: &str, now: Timestamp) {
    report.stage = DrillStage::Done;
    report.result = result;
    report.message = Some(message.to_string());
    report.completed_at = Some(Time(now));
    report.duration_seconds = report
        .started_at
        .as_ref()
        .map(|s| now.duration_since(s.0).as_secs());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::failover_plan::{ChecklistItem, StepRecord};
    use crate::plan::failover::tests::{at, sides};
    use ActiveRegion::{Primary, Secondary};

    fn input<'a>(sides: &'a Sides, now: i64) -> Input<'a> {
        Input {
            now: at(now),
            due: None,
            request: None,
            report: None,
            hold_for: SignedDuration::from_mins(10),
            window_closed: None,
            primary: Some(Health::Healthy),
            secondary: Some(Health::Healthy),
            secondary_ready: Ok(()),
            sides,
            real_failover: None,
            last_failover: None,
            blocked: None,
            actual: Some(Primary),
        }
    }

    fn moved(to: ActiveRegion, started: i64, done: Option<i64>, passed: bool) -> FailoverRecord {
        FailoverRecord {
            to: Some(to),
            trigger: Some("drill".into()),
            started_at: Some(Time(at(started))),
            completed_at: done.map(|d| Time(at(d))),
            steps: vec![StepRecord {
                name: "traffic".into(),
                result: "Succeeded".into(),
                ..StepRecord::default()
            }],
            checklist: vec![ChecklistItem {
                name: "traffic reads back as intended".into(),
                passed,
                message: None,
            }],
            ..FailoverRecord::default()
        }
    }

    #[test]
    fn a_requested_drill_fails_over_holds_fails_back_and_passes() {
        let sides = sides();
        // Start.
        let mut now = input(&sides, 0);
        now.request = Some("Q3 drill");
        let started = decide(&now);
        assert_eq!(started.side, Some(Secondary));
        assert!(started.request_done);
        assert!(matches!(&started.events[..], [Event::Started(m)] if m.contains("Q3 drill")));
        let report = started.report.clone().expect("a report");
        assert_eq!(
            (report.stage, report.result),
            (DrillStage::FailingOver, DrillResult::Running)
        );

        // The failover is under way, then done: holding.
        let failover = moved(Secondary, 0, Some(30), true);
        let mut now = input(&sides, 30);
        now.report = Some(&report);
        now.last_failover = Some(&failover);
        now.actual = Some(Secondary);
        let holding = decide(&now);
        assert_eq!(holding.side, Some(Secondary));
        let report = holding.report.clone().expect("a report");
        assert_eq!(report.stage, DrillStage::Holding);
        assert_eq!(report.failover.as_ref(), Some(&failover));

        // Still holding before holdFor; failing back after.
        now.now = at(30 + 9 * 60);
        now.report = Some(&report);
        assert_eq!(decide(&now).side, Some(Secondary));
        now.now = at(30 + 10 * 60);
        let back = decide(&now);
        assert_eq!(back.side, Some(Primary));
        let report = back.report.clone().expect("a report");
        assert_eq!(report.stage, DrillStage::FailingBack);

        // Failed back and validated: passed, with both movements.
        let failback = moved(Primary, 640, Some(700), true);
        let mut now = input(&sides, 700);
        now.report = Some(&report);
        now.last_failover = Some(&failback);
        let done = decide(&now);
        assert_eq!(done.side, None);
        let report = done.report.expect("a report");
        assert_eq!(
            (report.stage, report.result),
            (DrillStage::Done, DrillResult::Passed)
        );
        assert_eq!(report.failback.as_ref(), Some(&failback));
        assert!(report.failover.is_some());
        assert_eq!(report.duration_seconds, Some(700));
        assert!(matches!(
            &done.events[..],
            [Event::Finished(DrillResult::Passed, _)]
        ));
    }

    #[test]
    fn a_drill_does_not_start_with_a_region_unhealthy_a_real_failover_or_the_window_closed() {
        let sides = sides();
        type Change = Box<dyn Fn(&mut Input)>;
        let cases: Vec<(&str, Change, &str)> = vec![
            (
                "primary unhealthy",
                Box::new(|i: &mut Input| i.primary = Some(Health::Unhealthy)),
                "us-east-1 (primary side) is Unhealthy, not Healthy",
            ),
            (
                "secondary unknown",
                Box::new(|i: &mut Input| i.secondary = Some(Health::Unknown)),
                "us-west-2 (secondary side) is Unknown",
            ),
            (
                "secondary not ready",
                Box::new(|i: &mut Input| i.secondary_ready = Err("replication IN_PROGRESS".into())),
                "us-west-2 is not ready for traffic: replication IN_PROGRESS",
            ),
            (
                "a real failover",
                Box::new(|i: &mut Input| {
                    i.real_failover = Some("spec.activeRegion is secondary".into())
                }),
                "a real failover is in effect",
            ),
            (
                "window closed",
                Box::new(|i: &mut Input| {
                    i.window_closed = Some("MaintenanceWindow sunday is closed".into())
                }),
                "sunday is closed",
            ),
        ];
        for (what, change, says) in cases {
            // A request: not started, said why, and acted on (no surprise start later).
            let mut now = input(&sides, 0);
            now.request = Some("drill now");
            change(&mut now);
            let intent = decide(&now);
            assert_eq!(intent.side, None, "{what}");
            assert!(intent.request_done, "{what}");
            let report = intent.report.expect("a report");
            assert_eq!(report.result, DrillResult::NotStarted, "{what}");
            assert!(
                report.message.as_deref().is_some_and(|m| m.contains(says)),
                "{what}: {:?}",
                report.message
            );
            // The schedule: waits (it is due until it can run); during a real failover it is
            // skipped (below).
            let mut now = input(&sides, 0);
            now.due = Some(at(-60));
            change(&mut now);
            let intent = decide(&now);
            assert_eq!(intent.side, None, "{what}");
            if now.real_failover.is_some() {
                assert!(intent.schedule_done, "{what}");
                continue;
            }
            assert!(!intent.schedule_done, "{what}");
            assert!(intent.waiting.is_some_and(|w| w.contains(says)), "{what}");
        }
    }

    #[test]
    fn a_drill_that_goes_wrong_fails_back_and_says_why() {
        let sides = sides();
        let mut now = input(&sides, 0);
        now.due = Some(at(0));
        let started = decide(&now);
        assert!(started.schedule_done);
        let report = started.report.expect("a report");

        // The failover's checklist failed: fail back at once, then report Failed.
        let failover = moved(Secondary, 0, Some(20), false);
        let mut now = input(&sides, 20);
        now.report = Some(&report);
        now.last_failover = Some(&failover);
        now.actual = Some(Secondary);
        let back = decide(&now);
        assert_eq!(back.side, Some(Primary));
        assert!(
            matches!(&back.events[..], [Event::FailingBack(m)] if m.contains("checklist failed"))
        );
        let report = back.report.expect("a report");
        let failback = moved(Primary, 25, Some(40), true);
        let mut now = input(&sides, 40);
        now.report = Some(&report);
        now.last_failover = Some(&failback);
        let done = decide(&now).report.expect("a report");
        assert_eq!(done.result, DrillResult::Failed);
        assert!(
            done.message
                .is_some_and(|m| m.contains("traffic reads back as intended"))
        );

        // Blocked (the secondary refused readiness): nothing moved, so it is over at once.
        let mut now = input(&sides, 0);
        now.request = Some("x");
        let report = decide(&now).report.expect("a report");
        let mut now = input(&sides, 10);
        now.report = Some(&report);
        now.blocked = Some("us-west-2 is not ready for traffic");
        let over = decide(&now);
        assert_eq!(over.side, None);
        assert_eq!(over.report.map(|r| r.result), Some(DrillResult::Failed));
    }

    #[test]
    fn a_bad_secondary_ends_the_hold_and_a_blocked_failback_says_why() {
        let sides = sides();
        let mut now = input(&sides, 0);
        now.request = Some("x");
        let report = decide(&now).report.expect("a report");
        let failover = moved(Secondary, 0, Some(30), true);
        let mut now = input(&sides, 30);
        now.report = Some(&report);
        now.last_failover = Some(&failover);
        now.actual = Some(Secondary);
        let holding = decide(&now).report.expect("a report");
        assert_eq!(holding.stage, DrillStage::Holding);

        // One minute into a ten-minute hold the secondary turns Unhealthy: back at once.
        now.now = at(90);
        now.report = Some(&holding);
        now.secondary = Some(Health::Unhealthy);
        let back = decide(&now);
        assert_eq!(back.side, Some(Primary));
        let report = back.report.expect("a report");
        assert!(
            report
                .message
                .as_deref()
                .is_some_and(|m| m.contains("turned Unhealthy"))
        );

        // The failback is blocked (the primary not ready): Running, and it says why.
        now.now = at(100);
        now.report = Some(&report);
        now.blocked = Some("us-east-1 is not ready for traffic");
        let stuck = decide(&now);
        assert_eq!(stuck.side, Some(Primary));
        let report = stuck.report.expect("a report");
        assert_eq!(report.result, DrillResult::Running);
        assert!(
            report
                .message
                .as_deref()
                .is_some_and(|m| m.contains("failback is blocked"))
        );
    }

    #[test]
    fn a_scheduled_drill_due_during_a_real_failover_is_skipped() {
        let sides = sides();
        let mut now = input(&sides, 0);
        now.due = Some(at(-60));
        now.real_failover = Some("spec.activeRegion is secondary".into());
        now.actual = Some(Secondary);
        let intent = decide(&now);
        assert_eq!(intent.side, None);
        assert!(intent.schedule_done, "the next occurrence is the next one");
        assert!(intent.waiting.is_none());
        assert!(matches!(&intent.events[..], [Event::NotStarted(m)] if m.contains("skipped")));
    }

    #[test]
    fn a_real_failover_during_a_drill_ends_it() {
        let sides = sides();
        let mut now = input(&sides, 0);
        now.request = Some("x");
        let report = decide(&now).report.expect("a report");
        let mut now = input(&sides, 60);
        now.report = Some(&report);
        now.real_failover = Some("automatic failover: us-east-1 Unhealthy for 5m".into());
        let intent = decide(&now);
        assert_eq!(intent.side, None);
        let report = intent.report.expect("a report");
        assert_eq!(report.result, DrillResult::Failed);
        assert!(report.message.is_some_and(|m| m.contains("abandoned")));
    }
}

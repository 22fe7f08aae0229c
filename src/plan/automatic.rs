//! `mode: Automatic`, pure: from the health each sweep saw on both sides (remembered with since
//! when), the clock passed in and the failover it made before, which side a plan should be on
//! now and why. No I/O, no clock.
//!
//! The rules (PRODUCT.md, FailoverPlan):
//! - the side in effect has been Unhealthy or Unknown for `unhealthyFor` without a break, and the
//!   other side is ReadyForTraffic: fail over (trigger `automatic`);
//! - the move is latched: while the spec is the one it was made under (the same generation),
//!   traffic stays; a new generation (a commit) releases it, and so does `failback: true` once the
//!   declared side has been Healthy and ready for `unhealthyFor`;
//! - never more than one automatic move (failover or failback) per `minInterval`;
//! - a gap in the history (dialtone was down) longer than `GAP` or twice `unhealthyFor`, whichever
//!   is longer, starts the count again: nobody knows what the region did meanwhile. (Shorter gaps
//!   are sweeps: a resync slower than `unhealthyFor` must still see a long outage.)

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::failover::{Sides, Trigger, other, side_name, span};
use crate::api::contact_center_region::Health;
use crate::api::failover_plan::{ActiveRegion, AutomaticStatus};

/// The shortest gap in the health history that starts the count again.
pub const GAP: SignedDuration = SignedDuration::from_mins(15);

/// `spec.automatic`, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub unhealthy_for: SignedDuration,
    pub min_interval: SignedDuration,
    pub failback: bool,
}

/// One side's region as this sweep sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideNow {
    /// None: never probed (counts as Unknown).
    pub health: Option<Health>,
    pub ready_for_traffic: bool,
}

impl SideNow {
    fn bad(&self) -> bool {
        matches!(
            self.health,
            None | Some(Health::Unhealthy) | Some(Health::Unknown)
        )
    }
}

/// What one sweep looks at.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// `spec.activeRegion`.
    pub declared: ActiveRegion,
    /// The version of the spec in effect (its generation; in manifest mode a digest): a
    /// different one is a new commit.
    pub spec: &'a str,
    /// None for `mode: Manual`.
    pub settings: Option<Settings>,
    pub primary: SideNow,
    pub secondary: SideNow,
    pub sides: &'a Sides,
    pub now: Timestamp,
}

/// What the automatic decision says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Follow the spec; nothing to watch.
    Declared,
    /// Follow the spec (or the latch); the side in effect is being watched.
    Watching(String),
    /// A failover is due but may not happen now (the other side is not ready, `minInterval`).
    Withheld(String),
    /// Fail over (or back) now.
    Move(String),
    /// The traffic stays where an earlier automatic failover put it; commit it.
    Latched(String),
}

/// The side to be on, the trigger, the memory to keep and the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub side: ActiveRegion,
    pub trigger: Trigger,
    pub memory: AutomaticStatus,
    pub verdict: Verdict,
}

impl Intent {
    /// The traffic is (to be) on a side the spec does not name.
    pub fn latched(&self) -> bool {
        self.memory.latched.is_some()
    }
}

fn since(memory: &AutomaticStatus, side: ActiveRegion, unhealthy: bool) -> Option<Timestamp> {
    match (side, unhealthy) {
        (ActiveRegion::Primary, true) => memory.primary_unhealthy_since.as_ref(),
        (ActiveRegion::Secondary, true) => memory.secondary_unhealthy_since.as_ref(),
        (ActiveRegion::Primary, false) => memory.primary_healthy_since.as_ref(),
        (ActiveRegion::Secondary, false) => memory.secondary_healthy_since.as_ref(),
    }
    .map(|t| t.0)
}

/// The health history updated with what this sweep sees.
fn remember(
    previous: &AutomaticStatus,
    input: &Input<'_>,
    window: SignedDuration,
) -> AutomaticStatus {
    let mut memory = previous.clone();
    let gap = previous
        .observed_at
        .as_ref()
        .is_none_or(|at| input.now.duration_since(at.0) > window);
    if gap {
        memory.primary_unhealthy_since = None;
        memory.secondary_unhealthy_since = None;
        memory.primary_healthy_since = None;
        memory.secondary_healthy_since = None;
    }
    let now = Some(Time(input.now));
    for (side, seen) in [
        (ActiveRegion::Primary, input.primary),
        (ActiveRegion::Secondary, input.secondary),
    ] {
        let (unhealthy, healthy) = match side {
            ActiveRegion::Primary => (
                &mut memory.primary_unhealthy_since,
                &mut memory.primary_healthy_since,
            ),
            ActiveRegion::Secondary => (
                &mut memory.secondary_unhealthy_since,
                &mut memory.secondary_healthy_since,
            ),
        };
        if seen.bad() {
            *unhealthy = unhealthy.take().or(now.clone());
            *healthy = None;
        } else if seen.health == Some(Health::Healthy) {
            *healthy = healthy.take().or(now.clone());
            *unhealthy = None;
        } else {
            *unhealthy = None;
            *healthy = None;
        }
    }
    memory.observed_at = now;
    memory
}

/// What to tell the user while an automatic failover holds the traffic on a side the spec does
/// not name: what happened, and the commit to make.
pub fn latched_message(
    memory: &AutomaticStatus,
    declared: ActiveRegion,
    failback: bool,
) -> Option<String> {
    let side = side_name(memory.latched?);
    Some(format!(
        "dialtone failed over to the {side} side automatically{at}: {why}; commit spec.activeRegion: {side} to keep it there{back}",
        at = memory
            .latched_at
            .as_ref()
            .map(|t| format!(" at {}", t.0))
            .unwrap_or_default(),
        why = memory
            .latched_reason
            .as_deref()
            .unwrap_or("its region was unhealthy"),
        back = if failback {
            format!(
                " (or it fails back by itself once {} has been Healthy long enough)",
                side_name(declared)
            )
        } else {
            format!(
                " (any new commit ends the automatic failover and the spec decides again: commit {side} now, {} later to fail back)",
                side_name(declared)
            )
        },
    ))
}

/// Which side the plan should be on now.
pub fn decide(input: &Input<'_>, previous: &AutomaticStatus) -> Intent {
    let declared = Intent {
        side: input.declared,
        trigger: Trigger::Spec,
        memory: AutomaticStatus::default(),
        verdict: Verdict::Declared,
    };
    let Some(settings) = input.settings else {
        return declared;
    };
    let gap = GAP.max(settings.unhealthy_for.checked_mul(2).unwrap_or(GAP));
    let mut memory = remember(previous, input, gap);
    // A new spec (a commit) releases the latch: the spec names the side again.
    if memory.latched_spec.as_deref() != Some(input.spec) {
        memory.latched = None;
        memory.latched_at = None;
        memory.latched_reason = None;
        memory.latched_spec = None;
    }
    let in_effect = memory.latched.unwrap_or(input.declared);
    let standby = other(in_effect);
    let seen = |side| match side {
        ActiveRegion::Primary => input.primary,
        ActiveRegion::Secondary => input.secondary,
    };
    let region = |side| input.sides.region(side);
    let lasted = |from: Option<Timestamp>| {
        from.map(|t| input.now.duration_since(t))
            .filter(|d| *d >= settings.unhealthy_for)
    };
    let intent = |side, trigger, verdict, memory| Intent {
        side,
        trigger,
        memory,
        verdict,
    };
    let trigger = if memory.latched.is_some() {
        Trigger::Automatic
    } else {
        Trigger::Spec
    };

    // Failback, when asked for: the declared side Healthy and ready for `unhealthyFor`, and
    // `minInterval` after the failover (a failback is a move too: no bouncing).
    let interval_over = |memory: &AutomaticStatus| {
        memory
            .last_failover_at
            .as_ref()
            .is_none_or(|last| input.now.duration_since(last.0) >= settings.min_interval)
    };
    if memory.latched.is_some() && settings.failback {
        let back = input.declared;
        if let Some(lasted) = lasted(since(&memory, back, false))
            && seen(back).ready_for_traffic
            && interval_over(&memory)
        {
            let reason = format!(
                "automatic failback: {} has been Healthy for {} and is ready for traffic",
                region(back),
                span(lasted)
            );
            memory.latched = None;
            memory.latched_at = None;
            memory.latched_reason = None;
            memory.latched_spec = None;
            memory.last_failover_at = Some(Time(input.now));
            memory.message = Some(reason.clone());
            return intent(back, Trigger::Automatic, Verdict::Move(reason), memory);
        }
    }

    let quiet = |memory: AutomaticStatus, message: String| {
        if let Some(message) = latched_message(&memory, input.declared, settings.failback) {
            (Verdict::Latched(message.clone()), memory, message)
        } else {
            (Verdict::Watching(message.clone()), memory, message)
        }
    };

    let Some(unhealthy_since) = since(&memory, in_effect, true) else {
        let message = format!(
            "{} ({} side) is not unhealthy",
            region(in_effect),
            side_name(in_effect)
        );
        let (verdict, mut memory, message) = quiet(memory, message);
        memory.message = Some(message);
        return intent(in_effect, trigger, verdict, memory);
    };
    let health = seen(in_effect)
        .health
        .map(|h| format!("{h:?}"))
        .unwrap_or_else(|| "not probed".into());
    let so_far = input.now.duration_since(unhealthy_since);
    if so_far < settings.unhealthy_for {
        let message = format!(
            "{} ({} side) {health} for {} of {}: failover to {} if it lasts",
            region(in_effect),
            side_name(in_effect),
            span(so_far),
            span(settings.unhealthy_for),
            region(standby)
        );
        let (_, mut memory, _) = quiet(memory, String::new());
        memory.message = Some(message.clone());
        return intent(in_effect, trigger, Verdict::Watching(message), memory);
    }
    let why = format!(
        "{} ({} side) {health} for {}",
        region(in_effect),
        side_name(in_effect),
        span(so_far)
    );
    let withheld = if !seen(standby).ready_for_traffic {
        Some(format!(
            "{why}, but {} ({} side) is not ready for traffic: no automatic failover",
            region(standby),
            side_name(standby)
        ))
    } else {
        (!interval_over(&memory))
            .then(|| memory.last_failover_at.as_ref().map(|t| t.0))
            .flatten()
            .and_then(|last| last.checked_add(settings.min_interval).ok())
            .map(|after| {
                format!(
                    "{why}, but the last automatic failover was less than minInterval ({}) ago: none before {after}",
                    span(settings.min_interval)
                )
            })
    };
    if let Some(withheld) = withheld {
        memory.message = Some(withheld.clone());
        return intent(in_effect, trigger, Verdict::Withheld(withheld), memory);
    }
    let reason = format!("automatic failover: {why}");
    if standby == input.declared {
        memory.latched = None;
        memory.latched_at = None;
        memory.latched_reason = None;
        memory.latched_spec = None;
    } else {
        memory.latched = Some(standby);
        memory.latched_at = Some(Time(input.now));
        memory.latched_reason = Some(why);
        memory.latched_spec = Some(input.spec.to_string());
    }
    memory.last_failover_at = Some(Time(input.now));
    memory.message = Some(reason.clone());
    intent(standby, Trigger::Automatic, Verdict::Move(reason), memory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::failover::tests::{at, sides};
    use ActiveRegion::{Primary, Secondary};
    use Health::{Degraded, Healthy, Unhealthy, Unknown};

    const MIN: i64 = 60;

    /// One sweep: the second it runs at, the primary's and the secondary's region.
    type Sweep = (i64, SideNow, SideNow);

    fn settings(failback: bool) -> Settings {
        Settings {
            unhealthy_for: SignedDuration::from_mins(5),
            min_interval: SignedDuration::from_hours(1),
            failback,
        }
    }

    fn side(health: Health, ready: bool) -> SideNow {
        SideNow {
            health: Some(health),
            ready_for_traffic: ready,
        }
    }

    /// Runs sweeps every minute: (second, primary, secondary) -> the intent after each.
    fn run(
        declared: ActiveRegion,
        settings: Option<Settings>,
        sweeps: &[(i64, SideNow, SideNow)],
        spec: &str,
        start: AutomaticStatus,
    ) -> Vec<Intent> {
        let sides = sides();
        let mut memory = start;
        sweeps
            .iter()
            .map(|(second, primary, secondary)| {
                let input = Input {
                    declared,
                    spec,
                    settings,
                    primary: *primary,
                    secondary: *secondary,
                    sides: &sides,
                    now: at(*second),
                };
                let intent = decide(&input, &memory);
                memory = intent.memory.clone();
                intent
            })
            .collect()
    }

    fn sides_of(intents: &[Intent]) -> Vec<(ActiveRegion, Trigger)> {
        intents.iter().map(|i| (i.side, i.trigger)).collect()
    }

    /// The rules as a table: a minute-by-minute health history -> the side of each sweep.
    #[test]
    fn fails_over_only_after_unhealthy_for_without_a_break_and_to_a_ready_side() {
        let ok = side(Healthy, true);
        let sick = side(Unhealthy, false);
        let unknown = side(Unknown, false);
        let standby_not_ready = side(Degraded, false);
        let s = Trigger::Spec;
        let a = Trigger::Automatic;
        type Case = (&'static str, Vec<Sweep>, Vec<(ActiveRegion, Trigger)>);
        let cases: Vec<Case> = vec![
            (
                "healthy: stay",
                vec![(0, ok, ok), (6 * MIN, ok, ok)],
                vec![(Primary, s), (Primary, s)],
            ),
            (
                "unhealthy 5 minutes: fail over at the sweep that sees 5m",
                (0..=5).map(|m| (m * MIN, sick, ok)).collect(),
                vec![
                    (Primary, s),
                    (Primary, s),
                    (Primary, s),
                    (Primary, s),
                    (Primary, s),
                    (Secondary, a),
                ],
            ),
            (
                "Unhealthy then Unknown counts as one unbroken stretch",
                vec![
                    (0, sick, ok),
                    (2 * MIN, unknown, ok),
                    (4 * MIN, sick, ok),
                    (5 * MIN, unknown, ok),
                ],
                vec![(Primary, s), (Primary, s), (Primary, s), (Secondary, a)],
            ),
            (
                "flapping restarts the count every time",
                vec![
                    (0, sick, ok),
                    (3 * MIN, ok, ok),
                    (4 * MIN, sick, ok),
                    (7 * MIN, ok, ok),
                    (8 * MIN, sick, ok),
                    (12 * MIN, sick, ok),
                ],
                vec![
                    (Primary, s),
                    (Primary, s),
                    (Primary, s),
                    (Primary, s),
                    (Primary, s),
                    (Primary, s),
                ],
            ),
            (
                "Degraded is not unhealthy",
                vec![
                    (0, side(Degraded, true), ok),
                    (10 * MIN, side(Degraded, true), ok),
                ],
                vec![(Primary, s), (Primary, s)],
            ),
            (
                "both sides unhealthy: nowhere to go",
                vec![(0, sick, sick), (10 * MIN, sick, sick)],
                vec![(Primary, s), (Primary, s)],
            ),
            (
                "the standby is not ready: no failover",
                vec![
                    (0, sick, standby_not_ready),
                    (10 * MIN, sick, standby_not_ready),
                ],
                vec![(Primary, s), (Primary, s)],
            ),
            (
                "sweeps slower than unhealthyFor still see a long outage",
                vec![(0, sick, ok), (6 * MIN, sick, ok)],
                vec![(Primary, s), (Secondary, a)],
            ),
            (
                "a gap longer than 15 minutes starts the count again",
                vec![
                    (0, sick, ok),
                    (20 * MIN, sick, ok),
                    (24 * MIN, sick, ok),
                    (25 * MIN, sick, ok),
                ],
                vec![(Primary, s), (Primary, s), (Primary, s), (Secondary, a)],
            ),
            (
                "latched: the primary recovers, the traffic stays",
                vec![
                    (0, sick, ok),
                    (5 * MIN, sick, ok),
                    (6 * MIN, ok, ok),
                    (60 * MIN, ok, ok),
                ],
                vec![(Primary, s), (Secondary, a), (Secondary, a), (Secondary, a)],
            ),
            (
                "a second incident inside minInterval does not fail over again; after it, it does",
                [(0, sick, ok), (5 * MIN, sick, ok)]
                    .into_iter()
                    .chain((6..=66).step_by(4).map(|m| (m * MIN, ok, sick)))
                    .collect(),
                [(Primary, s), (Secondary, a)]
                    .into_iter()
                    .chain((6..=62).step_by(4).map(|_| (Secondary, a)))
                    .chain([(Primary, a)])
                    .collect(),
            ),
        ];
        for (what, sweeps, expected) in cases {
            let intents = run(
                Primary,
                Some(settings(false)),
                &sweeps,
                "g1",
                AutomaticStatus::default(),
            );
            assert_eq!(sides_of(&intents), expected, "{what}");
        }
    }

    #[test]
    fn manual_mode_always_follows_the_spec() {
        let sick = side(Unhealthy, false);
        let ok = side(Healthy, true);
        let intents = run(
            Primary,
            None,
            &[(0, sick, ok), (60 * MIN, sick, ok)],
            "g1",
            AutomaticStatus::default(),
        );
        assert_eq!(sides_of(&intents), vec![(Primary, Trigger::Spec); 2]);
        assert!(intents.iter().all(|i| i.verdict == Verdict::Declared));
    }

    #[test]
    fn the_latch_holds_until_a_new_spec_or_an_asked_for_failback() {
        let sick = side(Unhealthy, false);
        let ok = side(Healthy, true);
        let failed_over = run(
            Primary,
            Some(settings(false)),
            &[(0, sick, ok), (5 * MIN, sick, ok)],
            "g1",
            AutomaticStatus::default(),
        );
        let memory = failed_over[1].memory.clone();
        assert_eq!(memory.latched, Some(Secondary));
        assert!(
            matches!(&failed_over[1].verdict, Verdict::Move(m) if m.contains("us-east-1 (primary side) Unhealthy for 5m"))
        );

        // Same spec, primary healthy again: latched, and the message says what to commit.
        let later = run(
            Primary,
            Some(settings(false)),
            &[(30 * MIN, ok, ok)],
            "g1",
            memory.clone(),
        );
        assert_eq!(later[0].side, Secondary);
        assert!(
            matches!(&later[0].verdict, Verdict::Latched(m) if m.contains("commit spec.activeRegion: secondary")),
            "{:?}",
            later[0].verdict
        );

        // The user commits the new side: the spec names it, the latch is gone.
        let committed = run(
            Secondary,
            Some(settings(false)),
            &[(31 * MIN, ok, ok)],
            "g2",
            memory.clone(),
        );
        assert_eq!(
            (committed[0].side, committed[0].trigger),
            (Secondary, Trigger::Spec)
        );
        assert!(!committed[0].latched());

        // A new spec that still names the primary: the spec wins (a failback, by commit).
        let recommitted = run(
            Primary,
            Some(settings(false)),
            &[(31 * MIN, ok, ok)],
            "g2",
            memory.clone(),
        );
        assert_eq!(
            (recommitted[0].side, recommitted[0].trigger),
            (Primary, Trigger::Spec)
        );

        // `failback: true`: back once the primary has been Healthy and ready for unhealthyFor,
        // and minInterval after the failover.
        let mut quick = settings(true);
        quick.min_interval = SignedDuration::from_mins(9);
        let back = run(
            Primary,
            Some(quick),
            &[(10 * MIN, ok, ok), (12 * MIN, ok, ok), (15 * MIN, ok, ok)],
            "g1",
            memory.clone(),
        );
        assert_eq!(
            sides_of(&back),
            vec![
                (Secondary, Trigger::Automatic),
                (Secondary, Trigger::Automatic),
                (Primary, Trigger::Automatic)
            ]
        );
        assert!(!back[2].latched());
        // With minInterval 1h: Healthy long enough, but too soon after the failover.
        let sweeps: Vec<Sweep> = (10..=66).step_by(4).map(|m| (m * MIN, ok, ok)).collect();
        let back = run(Primary, Some(settings(true)), &sweeps, "g1", memory);
        assert!(
            back[..back.len() - 1].iter().all(|i| i.side == Secondary),
            "{:?}",
            sides_of(&back)
        );
        assert_eq!(back.last().map(|i| i.side), Some(Primary), "at 66m");
    }

    #[test]
    fn verdicts_say_how_long_and_what_blocks() {
        let sick = side(Unhealthy, false);
        let intents = run(
            Primary,
            Some(settings(false)),
            &[
                (0, sick, side(Healthy, true)),
                (2 * MIN, sick, side(Unknown, false)),
                (7 * MIN, sick, side(Unknown, false)),
            ],
            "g1",
            AutomaticStatus::default(),
        );
        assert!(
            matches!(&intents[0].verdict, Verdict::Watching(m) if m.contains("Unhealthy for 0s of 5m"))
        );
        assert!(matches!(&intents[1].verdict, Verdict::Watching(m) if m.contains("2m of 5m")));
        assert!(
            matches!(&intents[2].verdict, Verdict::Withheld(m) if m.contains("us-west-2 (secondary side) is not ready")),
            "{:?}",
            intents[2].verdict
        );
    }
}

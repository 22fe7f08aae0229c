//! FailoverPlan decisions, pure: which side has the traffic, whether to move it, and what each step
//! of a move must do given what AWS shows now (so running a step twice is running it once, and a
//! restart resumes the same failover). No I/O, no clock: the caller passes what it read and `now`.

use jiff::SignedDuration;

use crate::api::failover_plan::ActiveRegion;
use crate::plan::health::ObservedTraffic;

/// The other side.
pub fn other(side: ActiveRegion) -> ActiveRegion {
    match side {
        ActiveRegion::Primary => ActiveRegion::Secondary,
        ActiveRegion::Secondary => ActiveRegion::Primary,
    }
}

/// `primary` or `secondary`, as the spec spells it.
pub fn side_name(side: ActiveRegion) -> &'static str {
    match side {
        ActiveRegion::Primary => "primary",
        ActiveRegion::Secondary => "secondary",
    }
}

/// The AWS regions of the two sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sides {
    pub primary: String,
    pub secondary: String,
}

impl Sides {
    pub fn region(&self, side: ActiveRegion) -> &str {
        match side {
            ActiveRegion::Primary => &self.primary,
            ActiveRegion::Secondary => &self.secondary,
        }
    }
}

/// A duration as the spec writes them: `5m`, `1h30m`, `45s`.
pub fn span(duration: SignedDuration) -> String {
    let seconds = duration.as_secs().max(0);
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Which side the traffic is on, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    On(ActiveRegion),
    /// Neither side has it all (percentages, or a lever between states).
    Split(String),
    /// Could not be read.
    Unknown(String),
}

/// The side that has 100 % of telephony, from GetTrafficDistribution.
pub fn traffic_side(traffic: &ObservedTraffic, sides: &Sides) -> Reading {
    let percent = |region: &str| {
        traffic
            .telephony
            .iter()
            .find(|(r, _)| r == region)
            .map(|(_, p)| *p)
            .unwrap_or(0)
    };
    match (percent(&sides.primary), percent(&sides.secondary)) {
        (100, _) => Reading::On(ActiveRegion::Primary),
        (_, 100) => Reading::On(ActiveRegion::Secondary),
        (p, s) => Reading::Split(format!(
            "telephony {p} % in {} and {s} % in {}",
            sides.primary, sides.secondary
        )),
    }
}

/// The side the DNS lever serves: its alarm in ALARM means the primary is disabled.
pub fn lever_side(alarm_state: Option<&str>) -> Reading {
    match alarm_state {
        Some("ALARM") => Reading::On(ActiveRegion::Secondary),
        Some("OK") => Reading::On(ActiveRegion::Primary),
        Some(other) => Reading::Split(format!("lever alarm is {other}")),
        None => Reading::Unknown("the lever alarm does not exist yet".into()),
    }
}

/// The traffic distribution that puts everything on `to`: telephony and agents 100 % there, 0 %
/// on the other side; sign-in enabled on `to` (and kept on the other, so agents can still reach
/// it: signing in is not taking calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    pub telephony: Vec<(String, i32)>,
    pub agents: Option<Vec<(String, i32)>>,
    pub sign_in: Option<Vec<(String, bool)>>,
}

pub fn distribution_to(
    to: ActiveRegion,
    sides: &Sides,
    agents: bool,
    sign_in: bool,
) -> Distribution {
    let (target, other_region) = (sides.region(to), sides.region(other(to)));
    let all = vec![(target.to_string(), 100), (other_region.to_string(), 0)];
    Distribution {
        telephony: all.clone(),
        agents: agents.then_some(all),
        sign_in: sign_in.then(|| vec![(target.to_string(), true)]),
    }
}

/// Whether `observed` already is `wanted` (the parts `wanted` sets).
pub fn distribution_matches(observed: &ObservedTraffic, wanted: &Distribution) -> bool {
    let same = |have: &[(String, i32)], want: &[(String, i32)]| {
        want.iter()
            .all(|(region, pct)| have.iter().any(|(r, p)| r == region && p == pct))
    };
    same(&observed.telephony, &wanted.telephony)
        && wanted
            .agents
            .as_ref()
            .is_none_or(|a| same(&observed.agents, a))
        && wanted.sign_in.as_ref().is_none_or(|s| {
            s.iter()
                .all(|(region, on)| observed.sign_in.iter().any(|(r, e)| r == region && e == on))
        })
}

/// Why a failover happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `spec.activeRegion` changed.
    Spec,
    Automatic,
    Drill,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Spec => "spec",
            Trigger::Automatic => "automatic",
            Trigger::Drill => "drill",
        }
    }
}

/// What a plan should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Every lever already serves the desired side.
    Stay,
    /// Move to `to`. `underway` when a lever already serves `to` or is between sides: the move
    /// started (a restart, or someone's hand) and is finished, whatever the target's readiness
    /// says now (half a failover is worse than either side).
    Move {
        to: ActiveRegion,
        trigger: Trigger,
        underway: bool,
    },
    /// The levers cannot be read: nothing is written (a failover needs to know where it starts).
    Unknown(String),
}

/// Whether the levers (traffic distribution, DNS lever) serve `desired`. A failover is complete
/// only when every lever the plan has serves the desired side: a restart after the traffic moved
/// but before the DNS lever did finishes the same failover.
pub fn decide(desired: ActiveRegion, levers: &[Reading], trigger: Trigger) -> Decision {
    if let Some(Reading::Unknown(why)) = levers.iter().find(|r| matches!(r, Reading::Unknown(_))) {
        return Decision::Unknown(why.clone());
    }
    if levers.iter().all(|r| r == &Reading::On(desired)) {
        Decision::Stay
    } else {
        Decision::Move {
            to: desired,
            trigger,
            underway: levers
                .iter()
                .any(|r| r == &Reading::On(desired) || matches!(r, Reading::Split(_))),
        }
    }
}

/// The side the traffic is on, for status: the traffic distribution's when the plan has one, else
/// the DNS lever's.
pub fn actual(levers: &[Reading]) -> Option<ActiveRegion> {
    match levers.first() {
        Some(Reading::On(side)) => Some(*side),
        _ => None,
    }
}

/// Whether the target may take the traffic: ReadyForTraffic, or the force annotation.
pub fn readiness(ready: Result<(), String>, force: Option<&str>) -> Result<String, String> {
    match (ready, force.map(str::trim).filter(|r| !r.is_empty())) {
        (Ok(()), _) => Ok("target region is ReadyForTraffic".into()),
        (Err(why), Some(reason)) => Ok(format!(
            "target region is not ready ({why}); forced: {reason}"
        )),
        (Err(why), None) => Err(why),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sides() -> Sides {
        Sides {
            primary: "us-east-1".into(),
            secondary: "us-west-2".into(),
        }
    }

    /// An instant `seconds` after a fixed one (tests pass the clock in).
    pub(crate) fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + seconds).expect("in range")
    }

    fn traffic(east: i32, west: i32) -> ObservedTraffic {
        ObservedTraffic {
            telephony: vec![("us-east-1".into(), east), ("us-west-2".into(), west)],
            agents: vec![("us-east-1".into(), east), ("us-west-2".into(), west)],
            sign_in: vec![("us-east-1".into(), true), ("us-west-2".into(), true)],
        }
    }

    #[test]
    fn the_actual_side_is_where_all_telephony_goes() {
        assert_eq!(
            traffic_side(&traffic(100, 0), &sides()),
            Reading::On(ActiveRegion::Primary)
        );
        assert_eq!(
            traffic_side(&traffic(0, 100), &sides()),
            Reading::On(ActiveRegion::Secondary)
        );
        assert!(
            matches!(traffic_side(&traffic(50, 50), &sides()), Reading::Split(s) if s.contains("50 %"))
        );
        assert_eq!(
            lever_side(Some("ALARM")),
            Reading::On(ActiveRegion::Secondary)
        );
        assert_eq!(lever_side(Some("OK")), Reading::On(ActiveRegion::Primary));
    }

    /// The runbook as a table: desired side, levers read -> decision.
    #[test]
    fn a_failover_is_done_only_when_every_lever_serves_the_desired_side() {
        use ActiveRegion::{Primary, Secondary};
        let on = Reading::On;
        let cases = [
            (
                "steady",
                Primary,
                vec![on(Primary), on(Primary)],
                Decision::Stay,
            ),
            (
                "flip",
                Secondary,
                vec![on(Primary), on(Primary)],
                Decision::Move {
                    to: Secondary,
                    trigger: Trigger::Spec,
                    underway: false,
                },
            ),
            (
                "traffic moved, DNS not yet (a restart resumes)",
                Secondary,
                vec![on(Secondary), on(Primary)],
                Decision::Move {
                    to: Secondary,
                    trigger: Trigger::Spec,
                    underway: true,
                },
            ),
            (
                "failed over",
                Secondary,
                vec![on(Secondary), on(Secondary)],
                Decision::Stay,
            ),
            (
                "a split is finished",
                Primary,
                vec![Reading::Split("50/50".into())],
                Decision::Move {
                    to: Primary,
                    trigger: Trigger::Spec,
                    underway: true,
                },
            ),
            (
                "unknown writes nothing",
                Secondary,
                vec![
                    on(Primary),
                    Reading::Unknown("GetTrafficDistribution failed".into()),
                ],
                Decision::Unknown("GetTrafficDistribution failed".into()),
            ),
        ];
        for (what, desired, levers, expected) in cases {
            assert_eq!(decide(desired, &levers, Trigger::Spec), expected, "{what}");
        }
    }

    #[test]
    fn the_distribution_puts_telephony_and_agents_on_the_target_and_is_idempotent() {
        let wanted = distribution_to(ActiveRegion::Secondary, &sides(), true, true);
        assert_eq!(
            wanted.telephony,
            [("us-west-2".to_string(), 100), ("us-east-1".to_string(), 0)]
        );
        assert_eq!(wanted.sign_in, Some(vec![("us-west-2".to_string(), true)]));
        assert!(!distribution_matches(&traffic(100, 0), &wanted));
        assert!(distribution_matches(&traffic(0, 100), &wanted));
        let no_agents = distribution_to(ActiveRegion::Secondary, &sides(), false, false);
        let mut telephony_only = traffic(0, 100);
        telephony_only.agents = vec![("us-east-1".into(), 100), ("us-west-2".into(), 0)];
        assert!(distribution_matches(&telephony_only, &no_agents));
    }

    #[test]
    fn readiness_blocks_unless_forced_with_a_reason() {
        assert!(readiness(Ok(()), None).is_ok());
        assert_eq!(
            readiness(Err("replication IN_PROGRESS".into()), None),
            Err("replication IN_PROGRESS".into())
        );
        assert!(
            readiness(Err("x".into()), Some("INC-1 primary is down"))
                .is_ok_and(|m| m.contains("forced"))
        );
        assert!(
            readiness(Err("x".into()), Some("  ")).is_err(),
            "an empty reason forces nothing"
        );
    }
}

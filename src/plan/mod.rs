//! PURE: (desired, observed) -> plan of actions and drift. No I/O, no async, no clock.

pub mod alarm;
pub mod automatic;
pub mod deletion;
pub mod diff;
pub mod dns;
pub mod drill;
pub mod failover;
pub mod gate;
pub mod health;
pub mod mute;
pub mod presets;
pub mod schedule;
pub mod scope;
pub mod sweep;

#[cfg(test)]
mod deletion_tests;
#[cfg(test)]
mod tests;

pub use alarm::{AlarmConfig, DesiredAlarm, ObservedAlarm, desired_alarms};
pub use sweep::{
    Action, Claim, Kept, Observed, Orphan, Orphans, OwnedAlarm, PolicyInput, PolicyPlan,
    RegionInput, RegionPlan, plan_sweep,
};

//! PURE: (desired, observed) -> plan of actions and drift. No I/O, no async, no clock.

pub mod alarm;
pub mod diff;
pub mod sweep;

#[cfg(test)]
mod tests;

pub use alarm::{AlarmConfig, DesiredAlarm, ObservedAlarm, desired_alarms};
pub use sweep::{Action, Observed, OwnedAlarm, PolicyInput, PolicyPlan, plan_sweep};

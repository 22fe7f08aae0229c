//! One module per kind: observe -> validate -> plan -> execute -> status.

pub mod alarm_policy;
pub mod cluster;
pub mod contact_center_region;
pub mod failover_plan;
pub mod harness;
pub mod maintenance_window;
pub mod progress;
pub mod status;

pub use alarm_policy::{AlarmEngine, Mode, PolicyOutcome};

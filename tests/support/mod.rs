//! Shared test fixtures. Each integration test file includes this with `mod support;`.
#![allow(dead_code)]

pub mod api_server;
pub mod emulator;
pub mod process;

/// The example AlarmPolicies of examples/.
pub fn example_alarm_policies() -> Vec<dialtone::api::AlarmPolicy> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    dialtone::source::manifests::load(&dir)
        .expect("examples load")
        .objects
        .into_values()
        .filter_map(|(_, o)| match o {
            dialtone::api::Object::AlarmPolicy(p) => Some(p),
            _ => None,
        })
        .collect()
}

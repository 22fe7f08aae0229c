//! The commands behind `dialtone plan`, `apply` and `run --manifests`, with desired state from files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::api::Object;
use crate::api::alarm_policy::AlarmPolicy;
use crate::aws::AwsClients;
use crate::controller::alarm_policy::{owner_of, record_metrics};
use crate::controller::status::{StatusBase, invalid_status};
use crate::controller::{AlarmEngine, Mode, PolicyOutcome};
use crate::http::Health;
use crate::metrics::Metrics;
use crate::render::{self, Totals};
use crate::source::manifests::{self, Manifests};
use crate::{ErrorClass, Result};

/// How many times `apply` re-plans and retries after retryable AWS errors (throttling).
const APPLY_PASSES: u32 = 5;

/// Exit codes shared by the file commands.
pub mod exit {
    /// Nothing to do, or done.
    pub const OK: u8 = 0;
    /// An error, an invalid document, a conflict: the declared state cannot be reached as is.
    pub const ERROR: u8 = 1;
    /// `plan --detailed-exitcode`: changes pending.
    pub const CHANGES: u8 = 2;
}

/// Output format of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

fn policies(loaded: &Manifests) -> Vec<AlarmPolicy> {
    loaded
        .objects
        .iter()
        .filter_map(|(_, object)| match object {
            Object::AlarmPolicy(policy) => Some(policy.clone()),
            _ => None,
        })
        .collect()
}

/// Owners of AlarmPolicy documents that exist but are invalid.
fn invalid_owners(loaded: &Manifests) -> BTreeSet<String> {
    loaded
        .invalid
        .iter()
        .filter(|(_, invalid)| invalid.object.starts_with("AlarmPolicy "))
        .map(|(_, invalid)| {
            invalid
                .object
                .trim_start_matches("AlarmPolicy ")
                .to_string()
        })
        .collect()
}

/// `dialtone plan`: what would change in AWS.
pub async fn plan(
    path: &Path,
    clients: Arc<AwsClients>,
    output: Output,
    detailed: bool,
) -> Result<u8> {
    let loaded = manifests::load(path)?;
    let mut engine = AlarmEngine::new(clients);
    let outcomes = engine
        .sweep(&policies(&loaded), Mode::Plan, None, Timestamp::now())
        .await;
    let invalid = loaded.problems();
    match output {
        Output::Text => print!("{}", render::plan_text(&outcomes, &invalid)),
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&render::plan_json(&outcomes, &invalid))
                .unwrap_or_default()
        ),
    }
    let totals = Totals::of(&outcomes);
    Ok(
        if !invalid.is_empty() || totals.conflicts > 0 || totals.errors > 0 {
            exit::ERROR
        } else if detailed && totals.changes() > 0 {
            exit::CHANGES
        } else {
            exit::OK
        },
    )
}

/// `dialtone apply`: apply once, retrying with backoff while AWS throttles, then print the result.
pub async fn apply(path: &Path, clients: Arc<AwsClients>) -> Result<u8> {
    let loaded = manifests::load(path)?;
    let policies = policies(&loaded);
    let mut engine = AlarmEngine::new(clients);
    let mut outcomes = Vec::new();
    for pass in 0..APPLY_PASSES {
        outcomes = engine
            .sweep(&policies, Mode::Apply, None, Timestamp::now())
            .await;
        for outcome in &outcomes {
            for line in render::done_lines(outcome) {
                println!("AlarmPolicy {}: {line}", outcome.owner);
            }
        }
        let retryable = outcomes
            .iter()
            .flat_map(|o| &o.errors)
            .any(|e| e.class == ErrorClass::Retryable);
        if !retryable || pass + 1 == APPLY_PASSES {
            break;
        }
        let wait = backoff(pass);
        eprintln!("AWS asked us to slow down; trying again in {wait:?}");
        tokio::time::sleep(wait).await;
    }
    for problem in loaded.problems() {
        println!("INVALID {problem}");
    }
    for outcome in &outcomes {
        for err in &outcome.errors {
            println!("AlarmPolicy {}: error: {err}", outcome.owner);
        }
        println!(
            "{}",
            render::status_line(&outcome.owner, &outcome.target.region, &outcome.status)
        );
    }
    let clean = loaded.invalid.is_empty()
        && outcomes
            .iter()
            .all(|o| o.errors.is_empty() && o.plan.conflicts() == 0);
    Ok(if clean { exit::OK } else { exit::ERROR })
}

/// Exponential backoff with jitter: about 1 s, 2 s, 4 s, ... capped at 30 s.
pub fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_secs(1 << attempt.min(5)).min(Duration::from_secs(30));
    base + jitter(base / 2)
}

/// A pseudo-random duration up to `max` (enough to spread retries; not for cryptography).
fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Timestamp::now().as_nanosecond().unsigned_abs());
    let fraction = (hasher.finish() % 1000) as f64 / 1000.0;
    max.mul_f64(fraction)
}

/// `dialtone run --manifests`: reconcile every `resync` until SIGINT/SIGTERM, printing a status
/// line per policy when something changed.
pub async fn run_manifests(
    path: &Path,
    clients: Arc<AwsClients>,
    resync: Duration,
    health: Arc<Health>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<u8> {
    let mut engine = AlarmEngine::new(clients);
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    let mut statuses: BTreeMap<String, crate::api::alarm_policy::AlarmPolicyStatus> =
        BTreeMap::new();
    let mut failures: u32 = 0;
    // The only instance reconciling this directory: the leader, in the metrics' terms.
    Metrics::global().set_leader(true);
    println!(
        "dialtone: reconciling {} every {resync:?} (Ctrl-C to stop)",
        path.display()
    );
    loop {
        let sweep = async {
            let loaded = manifests::load(path)?;
            let mut policies = policies(&loaded);
            for policy in &mut policies {
                policy.status = statuses.get(&owner_of(policy)).cloned();
            }
            let invalid = invalid_owners(&loaded);
            let _timer = Metrics::global().reconcile_timer("AlarmPolicy");
            let outcomes = engine
                .sweep(&policies, Mode::Apply, Some(&invalid), Timestamp::now())
                .await;
            Ok::<_, crate::Error>((loaded, outcomes))
        };
        let result = tokio::select! {
            result = sweep => result,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let wait = match result {
            Ok((loaded, outcomes)) => {
                report(&loaded, &outcomes, &mut last, &mut statuses);
                health.set_ready();
                let retryable = outcomes
                    .iter()
                    .flat_map(|o| &o.errors)
                    .any(|e| e.class == ErrorClass::Retryable);
                failures = if retryable { failures + 1 } else { 0 };
                if retryable {
                    backoff(failures.min(5)).min(resync)
                } else {
                    resync
                }
            }
            Err(err) => {
                eprintln!("error: {err}");
                failures += 1;
                backoff(failures.min(5)).min(resync)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    println!("dialtone: stopped");
    Ok(exit::OK)
}

fn report(
    loaded: &Manifests,
    outcomes: &[PolicyOutcome],
    last: &mut BTreeMap<String, String>,
    statuses: &mut BTreeMap<String, crate::api::alarm_policy::AlarmPolicyStatus>,
) {
    for outcome in outcomes {
        record_metrics(outcome);
        let result = if outcome.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        Metrics::global().reconciled("AlarmPolicy", result);
        for line in render::done_lines(outcome) {
            println!("AlarmPolicy {}: {line}", outcome.owner);
        }
        for err in &outcome.errors {
            println!("AlarmPolicy {}: error: {err}", outcome.owner);
        }
        let line = render::status_line(&outcome.owner, &outcome.target.region, &outcome.status);
        if last.get(&outcome.owner) != Some(&line) {
            println!("{line}");
            last.insert(outcome.owner.clone(), line);
        }
        statuses.insert(outcome.owner.clone(), outcome.status.clone());
    }
    for (origin, invalid) in &loaded.invalid {
        let key = invalid
            .object
            .trim_start_matches("AlarmPolicy ")
            .to_string();
        let status = invalid_status(invalid, &StatusBase::default(), Timestamp::now());
        let line = format!("{origin}: {invalid}");
        if last.get(&key) != Some(&line) {
            println!("{line}");
            last.insert(key.clone(), line);
        }
        statuses.insert(key, status);
    }
}

/// A flag that turns true on SIGINT or SIGTERM. The handlers are installed once, up front, so a
/// signal that arrives between two waits is not lost.
pub fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown().await;
        let _ = tx.send(true);
    });
    rx
}

async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

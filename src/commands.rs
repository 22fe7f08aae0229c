//! The commands behind `dialtone plan`, `apply` and `run --manifests`, with desired state from files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::api::Object;
use crate::api::alarm_policy::{AlarmPolicyStatus, DeletionPolicy, ManagementPolicy};
use crate::aws::AwsClients;
use crate::controller::alarm_policy::{
    AlarmEngine, Mode, Subject, SweepOutcome, owner_of, record_metrics, target_of,
};
use crate::controller::status::{StatusBase, invalid_status};
use crate::http::Health;
use crate::metrics::Metrics;
use crate::plan::scope::{self, PolicyView, Standing};
use crate::plan::sweep::Orphans;
use crate::render::{self, Totals};
use crate::source::state::{Record, State, StateFile};
use crate::source::{Kind, ObjectKey, Snapshot, manifests};
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

/// What the file commands share: where the state is kept and whether orphans are deleted.
#[derive(Debug, Clone, Default)]
pub struct FileOptions {
    /// `--state`: the state file (default: per manifest path under `$XDG_STATE_HOME/dialtone`).
    pub state: Option<PathBuf>,
    /// `--prune`: delete orphans too (owned alarms no object of the source may delete).
    pub prune: bool,
}

impl FileOptions {
    fn orphans(&self) -> Orphans {
        if self.prune {
            Orphans::Prune
        } else {
            Orphans::Report
        }
    }
}

/// Every AlarmPolicy the source or the state knows, as a sweep sees it: present (valid),
/// untouchable (invalid, declared twice, or removed but retained), or gone (removed from the
/// source; the state remembers where its alarms are).
fn views<'a>(snapshot: &'a Snapshot, state: &'a State) -> Vec<PolicyView<'a>> {
    let footprint = |key: &ObjectKey| {
        state
            .record(&key.to_string())
            .map(|r| r.footprint.as_slice())
            .unwrap_or_default()
    };
    let mut views = Vec::new();
    for (key, (_, object)) in &snapshot.objects {
        if let Object::AlarmPolicy(policy) = object {
            views.push(PolicyView {
                owner: key.owner(),
                standing: Standing::Present(policy),
                footprint: footprint(key),
            });
        }
    }
    for key in snapshot.unusable().filter(|k| k.kind == Kind::AlarmPolicy) {
        views.push(PolicyView {
            owner: key.owner(),
            standing: Standing::Untouchable,
            footprint: footprint(key),
        });
    }
    for (text, record) in &state.objects {
        let Some(key) = ObjectKey::parse(text) else {
            continue;
        };
        if key.kind != Kind::AlarmPolicy || snapshot.declares(&key) {
            continue;
        }
        let standing = if record.retained {
            Standing::Untouchable
        } else {
            Standing::Gone {
                deletion: record.deletion_policy,
                manage: record.management_policy == ManagementPolicy::Manage,
                prefix: None,
            }
        };
        views.push(PolicyView {
            owner: key.owner(),
            standing,
            footprint: &record.footprint,
        });
    }
    views
}

/// Plans (and with `Mode::Apply` carries out) one sweep over the whole source. `statuses` are the
/// last statuses, whose conditions the new ones build on.
async fn sweep_source(
    engine: &mut AlarmEngine,
    snapshot: &Snapshot,
    state: &State,
    statuses: &BTreeMap<String, AlarmPolicyStatus>,
    options: &FileOptions,
    mode: Mode,
) -> SweepOutcome {
    let views = views(snapshot, state);
    let subjects: Vec<Subject> = views
        .iter()
        .filter_map(|view| {
            let (target, generation) = match view.standing {
                Standing::Present(policy) => (Some(target_of(policy)), policy.metadata.generation),
                Standing::Gone { .. } => (None, None),
                Standing::Untouchable => return None,
            };
            let conditions = statuses
                .get(&view.owner)
                .map(|s| s.conditions.clone())
                .unwrap_or_default();
            Some(Subject {
                owner: view.owner.clone(),
                target,
                base: StatusBase {
                    generation,
                    conditions,
                },
            })
        })
        .collect();
    let withheld = snapshot.withheld();
    let regions = scope::scope(&views, withheld.as_deref(), options.orphans());
    engine
        .sweep(regions, &subjects, mode, Timestamp::now())
        .await
}

/// Before anything is written: every present policy's record, with the names it is about to
/// write added to its footprint (a crash mid-apply must leave them findable), and removed
/// policies that keep their alarms marked as retained.
fn record_intent(snapshot: &Snapshot, state: &mut State) {
    for policy in snapshot.alarm_policies() {
        let owner = owner_of(policy);
        let key = ObjectKey::new(
            Kind::AlarmPolicy,
            policy.metadata.namespace.as_deref().unwrap_or("default"),
            policy.metadata.name.as_deref().unwrap_or_default(),
        )
        .to_string();
        let previous = state.objects.get(&key).cloned().unwrap_or_default();
        state.objects.insert(
            key,
            Record {
                management_policy: policy.spec.management_policy,
                deletion_policy: policy.spec.deletion_policy,
                footprint: scope::footprint_before(policy, &owner, &previous.footprint),
                retained: false,
            },
        );
    }
    for (text, record) in state.objects.iter_mut() {
        let gone = ObjectKey::parse(text).is_some_and(|key| !snapshot.declares(&key));
        if gone
            && (record.deletion_policy == DeletionPolicy::Retain
                || record.management_policy == ManagementPolicy::Observe)
        {
            record.retained = true;
        }
    }
}

/// After a sweep: footprints as the sweep left them; a policy gone from the source is forgotten
/// once nothing of it is left.
fn record_outcome(snapshot: &Snapshot, sweep: &SweepOutcome, state: &mut State) {
    for outcome in &sweep.policies {
        let (namespace, name) = outcome
            .owner
            .split_once('/')
            .unwrap_or(("default", &outcome.owner));
        let key = ObjectKey::new(Kind::AlarmPolicy, namespace, name).to_string();
        // A region that could not be read keeps every name it had (the engine says so).
        if let Some(record) = state.objects.get_mut(&key) {
            record.footprint = outcome.footprint.clone();
        }
    }
    state.objects.retain(|text, record| {
        let gone = ObjectKey::parse(text).is_some_and(|key| !snapshot.declares(&key));
        !(gone && !record.retained && record.footprint.is_empty())
    });
}

/// Writes the state when it changed.
fn save(file: &StateFile, state: &State, saved: &mut State) -> Result<()> {
    if state != saved {
        file.save(state)?;
        *saved = state.clone();
    }
    Ok(())
}

fn locate_state(path: &Path, options: &FileOptions) -> Result<StateFile> {
    StateFile::locate(options.state.as_deref(), path)
}

/// `dialtone plan`: what would change in AWS. Reads the state, never writes it.
pub async fn plan(
    path: &Path,
    clients: Arc<AwsClients>,
    output: Output,
    detailed: bool,
    options: &FileOptions,
) -> Result<u8> {
    let snapshot = manifests::load(path)?;
    let state = locate_state(path, options)?.load()?;
    let mut engine = AlarmEngine::new(clients);
    let sweep = sweep_source(
        &mut engine,
        &snapshot,
        &state,
        &BTreeMap::new(),
        options,
        Mode::Plan,
    )
    .await;
    let invalid = snapshot.problems();
    let withheld = snapshot.withheld();
    match output {
        Output::Text => {
            print!("{}", render::plan_text(&sweep, &invalid, options.prune));
            if let Some(why) = &withheld {
                println!("Deletions withheld: {why}.");
            }
        }
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&render::plan_json(&sweep, &invalid, withheld.as_deref()))
                .unwrap_or_default()
        ),
    }
    let totals = Totals::of(&sweep);
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
/// Every write is logged as it is made (stderr, in the chosen log format).
pub async fn apply(path: &Path, clients: Arc<AwsClients>, options: &FileOptions) -> Result<u8> {
    let snapshot = manifests::load(path)?;
    let state_file = locate_state(path, options)?;
    let mut state = state_file.load()?;
    let mut saved = state.clone();
    let mut engine = AlarmEngine::new(clients);
    let mut sweep = SweepOutcome::default();
    for pass in 0..APPLY_PASSES {
        record_intent(&snapshot, &mut state);
        save(&state_file, &state, &mut saved)?;
        sweep = sweep_source(
            &mut engine,
            &snapshot,
            &state,
            &BTreeMap::new(),
            options,
            Mode::Apply,
        )
        .await;
        record_outcome(&snapshot, &sweep, &mut state);
        save(&state_file, &state, &mut saved)?;
        if !retryable(&sweep) || pass + 1 == APPLY_PASSES {
            break;
        }
        let wait = backoff(pass);
        eprintln!("AWS asked us to slow down; trying again in {wait:?}");
        tokio::time::sleep(wait).await;
    }
    for problem in snapshot.problems() {
        println!("INVALID {problem}");
    }
    if let Some(why) = snapshot.withheld() {
        println!("Deletions withheld: {why}.");
    }
    for outcome in &sweep.policies {
        for err in &outcome.errors {
            println!("AlarmPolicy {}: error: {err}", outcome.owner);
        }
        if !outcome.removed {
            println!(
                "{}",
                render::status_line(&outcome.owner, &outcome.target.region, &outcome.status)
            );
        }
    }
    orphan_lines(&sweep, options.prune);
    let clean = snapshot.problem_count() == 0
        && sweep
            .policies
            .iter()
            .all(|o| o.errors.is_empty() && o.plan.conflicts() == 0)
        && sweep.regions.iter().all(|r| r.errors.is_empty());
    Ok(if clean { exit::OK } else { exit::ERROR })
}

fn retryable(sweep: &SweepOutcome) -> bool {
    sweep
        .policies
        .iter()
        .flat_map(|o| &o.errors)
        .chain(sweep.regions.iter().flat_map(|r| &r.errors))
        .any(|e| e.class == ErrorClass::Retryable)
}

fn orphan_lines(sweep: &SweepOutcome, prune: bool) {
    for region in &sweep.regions {
        for orphan in &region.orphans {
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
            println!(
                "orphan {} [{}]: {} ({what})",
                orphan.alarm_name, region.target.region, orphan.reason
            );
        }
    }
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
/// line per policy when something changed. Writes are logged as they are made.
pub async fn run_manifests(
    path: &Path,
    clients: Arc<AwsClients>,
    resync: Duration,
    options: &FileOptions,
    health: Arc<Health>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<u8> {
    let state_file = locate_state(path, options)?;
    let mut state = state_file.load()?;
    let mut saved = state.clone();
    let mut engine = AlarmEngine::new(clients);
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    let mut statuses: BTreeMap<String, AlarmPolicyStatus> = BTreeMap::new();
    let mut failures: u32 = 0;
    // The only instance reconciling this directory: the leader, in the metrics' terms.
    Metrics::global().set_leader(true);
    println!(
        "dialtone: reconciling {} every {resync:?} (state: {}; Ctrl-C to stop)",
        path.display(),
        state_file.path.display()
    );
    loop {
        let sweep = async {
            let snapshot = manifests::load(path)?;
            Metrics::global().set_manifest_errors(snapshot.problem_count());
            let _timer = Metrics::global().reconcile_timer("AlarmPolicy");
            record_intent(&snapshot, &mut state);
            save(&state_file, &state, &mut saved)?;
            let sweep = sweep_source(
                &mut engine,
                &snapshot,
                &state,
                &statuses,
                options,
                Mode::Apply,
            )
            .await;
            record_outcome(&snapshot, &sweep, &mut state);
            save(&state_file, &state, &mut saved)?;
            Ok::<_, crate::Error>((snapshot, sweep))
        };
        let result = tokio::select! {
            result = sweep => result,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let wait = match result {
            Ok((snapshot, sweep)) => {
                // Ready before the status lines are printed: whoever reads a line can rely on it.
                health.set_ready();
                report(&snapshot, &sweep, options.prune, &mut last, &mut statuses);
                failures = if retryable(&sweep) { failures + 1 } else { 0 };
                if failures > 0 {
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

/// Prints what changed since the last sweep: a status line per policy, problems of the source,
/// orphans.
fn report(
    snapshot: &Snapshot,
    sweep: &SweepOutcome,
    prune: bool,
    last: &mut BTreeMap<String, String>,
    statuses: &mut BTreeMap<String, AlarmPolicyStatus>,
) {
    for outcome in &sweep.policies {
        record_metrics(outcome);
        let result = if outcome.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        Metrics::global().reconciled("AlarmPolicy", result);
        for err in &outcome.errors {
            println!("AlarmPolicy {}: error: {err}", outcome.owner);
        }
        if outcome.removed {
            if outcome.footprint.is_empty() && outcome.errors.is_empty() {
                Metrics::global().alarm_states(&outcome.owner, BTreeMap::new());
                statuses.remove(&outcome.owner);
                last.remove(&outcome.owner);
                println!(
                    "AlarmPolicy {}: gone from the source, cleaned up",
                    outcome.owner
                );
            }
            continue;
        }
        let line = render::status_line(&outcome.owner, &outcome.target.region, &outcome.status);
        print_changed(last, outcome.owner.clone(), line);
        statuses.insert(outcome.owner.clone(), outcome.status.clone());
    }
    let problems = snapshot.problems();
    let summary = match snapshot.withheld() {
        Some(why) => format!(
            "dialtone: {} manifest problem(s); {why}:\n  {}",
            problems.len(),
            problems.join("\n  ")
        ),
        None if !problems.is_empty() => format!(
            "dialtone: {} invalid object(s), left untouched in AWS:\n  {}",
            problems.len(),
            problems.join("\n  ")
        ),
        None => "dialtone: every manifest loaded".to_string(),
    };
    // Said once when problems appear, and once when they are gone.
    let said_before = last.contains_key("");
    if said_before || !problems.is_empty() {
        print_changed(last, String::new(), summary);
    }
    for (key, (_, invalid)) in &snapshot.invalid {
        if key.kind == Kind::AlarmPolicy {
            let status = invalid_status(invalid, &StatusBase::default(), Timestamp::now());
            statuses.insert(key.owner(), status);
        }
    }
    let orphans: Vec<String> = sweep
        .regions
        .iter()
        .flat_map(|r| r.orphans.iter().map(move |o| (r, o)))
        .map(|(region, orphan)| {
            let pruned = region
                .pruned
                .iter()
                .any(|a| a.alarm_name() == orphan.alarm_name);
            format!(
                "orphan {} [{}]: {}{}",
                orphan.alarm_name,
                region.target.region,
                orphan.reason,
                if pruned {
                    " (deleted: --prune)"
                } else if prune {
                    ""
                } else {
                    " (--prune deletes it)"
                }
            )
        })
        .collect();
    for line in orphans {
        print_changed(last, format!("orphan:{line}"), line);
    }
}

/// Prints `line` unless it is what was printed last under `key`.
fn print_changed(last: &mut BTreeMap<String, String>, key: String, line: String) {
    if last.get(&key) != Some(&line) {
        println!("{line}");
        last.insert(key, line);
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

//! The commands behind `dialtone plan`, `apply` and `run --manifests`, with desired state from files.

mod failover;
mod gate;
mod presets;
mod source;
mod status;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::Result;
use crate::aws::AwsClients;
use crate::controller::alarm_policy::{Mode, record_metrics};
use crate::controller::contact_center_region as region;
use crate::controller::status::{StatusBase, invalid_status};
use crate::http::Health;
use crate::metrics::Metrics;
use crate::plan::sweep::Orphans;
use crate::render::{self, Changes, Totals};
use crate::source::{Kind, Snapshot, manifests};
pub use gate::{Held, held_message};
pub use presets::presets;
pub use source::{ManifestSource, Report};
pub use status::status;

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
    /// `-R`: read the subdirectories of a manifest directory too.
    pub recursive: bool,
}

/// The manifests of `path` (with the subdirectories under `-R`); what a person should know about
/// the scan is said on stderr when `say`.
pub fn load(path: &Path, options: &FileOptions, say: bool) -> Result<crate::source::Snapshot> {
    let snapshot = manifests::load_with(path, options.recursive)?;
    if say {
        for note in snapshot.notes() {
            crate::say::err("INFO", &note);
        }
    }
    Ok(snapshot)
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

/// `dialtone plan`: what would change in AWS. Reads the state, never writes it.
pub async fn plan(
    path: &Path,
    clients: Arc<AwsClients>,
    output: Output,
    detailed: bool,
    options: &FileOptions,
) -> Result<u8> {
    let snapshot = load(path, options, true)?;
    let mut source = ManifestSource::open(path, clients, options)?;
    let report = source.sweep(&snapshot, Mode::Plan).await?;
    let invalid = snapshot.problems();
    match output {
        Output::Text => {
            print!("{}", render::plan_text(&report, &invalid, options.prune));
            if let Some(why) = snapshot.withheld() {
                println!("Deletions withheld: {why}.");
            }
        }
        Output::Json => print_json(&render::document(&report, &snapshot, Changes::Planned)),
    }
    let totals = Totals::of(&report);
    Ok(
        if !invalid.is_empty() || totals.conflicts > 0 || totals.errors > 0 {
            exit::ERROR
        } else if detailed && totals.differences() > 0 {
            exit::CHANGES
        } else {
            exit::OK
        },
    )
}

/// Prints `text` on stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn print_json(document: &serde_json::Value) {
    // Serializing a Value cannot fail.
    println!(
        "{}",
        serde_json::to_string_pretty(document).unwrap_or_default()
    );
}

/// `dialtone apply`: apply once, retrying with backoff while AWS throttles, then print the result.
/// Every write is logged as it is made (stderr, in the chosen log format).
pub async fn apply(
    path: &Path,
    clients: Arc<AwsClients>,
    output: Output,
    options: &FileOptions,
) -> Result<u8> {
    let snapshot = load(path, options, true)?;
    let mut source = ManifestSource::open(path, clients, options)?;
    let mut report = Report::default();
    for pass in 0..APPLY_PASSES {
        report = source.sweep(&snapshot, Mode::Apply).await?;
        let Some(error) = report.first_retryable() else {
            break;
        };
        if pass + 1 == APPLY_PASSES {
            break;
        }
        let wait = backoff(pass);
        let why = if error.is_throttling() {
            "AWS asked us to slow down".to_string()
        } else {
            format!("AWS could not be reached or failed ({error})")
        };
        crate::say::err("WARN", &format!("{why}; trying again in {wait:?}"));
        tokio::time::sleep(wait).await;
    }
    match output {
        Output::Json => print_json(&render::document(&report, &snapshot, Changes::Done)),
        Output::Text => {
            for problem in snapshot.problems() {
                println!("INVALID {problem}");
            }
            if let Some(why) = snapshot.withheld() {
                println!("Deletions withheld: {why}.");
            }
            for line in render::result_lines(&report, options.prune) {
                println!("{line}");
            }
        }
    }
    let totals = Totals::of(&report);
    let clean = snapshot.problem_count() == 0 && totals.errors == 0 && totals.conflicts == 0;
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

/// `dialtone run --manifests`: reconcile every `resync` until SIGINT/SIGTERM, printing a line per
/// object when its status changed. Writes are logged as they are made. The status of every object
/// is served at `GET /status`.
pub async fn run_manifests(
    path: &Path,
    clients: Arc<AwsClients>,
    resync: Duration,
    options: &FileOptions,
    health: Arc<Health>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<u8> {
    let mut source = ManifestSource::open(path, clients, options)?;
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    let mut failures: u32 = 0;
    // The only instance reconciling this directory: the leader, in the metrics' terms.
    Metrics::global().set_leader(true);
    crate::say::out(&format!(
        "dialtone: reconciling {} every {resync:?} (state: {}; Ctrl-C to stop)",
        path.display(),
        source.state_file.path.display()
    ));
    let mut first = true;
    loop {
        let sweep = async {
            let snapshot = load(path, options, first)?;
            first = false;
            Metrics::global().set_manifest_errors(snapshot.problem_count());
            let started = std::time::Instant::now();
            let report = source.sweep(&snapshot, Mode::Apply).await?;
            Metrics::global().sweep_took(started.elapsed().as_secs_f64());
            Ok::<_, crate::Error>((snapshot, report))
        };
        let result = tokio::select! {
            result = sweep => result,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let wait = match result {
            Ok((snapshot, report)) => {
                // Status and readiness before the lines are printed: whoever reads a line can
                // rely on both.
                health.set_status(render::document(&report, &snapshot, Changes::Done));
                health.set_ready();
                report_changes(&snapshot, &report, options.prune, &mut last, &mut source);
                failures = if report.retryable() { failures + 1 } else { 0 };
                // Wake at the next window boundary too: held changes go in when a window opens.
                let boundary = ManifestSource::next_boundary(&report).map(|at| {
                    at.duration_since(Timestamp::now()).unsigned_abs() + Duration::from_secs(1)
                });
                let wait = if failures > 0 {
                    backoff(failures.min(5)).min(resync)
                } else {
                    resync
                };
                // And when a FailoverPlan asks to be looked at sooner (the end of `unhealthyFor`,
                // a drill's hold).
                let wake = report.plans.iter().filter_map(|p| p.wake).min();
                boundary
                    .into_iter()
                    .chain(wake)
                    .fold(wait, |wait, at| wait.min(at))
            }
            Err(err) => {
                crate::say::err("ERROR", &format!("error: {err}"));
                failures += 1;
                backoff(failures.min(5)).min(resync)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    crate::say::out("dialtone: stopped");
    Ok(exit::OK)
}

/// Prints what changed since the last sweep: a status line per object, problems of the source,
/// orphans; exports the metrics of every object.
fn report_changes(
    snapshot: &Snapshot,
    report: &Report,
    prune: bool,
    last: &mut BTreeMap<String, String>,
    source: &mut ManifestSource,
) {
    for outcome in &report.alarms.policies {
        record_metrics(outcome);
        let result = if outcome.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        Metrics::global().reconciled("AlarmPolicy", result);
        for err in &outcome.errors {
            crate::say::out(&format!("AlarmPolicy {}: error: {err}", outcome.owner));
        }
        if outcome.removed {
            if outcome.footprint.is_empty() && outcome.errors.is_empty() {
                Metrics::global().alarm_states(&outcome.owner, BTreeMap::new());
                Metrics::global().forget_object("AlarmPolicy", &outcome.owner);
                last.remove(&format!("AlarmPolicy {}", outcome.owner));
                crate::say::out(&format!(
                    "AlarmPolicy {}: gone from the source, cleaned up",
                    outcome.owner
                ));
            }
            continue;
        }
        let line = render::status_line(&outcome.owner, &outcome.target.region, &outcome.status);
        print_changed(last, format!("AlarmPolicy {}", outcome.owner), line);
    }
    for (held, status) in &report.held {
        if !held.enforcing_admitted {
            print_changed(
                last,
                format!("AlarmPolicy {}", held.key.owner()),
                render::held_line(held, status),
            );
        }
    }
    for outcome in &report.regions {
        region::record_metrics(outcome);
        Metrics::global().reconciled("ContactCenterRegion", "ok");
        Metrics::global().object_conditions(
            "ContactCenterRegion",
            &outcome.owner,
            &outcome.status.conditions,
            outcome.assessment.unreadable.is_none(),
        );
        print_changed(
            last,
            format!("ContactCenterRegion {}", outcome.owner),
            render::region_line(outcome),
        );
    }
    for window in &report.windows {
        let result = if window.aws_errors().next().is_none() && window.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        Metrics::global().reconciled("MaintenanceWindow", result);
        if window.removed {
            Metrics::global().forget_object("MaintenanceWindow", &window.owner);
        } else {
            Metrics::global().object_conditions(
                "MaintenanceWindow",
                &window.owner,
                &window.status.conditions,
                result == "ok",
            );
        }
        for err in window.aws_errors() {
            crate::say::out(&format!("MaintenanceWindow {}: error: {err}", window.owner));
        }
        if window.removed {
            continue;
        }
        print_changed(
            last,
            format!("MaintenanceWindow {}", window.owner),
            render::window_line(window),
        );
    }
    for plan in &report.plans {
        crate::controller::failover_plan::record_metrics(plan);
        Metrics::global().reconciled(
            "FailoverPlan",
            if plan.errors.is_empty() {
                "ok"
            } else {
                "error"
            },
        );
        Metrics::global().object_conditions(
            "FailoverPlan",
            &plan.owner,
            &plan.status.conditions,
            plan.errors.is_empty(),
        );
        for err in &plan.errors {
            crate::say::out(&format!("FailoverPlan {}: error: {err}", plan.owner));
        }
        if plan.status.phase.is_some() || !plan.status.conditions.is_empty() {
            print_changed(
                last,
                format!("FailoverPlan {}", plan.owner),
                render::failover_line(plan),
            );
        }
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
    if last.contains_key("") || !problems.is_empty() {
        print_changed(last, String::new(), summary);
    }
    for (key, (_, invalid)) in &snapshot.invalid {
        if key.kind == Kind::AlarmPolicy {
            let status = invalid_status(invalid, &StatusBase::default(), Timestamp::now());
            source.set_policy_status(&key.owner(), status);
        }
    }
    for line in render::orphan_lines(&report.alarms, prune) {
        print_changed(last, format!("orphan:{line}"), line);
    }
}

/// Prints `line` unless it is what was printed last under `key`.
fn print_changed(last: &mut BTreeMap<String, String>, key: String, line: String) {
    if last.get(&key) != Some(&line) {
        crate::say::out(&line);
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

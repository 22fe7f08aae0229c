//! Benchmark at scale: 10,000 alarms in 400 AlarmPolicies over two regions (200 policies of 25
//! alarms in us-east-1, 200 in us-west-2), applied by the real `dialtone` binary against the local
//! emulator.
//!
//!     cargo bench --bench scale
//!
//! The policies are written as manifests into a temporary directory; `dialtone apply -f DIR` and
//! `dialtone run --manifests DIR` run as child processes with client-side rate limits off
//! (`--aws-rate all=0`). Prints, for the first apply and for steady-state sweeps (a second apply,
//! that is after a restart, and a later sweep of a running `dialtone run`), the AWS requests per
//! operation as the emulator served them, wall time and peak RSS of the dialtone process
//! (`ru_maxrss` of the child, from wait4), and whether the goals hold: steady state within 100
//! DescribeAlarms and no write, peak RSS within 64 MiB.

#[path = "../tests/support/emulator.rs"]
#[allow(dead_code)]
mod emulator;
#[path = "../tests/support/process.rs"]
#[allow(dead_code)]
mod process;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use emulator::Emulator;
use serde_json::json;

const REGIONS: [&str; 2] = ["us-east-1", "us-west-2"];
const POLICIES_PER_REGION: usize = 200;
const ALARMS_PER_POLICY: usize = 25;
const MAX_STEADY_DESCRIBES: usize = 100;
const MAX_RSS_MIB: f64 = 64.0;

fn policy(region: &str, p: usize) -> serde_json::Value {
    let alarms: Vec<_> = (0..ALARMS_PER_POLICY)
        .map(|a| {
            json!({
                "name": format!("queue-{a}-wait"),
                "severity": if a % 2 == 0 { "high" } else { "medium" },
                "metric": {
                    "namespace": "AWS/Connect",
                    "metricName": "LongestQueueWaitTime",
                    "dimensions": {"InstanceId": "7c0e9b14-8a3d-4f6e-9d21-3b5f2a1c4e88", "MetricGroup": "Queue", "QueueName": format!("Queue{p}-{a}")},
                    "statistic": "Maximum"
                },
                "threshold": 120,
                "comparisonOperator": "GreaterThanThreshold"
            })
        })
        .collect();
    json!({
        "apiVersion": "dialtone.io/v1alpha1",
        "kind": "AlarmPolicy",
        "metadata": {"name": format!("team-{p}-{region}"), "namespace": "contact-center"},
        "spec": {
            "region": region,
            "routing": {
                "high": {"alarmActions": [format!("arn:aws:sns:{region}:123456789012:pager")]},
                "medium": {"alarmActions": [format!("arn:aws:sns:{region}:123456789012:tickets")]}
            },
            "defaults": {"period": 60, "evaluationPeriods": 3, "datapointsToAlarm": 2},
            "alarms": alarms
        }
    })
}

/// The 400 manifests (JSON is YAML), one file per policy, in a fresh directory.
fn write_manifests() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dialtone-scale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("manifest directory");
    for region in REGIONS {
        for p in 0..POLICIES_PER_REGION {
            let text = serde_json::to_string_pretty(&policy(region, p)).expect("manifest");
            std::fs::write(dir.join(format!("{region}-team-{p:03}.yaml")), text)
                .expect("write manifest");
        }
    }
    dir
}

/// Reaps `child` with wait4: its exit status and peak RSS in MiB (`ru_maxrss`, KiB on Linux).
fn reap(child: &Child) -> (i32, f64) {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data, wait4 fills it; the pid is our own unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss as f64 / 1024.0)
}

struct Measured {
    calls: Vec<String>,
    seconds: f64,
    rss_mib: f64,
}

fn report(label: &str, m: &Measured) {
    let mut by_op: BTreeMap<&str, usize> = BTreeMap::new();
    for call in &m.calls {
        *by_op.entry(call.as_str()).or_default() += 1;
    }
    println!(
        "\n{label}: {:.1} s wall, peak RSS {:.1} MiB, {} AWS requests",
        m.seconds,
        m.rss_mib,
        m.calls.len()
    );
    for (op, count) in by_op {
        println!("  {op:<45} {count:>6}");
    }
}

fn count(calls: &[String], operation: &str) -> usize {
    calls.iter().filter(|c| *c == operation).count()
}

fn writes(calls: &[String]) -> usize {
    calls
        .iter()
        .filter(|c| {
            let op = c.split(':').nth(1).unwrap_or_default();
            !(op.starts_with("Describe") || op.starts_with("Get") || op.starts_with("List"))
        })
        .count()
}

/// `dialtone apply -f DIR` to completion; its output goes to `log`.
#[allow(clippy::zombie_processes)] // reaped by `reap` (wait4, for its rusage)
fn apply(emulator: &Emulator, dir: &Path, log: &Path) -> Measured {
    emulator.forget_calls();
    let out = std::fs::File::create(log).expect("log file");
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["apply", "-f"])
        .arg(dir)
        .args(["--aws-rate", "all=0"])
        .envs(emulator.env())
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .spawn()
        .expect("dialtone starts");
    let (code, rss_mib) = reap(&child);
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(code, 0, "dialtone apply failed: see {}", log.display());
    Measured {
        calls: emulator.calls(),
        seconds,
        rss_mib,
    }
}

/// Completed sweeps of a running `dialtone run`, from its metrics.
fn sweeps(addr: &str) -> u64 {
    process::http_get(addr, "/metrics")
        .1
        .lines()
        .find(|l| l.starts_with("dialtone_sweep_duration_seconds_count"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|n| n as u64)
        .unwrap_or(0)
}

fn wait_sweeps(addr: &str, n: u64, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        if sweeps(addr) >= n {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "no sweep {n} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `dialtone run --manifests DIR`: its first sweep (after a restart), then one more sweep of
/// the running engine, measured from the end of the previous one (resync `RESYNC`).
#[allow(clippy::zombie_processes)] // reaped by `reap` (wait4, for its rusage)
fn run(emulator: &Emulator, dir: &Path) -> (Measured, f64) {
    const RESYNC: u64 = 10;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .arg("run")
        .arg("--manifests")
        .arg(dir)
        .args(["--resync", &format!("{RESYNC}s")])
        .args(["--aws-rate", "all=0", "--http-addr", "127.0.0.1:0"])
        .envs(emulator.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dialtone run starts");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("http://").nth(1)
                && line.contains("serving /metrics")
            {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("dialtone run serves /metrics");
    let first_done = wait_sweeps(&addr, 1, Duration::from_secs(600));
    emulator.forget_calls();
    let steady_done = wait_sweeps(&addr, 2, Duration::from_secs(600));
    let calls = emulator.calls();
    let seconds = (steady_done - first_done).as_secs_f64() - RESYNC as f64;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let (code, rss_mib) = reap(&child);
    assert_eq!(code, 0, "dialtone run stops cleanly on SIGTERM");
    (
        Measured {
            calls,
            seconds,
            rss_mib,
        },
        RESYNC as f64,
    )
}

#[tokio::main]
async fn main() {
    let alarms = REGIONS.len() * POLICIES_PER_REGION * ALARMS_PER_POLICY;
    let policies = REGIONS.len() * POLICIES_PER_REGION;
    let dir = write_manifests();
    let log = dir.with_extension("log");
    let emulator = Emulator::acquire().await;
    println!(
        "dialtone scale benchmark: {alarms} alarms in {policies} policies over {} ({}), the dialtone binary against the emulator, --aws-rate all=0",
        REGIONS.join(" and "),
        env!("CARGO_BIN_EXE_dialtone")
    );

    let first = apply(&emulator, &dir, &log);
    report("first apply (dialtone apply)", &first);
    assert_eq!(
        count(&first.calls, "cloudwatch:PutMetricAlarm"),
        alarms,
        "the first apply creates every alarm"
    );
    for region in REGIONS {
        println!(
            "  alarms in {region}: {}",
            emulator.alarm_names(region).await.len()
        );
    }

    let restart = apply(&emulator, &dir, &log);
    report(
        "steady state, after a restart (second dialtone apply)",
        &restart,
    );

    let (running, resync) = run(&emulator, &dir);
    report(
        &format!(
            "steady state, running engine (dialtone run: its second sweep; wall excludes the {resync:.0} s resync; RSS is the process peak over both sweeps)"
        ),
        &running,
    );

    let mut missed = Vec::new();
    for (label, m) in [("after a restart", &restart), ("running engine", &running)] {
        let describes = count(&m.calls, "cloudwatch:DescribeAlarms");
        if describes > MAX_STEADY_DESCRIBES {
            missed.push(format!(
                "steady state ({label}): {describes} DescribeAlarms > {MAX_STEADY_DESCRIBES}"
            ));
        }
        if writes(&m.calls) > 0 {
            missed.push(format!(
                "steady state ({label}): {} writes",
                writes(&m.calls)
            ));
        }
    }
    for (label, m) in [
        ("first apply", &first),
        ("after a restart", &restart),
        ("running engine", &running),
    ] {
        if m.rss_mib > MAX_RSS_MIB {
            missed.push(format!(
                "{label}: peak RSS {:.1} MiB > {MAX_RSS_MIB} MiB",
                m.rss_mib
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&log);
    // Printed, not asserted: the figures are the point (see README.md, "Benchmark").
    if missed.is_empty() {
        println!(
            "\ngoals hold: steady state <= {MAX_STEADY_DESCRIBES} DescribeAlarms and no write, peak RSS <= {MAX_RSS_MIB} MiB"
        );
    } else {
        println!("\ngoals missed:");
        for miss in &missed {
            println!("  {miss}");
        }
    }
}

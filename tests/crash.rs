//! Crash and throttling harnesses. Crash: `dialtone apply` killed with SIGKILL at pseudo-random points while it creates a
//! policy's alarms, and again while it drops a tag from all of them, many times; then applied to
//! completion. The end state must be exact: the declared alarms, each with its owner tag and its
//! tags, nothing else under the policy's names, no dropped tag left behind (a kill between the
//! UntagResource and the TagResource that rewrites the managed-tags record once left it forever),
//! and the next plan writes nothing.
//!
//! Throttling: 30 % of every AWS request throttled from the start; one apply converges to the same
//! exact state, and the extra writes it cost are printed.
//!
//! Short form in CI. The full form: `DIALTONE_CRASH_ALARMS=300 DIALTONE_CRASH_KILLS=20 cargo test
//! --test crash`; `DIALTONE_CRASH_SEED` replays a run (the seed is printed).

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::emulator::Emulator;
use support::process::{Scratch, dialtone, text};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Policies of 100 alarms (the most one takes), `n` alarms in all, tagged with `tags`; alarm `i`
/// belongs to policy `crash-{i / 100}`.
fn policies(n: u64, tags: &str) -> String {
    (0..n.div_ceil(100))
        .map(|p| {
            let alarms: String = (p * 100..n.min((p + 1) * 100))
                .map(|i| {
                    format!(
                        "  - {{name: a{i:04}, severity: high, metric: {{namespace: Crash, metricName: M{i}, statistic: Sum}}, threshold: 1, comparisonOperator: GreaterThanThreshold}}\n"
                    )
                })
                .collect();
            format!(
                "apiVersion: dialtone.io/v1alpha1\nkind: AlarmPolicy\nmetadata: {{name: crash-{p}, namespace: cc}}\nspec:\n  region: us-east-1\n  alarmNamePrefix: crash-\n  tags: {tags}\n  routing: {{high: {{}}}}\n  alarms:\n{alarms}"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A small deterministic generator (the harness must be replayable from its seed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

/// Starts `dialtone apply` and kills it (SIGKILL) after `after`, unless it finished first.
fn apply_killed(emulator: &Emulator, dir: &str, state: &str, after: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["apply", "-f", dir, "--state", state, "--aws-rate", "all=0"])
        .envs(emulator.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dialtone starts");
    std::thread::sleep(after);
    let killed = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    killed
}

fn apply_to_completion(emulator: &Emulator, dir: &str, state: &str) {
    let out = dialtone(
        emulator,
        &["apply", "-f", dir, "--state", state, "--aws-rate", "all=0"],
    );
    assert!(out.status.success(), "{}", text(&out));
}

/// Every alarm of the emulator's us-east-1, with its tags.
async fn alarms_with_tags(emulator: &Emulator) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut found = BTreeMap::new();
    for name in emulator.alarm_names("us-east-1").await {
        let tags = emulator.alarm_tags("us-east-1", &name).await;
        found.insert(name, tags);
    }
    found
}

/// Exactly the `n` declared alarms, each with its policy's owner tag and `team: cc`.
fn assert_declared(alarms: &BTreeMap<String, BTreeMap<String, String>>, n: u64) {
    let expected: Vec<String> = (0..n).map(|i| format!("crash-a{i:04}")).collect();
    assert_eq!(alarms.keys().cloned().collect::<Vec<_>>(), expected);
    for (i, (name, tags)) in alarms.iter().enumerate() {
        assert_eq!(
            tags.get("dialtone.io/owner"),
            Some(&format!("cc/crash-{}", i / 100)),
            "{name}: {tags:?}"
        );
        assert_eq!(tags.get("team").map(String::as_str), Some("cc"), "{name}");
    }
}

#[tokio::test]
async fn kills_at_random_points_then_one_apply_leave_exactly_the_declared_alarms_and_tags() {
    let emulator = Emulator::acquire().await;
    let n = setting("DIALTONE_CRASH_ALARMS", 120);
    let kills = setting("DIALTONE_CRASH_KILLS", 6);
    let seed = setting("DIALTONE_CRASH_SEED", std::process::id() as u64);
    println!("crash harness: {n} alarms, {kills} kills per phase, seed {seed}");
    let mut random = Lcg(seed);
    let scratch = Scratch::empty("crash");
    let state = scratch.dir.join("state.json");
    let state = state.to_str().expect("utf-8").to_string();
    let manifests = scratch.dir.join("manifests");
    std::fs::create_dir_all(&manifests).expect("dir");
    let dir = manifests.to_str().expect("utf-8").to_string();
    let write = |tags: &str| {
        std::fs::write(manifests.join("policies.yaml"), policies(n, tags)).expect("write")
    };

    // Kills land between the end of the reads (about as long as a `plan`) and the end of the
    // writes (a few milliseconds a call against the emulator).
    write("{team: cc, env: prod}");
    let started = std::time::Instant::now();
    let _ = dialtone(
        &emulator,
        &["plan", "-f", &dir, "--state", &state, "--aws-rate", "all=0"],
    );
    let reads = started.elapsed().as_millis() as u64;
    let mut kill_at = || Duration::from_millis(reads * 3 / 4 + random.next(n * 12));

    // Phase 1: creation, killed again and again.
    let mut interrupted = 0;
    for _ in 0..kills {
        let after = kill_at();
        interrupted += usize::from(apply_killed(&emulator, &dir, &state, after));
    }
    apply_to_completion(&emulator, &dir, &state);
    let alarms = alarms_with_tags(&emulator).await;
    assert_declared(&alarms, n);
    for (name, tags) in &alarms {
        assert_eq!(tags.get("env").map(String::as_str), Some("prod"), "{name}");
    }

    // Phase 2: env dropped from the spec, killed while untagging and re-recording.
    write("{team: cc}");
    for _ in 0..kills {
        let after = kill_at();
        interrupted += usize::from(apply_killed(&emulator, &dir, &state, after));
        if std::env::var("DIALTONE_CRASH_DEBUG").is_ok() {
            let stuck = alarms_with_tags(&emulator)
                .await
                .values()
                .filter(|t| {
                    t.contains_key("env") && dialtone::plan::alarm::managed_tag_keys(t) == ["team"]
                })
                .count();
            println!("crash harness: after {after:?}: {stuck} alarms with env the record forgot");
        }
    }
    apply_to_completion(&emulator, &dir, &state);
    let alarms = alarms_with_tags(&emulator).await;
    assert_eq!(alarms.len() as u64, n);
    for (name, tags) in &alarms {
        assert!(
            !tags.contains_key("env"),
            "{name} kept a dropped tag: {tags:?}"
        );
        assert_eq!(
            dialtone::plan::alarm::managed_tag_keys(tags),
            ["team"],
            "{name}: {tags:?}"
        );
    }

    // Nothing left to do.
    emulator.forget_calls();
    let plan = dialtone(
        &emulator,
        &[
            "plan",
            "-f",
            &dir,
            "--state",
            &state,
            "--detailed-exitcode",
            "--aws-rate",
            "all=0",
        ],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
    println!(
        "crash harness: {interrupted} of {} applies were killed mid-way",
        2 * kills
    );
}

#[tokio::test]
async fn with_30_percent_of_all_requests_throttled_one_apply_converges_exactly() {
    let emulator = Emulator::acquire().await;
    let n = setting("DIALTONE_CRASH_ALARMS", 120);
    let seed = setting("DIALTONE_CRASH_SEED", std::process::id() as u64);
    let scratch = Scratch::empty("throttled");
    let state = scratch.dir.join("state.json");
    let state = state.to_str().expect("utf-8").to_string();
    let manifests = scratch.dir.join("manifests");
    std::fs::create_dir_all(&manifests).expect("dir");
    let dir = manifests.to_str().expect("utf-8").to_string();
    std::fs::write(manifests.join("policies.yaml"), policies(n, "{team: cc}")).expect("write");

    emulator.throttle_share(0.3, seed, 1_000_000);
    apply_to_completion(&emulator, &dir, &state);
    let calls = emulator.dialtone_calls();
    let throttled = emulator.throttled();
    let puts = emulator.count("cloudwatch:PutMetricAlarm");
    println!(
        "throttling harness: seed {seed}: {} requests served, {throttled} throttled; PutMetricAlarm served {puts} times for {n} alarms: {} extra writes",
        calls.len(),
        puts.saturating_sub(n as usize)
    );
    assert!(
        throttled * 5 >= calls.len(),
        "about 30 % throttled: {throttled} of {}",
        calls.len()
    );
    // The checks below read without the injected throttling.
    emulator.forget_calls();

    assert_declared(&alarms_with_tags(&emulator).await, n);
}

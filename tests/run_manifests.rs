//! `dialtone run --manifests`: the continuous loop without a cluster, as a user runs it.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use support::emulator::Emulator;

/// Waits (bounded) for a line of the child's output that contains `pattern`.
fn wait_for(lines: &Receiver<String>, pattern: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(pattern) => return line,
            Ok(_) => continue,
            Err(_) => panic!("no line containing {pattern:?} within {limit:?}"),
        }
    }
}

fn spawn(emulator: &Emulator) -> (Child, Receiver<String>) {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["run", "--manifests"])
        .arg(examples)
        .args(["--resync", "1s", "--aws-rate", "all=0"])
        .envs(emulator.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dialtone starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

#[tokio::test]
async fn run_creates_repairs_within_one_resync_and_stops_on_sigterm() {
    let emulator = Emulator::acquire().await;
    let (mut child, lines) = spawn(&emulator);
    wait_for(
        &lines,
        "connect-primary [us-east-1]: 8 alarms, 0 firing, 0 drifted",
        Duration::from_secs(60),
    );
    wait_for(
        &lines,
        "connect-secondary [us-west-2]: 2 alarms",
        Duration::from_secs(30),
    );

    emulator
        .cloudwatch("us-east-1")
        .delete_alarms()
        .alarm_names("cc-prod-use1-queue-wait-basic")
        .send()
        .await
        .expect("delete out of band");
    let deleted_at = Instant::now();
    wait_for(
        &lines,
        "created cc-prod-use1-queue-wait-basic",
        Duration::from_secs(10),
    );
    assert!(
        deleted_at.elapsed() < Duration::from_secs(5),
        "recreated within one resync (1s) plus a sweep"
    );

    let pid = child.id().to_string();
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "dialtone did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    wait_for(&lines, "dialtone: stopped", Duration::from_secs(5));
}

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

/// The running `dialtone`, killed when the test ends however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(emulator: &Emulator) -> (Running, Receiver<String>) {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["run", "--manifests"])
        .arg(examples)
        .args([
            "--resync",
            "1s",
            "--aws-rate",
            "all=0",
            "--http-addr",
            "127.0.0.1:0",
        ])
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
    (Running(child), rx)
}

/// GET on the operator's HTTP endpoint (loopback): (status code, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read");
    let code = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[tokio::test]
async fn run_serves_metrics_health_and_readiness() {
    let emulator = Emulator::acquire().await;
    let (child, lines) = spawn(&emulator);
    let serving = wait_for(&lines, "serving /metrics", Duration::from_secs(30));
    let addr = serving
        .rsplit("http://")
        .next()
        .expect("address")
        .trim()
        .to_string();
    assert_eq!(get(&addr, "/healthz").0, 200);
    wait_for(
        &lines,
        "connect-secondary [us-west-2]: 2 alarms",
        Duration::from_secs(60),
    );
    assert_eq!(get(&addr, "/readyz").0, 200, "ready after the first sweep");
    let (code, metrics) = get(&addr, "/metrics");
    assert_eq!(code, 200);
    for wanted in [
        r#"dialtone_reconciles_total{kind="AlarmPolicy",result="ok"}"#,
        r#"dialtone_aws_requests_total{service="cloudwatch",operation="PutMetricAlarm",outcome="ok"} 17"#,
        "dialtone_reconcile_duration_seconds_bucket",
        "dialtone_drift_found_total",
        "dialtone_leader 1",
    ] {
        assert!(metrics.contains(wanted), "missing {wanted} in\n{metrics}");
    }
    let alarms: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("dialtone_alarms{state="))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(alarms, 17.0, "alarms by state add up to the managed alarms");
    assert_eq!(get(&addr, "/nothing").0, 404);
    drop(child);
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

    let pid = child.0.id().to_string();
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = child.0.try_wait().expect("wait") {
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

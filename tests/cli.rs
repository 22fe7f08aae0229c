//! The command line as an operator meets it: a typo in a path or a busy port fails at start with
//! what to do, AWS out of reach is not called throttling, probes may use HEAD, and a workstation
//! does not publish its status to the network.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::emulator::Emulator;
use support::process::{Scratch, dialtone, spawn, text, wait_for};

/// A loopback port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `dialtone [leading] run --manifests <scratch>` without rate limits, on a free loopback port,
/// resyncing hourly (tests look at its first sweep).
fn run_once(
    emulator: &Emulator,
    scratch: &Scratch,
    leading: &[&str],
) -> (support::process::Running, std::sync::mpsc::Receiver<String>) {
    let mut args = leading.to_vec();
    args.extend([
        "run",
        "--manifests",
        scratch.path(),
        "--aws-rate",
        "all=0",
        "--http-addr",
        "127.0.0.1:0",
        "--resync",
        "1h",
    ]);
    spawn(emulator, &args)
}

/// The address a `dialtone run` prints it serves on.
fn served_on(line: &str) -> String {
    line.rsplit("http://")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[tokio::test]
async fn run_with_a_manifest_path_that_does_not_exist_fails_at_start() {
    let emulator = Emulator::acquire().await;
    let out = dialtone(
        &emulator,
        &[
            "run",
            "--manifests",
            "/nonexistent/manifests",
            "--http-addr",
            "127.0.0.1:0",
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("--manifests /nonexistent/manifests"),
        "{}",
        text(&out)
    );
    assert!(emulator.calls().is_empty());
}

#[tokio::test]
async fn a_busy_port_says_so_and_what_to_do() {
    let emulator = Emulator::acquire().await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let scratch = Scratch::examples("busy-port");
    let out = dialtone(
        &emulator,
        &["run", "--manifests", scratch.path(), "--http-addr", &addr],
    );
    let printed = text(&out);
    assert!(!out.status.success(), "{printed}");
    assert!(
        printed.contains(&format!("--http-addr {addr}: cannot listen there"))
            && printed.contains("another program uses the port"),
        "{printed}"
    );
    assert!(!printed.contains("reading --http-addr"), "{printed}");
}

#[tokio::test]
async fn run_manifests_listens_on_loopback_by_default_and_answers_head() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("loopback");
    let (mut running, lines) = spawn(
        &emulator,
        &[
            "run",
            "--manifests",
            scratch.path(),
            "--aws-rate",
            "all=0",
            "--resync",
            "1h",
        ],
    );
    // The default port may be taken on this machine: then the refusal names the default too.
    let line = wait_for(&lines, "127.0.0.1:8080", Duration::from_secs(60));
    if line.contains("cannot listen") {
        eprintln!("port 8080 is in use here: the default address is checked from the refusal only");
        return;
    }
    let addr = served_on(&line);
    assert_eq!(addr, "127.0.0.1:8080", "{line}");
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(stream, "HEAD /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("write");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.ends_with("\r\n\r\n"),
        "HEAD has headers only: {reply:?}"
    );
    let _ = running.0.kill();
}

#[test]
fn aws_out_of_reach_is_not_called_throttling() {
    let scratch = Scratch::examples("unreachable");
    let state = scratch.file("state.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["apply", "-f", scratch.path(), "--aws-rate", "all=0"])
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", closed_port()),
        )
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("DIALTONE_STATE", &state)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dialtone starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let line = wait_for(&lines, "trying again in", Duration::from_secs(120));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.contains("AWS could not be reached") && !line.contains("slow down"),
        "{line} (after {:?})",
        started.elapsed()
    );
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_dialtone"))
            .args(["completions", shell])
            .output()
            .expect("dialtone runs");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shell}: {}", text(&out));
        for word in ["plan", "apply", "presets", "detailed-exitcode", "manifests"] {
            assert!(script.contains(word), "{shell}: {word} missing");
        }
    }
    // The bash script is valid bash (bash is on every machine that runs these tests).
    let script = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["completions", "bash"])
        .output()
        .expect("dialtone runs")
        .stdout;
    let scratch = Scratch::empty("completions");
    scratch.write("dialtone.bash", &String::from_utf8_lossy(&script));
    let check = Command::new("bash")
        .args(["-n", scratch.file("dialtone.bash").to_str().expect("utf-8")])
        .output()
        .expect("bash runs");
    assert!(check.status.success(), "{}", text(&check));
    let unknown = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["completions", "tcsh"])
        .output()
        .expect("dialtone runs");
    assert!(!unknown.status.success());
}

#[test]
fn upper_case_extensions_are_read_and_subdirectories_are_named_or_read_with_r() {
    let scratch = Scratch::empty("scan");
    let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::copy(
        examples.join("10-alarms-contact-center.yaml"),
        scratch.file("POLICY.YAML"),
    )
    .expect("copy");
    std::fs::create_dir_all(scratch.file("regions")).expect("subdirectory");
    std::fs::copy(
        examples.join("20-regions.yaml"),
        scratch.file("regions").join("regions.yml"),
    )
    .expect("copy");
    std::fs::create_dir_all(scratch.file(".git")).expect("hidden directory");
    // A symlink back up the tree: -R does not follow it (kubectl's walk does not either).
    std::os::unix::fs::symlink(&scratch.dir, scratch.file("loop")).expect("symlink");

    let flat = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["validate", "-f", scratch.path()])
        .output()
        .expect("dialtone runs");
    let printed = text(&flat);
    assert!(flat.status.success(), "{printed}");
    assert!(printed.contains("POLICY.YAML"), "{printed}");
    assert!(
        printed.contains("regions is a subdirectory: not read (-R reads subdirectories"),
        "{printed}"
    );
    assert!(!printed.contains(".git"), "{printed}");
    assert!(!printed.contains("ContactCenterRegion"), "{printed}");

    let deep = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["validate", "-R", "-f", scratch.path()])
        .output()
        .expect("dialtone runs");
    let printed = text(&deep);
    assert!(deep.status.success(), "{printed}");
    assert!(
        printed.contains("ContactCenterRegion contact-center/use1"),
        "{printed}"
    );
    assert!(!printed.contains("not read"), "{printed}");
    assert!(
        printed.contains("loop is a symlink to a directory: not followed"),
        "{printed}"
    );
}

#[tokio::test]
async fn log_format_json_makes_every_line_of_run_manifests_and_apply_logs_json() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("json-lines");
    let (running, lines) = run_once(&emulator, &scratch, &["--log-format", "json"]);
    // Every line up to the end of the first sweep (the last policy's status line is out).
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !seen
        .iter()
        .any(|l: &String| l.contains("connect-secondary [us-west-2]: 2 alarms"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no end of the first sweep within 120 s: {seen:?}"),
        }
    }
    assert!(seen.len() > 5, "{seen:?}");
    drop(running);
    seen.extend(support::process::drain(&lines));
    for line in &seen {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
        assert!(record["fields"]["message"].is_string(), "{line}");
    }

    let out = dialtone(
        &emulator,
        &[
            "--log-format",
            "json",
            "apply",
            "-f",
            scratch.path(),
            "--aws-rate",
            "all=0",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "apply's log is JSON: {line}"
        );
    }
}

#[tokio::test]
async fn status_shows_every_object_of_a_running_run_manifests() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("status");
    let (running, lines) = run_once(&emulator, &scratch, &[]);
    let addr = served_on(&wait_for(
        &lines,
        "serving /metrics",
        Duration::from_secs(60),
    ));
    wait_for(
        &lines,
        "connect-secondary [us-west-2]: 2 alarms",
        Duration::from_secs(120),
    );
    let out = dialtone(&emulator, &["status", "--addr", &addr]);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", text(&out));
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{table}"))
            .to_string()
    };
    assert!(line("AlarmPolicy").starts_with("AlarmPolicy"), "{table}");
    assert!(
        line("contact-center/connect-primary").contains("True"),
        "{table}"
    );
    assert!(
        line("contact-center/use1").starts_with("ContactCenterRegion"),
        "{table}"
    );
    assert!(
        line("contact-center/weekly-sunday").starts_with("MaintenanceWindow"),
        "{table}"
    );
    assert!(
        line("contact-center/connect-dr").starts_with("FailoverPlan"),
        "{table}"
    );
    let json = dialtone(&emulator, &["status", "--addr", &addr, "-o", "json"]);
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert!(document["objects"].as_array().is_some_and(|o| o.len() >= 7));
    drop(running);

    let nobody = format!("127.0.0.1:{}", closed_port());
    let out = dialtone(&emulator, &["status", "--addr", &nobody]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("no dialtone run --manifests answers on {nobody}")),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn an_aws_rate_for_an_operation_dialtone_never_calls_is_refused() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::examples("aws-rate");
    let out = dialtone(
        &emulator,
        &[
            "plan",
            "-f",
            scratch.path(),
            "--aws-rate",
            "PutMetricAlarms=3",
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out)
            .contains("--aws-rate \"PutMetricAlarms=3\": dialtone makes no PutMetricAlarms call"),
        "{}",
        text(&out)
    );
    assert!(emulator.calls().is_empty());
}

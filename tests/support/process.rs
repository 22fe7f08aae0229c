//! The `dialtone` binary as a user runs it: once (`plan`, `apply`) or continuously (`run`), against
//! the emulator, with every line it prints available to wait on.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::emulator::Emulator;

/// Runs `dialtone ARGS` to completion against the emulator.
pub fn dialtone(emulator: &Emulator, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(args)
        .envs(emulator.env())
        .output()
        .expect("dialtone runs")
}

/// What `apply_json` saw: the JSON document on stdout, the log on stderr, and the exit.
pub struct Applied {
    pub document: serde_json::Value,
    pub log: String,
    pub success: bool,
}

/// `dialtone apply -f <dir> -o json` without client-side rate limits. Panics with the whole output
/// when stdout is not a JSON document.
pub fn apply_json(emulator: &Emulator, dir: &str) -> Applied {
    let out = dialtone(
        emulator,
        &["apply", "-f", dir, "-o", "json", "--aws-rate", "all=0"],
    );
    let document = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("JSON ({err}): {}", text(&out)));
    Applied {
        document,
        log: String::from_utf8_lossy(&out.stderr).to_string(),
        success: out.status.success(),
    }
}

/// stdout and stderr of a finished run, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A running `dialtone`, killed when the test ends however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `dialtone ARGS` against the emulator; its stdout and stderr lines arrive on the receiver.
pub fn spawn(emulator: &Emulator, args: &[&str]) -> (Running, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(args)
        .envs(emulator.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dialtone starts");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let forward = |stream: Box<dyn std::io::Read + Send>, tx: mpsc::Sender<String>| {
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    };
    forward(Box::new(stdout), tx.clone());
    forward(Box::new(stderr), tx);
    (Running(child), rx)
}

/// Starts `dialtone run --manifests PATH` with a 1 s resync, no client-side rate limits and the
/// HTTP endpoints on a free loopback port.
pub fn run_manifests(emulator: &Emulator, path: &str) -> (Running, Receiver<String>) {
    spawn(
        emulator,
        &[
            "run",
            "--manifests",
            path,
            "--resync",
            "1s",
            "--aws-rate",
            "all=0",
            "--http-addr",
            "127.0.0.1:0",
        ],
    )
}

/// Waits (bounded) for a line that contains `pattern`, and returns it. Lines before it are
/// consumed.
pub fn wait_for(lines: &Receiver<String>, pattern: &str, limit: Duration) -> String {
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

/// Every line that arrived so far, without waiting.
pub fn drain(lines: &Receiver<String>) -> Vec<String> {
    lines.try_iter().collect()
}

/// Polls `check` until it holds (bounded): for state that another process brings about.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A scratch copy of examples/ (or an empty directory) that tests may edit.
pub struct Scratch {
    pub dir: std::path::PathBuf,
}

impl Scratch {
    pub fn examples(name: &str) -> Scratch {
        let scratch = Scratch::empty(name);
        let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
        for entry in std::fs::read_dir(examples).expect("examples") {
            let path = entry.expect("entry").path();
            std::fs::copy(&path, scratch.dir.join(path.file_name().expect("name"))).expect("copy");
        }
        scratch
    }

    pub fn empty(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("dialtone-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch { dir }
    }

    pub fn path(&self) -> &str {
        self.dir.to_str().expect("utf-8 path")
    }

    pub fn file(&self, name: &str) -> std::path::PathBuf {
        self.dir.join(name)
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).expect("read scratch file")
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.file(name), text).expect("write scratch file");
    }

    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.file(name)).expect("remove scratch file");
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// GET on a `dialtone run` HTTP endpoint (loopback): (status code, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
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

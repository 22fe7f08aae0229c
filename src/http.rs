//! The operator's HTTP endpoints: /metrics (Prometheus text), /healthz (the process is alive),
//! /readyz (caches synced and the first sweep done) and, in `run --manifests`, /status (every
//! object's status as JSON). GET only, tiny on purpose.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Metrics;

/// Readiness, flipped once the first sweep is done, and (in `run --manifests`) the status of every
/// object as of the last sweep, served at `/status`.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
    status: std::sync::Mutex<Option<String>>,
}

impl Health {
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Replaces the document `GET /status` serves.
    pub fn set_status(&self, document: serde_json::Value) {
        let text = serde_json::to_string_pretty(&document).unwrap_or_default();
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
    }

    fn status(&self) -> Option<String> {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// Binds `addr`; returns the listener (so callers know the port) to pass to [`serve`].
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, health: Arc<Health>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let health = health.clone();
        tokio::spawn(async move {
            // A slow or broken client must not hold a task forever.
            let _ = tokio::time::timeout(Duration::from_secs(10), answer(stream, &health)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, health: &Health) -> std::io::Result<()> {
    let mut buffer = vec![0u8; 8192];
    let mut read = 0;
    while read < buffer.len() {
        let n = stream.read(&mut buffer[read..]).await?;
        if n == 0 {
            break;
        }
        read += n;
        if buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buffer[..read]);
    let mut parts = head.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = path.split('?').next().unwrap_or_default();
    // HEAD is GET without the body (probes and `curl -I` use it).
    let head_only = method == "HEAD";
    let method = if head_only { "GET" } else { method };
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Metrics::global().encode(),
        ),
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_string()),
        ("GET", "/status") => match health.status() {
            Some(document) => ("200 OK", "application/json", document),
            None => (
                "503 Service Unavailable",
                "text/plain",
                "no status yet: first sweep pending (served by run --manifests)\n".to_string(),
            ),
        },
        ("GET", "/readyz") if health.is_ready() => ("200 OK", "text/plain", "ready\n".to_string()),
        ("GET", "/readyz") => (
            "503 Service Unavailable",
            "text/plain",
            "not ready: first sweep pending\n".to_string(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET or HEAD only\n".to_string(),
        ),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        if head_only { "" } else { &body }
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

//! `dialtone status`: every object's status, read from a running `run --manifests` (its
//! `GET /status`), one line per object as `kubectl get` shows them, or the whole document.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use super::{Output, emit, exit};
use crate::{Error, Result};

/// How long the running instance may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Prints the status document of the `run --manifests` serving on `addr`.
pub fn status(addr: SocketAddr, output: Output) -> Result<u8> {
    let unreachable = |err: std::io::Error| {
        Error::Usage(format!(
            "no dialtone run --manifests answers on {addr} ({err}); start one, or name its --http-addr with --addr"
        ))
    };
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(unreachable)?;
    write!(
        stream,
        "GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(unreachable)?;
    let mut reply = Vec::new();
    stream
        .take(64 * 1024 * 1024)
        .read_to_end(&mut reply)
        .map_err(unreachable)?;
    let reply = String::from_utf8_lossy(&reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    if !head.starts_with("HTTP/1.1 200") {
        let line = head.lines().next().unwrap_or_default();
        return Err(Error::Usage(format!(
            "{addr} answered {line}: {}",
            crate::validate::escaped(body.trim(), false)
        )));
    }
    let document: Value = serde_json::from_str(body)
        .map_err(|err| Error::Usage(format!("{addr} sent no status document: {err}")))?;
    match output {
        Output::Json => emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        )),
        Output::Text => emit(&table(&document)),
    }
    Ok(exit::OK)
}

/// One line per object: kind, namespace/name, Ready, reason and message.
fn table(document: &Value) -> String {
    let mut rows = vec![[
        "KIND".to_string(),
        "NAME".to_string(),
        "READY".to_string(),
        "REASON".to_string(),
        "MESSAGE".to_string(),
    ]];
    for object in document["objects"].as_array().into_iter().flatten() {
        let text = |v: &Value| crate::validate::escaped(v.as_str().unwrap_or("-"), false);
        let ready = object["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready");
        let (status, reason, message) = match ready {
            Some(c) => (text(&c["status"]), text(&c["reason"]), text(&c["message"])),
            None => ("Unknown".into(), "-".into(), "-".into()),
        };
        rows.push([
            text(&object["kind"]),
            format!("{}/{}", text(&object["namespace"]), text(&object["name"])),
            status,
            reason,
            message,
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        for (i, width) in widths.iter().enumerate() {
            out.push_str(&format!("{:<width$}  ", row[i]));
        }
        out.push_str(&row[4]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_per_object_with_its_ready_condition() {
        let document = serde_json::json!({"objects": [
            {"kind": "AlarmPolicy", "namespace": "cc", "name": "p", "status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "Reconciled", "message": "8 alarm(s) as declared"}]}},
            {"kind": "ContactCenterRegion", "namespace": "cc", "name": "use1\u{202e}", "status": {}},
        ]});
        let table = table(&document);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("KIND"));
        assert!(
            lines[1].contains("cc/p")
                && lines[1].contains("True")
                && lines[1].ends_with("8 alarm(s) as declared")
        );
        assert!(
            lines[2].contains("Unknown") && lines[2].contains("\\u{202e}"),
            "{table}"
        );
    }
}

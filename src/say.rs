//! Lines for people (status lines of `run --manifests`, notes and retries of `plan` and `apply`):
//! printed as they are, or with `--log-format json` as one JSON object per line, in the shape of
//! the structured log records (`timestamp`, `level`, `fields.message`), so a log pipeline parses
//! everything dialtone prints with one format. The plan and apply reports follow `-o` instead.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// `--log-format json`: every line from here on is a JSON object.
pub fn use_json(json: bool) {
    JSON.store(json, Ordering::SeqCst);
}

/// A status line, on stdout.
pub fn out(line: &str) {
    let _ = writeln!(std::io::stdout(), "{}", shaped("INFO", line));
}

/// A note, a retry or an error, on stderr.
pub fn err(level: &str, line: &str) {
    let _ = writeln!(std::io::stderr(), "{}", shaped(level, line));
}

fn shaped(level: &str, line: &str) -> String {
    if !JSON.load(Ordering::SeqCst) {
        return line.to_string();
    }
    let timestamp = k8s_openapi::jiff::Timestamp::now().to_string();
    serde_json::json!({
        "timestamp": timestamp,
        "level": level,
        "fields": {"message": line},
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_one_object_each_and_text_lines_are_untouched() {
        assert_eq!(shaped("INFO", "a \"line\""), "a \"line\"");
        use_json(true);
        let json: serde_json::Value =
            serde_json::from_str(&shaped("WARN", "a \"line\"\nand more")).expect("JSON");
        use_json(false);
        assert_eq!(json["level"], "WARN");
        assert_eq!(json["fields"]["message"], "a \"line\"\nand more");
        assert!(json["timestamp"].is_string());
    }
}

//! What dialtone remembers between runs in manifest mode (`plan`, `apply`, `run --manifests`): for
//! every object it reconciled, where it wrote and under which names, and its last management and
//! deletion policies. In a cluster the same facts live in each object's status.
//!
//! One JSON file per manifest path, written atomically (a temporary file renamed over the old one).
//! A missing file is a fresh start, said once on stderr; a file that cannot be read or parsed is
//! an error, never a silent fresh start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::alarm_policy::{DeletionPolicy, ManagementPolicy};
use crate::api::common::Footprint;
use crate::{Error, Result};

/// Version of the state file's format.
const VERSION: u32 = 1;

/// Everything remembered about one manifest path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub version: u32,
    /// The manifest path (canonical) this state belongs to.
    pub source: String,
    /// By object, as `Kind namespace/name`.
    #[serde(default)]
    pub objects: BTreeMap<String, Record>,
}

/// What dialtone remembers about one object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// As last seen: an object last seen under Observe never causes a deletion.
    pub management_policy: ManagementPolicy,
    /// As last seen: what to do once the object is gone from the source.
    pub deletion_policy: DeletionPolicy,
    /// Where its AWS resources are and under which names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub footprint: Vec<Footprint>,
    /// Gone from the source with `deletionPolicy: Retain` (or last seen under Observe): its
    /// resources were left in place on purpose, so they are not reported as orphans.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retained: bool,
    /// The spec admitted last (the change gate): enforced while a newer one waits for a window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted: Option<serde_json::Value>,
    /// A FailoverPlan's last failover, in progress or done: a restart continues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<crate::api::failover_plan::FailoverRecord>,
    /// A FailoverPlan's health history and automatic failover (`mode: Automatic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic: Option<crate::api::failover_plan::AutomaticStatus>,
    /// A FailoverPlan's last drill (a restart continues a running one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<crate::api::failover_plan::DrillReport>,
    /// When its next scheduled drill is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_drill: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// The `dialtone.io/drill-now` value last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_now_handled: Option<String>,
}

/// Where the state of one manifest path is kept.
#[derive(Debug, Clone)]
pub struct StateFile {
    pub path: PathBuf,
    source: String,
}

impl StateFile {
    /// The state file for manifest path `source`: `explicit` (`--state`), else
    /// `$XDG_STATE_HOME/dialtone/` (default `~/.local/state/dialtone/`) with a file name derived
    /// from the canonical manifest path, so two directories never share state.
    pub fn locate(explicit: Option<&Path>, source: &Path) -> Result<StateFile> {
        let canonical = std::fs::canonicalize(source).map_err(|err| Error::Io {
            path: source.display().to_string(),
            source: err,
        })?;
        let source_text = canonical.display().to_string();
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => {
                let base = std::env::var_os("XDG_STATE_HOME")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("HOME")
                            .filter(|v| !v.is_empty())
                            .map(|home| PathBuf::from(home).join(".local/state"))
                    })
                    .ok_or_else(|| {
                        Error::Usage(
                            "neither XDG_STATE_HOME nor HOME is set: pass --state FILE to say where dialtone keeps its state".into(),
                        )
                    })?;
                base.join("dialtone").join(file_name(&canonical))
            }
        };
        Ok(StateFile {
            path,
            source: source_text,
        })
    }

    /// Reads the state. A missing file is a fresh start (said on stderr); anything unreadable is
    /// an error naming the file.
    pub fn load(&self) -> Result<State> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                crate::say::err(
                    "INFO",
                    &format!(
                        "dialtone: no state at {}: starting fresh (it is written after the first apply)",
                        self.path.display()
                    ),
                );
                return Ok(State {
                    version: VERSION,
                    source: self.source.clone(),
                    objects: BTreeMap::new(),
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    path: self.path.display().to_string(),
                    source,
                });
            }
        };
        let corrupt = |message: String| Error::State {
            path: self.path.display().to_string(),
            message,
        };
        let state: State = serde_json::from_str(&text).map_err(|err| {
            corrupt(format!(
                "cannot be read ({err}); move it aside to start fresh (alarms of removed manifests are then reported as orphans, never deleted)"
            ))
        })?;
        if state.version != VERSION {
            return Err(corrupt(format!(
                "has format version {}, this dialtone reads {VERSION}",
                state.version
            )));
        }
        if state.source != self.source {
            return Err(corrupt(format!(
                "belongs to {}, not {}; pass another --state for this manifest path",
                state.source, self.source
            )));
        }
        Ok(state)
    }

    /// Writes the state atomically: a crash leaves the old file or the new one, never half of one.
    pub fn save(&self, state: &State) -> Result<()> {
        let io = |source| Error::Io {
            path: self.path.display().to_string(),
            source,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_string_pretty(state).map_err(|err| Error::Serialize {
            what: "the state".into(),
            message: err.to_string(),
        })?;
        let temporary = self
            .path
            .with_extension(format!("tmp-{}", std::process::id()));
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary).map_err(io)?;
            file.write_all(text.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&temporary, &self.path).map_err(io)
    }
}

impl State {
    pub fn record(&self, key: &str) -> Option<&Record> {
        self.objects.get(key)
    }
}

/// `<last path component>-<first 16 hex digits of SHA-256 of the canonical path>.json`.
fn file_name(canonical: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let stem: String = canonical
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "root".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("{stem}-{hash}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dialtone-state-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn state_round_trips_and_a_missing_file_is_a_fresh_start() {
        let dir = scratch("roundtrip");
        let file = StateFile::locate(Some(&dir.join("s/state.json")), &dir).expect("locate");
        let mut state = file.load().expect("fresh");
        assert!(state.objects.is_empty());
        state.objects.insert(
            "AlarmPolicy ns/p".into(),
            Record {
                footprint: vec![Footprint {
                    region: "us-east-1".into(),
                    role_arn: None,
                    names: vec!["a".into()],
                }],
                ..Record::default()
            },
        );
        file.save(&state).expect("save");
        assert_eq!(file.load().expect("load"), state);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_or_foreign_state_is_an_error_naming_the_file() {
        let dir = scratch("corrupt");
        let path = dir.join("state.json");
        let file = StateFile::locate(Some(&path), &dir).expect("locate");
        std::fs::write(&path, "{not json").expect("write");
        let err = file.load().expect_err("corrupt").to_string();
        assert!(
            err.contains("state.json") && err.contains("move it aside"),
            "{err}"
        );

        let other = scratch("other");
        StateFile::locate(Some(&path), &other)
            .expect("locate")
            .save(&State {
                version: VERSION,
                source: std::fs::canonicalize(&other)
                    .expect("canonical")
                    .display()
                    .to_string(),
                objects: BTreeMap::new(),
            })
            .expect("save");
        let err = file.load().expect_err("foreign").to_string();
        assert!(err.contains("belongs to"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&other);
    }

    #[test]
    fn default_locations_differ_per_manifest_path() {
        let a = file_name(Path::new("/srv/team-a/manifests"));
        let b = file_name(Path::new("/srv/team-b/manifests"));
        assert_ne!(a, b);
        assert!(a.starts_with("manifests-") && a.ends_with(".json"), "{a}");
    }
}

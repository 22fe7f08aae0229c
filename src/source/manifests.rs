//! Desired state from files: one YAML file or a directory of them, multi-document allowed.
//!
//! Files are read one by one: a file that does not parse, holds nothing, or holds a document that
//! cannot be identified (kind, name) is a load error for that file alone, and the objects of the
//! other files are still used. Each identified document is validated on its own; an invalid one is
//! reported and left untouched. An object declared twice is a duplicate: neither copy is used.
//!
//! Input is not trusted to be small or kind. A file larger than [`MAX_FILE_BYTES`] is not read;
//! serde-saphyr's default budget bounds what a file can expand to (250,000 nodes with aliases
//! counted as expanded, so a "billion laughs" alias bomb is refused; nesting 64 deep; 1,024
//! documents); only regular files of a directory are opened (a FIFO would block forever); and
//! control and bidirectional characters are escaped wherever a path or a message is printed.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Kind, ObjectKey, Snapshot};
use crate::validate::{self, escaped, hidden};
use crate::{Error, Result};

/// The largest manifest file dialtone reads. A Kubernetes object cannot exceed 1.5 MiB (etcd's
/// request limit); a file of many objects may be larger, but one of megabytes is a mistake or an
/// attack, and is reported without being read into memory.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Where a document came from: `path` and its position in the file (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub path: PathBuf,
    pub document: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (document {})", shown(&self.path), self.document)
    }
}

/// A file, or a document of it, that could not be read as an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub path: PathBuf,
    /// The document, when the file parsed but one of its documents is not an object.
    pub document: Option<usize>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.document {
            Some(document) => write!(
                f,
                "{} (document {document}): {}",
                shown(&self.path),
                escaped(&self.message, true)
            ),
            None => write!(f, "{}: {}", shown(&self.path), escaped(&self.message, true)),
        }
    }
}

/// Reads `path`: a YAML file, or every `.yaml`/`.yml` file of a directory (sorted; not recursive).
/// Objects without a namespace are put in `default`, as `kubectl apply` would. Only a path that
/// cannot be read at all is an error; problems inside files are in the snapshot.
pub fn load(path: &Path) -> Result<Snapshot> {
    load_with(path, false)
}

/// [`load`], and with `recursive` the subdirectories too (`-R`); subdirectories not read are in
/// [`Snapshot::skipped`].
pub fn load_with(path: &Path, recursive: bool) -> Result<Snapshot> {
    let mut snapshot = Snapshot::default();
    let mut seen: BTreeMap<ObjectKey, Vec<Origin>> = BTreeMap::new();
    let mut identified = Vec::new();
    let mut unreadable = Vec::new();
    let (files, listed) = files(path, recursive, &mut snapshot.skipped, &mut unreadable)?;
    for (dir, message) in unreadable {
        snapshot.load_errors.push(LoadError {
            path: dir,
            document: None,
            message,
        });
    }
    for file in files {
        let load_error = |document: Option<usize>, message: String| LoadError {
            path: file.clone(),
            document,
            message,
        };
        let text = match read(&file, listed) {
            Ok(text) => text,
            Err(message) => {
                snapshot.load_errors.push(load_error(None, message));
                continue;
            }
        };
        let documents: Vec<Value> = match serde_saphyr::from_multiple(&text) {
            Ok(documents) => documents,
            Err(err) => {
                snapshot
                    .load_errors
                    .push(load_error(None, format!("not valid YAML: {err}")));
                continue;
            }
        };
        // Empty documents (a trailing `---`) are skipped, as kubectl does; a file with nothing
        // else is an error, because a file truncated by accident must not read as "no objects".
        if documents.iter().all(Value::is_null) {
            snapshot
                .load_errors
                .push(load_error(None, "holds no object (empty file?)".into()));
            continue;
        }
        for (i, mut document) in documents.into_iter().enumerate() {
            if document.is_null() {
                continue;
            }
            let origin = Origin {
                path: file.clone(),
                document: i + 1,
            };
            default_namespace(&mut document);
            match identify(&document) {
                Ok(key) => {
                    seen.entry(key.clone()).or_default().push(origin.clone());
                    identified.push((key, origin, document));
                }
                Err(message) => snapshot.load_errors.push(load_error(Some(i + 1), message)),
            }
        }
    }
    for (key, origin, document) in identified {
        if seen.get(&key).is_some_and(|origins| origins.len() > 1) {
            continue;
        }
        match validate::object(&document) {
            Ok(object) => {
                snapshot.objects.insert(key, (origin, object));
            }
            Err(invalid) => {
                snapshot.invalid.insert(key, (origin, invalid));
            }
        }
    }
    snapshot.duplicates = seen
        .into_iter()
        .filter(|(_, origins)| origins.len() > 1)
        .collect();
    snapshot.check_references();
    Ok(snapshot)
}

/// Which object a document declares: its kind must be one of dialtone's and it must have a name.
/// Anything less and dialtone cannot tell which object the document is (a typo in `kind:` must not
/// read as "that policy was removed").
fn identify(document: &Value) -> Result<ObjectKey, String> {
    if !document.is_object() {
        return Err(
            "is not a mapping: expected an object with apiVersion, kind, metadata, spec".into(),
        );
    }
    let kind_text = document.get("kind").and_then(Value::as_str);
    let Some(kind) = kind_text.and_then(Kind::parse) else {
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(format!(
            "cannot tell which object this is: kind {:?} is not one of {}",
            kind_text.unwrap_or_default(),
            kinds.join(", ")
        ));
    };
    let metadata = document.get("metadata");
    let text = |field: &str| {
        metadata
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    if text("name").is_empty() {
        return Err(format!(
            "cannot tell which {kind} this is: metadata.name is missing"
        ));
    }
    // An invisible or control character makes a name that reads as another: `queue\u{202e}health`
    // must not pass for a new object while the policy it was meant to be counts as removed.
    for field in ["name", "namespace"] {
        if text(field).chars().any(hidden) {
            return Err(format!(
                "cannot tell which {kind} this is: metadata.{field} {:?} holds a control or invisible character",
                text(field)
            ));
        }
    }
    Ok(ObjectKey::new(kind, text("namespace"), text("name")))
}

/// The files of `path`, and whether they were listed from a directory (rather than named).
/// Every `.yaml`/`.yml` entry (any case: `.YAML` too) of a directory that is not itself a
/// directory is listed, whatever it is (a FIFO, a symlink loop): [`read`] reports why it cannot
/// be loaded instead of it being silently left out. Subdirectories are read when `recursive`
/// (`-R`, as kubectl), each once and at most [`MAX_DEPTH`] deep; otherwise they go to `skipped`
/// (hidden ones, such as `.git`, are never read nor reported).
fn files(
    path: &Path,
    recursive: bool,
    skipped: &mut Vec<(PathBuf, String)>,
    unreadable: &mut Vec<(PathBuf, String)>,
) -> Result<(Vec<PathBuf>, bool)> {
    let io = |source| Error::Io {
        path: shown(path),
        source,
    };
    if !std::fs::metadata(path).map_err(io)?.is_dir() {
        return Ok((vec![path.to_path_buf()], false));
    }
    let entries = std::fs::read_dir(path).map_err(io)?;
    let mut files = Vec::new();
    let mut visited = std::collections::BTreeSet::new();
    let scan = Scan {
        recursive,
        depth: 0,
    };
    collect(entries, scan, &mut visited, &mut files, skipped, unreadable);
    files.sort();
    skipped.sort();
    if files.is_empty() && unreadable.is_empty() {
        let hint = if skipped.is_empty() {
            ""
        } else {
            " (subdirectories are read with -R)"
        };
        return Err(Error::Manifest {
            path: shown(path),
            message: format!("no .yaml or .yml files in this directory{hint}"),
        });
    }
    Ok((files, true))
}

/// How deep `-R` descends.
const MAX_DEPTH: usize = 32;

#[derive(Clone, Copy)]
struct Scan {
    recursive: bool,
    depth: usize,
}

/// The manifest files among `entries`, and under `-R` in their subdirectories: a subdirectory
/// that cannot be read is a problem of its own (the other files still load); a symlink to a
/// directory is not followed (as kubectl's walk), nor is a directory deeper than [`MAX_DEPTH`].
fn collect(
    entries: std::fs::ReadDir,
    scan: Scan,
    visited: &mut std::collections::BTreeSet<PathBuf>,
    files: &mut Vec<PathBuf>,
    skipped: &mut Vec<(PathBuf, String)>,
    unreadable: &mut Vec<(PathBuf, String)>,
) {
    for path in entries.filter_map(|entry| entry.ok().map(|e| e.path())) {
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            if path.extension().is_some_and(|ext| {
                let ext = ext.to_string_lossy().to_ascii_lowercase();
                ext == "yaml" || ext == "yml"
            }) {
                files.push(path);
            }
            continue;
        }
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        let linked = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        let why = if !scan.recursive {
            Some("is a subdirectory: not read (-R reads subdirectories, as kubectl does)")
        } else if linked {
            Some("is a symlink to a directory: not followed")
        } else if scan.depth >= MAX_DEPTH {
            Some("is deeper than 32 directories: not read")
        } else {
            None
        };
        if let Some(why) = why {
            skipped.push((path, why.to_string()));
            continue;
        }
        // A directory reached twice (a bind mount back up the tree) is read once.
        if !visited.insert(std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone())) {
            continue;
        }
        match std::fs::read_dir(&path) {
            Ok(entries) => {
                let deeper = Scan {
                    depth: scan.depth + 1,
                    ..scan
                };
                collect(entries, deeper, visited, files, skipped, unreadable);
            }
            Err(err) => unreadable.push((path, format!("cannot be read: {err}"))),
        }
    }
}

/// The text of one file, at most [`MAX_FILE_BYTES`], or why it cannot be had. Of a directory only
/// regular files (or symlinks to them) are opened: opening a FIFO blocks until something writes to
/// it, and a device may never end. A path named on the command line is read whatever it is
/// (`-f <(kustomize build)` is a pipe), up to the same limit. (A regular file swapped for a FIFO
/// between the check and the open is not guarded against: whoever can do that writes the
/// manifests anyway.)
fn read(file: &Path, listed: bool) -> Result<String, String> {
    let too_big = || {
        format!(
            "is larger than {} MiB: not read (split it into several files)",
            MAX_FILE_BYTES / (1024 * 1024)
        )
    };
    let cannot = |err: std::io::Error| format!("cannot be read: {err}");
    let metadata = std::fs::metadata(file).map_err(cannot)?;
    if listed && !metadata.is_file() {
        return Err(format!(
            "is {}, not a regular file: not read",
            file_type(&metadata.file_type())
        ));
    }
    if metadata.is_file() && metadata.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|err| {
        format!(
            "is not UTF-8 text (invalid byte at offset {})",
            err.utf8_error().valid_up_to()
        )
    })
}

/// What a file that is not a regular file is, for messages.
fn file_type(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// A path for messages: lossy UTF-8 with [`hidden`] characters escaped.
pub(crate) fn shown(path: &Path) -> String {
    escaped(&path.display().to_string(), false)
}

fn default_namespace(document: &mut Value) {
    let Some(metadata) = document.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if metadata
        .get("namespace")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        metadata.insert("namespace".into(), Value::String("default".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(files: &[(&str, &str)]) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dialtone-load-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write");
        }
        dir
    }

    const WINDOW: &str = "apiVersion: dialtone.io/v1alpha1\nkind: MaintenanceWindow\nmetadata: {name: w, namespace: ops}\nspec: {schedule: \"0 2 * * SUN\", duration: 2h, suppress: {alarmPolicySelector: {}}}\n";

    #[test]
    fn a_broken_file_is_a_load_error_and_the_other_files_still_load() {
        let dir = dir(&[
            ("a.yaml", WINDOW),
            ("b.yaml", "kind: [unclosed"),
            ("c.yaml", ""),
            ("d.yaml", "# only a comment\n---\n"),
            (
                "e.yaml",
                &WINDOW.replace("MaintenanceWindow", "MaintenanceWindoww"),
            ),
            ("f.yaml", &WINDOW.replace("name: w, ", "")),
        ]);
        let snapshot = load(&dir).expect("loads");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(snapshot.objects.len(), 1);
        let broken: Vec<String> = snapshot
            .load_errors
            .iter()
            .map(|e| {
                e.path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(broken, ["b.yaml", "c.yaml", "d.yaml", "e.yaml", "f.yaml"]);
        assert!(!snapshot.is_clean());
        assert!(snapshot.problems()[1].contains("c.yaml: holds no object"));
        assert!(snapshot.problems()[3].contains("kind \"MaintenanceWindoww\""));
        assert!(snapshot.problems()[4].contains("metadata.name is missing"));
    }

    #[test]
    fn an_object_declared_twice_is_a_duplicate_naming_both_places_and_neither_is_used() {
        let dir = dir(&[
            ("a.yaml", WINDOW),
            ("b.yaml", &format!("{WINDOW}---\n{WINDOW}")),
        ]);
        let snapshot = load(&dir).expect("loads");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(snapshot.objects.is_empty());
        let key = ObjectKey::new(Kind::MaintenanceWindow, "ops", "w");
        assert_eq!(snapshot.duplicates[&key].len(), 3);
        let problem = &snapshot.problems()[0];
        assert!(
            problem.contains("a.yaml (document 1)")
                && problem.contains("b.yaml (document 1)")
                && problem.contains("b.yaml (document 2)"),
            "{problem}"
        );
        assert!(snapshot.declares(&key));
        assert!(!snapshot.is_clean());
    }

    #[test]
    fn trailing_empty_documents_are_skipped_and_invalid_objects_are_identified() {
        let dir = dir(&[(
            "a.yaml",
            &format!(
                "{WINDOW}---\n---\n{}",
                WINDOW.replace("name: w", "name: x").replace("2h", "99d")
            ),
        )]);
        let snapshot = load(&dir).expect("loads");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(snapshot.is_clean(), "{:?}", snapshot.problems());
        assert_eq!(snapshot.objects.len(), 1);
        let key = ObjectKey::new(Kind::MaintenanceWindow, "ops", "x");
        assert!(snapshot.invalid.contains_key(&key));
    }
}

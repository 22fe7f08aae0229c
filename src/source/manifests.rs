//! Desired state from files: one YAML file or a directory of them, multi-document allowed.
//!
//! Files are read one by one: a file that does not parse, holds nothing, or holds a document that
//! cannot be identified (kind, name) is a load error for that file alone, and the objects of the
//! other files are still used. Each identified document is validated on its own; an invalid one is
//! reported and left untouched. An object declared twice is a duplicate: neither copy is used.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Kind, ObjectKey, Snapshot};
use crate::validate;
use crate::{Error, Result};

/// Where a document came from: `path` and its position in the file (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub path: PathBuf,
    pub document: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (document {})", self.path.display(), self.document)
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
                self.path.display(),
                self.message
            ),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Reads `path`: a YAML file, or every `.yaml`/`.yml` file of a directory (sorted; not recursive).
/// Objects without a namespace are put in `default`, as `kubectl apply` would. Only a path that
/// cannot be read at all is an error; problems inside files are in the snapshot.
pub fn load(path: &Path) -> Result<Snapshot> {
    let mut snapshot = Snapshot::default();
    let mut seen: BTreeMap<ObjectKey, Vec<Origin>> = BTreeMap::new();
    let mut identified = Vec::new();
    for file in files(path)? {
        let load_error = |document: Option<usize>, message: String| LoadError {
            path: file.clone(),
            document,
            message,
        };
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err) => {
                snapshot
                    .load_errors
                    .push(load_error(None, format!("cannot be read: {err}")));
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
    Ok(ObjectKey::new(kind, text("namespace"), text("name")))
}

fn files(path: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    if !std::fs::metadata(path).map_err(io)?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Manifest {
            path: path.display().to_string(),
            message: "no .yaml or .yml files in this directory".to_string(),
        });
    }
    Ok(files)
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

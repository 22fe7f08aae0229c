//! Desired state from files: one YAML file or a directory of them, multi-document allowed.
//!
//! Each document is validated on its own; an invalid one is reported and skipped, so one bad
//! manifest never hides the state of the others.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::api::Object;
use crate::validate::{self, FieldError, InvalidSpec};
use crate::{Error, Result};

/// Where a document came from: `path` and its position in the file (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub path: PathBuf,
    pub document: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (document {})", self.path.display(), self.document)
    }
}

/// Everything read from a manifest path.
#[derive(Debug, Default)]
pub struct Manifests {
    /// Valid objects, in file order.
    pub objects: Vec<(Origin, Object)>,
    /// Documents that must not reach AWS, with every reason.
    pub invalid: Vec<(Origin, InvalidSpec)>,
}

/// Reads `path`: a YAML file, or every `.yaml`/`.yml` file of a directory (sorted; not recursive).
/// Objects without a namespace are put in `default`, as `kubectl apply` would.
pub fn load(path: &Path) -> Result<Manifests> {
    let mut manifests = Manifests::default();
    for file in files(path)? {
        let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
            path: file.display().to_string(),
            source,
        })?;
        let documents: Vec<Value> =
            serde_saphyr::from_multiple(&text).map_err(|err| Error::Manifest {
                path: file.display().to_string(),
                message: format!("not valid YAML: {err}"),
            })?;
        for (i, mut document) in documents.into_iter().enumerate() {
            let origin = Origin {
                path: file.clone(),
                document: i + 1,
            };
            default_namespace(&mut document);
            match validate::object(&document) {
                Ok(object) => manifests.objects.push((origin, object)),
                Err(invalid) => manifests.invalid.push((origin, invalid)),
            }
        }
    }
    Ok(manifests)
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

impl Manifests {
    /// Every problem, one line each: `file (document n): Kind ns/name: field: message`.
    pub fn problems(&self) -> Vec<String> {
        self.invalid
            .iter()
            .flat_map(|(origin, invalid)| {
                invalid
                    .errors
                    .iter()
                    .map(move |FieldError { path, message }| {
                        let field = if path.is_empty() {
                            String::new()
                        } else {
                            format!("{path}: ")
                        };
                        format!("{origin}: {}: {field}{message}", invalid.object)
                    })
            })
            .collect()
    }
}

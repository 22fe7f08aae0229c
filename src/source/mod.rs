//! Where desired state comes from: a directory of manifests (here) or the Kubernetes API, and what
//! dialtone remembers between runs in manifest mode (the state file).

pub mod manifests;
pub mod state;

use std::collections::BTreeMap;
use std::fmt;

use crate::api::Object;
use crate::validate::{FieldError, InvalidSpec};
pub use manifests::{LoadError, Origin};

/// The four kinds, as `kind:` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    AlarmPolicy,
    ContactCenterRegion,
    FailoverPlan,
    MaintenanceWindow,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::AlarmPolicy,
        Kind::ContactCenterRegion,
        Kind::FailoverPlan,
        Kind::MaintenanceWindow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AlarmPolicy => "AlarmPolicy",
            Kind::ContactCenterRegion => "ContactCenterRegion",
            Kind::FailoverPlan => "FailoverPlan",
            Kind::MaintenanceWindow => "MaintenanceWindow",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which object: kind, namespace and name. Two documents with the same key are the same object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// `<namespace>/<name>`: the value of the owner tag on what the object creates.
    pub fn owner(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Parses `Kind namespace/name`, the form [`Display`](fmt::Display) writes.
    pub fn parse(text: &str) -> Option<ObjectKey> {
        let (kind, rest) = text.split_once(' ')?;
        let (namespace, name) = rest.split_once('/')?;
        Some(ObjectKey::new(Kind::parse(kind)?, namespace, name))
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

impl Object {
    /// Kind, namespace (`default` when unset) and name.
    pub fn object_key(&self) -> ObjectKey {
        let (kind, meta) = match self {
            Object::AlarmPolicy(o) => (Kind::AlarmPolicy, &o.metadata),
            Object::ContactCenterRegion(o) => (Kind::ContactCenterRegion, &o.metadata),
            Object::FailoverPlan(o) => (Kind::FailoverPlan, &o.metadata),
            Object::MaintenanceWindow(o) => (Kind::MaintenanceWindow, &o.metadata),
        };
        ObjectKey::new(
            kind,
            meta.namespace.as_deref().unwrap_or("default"),
            meta.name.as_deref().unwrap_or_default(),
        )
    }
}

/// Every object of a source at one moment, and everything that kept an object from being read.
///
/// Deleting is only ever decided on a clean snapshot: while a file cannot be loaded or an object is
/// declared twice, dialtone cannot know what the source wants gone (Flux and Argo CD never prune
/// after a failed render either).
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Valid objects, with where each was declared.
    pub objects: BTreeMap<ObjectKey, (Origin, Object)>,
    /// Objects that are identified but must not reach AWS, with every reason. Their AWS resources
    /// are left exactly as they are.
    pub invalid: BTreeMap<ObjectKey, (Origin, InvalidSpec)>,
    /// Objects declared more than once, with every place; no copy is used.
    pub duplicates: BTreeMap<ObjectKey, Vec<Origin>>,
    /// Files and documents that could not be read as an object at all.
    pub load_errors: Vec<LoadError>,
    /// Subdirectories not read, and why (without `-R`, a symlink, too deep).
    pub skipped: Vec<(std::path::PathBuf, String)>,
}

impl Snapshot {
    /// True when every file loaded and no object is declared twice: only then may anything be
    /// deleted.
    pub fn is_clean(&self) -> bool {
        self.load_errors.is_empty() && self.duplicates.is_empty()
    }

    /// Why deletions are withheld, in one line, or None when the snapshot is clean.
    pub fn withheld(&self) -> Option<String> {
        if self.is_clean() {
            return None;
        }
        let mut causes = Vec::new();
        if !self.load_errors.is_empty() {
            causes.push(format!(
                "{} manifest(s) could not be loaded",
                self.load_errors.len()
            ));
        }
        if !self.duplicates.is_empty() {
            causes.push(format!(
                "{} object(s) are declared more than once",
                self.duplicates.len()
            ));
        }
        Some(format!("nothing is deleted while {}", causes.join(" and ")))
    }

    /// Makes invalid every object whose references name nothing the source declares (a
    /// FailoverPlan's ContactCenterRegions, its drill's MaintenanceWindow), naming the field: a
    /// sweep could only refuse it later.
    pub fn check_references(&mut self) {
        let mut dangling = Vec::new();
        for (key, (_, object)) in &self.objects {
            let Object::FailoverPlan(plan) = object else {
                continue;
            };
            let mut refs = vec![
                (
                    "spec.primary.regionRef",
                    Kind::ContactCenterRegion,
                    &plan.spec.primary.region_ref,
                ),
                (
                    "spec.secondary.regionRef",
                    Kind::ContactCenterRegion,
                    &plan.spec.secondary.region_ref,
                ),
            ];
            if let Some(window) = plan
                .spec
                .drill
                .as_ref()
                .and_then(|d| d.maintenance_window_ref.as_ref())
            {
                refs.push((
                    "spec.drill.maintenanceWindowRef",
                    Kind::MaintenanceWindow,
                    window,
                ));
            }
            let errors: Vec<FieldError> = refs
                .into_iter()
                .filter(|(_, kind, name)| {
                    !self.declares(&ObjectKey::new(*kind, &key.namespace, name))
                })
                .map(|(path, kind, name)| {
                    FieldError::new(
                        path,
                        format!(
                            "no {kind} {name:?} is declared in namespace {}",
                            key.namespace
                        ),
                    )
                })
                .collect();
            if !errors.is_empty() {
                dangling.push((key.clone(), errors));
            }
        }
        for (key, errors) in dangling {
            if let Some((origin, _)) = self.objects.remove(&key) {
                let object = key.to_string();
                self.invalid
                    .insert(key, (origin, InvalidSpec { object, errors }));
            }
        }
    }

    /// What a person should know about the scan, one line each: the subdirectories not read.
    pub fn notes(&self) -> Vec<String> {
        self.skipped
            .iter()
            .map(|(dir, why)| format!("note: {} {why}", manifests::shown(dir)))
            .collect()
    }

    /// Whether the source declares this object in any form (valid, invalid or duplicated).
    pub fn declares(&self, key: &ObjectKey) -> bool {
        self.objects.contains_key(key)
            || self.invalid.contains_key(key)
            || self.duplicates.contains_key(key)
    }

    /// The valid objects of one kind.
    pub fn alarm_policies(&self) -> impl Iterator<Item = &crate::api::AlarmPolicy> {
        self.objects
            .values()
            .filter_map(|(_, object)| match object {
                Object::AlarmPolicy(policy) => Some(policy),
                _ => None,
            })
    }

    /// Keys of objects that exist but cannot be used now (invalid or duplicated).
    pub fn unusable(&self) -> impl Iterator<Item = &ObjectKey> {
        self.invalid.keys().chain(self.duplicates.keys())
    }

    /// Every problem, one line each: load errors, duplicates, then invalid objects with each field.
    pub fn problems(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.load_errors.iter().map(ToString::to_string).collect();
        for (key, origins) in &self.duplicates {
            let places: Vec<String> = origins.iter().map(ToString::to_string).collect();
            lines.push(format!(
                "{key} is declared more than once ({}); no copy is used until one is removed",
                places.join(" and ")
            ));
        }
        for (origin, invalid) in self.invalid.values() {
            for error in &invalid.errors {
                let field = if error.path.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", error.path)
                };
                lines.push(format!(
                    "{origin}: {}: {field}{}",
                    invalid.object, error.message
                ));
            }
        }
        lines
    }

    /// Number of files, documents and objects that could not be used.
    pub fn problem_count(&self) -> usize {
        self.load_errors.len() + self.duplicates.len() + self.invalid.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_print_and_parse_back() {
        let key = ObjectKey::new(Kind::AlarmPolicy, "contact-center", "queue-health");
        assert_eq!(key.to_string(), "AlarmPolicy contact-center/queue-health");
        assert_eq!(ObjectKey::parse(&key.to_string()), Some(key.clone()));
        assert_eq!(key.owner(), "contact-center/queue-health");
        assert_eq!(ObjectKey::parse("AlarmPolicyy a/b"), None);
        assert_eq!(ObjectKey::parse("AlarmPolicy ab"), None);
    }
}

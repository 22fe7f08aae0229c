//! Validation, pure: every problem of an object, each with the path of the field it concerns.
//!
//! Two layers, both run on every object dialtone reads:
//! - [`schema`]: what the API server checks at admission (the CRD's OpenAPI schema and its CEL
//!   rules), run here too so a manifest directory (no API server) gets the same answers;
//! - the per-kind semantic checks below, for rules no schema can express (values that depend on
//!   defaults, cron syntax, time zones, names derived from the object's own name).

mod alarm_policy;
mod contact_center_region;
mod failover_plan;
mod maintenance_window;
pub mod metric_math;
pub mod schema;

use std::fmt;

pub use alarm_policy::{alarm_policy, default_alarm_name_prefix};
pub use contact_center_region::contact_center_region;
pub use failover_plan::failover_plan;
pub use maintenance_window::maintenance_window;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field, as `kubectl explain` spells it: `spec.alarms[1].datapointsToAlarm`.
    pub path: String,
    pub message: String,
}

impl FieldError {
    /// The path and message as they are safe to print: [`hidden`] characters escaped (they may
    /// quote the manifest), and a message cut short rather than echo a whole value.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: shortened(&escaped(&path.into(), false), MAX_PATH_ECHO),
            message: shortened(&escaped(&message.into(), true), MAX_MESSAGE_ECHO),
        }
    }
}

/// How much of a field path and of a message an error repeats.
const MAX_PATH_ECHO: usize = 200;
const MAX_MESSAGE_ECHO: usize = 500;

/// `text` cut after `max` characters, saying how many more there were.
fn shortened(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!(
            "{}... ({} more characters)",
            &text[..at],
            text[at..].chars().count()
        ),
        None => text.to_string(),
    }
}

/// Checks that a name, prefix or tag that reaches AWS (and every terminal that prints it) holds
/// no [`hidden`] character.
pub(crate) fn check_printable(problems: &mut Problems, path: &str, what: &str, text: &str) {
    if let Some(c) = text.chars().find(|c| hidden(*c)) {
        problems.add(
            path,
            format!(
                "{what} contains the control or bidirectional character {}; remove it",
                c.escape_unicode()
            ),
        );
    }
}

/// Characters that print as nothing, or as something else, or move the cursor: control
/// characters, bidirectional controls (U+202E turns the rest of a line around), zero-width
/// characters and line separators.
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// `text` with every [`hidden`] character escaped (`\u{202e}`), so that printing it cannot
/// rearrange or forge a terminal line; line breaks and tabs are kept when `lines` (multi-line
/// YAML errors).
pub fn escaped(text: &str, lines: bool) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' if lines => c.to_string(),
            c if hidden(c) => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// An object that must not reach AWS, with every reason why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidSpec {
    /// `Kind namespace/name` of the object.
    pub object: String,
    pub errors: Vec<FieldError>,
}

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is invalid:", self.object)?;
        for error in &self.errors {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

/// Collects field errors while walking a spec.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<FieldError>);

impl Problems {
    pub(crate) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }

    pub(crate) fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}

/// Checks a 5-field cron expression, the syntax of schedules in MaintenanceWindow and drills.
pub(crate) fn check_cron(problems: &mut Problems, path: &str, schedule: &str) {
    let fields = schedule.split_whitespace().count();
    if fields != 5 {
        problems.add(
            path,
            format!(
                "{schedule:?} has {fields} fields; use 5: minute hour day-of-month month day-of-week"
            ),
        );
        return;
    }
    match schedule.parse::<croner::Cron>() {
        Err(err) => problems.add(
            path,
            format!("{schedule:?} is not a valid cron schedule: {err}"),
        ),
        Ok(cron) => {
            // Any date since 2000 will do: a schedule that fires at all fires within 8 years.
            let from = jiff::Timestamp::from_second(946_684_800)
                .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC));
            let fires = from.is_ok_and(|from| cron.find_next_occurrence(&from, true).is_ok());
            if !fires {
                problems.add(
                    path,
                    format!("{schedule:?} never fires (no such date, e.g. February 30)"),
                );
            }
        }
    }
}

/// Checks an IANA time zone name.
pub(crate) fn check_time_zone(problems: &mut Problems, path: &str, zone: &str) {
    if jiff::tz::TimeZone::get(zone).is_err() {
        problems.add(
            path,
            format!("{zone:?} is not an IANA time zone name (e.g. UTC, Europe/Berlin)"),
        );
    }
}

/// Checks a label selector's expressions the way the API server's selector parser would.
pub(crate) fn check_selector(
    problems: &mut Problems,
    path: &str,
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) {
    for (i, expr) in selector.match_expressions.iter().flatten().enumerate() {
        let here = format!("{path}.matchExpressions[{i}]");
        let values = expr.values.as_deref().unwrap_or_default();
        match expr.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => problems.add(
                format!("{here}.values"),
                "In and NotIn need at least one value",
            ),
            "Exists" | "DoesNotExist" if !values.is_empty() => problems.add(
                format!("{here}.values"),
                "Exists and DoesNotExist take no values",
            ),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => problems.add(
                format!("{here}.operator"),
                format!("{other:?} is not one of In, NotIn, Exists, DoesNotExist"),
            ),
        }
    }
}

/// Checks a duration field and returns its seconds when it lies within `min..=max`.
pub(crate) fn check_duration(
    problems: &mut Problems,
    path: &str,
    text: &str,
    min: u64,
    max: u64,
) -> Option<u64> {
    match crate::api::common::parse_duration(text) {
        None => {
            problems.add(
                path,
                format!("{text:?} is not a duration like 30s, 2m, 2h or 1h30m"),
            );
            None
        }
        Some(seconds) if seconds < min || seconds > max => {
            problems.add(
                path,
                format!("{text:?} must be between {min} and {max} seconds"),
            );
            None
        }
        Some(seconds) => Some(seconds),
    }
}

/// Validates one whole object (apiVersion, kind, metadata, spec) as read from a manifest or the API
/// server, and returns it typed. All problems are reported at once.
pub fn object(value: &serde_json::Value) -> Result<crate::api::Object, InvalidSpec> {
    use crate::api::{self, Object};

    let text = |field: &str| value.get(field).and_then(serde_json::Value::as_str);
    let kind = text("kind").unwrap_or_default().to_string();
    let metadata = value.get("metadata");
    let meta_text = |field: &str| {
        metadata
            .and_then(|m| m.get(field))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (namespace, name) = (meta_text("namespace"), meta_text("name"));
    let key = api::object_key(
        if kind.is_empty() { "object" } else { &kind },
        if namespace.is_empty() {
            "default"
        } else {
            &namespace
        },
        &name,
    );
    let invalid = |errors: Vec<FieldError>| InvalidSpec {
        object: key.clone(),
        errors,
    };

    if text("apiVersion") != Some(api::API_VERSION) {
        return Err(invalid(vec![FieldError::new(
            "apiVersion",
            format!(
                "{:?} is not {}",
                text("apiVersion").unwrap_or_default(),
                api::API_VERSION
            ),
        )]));
    }
    if !schema::kinds().contains(&kind.as_str()) {
        return Err(invalid(vec![FieldError::new(
            "kind",
            format!("{kind:?} is not one of {}", schema::kinds().join(", ")),
        )]));
    }
    let mut errors = Vec::new();
    for (field, value) in [("metadata.name", &name), ("metadata.namespace", &namespace)] {
        if field == "metadata.name" && value.is_empty() {
            errors.push(FieldError::new(field, "required"));
        } else if !value.is_empty() && !is_dns_label(value, field == "metadata.name") {
            errors.push(FieldError::new(
                field,
                format!("{value:?} must be lowercase letters, digits, '-' (and '.' in names), starting and ending with a letter or digit"),
            ));
        }
    }
    if let Some(fields) = metadata.and_then(serde_json::Value::as_object) {
        for field in fields
            .keys()
            .filter(|f| !METADATA_FIELDS.contains(&f.as_str()))
        {
            errors.push(FieldError::new(
                format!("metadata.{field}"),
                "unknown field (the API server refuses it too; labels and annotations go under metadata.labels and metadata.annotations)",
            ));
        }
    }
    errors.extend(schema::check(&kind, value));
    if !errors.is_empty() {
        return Err(invalid(errors));
    }

    let typed = |err: serde_json::Error| invalid(vec![FieldError::new("", err.to_string())]);
    let namespace = if namespace.is_empty() {
        "default".to_string()
    } else {
        namespace
    };
    let (object, problems) = match kind.as_str() {
        "AlarmPolicy" => {
            // Presets expand first: what follows sees (and checks) the alarms written out.
            let value = expand_presets(value).map_err(invalid)?;
            let o: api::AlarmPolicy = serde_json::from_value(value).map_err(typed)?;
            let problems = alarm_policy(&namespace, &name, &o.spec);
            (Object::AlarmPolicy(o), problems)
        }
        "ContactCenterRegion" => {
            let o: api::ContactCenterRegion =
                serde_json::from_value(value.clone()).map_err(typed)?;
            let problems = contact_center_region(&o.spec);
            (Object::ContactCenterRegion(o), problems)
        }
        "FailoverPlan" => {
            let o: api::FailoverPlan = serde_json::from_value(value.clone()).map_err(typed)?;
            let problems = failover_plan(&o.spec);
            (Object::FailoverPlan(o), problems)
        }
        _ => {
            let o: api::MaintenanceWindow = serde_json::from_value(value.clone()).map_err(typed)?;
            let problems = maintenance_window(&o.spec);
            (Object::MaintenanceWindow(o), problems)
        }
    };
    if problems.is_empty() {
        Ok(object)
    } else {
        Err(invalid(problems))
    }
}

/// The fields of Kubernetes' ObjectMeta.
const METADATA_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// An AlarmPolicy manifest with its preset entries expanded into alarms written out, checked
/// against the schema again (an expanded alarm meets the same rules as one written out).
fn expand_presets(value: &serde_json::Value) -> Result<serde_json::Value, Vec<FieldError>> {
    let entries = &value["spec"]["alarms"];
    let entries: Vec<crate::api::alarm_policy::AlarmEntry> =
        serde_json::from_value(entries.clone())
            .map_err(|err| vec![FieldError::new("spec.alarms", err.to_string())])?;
    if entries.iter().all(|e| e.preset.is_none()) {
        return Ok(value.clone());
    }
    let alarms = crate::plan::presets::expand_all(&entries)?;
    let mut expanded = value.clone();
    expanded["spec"]["alarms"] = serde_json::to_value(&alarms)
        .map_err(|err| vec![FieldError::new("spec.alarms", err.to_string())])?;
    let errors = schema::check("AlarmPolicy", &expanded);
    if errors.is_empty() {
        Ok(expanded)
    } else {
        Err(errors)
    }
}

/// An AlarmPolicy manifest with every entry that expands expanded and the others left out: for
/// cleanup, which must go on for a policy that no longer validates (what it wrote is in its
/// footprint).
pub fn expand_presets_leniently(value: &serde_json::Value) -> serde_json::Value {
    let Some(entries) = value["spec"]["alarms"].as_array() else {
        return value.clone();
    };
    let alarms: Vec<serde_json::Value> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| {
            let entry: crate::api::alarm_policy::AlarmEntry =
                serde_json::from_value(entry.clone()).ok()?;
            let alarm = crate::plan::presets::expand(&entry, &format!("spec.alarms[{i}]")).ok()?;
            serde_json::to_value(alarm).ok()
        })
        .collect();
    let mut expanded = value.clone();
    expanded["spec"]["alarms"] = serde_json::Value::Array(alarms);
    expanded
}

/// Kubernetes names: DNS subdomains (names, with dots) or DNS labels (namespaces).
fn is_dns_label(value: &str, dots: bool) -> bool {
    let max = if dots { 253 } else { 63 };
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || (dots && *b == b'.')
        })
}

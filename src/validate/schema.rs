//! What the Kubernetes API server checks at admission, run without one: each CRD's OpenAPI schema
//! (types, enums, patterns, ranges, lengths), list-map key uniqueness, and its CEL rules.
//!
//! The schemas are the very CRDs `dialtone crds` prints, so a manifest directory gets the same
//! answers as `kubectl apply` would.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use kube::core::cel::{CompiledSchema, Validator, compile_schema};
use serde_json::Value;

use super::FieldError;
use crate::api;

/// One kind's compiled checks.
struct KindSchema {
    openapi: Value,
    structural: jsonschema::Validator,
    cel: CompiledSchema,
}

fn schemas() -> &'static BTreeMap<String, KindSchema> {
    static SCHEMAS: OnceLock<BTreeMap<String, KindSchema>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        api::crds()
            .into_iter()
            .filter_map(|crd| {
                let version = crd.spec.versions.into_iter().next()?;
                let openapi = serde_json::to_value(version.schema?.open_api_v3_schema?).ok()?;
                // Generated from our own types: a failure here is a programming error that the
                // test suite catches (every kind must be present), not something input can cause.
                let structural = jsonschema::validator_for(&to_json_schema(&openapi)).ok()?;
                let cel = compile_schema(&openapi);
                Some((
                    crd.spec.names.kind,
                    KindSchema {
                        openapi,
                        structural,
                        cel,
                    },
                ))
            })
            .collect()
    })
}

/// Kinds whose schemas are loaded (the test suite checks all four are).
pub fn kinds() -> Vec<&'static str> {
    schemas().keys().map(String::as_str).collect()
}

/// Every admission problem of `object` (a whole manifest: apiVersion, kind, metadata, spec) of `kind`.
pub fn check(kind: &str, object: &Value) -> Vec<FieldError> {
    let Some(schema) = schemas().get(kind) else {
        return vec![FieldError::new("kind", format!("unknown kind {kind:?}"))];
    };
    let object = without_nulls(object);
    let mut errors: Vec<FieldError> = schema
        .structural
        .iter_errors(&object)
        .map(|err| FieldError::new(field_path(err.instance_path().as_str()), err.to_string()))
        .collect();
    check_structure(&schema.openapi, &object, "", &mut errors);
    if errors.is_empty() {
        // CEL rules assume a structurally valid object, as in the API server.
        if let Err(failures) = Validator::new().validate_compiled(&schema.cel, &object, None) {
            errors.extend(
                failures
                    .iter()
                    .map(|f| FieldError::new(f.field_path.clone(), f.message.clone())),
            );
        }
    }
    errors
}

/// The OpenAPI v3 subset Kubernetes uses, as JSON Schema: `nullable` has no JSON Schema meaning and
/// nulls are removed from the object before validation, the way the API server prunes them.
fn to_json_schema(openapi: &Value) -> Value {
    match openapi {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "nullable")
                .map(|(k, v)| (k.clone(), to_json_schema(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// `/spec/alarms/1/severity` -> `spec.alarms[1].severity`.
fn field_path(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.parse::<usize>().is_ok() {
            path.push_str(&format!("[{segment}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&segment);
        }
    }
    path
}

/// What JSON Schema alone does not say but the API server enforces:
/// - `x-kubernetes-list-type: map` lists must not repeat a key ("Duplicate value");
/// - fields the schema does not know are rejected, as `kubectl apply` does with its default strict
///   field validation, so a typo such as `treshold` is an error instead of silently ignored.
fn check_structure(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let open = schema.get("x-kubernetes-preserve-unknown-fields")
                == Some(&Value::Bool(true))
                || path == "metadata";
            for (name, child) in fields {
                let child_path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                let child_schema = properties
                    .and_then(|p| p.get(name))
                    .or_else(|| schema.get("additionalProperties").filter(|v| v.is_object()));
                match child_schema {
                    Some(child_schema) => check_structure(child_schema, child, &child_path, errors),
                    // Every object has these; the CRD schema leaves them to the API server.
                    None if path.is_empty()
                        && ["apiVersion", "kind", "metadata"].contains(&name.as_str()) => {}
                    None if properties.is_some() && !open => errors.push(FieldError::new(
                        child_path,
                        format!("unknown field {name:?}"),
                    )),
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = schema.get("items") else {
                return;
            };
            if schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
                let keys: Vec<&str> = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| keys.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut seen = BTreeSet::new();
                for (i, item) in items.iter().enumerate() {
                    let key: Vec<String> = keys
                        .iter()
                        .map(|k| item.get(*k).map(Value::to_string).unwrap_or_default())
                        .collect();
                    if !seen.insert(key.clone()) {
                        errors.push(FieldError::new(
                            format!("{path}[{i}]"),
                            format!("Duplicate value: {} {}", keys.join(","), key.join(",")),
                        ));
                    }
                }
            }
            for (i, item) in items.iter().enumerate() {
                check_structure(item_schema, item, &format!("{path}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_kubectl_paths() {
        assert_eq!(field_path(""), "");
        assert_eq!(
            field_path("/spec/alarms/1/severity"),
            "spec.alarms[1].severity"
        );
        assert_eq!(field_path("/spec/tags/team~1x"), "spec.tags.team/x");
    }
}

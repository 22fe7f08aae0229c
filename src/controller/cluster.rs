//! AlarmPolicy in a cluster: finalizer, validation, the shared engine, status by server-side apply,
//! events. Objects are watched untyped so that one that does not deserialize becomes an error on
//! that object instead of breaking the watch.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use super::alarm_policy::{owner_of, record_metrics};
use super::status::{StatusBase, invalid_status};
use super::{AlarmEngine, Mode, PolicyOutcome};
use crate::api::alarm_policy::{AlarmPolicy, AlarmPolicyStatus, DeletionPolicy, ManagementPolicy};
use crate::api::{API_VERSION, Object};
use crate::aws::AwsError;
use crate::metrics::Metrics;
use crate::plan::sweep::Action as Change;
use crate::validate::{self, InvalidSpec};

/// The finalizer that keeps a policy until its alarms are cleaned up.
pub const FINALIZER: &str = "dialtone.io/cleanup";
/// The field manager of everything dialtone writes (status only).
pub const FIELD_MANAGER: &str = "dialtone";
const KIND: &str = "AlarmPolicy";
/// Per-object backoff after errors: 5 s doubling to 5 min.
const BACKOFF_START: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub engine: tokio::sync::Mutex<AlarmEngine>,
    pub recorder: Recorder,
    pub resync: Duration,
    /// Consecutive failures per object, for backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Events already published per object, so a resync repeats none of them.
    published: Mutex<HashMap<String, BTreeSet<String>>>,
}

impl Context {
    pub fn new(
        client: Client,
        engine: AlarmEngine,
        resync: Duration,
        instance: Option<String>,
    ) -> Self {
        let reporter = Reporter {
            controller: "dialtone".into(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            engine: tokio::sync::Mutex::new(engine),
            resync,
            failures: Mutex::new(HashMap::new()),
            published: Mutex::new(HashMap::new()),
        }
    }
}

/// The AlarmPolicy resource, for untyped APIs.
pub fn resource() -> ApiResource {
    ApiResource::erase::<AlarmPolicy>(&())
}

/// What can fail in a reconcile. The finalizer helper wraps these.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("AWS: {0}")]
    Aws(#[from] AwsError),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Finalizer(String),
}

impl ReconcileError {
    /// For metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            ReconcileError::Aws(_) => "aws",
            ReconcileError::Kube(_) => "kubernetes",
            ReconcileError::Finalizer(_) => "finalizer",
        }
    }
}

fn key(object: &DynamicObject) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

/// Reconciles one AlarmPolicy.
#[tracing::instrument(skip_all, fields(kind = KIND, object = %key(&object)))]
pub async fn reconcile(
    object: Arc<DynamicObject>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let _timer = Metrics::global().reconcile_timer(KIND);
    let namespace = object.namespace().unwrap_or_else(|| "default".into());
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &namespace, &resource());
    let result = finalizer(&api, FINALIZER, object.clone(), |event| async {
        match event {
            Finalizer::Apply(object) => apply(&object, &api, &ctx).await,
            Finalizer::Cleanup(object) => cleanup(&object, &ctx).await,
        }
    })
    .await;
    match result {
        Ok(action) => {
            ctx.failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key(&object));
            Metrics::global().reconciled(KIND, "ok");
            Ok(action)
        }
        Err(err) => {
            Metrics::global().reconciled(KIND, "error");
            Err(match err {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
                other => ReconcileError::Finalizer(other.to_string()),
            })
        }
    }
}

/// Backoff after a failed reconcile: 5 s, 10 s, 20 s ... 5 min, per object.
pub fn error_policy(object: Arc<DynamicObject>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    let mut failures = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
    let count = failures.entry(key(&object)).or_insert(0);
    *count += 1;
    let wait = BACKOFF_START
        .saturating_mul(2u32.saturating_pow(count.saturating_sub(1).min(10)))
        .min(BACKOFF_MAX);
    tracing::warn!(object = %key(&object), category = err.category(), error = %err, retry_in = ?wait, "reconcile failed");
    Action::requeue(wait)
}

/// The resync, with up to 10 % jitter so policies do not sweep in lockstep.
fn resync(ctx: &Context, object: &DynamicObject) -> Action {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(key(object).as_bytes());
    let fraction = (hasher.finish() % 100) as f64 / 1000.0;
    Action::requeue(ctx.resync + ctx.resync.mul_f64(fraction))
}

async fn apply(
    object: &DynamicObject,
    api: &Api<DynamicObject>,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let generation = object.metadata.generation;
    let previous: Option<AlarmPolicyStatus> = object
        .data
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok());
    let base = StatusBase {
        generation,
        conditions: previous
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default(),
    };
    let value =
        serde_json::to_value(object).map_err(|e| ReconcileError::Finalizer(e.to_string()))?;
    let policy = match validate::object(&without_status(value)) {
        Ok(Object::AlarmPolicy(policy)) => policy,
        Ok(_) => return Ok(Action::await_change()),
        Err(invalid) => {
            write_status(
                api,
                object,
                &invalid_status(&invalid, &base, Timestamp::now()),
            )
            .await?;
            publish_once(
                ctx,
                object,
                EventType::Warning,
                "InvalidSpec",
                &format!("{generation:?}"),
                &invalid_note(&invalid),
            )
            .await;
            // Nothing reaches AWS; wait for a spec change (the resync re-checks as a safety net).
            return Ok(resync(ctx, object));
        }
    };
    let mut policy = policy;
    policy.status = previous.clone();
    let outcome = {
        let mut engine = ctx.engine.lock().await;
        engine
            .reconcile(std::slice::from_ref(&policy), Mode::Apply, Timestamp::now())
            .await
            .into_iter()
            .next()
    };
    let Some(outcome) = outcome else {
        return Ok(resync(ctx, object));
    };
    record_metrics(&outcome);
    write_status(api, object, &outcome.status).await?;
    let spec_changed = previous.and_then(|s| s.observed_generation) != generation;
    publish_outcome(ctx, object, &outcome, spec_changed).await;
    match outcome.errors.into_iter().next() {
        Some(err) => Err(err.into()),
        None => Ok(resync(ctx, object)),
    }
}

async fn cleanup(object: &DynamicObject, ctx: &Context) -> Result<Action, ReconcileError> {
    // The status carries the footprint (regions and names written); a status that does not
    // deserialize costs only that record, never the cleanup.
    let value = serde_json::to_value(object).ok();
    let policy: Option<AlarmPolicy> = value
        .clone()
        .and_then(|v| serde_json::from_value(without_status(v)).ok())
        .map(|mut policy: AlarmPolicy| {
            policy.status = value
                .as_ref()
                .and_then(|v| v.get("status"))
                .and_then(|s| serde_json::from_value(s.clone()).ok());
            policy
        });
    let Some(policy) = policy else {
        tracing::warn!(object = %key(object), "deleting an AlarmPolicy that does not deserialize: its region is unknown, alarms are left in place");
        return Ok(Action::await_change());
    };
    let kept = match (policy.spec.deletion_policy, policy.spec.management_policy) {
        (DeletionPolicy::Retain, _) => Some("deletionPolicy Retain: alarms stay in CloudWatch"),
        (_, ManagementPolicy::Observe) => Some(
            "managementPolicy Observe: dialtone never wrote these alarms' configuration and never deletes them",
        ),
        _ => None,
    };
    if let Some(note) = kept {
        publish_once(ctx, object, EventType::Normal, "Retained", "delete", note).await;
        return Ok(Action::await_change());
    }
    let outcome = ctx
        .engine
        .lock()
        .await
        .cleanup(&policy, Timestamp::now())
        .await;
    Metrics::global().alarm_states(&owner_of(&policy), BTreeMap::new());
    let deleted = match outcome {
        Some(outcome) => {
            if let Some(err) = outcome.errors.into_iter().next() {
                return Err(err.into());
            }
            outcome
                .done
                .iter()
                .chain(outcome.elsewhere.iter().flat_map(|e| &e.done))
                .count()
        }
        None => 0,
    };
    publish_once(
        ctx,
        object,
        EventType::Normal,
        "Deleted",
        "delete",
        &format!("deleted {deleted} alarm(s)"),
    )
    .await;
    Ok(Action::await_change())
}

fn without_status(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    value
}

fn invalid_note(invalid: &InvalidSpec) -> String {
    invalid
        .errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Server-side apply of the status subresource, as field manager `dialtone`; never spec or labels.
async fn write_status(
    api: &Api<DynamicObject>,
    object: &DynamicObject,
    status: &AlarmPolicyStatus,
) -> Result<(), kube::Error> {
    let patch = json!({"apiVersion": API_VERSION, "kind": KIND, "status": status});
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map(|_| ())
}

/// One event per kind of change in this reconcile, naming the alarms (the API server keeps events
/// small; a thousand alarms created at once are one event, not a thousand).
async fn publish_outcome(
    ctx: &Context,
    object: &DynamicObject,
    outcome: &PolicyOutcome,
    spec_changed: bool,
) {
    let mut by_reason: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (_, change) in outcome.all_done() {
        // Without a spec change, any write puts back what someone changed outside dialtone.
        let (reason, what) = match change {
            Change::Create { alarm } if spec_changed => {
                ("Created", alarm.config.alarm_name.clone())
            }
            Change::Create { alarm } => (
                "DriftCorrected",
                format!("{} (re-created)", alarm.config.alarm_name),
            ),
            Change::Update { alarm, .. } | Change::Adopt { alarm, .. } if spec_changed => {
                ("Updated", alarm.config.alarm_name.clone())
            }
            Change::Update { alarm, drift } | Change::Adopt { alarm, drift, .. } => (
                "DriftCorrected",
                format!(
                    "{} ({})",
                    alarm.config.alarm_name,
                    drift
                        .iter()
                        .map(|d| format!("{} {:?} -> {:?}", d.field, d.actual, d.desired))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Change::Tag { alarm_name, .. } if spec_changed => {
                ("Updated", format!("{alarm_name} (tags)"))
            }
            Change::Tag { alarm_name, .. } => ("DriftCorrected", format!("{alarm_name} (tags)")),
            Change::Untag {
                alarm_name, keys, ..
            } => (
                "Updated",
                format!("{alarm_name} (removed tags {})", keys.join(", ")),
            ),
            Change::Delete { alarm_name } => ("Deleted", alarm_name.clone()),
        };
        by_reason.entry(reason).or_default().push(what);
    }
    for (reason, alarms) in by_reason {
        let verb = match reason {
            "Created" => "created",
            "Deleted" => "deleted",
            "Updated" => "updated",
            _ => "corrected",
        };
        let note = format!("{verb} {} alarm(s): {}", alarms.len(), alarms.join("; "));
        publish(ctx, object, EventType::Normal, reason, &note).await;
    }
    for alarm in &outcome.status.alarms {
        if let Some(conflict) = &alarm.conflict {
            let note = format!("{}: {conflict}", alarm.alarm_name);
            publish_once(ctx, object, EventType::Warning, "Conflict", &note, &note).await;
        }
    }
    for err in &outcome.errors {
        let note = err.to_string();
        publish_once(ctx, object, EventType::Warning, "AwsError", &note, &note).await;
    }
}

/// Publishes an event unless the same (reason, occurrence) was already published for the object.
async fn publish_once(
    ctx: &Context,
    object: &DynamicObject,
    kind: EventType,
    reason: &str,
    occurrence: &str,
    note: &str,
) {
    let seen = format!("{reason}/{occurrence}");
    let first = ctx
        .published
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key(object))
        .or_default()
        .insert(seen);
    if first {
        publish(ctx, object, kind, reason, note).await;
    }
}

async fn publish(ctx: &Context, object: &DynamicObject, kind: EventType, reason: &str, note: &str) {
    let event = Event {
        type_: kind,
        reason: reason.to_string(),
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    if let Err(err) = ctx
        .recorder
        .publish(&event, &object.object_ref(&resource()))
        .await
    {
        tracing::warn!(object = %key(object), error = %err, "could not publish event");
    }
}

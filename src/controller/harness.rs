//! The cluster harness every kind shares: the finalizer (only for kinds that own AWS resources),
//! validation of what the API server holds (an object that does not deserialize becomes an
//! InvalidSpec status on that object, never a broken watch), status by server-side apply, events,
//! per-object backoff, and metrics. Each kind adds only its own work, as a [`Reconciler`].

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::status::StatusBase;
use crate::api::{API_VERSION, Object};
use crate::aws::AwsError;
use crate::metrics::Metrics;
use crate::validate::{self, InvalidSpec};

/// The finalizer that keeps an object until what it owns in AWS is cleaned up.
pub const FINALIZER: &str = "dialtone.io/cleanup";
/// The field manager of everything dialtone writes (status only).
pub const FIELD_MANAGER: &str = "dialtone";
/// Per-object backoff after errors: 5 s doubling to 5 min.
const BACKOFF_START: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// An event to publish on the object.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub warning: bool,
    pub reason: String,
    pub message: String,
    /// Published once per object for this occurrence (a resync repeats nothing); None: every time.
    pub once: Option<String>,
    /// Another object the event is about instead (a window an emergency change went around).
    pub regarding: Option<k8s_openapi::api::core::v1::ObjectReference>,
}

impl Note {
    pub fn normal(reason: &str, message: impl Into<String>) -> Self {
        Self {
            warning: false,
            reason: reason.to_string(),
            message: message.into(),
            once: None,
            regarding: None,
        }
    }

    pub fn warning(reason: &str, message: impl Into<String>) -> Self {
        Self {
            warning: true,
            ..Self::normal(reason, message)
        }
    }

    /// About `object` instead of the reconciled one.
    pub fn regarding(mut self, object: k8s_openapi::api::core::v1::ObjectReference) -> Self {
        self.regarding = Some(object);
        self
    }

    /// Published only the first time this occurrence is seen for the object.
    pub fn once(mut self, occurrence: impl Into<String>) -> Self {
        self.once = Some(occurrence.into());
        self
    }
}

/// What one reconcile of a valid object did.
#[derive(Debug)]
pub struct Applied<S> {
    pub status: S,
    pub notes: Vec<Note>,
    /// The first AWS error, if any: the object is retried with backoff.
    pub error: Option<AwsError>,
    /// When to look again, exactly (None: the resync, with jitter).
    pub requeue: Option<Duration>,
}

/// One kind in a cluster: its types and its own work; the harness does the rest.
pub trait Reconciler: Send + Sync + Sized + 'static {
    /// `kind:` as manifests spell it.
    const KIND: &'static str;
    /// Whether objects of the kind own AWS resources: then a finalizer holds each object until
    /// [`Reconciler::cleanup`] succeeded.
    const OWNS_AWS_RESOURCES: bool;
    type Object: Send + Sync;
    type Status: Serialize + DeserializeOwned + Clone + PartialEq + Send + Sync;

    fn resource() -> ApiResource;
    /// The typed object, if `object` is of this kind.
    fn typed(object: Object) -> Option<Self::Object>;
    fn invalid_status(invalid: &InvalidSpec, base: &StatusBase, now: Timestamp) -> Self::Status;
    fn conditions(status: &Self::Status) -> &[Condition];

    /// Reconciles a valid object whose last status was `previous`.
    fn apply(
        &self,
        object: Self::Object,
        previous: Option<Self::Status>,
        base: StatusBase,
    ) -> impl Future<Output = Applied<Self::Status>> + Send;

    /// Cleans up after an object being deleted (kinds that own AWS resources only). `object` is
    /// the raw object: one that no longer deserializes still gets its say.
    fn cleanup(
        &self,
        object: &DynamicObject,
    ) -> impl Future<Output = Result<Vec<Note>, ReconcileError>> + Send;
}

/// What every reconcile of one kind shares.
pub struct Context<K> {
    pub client: Client,
    pub kind: K,
    pub recorder: Recorder,
    pub resync: Duration,
    /// Consecutive failures per object, for backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Events already published per object, so a resync repeats none of them.
    published: Mutex<HashMap<String, BTreeSet<String>>>,
}

impl<K> Context<K> {
    pub fn new(client: Client, kind: K, resync: Duration, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: "dialtone".into(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            kind,
            resync,
            failures: Mutex::new(HashMap::new()),
            published: Mutex::new(HashMap::new()),
        }
    }
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

pub fn key(object: &DynamicObject) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

/// Reconciles one object of kind `K`.
#[tracing::instrument(skip_all, fields(kind = K::KIND, object = %key(&object)))]
pub async fn reconcile<K: Reconciler>(
    object: Arc<DynamicObject>,
    ctx: Arc<Context<K>>,
) -> Result<Action, ReconcileError> {
    let _timer = Metrics::global().reconcile_timer(K::KIND);
    let namespace = object.namespace().unwrap_or_else(|| "default".into());
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &namespace, &K::resource());
    let result = if K::OWNS_AWS_RESOURCES {
        finalizer(&api, FINALIZER, object.clone(), |event| async {
            match event {
                Finalizer::Apply(object) => apply(&object, &api, &ctx).await,
                Finalizer::Cleanup(object) => cleanup(&object, &ctx).await,
            }
        })
        .await
        .map_err(|err| match err {
            kube::runtime::finalizer::Error::ApplyFailed(e)
            | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
            other => ReconcileError::Finalizer(other.to_string()),
        })
    } else if object.meta().deletion_timestamp.is_some() {
        Ok(Action::await_change())
    } else {
        apply(&object, &api, &ctx).await
    };
    match result {
        Ok(action) => {
            ctx.failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key(&object));
            Metrics::global().reconciled(K::KIND, "ok");
            Ok(action)
        }
        Err(err) => {
            Metrics::global().reconciled(K::KIND, "error");
            Err(err)
        }
    }
}

/// Backoff after a failed reconcile: 5 s, 10 s, 20 s ... 5 min, per object.
pub fn error_policy<K: Reconciler>(
    object: Arc<DynamicObject>,
    err: &ReconcileError,
    ctx: Arc<Context<K>>,
) -> Action {
    let mut failures = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
    let count = failures.entry(key(&object)).or_insert(0);
    *count += 1;
    let wait = BACKOFF_START
        .saturating_mul(2u32.saturating_pow(count.saturating_sub(1).min(10)))
        .min(BACKOFF_MAX);
    tracing::warn!(kind = K::KIND, object = %key(&object), category = err.category(), error = %err, retry_in = ?wait, "reconcile failed");
    Action::requeue(wait)
}

/// `wait`, with up to 10 % jitter so objects do not come back in lockstep.
fn jittered(wait: Duration, object: &DynamicObject) -> Action {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(key(object).as_bytes());
    let fraction = (hasher.finish() % 100) as f64 / 1000.0;
    Action::requeue(wait + wait.mul_f64(fraction))
}

fn without_status(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    value
}

/// The status stored on the object, when it reads as this kind's status.
fn stored_status<K: Reconciler>(object: &DynamicObject) -> Option<K::Status> {
    object
        .data
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
}

async fn apply<K: Reconciler>(
    object: &DynamicObject,
    api: &Api<DynamicObject>,
    ctx: &Context<K>,
) -> Result<Action, ReconcileError> {
    let generation = object.metadata.generation;
    let previous = stored_status::<K>(object);
    let base = StatusBase {
        generation,
        conditions: previous
            .as_ref()
            .map(|s| K::conditions(s).to_vec())
            .unwrap_or_default(),
    };
    let value =
        serde_json::to_value(object).map_err(|e| ReconcileError::Finalizer(e.to_string()))?;
    let typed = match validate::object(&without_status(value)) {
        Ok(valid) => K::typed(valid),
        Err(invalid) => {
            let status = K::invalid_status(&invalid, &base, Timestamp::now());
            Metrics::global().object_conditions(
                K::KIND,
                &key(object),
                K::conditions(&status),
                false,
            );
            write_status::<K>(api, object, previous.as_ref(), &status).await?;
            let message = invalid
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            let note = Note::warning("InvalidSpec", message).once(format!("{generation:?}"));
            publish(ctx, object, &note).await;
            // Nothing reaches AWS; wait for a spec change (the resync re-checks as a safety net).
            return Ok(jittered(ctx.resync, object));
        }
    };
    let Some(typed) = typed else {
        return Ok(Action::await_change());
    };
    let applied = ctx.kind.apply(typed, previous.clone(), base).await;
    Metrics::global().object_conditions(
        K::KIND,
        &key(object),
        K::conditions(&applied.status),
        applied.error.is_none(),
    );
    write_status::<K>(api, object, previous.as_ref(), &applied.status).await?;
    for note in &applied.notes {
        publish(ctx, object, note).await;
    }
    match applied.error {
        Some(err) => Err(err.into()),
        // A kind's own time (a probe interval, a window boundary) is kept exactly when it comes
        // before the resync; the resync is spread so objects do not come back in lockstep.
        None => Ok(match applied.requeue {
            Some(wait) if wait <= ctx.resync => Action::requeue(wait),
            _ => jittered(ctx.resync, object),
        }),
    }
}

async fn cleanup<K: Reconciler>(
    object: &DynamicObject,
    ctx: &Context<K>,
) -> Result<Action, ReconcileError> {
    let notes = ctx.kind.cleanup(object).await?;
    Metrics::global().forget_object(K::KIND, &key(object));
    for note in &notes {
        publish(ctx, object, note).await;
    }
    ctx.published
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&key(object));
    Ok(Action::await_change())
}

/// Server-side apply of the status subresource, as field manager `dialtone`; never spec or labels.
/// Skipped when the status is what the object already holds.
async fn write_status<K: Reconciler>(
    api: &Api<DynamicObject>,
    object: &DynamicObject,
    previous: Option<&K::Status>,
    status: &K::Status,
) -> Result<(), kube::Error> {
    if previous == Some(status) {
        return Ok(());
    }
    let patch = json!({"apiVersion": API_VERSION, "kind": K::KIND, "status": status});
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map(|_| ())
}

/// Publishes an event, unless it is a `once` note already published for the object.
pub async fn publish<K: Reconciler>(ctx: &Context<K>, object: &DynamicObject, note: &Note) {
    if let Some(occurrence) = &note.once {
        let first = ctx
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key(object))
            .or_default()
            .insert(format!("{}/{occurrence}", note.reason));
        if !first {
            return;
        }
    }
    let event = Event {
        type_: if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: note.reason.clone(),
        note: Some(note.message.chars().take(1000).collect()),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    let about = note
        .regarding
        .clone()
        .unwrap_or_else(|| object.object_ref(&K::resource()));
    if let Err(err) = ctx.recorder.publish(&event, &about).await {
        tracing::warn!(object = %key(object), error = %err, "could not publish event");
    }
}

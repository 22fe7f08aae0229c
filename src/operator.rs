//! `dialtone run` in a cluster: leader election, one controller per kind, HTTP endpoints.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector;
use kube::runtime::utils::{Predicate, WatchStreamExt, predicates};
use kube::runtime::watcher;
use kube::{Client, Resource};
use tokio::sync::watch;

use crate::aws::AwsClients;
use crate::controller::AlarmEngine;
use crate::controller::cluster::{
    self, AlarmPolicies, Context, FailoverPlans, PlanContextOf, RegionContext, Regions,
    WindowContext, Windows,
};
use crate::http::Health;
use crate::lease::{LeaderLease, Leadership, RENEW_EVERY};
use crate::metrics::Metrics;

/// How `dialtone run` watches and elects.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Watch one namespace; all when None.
    pub namespace: Option<String>,
    /// Only objects matching this label selector (to shard objects across instances).
    pub selector: Option<String>,
    pub resync: Duration,
    /// Lease name and namespace for leader election.
    pub lease_name: String,
    pub lease_namespace: String,
    /// This instance's identity in the lease (the pod name in a cluster).
    pub identity: String,
}

/// Why the operator stopped other than by a signal.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("leader election: {0}")]
    Lease(#[source] kube::Error),
    #[error("lost the leader lease to another instance; stopping so that only one reconciles")]
    LostLease,
}

/// Waits until this instance holds the lease, then reconciles until `shutdown` turns true or the
/// lease is lost. Releases the lease on the way out.
pub async fn run(
    client: Client,
    aws: Arc<AwsClients>,
    options: ClusterOptions,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), OperatorError> {
    let lease = LeaderLease::new(
        Api::<Lease>::namespaced(client.clone(), &options.lease_namespace),
        options.lease_name.clone(),
        options.identity.clone(),
    );
    loop {
        match lease.try_acquire(Timestamp::now()).await {
            Ok(Leadership::Leader) => break,
            Ok(Leadership::Follower) => health.set_ready(),
            Err(err) => tracing::warn!(error = %err, "leader election: could not read the lease"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RENEW_EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
    }
    tracing::info!(identity = %options.identity, "leading: reconciling");
    Metrics::global().set_leader(true);

    let result = tokio::select! {
        _ = controller(client, aws, &options, health) => Ok(()),
        lost = keep(&lease) => lost,
        _ = shutdown.wait_for(|stop| *stop) => Ok(()),
    };
    Metrics::global().set_leader(false);
    if let Err(err) = lease.release().await {
        tracing::warn!(error = %err, "could not release the leader lease; it expires by itself");
    }
    result
}

/// Renews the lease until it is lost.
async fn keep(lease: &LeaderLease) -> Result<(), OperatorError> {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match lease.try_acquire(Timestamp::now()).await {
            Ok(Leadership::Leader) => {}
            Ok(Leadership::Follower) => return Err(OperatorError::LostLease),
            // A blip talking to the API server: the lease outlives a few missed renewals.
            Err(err) => tracing::warn!(error = %err, "could not renew the leader lease"),
        }
    }
}

/// One kind watched into a store: the store's reader, and every object as it is applied.
fn reflected(
    client: &Client,
    resource: &kube::api::ApiResource,
    options: &ClusterOptions,
) -> (
    reflector::Store<DynamicObject>,
    impl futures::Stream<Item = Result<DynamicObject, watcher::Error>> + Send + 'static,
) {
    let (api, config) = watch(client, resource, options);
    let writer = reflector::store::Writer::new(resource.clone());
    let reader = writer.as_reader();
    let objects = watcher(api, config)
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    (reader, objects)
}

/// The objects that need a reconcile of their own: spec (generation), finalizer and deletion
/// changes; status writes do not.
fn reconciled(
    objects: impl futures::Stream<Item = Result<DynamicObject, watcher::Error>> + Send + 'static,
) -> impl futures::Stream<Item = Result<DynamicObject, watcher::Error>> + Send + 'static {
    objects.predicate_filter(
        predicates::generation
            .combine(predicates::finalizers)
            .combine(changed),
        Default::default(),
    )
}

/// The watch of one kind: its API (one namespace or all), with the `--selector` labels.
fn watch(
    client: &Client,
    resource: &kube::api::ApiResource,
    options: &ClusterOptions,
) -> (Api<DynamicObject>, watcher::Config) {
    let api: Api<DynamicObject> = match &options.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, resource),
        None => Api::all_with(client.clone(), resource),
    };
    let mut config = watcher::Config::default();
    if let Some(selector) = &options.selector {
        config = config.labels(selector);
    }
    (api, config)
}

/// Status writes do not change the generation: they never trigger a reconcile of their own object.
/// Spec changes, finalizer changes and deletion do; drift is found by the periodic resync.
fn changed(object: &DynamicObject) -> Option<u64> {
    object.meta().deletion_timestamp.as_ref().map(|_| 1u64)
}

/// One controller per kind on the shared harness. AlarmPolicies are watched once: the watch feeds
/// their controller and the store regions read their policies from, and a policy's change (its
/// status carries its alarms' states) wakes the regions that count it.
async fn controller(
    client: Client,
    aws: Arc<AwsClients>,
    options: &ClusterOptions,
    health: Arc<Health>,
) {
    let region_resource = cluster::region_resource();
    let (region_reader, region_objects) = reflected(&client, &region_resource, options);
    let region_stream = reconciled(region_objects);
    let window_resource = cluster::window_resource();
    let (window_reader, window_objects) = reflected(&client, &window_resource, options);
    let window_stream = reconciled(window_objects);
    let plan_resource = cluster::plan_resource();
    let (plan_reader, plan_objects) = reflected(&client, &plan_resource, options);
    let plan_stream = reconciled(plan_objects);

    // Every change of a policy, status writes included (its alarms' states), wakes the regions
    // that count it and the windows that mute it; only spec, finalizer and deletion changes
    // reconcile the policy itself.
    let (wake, woken) = futures::channel::mpsc::unbounded();
    let (wake_window, woken_windows) = futures::channel::mpsc::unbounded();
    let selecting = region_reader.clone();
    let muting = window_reader.clone();
    let policy_resource = cluster::resource();
    let (policy_reader, policy_objects) = reflected(&client, &policy_resource, options);
    let policy_stream = reconciled(policy_objects.inspect_ok(move |policy| {
        // The receivers live as long as their controllers; a send can only fail while
        // shutting down.
        for region in cluster::regions_selecting(&selecting, policy) {
            let _ = wake.unbounded_send(region);
        }
        for window in cluster::windows_selecting(&muting, policy) {
            let _ = wake_window.unbounded_send(window);
        }
    }));

    let identity = Some(options.identity.clone());
    let policies = Arc::new(Context::new(
        client.clone(),
        AlarmPolicies::new(
            AlarmEngine::new(aws.clone()),
            window_reader.clone(),
            policy_reader.clone(),
            options.resync,
        ),
        options.resync,
        identity.clone(),
    ));
    let regions = Arc::new(RegionContext::new(
        client.clone(),
        Regions::new(aws.clone(), policy_reader.clone()),
        options.resync,
        identity.clone(),
    ));
    let windows = Arc::new(WindowContext::new(
        client.clone(),
        Windows::new(aws.clone(), policy_reader.clone(), window_reader.clone()),
        options.resync,
        identity.clone(),
    ));
    let plans = Arc::new(PlanContextOf::new(
        client,
        FailoverPlans::new(aws, region_reader.clone(), window_reader.clone()),
        options.resync,
        identity,
    ));
    let stores = (
        policy_reader.clone(),
        region_reader.clone(),
        window_reader.clone(),
        plan_reader.clone(),
    );
    tokio::spawn(async move {
        if stores.0.wait_until_ready().await.is_ok()
            && stores.1.wait_until_ready().await.is_ok()
            && stores.2.wait_until_ready().await.is_ok()
            && stores.3.wait_until_ready().await.is_ok()
        {
            health.set_ready();
        }
    });
    let config = ControllerConfig::default().concurrency(4);
    let policy_controller =
        Controller::for_stream_with(policy_stream, policy_reader, policy_resource.clone())
            .with_config(config.clone())
            .run(
                cluster::reconcile::<AlarmPolicies>,
                cluster::error_policy::<AlarmPolicies>,
                policies,
            )
            .for_each(log_result);
    let region_controller =
        Controller::for_stream_with(region_stream, region_reader, region_resource)
            .reconcile_on(woken)
            .with_config(config)
            .run(
                cluster::reconcile::<Regions>,
                cluster::error_policy::<Regions>,
                regions,
            )
            .for_each(log_result);
    let window_controller =
        Controller::for_stream_with(window_stream, window_reader, window_resource)
            .reconcile_on(woken_windows)
            .with_config(ControllerConfig::default().concurrency(4))
            .run(
                cluster::reconcile::<Windows>,
                cluster::error_policy::<Windows>,
                windows,
            )
            .for_each(log_result);
    // A failover holds its plan's reconcile for up to minutes (waits are bounded); plans do not
    // wait for each other.
    let plan_controller = Controller::for_stream_with(plan_stream, plan_reader, plan_resource)
        .with_config(ControllerConfig::default().concurrency(4))
        .run(
            cluster::reconcile::<FailoverPlans>,
            cluster::error_policy::<FailoverPlans>,
            plans,
        )
        .for_each(log_result);
    futures::join!(
        policy_controller,
        region_controller,
        window_controller,
        plan_controller
    );
}

async fn log_result<T, E: std::fmt::Display>(result: Result<T, E>) {
    if let Err(err) = result {
        tracing::debug!(error = %err, "reconcile error");
    }
}

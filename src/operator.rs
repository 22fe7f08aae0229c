//! `dialtone run` in a cluster: leader election, the AlarmPolicy controller, HTTP endpoints.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
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
use crate::controller::cluster::{self, Context};
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

async fn controller(
    client: Client,
    aws: Arc<AwsClients>,
    options: &ClusterOptions,
    health: Arc<Health>,
) {
    let resource = cluster::resource();
    let api: Api<DynamicObject> = match &options.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let mut config = watcher::Config::default();
    if let Some(selector) = &options.selector {
        config = config.labels(selector);
    }
    let writer = reflector::store::Writer::new(resource.clone());
    let reader = writer.as_reader();
    // Status writes do not change the generation: they never trigger a reconcile. Spec changes,
    // finalizer changes and deletion do; drift is found by the periodic resync.
    let deletion = |o: &DynamicObject| o.meta().deletion_timestamp.as_ref().map(|_| 1u64);
    let stream = watcher(api, config)
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation
                .combine(predicates::finalizers)
                .combine(deletion),
            Default::default(),
        );
    let ctx = Arc::new(Context::new(
        client,
        AlarmEngine::new(aws),
        options.resync,
        Some(options.identity.clone()),
    ));
    let ready_reader = reader.clone();
    tokio::spawn(async move {
        if ready_reader.wait_until_ready().await.is_ok() {
            health.set_ready();
        }
    });
    Controller::for_stream_with(stream, reader, resource)
        .with_config(ControllerConfig::default().concurrency(4))
        .run(cluster::reconcile, cluster::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "reconcile error");
            }
        })
        .await;
}

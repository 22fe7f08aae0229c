//! Prometheus metrics, served on /metrics by both `run` modes.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub kind: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsLabels {
    pub service: String,
    pub operation: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegionLabels {
    pub namespace: String,
    pub name: String,
    pub health: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailoverLabels {
    pub namespace: String,
    pub name: String,
    pub trigger: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

/// What the metrics say of one object after its reconcile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectHealth {
    /// Its Ready condition is True.
    pub ready: bool,
    /// Of an AlarmPolicy: alarms that differ from the spec, and alarms in conflict.
    pub alarms: Option<(usize, usize)>,
    /// The reconcile reached AWS without an error.
    pub succeeded: bool,
}

/// Every metric dialtone exports.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    duration: Family<KindLabels, Histogram>,
    aws_requests: Family<AwsLabels, Counter>,
    drift_found: Family<KindLabels, Counter>,
    drift_corrected: Family<KindLabels, Counter>,
    alarms: Family<StateLabels, Gauge>,
    leader: Gauge,
    manifest_errors: Gauge,
    region_health: Family<RegionLabels, Gauge>,
    failovers: Family<FailoverLabels, Counter>,
    failover_duration: Histogram,
    sweep_duration: Histogram,
    object_ready: Family<ObjectLabels, Gauge>,
    object_drifted: Family<ObjectLabels, Gauge>,
    object_conflicts: Family<ObjectLabels, Gauge>,
    last_success: Family<ObjectLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Alarms by state per policy, summed into `alarms`.
    states: Mutex<BTreeMap<String, BTreeMap<String, i64>>>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("dialtone");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
        });
        let aws_requests = Family::<AwsLabels, Counter>::default();
        let drift_found = Family::<KindLabels, Counter>::default();
        let drift_corrected = Family::<KindLabels, Counter>::default();
        let alarms = Family::<StateLabels, Gauge>::default();
        let leader = Gauge::default();
        let manifest_errors = Gauge::default();
        let region_health = Family::<RegionLabels, Gauge>::default();
        let failovers = Family::<FailoverLabels, Counter>::default();
        let failover_duration =
            Histogram::new([1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0]);
        let sweep_duration = Histogram::new([0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]);
        let object_ready = Family::<ObjectLabels, Gauge>::default();
        let object_drifted = Family::<ObjectLabels, Gauge>::default();
        let object_conflicts = Family::<ObjectLabels, Gauge>::default();
        let last_success =
            Family::<ObjectLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        registry.register(
            "build_info",
            "1, labelled with the running dialtone's version",
            build_info,
        );
        registry.register(
            "sweep_duration_seconds",
            "Duration of one sweep of every object of the manifest path (run --manifests)",
            sweep_duration.clone(),
        );
        registry.register(
            "object_ready",
            "1 while an object's Ready condition is True, by kind, namespace and name",
            object_ready.clone(),
        );
        registry.register(
            "object_drifted_alarms",
            "Alarms of an AlarmPolicy that differ from its spec (not yet corrected, or Observe)",
            object_drifted.clone(),
        );
        registry.register(
            "object_conflicts",
            "Alarms of an AlarmPolicy in conflict with another owner",
            object_conflicts.clone(),
        );
        registry.register(
            "last_success_timestamp_seconds",
            "When an object was last reconciled without an AWS error (Unix time)",
            last_success.clone(),
        );
        registry.register(
            "failovers",
            "Failovers carried out, by plan, trigger (spec, automatic, drill) and result (succeeded, failed)",
            failovers.clone(),
        );
        registry.register(
            "failover_duration_seconds",
            "Time from the decision to a validated failover",
            failover_duration.clone(),
        );
        registry.register(
            "region_health",
            "1 for a ContactCenterRegion's current health (Healthy, Degraded, Unhealthy, Unknown), 0 for the others",
            region_health.clone(),
        );
        registry.register(
            "reconciles",
            "Reconciles by kind and result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            duration.clone(),
        );
        registry.register(
            "aws_requests",
            "AWS requests by service, operation and outcome",
            aws_requests.clone(),
        );
        registry.register(
            "drift_found",
            "Alarm fields found differing from the spec",
            drift_found.clone(),
        );
        registry.register(
            "drift_corrected",
            "Alarm fields put back to the spec",
            drift_corrected.clone(),
        );
        registry.register(
            "alarms",
            "Managed alarms by CloudWatch state",
            alarms.clone(),
        );
        registry.register(
            "leader",
            "1 while this instance holds the leader lease",
            leader.clone(),
        );
        registry.register(
            "manifest_errors",
            "Manifest files, documents and objects that could not be used in the last load (run --manifests); while a file cannot be loaded or an object is declared twice, nothing is deleted",
            manifest_errors.clone(),
        );
        Self {
            sweep_duration,
            object_ready,
            object_drifted,
            object_conflicts,
            last_success,
            manifest_errors,
            region_health,
            failovers,
            failover_duration,
            registry,
            reconciles,
            duration,
            aws_requests,
            drift_found,
            drift_corrected,
            alarms,
            leader,
            states: Mutex::new(BTreeMap::new()),
        }
    }

    /// The process-wide metrics.
    pub fn global() -> &'static Metrics {
        static METRICS: OnceLock<Metrics> = OnceLock::new();
        METRICS.get_or_init(Metrics::new)
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Starts timing a reconcile of `kind`; the duration is recorded when the guard drops.
    pub fn reconcile_timer(&self, kind: &str) -> ReconcileTimer<'_> {
        ReconcileTimer {
            metrics: self,
            kind: kind.to_string(),
            start: Instant::now(),
        }
    }

    pub fn reconciled(&self, kind: &str, result: &str) {
        self.reconciles
            .get_or_create(&ReconcileLabels {
                kind: kind.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    pub fn aws_request(&self, service: &str, operation: &str, outcome: &str) {
        self.aws_requests
            .get_or_create(&AwsLabels {
                service: service.to_string(),
                operation: operation.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn drift(&self, kind: &str, found: usize, corrected: usize) {
        let labels = KindLabels {
            kind: kind.to_string(),
        };
        self.drift_found.get_or_create(&labels).inc_by(found as u64);
        self.drift_corrected
            .get_or_create(&labels)
            .inc_by(corrected as u64);
    }

    /// Records the alarm states of one policy (an empty map when the policy is gone).
    pub fn alarm_states(&self, policy: &str, states: BTreeMap<String, i64>) {
        let mut all = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if states.is_empty() {
            all.remove(policy);
        } else {
            all.insert(policy.to_string(), states);
        }
        let mut totals: BTreeMap<&str, i64> = ["OK", "ALARM", "INSUFFICIENT_DATA"]
            .into_iter()
            .map(|s| (s, 0))
            .collect();
        for per_policy in all.values() {
            for (state, count) in per_policy {
                *totals.entry(state.as_str()).or_default() += count;
            }
        }
        for (state, count) in totals {
            self.alarms
                .get_or_create(&StateLabels {
                    state: state.to_string(),
                })
                .set(count);
        }
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Sets a region's health: 1 for `health`, 0 for the other three.
    pub fn region_health(
        &self,
        namespace: &str,
        name: &str,
        health: crate::api::contact_center_region::Health,
    ) {
        use crate::api::contact_center_region::Health;
        for candidate in [
            Health::Healthy,
            Health::Degraded,
            Health::Unhealthy,
            Health::Unknown,
        ] {
            self.region_health
                .get_or_create(&RegionLabels {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    health: format!("{candidate:?}"),
                })
                .set(i64::from(candidate == health));
        }
    }

    /// Forgets a region that is gone.
    pub fn forget_region(&self, namespace: &str, name: &str) {
        use crate::api::contact_center_region::Health;
        for candidate in [
            Health::Healthy,
            Health::Degraded,
            Health::Unhealthy,
            Health::Unknown,
        ] {
            self.region_health.remove(&RegionLabels {
                namespace: namespace.to_string(),
                name: name.to_string(),
                health: format!("{candidate:?}"),
            });
        }
    }

    /// Records a finished failover.
    pub fn failover(
        &self,
        namespace: &str,
        name: &str,
        trigger: &str,
        succeeded: bool,
        seconds: f64,
    ) {
        self.failovers
            .get_or_create(&FailoverLabels {
                namespace: namespace.to_string(),
                name: name.to_string(),
                trigger: trigger.to_string(),
                result: if succeeded { "succeeded" } else { "failed" }.to_string(),
            })
            .inc();
        self.failover_duration.observe(seconds);
    }

    /// Records where one object stands after its reconcile.
    pub fn object(&self, kind: &str, owner: &str, health: ObjectHealth) {
        let labels = object_labels(kind, owner);
        self.object_ready
            .get_or_create(&labels)
            .set(i64::from(health.ready));
        if let Some((drifted, conflicts)) = health.alarms {
            self.object_drifted
                .get_or_create(&labels)
                .set(i64::try_from(drifted).unwrap_or(i64::MAX));
            self.object_conflicts
                .get_or_create(&labels)
                .set(i64::try_from(conflicts).unwrap_or(i64::MAX));
        }
        if health.succeeded {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default();
            self.last_success.get_or_create(&labels).set(now);
        }
    }

    /// Records whether an object of `kind` is Ready (its conditions), and whether its reconcile
    /// succeeded, for kinds whose outcome holds no alarm counts.
    pub fn object_conditions(
        &self,
        kind: &str,
        owner: &str,
        conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
        succeeded: bool,
    ) {
        let ready = crate::api::conditions::find(conditions, crate::api::conditions::READY)
            .is_some_and(|c| c.status == "True");
        self.object(
            kind,
            owner,
            ObjectHealth {
                ready,
                alarms: None,
                succeeded,
            },
        );
    }

    /// Forgets an object that is gone.
    pub fn forget_object(&self, kind: &str, owner: &str) {
        let labels = object_labels(kind, owner);
        self.object_ready.remove(&labels);
        self.object_drifted.remove(&labels);
        self.object_conflicts.remove(&labels);
        self.last_success.remove(&labels);
    }

    /// Records one sweep of a manifest path.
    pub fn sweep_took(&self, seconds: f64) {
        self.sweep_duration.observe(seconds);
    }

    pub fn set_manifest_errors(&self, count: usize) {
        self.manifest_errors
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

/// Labels of the object `owner` (`<namespace>/<name>`).
fn object_labels(kind: &str, owner: &str) -> ObjectLabels {
    let (namespace, name) = owner.split_once('/').unwrap_or(("default", owner));
    ObjectLabels {
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}

/// Records a reconcile's duration when dropped, however the reconcile ends.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    kind: String,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .duration
            .get_or_create(&KindLabels {
                kind: self.kind.clone(),
            })
            .observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exported() {
        let metrics = Metrics::new();
        drop(metrics.reconcile_timer("AlarmPolicy"));
        metrics.reconciled("AlarmPolicy", "ok");
        metrics.aws_request("cloudwatch", "DescribeAlarms", "ok");
        metrics.drift("AlarmPolicy", 2, 1);
        metrics.alarm_states("ns/p", BTreeMap::from([("ALARM".to_string(), 2)]));
        metrics.set_leader(true);
        metrics.set_manifest_errors(3);
        metrics.failover("cc", "dr", "spec", true, 4.0);
        metrics.region_health(
            "cc",
            "use1",
            crate::api::contact_center_region::Health::Degraded,
        );
        let text = metrics.encode();
        for wanted in [
            "dialtone_reconcile_duration_seconds_count{kind=\"AlarmPolicy\"} 1",
            "dialtone_reconciles_total{kind=\"AlarmPolicy\",result=\"ok\"} 1",
            "dialtone_aws_requests_total{service=\"cloudwatch\",operation=\"DescribeAlarms\",outcome=\"ok\"} 1",
            "dialtone_drift_found_total{kind=\"AlarmPolicy\"} 2",
            "dialtone_drift_corrected_total{kind=\"AlarmPolicy\"} 1",
            "dialtone_alarms{state=\"ALARM\"} 2",
            "dialtone_alarms{state=\"OK\"} 0",
            "dialtone_leader 1",
            "dialtone_manifest_errors 3",
            "dialtone_failovers_total{namespace=\"cc\",name=\"dr\",trigger=\"spec\",result=\"succeeded\"} 1",
            "dialtone_failover_duration_seconds_count 1",
            "dialtone_region_health{namespace=\"cc\",name=\"use1\",health=\"Degraded\"} 1",
            "dialtone_region_health{namespace=\"cc\",name=\"use1\",health=\"Healthy\"} 0",
        ] {
            assert!(text.contains(wanted), "missing {wanted} in\n{text}");
        }
    }
}

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

    pub fn set_manifest_errors(&self, count: usize) {
        self.manifest_errors
            .set(i64::try_from(count).unwrap_or(i64::MAX));
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

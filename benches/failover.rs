//! Benchmark: the time from the decision to a validated failover, controller side, against the
//! local emulator with its traffic-distribution update delay set to zero.
//!
//!     cargo bench --bench failover
//!
//! One FailoverPlan (the traffic distribution and two record pairs under the alarm lever): the
//! peacetime sweep, then `activeRegion: secondary` (readiness -> one UpdateTrafficDistribution ->
//! the DNS lever published -> the checklist), then the failback. Prints wall time and AWS requests
//! per operation for each. The failback's figure includes waiting for the lever alarm to leave
//! ALARM: its minute must hold no 0 (the failover's own minute), by design (see the README).

#[path = "../tests/support/emulator.rs"]
#[allow(dead_code)]
mod emulator;

use std::collections::BTreeMap;
use std::time::Instant;

use dialtone::api::{ContactCenterRegion, ContactCenterRegionStatus, FailoverPlan};
use dialtone::controller::Mode;
use dialtone::controller::failover_plan::{FailoverEngine, PlanContext};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

fn report(label: &str, calls: &[String], seconds: f64, phase: &str) {
    let mut by_op: BTreeMap<&str, usize> = BTreeMap::new();
    for call in calls {
        *by_op.entry(call.as_str()).or_default() += 1;
    }
    println!("{label}: {seconds:.2} s, phase {phase}");
    for (op, n) in by_op {
        println!("    {n:>3}  {op}");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let emulator = emulator::Emulator::acquire().await;
    emulator.set_update_seconds(0);
    let (instance, group) = emulator.replicated_instance().await;
    let zone = emulator.hosted_zone("contact.example.com").await;
    let ready: ContactCenterRegionStatus = serde_json::from_value(json!({
        "health": "Healthy", "conditions": [{"type": "ReadyForTraffic", "status": "True",
            "reason": "Ready", "message": "ready", "lastTransitionTime": "2026-11-29T00:00:00Z"}],
    }))
    .expect("status");
    let region = |name: &str, region: &str| -> ContactCenterRegion {
        serde_json::from_value(json!({
            "apiVersion": "dialtone.io/v1alpha1", "kind": "ContactCenterRegion",
            "metadata": {"name": name, "namespace": "cc"},
            "spec": {"region": region, "instanceId": instance, "trafficDistributionGroupArn": group},
        }))
        .expect("region")
    };
    let (east, west) = (region("use1", "us-east-1"), region("usw2", "us-west-2"));
    let plan = |active: &str| -> FailoverPlan {
        serde_json::from_value(json!({
            "apiVersion": "dialtone.io/v1alpha1", "kind": "FailoverPlan",
            "metadata": {"name": "dr", "namespace": "cc"},
            "spec": {"primary": {"regionRef": "use1"}, "secondary": {"regionRef": "usw2"},
                     "activeRegion": active, "trafficDistribution": {"groupArn": group},
                     "dns": {"hostedZoneId": zone, "records": [
                         {"name": "chat.contact.example.com", "type": "CNAME",
                          "primary": "chat-use1.example.com", "secondary": "chat-usw2.example.com",
                          "healthCheck": {"protocol": "HTTPS", "path": "/health"}},
                         {"name": "api.contact.example.com", "type": "A",
                          "primary": "192.0.2.10", "secondary": "198.51.100.10"}]}},
        }))
        .expect("plan")
    };
    let engine = FailoverEngine::new(emulator.clients().await);
    let mut status = None;
    for (label, active) in [
        (
            "peacetime (first sweep: lever alarm, health checks, records)",
            "primary",
        ),
        ("failover: decision -> validated", "secondary"),
        ("failback: decision -> validated", "primary"),
    ] {
        let desired = plan(active);
        emulator.forget_calls();
        let started = Instant::now();
        let outcome = engine
            .reconcile(
                PlanContext {
                    plan: &desired,
                    primary: Some((&east, Some(&ready))),
                    secondary: Some((&west, Some(&ready))),
                    previous: status.as_ref(),
                    withheld: None,
                    announce: false,
                    drill_window: None,
                },
                Mode::Apply,
                Timestamp::now(),
            )
            .await;
        let seconds = started.elapsed().as_secs_f64();
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        let phase = outcome
            .status
            .phase
            .map(|p| format!("{p:?}"))
            .unwrap_or_default();
        report(label, &emulator.dialtone_calls(), seconds, &phase);
        status = Some(outcome.status);
    }
}

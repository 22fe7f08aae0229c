//! FailoverPlan in a cluster, by scenario, against kube's tower-test mock API server and the AWS
//! emulator: peacetime, then a commit that flips `activeRegion` is announced (status FailingOver,
//! an event, an immediate requeue, nothing written) and carried out by the next reconcile (one
//! UpdateTrafficDistribution in the target region, the lever, FailedOver, an event per step), and
//! deleting the plan deletes what it wrote before the finalizer goes.

mod support;

use std::sync::Arc;
use std::time::Duration;

use dialtone::controller::cluster::{self, FINALIZER, FailoverPlans, PlanContextOf};
use http::Method;
use kube::api::DynamicObject;
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::{Value, json};
use support::api_server::{ApiServer, Seen};
use support::emulator::Emulator;

struct Setup {
    group: String,
    zone: String,
    regions: Store<DynamicObject>,
}

/// The two regions as the informer holds them: probed, Healthy and ready for traffic.
async fn setup(emulator: &Emulator) -> Setup {
    let (instance, group) = emulator.replicated_instance().await;
    let zone = emulator.hosted_zone("contact.example.com").await;
    let mut writer = Writer::new(cluster::region_resource());
    for (name, region) in [("use1", "us-east-1"), ("usw2", "us-west-2")] {
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "dialtone.io/v1alpha1", "kind": "ContactCenterRegion",
            "metadata": {"name": name, "namespace": "cc", "uid": format!("uid-{name}")},
            "spec": {"region": region, "instanceId": instance, "trafficDistributionGroupArn": group},
            "status": {"health": "Healthy", "conditions": [{
                "type": "ReadyForTraffic", "status": "True", "reason": "Ready", "message": "ready",
                "lastTransitionTime": "2026-11-29T00:00:00Z"}]},
        }))
        .expect("region");
        writer.apply_watcher_event(&watcher::Event::Apply(object));
    }
    Setup {
        group,
        zone,
        regions: writer.as_reader(),
    }
}

fn plan(setup: &Setup, active: &str, generation: i64, status: Option<&Value>) -> Value {
    let mut plan = json!({
        "apiVersion": "dialtone.io/v1alpha1", "kind": "FailoverPlan",
        "metadata": {"name": "dr", "namespace": "cc", "generation": generation,
                     "uid": "5f6c1a2e-0000-4000-8000-000000000009", "resourceVersion": "7",
                     "finalizers": [FINALIZER]},
        "spec": {"primary": {"regionRef": "use1"}, "secondary": {"regionRef": "usw2"},
                 "activeRegion": active,
                 "trafficDistribution": {"groupArn": setup.group},
                 "dns": {"hostedZoneId": setup.zone, "records": [
                     {"name": "chat.contact.example.com", "type": "CNAME",
                      "primary": "chat-use1.example.com", "secondary": "chat-usw2.example.com",
                      "healthCheck": {"protocol": "HTTPS", "path": "/health"}}]}},
    });
    if let Some(status) = status {
        plan["status"] = status.clone();
    }
    plan
}

async fn context(client: kube::Client, emulator: &Emulator, setup: &Setup) -> Arc<PlanContextOf> {
    Arc::new(PlanContextOf::new(
        client,
        FailoverPlans::new(
            emulator.clients().await,
            setup.regions.clone(),
            Writer::new(cluster::window_resource()).as_reader(),
        ),
        Duration::from_secs(60),
        Some("test".into()),
    ))
}

/// Reconciles `object` once: the status written, the events published, the action's text.
async fn reconcile(
    emulator: &Emulator,
    setup: &Setup,
    object: &Value,
) -> (Value, Vec<Seen>, String) {
    let (client, server) = ApiServer::start(object.clone(), |_| {});
    let action = cluster::reconcile(
        Arc::new(serde_json::from_value(object.clone()).expect("dynamic object")),
        context(client, emulator, setup).await,
    )
    .await
    .expect("reconcile");
    let requests = server.requests();
    let status = requests
        .iter()
        .find(|r| r.is(Method::PATCH, "/failoverplans/dr/status"))
        .map(|r| r.body["status"].clone())
        .unwrap_or(Value::Null);
    let events = requests
        .into_iter()
        .filter(|r| r.is(Method::POST, "/events"))
        .collect();
    (status, events, format!("{action:?}"))
}

fn reasons(events: &[Seen]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e.body["reason"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_commit_is_announced_then_carried_out_with_an_event_per_step() {
    let emulator = Emulator::acquire().await;
    emulator.set_update_seconds(0);
    let setup = setup(&emulator).await;

    // Peacetime.
    let (status, _, _) = reconcile(&emulator, &setup, &plan(&setup, "primary", 1, None)).await;
    assert_eq!(status["phase"], "Steady", "{status}");
    assert_eq!(status["admitted"]["generation"], 1);
    assert_eq!(emulator.failover_records(&setup.zone).await.len(), 2);
    assert!(
        status["footprint"].as_array().is_some_and(|f| f.len() == 2),
        "the lever alarm's region and Route 53: {status}"
    );

    // The commit: announced first, nothing written.
    emulator.forget_calls();
    let (announced, events, action) = reconcile(
        &emulator,
        &setup,
        &plan(&setup, "secondary", 2, Some(&status)),
    )
    .await;
    assert_eq!(announced["phase"], "FailingOver", "{announced}");
    assert_eq!(announced["lastFailover"]["to"], "secondary");
    assert!(
        reasons(&events).contains(&"FailoverStarted".to_string()),
        "{events:?}"
    );
    assert!(action.contains("0ns"), "requeued at once: {action}");
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());

    // Carried out by the next reconcile.
    let (done, events, _) = reconcile(
        &emulator,
        &setup,
        &plan(&setup, "secondary", 2, Some(&announced)),
    )
    .await;
    assert_eq!(done["phase"], "FailedOver", "{done}");
    assert_eq!(
        emulator.regions_of("connect:UpdateTrafficDistribution"),
        ["us-west-2"]
    );
    assert!(
        emulator
            .dialtone_calls()
            .iter()
            .all(|c| !c.starts_with("route53:")),
        "no Route 53 call during the failover: {:?}",
        emulator.dialtone_calls()
    );
    let reasons = reasons(&events);
    for step in [
        "FailoverReadiness",
        "FailoverTraffic",
        "FailoverDns",
        "FailoverChecklist",
    ] {
        assert!(reasons.contains(&step.to_string()), "{step}: {reasons:?}");
    }
    assert!(
        reasons.contains(&"FailoverSucceeded".to_string()),
        "{reasons:?}"
    );
    assert!(
        done["lastFailover"]["checklist"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["passed"] == true)),
        "{done}"
    );
}

#[tokio::test]
async fn deleting_a_plan_deletes_its_lever_records_and_checks_before_the_finalizer_goes() {
    let emulator = Emulator::acquire().await;
    let setup = setup(&emulator).await;
    let (status, _, _) = reconcile(&emulator, &setup, &plan(&setup, "primary", 1, None)).await;
    assert_eq!(emulator.health_checks().await.len(), 3);

    let mut deleting = plan(&setup, "primary", 1, Some(&status));
    deleting["metadata"]["deletionTimestamp"] = json!("2026-11-29T10:00:00Z");
    let (client, server) = ApiServer::start(deleting.clone(), |_| {});
    cluster::reconcile(
        Arc::new(serde_json::from_value(deleting).expect("dynamic object")),
        context(client, &emulator, &setup).await,
    )
    .await
    .expect("cleanup");
    assert!(emulator.failover_records(&setup.zone).await.is_empty());
    assert!(emulator.health_checks().await.is_empty());
    assert!(
        emulator.alarm_names("us-west-2").await.is_empty(),
        "the lever alarm is gone"
    );
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == Method::PATCH && !r.path.ends_with("/status")),
        "finalizer removed: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.is(Method::POST, "/events") && r.body["reason"] == "Deleted")
    );
}

//! FailoverPlan in a cluster, by scenario, against kube's tower-test mock API server and the AWS
//! emulator: peacetime, then a commit that flips `activeRegion` is announced (status FailingOver,
//! an event, an immediate requeue, nothing written) and carried out by the next reconcile (one
//! UpdateTrafficDistribution in the target region, the lever, FailedOver, an event per step), and
//! deleting the plan deletes what it wrote before the finalizer goes. `mode: Automatic` decides
//! on the health history kept in status (a restart or a new leader goes on counting), and a drill
//! runs reconcile by reconcile with its events.

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
    setup_with(emulator, "Healthy").await
}

/// The two regions, the primary's health `primary` (the secondary Healthy and ready).
async fn setup_with(emulator: &Emulator, primary: &str) -> Setup {
    let (instance, group) = emulator.replicated_instance().await;
    let zone = emulator.hosted_zone("contact.example.com").await;
    let mut writer = Writer::new(cluster::region_resource());
    for (name, region, health) in [
        ("use1", "us-east-1", primary),
        ("usw2", "us-west-2", "Healthy"),
    ] {
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "dialtone.io/v1alpha1", "kind": "ContactCenterRegion",
            "metadata": {"name": name, "namespace": "cc", "uid": format!("uid-{name}")},
            "spec": {"region": region, "instanceId": instance, "trafficDistributionGroupArn": group},
            "status": {"health": health, "conditions": [{
                "type": "ReadyForTraffic", "status": if health == "Healthy" { "True" } else { "False" },
                "reason": "Ready", "message": "ready",
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

/// The plan without DNS (a failover is one UpdateTrafficDistribution), with `extra` spec fields
/// and annotations.
fn traffic_plan(
    setup: &Setup,
    generation: i64,
    extra: Value,
    annotations: Value,
    status: Option<&Value>,
) -> Value {
    let mut plan = plan(setup, "primary", generation, status);
    let spec = plan["spec"].as_object_mut().expect("spec");
    spec.remove("dns");
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        spec.insert(key, value);
    }
    plan["metadata"]["annotations"] = annotations;
    plan
}

#[tokio::test]
async fn an_automatic_failover_goes_on_counting_from_the_status_and_asks_for_the_commit() {
    let emulator = Emulator::acquire().await;
    emulator.set_update_seconds(0);
    let setup = setup_with(&emulator, "Unhealthy").await;
    let now = jiff::Timestamp::now();
    let ago = |minutes: i64| {
        now.checked_sub(jiff::SignedDuration::from_mins(minutes))
            .expect("in range")
            .to_string()
    };
    let automatic = json!({"mode": "Automatic", "automatic": {"unhealthyFor": "5m"}});
    // The status a previous leader wrote: us-east-1 unhealthy for 4 minutes, seen a minute ago.
    let counted = json!({"activeRegion": "primary", "phase": "Steady",
        "automatic": {"primaryUnhealthySince": ago(4), "secondaryHealthySince": ago(4),
                      "observedAt": ago(1)}});
    let (status, events, action) = reconcile(
        &emulator,
        &setup,
        &traffic_plan(&setup, 3, automatic.clone(), json!({}), Some(&counted)),
    )
    .await;
    assert!(
        status["automatic"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Unhealthy for 4m")),
        "{status}"
    );
    assert_eq!(status["phase"], "Steady", "not yet: {status}");
    assert!(!reasons(&events).contains(&"AutomaticFailover".to_string()));
    assert!(
        action.contains("Some(30s)"),
        "an automatic plan is looked at every 30 s, not at the resync (60 s): {action}"
    );

    // A minute later (as the history says), it fails over: announced, then carried out.
    let mut later = status.clone();
    later["automatic"]["primaryUnhealthySince"] = json!(ago(6));
    later["automatic"]["observedAt"] = json!(ago(0));
    let (announced, events, _) = reconcile(
        &emulator,
        &setup,
        &traffic_plan(&setup, 3, automatic.clone(), json!({}), Some(&later)),
    )
    .await;
    assert_eq!(announced["phase"], "FailingOver", "{announced}");
    assert_eq!(announced["lastFailover"]["trigger"], "automatic");
    assert_eq!(announced["automatic"]["latched"], "secondary");
    let reasons_now = reasons(&events);
    assert!(
        reasons_now.contains(&"AutomaticFailover".to_string()),
        "{reasons_now:?}"
    );
    let (done, _, _) = reconcile(
        &emulator,
        &setup,
        &traffic_plan(&setup, 3, automatic.clone(), json!({}), Some(&announced)),
    )
    .await;
    assert_eq!(done["activeRegion"], "secondary", "{done}");
    let ready = done["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(ready["reason"], "AutomaticFailover", "{done}");
    assert!(
        ready["message"]
            .as_str()
            .is_some_and(|m| m.contains("commit spec.activeRegion: secondary")),
        "{ready}"
    );
    assert_eq!(
        emulator.regions_of("connect:UpdateTrafficDistribution"),
        ["us-west-2"]
    );

    // Any new generation releases the latch: the spec decides again. Still naming the primary,
    // that is a failback, blocked while us-east-1 is not ready.
    let (released, _, _) = reconcile(
        &emulator,
        &setup,
        &traffic_plan(&setup, 4, automatic.clone(), json!({}), Some(&done)),
    )
    .await;
    assert!(released["automatic"]["latched"].is_null(), "{released}");
    assert_eq!(released["phase"], "Blocked", "{released}");
    assert_eq!(released["activeRegion"], "secondary", "nothing moved");

    // The commit of the new side.
    let mut committed = traffic_plan(&setup, 5, automatic, json!({}), Some(&released));
    committed["spec"]["activeRegion"] = json!("secondary");
    let (steady, _, _) = reconcile(&emulator, &setup, &committed).await;
    assert_eq!(steady["phase"], "FailedOver", "{steady}");
    assert!(steady["automatic"]["latched"].is_null(), "{steady}");
    assert_eq!(
        emulator.regions_of("connect:UpdateTrafficDistribution"),
        ["us-west-2"]
    );
}

#[tokio::test]
async fn a_drill_runs_reconcile_by_reconcile_with_its_events() {
    let emulator = Emulator::acquire().await;
    emulator.set_update_seconds(0);
    let setup = setup(&emulator).await;
    let drill = json!({"drill": {"schedule": "0 6 1 */3 *", "holdFor": "1s"}});
    let asked = json!({"dialtone.io/drill-now": "game day"});
    let object =
        |status: Option<&Value>| traffic_plan(&setup, 1, drill.clone(), asked.clone(), status);

    // A plan with a quarterly drill is still looked at every resync (60 s, jittered).
    let quiet = traffic_plan(&setup, 1, drill.clone(), json!({}), None);
    let (_, _, action) = reconcile(&emulator, &setup, &quiet).await;
    let seconds: f64 = action
        .split("Some(")
        .nth(1)
        .and_then(|rest| rest.split("s)").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a requeue: {action}"));
    assert!((60.0..=66.0).contains(&seconds), "{action}");

    let (status, events, _) = reconcile(&emulator, &setup, &object(None)).await;
    assert_eq!(status["lastDrill"]["stage"], "FailingOver", "{status}");
    assert_eq!(status["drillNowHandled"], "game day");
    assert!(status["nextDrill"].is_string(), "{status}");
    let mut seen = reasons(&events);
    let mut status = status;
    for _ in 0..12 {
        if status["lastDrill"]["stage"] == "Done" {
            break;
        }
        if status["lastDrill"]["stage"] == "Holding" {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let (next, events, _) = reconcile(&emulator, &setup, &object(Some(&status))).await;
        seen.extend(reasons(&events));
        status = next;
    }
    assert_eq!(status["lastDrill"]["result"], "Passed", "{status}");
    for reason in [
        "DrillStarted",
        "FailoverStarted",
        "FailoverSucceeded",
        "DrillFailingBack",
        "DrillSucceeded",
    ] {
        assert!(seen.contains(&reason.to_string()), "{reason}: {seen:?}");
    }
    assert_eq!(
        emulator.regions_of("connect:UpdateTrafficDistribution"),
        ["us-west-2", "us-east-1"]
    );
    assert_eq!(status["phase"], "Steady");
}

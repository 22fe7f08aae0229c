//! MaintenanceWindow in a cluster, by scenario, against kube's tower-test mock API server and the
//! AWS emulator: finalizer before any rule is written, status by server-side apply with the rules
//! and the next window, a reconcile at the next window boundary, and deletion that deletes the
//! rules before the finalizer goes.

mod support;

use std::sync::Arc;
use std::time::Duration;

use dialtone::controller::cluster::{self, FINALIZER, WindowContext, Windows};
use dialtone::controller::{AlarmEngine, Mode};
use http::Method;
use kube::api::DynamicObject;
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::{Value, json};
use support::api_server::ApiServer;
use support::emulator::Emulator;

fn window(finalizers: &[&str], deleting: bool) -> Value {
    let mut window = json!({
        "apiVersion": "dialtone.io/v1alpha1",
        "kind": "MaintenanceWindow",
        "metadata": {"name": "weekly-sunday", "namespace": "contact-center", "generation": 1,
                     "uid": "5f6c1a2e-0000-4000-8000-000000000004", "resourceVersion": "3",
                     "finalizers": finalizers},
        "spec": {"schedule": "0 2 * * SUN", "timeZone": "America/New_York", "duration": "2h",
                 "suppress": {"alarmPolicySelector": {"matchLabels": {"tier": "prod"}},
                              "severities": ["medium", "low"]}},
    });
    if deleting {
        window["metadata"]["deletionTimestamp"] = json!("2026-11-24T10:00:00Z");
    }
    window
}

/// The example policies as the informer holds them, their alarms applied in the emulator.
async fn policies(emulator: &Emulator) -> Store<DynamicObject> {
    let policies = support::example_alarm_policies();
    AlarmEngine::new(emulator.clients().await)
        .reconcile(&policies, Mode::Apply, k8s_openapi::jiff::Timestamp::now())
        .await;
    let mut writer = Writer::new(cluster::resource());
    for policy in &policies {
        let mut value = serde_json::to_value(policy).expect("policy");
        value["metadata"]["uid"] = json!(format!(
            "uid-{}",
            policy.metadata.name.as_deref().unwrap_or_default()
        ));
        let object: DynamicObject = serde_json::from_value(value).expect("dynamic object");
        writer.apply_watcher_event(&watcher::Event::Apply(object));
    }
    writer.as_reader()
}

fn dynamic(object: &Value) -> Arc<DynamicObject> {
    Arc::new(serde_json::from_value(object.clone()).expect("dynamic object"))
}

async fn context(
    client: kube::Client,
    emulator: &Emulator,
    policies: Store<DynamicObject>,
) -> Arc<WindowContext> {
    Arc::new(WindowContext::new(
        client,
        Windows::new(
            emulator.clients().await,
            policies,
            Writer::new(cluster::window_resource()).as_reader(),
        ),
        // Longer than any boundary here (a requeue never waits past the resync), so the test sees
        // the boundary's own time.
        Duration::from_secs(8 * 86_400),
        Some("test".into()),
    ))
}

async fn rule_count(emulator: &Emulator) -> usize {
    emulator
        .cloudwatch("us-east-1")
        .list_alarm_mute_rules()
        .send()
        .await
        .expect("ListAlarmMuteRules")
        .alarm_mute_rule_summaries()
        .len()
}

#[tokio::test]
async fn the_finalizer_comes_first_then_rules_status_and_a_wake_at_the_next_boundary() {
    let emulator = Emulator::acquire().await;
    let store = policies(&emulator).await;

    let first = window(&[], false);
    let (client, server) = ApiServer::start(first.clone(), |_| {});
    cluster::reconcile(
        dynamic(&first),
        context(client, &emulator, store.clone()).await,
    )
    .await
    .expect("reconcile");
    let requests = server.requests();
    assert!(
        requests.len() == 1
            && requests[0].is(Method::PATCH, "/maintenancewindows/weekly-sunday")
            && requests[0].body.to_string().contains(FINALIZER),
        "{requests:?}"
    );
    assert_eq!(
        rule_count(&emulator).await,
        0,
        "no rule before the finalizer"
    );

    let object = window(&[FINALIZER], false);
    let (client, server) = ApiServer::start(object.clone(), |_| {});
    let action = cluster::reconcile(dynamic(&object), context(client, &emulator, store).await)
        .await
        .expect("reconcile");
    let requests = server.requests();
    let patch = requests
        .iter()
        .find(|r| r.is(Method::PATCH, "/maintenancewindows/weekly-sunday/status"))
        .expect("a status patch");
    let status = &patch.body["status"];
    assert_eq!(patch.body["kind"], "MaintenanceWindow");
    let rules = status["muteRules"].as_array().expect("muteRules");
    assert!(!rules.is_empty(), "{status}");
    assert!(
        rules
            .iter()
            .all(|r| r["region"] == "us-east-1" || r["region"] == "us-west-2")
    );
    assert!(status["nextWindow"]["start"].is_string(), "{status}");
    assert_eq!(status["conditions"][0]["reason"], "Reconciled", "{status}");
    assert!(rule_count(&emulator).await > 0);

    // Requeued just past the next boundary, exactly (the window opens within a week).
    let next: k8s_openapi::jiff::Timestamp = status["nextWindow"]["start"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a time");
    let text = format!("{action:?}");
    let seconds: f64 = text
        .split("Some(")
        .nth(1)
        .and_then(|rest| rest.split("s)").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a requeue: {text}"));
    let until = next
        .duration_since(k8s_openapi::jiff::Timestamp::now())
        .as_secs_f64();
    assert!(
        (seconds - until).abs() < 30.0 && seconds <= 7.0 * 86_400.0 + 2.0,
        "wakes at the boundary ({until} s), not the resync: {text}"
    );
}

#[tokio::test]
async fn deleting_a_window_deletes_its_rules_before_the_finalizer_goes() {
    let emulator = Emulator::acquire().await;
    let store = policies(&emulator).await;
    let live = window(&[FINALIZER], false);
    let (client, server) = ApiServer::start(live.clone(), |_| {});
    cluster::reconcile(
        dynamic(&live),
        context(client, &emulator, store.clone()).await,
    )
    .await
    .expect("apply");
    let status = server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/status"))
        .map(|r| r.body["status"].clone())
        .expect("status");
    assert!(rule_count(&emulator).await > 0);

    // The API server now holds the status (with the rules' footprint) and the deletion.
    let mut deleting = window(&[FINALIZER], true);
    deleting["status"] = status;
    let (client, server) = ApiServer::start(deleting.clone(), |_| {});
    cluster::reconcile(dynamic(&deleting), context(client, &emulator, store).await)
        .await
        .expect("cleanup");
    assert_eq!(rule_count(&emulator).await, 0, "every rule deleted");
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

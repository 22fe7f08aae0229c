//! The change gate in a cluster, by scenario, against kube's tower-test mock API server and the
//! AWS emulator: the admitted spec lives in the policy's status, so a new controller (a restart, a
//! new leader) keeps enforcing it while a change waits for its window.

mod support;

use std::sync::Arc;
use std::time::Duration;

use dialtone::controller::AlarmEngine;
use dialtone::controller::cluster::{self, AlarmPolicies, Context, FINALIZER};
use http::Method;
use kube::api::DynamicObject;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::{Value, json};
use support::api_server::ApiServer;
use support::emulator::Emulator;

fn spec(threshold: u32) -> Value {
    json!({
        "region": "us-east-1", "routing": {"high": {}},
        "alarms": [{"name": "queue-size", "severity": "high",
                    "metric": {"namespace": "AWS/Connect", "metricName": "QueueSize",
                               "dimensions": {"InstanceId": "x"}, "statistic": "Maximum"},
                    "threshold": threshold, "comparisonOperator": "GreaterThanThreshold"}],
    })
}

/// Generation 4 declares threshold 50; the status says generation 3 (threshold 10) was admitted and
/// the change is held.
fn policy() -> Value {
    json!({
        "apiVersion": "dialtone.io/v1alpha1", "kind": "AlarmPolicy",
        "metadata": {"name": "queues", "namespace": "cc", "generation": 4, "labels": {"tier": "prod"},
                     "uid": "5f6c1a2e-0000-4000-8000-000000000005", "resourceVersion": "11",
                     "finalizers": [FINALIZER]},
        "spec": spec(50),
        "status": {
            "observedGeneration": 3,
            "admitted": {"generation": 3, "spec": spec(10)},
            "conditions": [{"type": "ChangeHeld", "status": "True", "reason": "WaitingForWindow",
                            "message": "held", "lastTransitionTime": "2026-11-29T10:00:00Z"}],
        },
    })
}

/// A window that gates `tier: prod` and opens on New Year's Day only.
fn windows() -> kube::runtime::reflector::Store<DynamicObject> {
    let window = json!({
        "apiVersion": "dialtone.io/v1alpha1", "kind": "MaintenanceWindow",
        "metadata": {"name": "change-window", "namespace": "cc", "uid": "w-1", "resourceVersion": "2"},
        "spec": {"schedule": "0 2 1 1 *", "duration": "2h",
                 "changeGate": {"alarmPolicySelector": {"matchLabels": {"tier": "prod"}}}},
    });
    let mut writer = Writer::new(cluster::window_resource());
    let object: DynamicObject = serde_json::from_value(window).expect("window");
    writer.apply_watcher_event(&watcher::Event::Apply(object));
    writer.as_reader()
}

#[tokio::test]
async fn the_admitted_spec_survives_a_controller_restart() {
    let emulator = Emulator::acquire().await;
    let object = policy();
    for _restart in 0..2 {
        // A new controller each time: nothing in memory, only what the API server holds.
        let (client, server) = ApiServer::start(object.clone(), |_| {});
        let ctx = Arc::new(Context::new(
            client,
            AlarmPolicies::new(
                AlarmEngine::new(emulator.clients().await),
                windows(),
                Writer::new(cluster::resource()).as_reader(),
                Duration::from_secs(60),
            ),
            Duration::from_secs(60),
            Some("test".into()),
        ));
        let dynamic: Arc<DynamicObject> =
            Arc::new(serde_json::from_value(object.clone()).expect("dynamic object"));
        cluster::reconcile(dynamic, ctx).await.expect("reconcile");

        let alarm = emulator.alarm("us-east-1", "cc/queues/queue-size").await;
        assert_eq!(
            alarm.threshold(),
            Some(10.0),
            "the admitted spec is enforced, not generation 4's"
        );
        let patch = server
            .requests()
            .into_iter()
            .find(|r| r.is(Method::PATCH, "/alarmpolicies/queues/status"))
            .expect("a status patch");
        let status = &patch.body["status"];
        assert_eq!(status["observedGeneration"], 3, "{status}");
        assert_eq!(status["admitted"]["generation"], 3);
        assert_eq!(status["admitted"]["spec"]["alarms"][0]["threshold"], 10);
        let held = status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "ChangeHeld"))
            .expect("ChangeHeld");
        assert_eq!(held["status"], "True");
        assert!(
            held["message"]
                .as_str()
                .unwrap_or_default()
                .contains("cc/change-window"),
            "{held}"
        );
    }
}

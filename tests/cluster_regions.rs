//! ContactCenterRegion in a cluster, by scenario, against kube's tower-test mock API server and
//! the AWS emulator: status by server-side apply with health, traffic and conditions; alarm states
//! taken from the selected policies' statuses (no DescribeAlarms); no finalizer for a read-only
//! kind; an object that does not deserialize gets InvalidSpec; policies wake the regions that count
//! them.

mod support;

use std::sync::Arc;
use std::time::Duration;

use dialtone::controller::cluster::{self, RegionContext, Regions};
use http::Method;
use kube::api::DynamicObject;
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::{Value, json};
use support::api_server::ApiServer;
use support::emulator::Emulator;

fn region(instance: &str, group: &str) -> Value {
    json!({
        "apiVersion": "dialtone.io/v1alpha1",
        "kind": "ContactCenterRegion",
        "metadata": {"name": "use1", "namespace": "contact-center", "uid": "5f6c1a2e-0000-4000-8000-000000000002",
                     "generation": 2, "resourceVersion": "7"},
        "spec": {"region": "us-east-1", "instanceId": instance, "trafficDistributionGroupArn": group,
                 "probeInterval": "60s",
                 "health": {"alarmPolicySelector": {"matchLabels": {"region": "us-east-1"}}}},
    })
}

/// An AlarmPolicy as the informer holds it: its status says its critical alarm is in ALARM.
fn policy(labels: Value, firing: bool) -> Value {
    json!({
        "apiVersion": "dialtone.io/v1alpha1",
        "kind": "AlarmPolicy",
        "metadata": {"name": "east", "namespace": "contact-center", "generation": 4, "labels": labels,
                     "uid": "5f6c1a2e-0000-4000-8000-000000000003", "resourceVersion": "9"},
        "spec": {
            "region": "us-east-1", "alarmNamePrefix": "cc-use1-", "routing": {"critical": {}},
            "alarms": [{"name": "calls-over-quota", "severity": "critical",
                        "metric": {"namespace": "AWS/Connect", "metricName": "CallsBreachingConcurrencyQuota",
                                   "dimensions": {"InstanceId": "x"}, "statistic": "Sum"},
                        "threshold": 0, "comparisonOperator": "GreaterThanThreshold"}],
        },
        "status": {
            "observedGeneration": 4,
            "alarms": [{"name": "calls-over-quota", "alarmName": "cc-use1-calls-over-quota",
                        "arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cc-use1-calls-over-quota",
                        "state": if firing { "ALARM" } else { "OK" }, "stateReason": "Threshold Crossed"}],
        },
    })
}

fn store(objects: &[Value]) -> Store<DynamicObject> {
    let mut writer = Writer::new(cluster::resource());
    for object in objects {
        let object: DynamicObject = serde_json::from_value(object.clone()).expect("dynamic object");
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
) -> Arc<RegionContext> {
    Arc::new(RegionContext::new(
        client,
        Regions::new(emulator.clients().await, policies),
        Duration::from_secs(60),
        Some("test".into()),
    ))
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("condition {type_} in {status}"))
}

#[tokio::test]
async fn region_status_is_applied_server_side_with_health_from_the_policies_statuses() {
    let emulator = Emulator::acquire().await;
    let (instance, group) = emulator.replicated_instance().await;
    let object = region(&instance, &group);
    let (client, server) = ApiServer::start(object.clone(), |_| {});
    let policies = store(&[policy(json!({"region": "us-east-1"}), true)]);
    let ctx = context(client, &emulator, policies).await;
    emulator.forget_calls();
    let action = cluster::reconcile(dynamic(&object), ctx.clone())
        .await
        .expect("reconcile");
    // The probe interval (60 s), exactly.
    let text = format!("{action:?}");
    let seconds: f64 = text
        .split("Some(")
        .nth(1)
        .and_then(|rest| rest.split("s)").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a requeue: {text}"));
    assert_eq!(seconds, 60.0, "requeued at the probe interval: {text}");

    let requests = server.requests();
    assert!(
        !requests
            .iter()
            .any(|r| r.method == Method::PATCH && !r.path.ends_with("/status")),
        "a read-only kind adds no finalizer: {requests:?}"
    );
    let patch = requests
        .iter()
        .find(|r| r.is(Method::PATCH, "/contactcenterregions/use1/status"))
        .expect("a status patch");
    assert!(patch.query.contains("fieldManager=dialtone") && patch.query.contains("force=true"));
    let status = &patch.body["status"];
    assert_eq!(patch.body["kind"], "ContactCenterRegion");
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(status["health"], "Unhealthy", "{status}");
    assert_eq!(
        status["firingAlarms"][0]["alarmName"],
        "cc-use1-calls-over-quota"
    );
    assert_eq!(status["firingAlarms"][0]["policy"], "contact-center/east");
    assert_eq!(status["traffic"]["telephony"], 100);
    assert_eq!(status["trafficDistributionGroup"]["status"], "ACTIVE");
    assert_eq!(condition(status, "Ready")["status"], "True");
    assert_eq!(condition(status, "Synced")["status"], "True");
    assert_eq!(condition(status, "Healthy")["status"], "False");
    assert_eq!(condition(status, "Healthy")["reason"], "Unhealthy");
    assert_eq!(condition(status, "ReadyForTraffic")["status"], "False");
    assert!(
        requests
            .iter()
            .any(|r| r.is(Method::POST, "/events") && r.body["reason"] == "HealthChanged"),
        "{requests:?}"
    );
    assert_eq!(
        emulator.count("cloudwatch:DescribeAlarms"),
        0,
        "alarm states come from the policy's status: {:?}",
        emulator.calls()
    );
    assert!(emulator.count("connect:DescribeInstance") == 1);

    // Woken again before the probe interval passed (a policy's alarms changed): no AWS call.
    emulator.forget_calls();
    cluster::reconcile(dynamic(&object), ctx)
        .await
        .expect("reconcile");
    assert!(emulator.calls().is_empty(), "{:?}", emulator.calls());
}

#[tokio::test]
async fn a_region_that_does_not_deserialize_gets_invalid_spec_and_no_aws_call() {
    let emulator = Emulator::acquire().await;
    let mut object = region("7c0e9b14-8a3d-4f6e-9d21-3b5f2a1c4e88", "not an arn");
    object["spec"]["health"] = json!("everything");
    let (client, server) = ApiServer::start(object.clone(), |_| {});
    let ctx = context(client, &emulator, store(&[])).await;
    cluster::reconcile(dynamic(&object), ctx)
        .await
        .expect("handled, not a crash");
    let patch = server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/status"))
        .expect("status patch");
    let ready = condition(&patch.body["status"], "Ready");
    assert_eq!(ready["reason"], "InvalidSpec");
    assert!(
        ready["message"]
            .as_str()
            .is_some_and(|m| m.contains("spec.health")),
        "{ready}"
    );
    assert!(emulator.calls().is_empty(), "{:?}", emulator.calls());
}

#[test]
fn a_policy_wakes_exactly_the_regions_that_count_it() {
    let counting = region("7c0e9b14-8a3d-4f6e-9d21-3b5f2a1c4e88", "x");
    let mut other = counting.clone();
    other["metadata"]["name"] = json!("usw2");
    other["spec"]["health"]["alarmPolicySelector"]["matchLabels"]["region"] = json!("us-west-2");
    let mut elsewhere = counting.clone();
    elsewhere["metadata"]["name"] = json!("other-namespace");
    elsewhere["metadata"]["namespace"] = json!("ops");
    let mut regions = Writer::new(cluster::region_resource());
    for object in [&counting, &other, &elsewhere] {
        let object: DynamicObject = serde_json::from_value(object.clone()).expect("dynamic object");
        regions.apply_watcher_event(&watcher::Event::Apply(object));
    }
    let east: DynamicObject =
        serde_json::from_value(policy(json!({"region": "us-east-1"}), false)).expect("policy");
    let woken: Vec<String> = cluster::regions_selecting(&regions.as_reader(), &east)
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(woken, ["use1"]);
}

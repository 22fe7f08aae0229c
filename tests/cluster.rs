//! The Kubernetes side, by scenario, against kube's tower-test mock API server (no cluster can run
//! here) and the AWS emulator. Each test asserts what matters in the requests the operator makes,
//! not their exact URIs.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dialtone::controller::AlarmEngine;
use dialtone::controller::cluster::{self, AlarmPolicies, Context, FINALIZER};
use http::{Method, Request, Response, StatusCode};
use kube::api::DynamicObject;
use kube::client::Body;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use support::api_server::{ApiServer, Seen};
use support::emulator::Emulator;

fn policy(finalizers: &[&str], deleting: bool) -> Value {
    let text = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples/10-alarms-contact-center.yaml"),
    )
    .expect("example");
    let mut object: Value = serde_saphyr::from_str(&text).expect("yaml");
    let metadata = object["metadata"].as_object_mut().expect("metadata");
    metadata.insert("uid".into(), json!("5f6c1a2e-0000-4000-8000-000000000001"));
    metadata.insert("generation".into(), json!(3));
    metadata.insert("resourceVersion".into(), json!("100"));
    metadata.insert("finalizers".into(), json!(finalizers));
    if deleting {
        metadata.insert("deletionTimestamp".into(), json!("2026-11-24T10:00:00Z"));
    }
    object
}

async fn context(client: Client, emulator: &Emulator) -> Arc<Context> {
    Arc::new(Context::new(
        client,
        AlarmPolicies::new(
            AlarmEngine::new(emulator.clients().await),
            // No maintenance window gates these policies.
            Writer::new(cluster::window_resource()).as_reader(),
            // The store of other policies is empty: each reconcile sweeps its own.
            Writer::new(cluster::resource()).as_reader(),
            Duration::from_secs(60),
        ),
        Duration::from_secs(60),
        Some("test".into()),
    ))
}

fn dynamic(object: &Value) -> Arc<DynamicObject> {
    Arc::new(serde_json::from_value(object.clone()).expect("dynamic object"))
}

#[tokio::test]
async fn finalizer_is_added_on_first_sight_before_anything_reaches_aws() {
    let emulator = Emulator::acquire().await;
    let object = policy(&[], false);
    let (client, server) = ApiServer::start(object.clone(), |_| {});
    let ctx = context(client, &emulator).await;
    cluster::reconcile(dynamic(&object), ctx)
        .await
        .expect("reconcile");

    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let patch = &requests[0];
    assert!(patch.is(Method::PATCH, "/alarmpolicies/connect-primary"));
    assert!(!patch.path.ends_with("/status"));
    assert!(patch.body.to_string().contains(FINALIZER), "{}", patch.body);
    assert!(
        emulator.calls().is_empty(),
        "no AWS call before the finalizer is in place"
    );
}

#[tokio::test]
async fn status_is_applied_server_side_with_alarm_states_drift_and_conditions() {
    let emulator = Emulator::acquire().await;
    let object = policy(&[FINALIZER], false);
    let (client, server) = ApiServer::start(object.clone(), |_| {});
    let ctx = context(client, &emulator).await;
    cluster::reconcile(dynamic(&object), ctx)
        .await
        .expect("reconcile");

    let requests = server.requests();
    let status = requests
        .iter()
        .find(|r| r.is(Method::PATCH, "/alarmpolicies/connect-primary/status"))
        .expect("a status patch");
    assert!(
        status.query.contains("fieldManager=dialtone") && status.query.contains("force=true"),
        "{}",
        status.query
    );
    assert!(
        status.body.get("spec").is_none() && status.body["metadata"].get("labels").is_none(),
        "status only"
    );
    let body = &status.body["status"];
    assert_eq!(body["observedGeneration"], 3);
    assert_eq!(body["summary"]["total"], 8);
    let alarms = body["alarms"].as_array().expect("alarms");
    assert!(
        alarms
            .iter()
            .all(|a| a["state"].is_string() && a["arn"].is_string()),
        "{alarms:?}"
    );
    let conditions = body["conditions"].as_array().expect("conditions");
    let ready = conditions
        .iter()
        .find(|c| c["type"] == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("True"), Some("Reconciled"))
    );
    assert_eq!(ready["observedGeneration"], 3);
    assert!(conditions.iter().any(|c| c["type"] == "Synced"));
    assert!(
        !requests
            .iter()
            .any(|r| r.is(Method::PATCH, "/alarmpolicies/connect-primary")
                && !r.path.ends_with("/status")),
        "the operator never writes spec or metadata once the finalizer is there"
    );
    let created: Vec<&Seen> = requests
        .iter()
        .filter(|r| r.is(Method::POST, "/events") && r.body["reason"] == "Created")
        .collect();
    assert_eq!(created.len(), 1, "one Created event for the reconcile");
    assert!(
        created[0].body["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("created 8 alarm(s)")),
        "{}",
        created[0].body
    );
    assert_eq!(emulator.count("cloudwatch:PutMetricAlarm"), 8);
}

#[tokio::test]
async fn drift_is_reported_in_status_and_corrected_with_one_event() {
    let emulator = Emulator::acquire().await;
    let object = policy(&[FINALIZER], false);
    let (client, server) = ApiServer::start(object.clone(), |_| {});
    let ctx = context(client, &emulator).await;
    cluster::reconcile(dynamic(&object), ctx.clone())
        .await
        .expect("first reconcile");
    emulator
        .cloudwatch("us-east-1")
        .delete_alarms()
        .alarm_names("cc-prod-use1-missed-calls")
        .send()
        .await
        .expect("delete");

    // The status the API server now holds says generation 3 was observed: this is drift, not a spec change.
    let mut observed = object.clone();
    observed["status"] = json!({"observedGeneration": 3});
    cluster::reconcile(dynamic(&observed), ctx.clone())
        .await
        .expect("second reconcile");
    cluster::reconcile(dynamic(&observed), ctx)
        .await
        .expect("third reconcile");
    let requests = server.requests();
    let events: Vec<&Seen> = requests
        .iter()
        .filter(|r| r.path.contains("/events"))
        .collect();
    let corrected: Vec<&&Seen> = events
        .iter()
        .filter(|r| r.body["reason"] == "DriftCorrected")
        .collect();
    assert_eq!(corrected.len(), 1, "{events:?}");
    assert!(
        corrected[0].body["note"]
            .as_str()
            .is_some_and(|n| n.contains("cc-prod-use1-missed-calls (re-created)"))
    );
    assert_eq!(
        events.len(),
        2,
        "Created, then DriftCorrected; the third reconcile had nothing to say"
    );
    let statuses: Vec<&Seen> = requests
        .iter()
        .filter(|r| r.path.ends_with("/status"))
        .collect();
    assert_eq!(statuses.len(), 3);
    assert_eq!(statuses[2].body["status"]["summary"]["drifted"], 0);
}

/// `count` policies like the example (8 alarms each) in `region`, named `<prefix>-NN`, each with
/// its own alarm names, carrying the finalizer.
fn many_policies(prefix: &str, region: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let mut object = policy(&[FINALIZER], false);
            object["metadata"]["name"] = json!(format!("{prefix}-{i:02}"));
            object["metadata"]["uid"] = json!(format!("5f6c1a2e-0000-4000-8000-{prefix}{i:06}"));
            let spec = object["spec"].as_object_mut().expect("spec");
            spec.insert("region".into(), json!(region));
            spec.insert("alarmNamePrefix".into(), json!(format!("{prefix}-{i:02}-")));
            // No actions (the example's are in us-east-1).
            spec.insert(
                "routing".into(),
                json!({"critical": {}, "high": {}, "medium": {}, "low": {}}),
            );
            object
        })
        .collect()
}

#[tokio::test]
async fn a_resync_reads_each_region_once_per_hundred_alarms_whatever_the_number_of_policies() {
    // 20 policies in us-east-1 (160 alarms) and 10 in us-west-2 (80 alarms), in the informer
    // store; every one of them is reconciled on its own, as the controller's resync does.
    const RESYNC: Duration = Duration::from_secs(30);
    let emulator = Emulator::acquire().await;
    let mut objects = many_policies("east", "us-east-1", 20);
    objects.extend(many_policies("west", "us-west-2", 10));
    let mut store = Writer::new(cluster::resource());
    for object in &objects {
        store.apply_watcher_event(&watcher::Event::Apply(
            serde_json::from_value(object.clone()).expect("object"),
        ));
    }
    let (client, server) = ApiServer::start(objects[0].clone(), |_| {});
    let ctx = Arc::new(Context::new(
        client,
        AlarmPolicies::new(
            AlarmEngine::new(emulator.clients().await),
            Writer::new(cluster::window_resource()).as_reader(),
            store.as_reader(),
            RESYNC,
        ),
        RESYNC,
        Some("test".into()),
    ));
    for object in &objects {
        cluster::reconcile(dynamic(object), ctx.clone())
            .await
            .expect("first reconcile");
    }
    assert_eq!(emulator.count("cloudwatch:PutMetricAlarm"), 240);
    assert_eq!(
        emulator.regions_of("cloudwatch:PutMetricAlarm").len(),
        240,
        "every alarm written once"
    );

    // The API server now holds each policy's status; the store sees it too.
    let requests = server.requests();
    let stored: Vec<Value> = objects
        .iter()
        .map(|object| {
            let name = object["metadata"]["name"].as_str().expect("name");
            let patch = requests
                .iter()
                .rfind(|r| r.is(Method::PATCH, &format!("/alarmpolicies/{name}/status")))
                .expect("a status for every policy");
            let mut object = object.clone();
            object["status"] = patch.body["status"].clone();
            object
        })
        .collect();
    for object in &stored {
        store.apply_watcher_event(&watcher::Event::Apply(
            serde_json::from_value(object.clone()).expect("object"),
        ));
    }
    let written = server.requests().len();
    emulator.forget_calls();

    // A resync: every policy again, nothing changed anywhere.
    for object in &stored {
        cluster::reconcile(dynamic(object), ctx.clone())
            .await
            .expect("resync");
    }
    let mut reads = emulator.regions_of("cloudwatch:DescribeAlarms");
    reads.sort();
    assert_eq!(
        reads,
        ["us-east-1", "us-east-1", "us-west-2"],
        "ceil(160/100) reads in us-east-1 and ceil(80/100) in us-west-2, not one per policy: {:?}",
        emulator.calls()
    );
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
    let after: Vec<Seen> = server.requests().split_off(written);
    assert!(
        after.is_empty(),
        "an unchanged status is not written again, and nothing is published: {after:?}"
    );

    // Drift in one policy's alarm is found and repaired by the next resync's shared sweep, and
    // reported on that policy only.
    emulator
        .delete_alarm("us-west-2", "west-03-missed-calls")
        .await;
    // A sweep serves its region's policies for half a resync.
    tokio::time::sleep(RESYNC / 2 + Duration::from_secs(1)).await;
    emulator.forget_calls();
    for object in &stored {
        cluster::reconcile(dynamic(object), ctx.clone())
            .await
            .expect("resync");
    }
    assert_eq!(
        emulator.count("cloudwatch:DescribeAlarms"),
        3 + 1,
        "{:?}",
        emulator.calls()
    );
    assert_eq!(emulator.count("cloudwatch:PutMetricAlarm"), 1);
    let events: Vec<Seen> = server
        .requests()
        .split_off(written)
        .into_iter()
        .filter(|r| r.path.contains("/events"))
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].body["reason"], "DriftCorrected");
    assert_eq!(events[0].body["regarding"]["name"], "west-03");

    // A policy whose last reconcile failed retries alone: its own error does not cost the
    // region a full read at every backoff.
    let mut failed = stored[5].clone();
    for condition in failed["status"]["conditions"]
        .as_array_mut()
        .expect("conditions")
    {
        if condition["type"] == "Ready" {
            condition["status"] = json!("False");
            condition["reason"] = json!("AwsError");
        }
    }
    emulator.forget_calls();
    cluster::reconcile(dynamic(&failed), ctx.clone())
        .await
        .expect("retry");
    assert_eq!(
        emulator.regions_of("cloudwatch:DescribeAlarms"),
        ["us-east-1"],
        "one read of its own 8 alarms, not the region's 160: {:?}",
        emulator.calls()
    );
}

#[tokio::test]
async fn invalid_spec_gets_ready_false_invalid_spec_and_no_aws_call() {
    let emulator = Emulator::acquire().await;
    let mut object = policy(&[FINALIZER], false);
    object["spec"]["alarms"][1]["datapointsToAlarm"] = json!(5);
    let (client, server) = ApiServer::start(object.clone(), |_| {});
    let ctx = context(client, &emulator).await;
    cluster::reconcile(dynamic(&object), ctx)
        .await
        .expect("an invalid spec is not a reconcile error");

    let requests = server.requests();
    let status = requests
        .iter()
        .find(|r| r.path.ends_with("/status"))
        .expect("status patch");
    let ready = status.body["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .expect("Ready")
        .clone();
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("InvalidSpec"))
    );
    assert!(
        ready["message"]
            .as_str()
            .is_some_and(|m| m.contains("spec.alarms[1].datapointsToAlarm")),
        "{ready}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.is(Method::POST, "/events") && r.body["reason"] == "InvalidSpec")
    );
    assert!(emulator.calls().is_empty(), "{:?}", emulator.calls());
}

#[tokio::test]
async fn an_object_that_does_not_deserialize_becomes_an_error_on_that_object() {
    let emulator = Emulator::acquire().await;
    let mut object = policy(&[FINALIZER], false);
    object["spec"]["alarms"] = json!("not a list");
    let (client, server) = ApiServer::start(object.clone(), |_| {});
    let ctx = context(client, &emulator).await;
    cluster::reconcile(dynamic(&object), ctx)
        .await
        .expect("handled, not a crash");
    let status = server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/status"))
        .expect("status patch");
    assert!(status.body.to_string().contains("InvalidSpec"));
    assert!(emulator.calls().is_empty());
}

#[tokio::test]
async fn deletion_cleans_up_in_aws_then_removes_the_finalizer() {
    let emulator = Emulator::acquire().await;
    // The policy's alarms exist.
    let live = policy(&[FINALIZER], false);
    let (client, _) = ApiServer::start(live.clone(), |_| {});
    cluster::reconcile(dynamic(&live), context(client, &emulator).await)
        .await
        .expect("apply");
    assert_eq!(
        emulator
            .cloudwatch("us-east-1")
            .describe_alarms()
            .send()
            .await
            .expect("describe")
            .metric_alarms()
            .len(),
        8
    );

    let deleting = policy(&[FINALIZER], true);
    let alarms_left_at_finalizer_removal: Arc<Mutex<Option<usize>>> = Arc::default();
    let record = alarms_left_at_finalizer_removal.clone();
    let url = emulator.url.clone();
    let (client, server) = ApiServer::start(deleting.clone(), move |seen| {
        if seen.method == Method::PATCH && !seen.path.ends_with("/status") {
            // Ask the emulator, at the moment of the finalizer patch, how many alarms remain.
            let url = url.clone();
            let count = std::thread::spawn(move || count_alarms(&url))
                .join()
                .expect("count");
            *record.lock().expect("lock") = Some(count);
        }
    });
    cluster::reconcile(dynamic(&deleting), context(client, &emulator).await)
        .await
        .expect("cleanup");

    let requests = server.requests();
    let removal = requests
        .iter()
        .find(|r| r.method == Method::PATCH)
        .expect("finalizer removal");
    assert!(
        removal.body.to_string().contains("remove")
            || !removal.body.to_string().contains(FINALIZER),
        "{}",
        removal.body
    );
    assert_eq!(
        *alarms_left_at_finalizer_removal.lock().expect("lock"),
        Some(0),
        "alarms were deleted before the finalizer went"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.is(Method::POST, "/events") && r.body["reason"] == "Deleted")
    );
}

#[tokio::test]
async fn deletion_of_a_policy_never_applied_succeeds() {
    let emulator = Emulator::acquire().await;
    let deleting = policy(&[FINALIZER], true);
    let (client, server) = ApiServer::start(deleting.clone(), |_| {});
    cluster::reconcile(dynamic(&deleting), context(client, &emulator).await)
        .await
        .expect("cleanup");
    assert!(
        server.requests().iter().any(|r| r.method == Method::PATCH),
        "finalizer removed"
    );
    assert!(
        emulator.writes().is_empty(),
        "nothing owned, nothing deleted: {:?}",
        emulator.writes()
    );
}

/// Counts the alarms in us-east-1 with a blocking call through the SDK on its own runtime.
fn count_alarms(url: &str) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build();
        aws_sdk_cloudwatch::Client::from_conf(config)
            .describe_alarms()
            .send()
            .await
            .expect("describe")
            .metric_alarms()
            .len()
    })
}

#[tokio::test]
async fn the_lease_is_acquired_before_any_reconcile() {
    let emulator = Emulator::acquire().await;
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = order.clone();
    let lease: Arc<Mutex<Option<Value>>> = Arc::default();
    let stored_lease = lease.clone();
    tokio::spawn(async move {
        let lease = stored_lease;
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let path = parts.uri.path().to_string();
            record
                .lock()
                .expect("lock")
                .push(format!("{} {path}", parts.method));
            let (status, reply) = if path.contains("/leases") {
                // A lease store of one: 404 until created, then what was last written.
                let mut stored = lease.lock().expect("lock");
                if parts.method == Method::GET {
                    match stored.clone() {
                        Some(current) => (StatusCode::OK, current),
                        None => (
                            StatusCode::NOT_FOUND,
                            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
                        ),
                    }
                } else {
                    let written: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    *stored = Some(written.clone());
                    (StatusCode::CREATED, written)
                }
            } else {
                // The watch: an empty list, then nothing.
                (
                    StatusCode::OK,
                    json!({"apiVersion": "dialtone.io/v1alpha1", "kind": "AlarmPolicyList", "metadata": {"resourceVersion": "1"}, "items": []}),
                )
            };
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&reply).expect("json")))
                    .expect("response"),
            );
        }
    });
    let client = Client::new(service, "default");
    let options = dialtone::operator::ClusterOptions {
        namespace: Some("contact-center".into()),
        selector: None,
        resync: Duration::from_secs(60),
        lease_name: "dialtone-leader".into(),
        lease_namespace: "dialtone".into(),
        identity: "pod-a".into(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let health = Arc::new(dialtone::http::Health::default());
    let operator = tokio::spawn(dialtone::operator::run(
        client,
        emulator.clients().await,
        options,
        health.clone(),
        stopped,
    ));
    // Bounded wait (30 s: CI machines are loaded) until the operator starts watching.
    for _ in 0..1500 {
        if order
            .lock()
            .expect("lock")
            .iter()
            .any(|r| r.contains("/alarmpolicies"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), operator).await;
    let order = order.lock().expect("lock").clone();
    let first_watch = order
        .iter()
        .position(|r| r.contains("/alarmpolicies"))
        .expect("the controller watched");
    let created = order
        .iter()
        .position(|r| r.starts_with("POST") && r.contains("/namespaces/dialtone/leases"))
        .expect("lease created");
    assert!(created < first_watch, "{order:?}");
    assert!(
        order
            .iter()
            .skip(first_watch)
            .any(|r| r.starts_with("PUT") && r.contains("/leases/dialtone-leader")),
        "the lease is written back on shutdown: {order:?}"
    );
    let released = lease.lock().expect("lock").clone().expect("a lease");
    assert!(
        released["spec"]
            .get("holderIdentity")
            .is_none_or(Value::is_null),
        "released: no holder left in {released}"
    );
}

#[test]
fn the_controller_watches_the_alarm_policy_resource() {
    let resource = cluster::resource();
    assert_eq!(
        (
            resource.group.as_str(),
            resource.version.as_str(),
            resource.plural.as_str()
        ),
        ("dialtone.io", "v1alpha1", "alarmpolicies")
    );
    let object = policy(&[], false);
    assert_eq!(dynamic(&object).name_any(), "connect-primary");
}

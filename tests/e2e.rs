//! End to end in a real cluster: install the CRDs, run the operator, apply an example, wait for
//! Ready=True, check CloudWatch (the local emulator), delete, check the alarms are gone.
//!
//! Runs only when KUBECONFIG points at a cluster (kind, k3d, ...); otherwise it says so and skips.
//! The operator runs on this machine against that cluster, with AWS pointed at the emulator.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::{Client, ResourceExt};
use support::emulator::Emulator;

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` every second until it returns true, for at most `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("{what}: not within {limit:?}");
}

#[tokio::test]
async fn alarm_policy_end_to_end_in_a_real_cluster() {
    if std::env::var_os("KUBECONFIG").is_none() {
        eprintln!(
            "e2e: skipped: KUBECONFIG is not set (see the README, 'End-to-end tests', to run it against kind or k3d)"
        );
        return;
    }
    let client = Client::try_default()
        .await
        .expect("KUBECONFIG points at a reachable cluster");
    let emulator = Emulator::acquire().await;
    let namespace = format!("dialtone-e2e-{}", std::process::id());
    let apply = PatchParams::apply("dialtone-e2e").force();

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in dialtone::api::crds() {
        crds.patch(&crd.name_any(), &apply, &Patch::Apply(&crd))
            .await
            .expect("install CRD");
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}})).expect("ns");
    namespaces
        .patch(&namespace, &apply, &Patch::Apply(&ns))
        .await
        .expect("namespace");

    let _operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_dialtone"))
            .args([
                "run",
                "--namespace",
                &namespace,
                "--resync",
                "5s",
                "--aws-rate",
                "all=0",
                "--http-addr",
                "127.0.0.1:0",
                "--lease-namespace",
                &namespace,
            ])
            .envs(emulator.env())
            .stdout(Stdio::null())
            .spawn()
            .expect("operator starts"),
    );

    let text = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples/10-alarms-contact-center.yaml"),
    )
    .expect("example");
    let mut object: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
    object["metadata"]["namespace"] = serde_json::json!(namespace);
    let policies: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &dialtone::controller::cluster::resource(),
    );
    policies
        .patch("connect-primary", &apply, &Patch::Apply(&object))
        .await
        .expect("apply policy");

    eventually("Ready=True", Duration::from_secs(120), || async {
        policies.get("connect-primary").await.ok().is_some_and(|p| {
            p.data["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
    })
    .await;
    let alarms = emulator
        .cloudwatch("us-east-1")
        .describe_alarms()
        .send()
        .await
        .expect("describe");
    assert_eq!(alarms.metric_alarms().len(), 8);

    policies
        .delete("connect-primary", &DeleteParams::default())
        .await
        .expect("delete policy");
    eventually("policy gone", Duration::from_secs(60), || async {
        policies
            .get_opt("connect-primary")
            .await
            .ok()
            .flatten()
            .is_none()
    })
    .await;
    let alarms = emulator
        .cloudwatch("us-east-1")
        .describe_alarms()
        .send()
        .await
        .expect("describe");
    assert!(
        alarms.metric_alarms().is_empty(),
        "the finalizer deleted the alarms first"
    );
    let _ = namespaces
        .delete(&namespace, &DeleteParams::default())
        .await;
}

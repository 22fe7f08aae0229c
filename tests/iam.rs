//! deploy/iam-policy.json is exactly what dialtone needs: every AWS operation dialtone makes
//! against the emulator (recorded by the emulator from dialtone's user agent) is allowed, and the
//! policy grants nothing dialtone never calls. No wildcard actions.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use dialtone::controller::failover_plan::{FailoverEngine, PlanContext};
use dialtone::controller::maintenance_window::{MuteEngine, Standing, WindowView};
use dialtone::controller::{AlarmEngine, Mode};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use support::emulator::Emulator;

fn policy_actions() -> BTreeSet<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/iam-policy.json");
    let policy: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("policy")).expect("JSON");
    policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .inspect(|s| assert_eq!(s["Effect"], "Allow"))
        .flat_map(|s| s["Action"].as_array().expect("actions").clone())
        .map(|a| a.as_str().expect("action").to_string())
        .collect()
}

/// SDK service names as IAM spells them.
fn iam_action(call: &str) -> String {
    let (service, operation) = call.split_once(':').expect("service:Operation");
    let prefix = match service {
        "resourcegroupstaggingapi" => "tag",
        other => other,
    };
    format!("{prefix}:{operation}")
}

#[test]
fn no_wildcard_actions() {
    for action in policy_actions() {
        assert!(!action.contains('*'), "{action}");
    }
}

#[tokio::test]
async fn the_policy_allows_exactly_what_dialtone_calls() {
    let emulator = Emulator::acquire().await;
    let mut engine = AlarmEngine::new(emulator.clients().await);
    let mut policies = support::example_alarm_policies();
    // Everything the engine does: create, read, tag, update, delete, adopt, clean up, and a policy
    // in another account through an assumed role.
    engine
        .reconcile(&policies, Mode::Apply, Timestamp::now())
        .await;
    emulator
        .cloudwatch("us-east-1")
        .untag_resource()
        .resource_arn(
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cc-prod-use1-queue-wait-basic",
        )
        .tag_keys("team")
        .send()
        .await
        .expect("untag by hand");
    policies[0].spec.alarms.pop();
    policies[0].spec.tags.remove("env");
    policies[1].spec.adopt_existing = true;
    policies[2].spec.role_arn = Some("arn:aws:iam::111122223333:role/dialtone-alarms".into());
    for _ in 0..2 {
        engine
            .reconcile(&policies, Mode::Apply, Timestamp::now())
            .await;
    }
    engine.cleanup(&policies[1], Timestamp::now()).await;

    // A maintenance window: its mute rules created, then deleted with the window.
    let window: dialtone::api::MaintenanceWindow = serde_json::from_value(serde_json::json!({
        "apiVersion": "dialtone.io/v1alpha1", "kind": "MaintenanceWindow",
        "metadata": {"name": "weekly", "namespace": "contact-center"},
        "spec": {"schedule": "0 2 * * SUN", "duration": "2h",
                 "suppress": {"alarmPolicySelector": {"matchLabels": {"tier": "prod"}}}},
    }))
    .expect("window");
    let selected: Vec<&dialtone::api::AlarmPolicy> = policies.iter().collect();
    let mut mute = MuteEngine::new(emulator.clients().await);
    let present = [WindowView {
        owner: "contact-center/weekly".into(),
        standing: Standing::Present(&window),
        footprint: &[],
    }];
    let swept = mute
        .sweep(
            &present,
            &selected,
            &Default::default(),
            None,
            Mode::Apply,
            &Default::default(),
            Timestamp::now(),
        )
        .await;
    assert!(swept[0].all_done().next().is_some(), "rules created");
    let gone = [WindowView {
        owner: "contact-center/weekly".into(),
        standing: Standing::Gone,
        footprint: &swept[0].footprint,
    }];
    mute.sweep(
        &gone,
        &selected,
        &Default::default(),
        None,
        Mode::Apply,
        &Default::default(),
        Timestamp::now(),
    )
    .await;

    // A region probe: alarm states, the instance, its traffic distribution group and traffic.
    let (instance, group) = emulator.replicated_instance().await;
    let region: dialtone::api::ContactCenterRegion = serde_json::from_value(serde_json::json!({
        "apiVersion": "dialtone.io/v1alpha1", "kind": "ContactCenterRegion",
        "metadata": {"name": "use1", "namespace": "contact-center"},
        "spec": {"region": "us-east-1", "instanceId": instance, "trafficDistributionGroupArn": group,
                 "health": {"alarmPolicySelector": {"matchLabels": {"tier": "prod"}}}},
    }))
    .expect("region");
    dialtone::controller::contact_center_region::probe(
        &*emulator.clients().await,
        &[(&region, None)],
        &selected,
        &Default::default(),
    )
    .await;

    // A FailoverPlan: peacetime (lever alarm, its data, health checks, records, then INSYNC), a
    // check repaired, a failover (traffic, lever), records edited, and the plan deleted.
    emulator.set_change_seconds(1);
    emulator.set_update_seconds(0);
    let zone = emulator.hosted_zone("contact.example.com").await;
    let ready: dialtone::api::ContactCenterRegionStatus = serde_json::from_value(serde_json::json!({
        "health": "Healthy", "conditions": [{"type": "ReadyForTraffic", "status": "True",
            "reason": "Ready", "message": "ready", "lastTransitionTime": "2026-11-29T00:00:00Z"}],
    }))
    .expect("status");
    let west: dialtone::api::ContactCenterRegion = serde_json::from_value(serde_json::json!({
        "apiVersion": "dialtone.io/v1alpha1", "kind": "ContactCenterRegion",
        "metadata": {"name": "usw2", "namespace": "contact-center"},
        "spec": {"region": "us-west-2", "instanceId": instance, "trafficDistributionGroupArn": group},
    }))
    .expect("region");
    let plan_of = |active: &str, lever: &str| -> dialtone::api::FailoverPlan {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "dialtone.io/v1alpha1", "kind": "FailoverPlan",
            "metadata": {"name": "dr", "namespace": "contact-center"},
            "spec": {"primary": {"regionRef": "use1"}, "secondary": {"regionRef": "usw2"},
                     "activeRegion": active, "trafficDistribution": {"groupArn": group},
                     "dns": {"hostedZoneId": zone, "lever": lever, "records": [
                         {"name": "chat.contact.example.com", "type": "CNAME",
                          "primary": "chat-use1.example.com", "secondary": "chat-usw2.example.com",
                          "healthCheck": {"protocol": "HTTPS", "path": "/health"}}]}},
        }))
        .expect("plan")
    };
    let engine = FailoverEngine::new(emulator.clients().await);
    let mut status: Option<dialtone::api::FailoverPlanStatus> = None;
    for (active, lever) in [
        ("primary", "alarm"),
        ("primary", "alarm"),
        ("secondary", "alarm"),
        // The lever changed to record edits on the secondary side: the records follow.
        ("secondary", "recordEdit"),
    ] {
        let plan = plan_of(active, lever);
        let context = PlanContext {
            plan: &plan,
            primary: Some((&region, Some(&ready))),
            secondary: Some((&west, Some(&ready))),
            previous: status.as_ref(),
            withheld: None,
            announce: false,
            drill_window: None,
        };
        let outcome = engine
            .reconcile(context, Mode::Apply, Timestamp::now())
            .await;
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        status = Some(outcome.status);
        if status
            .as_ref()
            .and_then(|s| s.last_failover.as_ref())
            .is_none()
        {
            // Someone lowers the endpoint check's failure threshold: peacetime repairs it.
            let route53 = emulator.route53();
            for check in emulator.health_checks().await {
                if check
                    .health_check_config()
                    .is_some_and(|c| c.r#type().as_str() == "HTTPS")
                {
                    route53
                        .update_health_check()
                        .health_check_id(check.id())
                        .health_check_version(check.health_check_version())
                        .failure_threshold(1)
                        .send()
                        .await
                        .expect("UpdateHealthCheck by hand");
                }
            }
        }
    }
    let footprint = status.map(|s| s.footprint).unwrap_or_default();
    let (_, errors, left) = engine
        .cleanup("contact-center/dr", &footprint, None, Mode::Apply)
        .await;
    assert!(errors.is_empty() && left.is_empty(), "{errors:?} {left:?}");

    let called: BTreeSet<String> = emulator
        .dialtone_calls()
        .iter()
        .map(|c| iam_action(c))
        .collect();
    let granted = policy_actions();
    let denied: Vec<&String> = called.difference(&granted).collect();
    assert!(
        denied.is_empty(),
        "dialtone calls actions the policy does not grant: {denied:?}"
    );
    let unused: Vec<&String> = granted.difference(&called).collect();
    assert!(
        unused.is_empty(),
        "the policy grants actions dialtone never calls: {unused:?}"
    );
    assert!(
        emulator.calls().len() > emulator.dialtone_calls().len(),
        "the test's own calls are not counted"
    );
}

//! FailoverPlan against the emulator, through the `dialtone` binary and the real SDK: a commit that
//! flips `activeRegion` is a failover carried out as idempotent steps (readiness, one
//! UpdateTrafficDistribution in the target region, the DNS lever published with no Route 53 call,
//! the checklist), previewed by `plan`, blocked when the target is not ready, and finished by a new
//! process after a crash in the middle.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::emulator::Emulator;
use support::process::{Scratch, apply_json, dialtone, spawn, text, wait_for};

fn regions(instance: &str, group: &str) -> String {
    let region = |name: &str, region: &str| {
        format!(
            "apiVersion: dialtone.io/v1alpha1\nkind: ContactCenterRegion\nmetadata: {{name: {name}, namespace: cc}}\nspec:\n  region: {region}\n  instanceId: {instance}\n  trafficDistributionGroupArn: {group}\n"
        )
    };
    format!(
        "{}---\n{}",
        region("use1", "us-east-1"),
        region("usw2", "us-west-2")
    )
}

/// A replicated contact center, its hosted zone, and a directory with its regions and plan.
struct Cc {
    scratch: Scratch,
    instance: String,
    group: String,
    zone: String,
}

/// The plan: `activeRegion: active`, the DNS lever `lever`, `extra` metadata (annotations).
/// Two record pairs: chat (CNAME, with an HTTPS health check on the primary endpoint) and api (A,
/// no endpoint check).
fn plan(cc: &Cc, active: &str, lever: &str, extra: &str) -> String {
    format!(
        "apiVersion: dialtone.io/v1alpha1\nkind: FailoverPlan\nmetadata: {{name: dr, namespace: cc{extra}}}\nspec:\n  primary: {{regionRef: use1}}\n  secondary: {{regionRef: usw2}}\n  activeRegion: {active}\n  trafficDistribution: {{groupArn: {}}}\n  dns:\n    hostedZoneId: {}\n    lever: {lever}\n    records:\n    - {{name: chat.contact.example.com, type: CNAME, primary: chat-use1.example.com, secondary: chat-usw2.example.com, healthCheck: {{protocol: HTTPS, path: /health}}}}\n    - {{name: api.contact.example.com, type: A, ttl: 30, primary: 192.0.2.10, secondary: 198.51.100.10}}\n",
        cc.group, cc.zone
    )
}

async fn contact_center(emulator: &Emulator, name: &str) -> Cc {
    let (instance, group) = emulator.replicated_instance().await;
    let zone = emulator.hosted_zone("contact.example.com").await;
    let cc = Cc {
        scratch: Scratch::empty(name),
        instance,
        group,
        zone,
    };
    cc.scratch
        .write("20-regions.yaml", &regions(&cc.instance, &cc.group));
    cc.scratch
        .write("30-plan.yaml", &plan(&cc, "primary", "alarm", ""));
    cc
}

fn apply(emulator: &Emulator, scratch: &Scratch) -> (Value, String) {
    let applied = apply_json(emulator, scratch.path());
    (applied.document, applied.log)
}

fn condition(status: &Value, type_: &str) -> Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .cloned()
        .unwrap_or_else(|| panic!("condition {type_} in {status}"))
}

fn plan_status(document: &Value) -> Value {
    document["objects"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["kind"] == "FailoverPlan"))
        .map(|o| o["status"].clone())
        .expect("the plan's status")
}

/// Telephony and agent shares per region, as GetTrafficDistribution reads them (the same when
/// they agree, which the test then asserts once).
async fn telephony(emulator: &Emulator, group: &str) -> Vec<(String, i32)> {
    let traffic = emulator
        .connect("us-east-1")
        .get_traffic_distribution()
        .id(group)
        .send()
        .await
        .expect("GetTrafficDistribution");
    let shares = |distributions: &[aws_sdk_connect::types::Distribution]| {
        let mut shares: Vec<(String, i32)> = distributions
            .iter()
            .map(|d| (d.region().to_string(), d.percentage()))
            .collect();
        shares.sort();
        shares
    };
    let telephony = shares(
        traffic
            .telephony_config()
            .map(|t| t.distributions())
            .unwrap_or_default(),
    );
    let agents = shares(
        traffic
            .agent_config()
            .map(|a| a.distributions())
            .unwrap_or_default(),
    );
    assert_eq!(telephony, agents, "agents move with telephony");
    telephony
}

async fn lever_state(emulator: &Emulator) -> Option<String> {
    emulator
        .cloudwatch("us-west-2")
        .describe_alarms()
        .alarm_names("dialtone/cc/dr/dns-lever")
        .send()
        .await
        .expect("DescribeAlarms")
        .metric_alarms()
        .first()
        .and_then(|a| a.state_value().map(|s| s.as_str().to_string()))
}

/// The ids of the CALCULATED check and of the CLOUDWATCH_METRIC check of the plan's peacetime,
/// after checking there are exactly these two and one HTTPS endpoint check.
async fn peacetime_checks(emulator: &Emulator) -> (String, String) {
    let checks = emulator.health_checks().await;
    let of_type = |kind: &str| -> Vec<String> {
        checks
            .iter()
            .filter(|c| {
                c.health_check_config()
                    .is_some_and(|config| config.r#type().as_str() == kind)
            })
            .map(|c| c.id().to_string())
            .collect()
    };
    assert_eq!(of_type("HTTPS").len(), 1, "{checks:?}");
    let (calculated, metric) = (of_type("CALCULATED"), of_type("CLOUDWATCH_METRIC"));
    assert_eq!((calculated.len(), metric.len()), (1, 1), "{checks:?}");
    (calculated[0].clone(), metric[0].clone())
}

fn route53_calls(emulator: &Emulator) -> Vec<String> {
    emulator
        .dialtone_calls()
        .into_iter()
        .filter(|c| c.starts_with("route53:"))
        .collect()
}

#[tokio::test]
async fn a_commit_fails_over_with_one_traffic_call_and_no_route53_call_then_fails_back() {
    let emulator = Emulator::acquire().await;
    emulator.set_update_seconds(1);
    let cc = contact_center(&emulator, "fp-flip").await;
    let (document, _) = apply(&emulator, &cc.scratch);
    let status = plan_status(&document);
    assert_eq!(status["phase"], "Steady", "{status}");
    assert_eq!(status["activeRegion"], "primary");
    assert_eq!(
        lever_state(&emulator).await.as_deref(),
        Some("OK"),
        "the lever alarm exists"
    );
    // Peacetime in Route 53: the record pairs, the endpoint check, the check on the lever alarm,
    // and on chat's PRIMARY record a CALCULATED check requiring both.
    let (calculated, metric) = peacetime_checks(&emulator).await;
    assert_eq!(
        emulator.failover_records(&cc.zone).await,
        [
            format!("api.contact.example.com. A PRIMARY dialtone/cc/dr/primary 192.0.2.10 {metric}"),
            "api.contact.example.com. A SECONDARY dialtone/cc/dr/secondary 198.51.100.10".into(),
            format!(
                "chat.contact.example.com. CNAME PRIMARY dialtone/cc/dr/primary chat-use1.example.com {calculated}"
            ),
            "chat.contact.example.com. CNAME SECONDARY dialtone/cc/dr/secondary chat-usw2.example.com"
                .into(),
        ]
    );
    assert!(
        emulator.healthy(&calculated).await,
        "Route 53 answers PRIMARY"
    );
    assert_eq!(
        condition(&status, "ReadyToFailOver")["status"],
        "True",
        "{status}"
    );
    emulator.forget_calls();
    apply(&emulator, &cc.scratch);
    assert!(
        emulator.writes().is_empty(),
        "peacetime converged: {:?}",
        emulator.writes()
    );

    // The commit.
    cc.scratch
        .write("30-plan.yaml", &plan(&cc, "secondary", "alarm", ""));
    emulator.forget_calls();
    let (document, log) = apply(&emulator, &cc.scratch);
    assert_eq!(
        emulator.regions_of("connect:UpdateTrafficDistribution"),
        ["us-west-2"],
        "exactly one UpdateTrafficDistribution, in the target region: {log}"
    );
    assert_eq!(
        emulator.regions_of("cloudwatch:PutMetricData"),
        ["us-west-2"]
    );
    assert!(
        route53_calls(&emulator).is_empty(),
        "{:?}",
        route53_calls(&emulator)
    );
    assert_eq!(
        telephony(&emulator, &cc.group).await,
        [("us-east-1".to_string(), 0), ("us-west-2".to_string(), 100)]
    );
    assert_eq!(lever_state(&emulator).await.as_deref(), Some("ALARM"));
    assert!(
        !emulator.healthy(&calculated).await && !emulator.healthy(&metric).await,
        "Route 53's health checkers now answer the SECONDARY records"
    );
    let status = plan_status(&document);
    assert_eq!(status["phase"], "FailedOver", "{status}");
    assert_eq!(status["activeRegion"], "secondary");
    let last = &status["lastFailover"];
    assert_eq!(
        (
            last["from"].as_str(),
            last["to"].as_str(),
            last["trigger"].as_str()
        ),
        (Some("primary"), Some("secondary"), Some("spec"))
    );
    let steps: Vec<&str> = last["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(steps, ["readiness", "traffic", "dns", "checklist"]);
    let checklist = last["checklist"].as_array().expect("checklist");
    assert_eq!(checklist.len(), 3);
    assert!(
        checklist.iter().all(|c| c["passed"] == true),
        "{checklist:?}"
    );
    assert!(last["durationSeconds"].is_number());

    emulator.forget_calls();
    apply(&emulator, &cc.scratch);
    assert!(
        emulator.writes().is_empty(),
        "a second apply writes nothing: {:?}",
        emulator.writes()
    );

    // Failback, with the Route 53 control plane down: it is not needed.
    emulator.outage("us-east-1", Some("route53"));
    cc.scratch
        .write("30-plan.yaml", &plan(&cc, "primary", "alarm", ""));
    let (document, log) = apply(&emulator, &cc.scratch);
    emulator.end_outages();
    let status = plan_status(&document);
    assert_eq!(status["phase"], "Steady", "{status}\n{log}");
    assert_eq!(
        telephony(&emulator, &cc.group).await,
        [("us-east-1".to_string(), 100), ("us-west-2".to_string(), 0)]
    );
    assert_eq!(lever_state(&emulator).await.as_deref(), Some("OK"));
    assert!(emulator.healthy(&calculated).await, "PRIMARY again");
}

#[tokio::test]
async fn a_target_that_is_not_ready_blocks_with_no_write_unless_forced() {
    let emulator = Emulator::acquire().await;
    emulator.set_update_seconds(0);
    let cc = contact_center(&emulator, "fp-blocked").await;
    apply(&emulator, &cc.scratch);
    emulator.set_replication(
        "us-west-2",
        &cc.instance,
        "us-west-2",
        "INSTANCE_REPLICATION_IN_PROGRESS",
    );
    cc.scratch
        .write("30-plan.yaml", &plan(&cc, "secondary", "alarm", ""));
    emulator.forget_calls();
    let (document, _) = apply(&emulator, &cc.scratch);
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
    let status = plan_status(&document);
    assert_eq!(status["phase"], "Blocked", "{status}");
    let evaluation = condition(&status, "ReadyToFailOver");
    assert_eq!(evaluation["status"], "False");
    assert!(
        evaluation["message"]
            .as_str()
            .unwrap_or_default()
            .contains("us-west-2 is not ready for traffic"),
        "{evaluation}"
    );
    let ready = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .expect("Ready");
    assert_eq!(ready["reason"], "Blocked");
    assert!(
        ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains("IN_PROGRESS"),
        "{ready}"
    );

    cc.scratch.write(
        "30-plan.yaml",
        &plan(
            &cc,
            "secondary",
            "alarm",
            ", annotations: {dialtone.io/force-failover: \"INC-5 primary is down\"}",
        ),
    );
    let (document, _) = apply(&emulator, &cc.scratch);
    let status = plan_status(&document);
    assert_eq!(status["activeRegion"], "secondary", "{status}");
    assert_eq!(
        emulator.regions_of("connect:UpdateTrafficDistribution"),
        ["us-west-2"]
    );
    let readiness = &status["lastFailover"]["steps"][0];
    assert!(
        readiness["message"]
            .as_str()
            .unwrap_or_default()
            .contains("forced: INC-5"),
        "{readiness}"
    );
}

#[tokio::test]
async fn plan_previews_a_pending_failover_as_steps_and_calls_and_writes_nothing() {
    let emulator = Emulator::acquire().await;
    let cc = contact_center(&emulator, "fp-plan").await;
    apply(&emulator, &cc.scratch);
    cc.scratch
        .write("30-plan.yaml", &plan(&cc, "secondary", "alarm", ""));
    emulator.forget_calls();
    let out = dialtone(
        &emulator,
        &["plan", "-f", cc.scratch.path(), "--detailed-exitcode"],
    );
    let output = text(&out);
    assert_eq!(out.status.code(), Some(2), "{output}");
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
    assert!(
        output.contains("! failover to the secondary side"),
        "{output}"
    );
    assert!(
        output.contains("UpdateTrafficDistribution in us-west-2:")
            && output.contains("telephony us-west-2 100 %, us-east-1 0 %"),
        "{output}"
    );
    assert!(
        output.contains(
            "PutMetricData in us-west-2: dialtone/SideEnabled{FailoverPlan=cc/dr, Side=primary} = 0"
        ),
        "{output}"
    );
    assert!(output.contains("1 failover(s)"), "{output}");
}

#[tokio::test]
async fn a_crash_after_the_traffic_call_is_finished_by_the_next_apply_without_a_second_call() {
    let emulator = Emulator::acquire().await;
    emulator.set_update_seconds(6);
    let cc = contact_center(&emulator, "fp-crash").await;
    apply(&emulator, &cc.scratch);
    cc.scratch
        .write("30-plan.yaml", &plan(&cc, "secondary", "alarm", ""));
    emulator.forget_calls();
    let (mut child, lines) = spawn(
        &emulator,
        &["apply", "-f", cc.scratch.path(), "--aws-rate", "all=0"],
    );
    wait_for(&lines, "UpdateTrafficDistribution", Duration::from_secs(60));
    // kill -9 while the group is UPDATE_IN_PROGRESS.
    child.0.kill().expect("kill -9");
    let _ = child.0.wait();
    assert_eq!(
        emulator
            .regions_of("connect:UpdateTrafficDistribution")
            .len(),
        1
    );
    assert!(
        lever_state(&emulator).await.as_deref() != Some("ALARM"),
        "the DNS step did not run yet"
    );

    let (document, log) = apply(&emulator, &cc.scratch);
    let status = plan_status(&document);
    assert_eq!(status["phase"], "FailedOver", "{status}\n{log}");
    assert_eq!(
        emulator
            .regions_of("connect:UpdateTrafficDistribution")
            .len(),
        1,
        "the same failover finished, no second traffic call"
    );
    let traffic_step = &status["lastFailover"]["steps"][1];
    assert_eq!(traffic_step["result"], "AlreadyDone", "{traffic_step}");
    assert_eq!(lever_state(&emulator).await.as_deref(), Some("ALARM"));
    assert!(
        status["lastFailover"]["checklist"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["passed"] == true))
    );
}

#[tokio::test]
async fn record_edit_rewrites_the_primary_records_and_says_it_needs_route53() {
    let emulator = Emulator::acquire().await;
    emulator.set_update_seconds(0);
    emulator.set_change_seconds(1);
    let cc = contact_center(&emulator, "fp-record-edit").await;
    cc.scratch
        .write("30-plan.yaml", &plan(&cc, "primary", "recordEdit", ""));
    let (document, log) = apply(&emulator, &cc.scratch);
    let status = plan_status(&document);
    assert_eq!(status["phase"], "Steady", "{status}\n{log}");
    assert_eq!(status["dnsLever"]["dependsOnRoute53ControlPlane"], true);
    let endpoint: Vec<String> = emulator
        .health_checks()
        .await
        .iter()
        .map(|c| c.id().to_string())
        .collect();
    assert_eq!(endpoint.len(), 1, "the endpoint check only: no lever");
    let primary_records = |records: &[String]| -> Vec<String> {
        records
            .iter()
            .filter(|r| r.contains(" PRIMARY "))
            .cloned()
            .collect()
    };
    assert_eq!(
        primary_records(&emulator.failover_records(&cc.zone).await),
        [
            "api.contact.example.com. A PRIMARY dialtone/cc/dr/primary 192.0.2.10".to_string(),
            format!(
                "chat.contact.example.com. CNAME PRIMARY dialtone/cc/dr/primary chat-use1.example.com {}",
                endpoint[0]
            ),
        ]
    );

    // The failover: one change batch rewrites the PRIMARY records to the secondary's values.
    cc.scratch
        .write("30-plan.yaml", &plan(&cc, "secondary", "recordEdit", ""));
    emulator.forget_calls();
    let (document, log) = apply(&emulator, &cc.scratch);
    let status = plan_status(&document);
    assert_eq!(status["phase"], "FailedOver", "{status}\n{log}");
    assert_eq!(emulator.count("route53:ChangeResourceRecordSets"), 1);
    assert!(
        emulator.count("route53:GetChange") >= 1,
        "waited for INSYNC"
    );
    assert_eq!(
        primary_records(&emulator.failover_records(&cc.zone).await),
        [
            "api.contact.example.com. A PRIMARY dialtone/cc/dr/primary 198.51.100.10",
            "chat.contact.example.com. CNAME PRIMARY dialtone/cc/dr/primary chat-usw2.example.com",
        ]
    );
    let last = &status["lastFailover"];
    assert_eq!(last["steps"][2]["name"], "dns");
    assert_eq!(last["steps"][2]["result"], "Succeeded", "{last}");
    assert!(
        last["checklist"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["name"] == "the DNS records read back as intended" && c["passed"] == true)),
        "{last}"
    );
    emulator.forget_calls();
    apply(&emulator, &cc.scratch);
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());

    // Failback puts the primary values and the endpoint check back.
    cc.scratch
        .write("30-plan.yaml", &plan(&cc, "primary", "recordEdit", ""));
    let (document, _) = apply(&emulator, &cc.scratch);
    assert_eq!(plan_status(&document)["phase"], "Steady");
    assert!(
        primary_records(&emulator.failover_records(&cc.zone).await)[1]
            .ends_with(&format!("chat-use1.example.com {}", endpoint[0]))
    );
}

#[tokio::test]
async fn what_the_spec_no_longer_declares_goes_from_route53_and_cloudwatch() {
    let emulator = Emulator::acquire().await;
    let cc = contact_center(&emulator, "fp-removed").await;
    apply(&emulator, &cc.scratch);
    assert_eq!(emulator.failover_records(&cc.zone).await.len(), 4);
    assert_eq!(emulator.health_checks().await.len(), 3);

    // chat's pair removed (api stays): its records, its endpoint and CALCULATED checks go.
    let without_chat: String = plan(&cc, "primary", "alarm", "")
        .lines()
        .filter(|l| !l.contains("chat.contact"))
        .map(|l| format!("{l}\n"))
        .collect();
    cc.scratch.write("30-plan.yaml", &without_chat);
    let preview = dialtone(
        &emulator,
        &["plan", "-f", cc.scratch.path(), "--detailed-exitcode"],
    );
    assert_eq!(preview.status.code(), Some(2), "{}", text(&preview));
    assert!(
        text(&preview).contains("DELETE chat.contact.example.com. CNAME PRIMARY"),
        "{}",
        text(&preview)
    );
    let (_, log) = apply(&emulator, &cc.scratch);
    let records = emulator.failover_records(&cc.zone).await;
    assert_eq!(records.len(), 2, "{records:?}\n{log}");
    assert!(records.iter().all(|r| r.starts_with("api.")));
    let checks = emulator.health_checks().await;
    assert_eq!(checks.len(), 1, "the lever's check only: {checks:?}");

    // The plan removed: everything it wrote goes.
    cc.scratch.remove("30-plan.yaml");
    let (_, log) = apply(&emulator, &cc.scratch);
    assert!(
        emulator.failover_records(&cc.zone).await.is_empty(),
        "{log}"
    );
    assert!(emulator.health_checks().await.is_empty(), "{log}");
    assert_eq!(
        lever_state(&emulator).await,
        None,
        "the lever alarm is gone"
    );
}

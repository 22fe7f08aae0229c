//! MaintenanceWindow against the emulator, through the `dialtone` binary and the real SDK: the
//! selected policies' alarms muted in AWS by CloudWatch alarm mute rules, reconciled like alarms.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{MuteTargets, Rule, Schedule};
use k8s_openapi::jiff::{Timestamp, ToSpan, tz::TimeZone};
use serde_json::Value;
use support::emulator::Emulator;
use support::process::{Scratch, apply_json, dialtone, run_manifests, text, wait_for};

/// A policy of 75 alarms: 30 medium, 30 low and 15 of `other` severity.
fn policy(name: &str, other: &str) -> String {
    let mut alarms = String::new();
    for i in 0..75 {
        let severity = match i % 5 {
            0 | 1 => "medium",
            2 | 3 => "low",
            _ => other,
        };
        alarms.push_str(&format!(
            "  - name: a{i:02}\n    severity: {severity}\n    metric: {{namespace: AWS/Lambda, metricName: Errors, dimensions: {{FunctionName: f{i}}}, statistic: Sum}}\n    threshold: 1\n    comparisonOperator: GreaterThanThreshold\n"
        ));
    }
    format!(
        "apiVersion: dialtone.io/v1alpha1\nkind: AlarmPolicy\nmetadata: {{name: {name}, namespace: cc, labels: {{tier: prod}}}}\nspec:\n  region: us-east-1\n  routing: {{critical: {{}}, high: {{}}, medium: {{}}, low: {{}}}}\n  alarms:\n{alarms}"
    )
}

fn window(extra: &str) -> String {
    format!(
        "apiVersion: dialtone.io/v1alpha1\nkind: MaintenanceWindow\nmetadata: {{name: weekly, namespace: cc}}\nspec:\n  schedule: \"0 2 * * SUN\"\n  timeZone: America/New_York\n  duration: 2h\n  suppress:\n    alarmPolicySelector: {{matchLabels: {{tier: prod}}}}\n    severities: [medium, low]\n{extra}"
    )
}

fn contact_center(name: &str, extra: &str) -> Scratch {
    let scratch = Scratch::empty(name);
    scratch.write("10-a.yaml", &policy("backends", "high"));
    scratch.write("11-b.yaml", &policy("queues", "critical"));
    scratch.write("40-window.yaml", &window(extra));
    scratch
}

/// The medium and low alarms of both policies: 120 of the 150.
fn muted() -> BTreeSet<String> {
    ["backends", "queues"]
        .iter()
        .flat_map(|p| {
            (0..75)
                .filter(|i| i % 5 < 4)
                .map(move |i| format!("cc/{p}/a{i:02}"))
        })
        .collect()
}

fn apply(emulator: &Emulator, scratch: &Scratch) -> Value {
    let applied = apply_json(emulator, scratch.path());
    assert!(applied.success, "{}\n{}", applied.document, applied.log);
    applied.document
}

fn window_status(document: &Value) -> Value {
    document["objects"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["kind"] == "MaintenanceWindow"))
        .map(|o| o["status"].clone())
        .expect("the window's status")
}

async fn rule_names(emulator: &Emulator) -> Vec<String> {
    let rules = emulator
        .cloudwatch("us-east-1")
        .list_alarm_mute_rules()
        .send()
        .await
        .expect("ListAlarmMuteRules");
    let mut names: Vec<String> = rules
        .alarm_mute_rule_summaries()
        .iter()
        .filter_map(|s| s.alarm_mute_rule_arn())
        .filter_map(|arn| {
            arn.split_once(":alarm-mute-rule:")
                .map(|(_, n)| n.to_string())
        })
        .collect();
    names.sort();
    names
}

fn mute_writes(emulator: &Emulator) -> Vec<String> {
    emulator
        .writes()
        .into_iter()
        .filter(|w| w.contains("MuteRule"))
        .collect()
}

/// The next 02:00 on a Sunday in New York after `now`: walked day by day with jiff, independently
/// of the schedule code.
fn next_sunday_2am_new_york(now: Timestamp) -> Timestamp {
    let zone = TimeZone::get("America/New_York").expect("zone");
    let mut day = now.to_zoned(zone.clone()).date();
    loop {
        let start = day
            .at(2, 0, 0, 0)
            .to_zoned(zone.clone())
            .expect("02:00 exists on Sundays in New York")
            .timestamp();
        if day.weekday() == k8s_openapi::jiff::civil::Weekday::Sunday && start > now {
            return start;
        }
        day = day.tomorrow().expect("a tomorrow");
    }
}

#[tokio::test]
async fn a_window_mutes_exactly_its_alarms_with_rules_as_declared_and_converges() {
    let emulator = Emulator::acquire().await;
    let scratch = contact_center("mw-rules", "");
    let before = Timestamp::now();
    let document = apply(&emulator, &scratch);

    assert_eq!(
        rule_names(&emulator).await,
        [
            "dialtone/cc/weekly/recurring-0",
            "dialtone/cc/weekly/recurring-1"
        ]
    );
    let cloudwatch = emulator.cloudwatch("us-east-1");
    let mut targets = BTreeSet::new();
    for name in [
        "dialtone/cc/weekly/recurring-0",
        "dialtone/cc/weekly/recurring-1",
    ] {
        let rule = cloudwatch
            .get_alarm_mute_rule()
            .alarm_mute_rule_name(name)
            .send()
            .await
            .expect("GetAlarmMuteRule");
        let schedule = rule.rule().and_then(|r| r.schedule()).expect("schedule");
        assert_eq!(schedule.expression(), Some("cron(0 2 * * SUN)"));
        assert_eq!(schedule.timezone(), Some("America/New_York"));
        assert_eq!(schedule.duration(), Some("PT2H"));
        targets.extend(
            rule.mute_targets()
                .expect("targets")
                .alarm_names()
                .iter()
                .cloned(),
        );
    }
    assert_eq!(
        targets,
        muted(),
        "exactly the medium and low alarms of both policies"
    );

    let status = window_status(&document);
    assert_eq!(status["open"], false, "{status}");
    assert_eq!(status["mutedAlarms"], 0);
    assert_eq!(status["muteRules"].as_array().map(Vec::len), Some(2));
    assert_eq!(status["muteRules"][0]["alarmCount"], 100);
    let next: Timestamp = status["nextWindow"]["start"]
        .as_str()
        .expect("nextWindow")
        .parse()
        .expect("a time");
    assert_eq!(next, next_sunday_2am_new_york(before), "{status}");

    // Steady state: nothing to write.
    emulator.forget_calls();
    apply(&emulator, &scratch);
    assert!(
        mute_writes(&emulator).is_empty(),
        "{:?}",
        mute_writes(&emulator)
    );

    // Out of band: one rule deleted, the other edited; a foreign rule on the same alarms.
    cloudwatch
        .delete_alarm_mute_rule()
        .alarm_mute_rule_name("dialtone/cc/weekly/recurring-1")
        .send()
        .await
        .expect("delete by hand");
    let some: Vec<String> = muted().into_iter().take(3).collect();
    cloudwatch
        .put_alarm_mute_rule()
        .name("dialtone/cc/weekly/recurring-0")
        .rule(
            Rule::builder()
                .schedule(
                    Schedule::builder()
                        .expression("cron(0 3 * * SUN)")
                        .duration("PT1H")
                        .timezone("America/New_York")
                        .build(),
                )
                .build(),
        )
        .mute_targets(
            MuteTargets::builder()
                .set_alarm_names(Some(some.clone()))
                .build(),
        )
        .send()
        .await
        .expect("edit by hand");
    cloudwatch
        .put_alarm_mute_rule()
        .name("team-x-quiet-hours")
        .rule(
            Rule::builder()
                .schedule(
                    Schedule::builder()
                        .expression("cron(0 0 * * *)")
                        .duration("PT8H")
                        .build(),
                )
                .build(),
        )
        .mute_targets(MuteTargets::builder().set_alarm_names(Some(some)).build())
        .send()
        .await
        .expect("a foreign rule");
    let plan = dialtone(
        &emulator,
        &["plan", "-f", scratch.path(), "--detailed-exitcode"],
    );
    let plan_text = text(&plan);
    assert_eq!(plan.status.code(), Some(2), "{plan_text}");
    assert!(
        plan_text.contains("~ update mute rule dialtone/cc/weekly/recurring-0"),
        "{plan_text}"
    );
    assert!(
        plan_text.contains("expression: \"cron(0 3 * * SUN)\" -> \"cron(0 2 * * SUN)\""),
        "{plan_text}"
    );
    assert!(
        plan_text.contains("+ create mute rule dialtone/cc/weekly/recurring-1"),
        "{plan_text}"
    );
    emulator.forget_calls();
    apply(&emulator, &scratch);
    let repaired = cloudwatch
        .get_alarm_mute_rule()
        .alarm_mute_rule_name("dialtone/cc/weekly/recurring-0")
        .send()
        .await
        .expect("repaired");
    let schedule = repaired
        .rule()
        .and_then(|r| r.schedule())
        .expect("schedule");
    assert_eq!(
        (schedule.expression(), schedule.duration()),
        (Some("cron(0 2 * * SUN)"), Some("PT2H"))
    );
    assert_eq!(
        repaired.mute_targets().map(|t| t.alarm_names().len()),
        Some(100)
    );
    assert!(
        rule_names(&emulator)
            .await
            .contains(&"dialtone/cc/weekly/recurring-1".to_string())
    );
    let foreign = cloudwatch
        .get_alarm_mute_rule()
        .alarm_mute_rule_name("team-x-quiet-hours")
        .send()
        .await
        .expect("the foreign rule is still there");
    assert_eq!(
        foreign.mute_targets().map(|t| t.alarm_names().len()),
        Some(3),
        "untouched"
    );
    let reads = emulator
        .dialtone_calls()
        .iter()
        .filter(|c| *c == "cloudwatch:GetAlarmMuteRule")
        .count();
    assert_eq!(
        reads,
        1,
        "only dialtone's own rule that changed is read in detail (the foreign one never): {:?}",
        emulator.dialtone_calls()
    );
}

#[tokio::test]
async fn one_off_windows_become_at_rules_only_while_they_lie_ahead_or_are_open() {
    let emulator = Emulator::acquire().await;
    let now = Timestamp::now();
    let minute = |t: Timestamp| t.strftime("%Y-%m-%dT%H:%M:00Z").to_string();
    let open_start = now - 2.minutes();
    let future_start = now + 48.hours();
    let windows = format!(
        "  windows:\n  - {{start: \"{}\", end: \"{}\", reason: CHG-1 open now}}\n  - {{start: \"{}\", end: \"{}\", reason: CHG-2 ahead}}\n  - {{start: \"2026-01-10T01:00:00Z\", end: \"2026-01-10T02:00:00Z\", reason: CHG-0 past}}\n",
        minute(open_start),
        minute(now + 58.minutes()),
        minute(future_start),
        minute(future_start + 4.hours()),
    );
    let scratch = contact_center("mw-once", &windows);
    let document = apply(&emulator, &scratch);
    let names = rule_names(&emulator).await;
    let stamp = |t: Timestamp| t.strftime("%Y%m%dT%H%M").to_string();
    let ahead = format!("dialtone/cc/weekly/once-{}-0", stamp(future_start));
    assert!(names.contains(&ahead), "{names:?}");
    assert!(
        names.contains(&format!("dialtone/cc/weekly/once-{}-1", stamp(open_start))),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains("once-20260110")),
        "no rule for a past window: {names:?}"
    );
    let rule = emulator
        .cloudwatch("us-east-1")
        .get_alarm_mute_rule()
        .alarm_mute_rule_name(&ahead)
        .send()
        .await
        .expect("the one-off rule");
    let schedule = rule.rule().and_then(|r| r.schedule()).expect("schedule");
    assert_eq!(
        schedule.expression(),
        Some(format!("at({})", future_start.strftime("%Y-%m-%dT%H:%M")).as_str())
    );
    assert_eq!(
        (schedule.duration(), schedule.timezone()),
        (Some("PT4H"), Some("UTC"))
    );

    let status = window_status(&document);
    assert_eq!(status["open"], true, "{status}");
    assert_eq!(status["currentWindow"]["reason"], "CHG-1 open now");
    assert_eq!(status["mutedAlarms"], 120, "{status}");
}

#[tokio::test]
async fn removing_the_window_deletes_its_rules_in_run_manifests() {
    let emulator = Emulator::acquire().await;
    let scratch = contact_center("mw-removed", "");
    let (_child, lines) = run_manifests(&emulator, scratch.path());
    wait_for(
        &lines,
        "MaintenanceWindow cc/weekly: closed",
        Duration::from_secs(90),
    );
    assert_eq!(rule_names(&emulator).await.len(), 2);
    scratch.remove("40-window.yaml");
    wait_for(
        &lines,
        "deleted mute rule dialtone/cc/weekly/recurring-1",
        Duration::from_secs(60),
    );
    support::process::eventually("the rules are gone", Duration::from_secs(30), || async {
        rule_names(&emulator).await.is_empty()
    })
    .await;
    assert_eq!(
        emulator.alarm_names("us-east-1").await.len(),
        150,
        "the alarms themselves stay"
    );
}

//! Table tests of the planner with plain data.

use std::collections::{BTreeMap, BTreeSet};

use super::alarm::{
    AlarmConfig, MetricStat, Query, Source, Threshold, desired_alarms, managed_tag_keys,
    managed_tags_value,
};
use super::diff::{config_drift, tag_drift};
use super::sweep::{
    Action, Claim, Observed, OwnedAlarm, PolicyInput, PolicyPlan, RegionInput, plan_sweep,
};
use super::{DesiredAlarm, ObservedAlarm};
use crate::api::alarm_policy::{AlarmPolicySpec, FieldDrift, MANAGED_TAGS_TAG, OWNER_TAG};

fn metric() -> MetricStat {
    MetricStat {
        namespace: "AWS/Connect".into(),
        metric_name: "LongestQueueWaitTime".into(),
        dimensions: BTreeMap::from([
            ("InstanceId".into(), "i-1".into()),
            ("MetricGroup".into(), "Queue".into()),
        ]),
        stat: "Maximum".into(),
        period: 60,
        unit: None,
    }
}

fn config(name: &str) -> AlarmConfig {
    AlarmConfig {
        alarm_name: name.into(),
        description: Some("wait".into()),
        alarm_actions: BTreeSet::from([
            "arn:aws:sns:us-east-1:1:a".into(),
            "arn:aws:sns:us-east-1:1:b".into(),
        ]),
        ok_actions: BTreeSet::new(),
        insufficient_data_actions: BTreeSet::new(),
        source: Source::Metric(metric()),
        threshold: Threshold::Static(120.0),
        comparison_operator: "GreaterThanThreshold".into(),
        evaluation_periods: 3,
        datapoints_to_alarm: 2,
        treat_missing_data: "notBreaching".into(),
    }
}

fn math() -> Source {
    Source::Math(BTreeMap::from([
        (
            "errors".into(),
            Query {
                metric: Some(metric()),
                expression: None,
                label: None,
                return_data: false,
            },
        ),
        (
            "dialtone_expr".into(),
            Query {
                metric: None,
                expression: Some("100 * errors".into()),
                label: None,
                return_data: true,
            },
        ),
    ]))
}

fn d(field: &str, desired: &str, actual: &str) -> FieldDrift {
    FieldDrift {
        field: field.into(),
        desired: desired.into(),
        actual: actual.into(),
    }
}

#[test]
fn each_field_drifts_with_its_path() {
    type Change = fn(&mut AlarmConfig);
    let cases: Vec<(Change, Vec<FieldDrift>)> = vec![
        (
            |c| c.threshold = Threshold::Static(300.0),
            vec![d("threshold", "120", "300")],
        ),
        (|c| c.description = None, vec![d("description", "wait", "")]),
        (
            |c| c.comparison_operator = "LessThanThreshold".into(),
            vec![d(
                "comparisonOperator",
                "GreaterThanThreshold",
                "LessThanThreshold",
            )],
        ),
        (
            |c| c.evaluation_periods = 5,
            vec![d("evaluationPeriods", "3", "5")],
        ),
        (
            |c| c.datapoints_to_alarm = 1,
            vec![d("datapointsToAlarm", "2", "1")],
        ),
        (
            |c| c.treat_missing_data = "missing".into(),
            vec![d("treatMissingData", "notBreaching", "missing")],
        ),
        (
            |c| c.alarm_actions = BTreeSet::from(["arn:aws:sns:us-east-1:1:a".into()]),
            vec![d(
                "alarmActions",
                "arn:aws:sns:us-east-1:1:a, arn:aws:sns:us-east-1:1:b",
                "arn:aws:sns:us-east-1:1:a",
            )],
        ),
        (
            |c| c.ok_actions = BTreeSet::from(["x".into()]),
            vec![d("okActions", "", "x")],
        ),
        (
            |c| c.insufficient_data_actions = BTreeSet::from(["x".into()]),
            vec![d("insufficientDataActions", "", "x")],
        ),
        (
            |c| {
                if let Source::Metric(m) = &mut c.source {
                    m.dimensions.insert("QueueName".into(), "Other".into());
                }
            },
            vec![d("metric.dimensions.QueueName", "", "Other")],
        ),
        (
            |c| {
                if let Source::Metric(m) = &mut c.source {
                    m.dimensions.insert("MetricGroup".into(), "Agent".into());
                }
            },
            vec![d("metric.dimensions.MetricGroup", "Queue", "Agent")],
        ),
        (
            |c| {
                if let Source::Metric(m) = &mut c.source {
                    m.namespace = "AWS/Lambda".into()
                }
            },
            vec![d("metric.namespace", "AWS/Connect", "AWS/Lambda")],
        ),
        (
            |c| {
                if let Source::Metric(m) = &mut c.source {
                    m.metric_name = "X".into()
                }
            },
            vec![d("metric.metricName", "LongestQueueWaitTime", "X")],
        ),
        (
            |c| {
                if let Source::Metric(m) = &mut c.source {
                    m.stat = "p99".into()
                }
            },
            vec![d("metric.statistic", "Maximum", "p99")],
        ),
        (
            |c| {
                if let Source::Metric(m) = &mut c.source {
                    m.period = 300
                }
            },
            vec![d("metric.period", "60", "300")],
        ),
        (
            |c| {
                if let Source::Metric(m) = &mut c.source {
                    m.unit = Some("Seconds".into())
                }
            },
            vec![d("metric.unit", "", "Seconds")],
        ),
        (
            |c| c.source = math(),
            vec![d("metric", "a single metric", "a metric-math expression")],
        ),
        (
            |c| c.threshold = Threshold::Band(2.0),
            vec![d(
                "threshold",
                "120",
                "anomaly band of 2 standard deviations",
            )],
        ),
    ];
    for (i, (change, expected)) in cases.into_iter().enumerate() {
        let mut actual = config("a");
        change(&mut actual);
        assert_eq!(config_drift(&config("a"), &actual), expected, "case {i}");
    }
}

#[test]
fn identical_configs_do_not_drift_and_sets_ignore_order() {
    assert!(config_drift(&config("a"), &config("a")).is_empty());
    let mut reordered = config("a");
    reordered.alarm_actions = [
        "arn:aws:sns:us-east-1:1:b".to_string(),
        "arn:aws:sns:us-east-1:1:a".to_string(),
    ]
    .into_iter()
    .collect();
    assert!(config_drift(&config("a"), &reordered).is_empty());
}

#[test]
fn metric_math_compares_metrics_by_id() {
    let mut desired = config("a");
    desired.source = math();
    let mut actual = desired.clone();
    if let Source::Math(queries) = &mut actual.source {
        let errors = queries.get_mut("errors").expect("errors query");
        if let Some(m) = errors.metric.as_mut() {
            m.dimensions.insert("FunctionName".into(), "other".into());
        }
        queries.get_mut("dialtone_expr").expect("expr").expression = Some("10 * errors".into());
    }
    assert_eq!(
        config_drift(&desired, &actual),
        vec![
            d("expression.expression", "100 * errors", "10 * errors"),
            d(
                "expression.metrics.errors.metric.dimensions.FunctionName",
                "",
                "other"
            ),
        ]
    );
    if let Source::Math(queries) = &mut actual.source {
        queries.remove("errors");
    }
    assert!(config_drift(&desired, &actual).contains(&d(
        "expression.metrics.errors",
        "present",
        ""
    )));
}

#[test]
fn anomaly_band_width_drifts() {
    let mut desired = config("a");
    desired.threshold = Threshold::Band(2.0);
    let mut actual = desired.clone();
    actual.threshold = Threshold::Band(3.0);
    assert_eq!(
        config_drift(&desired, &actual),
        vec![d("anomalyBand.standardDeviations", "2", "3")]
    );
}

#[test]
fn tags_drift_only_for_declared_keys() {
    let desired = BTreeMap::from([
        (OWNER_TAG.to_string(), "ns/p".to_string()),
        ("team".into(), "cc".into()),
    ]);
    let actual = BTreeMap::from([
        (OWNER_TAG.to_string(), "ns/p".to_string()),
        ("team".into(), "ops".into()),
        ("cost-center".into(), "42".into()),
    ]);
    assert_eq!(
        tag_drift(&desired, &actual),
        vec![d("tags.team", "cc", "ops")]
    );
}

fn desired(name: &str) -> DesiredAlarm {
    DesiredAlarm {
        name: name.into(),
        config: config(&format!("ns/p/{name}")),
        tags: BTreeMap::from([(OWNER_TAG.to_string(), "ns/p".to_string())]),
    }
}

fn observed(config: AlarmConfig) -> ObservedAlarm {
    ObservedAlarm {
        arn: format!("arn:aws:cloudwatch:us-east-1:1:alarm:{}", config.alarm_name),
        config,
        state: "OK".into(),
        state_reason: Some("fine".into()),
        state_updated: None,
        config_updated: Some(1),
    }
}

fn owned(name: &str, owner: &str) -> (String, OwnedAlarm) {
    (
        name.to_string(),
        OwnedAlarm {
            arn: format!("arn:aws:cloudwatch:us-east-1:1:alarm:{name}"),
            tags: BTreeMap::from([(OWNER_TAG.to_string(), owner.to_string())]),
        },
    )
}

fn policy(alarms: Vec<DesiredAlarm>) -> PolicyInput {
    PolicyInput {
        owner: "ns/p".into(),
        desired: alarms,
        manage: true,
        adopt_existing: false,
        claim: Claim {
            prefix: Some("ns/p/".into()),
            recorded: BTreeSet::new(),
        },
    }
}

/// Plans `policies` alone in a region, nothing withheld, orphans not looked for.
fn plan_all(policies: &[PolicyInput], observed: &Observed) -> Vec<PolicyPlan> {
    let input = RegionInput {
        policies: policies.to_vec(),
        ..RegionInput::default()
    };
    plan_sweep(&input, observed).policies
}

fn kinds(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| format!("{} {}", a.verb(), a.alarm_name()))
        .collect()
}

#[test]
fn missing_alarms_are_created_with_missing_drift() {
    let plans = plan_all(&[policy(vec![desired("a")])], &Observed::default());
    assert_eq!(kinds(&plans[0].actions), ["create ns/p/a"]);
    assert_eq!(
        plans[0].alarms[0].drift,
        vec![d("alarm", "exists", "missing")]
    );
}

#[test]
fn matching_owned_alarms_need_nothing() {
    let alarm = desired("a");
    let observed = Observed {
        alarms: BTreeMap::from([("ns/p/a".into(), observed(alarm.config.clone()))]),
        owned: BTreeMap::from([owned("ns/p/a", "ns/p")]),
        owned_fresh: true,
    };
    let plans = plan_all(&[policy(vec![alarm])], &observed);
    assert!(plans[0].actions.is_empty());
    assert_eq!(plans[0].alarms[0].state.as_deref(), Some("OK"));
    assert!(plans[0].alarms[0].arn.is_some());
}

#[test]
fn drifted_owned_alarm_is_updated_and_missing_tag_is_tagged() {
    let alarm = desired("a");
    let mut changed = alarm.config.clone();
    changed.threshold = Threshold::Static(300.0);
    let mut tags = owned("ns/p/a", "ns/p");
    let mut with_team = alarm.clone();
    with_team.tags.insert("team".into(), "cc".into());
    tags.1.tags.insert("team".into(), "ops".into());
    let observed = Observed {
        alarms: BTreeMap::from([("ns/p/a".into(), observed(changed))]),
        owned: BTreeMap::from([tags]),
        owned_fresh: true,
    };
    let plans = plan_all(&[policy(vec![with_team])], &observed);
    assert_eq!(kinds(&plans[0].actions), ["update ns/p/a", "tag ns/p/a"]);
    assert_eq!(
        plans[0].alarms[0].drift,
        vec![d("threshold", "120", "300"), d("tags.team", "cc", "ops")]
    );
}

#[test]
fn foreign_alarm_is_a_conflict_and_untouched() {
    let alarm = desired("a");
    let observed = Observed {
        alarms: BTreeMap::from([("ns/p/a".into(), observed(alarm.config.clone()))]),
        owned: BTreeMap::new(),
        owned_fresh: true,
    };
    let plans = plan_all(&[policy(vec![alarm.clone()])], &observed);
    assert!(plans[0].actions.is_empty());
    assert!(
        plans[0].alarms[0]
            .conflict
            .as_deref()
            .is_some_and(|c| c.contains("adoptExisting"))
    );
    assert_eq!(plans[0].conflicts(), 1);

    let mut adopting = policy(vec![alarm]);
    adopting.adopt_existing = true;
    let plans = plan_all(&[adopting], &observed);
    assert_eq!(kinds(&plans[0].actions), ["adopt ns/p/a"]);
    assert_eq!(plans[0].conflicts(), 0);
}

#[test]
fn alarm_of_another_policy_is_never_adopted() {
    let alarm = desired("a");
    let observed = Observed {
        alarms: BTreeMap::from([("ns/p/a".into(), observed(alarm.config.clone()))]),
        owned: BTreeMap::from([owned("ns/p/a", "ns/other")]),
        owned_fresh: true,
    };
    let mut adopting = policy(vec![alarm]);
    adopting.adopt_existing = true;
    let plans = plan_all(&[adopting], &observed);
    assert!(plans[0].actions.is_empty());
    assert!(
        plans[0].alarms[0]
            .conflict
            .as_deref()
            .is_some_and(|c| c.contains("ns/other"))
    );
}

#[test]
fn owned_alarms_no_longer_declared_are_deleted_others_are_not() {
    let observed = Observed {
        alarms: BTreeMap::new(),
        owned: BTreeMap::from([owned("ns/p/old", "ns/p"), owned("ns/q/kept", "ns/q")]),
        owned_fresh: true,
    };
    let plans = plan_all(&[policy(vec![])], &observed);
    assert_eq!(kinds(&plans[0].actions), ["delete ns/p/old"]);
}

#[test]
fn observe_reports_drift_and_plans_no_writes() {
    let alarm = desired("a");
    let mut changed = alarm.config.clone();
    changed.evaluation_periods = 9;
    let observed = Observed {
        alarms: BTreeMap::from([("ns/p/a".into(), observed(changed))]),
        owned: BTreeMap::from([owned("ns/p/a", "ns/p"), owned("ns/p/old", "ns/p")]),
        owned_fresh: true,
    };
    let mut observing = policy(vec![alarm, desired("new")]);
    observing.manage = false;
    let plans = plan_all(&[observing], &observed);
    assert!(plans[0].actions.is_empty());
    assert_eq!(
        plans[0].alarms[0].drift,
        vec![d("evaluationPeriods", "3", "9")]
    );
    assert_eq!(
        plans[0].alarms[1].drift,
        vec![d("alarm", "exists", "missing")]
    );
}

#[test]
fn actions_are_ordered_creates_adoptions_updates_tags_deletes() {
    let a = desired("a");
    let b = desired("b");
    let c = desired("c");
    let mut b_changed = b.config.clone();
    b_changed.threshold = Threshold::Static(1.0);
    let mut owned_c = owned("ns/p/c", "ns/p");
    owned_c.1.tags.clear();
    owned_c.1.tags.insert(OWNER_TAG.into(), "ns/p".into());
    let mut c_tagged = c.clone();
    c_tagged.tags.insert("team".into(), "cc".into());
    let observed = Observed {
        alarms: BTreeMap::from([
            ("ns/p/b".into(), observed(b_changed)),
            ("ns/p/c".into(), observed(c.config.clone())),
        ]),
        owned: BTreeMap::from([owned("ns/p/b", "ns/p"), owned_c, owned("ns/p/zz", "ns/p")]),
        owned_fresh: true,
    };
    let plans = plan_all(&[policy(vec![c_tagged, b, a])], &observed);
    assert_eq!(
        kinds(&plans[0].actions),
        [
            "create ns/p/a",
            "update ns/p/b",
            "tag ns/p/c",
            "delete ns/p/zz"
        ]
    );
}

#[test]
fn two_policies_declaring_one_name_conflict_for_the_second() {
    let mut first = policy(vec![desired("a")]);
    first.owner = "ns/a-first".into();
    let mut second = policy(vec![desired("a")]);
    second.owner = "ns/b-second".into();
    let plans = plan_all(&[second, first], &Observed::default());
    assert_eq!(plans[0].owner, "ns/a-first");
    assert_eq!(kinds(&plans[0].actions), ["create ns/p/a"]);
    assert!(plans[1].actions.is_empty());
    assert!(
        plans[1].alarms[0]
            .conflict
            .as_deref()
            .is_some_and(|c| c.contains("ns/a-first"))
    );
}

#[test]
fn desired_alarms_apply_defaults_routing_prefix_and_tags() {
    let spec: AlarmPolicySpec = serde_json::from_value(serde_json::json!({
        "region": "us-east-1",
        "tags": {"team": "cc"},
        "routing": {"high": {"alarmActions": ["arn:aws:sns:us-east-1:1:pager"]}, "low": {}},
        "defaults": {"period": 300, "evaluationPeriods": 3, "treatMissingData": "notBreaching"},
        "alarms": [
            {"name": "wait", "severity": "high", "threshold": 120, "comparisonOperator": "GreaterThanThreshold",
             "metric": {"namespace": "AWS/Connect", "metricName": "LongestQueueWaitTime", "statistic": "Maximum"}},
            {"name": "legacy", "alarmName": "legacy-name", "severity": "low", "threshold": 5,
             "comparisonOperator": "GreaterThanThreshold", "evaluationPeriods": 2, "treatMissingData": "breaching",
             "expression": {"expression": "100 * e / i", "metrics": [
                {"id": "e", "metric": {"namespace": "AWS/Lambda", "metricName": "Errors", "statistic": "Sum", "period": 60}},
                {"id": "i", "metric": {"namespace": "AWS/Lambda", "metricName": "Invocations", "extendedStatistic": "p99"}}]}},
            {"name": "band", "severity": "low", "anomalyBand": {"standardDeviations": 2},
             "comparisonOperator": "GreaterThanUpperThreshold",
             "metric": {"namespace": "AWS/Connect", "metricName": "CallsPerInterval", "statistic": "Sum"}}
        ]
    }))
    .expect("spec");
    let alarms = desired_alarms("cc", "queues", &spec);
    let wait = &alarms[0].config;
    assert_eq!(wait.alarm_name, "cc/queues/wait");
    assert_eq!(
        wait.alarm_actions,
        BTreeSet::from(["arn:aws:sns:us-east-1:1:pager".to_string()])
    );
    assert_eq!((wait.evaluation_periods, wait.datapoints_to_alarm), (3, 3));
    assert_eq!(wait.treat_missing_data, "notBreaching");
    let Source::Metric(m) = &wait.source else {
        panic!("single metric")
    };
    assert_eq!((m.period, m.stat.as_str()), (300, "Maximum"));
    assert_eq!(
        alarms[0].tags.get(OWNER_TAG).map(String::as_str),
        Some("cc/queues")
    );
    assert_eq!(alarms[0].tags.get("team").map(String::as_str), Some("cc"));

    let legacy = &alarms[1].config;
    assert_eq!(legacy.alarm_name, "legacy-name");
    assert!(legacy.alarm_actions.is_empty());
    assert_eq!(
        (legacy.evaluation_periods, legacy.datapoints_to_alarm),
        (2, 2)
    );
    let Source::Math(queries) = &legacy.source else {
        panic!("math")
    };
    assert_eq!(
        queries.keys().collect::<Vec<_>>(),
        ["dialtone_expr", "e", "i"]
    );
    assert_eq!(queries["e"].metric.as_ref().map(|m| m.period), Some(60));
    assert_eq!(
        queries["i"].metric.as_ref().map(|m| m.stat.as_str()),
        Some("p99")
    );
    assert!(queries["dialtone_expr"].return_data && !queries["e"].return_data);

    assert_eq!(alarms[2].config.threshold, Threshold::Band(2.0));
    assert!(matches!(alarms[2].config.source, Source::Metric(_)));
}

/// dialtone's own managed-tags record of `keys`.
fn record(keys: &[&str]) -> String {
    managed_tags_value(
        &keys
            .iter()
            .map(|k| (k.to_string(), String::new()))
            .collect(),
    )
}

#[test]
fn tags_removed_from_the_spec_are_untagged_others_are_kept() {
    let mut alarm = desired("a");
    alarm.tags.insert("team".into(), "cc".into());
    alarm
        .tags
        .insert(MANAGED_TAGS_TAG.into(), record(&["team"]));
    let mut held = owned("ns/p/a", "ns/p");
    // dialtone set team and env earlier; cost-center was set by someone else.
    let env_team = record(&["env", "team"]);
    for (k, v) in [
        ("team", "cc"),
        ("env", "prod"),
        ("cost-center", "42"),
        (MANAGED_TAGS_TAG, env_team.as_str()),
    ] {
        held.1.tags.insert(k.into(), v.into());
    }
    let found = Observed {
        alarms: BTreeMap::from([("ns/p/a".into(), observed(alarm.config.clone()))]),
        owned: BTreeMap::from([held]),
        owned_fresh: true,
    };
    let plans = plan_all(&[policy(vec![alarm])], &found);
    assert_eq!(kinds(&plans[0].actions), ["untag ns/p/a", "tag ns/p/a"]);
    match &plans[0].actions[0] {
        Action::Untag { keys, .. } => assert_eq!(keys, &["env".to_string()]),
        other => panic!("{other:?}"),
    }

    // A crash after the untag, before the tag: env is gone, the record still names it. The next
    // plan rewrites the record and has nothing left to untag.
    let mut after = owned("ns/p/a", "ns/p");
    for (k, v) in [
        ("team", "cc"),
        ("cost-center", "42"),
        (MANAGED_TAGS_TAG, env_team.as_str()),
    ] {
        after.1.tags.insert(k.into(), v.into());
    }
    let mut alarm = desired("a");
    alarm.tags.insert("team".into(), "cc".into());
    alarm
        .tags
        .insert(MANAGED_TAGS_TAG.into(), record(&["team"]));
    let found = Observed {
        alarms: BTreeMap::from([("ns/p/a".into(), observed(alarm.config.clone()))]),
        owned: BTreeMap::from([after]),
        owned_fresh: true,
    };
    let plans = plan_all(&[policy(vec![alarm])], &found);
    assert_eq!(kinds(&plans[0].actions), ["tag ns/p/a"]);
}

#[test]
fn a_record_edited_by_hand_removes_nothing_and_is_rewritten() {
    let mut alarm = desired("a");
    alarm.tags.insert("team".into(), "cc".into());
    alarm
        .tags
        .insert(MANAGED_TAGS_TAG.into(), record(&["team"]));
    for forged in [
        // Someone added cost-center to the record (keeping the old checksum).
        record(&["team"]).replace("team;", "cost-center,team;"),
        // Or wrote a record without a checksum (as dialtone did before records had one).
        "cost-center,team".to_string(),
    ] {
        let mut held = owned("ns/p/a", "ns/p");
        for (k, v) in [("team", "cc"), ("cost-center", "42")] {
            held.1.tags.insert(k.into(), v.into());
        }
        held.1.tags.insert(MANAGED_TAGS_TAG.into(), forged.clone());
        let found = Observed {
            alarms: BTreeMap::from([("ns/p/a".into(), observed(alarm.config.clone()))]),
            owned: BTreeMap::from([held]),
            owned_fresh: true,
        };
        let plans = plan_all(&[policy(vec![alarm.clone()])], &found);
        assert_eq!(
            kinds(&plans[0].actions),
            ["tag ns/p/a"],
            "{forged}: cost-center is never removed, the record is rewritten"
        );
    }
}

#[test]
fn managed_tags_value_lists_keys_or_gives_up_safely() {
    let tags = BTreeMap::from([
        ("team".to_string(), "cc".to_string()),
        ("env".to_string(), "prod".to_string()),
    ]);
    let value = managed_tags_value(&tags);
    assert!(value.starts_with("env,team;h="), "{value}");
    assert_eq!(value.len(), "env,team;h=".len() + 8);
    let many: BTreeMap<String, String> = (0..40)
        .map(|i| (format!("key-number-{i:03}"), String::new()))
        .collect();
    assert_eq!(
        managed_tags_value(&many),
        "",
        "too long for a tag value: recorded as nothing"
    );
    let held = BTreeMap::from([(MANAGED_TAGS_TAG.to_string(), value)]);
    assert_eq!(managed_tag_keys(&held), ["env", "team"]);
    assert!(managed_tag_keys(&BTreeMap::new()).is_empty());
}

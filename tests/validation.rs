//! Wrong manifests are rejected with a message naming the field: by the CRD schema at admission
//! (the API server's checks, mirrored by `validate::schema`) or by dialtone's own `validate` step.
//!
//! Each case starts from a valid example in examples/ and breaks one thing.

use std::path::PathBuf;

use dialtone::validate::{self, FieldError};
use serde_json::{Value, json};

/// Which layer must catch a case.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layer {
    /// The CRD schema or its CEL rules: `kubectl apply` is refused.
    Admission,
    /// Only dialtone's validate step (the API server accepts it; the object gets Ready=False, InvalidSpec).
    Validate,
}
use Layer::{Admission, Validate};

fn example(file: &str, document: usize) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("example exists");
    let mut documents: Vec<Value> = serde_saphyr::from_multiple(&text).expect("example is YAML");
    documents.swap_remove(document)
}

/// An example policy with its presets written out (the alarms as dialtone sees them), so a test
/// can break one field of a metric or an expression.
fn written_out(file: &str) -> Value {
    match validate::object(&example(file, 0)) {
        Ok(dialtone::api::Object::AlarmPolicy(policy)) => {
            let mut value = serde_json::to_value(&policy).expect("JSON");
            if let Some(map) = value.as_object_mut() {
                map.remove("status");
            }
            value
        }
        other => panic!("{file}: {other:?}"),
    }
}

fn policy() -> Value {
    written_out("10-alarms-contact-center.yaml")
}

fn expression_policy() -> Value {
    written_out("11-alarms-backends.yaml")
}

fn region() -> Value {
    example("20-regions.yaml", 0)
}

fn plan() -> Value {
    example("30-failover-plan.yaml", 0)
}

fn window() -> Value {
    example("40-maintenance-window.yaml", 0)
}

fn mentions(errors: &[FieldError], path: &str, fragment: &str) -> bool {
    errors
        .iter()
        .any(|e| e.path == path && e.message.to_lowercase().contains(&fragment.to_lowercase()))
}

/// Asserts `object` is rejected at `layer` with an error on `path` whose message contains `fragment`.
#[track_caller]
fn rejects(object: Value, layer: Layer, path: &str, fragment: &str) {
    let kind = object["kind"].as_str().expect("kind").to_string();
    let admission = validate::schema::check(&kind, &object);
    match layer {
        Admission => assert!(
            mentions(&admission, path, fragment),
            "admission should reject {path} with {fragment:?}; got {admission:?}"
        ),
        Validate => assert!(
            admission.is_empty(),
            "expected the API server to accept this (validate's job), got {admission:?}"
        ),
    }
    let invalid = validate::object(&object).expect_err("validate rejects it");
    assert!(
        mentions(&invalid.errors, path, fragment),
        "validate should reject {path} with {fragment:?}; got {:?}",
        invalid.errors
    );
}

#[test]
fn the_untouched_bases_are_valid() {
    for base in [policy(), expression_policy(), region(), plan(), window()] {
        assert!(validate::schema::check(base["kind"].as_str().expect("kind"), &base).is_empty());
        validate::object(&base).expect("valid");
    }
}

#[test]
fn both_metric_and_expression() {
    let mut p = policy();
    p["spec"]["alarms"][0]["expression"] =
        expression_policy()["spec"]["alarms"][0]["expression"].clone();
    rejects(
        p,
        Admission,
        "spec.alarms[0]",
        "exactly one of metric, expression or preset",
    );
}

#[test]
fn neither_metric_nor_expression() {
    let mut p = policy();
    p["spec"]["alarms"][0]
        .as_object_mut()
        .expect("alarm")
        .remove("metric");
    rejects(
        p,
        Admission,
        "spec.alarms[0]",
        "exactly one of metric, expression or preset",
    );
}

#[test]
fn unknown_severity() {
    let mut p = policy();
    p["spec"]["alarms"][0]["severity"] = json!("urgent");
    rejects(p, Admission, "spec.alarms[0].severity", "urgent");
}

#[test]
fn datapoints_to_alarm_greater_than_evaluation_periods() {
    let mut p = policy();
    p["spec"]["alarms"][1]["datapointsToAlarm"] = json!(3);
    rejects(
        p,
        Admission,
        "spec.alarms[1].datapointsToAlarm",
        "must not exceed evaluationPeriods",
    );
}

#[test]
fn defaulted_datapoints_exceed_the_alarms_own_evaluation_periods() {
    // defaults.datapointsToAlarm is 2; an alarm with one evaluation period and no own datapoints.
    let mut p = policy();
    p["spec"]["alarms"][1]
        .as_object_mut()
        .expect("alarm")
        .remove("datapointsToAlarm");
    rejects(
        p,
        Validate,
        "spec.alarms[1].datapointsToAlarm",
        "exceed the 1 evaluation periods",
    );
}

#[test]
fn duplicate_alarm_name() {
    let mut p = policy();
    let copy = p["spec"]["alarms"][0].clone();
    p["spec"]["alarms"]
        .as_array_mut()
        .expect("alarms")
        .push(copy);
    rejects(p, Admission, "spec.alarms", "alarm names must be unique");
}

#[test]
fn duplicate_alarm_name_is_caught_by_validate_too() {
    // A manifest directory has no API server; the typed check must see it on its own.
    let mut p = policy();
    let copy = p["spec"]["alarms"][0].clone();
    p["spec"]["alarms"]
        .as_array_mut()
        .expect("alarms")
        .push(copy);
    let spec: dialtone::api::AlarmPolicySpec =
        serde_json::from_value(p["spec"].clone()).expect("typed");
    let errors = validate::alarm_policy("contact-center", "connect-primary", &spec);
    assert!(
        mentions(&errors, "spec.alarms[8].name", "used by another alarm"),
        "{errors:?}"
    );
}

#[test]
fn two_alarms_with_the_same_cloudwatch_name() {
    let mut p = policy();
    p["spec"]["alarms"][0]["alarmName"] = json!("legacy-queue-alarm");
    p["spec"]["alarms"][1]["alarmName"] = json!("legacy-queue-alarm");
    rejects(
        p,
        Validate,
        "spec.alarms[1].alarmName",
        "also the name of spec.alarms[0]",
    );
}

#[test]
fn statistic_and_extended_statistic() {
    let mut p = policy();
    p["spec"]["alarms"][0]["metric"]["extendedStatistic"] = json!("p99");
    rejects(
        p,
        Admission,
        "spec.alarms[0].metric",
        "exactly one of statistic or extendedStatistic",
    );
}

#[test]
fn period_not_allowed_by_cloudwatch() {
    let mut p = policy();
    p["spec"]["alarms"][0]["metric"]["period"] = json!(45);
    rejects(
        p,
        Admission,
        "spec.alarms[0].metric.period",
        "multiple of 60",
    );
}

#[test]
fn threshold_and_anomaly_band() {
    let mut p = policy();
    p["spec"]["alarms"][6]["threshold"] = json!(10);
    rejects(
        p,
        Admission,
        "spec.alarms[6]",
        "exactly one of threshold or anomalyBand",
    );
}

#[test]
fn anomaly_band_with_a_threshold_operator() {
    let mut p = policy();
    p["spec"]["alarms"][6]["comparisonOperator"] = json!("GreaterThanThreshold");
    rejects(
        p,
        Admission,
        "spec.alarms[6].comparisonOperator",
        "anomalyBand",
    );
}

#[test]
fn unknown_comparison_operator() {
    let mut p = policy();
    p["spec"]["alarms"][0]["comparisonOperator"] = json!("GreaterThan");
    rejects(
        p,
        Admission,
        "spec.alarms[0].comparisonOperator",
        "GreaterThan",
    );
}

#[test]
fn unknown_treat_missing_data() {
    let mut p = policy();
    p["spec"]["defaults"]["treatMissingData"] = json!("zero");
    rejects(p, Admission, "spec.defaults.treatMissingData", "zero");
}

#[test]
fn evaluation_periods_below_one() {
    let mut p = policy();
    p["spec"]["alarms"][0]["evaluationPeriods"] = json!(0);
    rejects(p, Admission, "spec.alarms[0].evaluationPeriods", "minimum");
}

#[test]
fn misspelled_field_is_not_silently_dropped() {
    let mut p = policy();
    let alarm = p["spec"]["alarms"][0].as_object_mut().expect("alarm");
    let threshold = alarm.remove("threshold").expect("has threshold");
    alarm.insert("treshold".into(), threshold);
    rejects(p, Admission, "spec.alarms[0].treshold", "unknown field");
}

#[test]
fn region_that_is_not_one() {
    let mut p = policy();
    p["spec"]["region"] = json!("us-east");
    rejects(p, Admission, "spec.region", "us-east");
}

#[test]
fn missing_region() {
    let mut p = policy();
    p["spec"].as_object_mut().expect("spec").remove("region");
    rejects(p, Admission, "spec", "region");
}

#[test]
fn role_arn_that_is_not_a_role() {
    let mut p = policy();
    p["spec"]["roleArn"] = json!("arn:aws:iam::123456789012:user/bob");
    rejects(
        p,
        Admission,
        "spec.roleArn",
        "arn:aws:iam::123456789012:user/bob",
    );
}

#[test]
fn alarm_action_that_is_not_an_arn() {
    let mut p = policy();
    p["spec"]["routing"]["high"]["alarmActions"][0] = json!("oncall-topic");
    rejects(
        p,
        Admission,
        "spec.routing.high.alarmActions[0]",
        "oncall-topic",
    );
}

#[test]
fn more_than_five_actions_per_state() {
    let mut p = policy();
    let topic = "arn:aws:sns:us-east-1:123456789012:t";
    p["spec"]["routing"]["high"]["alarmActions"] =
        json!([topic, topic, topic, topic, topic, topic]);
    rejects(
        p,
        Admission,
        "spec.routing.high.alarmActions",
        "more than 5",
    );
}

#[test]
fn severity_without_routing() {
    let mut p = policy();
    p["spec"]["routing"]
        .as_object_mut()
        .expect("routing")
        .remove("medium");
    rejects(
        p,
        Validate,
        "spec.alarms[4].severity",
        "no entry in spec.routing",
    );
}

#[test]
fn reserved_tag_key() {
    let mut p = policy();
    p["spec"]["tags"]["dialtone.io/owner"] = json!("someone-else");
    rejects(p, Admission, "spec.tags", "reserved");
}

#[test]
fn cloudwatch_name_too_long() {
    let mut p = policy();
    p["spec"]["alarmNamePrefix"] = json!("x".repeat(200));
    p["spec"]["alarms"][0]["name"] = json!(format!("q{}", "w".repeat(100)));
    rejects(p, Validate, "spec.alarms[0].name", "longer than 255");
}

#[test]
fn expression_metric_not_used() {
    let mut p = expression_policy();
    p["spec"]["alarms"][0]["expression"]["expression"] = json!("100 * errors");
    rejects(
        p,
        Validate,
        "spec.alarms[0].expression.metrics[1].id",
        "not used by the expression",
    );
}

#[test]
fn expression_with_an_unbalanced_parenthesis() {
    let mut p = expression_policy();
    let expression = p["spec"]["alarms"][0]["expression"]["expression"]
        .as_str()
        .expect("expression")
        .to_string();
    p["spec"]["alarms"][0]["expression"]["expression"] = json!(format!("({expression}"));
    rejects(
        p,
        Validate,
        "spec.alarms[0].expression.expression",
        "at position 1: '(' is never closed",
    );
}

#[test]
fn metrics_and_search_use_every_metric() {
    for expression in ["SUM(METRICS())", "MAX(METRICS(\"errors\"))"] {
        let mut p = expression_policy();
        p["spec"]["alarms"][0]["expression"]["expression"] = json!(expression);
        assert!(
            validate::object(&p).is_ok(),
            "{expression}: {:?}",
            validate::object(&p).err()
        );
    }
}

#[test]
fn expression_nested_too_deep_is_refused_not_a_crash() {
    let mut p = expression_policy();
    p["spec"]["alarms"][0]["expression"]["expression"] =
        json!(format!("{}errors{}", "(".repeat(1000), ")".repeat(1000)));
    rejects(
        p,
        Validate,
        "spec.alarms[0].expression.expression",
        "nested more than 64 levels deep",
    );
}

#[test]
fn expression_with_an_unknown_function() {
    let mut p = expression_policy();
    p["spec"]["alarms"][0]["expression"]["expression"] = json!("PERCENT(errors, invocations)");
    rejects(
        p,
        Validate,
        "spec.alarms[0].expression.expression",
        "at position 1: unknown function PERCENT",
    );
}

#[test]
fn expression_with_an_id_no_metric_defines() {
    let mut p = expression_policy();
    p["spec"]["alarms"][0]["expression"]["expression"] = json!("100 * errors / invocatons");
    rejects(
        p,
        Validate,
        "spec.alarms[0].expression.expression",
        "at position 16: no metric in expression.metrics has the id \"invocatons\"",
    );
}

#[test]
fn control_and_bidirectional_characters_in_names_prefixes_and_tags() {
    let cases: &[(&str, &str)] = &[
        ("/spec/alarmNamePrefix", "spec.alarmNamePrefix"),
        ("/spec/alarms/0/name", "spec.alarms[0].name"),
        ("/spec/tags/team", "spec.tags.team"),
    ];
    for (pointer, path) in cases {
        for hostile in ["\u{1b}[2K\rok", "abc\u{202e}gpj", "x\u{2066}y", "nul\u{0}"] {
            let mut p = policy();
            let field = p.pointer_mut(pointer).expect(pointer);
            *field = json!(format!("{}{hostile}", field.as_str().unwrap_or("a")));
            let errors = match validate::object(&p) {
                Err(invalid) => invalid.errors,
                Ok(_) => panic!("{path} with {hostile:?} was accepted"),
            };
            // An alarm's name has a pattern in the schema already; the others are dialtone's check.
            let fragment = if path.ends_with(".name") {
                "does not match"
            } else {
                "control or bidirectional character"
            };
            assert!(
                mentions(&errors, path, fragment),
                "{path} {hostile:?}: {errors:?}"
            );
            let printed = errors.iter().map(ToString::to_string).collect::<String>();
            assert!(
                !printed.chars().any(validate::hidden),
                "errors never echo the character raw: {printed:?}"
            );
        }
    }
    let mut p = policy();
    p["spec"]["tags"] = json!({"team\u{202e}": "contact-center"});
    assert!(validate::object(&p).is_err(), "a tag key too");
}

#[test]
fn an_unknown_metadata_field_is_refused_as_kubectl_apply_does() {
    let mut p = policy();
    p["metadata"]["lables"] = json!({"tier": "prod"});
    rejects(p, Validate, "metadata.lables", "unknown field");
}

#[test]
fn errors_never_echo_a_whole_huge_value() {
    let mut p = policy();
    p["spec"]["alarms"][0]["description"] = json!("x".repeat(10 * 1024 * 1024));
    let errors = match validate::object(&p) {
        Err(invalid) => invalid.errors,
        Ok(_) => panic!("a 10 MB description was accepted"),
    };
    let printed: usize = errors.iter().map(|e| e.to_string().len()).sum();
    assert!(
        printed < 2_000,
        "{printed} bytes of errors: {:?}",
        &errors[0].to_string()[..200]
    );
    assert!(
        mentions(&errors, "spec.alarms[0].description", ""),
        "{errors:?}"
    );
}

#[test]
fn too_many_alarms_is_said_without_echoing_the_list() {
    let mut p = policy();
    let alarm = p["spec"]["alarms"][0].clone();
    p["spec"]["alarms"] = json!(
        (0..101)
            .map(|i| {
                let mut a = alarm.clone();
                a["name"] = json!(format!("queue-{i}"));
                a
            })
            .collect::<Vec<_>>()
    );
    let errors = validate::object(&p).expect_err("101 alarms").errors;
    let printed: String = errors.iter().map(ToString::to_string).collect();
    assert!(printed.len() < 1_000, "{} bytes: {printed}", printed.len());
    assert!(mentions(&errors, "spec.alarms", ""), "{errors:?}");
}

#[test]
fn an_action_in_another_region_or_partition() {
    let mut p = policy();
    p["spec"]["routing"]["high"]["alarmActions"][1] =
        json!("arn:aws:sns:us-west-2:123456789012:cc-servicenow");
    rejects(
        p,
        Validate,
        "spec.routing.high.alarmActions[1]",
        "the action is in us-west-2, the alarm in us-east-1",
    );
    let mut p = policy();
    p["spec"]["routing"]["critical"]["okActions"][0] =
        json!("arn:aws-us-gov:sns:us-east-1:123456789012:cc-oncall-pager");
    rejects(
        p,
        Validate,
        "spec.routing.critical.okActions[0]",
        "partition aws-us-gov is not the partition of us-east-1",
    );
}

#[test]
fn evaluation_range_beyond_a_day() {
    let mut p = policy();
    // 1,500 periods of 60 s is more than the one day CloudWatch evaluates for sub-hour periods.
    p["spec"]["alarms"][0]["evaluationPeriods"] = json!(1500);
    rejects(
        p,
        Validate,
        "spec.alarms[0].evaluationPeriods",
        "at most 86400s",
    );
}

#[test]
fn no_alarms() {
    let mut p = policy();
    p["spec"]["alarms"] = json!([]);
    rejects(p, Admission, "spec.alarms", "less than 1");
}

#[test]
fn wrong_api_version() {
    let mut p = policy();
    p["apiVersion"] = json!("dialtone.io/v1");
    let invalid = validate::object(&p).expect_err("rejected");
    assert!(
        mentions(&invalid.errors, "apiVersion", "dialtone.io/v1alpha1"),
        "{invalid}"
    );
}

#[test]
fn invalid_object_name() {
    let mut p = policy();
    p["metadata"]["name"] = json!("Queue_Health");
    let invalid = validate::object(&p).expect_err("rejected");
    assert!(
        mentions(&invalid.errors, "metadata.name", "lowercase"),
        "{invalid}"
    );
}

#[test]
fn region_instance_id_not_a_uuid() {
    let mut r = region();
    r["spec"]["instanceId"] = json!("my-instance");
    rejects(r, Admission, "spec.instanceId", "my-instance");
}

#[test]
fn region_severity_both_unhealthy_and_degraded() {
    let mut r = region();
    r["spec"]["health"]["degradedSeverities"] = json!(["critical", "high"]);
    rejects(
        r,
        Admission,
        "spec.health.degradedSeverities",
        "both unhealthy and degraded",
    );
}

#[test]
fn region_probe_interval_not_a_duration() {
    let mut r = region();
    r["spec"]["probeInterval"] = json!("30 seconds");
    rejects(r, Admission, "spec.probeInterval", "30 seconds");
}

#[test]
fn region_selector_with_a_bad_operator() {
    let mut r = region();
    r["spec"]["health"]["alarmPolicySelector"] =
        json!({"matchExpressions": [{"key": "tier", "operator": "Equals", "values": ["prod"]}]});
    rejects(
        r,
        Validate,
        "spec.health.alarmPolicySelector.matchExpressions[0].operator",
        "Equals",
    );
}

#[test]
fn plan_with_the_same_region_twice() {
    let mut f = plan();
    f["spec"]["secondary"]["regionRef"] = json!("use1");
    rejects(f, Admission, "spec.secondary.regionRef", "different");
}

#[test]
fn plan_that_moves_nothing() {
    let mut f = plan();
    let spec = f["spec"].as_object_mut().expect("spec");
    spec.remove("trafficDistribution");
    spec.remove("dns");
    rejects(f, Admission, "spec", "otherwise a failover moves nothing");
}

#[test]
fn plan_unknown_active_region() {
    let mut f = plan();
    f["spec"]["activeRegion"] = json!("us-west-2");
    rejects(f, Admission, "spec.activeRegion", "us-west-2");
}

#[test]
fn plan_a_tcp_health_check_without_a_port() {
    let mut f = plan();
    f["spec"]["dns"]["records"][0]["healthCheck"] = json!({"protocol": "TCP"});
    rejects(
        f,
        Validate,
        "spec.dns.records[0].healthCheck.port",
        "needs a port",
    );
}

#[test]
fn plan_a_record_with_a_host_name() {
    let mut f = plan();
    f["spec"]["dns"]["records"][0]["type"] = json!("A");
    rejects(
        f,
        Validate,
        "spec.dns.records[0].primary",
        "not an IPv4 address",
    );
}

#[test]
fn plan_drill_with_a_bad_cron() {
    let mut f = plan();
    f["spec"]["drill"]["schedule"] = json!("quarterly please");
    rejects(f, Validate, "spec.drill.schedule", "use 5");
}

#[test]
fn window_with_a_six_field_cron() {
    let mut w = window();
    w["spec"]["schedule"] = json!("0 0 2 * * SUN");
    rejects(w, Validate, "spec.schedule", "has 6 fields");
}

#[test]
fn window_with_an_impossible_cron() {
    let mut w = window();
    w["spec"]["schedule"] = json!("0 25 * * SUN");
    rejects(w, Validate, "spec.schedule", "not a valid cron schedule");
}

#[test]
fn window_with_an_unknown_time_zone() {
    let mut w = window();
    w["spec"]["timeZone"] = json!("Mars/Olympus_Mons");
    rejects(w, Validate, "spec.timeZone", "not an IANA time zone");
}

#[test]
fn window_schedule_without_duration() {
    let mut w = window();
    w["spec"].as_object_mut().expect("spec").remove("duration");
    rejects(
        w,
        Admission,
        "spec.duration",
        "schedule and duration go together",
    );
}

#[test]
fn window_longer_than_a_mute_rule_allows() {
    let mut w = window();
    w["spec"]["duration"] = json!("400h");
    rejects(w, Validate, "spec.duration", "between 1 minute and 15 days");
}

#[test]
fn one_off_window_ending_before_it_starts() {
    let mut w = window();
    w["spec"]["windows"][0]["end"] = json!("2026-12-25T01:00:00Z");
    rejects(
        w,
        Admission,
        "spec.windows[0].end",
        "end must be after start",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut p = policy();
    p["spec"]["alarms"][0]["severity"] = json!("urgent");
    p["spec"]["region"] = json!("nowhere");
    let invalid = validate::object(&p).expect_err("rejected");
    assert!(mentions(&invalid.errors, "spec.region", "nowhere"));
    assert!(mentions(
        &invalid.errors,
        "spec.alarms[0].severity",
        "urgent"
    ));
    let text = invalid.to_string();
    assert!(
        text.starts_with("AlarmPolicy contact-center/connect-primary is invalid:"),
        "{text}"
    );
}

#[test]
fn plan_durations_of_automatic_and_drill() {
    let mut f = plan();
    f["spec"]["mode"] = json!("Automatic");
    f["spec"]["automatic"] = json!({"unhealthyFor": "10s", "minInterval": "1h"});
    rejects(f, Validate, "spec.automatic.unhealthyFor", "between 60");
    let mut f = plan();
    f["spec"]["mode"] = json!("Automatic");
    f["spec"]["automatic"] = json!({"minInterval": "800h"});
    rejects(f, Validate, "spec.automatic.minInterval", "between 0");
    let mut f = plan();
    f["spec"]["drill"] = json!({"schedule": "0 6 1 */3 *", "holdFor": "200h"});
    rejects(f, Validate, "spec.drill.holdFor", "between 0");
}

#[test]
fn preset_with_a_missing_param_names_the_param_and_the_preset() {
    let mut p = policy();
    p["spec"]["alarms"][0] = json!({"preset": "connect-queue-wait",
        "params": {"instanceId": "7c0e9b14-8a3d-4f6e-9d21-3b5f2a1c4e88"}});
    rejects(
        p,
        Validate,
        "spec.alarms[0].params.queueName",
        "required by preset connect-queue-wait",
    );
}

#[test]
fn preset_and_metric_together() {
    let mut p = policy();
    p["spec"]["alarms"][0]["preset"] = json!("connect-missed-calls");
    rejects(
        p,
        Admission,
        "spec.alarms[0]",
        "exactly one of metric, expression or preset",
    );
}

#[test]
fn an_expanded_preset_meets_the_same_rules_as_one_written_out() {
    // The preset sets 3 evaluation periods; 5 datapoints out of them is caught after expansion.
    let mut p = policy();
    p["spec"]["alarms"][0] = json!({"preset": "lambda-error-rate",
        "params": {"functionName": "cc-router"}, "datapointsToAlarm": 5});
    rejects(
        p,
        Validate,
        "spec.alarms[0].datapointsToAlarm",
        "evaluation",
    );
}

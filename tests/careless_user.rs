//! What a careless colleague commits, through the CLI as they run it: each broken manifest is
//! refused by `dialtone plan` with the field named, nothing printed raw that could spoof a
//! terminal, nothing echoed at length, and not one AWS call.

mod support;

use support::emulator::Emulator;
use support::process::{Scratch, dialtone, text};

/// A valid policy whose alarm `{alarm}` is spliced in, with `{prefix}`, `{metadata}` and
/// `{action}` to break.
const POLICY: &str = r#"
apiVersion: dialtone.io/v1alpha1
kind: AlarmPolicy
metadata:
  name: backends
  namespace: contact-center
  {metadata}
spec:
  region: us-east-1
  alarmNamePrefix: "{prefix}"
  routing:
    high:
      alarmActions: ["{action}"]
  alarms:
  - name: lambda-error-rate
    severity: high
    threshold: 5
    comparisonOperator: GreaterThanThreshold
    expression:
      expression: "{expression}"
      metrics:
      - id: errors
        metric: {namespace: AWS/Lambda, metricName: Errors, dimensions: {FunctionName: lookup}, statistic: Sum}
      - id: invocations
        metric: {namespace: AWS/Lambda, metricName: Invocations, dimensions: {FunctionName: lookup}, statistic: Sum}
"#;

struct Policy<'a> {
    expression: &'a str,
    prefix: &'a str,
    metadata: &'a str,
    action: &'a str,
}

const VALID: Policy<'static> = Policy {
    expression: "100 * errors / invocations",
    prefix: "cc-",
    metadata: "labels: {tier: prod}",
    action: "arn:aws:sns:us-east-1:123456789012:oncall",
};

fn policy(p: &Policy<'_>) -> String {
    POLICY
        .replace("{expression}", p.expression)
        .replace("{prefix}", p.prefix)
        .replace("{metadata}", p.metadata)
        .replace("{action}", p.action)
}

/// `dialtone plan` of `manifest` alone: refused, naming `fragment`, nothing raw, no AWS call.
#[track_caller]
fn refused(emulator: &Emulator, case: &str, manifest: &str, fragment: &str) {
    emulator.forget_calls();
    let scratch = Scratch::empty(&format!("careless-{case}"));
    scratch.write("manifest.yaml", manifest);
    let out = dialtone(
        emulator,
        &["plan", "-f", scratch.path(), "--aws-rate", "all=0"],
    );
    let printed = text(&out);
    assert!(!out.status.success(), "{case}: accepted\n{printed}");
    assert!(
        printed.contains(fragment),
        "{case}: {fragment:?} not in\n{printed}"
    );
    assert!(
        !printed
            .chars()
            .any(|c| c != '\n' && c != '\t' && dialtone::validate::hidden(c)),
        "{case}: a control or bidirectional character printed raw: {printed:?}"
    );
    assert!(
        printed.len() < 8 * 1024,
        "{case}: {} bytes printed",
        printed.len()
    );
    assert_eq!(
        emulator.calls(),
        Vec::<String>::new(),
        "{case}: AWS was called"
    );
}

#[tokio::test]
async fn the_base_manifest_is_valid() {
    let emulator = Emulator::acquire().await;
    let scratch = Scratch::empty("careless-valid");
    scratch.write("manifest.yaml", &policy(&VALID));
    let out = dialtone(
        &emulator,
        &["plan", "-f", scratch.path(), "--aws-rate", "all=0"],
    );
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test]
async fn broken_metric_math_never_reaches_put_metric_alarm() {
    let emulator = Emulator::acquire().await;
    for (case, expression, fragment) in [
        (
            "unbalanced",
            "(100 * errors / invocations",
            "spec.alarms[0].expression.expression: at position 1: '(' is never closed",
        ),
        (
            "unknown-function",
            "PERCENT(errors, invocations)",
            "at position 1: unknown function PERCENT",
        ),
        (
            "undefined-id",
            "100 * errors / calls",
            "at position 16: no metric in expression.metrics has the id \"calls\"",
        ),
    ] {
        let manifest = policy(&Policy {
            expression,
            ..VALID
        });
        refused(&emulator, case, &manifest, fragment);
    }
}

#[tokio::test]
async fn escape_sequences_and_bidirectional_overrides_are_refused_and_never_printed_raw() {
    let emulator = Emulator::acquire().await;
    for (case, prefix) in [
        ("escape", "cc-\\e[2K\\rok-"),
        ("bidi", "cc-\\u202Egpj-"),
        ("isolate", "cc-\\u2066x-"),
    ] {
        let manifest = policy(&Policy { prefix, ..VALID });
        refused(&emulator, case, &manifest, "spec.alarmNamePrefix");
    }
}

#[tokio::test]
async fn an_action_in_another_region_is_refused_offline() {
    let emulator = Emulator::acquire().await;
    let manifest = policy(&Policy {
        action: "arn:aws:sns:us-west-2:123456789012:oncall",
        ..VALID
    });
    refused(
        &emulator,
        "action-region",
        &manifest,
        "spec.routing.high.alarmActions[0]: the action is in us-west-2, the alarm in us-east-1",
    );
}

#[tokio::test]
async fn an_unknown_metadata_field_is_refused() {
    let emulator = Emulator::acquire().await;
    let manifest = policy(&Policy {
        metadata: "lables: {tier: prod}",
        ..VALID
    });
    refused(
        &emulator,
        "lables",
        &manifest,
        "metadata.lables: unknown field",
    );
}

#[tokio::test]
async fn a_huge_value_is_not_echoed() {
    let emulator = Emulator::acquire().await;
    let manifest = policy(&VALID).replace(
        "    severity: high\n",
        &format!(
            "    severity: high\n    description: \"{}\"\n",
            "x".repeat(200 * 1024)
        ),
    );
    refused(&emulator, "huge", &manifest, "spec.alarms[0].description");
}

#[tokio::test]
async fn a_failover_plan_naming_no_region_is_refused_in_manifest_mode() {
    let emulator = Emulator::acquire().await;
    let plan = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/30-failover-plan.yaml"),
    )
    .expect("example");
    // The plan alone: its regions use1 and usw2 are declared nowhere.
    refused(
        &emulator,
        "region-ref",
        &plan,
        "spec.primary.regionRef: no ContactCenterRegion \"use1\" is declared in namespace contact-center",
    );
}

#[tokio::test]
async fn a_schedule_that_never_fires_is_refused() {
    let emulator = Emulator::acquire().await;
    let window = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples/40-maintenance-window.yaml"),
    )
    .expect("example")
    .replace("0 2 * * SUN", "0 2 30 2 *");
    refused(
        &emulator,
        "never-fires",
        &window,
        "spec.schedule: \"0 2 30 2 *\" never fires",
    );
}

#[tokio::test]
async fn a_number_that_is_not_finite_is_pointed_at_in_the_file() {
    let emulator = Emulator::acquire().await;
    for (case, number) in [("nan", ".nan"), ("inf", ".inf"), ("huge", "1e400")] {
        let manifest =
            policy(&VALID).replace("    threshold: 5\n", &format!("    threshold: {number}\n"));
        let line = manifest
            .lines()
            .position(|l| l.contains("threshold:"))
            .map(|i| i + 1)
            .expect("threshold line");
        refused(
            &emulator,
            case,
            &manifest,
            &format!("line {line} column 16: non-finite float `{number}`"),
        );
    }
}

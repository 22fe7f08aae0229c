//! AlarmPolicy: a contact center's CloudWatch alarms, declared.
//!
//! Field names follow PRODUCT.md's API contract exactly; users and tools depend on them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ACTION_ARN_PATTERN, REGION_PATTERN, ROLE_ARN_PATTERN, Severity};

/// The tag every alarm dialtone writes carries: `<namespace>/<name>` of the owning AlarmPolicy.
pub const OWNER_TAG: &str = "dialtone.io/owner";
/// The tag listing which of an alarm's tags came from `spec.tags` (comma-separated keys), so a
/// key removed from the spec is removed from the alarm while tags set by others stay.
pub const MANAGED_TAGS_TAG: &str = "dialtone.io/managed-tags";
/// Tag naming the kind of object that owns an alarm when it is not an AlarmPolicy (the DNS lever
/// alarm of a FailoverPlan): AlarmPolicies leave such alarms alone, and never call them orphans.
pub const OWNER_KIND_TAG: &str = "dialtone.io/owner-kind";

/// CloudWatch alarms for a contact center, kept in the declared state.
///
/// Each entry of `spec.alarms` becomes one CloudWatch alarm named `spec.alarmNamePrefix` + `name`
/// (or exactly `alarmName`), tagged `dialtone.io/owner=<namespace>/<name>`. Its actions come from
/// `spec.routing` by severity. Differences between the spec and CloudWatch are reported field by
/// field in `status.alarms[].drift` and corrected on every resync unless `managementPolicy: Observe`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "dialtone.io",
    version = "v1alpha1",
    kind = "AlarmPolicy",
    namespaced,
    status = "AlarmPolicyStatus",
    shortname = "alarmpol",
    shortname = "ap",
    category = "dialtone",
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Alarms","type":"integer","jsonPath":".status.summary.total"}"#,
    printcolumn = r#"{"name":"Firing","type":"integer","jsonPath":".status.summary.firing"}"#,
    printcolumn = r#"{"name":"Drifted","type":"integer","jsonPath":".status.summary.drifted"}"#,
    printcolumn = r#"{"name":"Conflicts","type":"integer","jsonPath":".status.summary.conflicts","priority":1}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct AlarmPolicySpec {
    /// AWS region whose CloudWatch holds these alarms, e.g. `us-east-1`.
    #[schemars(regex(pattern = REGION_PATTERN))]
    pub region: String,

    /// IAM role to assume for this policy's CloudWatch calls, for alarms in another AWS account.
    /// Unset: the operator's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ROLE_ARN_PATTERN))]
    pub role_arn: Option<String>,

    /// Prepended to each alarm's `name` to form its CloudWatch name. Default `<namespace>/<name>/`
    /// of this policy. Ignored for alarms that set `alarmName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub alarm_name_prefix: Option<String>,

    /// `Manage` (default): create, update and delete alarms to match the spec. `Observe`: read
    /// CloudWatch and report state and drift only; never write.
    #[serde(default)]
    pub management_policy: ManagementPolicy,

    /// `Delete` (default): deleting this policy deletes its alarms. `Retain`: they stay in CloudWatch.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Take over alarms with the same name that carry no `dialtone.io/owner` tag. Default false:
    /// such an alarm is reported as a conflict and never modified. Alarms owned by another policy
    /// are never taken over.
    #[serde(default)]
    pub adopt_existing: bool,

    /// Tags added to every alarm of this policy (at most 48; `dialtone.io/` keys are reserved).
    /// A key removed here is removed from the alarms; tags set outside dialtone are left alone.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 48))]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('dialtone.io/') && !k.startsWith('aws:'))").message("tag keys starting with dialtone.io/ or aws: are reserved"))]
    #[x_kube(validation = Rule::new("self.all(k, size(k) >= 1 && size(k) <= 128 && size(self[k]) <= 256)").message("tag keys must be 1-128 characters and values at most 256"))]
    pub tags: BTreeMap<String, String>,

    /// Which actions run for each severity. Every severity used by an alarm must have an entry;
    /// `{}` means no actions (for example `low`: reviewed in the next maintenance window).
    #[serde(default)]
    pub routing: Routing,

    /// Values used by every alarm that does not set its own.
    #[serde(default)]
    pub defaults: AlarmDefaults,

    /// The alarms, each written out or a `preset` (expanded before anything else looks at it).
    /// Names are unique within the policy.
    #[schemars(length(min = 1, max = 100), with = "Vec<AlarmEntry>")]
    #[x_kube(validation = Rule::new("self.all(a, !has(a.name) || self.exists_one(b, has(b.name) && b.name == a.name))").message("alarm names must be unique within the policy"))]
    pub alarms: Vec<AlarmSpec>,
}

/// Whether dialtone writes to CloudWatch.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ManagementPolicy {
    /// Create, update and delete alarms to match the spec.
    #[default]
    Manage,
    /// Read and report only; write nothing.
    Observe,
}

/// What happens to the alarms when the policy is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the policy's alarms from CloudWatch.
    #[default]
    Delete,
    /// Leave the alarms in CloudWatch.
    Retain,
}

/// Severity to actions. An alarm's actions are those of its severity.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Routing {
    /// Actions for `critical` alarms (typically: page the on-call engineer now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<SeverityActions>,
    /// Actions for `high` alarms (typically: page the on-call engineer now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<SeverityActions>,
    /// Actions for `medium` alarms (typically: open a ticket, watch the trend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<SeverityActions>,
    /// Actions for `low` alarms (typically none: reviewed in the next maintenance window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<SeverityActions>,
}

impl Routing {
    /// The routing entry of `severity`, if declared.
    pub fn get(&self, severity: Severity) -> Option<&SeverityActions> {
        match severity {
            Severity::Critical => self.critical.as_ref(),
            Severity::High => self.high.as_ref(),
            Severity::Medium => self.medium.as_ref(),
            Severity::Low => self.low.as_ref(),
        }
    }
}

/// The actions of one severity: ARNs of SNS topics (pager, ticketing, chat) or other alarm actions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeverityActions {
    /// Run when an alarm goes to ALARM (at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(regex(pattern = ACTION_ARN_PATTERN)))]
    pub alarm_actions: Vec<String>,
    /// Run when an alarm returns to OK (at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(regex(pattern = ACTION_ARN_PATTERN)))]
    pub ok_actions: Vec<String>,
    /// Run when an alarm goes to INSUFFICIENT_DATA (at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(regex(pattern = ACTION_ARN_PATTERN)))]
    pub insufficient_data_actions: Vec<String>,
}

/// Defaults for every alarm of the policy; an alarm's own value wins.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.datapointsToAlarm) || !has(self.evaluationPeriods) || self.datapointsToAlarm <= self.evaluationPeriods").message("datapointsToAlarm must not exceed evaluationPeriods").field_path(".datapointsToAlarm"))]
pub struct AlarmDefaults {
    /// Seconds per datapoint: 10, 20, 30 or a multiple of 60 (built-in default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 86400))]
    #[x_kube(validation = Rule::new("self == 10 || self == 20 || self == 30 || self % 60 == 0").message("period must be 10, 20, 30 or a multiple of 60 seconds"))]
    pub period: Option<i32>,
    /// How many recent periods are evaluated (built-in default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub evaluation_periods: Option<i32>,
    /// How many of the evaluated periods must breach to fire (built-in default: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub datapoints_to_alarm: Option<i32>,
    /// How a missing datapoint counts (built-in default `missing`, CloudWatch's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<TreatMissingData>,
}

/// One alarm as written in a manifest: in full, or a `preset` from the catalog (`dialtone presets`)
/// with the `params` it needs, every other field overriding the preset's. A preset entry is
/// expanded before validation, so it meets the same rules as one written out.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.metric) ? 1 : 0) + (has(self.expression) ? 1 : 0) + (has(self.preset) ? 1 : 0) == 1").message("set exactly one of metric, expression or preset"))]
#[x_kube(validation = Rule::new("has(self.preset) || has(self.name)").message("name is required (a preset entry may leave it out)").field_path(".name"))]
#[x_kube(validation = Rule::new("has(self.preset) || has(self.severity)").message("severity is required (a preset entry may leave it out)").field_path(".severity"))]
#[x_kube(validation = Rule::new("has(self.preset) || has(self.comparisonOperator)").message("comparisonOperator is required (a preset entry may leave it out)").field_path(".comparisonOperator"))]
#[x_kube(validation = Rule::new("has(self.preset) || has(self.threshold) != has(self.anomalyBand)").message("set exactly one of threshold or anomalyBand"))]
#[x_kube(validation = Rule::new("!has(self.threshold) || !has(self.anomalyBand)").message("set exactly one of threshold or anomalyBand"))]
#[x_kube(validation = Rule::new("!has(self.params) || has(self.preset)").message("params go with a preset").field_path(".params"))]
#[x_kube(validation = Rule::new("!has(self.anomalyBand) || !has(self.comparisonOperator) || self.comparisonOperator in ['LessThanLowerOrGreaterThanUpperThreshold', 'LessThanLowerThreshold', 'GreaterThanUpperThreshold']").message("an anomalyBand alarm needs comparisonOperator LessThanLowerOrGreaterThanUpperThreshold, LessThanLowerThreshold or GreaterThanUpperThreshold").field_path(".comparisonOperator"))]
#[x_kube(validation = Rule::new("has(self.preset) || has(self.anomalyBand) || !has(self.comparisonOperator) || !(self.comparisonOperator in ['LessThanLowerOrGreaterThanUpperThreshold', 'LessThanLowerThreshold', 'GreaterThanUpperThreshold'])").message("band comparison operators need anomalyBand").field_path(".comparisonOperator"))]
#[x_kube(validation = Rule::new("!has(self.anomalyBand) || !has(self.expression)").message("anomalyBand works with metric, not expression").field_path(".anomalyBand"))]
#[x_kube(validation = Rule::new("!has(self.datapointsToAlarm) || !has(self.evaluationPeriods) || self.datapointsToAlarm <= self.evaluationPeriods").message("datapointsToAlarm must not exceed evaluationPeriods").field_path(".datapointsToAlarm"))]
pub struct AlarmEntry {
    /// Unique within the policy; the CloudWatch name is the policy's prefix + this name. A
    /// preset entry defaults it from the preset and its params (`connect-queue-wait-BasicQueue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
    )]
    pub name: Option<String>,

    /// `critical`, `high`, `medium` or `low`; picks the actions from `spec.routing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,

    /// What the alarm means and what to do, shown in notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// Exact CloudWatch alarm name, overriding prefix + name (for example to keep a legacy name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[^\x00-\x1F\x7F]+$"))]
    pub alarm_name: Option<String>,

    /// The metric to watch. Set exactly one of `metric`, `expression` or `preset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricSpec>,

    /// A metric-math expression over named metrics. Set exactly one of `metric`, `expression` or
    /// `preset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<ExpressionSpec>,

    /// A grounded alarm from the catalog (`dialtone presets`), e.g. `connect-queue-wait`. Set
    /// exactly one of `metric`, `expression` or `preset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z0-9-]+$"))]
    pub preset: Option<String>,

    /// The preset's params: the dimension values it needs, e.g. `{instanceId: ..., queueName:
    /// BasicQueue}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 10))]
    #[x_kube(validation = Rule::new("self.all(k, size(self[k]) >= 1 && size(self[k]) <= 1024)").message("param values must be 1-1024 characters"))]
    pub params: BTreeMap<String, String>,

    /// The value compared with the metric. Set exactly one of `threshold` or `anomalyBand` (a
    /// preset has its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,

    /// Compare with an anomaly-detection band instead of a fixed threshold (with `metric` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly_band: Option<AnomalyBand>,

    /// CloudWatch's comparison, e.g. `GreaterThanThreshold`. Band operators need `anomalyBand`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison_operator: Option<ComparisonOperator>,

    /// Overrides `spec.defaults.evaluationPeriods`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub evaluation_periods: Option<i32>,

    /// Overrides `spec.defaults.datapointsToAlarm`; at most the evaluation periods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub datapoints_to_alarm: Option<i32>,

    /// Overrides `spec.defaults.treatMissingData`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<TreatMissingData>,
}

/// One CloudWatch alarm, written out: what every entry of `spec.alarms` is once a preset is
/// expanded (the schema is `AlarmEntry`'s, whose rules it meets).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AlarmSpec {
    /// Unique within the policy; the CloudWatch name is the policy's prefix + this name.
    pub name: String,

    /// `critical`, `high`, `medium` or `low`; picks the actions from `spec.routing`.
    pub severity: Severity,

    /// What the alarm means and what to do, shown in notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// Exact CloudWatch alarm name, overriding prefix + name (for example to keep a legacy name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<String>,

    /// The metric to watch. Set exactly one of `metric` or `expression`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricSpec>,

    /// A metric-math expression over named metrics. Set exactly one of `metric` or `expression`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<ExpressionSpec>,

    /// The value compared with the metric. Set exactly one of `threshold` or `anomalyBand`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,

    /// Compare with an anomaly-detection band instead of a fixed threshold (with `metric` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly_band: Option<AnomalyBand>,

    /// CloudWatch's comparison, e.g. `GreaterThanThreshold`. Band operators need `anomalyBand`.
    pub comparison_operator: ComparisonOperator,

    /// Overrides `spec.defaults.evaluationPeriods`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_periods: Option<i32>,

    /// Overrides `spec.defaults.datapointsToAlarm`; at most the evaluation periods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<i32>,

    /// Overrides `spec.defaults.treatMissingData`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<TreatMissingData>,
}

/// A CloudWatch metric and how to aggregate it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.statistic) != has(self.extendedStatistic)").message("set exactly one of statistic or extendedStatistic"))]
pub struct MetricSpec {
    /// Metric namespace, e.g. `AWS/Connect`, `AWS/Lambda`, `AWS/DynamoDB`, `AWS/Lex`.
    #[schemars(length(min = 1, max = 255))]
    pub namespace: String,

    /// Metric name, e.g. `LongestQueueWaitTime`. Spelling and case must match CloudWatch exactly.
    #[schemars(length(min = 1, max = 255))]
    pub metric_name: String,

    /// Dimension name to value, e.g. `{InstanceId: ..., MetricGroup: Queue, QueueName: BasicQueue}`.
    /// A wrong dimension makes an alarm that never gets data: copy them from the metric's own page.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 30))]
    #[x_kube(validation = Rule::new("self.all(k, size(k) >= 1 && size(k) <= 255 && size(self[k]) >= 1 && size(self[k]) <= 1024)").message("dimension names must be 1-255 characters and values 1-1024"))]
    pub dimensions: BTreeMap<String, String>,

    /// Aggregation: `Average`, `Sum`, `Minimum`, `Maximum` or `SampleCount`.
    /// Set exactly one of `statistic` or `extendedStatistic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<Statistic>,

    /// Percentile or trimmed statistic, e.g. `p99`, `p99.9`, `tm90`, `TM(10%:90%)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^((p|tm|wm|tc|ts)[0-9]{1,2}(\.[0-9]{1,10})?|(p|tm|wm|tc|ts)100|(TM|WM|TC|TS|PR)\([0-9.%:]+\)|IQM)$"
    ))]
    pub extended_statistic: Option<String>,

    /// Seconds per datapoint: 10, 20, 30 or a multiple of 60. Overrides `spec.defaults.period`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 86400))]
    #[x_kube(validation = Rule::new("self == 10 || self == 20 || self == 30 || self % 60 == 0").message("period must be 10, 20, 30 or a multiple of 60 seconds"))]
    pub period: Option<i32>,

    /// The metric's unit, when it is published with several (usually leave unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
}

/// A metric-math alarm: `expression` over the `metrics` it names by id.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExpressionSpec {
    /// The math expression, e.g. `100 * errors / invocations`; refers to `metrics[].id`.
    #[schemars(length(min = 1, max = 2048))]
    pub expression: String,

    /// Label shown for the expression's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,

    /// Seconds per datapoint of the result; defaults to the metrics' period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 86400))]
    pub period: Option<i32>,

    /// The metrics the expression uses, each with a unique `id`.
    #[schemars(length(min = 1, max = 10))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"]))]
    pub metrics: Vec<MetricQuery>,
}

/// A named input of a metric-math expression.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricQuery {
    /// Name used in the expression; starts with a lowercase letter (`errors`, `m1`).
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-z][a-zA-Z0-9_]*$"))]
    pub id: String,

    /// The metric this id stands for.
    pub metric: MetricSpec,
}

/// An anomaly-detection band around the metric's expected value.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnomalyBand {
    /// Band width in standard deviations (higher: wider band, fewer alarms). Typical: 2.
    #[schemars(range(min = 0.1, max = 100.0))]
    pub standard_deviations: f64,
}

/// CloudWatch's comparison operators, spelled as CloudWatch spells them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ComparisonOperator {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
    LessThanLowerOrGreaterThanUpperThreshold,
    LessThanLowerThreshold,
    GreaterThanUpperThreshold,
}

impl ComparisonOperator {
    /// Whether the operator compares against an anomaly band rather than a threshold.
    pub fn is_band(self) -> bool {
        matches!(
            self,
            Self::LessThanLowerOrGreaterThanUpperThreshold
                | Self::LessThanLowerThreshold
                | Self::GreaterThanUpperThreshold
        )
    }
}

/// CloudWatch's simple statistics.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Statistic {
    Average,
    Sum,
    Minimum,
    Maximum,
    SampleCount,
}

/// How missing datapoints count.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissingData {
    /// Missing counts as breaching.
    Breaching,
    /// Missing counts as fine (good for error counters that publish nothing when all is well).
    NotBreaching,
    /// Missing is skipped; the alarm keeps its state.
    Ignore,
    /// Missing is missing: too many and the alarm goes to INSUFFICIENT_DATA (CloudWatch's default).
    Missing,
}

/// CloudWatch's metric units.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Unit {
    Seconds,
    Microseconds,
    Milliseconds,
    Bytes,
    Kilobytes,
    Megabytes,
    Gigabytes,
    Terabytes,
    Bits,
    Kilobits,
    Megabits,
    Gigabits,
    Terabits,
    Percent,
    Count,
    #[serde(rename = "Bytes/Second")]
    BytesPerSecond,
    #[serde(rename = "Kilobytes/Second")]
    KilobytesPerSecond,
    #[serde(rename = "Megabytes/Second")]
    MegabytesPerSecond,
    #[serde(rename = "Gigabytes/Second")]
    GigabytesPerSecond,
    #[serde(rename = "Terabytes/Second")]
    TerabytesPerSecond,
    #[serde(rename = "Bits/Second")]
    BitsPerSecond,
    #[serde(rename = "Kilobits/Second")]
    KilobitsPerSecond,
    #[serde(rename = "Megabits/Second")]
    MegabitsPerSecond,
    #[serde(rename = "Gigabits/Second")]
    GigabitsPerSecond,
    #[serde(rename = "Terabits/Second")]
    TerabitsPerSecond,
    #[serde(rename = "Count/Second")]
    CountPerSecond,
    None,
}

/// What dialtone last saw and did, as `kubectl get alarmpolicy -o yaml` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlarmPolicyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (all alarms in effect as declared) and `Synced` (the last reconcile reached AWS and
    /// matched). Reasons: Reconciled, Drifted, Conflict, InvalidSpec, AwsError.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// One entry per alarm of the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmStatus>,
    /// Counts for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<AlarmSummary>,
    /// Where dialtone wrote alarms for this policy and under which names, kept until they are
    /// deleted: how alarms left in a former region, or under a removed `alarmName`, are found and
    /// cleaned up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub footprint: Vec<crate::api::common::Footprint>,
    /// The spec dialtone enforces: the last one a maintenance window (or the emergency annotation)
    /// let in. A newer spec waits while condition `ChangeHeld` is True.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted: Option<crate::api::common::AdmittedSpec>,
}

/// One alarm as CloudWatch holds it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlarmStatus {
    /// The alarm's `name` in the spec.
    pub name: String,
    /// Its CloudWatch alarm name.
    pub alarm_name: String,
    /// Its ARN, once it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// CloudWatch state: OK, ALARM or INSUFFICIENT_DATA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// CloudWatch's reason for the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// Fields CloudWatch holds differently from the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<FieldDrift>,
    /// Why dialtone will not touch this alarm (for example: it exists and is not ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
}

/// One field that differs between the spec and AWS.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldDrift {
    /// Path of the field within the alarm, e.g. `threshold` or `metric.dimensions.QueueName`.
    pub field: String,
    /// The value the spec declares (empty: absent).
    pub desired: String,
    /// The value AWS holds (empty: absent).
    pub actual: String,
}

/// Counts shown by `kubectl get alarmpolicy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlarmSummary {
    /// Alarms in the spec.
    pub total: i32,
    /// Alarms in state ALARM.
    pub firing: i32,
    /// Alarms with drift.
    pub drifted: i32,
    /// Alarms dialtone will not touch.
    pub conflicts: i32,
}

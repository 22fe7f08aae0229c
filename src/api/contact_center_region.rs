//! ContactCenterRegion: one Amazon Connect instance in one region, and its health.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DURATION_PATTERN, REGION_PATTERN, ROLE_ARN_PATTERN, Severity};

/// An ARN of an Amazon Connect traffic distribution group, as AWS's model constrains it (a
/// lowercase UUID after `traffic-distribution-group/`).
pub const TDG_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:connect:[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}:[0-9]{12}:traffic-distribution-group/[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$";

/// One Amazon Connect instance in one region and how healthy it is.
///
/// Health comes from the alarms of the selected AlarmPolicies, the instance's replication status and
/// the traffic distribution group's status. (DescribeInstance's InstanceStatus only covers creation;
/// it says nothing about runtime health.) FailoverPlans read `status.health` to decide and to check
/// a region is ready before shifting traffic to it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "dialtone.io",
    version = "v1alpha1",
    kind = "ContactCenterRegion",
    namespaced,
    status = "ContactCenterRegionStatus",
    shortname = "ccregion",
    shortname = "ccr",
    category = "dialtone",
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Instance","type":"string","jsonPath":".spec.instanceId","priority":1}"#,
    printcolumn = r#"{"name":"Health","type":"string","jsonPath":".status.health"}"#,
    printcolumn = r#"{"name":"Firing","type":"integer","jsonPath":".status.firingAlarmCount"}"#,
    printcolumn = r#"{"name":"Telephony%","type":"integer","jsonPath":".status.traffic.telephony"}"#,
    printcolumn = r#"{"name":"ReadyForTraffic","type":"string","jsonPath":".status.conditions[?(@.type==\"ReadyForTraffic\")].status"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","priority":1}"#,
    printcolumn = r#"{"name":"Last Probe","type":"date","jsonPath":".status.lastProbeTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ContactCenterRegionSpec {
    /// AWS region of the Amazon Connect instance, e.g. `us-east-1`.
    #[schemars(regex(pattern = REGION_PATTERN))]
    pub region: String,

    /// The Amazon Connect instance id (a UUID; a Global Resiliency replica has the same id as its source).
    #[schemars(regex(
        pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    ))]
    pub instance_id: String,

    /// Traffic distribution group the instance belongs to (Amazon Connect Global Resiliency), whose
    /// status counts toward health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = TDG_ARN_PATTERN))]
    pub traffic_distribution_group_arn: Option<String>,

    /// IAM role to assume for this region's Amazon Connect and CloudWatch reads (another account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ROLE_ARN_PATTERN))]
    pub role_arn: Option<String>,

    /// Which alarms count toward health, and which severities make the region Degraded or Unhealthy.
    #[serde(default)]
    pub health: HealthPolicy,

    /// How often health is probed, e.g. `30s` (default `60s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub probe_interval: Option<String>,
}

/// Which firing alarms decide a region's health.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.unhealthySeverities.exists(s, s in self.degradedSeverities)").message("a severity cannot be both unhealthy and degraded").field_path(".degradedSeverities"))]
pub struct HealthPolicy {
    /// AlarmPolicies (in this namespace) whose alarms count. Unset or empty: none, and health comes
    /// from replication and traffic distribution status alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_policy_selector: Option<LabelSelector>,

    /// A firing alarm of one of these severities makes the region Unhealthy (default: critical).
    #[serde(default = "default_unhealthy")]
    #[schemars(length(max = 4))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub unhealthy_severities: Vec<Severity>,

    /// A firing alarm of one of these severities makes the region Degraded (default: high).
    #[serde(default = "default_degraded")]
    #[schemars(length(max = 4))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub degraded_severities: Vec<Severity>,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            alarm_policy_selector: None,
            unhealthy_severities: default_unhealthy(),
            degraded_severities: default_degraded(),
        }
    }
}

fn default_unhealthy() -> Vec<Severity> {
    vec![Severity::Critical]
}

fn default_degraded() -> Vec<Severity> {
    vec![Severity::High]
}

/// A region's health.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Health {
    /// No counted alarm fires; replication and traffic distribution are fine.
    Healthy,
    /// A degrading alarm fires, or replication is not fully active.
    Degraded,
    /// An unhealthy-severity alarm fires, or the instance or its replication has failed.
    Unhealthy,
    /// Not probed yet, or the last probe could not reach AWS.
    #[default]
    Unknown,
}

/// What dialtone last saw of the region.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactCenterRegionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (probed), `Synced` (every read reached AWS), `Healthy` (True only when Healthy) and
    /// `ReadyForTraffic` (the region could take all traffic now; the message lists every reason it
    /// cannot).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Healthy, Degraded, Unhealthy or Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// One line: what decided the health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_reason: Option<String>,
    /// How many counted alarms are in ALARM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firing_alarm_count: Option<i32>,
    /// The firing alarms that decided the health.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub firing_alarms: Vec<FiringAlarm>,
    /// The Amazon Connect instance and its replication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceStatus>,
    /// This region's current share of the traffic (Global Resiliency), as GetTrafficDistribution
    /// reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<TrafficShare>,
    /// The traffic distribution group as AWS describes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_distribution_group: Option<TrafficDistributionGroupStatus>,
    /// When health was last probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// Since when AWS could not be read (health Unknown); cleared when reads succeed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<Time>,
}

/// A region's share of the traffic of its traffic distribution group.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficShare {
    /// Percentage of telephony (calls) routed to this region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephony: Option<i32>,
    /// Percentage of agents (and their calls) in this region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<i32>,
    /// Whether agents can sign in to this region (default groups only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<bool>,
}

/// The traffic distribution group.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficDistributionGroupStatus {
    /// Its ARN.
    pub arn: String,
    /// ACTIVE, UPDATE_IN_PROGRESS (a traffic change is being applied), CREATION_IN_PROGRESS, ...
    pub status: String,
    /// Whether it is the instance's default group (the only kind that carries sign-in).
    #[serde(default)]
    pub is_default: bool,
}

/// A firing alarm that counts toward health.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FiringAlarm {
    /// The AlarmPolicy it belongs to.
    pub policy: String,
    /// Its CloudWatch name.
    pub alarm_name: String,
    /// Its severity.
    pub severity: String,
    /// CloudWatch's reason for the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Since when it fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
}

/// The Amazon Connect instance as AWS describes it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// Instance ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Instance alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Creation status (CREATION_IN_PROGRESS, ACTIVE, CREATION_FAILED); not runtime health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Replication per region (Global Resiliency).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replication: Vec<RegionReplication>,
    /// Status of the traffic distribution group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_distribution_group_status: Option<String>,
}

/// Replication of the instance to one region.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegionReplication {
    /// The region.
    pub region: String,
    /// INSTANCE_REPLICATION_COMPLETE, INSTANCE_REPLICATION_IN_PROGRESS, ..._FAILED, ...
    pub status: String,
    /// AWS's reason, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

//! FailoverPlan: region failover between two ContactCenterRegions, declared.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DURATION_PATTERN, OBJECT_NAME_PATTERN};
use super::contact_center_region::TDG_ARN_PATTERN;

/// Which side of a FailoverPlan takes the traffic.
///
/// Changing `spec.activeRegion` in Git is a failover (or a failback): telephony, agents and sign-in
/// move with Amazon Connect Global Resiliency, web/chat/API endpoints with Route 53 failover
/// records. Before a shift the target region is checked ready; after it a validation checklist runs
/// and its results stay in `status.lastFailover.checklist`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "dialtone.io",
    version = "v1alpha1",
    kind = "FailoverPlan",
    namespaced,
    status = "FailoverPlanStatus",
    shortname = "failover",
    shortname = "fp",
    category = "dialtone",
    printcolumn = r#"{"name":"Primary","type":"string","jsonPath":".spec.primary.regionRef"}"#,
    printcolumn = r#"{"name":"Secondary","type":"string","jsonPath":".spec.secondary.regionRef"}"#,
    printcolumn = r#"{"name":"Desired","type":"string","jsonPath":".spec.activeRegion"}"#,
    printcolumn = r#"{"name":"Active","type":"string","jsonPath":".status.activeRegion"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.primary.regionRef != self.secondary.regionRef").message("primary and secondary must be different ContactCenterRegions").field_path(".secondary.regionRef"))]
#[x_kube(validation = Rule::new("has(self.trafficDistribution) || has(self.dns)").message("set trafficDistribution, dns or both: otherwise a failover moves nothing"))]
pub struct FailoverPlanSpec {
    /// The normally active side.
    pub primary: RegionRef,

    /// The standby side.
    pub secondary: RegionRef,

    /// Which side should take traffic: `primary` or `secondary`. Flip it in Git to fail over.
    #[serde(default)]
    pub active_region: ActiveRegion,

    /// `Manual` (default): only a change of `activeRegion` moves traffic. `Automatic`: also fail over
    /// when the active region has been Unhealthy for `automatic.unhealthyFor`.
    #[serde(default)]
    pub mode: FailoverMode,

    /// Settings for `mode: Automatic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic: Option<AutomaticFailover>,

    /// Amazon Connect Global Resiliency: shift telephony (and optionally agents and sign-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_distribution: Option<TrafficDistribution>,

    /// Route 53 failover records for web, chat and API endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsFailover>,

    /// Scheduled disaster-recovery drill (for example quarterly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<Drill>,
}

/// A reference to a ContactCenterRegion in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegionRef {
    /// Name of the ContactCenterRegion.
    #[schemars(regex(pattern = OBJECT_NAME_PATTERN))]
    pub region_ref: String,
}

/// The side of a FailoverPlan.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ActiveRegion {
    #[default]
    Primary,
    Secondary,
}

/// Who may start a failover.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum FailoverMode {
    /// Only a change of `spec.activeRegion`.
    #[default]
    Manual,
    /// Also the operator, when the active region stays Unhealthy.
    Automatic,
}

/// When the operator fails over by itself.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutomaticFailover {
    /// How long the active region must be Unhealthy before failing over, e.g. `5m` (default).
    #[serde(default = "default_unhealthy_for")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub unhealthy_for: String,

    /// Also fail back automatically once the side `activeRegion` names has been Healthy (and
    /// ready for traffic) for `unhealthyFor` again. Default false: failback is a deliberate
    /// commit.
    #[serde(default)]
    pub failback: bool,

    /// No automatic move (failover or failback) sooner than this after the last one, e.g. `1h`
    /// (default): a flapping region does not bounce the contact center between regions.
    #[serde(default = "default_min_interval")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub min_interval: String,
}

fn default_unhealthy_for() -> String {
    "5m".to_string()
}

fn default_min_interval() -> String {
    "1h".to_string()
}

/// Amazon Connect Global Resiliency traffic distribution.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficDistribution {
    /// ARN of the traffic distribution group shared by the two regions.
    #[schemars(regex(pattern = TDG_ARN_PATTERN))]
    pub group_arn: String,

    /// Also move agents (AgentConfig). Default true.
    #[serde(default = "yes")]
    pub agents: bool,

    /// Also move agent sign-in (SignInConfig; default traffic distribution group only). Default true.
    #[serde(default = "yes")]
    pub sign_in: bool,
}

fn yes() -> bool {
    true
}

/// Route 53 failover record pairs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsFailover {
    /// Route 53 hosted zone id holding the records, e.g. `Z0123456789ABCDEFGHIJ`.
    #[schemars(regex(pattern = r"^Z[A-Z0-9]{1,31}$"))]
    pub hosted_zone_id: String,

    /// How a failover moves DNS. `alarm` (default, statically stable): the PRIMARY records are
    /// served while a health check on a lever alarm that dialtone owns is healthy; a failover
    /// publishes one metric value in the secondary's region and calls no Route 53 API at all.
    /// `recordEdit`: dialtone rewrites the records, which depends on the Route 53 control plane
    /// (us-east-1) during the failover.
    #[serde(default)]
    pub lever: DnsLever,

    /// The records, each a PRIMARY/SECONDARY failover pair.
    #[schemars(length(min = 1, max = 50))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub records: Vec<DnsRecord>,
}

/// One failover record pair: the same name answered by the primary side or the secondary side.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecord {
    /// Fully qualified record name, e.g. `chat.example.com`.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^([a-zA-Z0-9_*]([a-zA-Z0-9_-]{0,62})?\.)+[a-zA-Z0-9-]{1,63}\.?$")
    )]
    pub name: String,

    /// Record type: A, AAAA or CNAME.
    #[serde(rename = "type")]
    pub record_type: DnsRecordType,

    /// Time to live in seconds (default 60; keep it low so clients follow a failover quickly).
    #[serde(default = "default_ttl")]
    #[schemars(range(min = 0, max = 86400))]
    pub ttl: i64,

    /// The value served while the primary side is active (an IP address or a host name).
    #[schemars(length(min = 1, max = 4000))]
    pub primary: String,

    /// The value served while the secondary side is active.
    #[schemars(length(min = 1, max = 4000))]
    pub secondary: String,

    /// The Route 53 health check that decides whether the primary record is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

fn default_ttl() -> i64 {
    60
}

/// How DNS follows a failover.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DnsLever {
    /// A lever alarm on a metric dialtone publishes drives a health check on the PRIMARY records.
    #[default]
    Alarm,
    /// Records rewritten with ChangeResourceRecordSets.
    RecordEdit,
}

/// DNS record types dialtone manages.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DnsRecordType {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
    #[serde(rename = "CNAME")]
    Cname,
}

/// A Route 53 health check on the primary endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// HTTP, HTTPS or TCP.
    pub protocol: HealthCheckProtocol,
    /// Port to probe (default: 443 for HTTPS, 80 for HTTP; required for TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Path for HTTP and HTTPS probes, e.g. `/health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255), regex(pattern = r"^/"))]
    pub path: Option<String>,
    /// Consecutive failures before the endpoint counts as down (1-10, default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub failure_threshold: Option<i32>,
}

/// Health check protocols.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum HealthCheckProtocol {
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
    #[serde(rename = "TCP")]
    Tcp,
}

/// A scheduled disaster-recovery drill: fail over, validate, fail back, report.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Drill {
    /// 5-field cron schedule, e.g. `0 6 1 1,4,7,10 *` (06:00 on the first day of each quarter).
    #[schemars(length(min = 9, max = 100))]
    pub schedule: String,
    /// IANA time zone of the schedule, e.g. `Europe/Berlin` (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Run the drill only while this MaintenanceWindow (same namespace) is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = OBJECT_NAME_PATTERN))]
    pub maintenance_window_ref: Option<String>,
    /// How long the drill stays failed over before failing back, e.g. `10m` (default).
    #[serde(default = "default_hold_for")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub hold_for: String,
}

fn default_hold_for() -> String {
    "10m".to_string()
}

/// What the failover machinery is doing.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum FailoverPhase {
    /// Traffic is where the spec says, nothing in progress.
    Steady,
    /// A failover is due but the target region is not ready for traffic; nothing was written.
    Blocked,
    /// Traffic is being shifted.
    FailingOver,
    /// Traffic shifted; the checklist is running.
    Validating,
    /// Traffic runs on the secondary side.
    FailedOver,
    /// A drill is running: failed over on purpose, to fail back after `drill.holdFor`.
    Drilling,
    /// A shift or its checklist failed; see conditions and `lastFailover`. Retried with backoff.
    Failed,
}

/// What dialtone last saw and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailoverPlanStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and `Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The side that has the traffic now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_region: Option<ActiveRegion>,
    /// Steady, FailingOver, Validating, FailedOver or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<FailoverPhase>,
    /// The most recent shift of traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failover: Option<FailoverRecord>,
    /// The most recent drill (running, or its report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill: Option<Box<DrillReport>>,
    /// When the next scheduled drill is due (in the past: due, and waiting for what
    /// `ReadyToFailOver` names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_drill: Option<Time>,
    /// The `dialtone.io/drill-now` value last acted on (a new value starts another drill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_now_handled: Option<String>,
    /// `mode: Automatic`: the health history it decides on, and a failover it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic: Option<Box<AutomaticStatus>>,
    /// The region dialtone itself reaches AWS from (its own AWS configuration), when known. If it
    /// is the active side's region, an outage there may take dialtone down with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_region: Option<String>,
    /// The DNS lever as found: for `lever: alarm` the lever alarm and its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_lever: Option<DnsLeverStatus>,
    /// Where dialtone wrote resources for this plan (the lever alarm, Route 53 records and
    /// health checks), kept until they are deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub footprint: Vec<super::common::Footprint>,
    /// The spec in effect while a change waits for a MaintenanceWindow (the change gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted: Option<super::common::AdmittedSpec>,
}

/// The health history `mode: Automatic` decides on, and the failover it made.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutomaticStatus {
    /// The primary side's region: since when Unhealthy or Unknown without a break.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_unhealthy_since: Option<Time>,
    /// The secondary side's region: since when Unhealthy or Unknown without a break.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_unhealthy_since: Option<Time>,
    /// The primary side's region: since when Healthy without a break.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_healthy_since: Option<Time>,
    /// The secondary side's region: since when Healthy without a break.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_healthy_since: Option<Time>,
    /// When the health was last looked at: a gap longer than 15 minutes (or twice
    /// `unhealthyFor`) starts the count again (nobody watched in between).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<Time>,
    /// The side dialtone moved the traffic to by itself while `spec.activeRegion` names the
    /// other: kept until the spec changes (or `failback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latched: Option<ActiveRegion>,
    /// When it moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latched_at: Option<Time>,
    /// Why it moved: the region, its health and for how long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latched_reason: Option<String>,
    /// The spec's version when it moved (its generation; in manifest mode a digest): a new one
    /// (a commit) releases the latch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latched_spec: Option<String>,
    /// The last automatic move, failover or failback (for `minInterval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failover_at: Option<Time>,
    /// What the automatic decision says now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Where a drill is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DrillStage {
    /// Moving the traffic to the secondary side.
    FailingOver,
    /// Failed over; holding for `drill.holdFor`.
    Holding,
    /// Moving the traffic back to the primary side.
    FailingBack,
    /// Over: see `result`.
    Done,
}

/// How a drill went.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DrillResult {
    /// Under way.
    Running,
    /// Failed over and back, every check passed.
    Passed,
    /// A step or a check failed (the traffic was moved back); `message` says which.
    Failed,
    /// It did not start; `message` says why.
    NotStarted,
}

/// A disaster-recovery drill: both movements with their steps and checklists.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillReport {
    /// `schedule` (`drill.schedule`) or `annotation` (`dialtone.io/drill-now`).
    pub trigger: String,
    /// Why: the schedule's due time, or the annotation's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// FailingOver, Holding, FailingBack or Done.
    pub stage: DrillStage,
    /// Running, Passed, Failed or NotStarted.
    pub result: DrillResult,
    /// What happened, in words (why it failed or did not start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the failover was validated and the hold began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since: Option<Time>,
    /// When it ended (or was found unable to start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// Seconds from start to the validated failback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    /// The failover to the secondary side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailoverRecord>,
    /// The failback to the primary side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<FailoverRecord>,
}

/// The DNS lever.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsLeverStatus {
    /// `alarm` or `recordEdit`.
    pub kind: String,
    /// The lever alarm (in the secondary's region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<String>,
    /// Its region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Its CloudWatch state: OK serves the primary, ALARM the secondary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// True for `recordEdit`: a failover then needs the Route 53 control plane (us-east-1).
    #[serde(default)]
    pub depends_on_route53_control_plane: bool,
}

/// One shift of traffic and its validation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailoverRecord {
    /// Side the traffic left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ActiveRegion>,
    /// Side the traffic went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<ActiveRegion>,
    /// What started it: `spec` (a commit), `automatic`, `drill`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the shift started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the checklist finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// Seconds from start to a validated result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    /// The steps, in order: readiness, traffic, DNS, checklist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
    /// The validation checklist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checklist: Vec<ChecklistItem>,
}

/// One step of a failover.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// `readiness`, `traffic`, `dns` or `checklist`.
    pub name: String,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// `Succeeded`, `AlreadyDone` (AWS already showed it: nothing written), `Waiting`, `Failed`
    /// or `Blocked`.
    pub result: String,
    /// What was called and what came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One check after a shift.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChecklistItem {
    /// What was checked, e.g. `traffic reads back as intended`.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

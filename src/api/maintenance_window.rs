//! MaintenanceWindow: scheduled windows that mute alarms and gate changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DURATION_PATTERN, Severity};

/// Annotation on an AlarmPolicy or FailoverPlan that lets a held change through now, outside the
/// window. Its value says why (it is logged and kept in events).
pub const EMERGENCY_CHANGE_ANNOTATION: &str = "dialtone.io/emergency-change";

/// Recurring or one-off maintenance windows.
///
/// While a window is open the actions of the selected alarms are muted with CloudWatch alarm mute
/// rules (so muting happens in AWS even if the operator is down), and held spec changes of the
/// selected AlarmPolicies and FailoverPlans are let through.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "dialtone.io",
    version = "v1alpha1",
    kind = "MaintenanceWindow",
    namespaced,
    status = "MaintenanceWindowStatus",
    shortname = "mwindow",
    shortname = "mw",
    category = "dialtone",
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.schedule"}"#,
    printcolumn = r#"{"name":"Duration","type":"string","jsonPath":".spec.duration"}"#,
    printcolumn = r#"{"name":"Open","type":"boolean","jsonPath":".status.open"}"#,
    printcolumn = r#"{"name":"Next","type":"string","jsonPath":".status.nextWindow.start"}"#,
    printcolumn = r#"{"name":"Muted","type":"integer","jsonPath":".status.mutedAlarms"}"#,
    printcolumn = r#"{"name":"Held","type":"integer","jsonPath":".status.heldChangeCount","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.schedule) == has(self.duration)").message("schedule and duration go together: a recurring window needs both").field_path(".duration"))]
#[x_kube(validation = Rule::new("has(self.schedule) || (has(self.windows) && size(self.windows) > 0)").message("set schedule (recurring) or windows (one-off), or both"))]
#[x_kube(validation = Rule::new("has(self.suppress) || has(self.changeGate)").message("set suppress, changeGate or both: otherwise the window does nothing"))]
pub struct MaintenanceWindowSpec {
    /// 5-field cron schedule of window starts, e.g. `0 2 * * SUN` (Sundays 02:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 9, max = 100))]
    pub schedule: Option<String>,

    /// IANA time zone of `schedule`, e.g. `America/New_York` (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: Option<String>,

    /// How long each scheduled window stays open, e.g. `2h` (1 minute to 15 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub duration: Option<String>,

    /// One-off windows, each with its own start and end (RFC 3339 times).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub windows: Vec<OneOffWindow>,

    /// Mute the actions of selected alarms while the window is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<Suppression>,

    /// Hold spec changes of selected objects until the window opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_gate: Option<ChangeGate>,
}

/// A single window.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.end > self.start").message("end must be after start").field_path(".end"))]
pub struct OneOffWindow {
    /// When it opens, e.g. `2026-12-24T22:00:00Z`.
    pub start: Time,
    /// When it closes.
    pub end: Time,
    /// Why, for the record (change ticket, release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub reason: Option<String>,
}

/// Which alarms are muted during the window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Suppression {
    /// AlarmPolicies (in this namespace) whose alarms are muted.
    pub alarm_policy_selector: LabelSelector,
    /// Only alarms of these severities (default: all severities).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub severities: Vec<Severity>,
}

impl Suppression {
    /// Whether alarms of `severity` are muted.
    pub fn covers(&self, severity: Severity) -> bool {
        self.severities.is_empty() || self.severities.contains(&severity)
    }
}

/// Which objects' spec changes wait for the window.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.alarmPolicySelector) || has(self.failoverPlanSelector)").message("select AlarmPolicies, FailoverPlans or both"))]
pub struct ChangeGate {
    /// AlarmPolicies (in this namespace) whose changes are held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_policy_selector: Option<LabelSelector>,
    /// FailoverPlans (in this namespace) whose changes are held. A failover itself is never held
    /// when the active region is Unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_plan_selector: Option<LabelSelector>,
}

/// What dialtone last saw and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindowStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and `Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Whether a window is open now.
    #[serde(default)]
    pub open: bool,
    /// The window open now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_window: Option<WindowTimes>,
    /// The next window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_window: Option<WindowTimes>,
    /// How many alarms have their actions muted now.
    #[serde(default)]
    pub muted_alarms: i32,
    /// How many changes are held.
    #[serde(default)]
    pub held_change_count: i32,
    /// Changes waiting for the window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_changes: Vec<HeldChange>,
    /// The CloudWatch alarm mute rules that carry the window, per region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mute_rules: Vec<MuteRuleStatus>,
    /// Where dialtone wrote mute rules for this window and under which names, kept until they are
    /// deleted: how rules left in a region whose alarms are no longer muted are found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub footprint: Vec<super::common::Footprint>,
}

/// One mute rule of the window.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MuteRuleStatus {
    /// The AWS region.
    pub region: String,
    /// The rule's name (`dialtone/<namespace>/<name>/...`).
    pub name: String,
    /// How many alarms it mutes while it is in effect (at most 100).
    pub alarm_count: i32,
    /// Fields CloudWatch holds differently from what dialtone wants (repaired unless a conflict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<super::alarm_policy::FieldDrift>,
    /// Why dialtone will not touch it (for example: a rule with this name exists and is not ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
}

/// Start and end of a window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowTimes {
    /// When it opens.
    pub start: Time,
    /// When it closes.
    pub end: Time,
    /// Why (a one-off window's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A spec change waiting for the window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeldChange {
    /// AlarmPolicy or FailoverPlan.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// The held `metadata.generation`.
    pub generation: i64,
    /// When it will be let through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until: Option<Time>,
}

//! Types and patterns shared by the four kinds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// AWS region names: `us-east-1`, `eu-central-1`, `us-gov-west-1`.
pub const REGION_PATTERN: &str = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$";
/// An IAM role ARN, in any partition.
pub const ROLE_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$";
/// An alarm action ARN: an SNS topic, a Lambda function, an SSM OpsItem or incident plan, an EC2 action.
pub const ACTION_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:\S+$";
/// A Kubernetes-style duration: "30s", "2m", "2h", "1h30m".
pub const DURATION_PATTERN: &str = r"^([0-9]+(s|m|h))+$";
/// A Kubernetes object name (DNS subdomain).
pub const OBJECT_NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$";

/// How urgent an alarm is; `spec.routing` maps each severity to the actions that run when it fires.
///
/// The manual's action plan: critical and high page the on-call engineer now, medium is logged and
/// watched for trends, low is reviewed in the next maintenance window.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where dialtone wrote AWS resources for an object, and under which names (alarms of an
/// AlarmPolicy, mute rules of a MaintenanceWindow): how it finds what to clean up after the spec
/// moved on (a region changed, an `alarmName` removed, the object deleted). Names stay recorded
/// until dialtone deletes them or sees they are no longer the object's own.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Footprint {
    /// The AWS region.
    pub region: String,
    /// The role assumed to reach it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Names of what was declared there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// The spec dialtone enforces while a newer one waits for a maintenance window (the change gate):
/// the last spec it admitted, and its generation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdmittedSpec {
    /// The `metadata.generation` of the admitted spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The admitted spec itself.
    #[schemars(schema_with = "any_object")]
    pub spec: serde_json::Value,
}

/// An object schema whose fields the API server keeps as they are (a whole spec).
fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Parses a Kubernetes-style duration ("30s", "2m", "1h30m") into seconds.
/// Returns None when the text is not one; callers name the field in their error.
pub fn parse_duration(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return None,
        };
        let value: u64 = digits.parse().ok()?;
        total = total.checked_add(value.checked_mul(unit)?)?;
        digits.clear();
    }
    digits.is_empty().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_kubernetes_style() {
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("2m"), Some(120));
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("1h30m"), Some(5400));
    }

    #[test]
    fn malformed_durations_are_rejected() {
        for bad in ["", "5", "m", "1d", "1.5h", "-1m", "1h 30m"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}

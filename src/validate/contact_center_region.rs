//! ContactCenterRegion rules that no schema can express.

use super::{FieldError, Problems, check_duration, check_selector};
use crate::api::contact_center_region::ContactCenterRegionSpec;

/// Every semantic problem of a ContactCenterRegion spec.
pub fn contact_center_region(spec: &ContactCenterRegionSpec) -> Vec<FieldError> {
    let mut problems = Problems::default();
    if let Some(interval) = &spec.probe_interval {
        check_duration(&mut problems, "spec.probeInterval", interval, 10, 3600);
    }
    if let Some(selector) = &spec.health.alarm_policy_selector {
        check_selector(&mut problems, "spec.health.alarmPolicySelector", selector);
    }
    for severity in &spec.health.unhealthy_severities {
        if spec.health.degraded_severities.contains(severity) {
            problems.add(
                "spec.health.degradedSeverities",
                format!("{severity} is also in unhealthySeverities; a severity has one meaning"),
            );
        }
    }
    if let Some(arn) = &spec.traffic_distribution_group_arn {
        // The group lives in the region that created it; a replica region refers to it by ARN, so
        // only the partition and service are checked here.
        if !arn.contains(":connect:") {
            problems.add(
                "spec.trafficDistributionGroupArn",
                "must be an Amazon Connect traffic distribution group ARN",
            );
        }
    }
    problems.into_vec()
}

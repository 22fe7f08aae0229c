//! FailoverPlan rules that no schema can express.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{FieldError, Problems, check_cron, check_duration, check_time_zone};
use crate::api::failover_plan::{
    DnsRecordType, FailoverMode, FailoverPlanSpec, HealthCheckProtocol,
};

/// Every semantic problem of a FailoverPlan spec.
pub fn failover_plan(spec: &FailoverPlanSpec) -> Vec<FieldError> {
    let mut problems = Problems::default();
    if spec.primary.region_ref == spec.secondary.region_ref {
        problems.add(
            "spec.secondary.regionRef",
            "primary and secondary must be different ContactCenterRegions",
        );
    }
    if spec.traffic_distribution.is_none() && spec.dns.is_none() {
        problems.add(
            "spec",
            "set trafficDistribution, dns or both: otherwise a failover moves nothing",
        );
    }
    if let Some(automatic) = &spec.automatic {
        check_duration(
            &mut problems,
            "spec.automatic.unhealthyFor",
            &automatic.unhealthy_for,
            60,
            24 * 3600,
        );
        check_duration(
            &mut problems,
            "spec.automatic.minInterval",
            &automatic.min_interval,
            0,
            30 * 86_400,
        );
        if spec.mode != FailoverMode::Automatic {
            problems.add(
                "spec.automatic",
                "takes effect only with mode: Automatic; set the mode or remove this block",
            );
        }
    }
    if let Some(dns) = &spec.dns {
        for (i, record) in dns.records.iter().enumerate() {
            let path = format!("spec.dns.records[{i}]");
            for (side, value) in [
                ("primary", &record.primary),
                ("secondary", &record.secondary),
            ] {
                if let Some(problem) = record_value_problem(record.record_type, value) {
                    problems.add(format!("{path}.{side}"), problem);
                }
            }
            if let Some(check) = &record.health_check
                && check.protocol == HealthCheckProtocol::Tcp
            {
                if check.path.is_some() {
                    problems.add(
                        format!("{path}.healthCheck.path"),
                        "a TCP health check has no path",
                    );
                }
                if check.port.is_none() {
                    problems.add(
                        format!("{path}.healthCheck.port"),
                        "a TCP health check needs a port (HTTP defaults to 80, HTTPS to 443)",
                    );
                }
            }
        }
    }
    if let Some(drill) = &spec.drill {
        check_cron(&mut problems, "spec.drill.schedule", &drill.schedule);
        if let Some(zone) = &drill.time_zone {
            check_time_zone(&mut problems, "spec.drill.timeZone", zone);
        }
        check_duration(
            &mut problems,
            "spec.drill.holdFor",
            &drill.hold_for,
            0,
            7 * 86_400,
        );
    }
    problems.into_vec()
}

fn record_value_problem(kind: DnsRecordType, value: &str) -> Option<String> {
    match kind {
        DnsRecordType::A if value.parse::<Ipv4Addr>().is_err() => {
            Some(format!("{value:?} is not an IPv4 address (type A)"))
        }
        DnsRecordType::Aaaa if value.parse::<Ipv6Addr>().is_err() => {
            Some(format!("{value:?} is not an IPv6 address (type AAAA)"))
        }
        DnsRecordType::Cname
            if value.parse::<std::net::IpAddr>().is_ok() || !value.contains('.') =>
        {
            Some(format!("{value:?} is not a host name (type CNAME)"))
        }
        _ => None,
    }
}

//! A contact-center region's health and readiness, from what a probe read. Pure: no I/O, no clock.
//!
//! Unhealthy: an alarm of an unhealthy severity fires, the instance is missing, or replication to
//! or from the region failed. Degraded: an alarm of a degraded severity fires, replication is in
//! progress, or the traffic distribution group is not ACTIVE. Healthy otherwise. Unknown when AWS
//! could not be read, with the call and the error: never a guess.

use crate::api::common::Severity;
use crate::api::contact_center_region::Health;

/// An Amazon Connect instance as DescribeInstance answers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedInstance {
    pub arn: Option<String>,
    pub alias: Option<String>,
    /// Creation status (ACTIVE, ...): not runtime health.
    pub status: Option<String>,
    /// Replication per region (Global Resiliency); empty for an instance that is not replicated.
    pub replication: Vec<Replication>,
}

/// Replication of the instance to or from one region.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Replication {
    pub region: String,
    pub status: String,
    pub reason: Option<String>,
}

/// A traffic distribution group as DescribeTrafficDistributionGroup answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedGroup {
    pub arn: String,
    pub status: String,
    pub is_default: bool,
}

/// A traffic distribution as GetTrafficDistribution answers: per region.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedTraffic {
    pub telephony: Vec<(String, i32)>,
    pub agents: Vec<(String, i32)>,
    /// Sign-in per region (default groups only; empty otherwise).
    pub sign_in: Vec<(String, bool)>,
}

impl ObservedTraffic {
    /// This region's share: (telephony %, agents %, sign-in enabled).
    pub fn share(&self, region: &str) -> (Option<i32>, Option<i32>, Option<bool>) {
        let find = |list: &[(String, i32)]| list.iter().find(|(r, _)| r == region).map(|(_, p)| *p);
        (
            find(&self.telephony),
            find(&self.agents),
            self.sign_in
                .iter()
                .find(|(r, _)| r == region)
                .map(|(_, e)| *e),
        )
    }
}

/// An alarm's CloudWatch state, as DescribeAlarms (or a policy's status) has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmState {
    /// OK, ALARM, INSUFFICIENT_DATA.
    pub state: String,
    pub reason: Option<String>,
    /// Seconds since the epoch of its last state change.
    pub since: Option<i64>,
}

impl From<&super::alarm::ObservedAlarm> for AlarmState {
    fn from(alarm: &super::alarm::ObservedAlarm) -> Self {
        AlarmState {
            state: alarm.state.clone(),
            reason: alarm.state_reason.clone(),
            since: alarm.state_updated,
        }
    }
}

/// An alarm of a selected AlarmPolicy, with its CloudWatch state.
#[derive(Debug, Clone, PartialEq)]
pub struct CountedAlarm {
    /// `<namespace>/<name>` of its policy.
    pub policy: String,
    pub alarm_name: String,
    pub severity: Severity,
    /// OK, ALARM, INSUFFICIENT_DATA; None when the alarm does not exist in CloudWatch.
    pub state: Option<String>,
    pub reason: Option<String>,
    /// Seconds since the epoch of its last state change.
    pub since: Option<i64>,
}

/// A read that failed: which call, where, and AWS's answer.
pub type Unreadable = String;

/// Everything one probe of a region read.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The counted alarms, or why their states could not be read.
    pub alarms: Result<Vec<CountedAlarm>, Unreadable>,
    /// The instance (None: it does not exist), or why it could not be read.
    pub instance: Result<Option<ObservedInstance>, Unreadable>,
    /// The traffic distribution group, when the region names one.
    pub group: Option<Result<Option<ObservedGroup>, Unreadable>>,
    /// Its traffic distribution, when the region names a group.
    pub traffic: Option<Result<ObservedTraffic, Unreadable>>,
}

/// Which severities decide health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Severities {
    pub unhealthy: Vec<Severity>,
    pub degraded: Vec<Severity>,
}

/// What a probe means.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Assessment {
    pub health: Health,
    /// One line: what decided it.
    pub reason: String,
    /// Firing alarms of a severity that counts (unhealthy or degraded), most severe first.
    pub firing: Vec<CountedAlarm>,
    /// Why the region cannot take all traffic now; empty: it can.
    pub not_ready: Vec<String>,
    /// The first read that failed, when one did.
    pub unreadable: Option<Unreadable>,
}

impl Assessment {
    pub fn ready_for_traffic(&self) -> bool {
        self.not_ready.is_empty()
    }
}

const COMPLETE: &str = "INSTANCE_REPLICATION_COMPLETE";

fn failed(status: &str) -> bool {
    status.ends_with("_FAILED")
}

/// Assesses one region from its probe.
pub fn assess(region: &str, severities: &Severities, probe: &Probe) -> Assessment {
    let unreadable = [
        probe.alarms.as_ref().err(),
        probe.instance.as_ref().err(),
        probe.group.as_ref().and_then(|g| g.as_ref().err()),
        probe.traffic.as_ref().and_then(|t| t.as_ref().err()),
    ]
    .into_iter()
    .flatten()
    .next()
    .cloned();
    let rank = |s: Severity| {
        if severities.unhealthy.contains(&s) {
            0
        } else {
            1
        }
    };
    let mut firing: Vec<CountedAlarm> = probe
        .alarms
        .as_ref()
        .map(|alarms| {
            alarms
                .iter()
                .filter(|a| a.state.as_deref() == Some("ALARM"))
                .filter(|a| {
                    severities.unhealthy.contains(&a.severity)
                        || severities.degraded.contains(&a.severity)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    firing
        .sort_by(|a, b| (rank(a.severity), &a.alarm_name).cmp(&(rank(b.severity), &b.alarm_name)));

    let mut unhealthy: Vec<String> = Vec::new();
    let mut degraded: Vec<String> = Vec::new();
    let mut not_ready: Vec<String> = Vec::new();
    for alarm in &firing {
        let line = format!("{} alarm {} is in ALARM", alarm.severity, alarm.alarm_name);
        if severities.unhealthy.contains(&alarm.severity) {
            not_ready.push(line.clone());
            unhealthy.push(line);
        } else {
            degraded.push(line);
        }
    }
    match &probe.instance {
        Ok(None) => {
            let line = "the Amazon Connect instance does not exist in this region".to_string();
            not_ready.push(line.clone());
            unhealthy.push(line);
        }
        Ok(Some(instance)) => {
            for replication in &instance.replication {
                let reason = replication
                    .reason
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                let line = format!(
                    "replication {} {}{reason}",
                    if replication.region == region {
                        "of this region is".to_string()
                    } else {
                        format!("to {} is", replication.region)
                    },
                    replication.status
                );
                if failed(&replication.status) {
                    unhealthy.push(line.clone());
                    not_ready.push(line);
                } else if replication.status != COMPLETE {
                    degraded.push(line.clone());
                    not_ready.push(line);
                }
            }
        }
        Err(_) => {}
    }
    match &probe.group {
        Some(Ok(Some(group))) if group.status != "ACTIVE" => {
            let line = format!("traffic distribution group is {}", group.status);
            degraded.push(line.clone());
            not_ready.push(line);
        }
        Some(Ok(None)) => {
            let line = "traffic distribution group does not exist".to_string();
            degraded.push(line.clone());
            not_ready.push(line);
        }
        _ => {}
    }

    let (health, reason) = if let Some(why) = &unreadable {
        not_ready.insert(0, format!("AWS could not be read: {why}"));
        (Health::Unknown, format!("AWS could not be read: {why}"))
    } else if !unhealthy.is_empty() {
        (Health::Unhealthy, unhealthy.join("; "))
    } else if !degraded.is_empty() {
        (Health::Degraded, degraded.join("; "))
    } else {
        let counted = probe.alarms.as_ref().map(Vec::len).unwrap_or_default();
        (
            Health::Healthy,
            format!("no counted alarm firing ({counted} counted); instance and replication fine"),
        )
    };
    Assessment {
        health,
        reason,
        firing,
        not_ready,
        unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(name: &str, severity: Severity, state: &str) -> CountedAlarm {
        CountedAlarm {
            policy: "cc/connect".into(),
            alarm_name: name.into(),
            severity,
            state: Some(state.into()),
            reason: None,
            since: None,
        }
    }

    fn replicated(east: &str, west: &str) -> ObservedInstance {
        ObservedInstance {
            arn: Some("arn:aws:connect:us-east-1:1:instance/i".into()),
            alias: Some("cc".into()),
            status: Some("ACTIVE".into()),
            replication: vec![
                Replication {
                    region: "us-east-1".into(),
                    status: east.into(),
                    reason: None,
                },
                Replication {
                    region: "us-west-2".into(),
                    status: west.into(),
                    reason: Some("quota".into()),
                },
            ],
        }
    }

    fn group(status: &str) -> Option<Result<Option<ObservedGroup>, Unreadable>> {
        Some(Ok(Some(ObservedGroup {
            arn: "arn:g".into(),
            status: status.into(),
            is_default: true,
        })))
    }

    fn healthy_probe() -> Probe {
        Probe {
            alarms: Ok(vec![
                alarm("critical-quiet", Severity::Critical, "OK"),
                alarm("low-firing", Severity::Low, "ALARM"),
            ]),
            instance: Ok(Some(replicated(COMPLETE, COMPLETE))),
            group: group("ACTIVE"),
            traffic: Some(Ok(ObservedTraffic::default())),
        }
    }

    fn severities() -> Severities {
        Severities {
            unhealthy: vec![Severity::Critical],
            degraded: vec![Severity::High],
        }
    }

    /// The runbook as a table: what the probe saw -> health, ready for traffic, reason contains.
    #[test]
    fn health_and_readiness_follow_the_contract() {
        type Change = fn(&mut Probe);
        let cases: Vec<(&str, Change, Health, bool, &str)> = vec![
            (
                "all fine (a low alarm does not count)",
                |_| {},
                Health::Healthy,
                true,
                "no counted alarm firing",
            ),
            (
                "critical alarm firing",
                |p| p.alarms = Ok(vec![alarm("calls-over-quota", Severity::Critical, "ALARM")]),
                Health::Unhealthy,
                false,
                "critical alarm calls-over-quota is in ALARM",
            ),
            (
                "high alarm firing",
                |p| p.alarms = Ok(vec![alarm("queue-wait", Severity::High, "ALARM")]),
                Health::Degraded,
                true,
                "high alarm queue-wait is in ALARM",
            ),
            (
                "instance missing",
                |p| p.instance = Ok(None),
                Health::Unhealthy,
                false,
                "does not exist",
            ),
            (
                "replication to the other region failed",
                |p| p.instance = Ok(Some(replicated(COMPLETE, "INSTANCE_REPLICATION_FAILED"))),
                Health::Unhealthy,
                false,
                "replication to us-west-2 is INSTANCE_REPLICATION_FAILED: quota",
            ),
            (
                "replication in progress",
                |p| {
                    p.instance = Ok(Some(replicated(
                        COMPLETE,
                        "INSTANCE_REPLICATION_IN_PROGRESS",
                    )))
                },
                Health::Degraded,
                false,
                "IN_PROGRESS",
            ),
            (
                "group updating",
                |p| p.group = group("UPDATE_IN_PROGRESS"),
                Health::Degraded,
                false,
                "traffic distribution group is UPDATE_IN_PROGRESS",
            ),
            (
                "alarms unreadable",
                |p| p.alarms = Err("DescribeAlarms in us-east-1 failed: HTTP 503".into()),
                Health::Unknown,
                false,
                "DescribeAlarms in us-east-1 failed",
            ),
            (
                "instance unreadable beats a firing alarm",
                |p| {
                    p.alarms = Ok(vec![alarm("x", Severity::Critical, "ALARM")]);
                    p.instance = Err(
                        "connect DescribeInstance failed (ServiceUnavailableException): down"
                            .into(),
                    );
                },
                Health::Unknown,
                false,
                "DescribeInstance",
            ),
            (
                "not replicated, no group",
                |p| {
                    p.instance = Ok(Some(ObservedInstance::default()));
                    p.group = None;
                    p.traffic = None;
                },
                Health::Healthy,
                true,
                "",
            ),
        ];
        for (what, change, health, ready, reason) in cases {
            let mut probe = healthy_probe();
            change(&mut probe);
            let assessment = assess("us-east-1", &severities(), &probe);
            assert_eq!(assessment.health, health, "{what}: {assessment:?}");
            assert_eq!(
                assessment.ready_for_traffic(),
                ready,
                "{what}: {assessment:?}"
            );
            assert!(
                assessment.reason.contains(reason),
                "{what}: {}",
                assessment.reason
            );
        }
    }

    #[test]
    fn firing_lists_deciding_alarms_most_severe_first_and_readiness_lists_every_reason() {
        let mut probe = healthy_probe();
        probe.alarms = Ok(vec![
            alarm("b-high", Severity::High, "ALARM"),
            alarm("a-critical", Severity::Critical, "ALARM"),
            alarm("c-medium", Severity::Medium, "ALARM"),
        ]);
        probe.group = group("PENDING_DELETION");
        let assessment = assess("us-east-1", &severities(), &probe);
        let names: Vec<&str> = assessment
            .firing
            .iter()
            .map(|a| a.alarm_name.as_str())
            .collect();
        assert_eq!(names, ["a-critical", "b-high"]);
        assert_eq!(assessment.not_ready.len(), 2, "{:?}", assessment.not_ready);
        assert!(assessment.not_ready[1].contains("PENDING_DELETION"));
    }

    #[test]
    fn a_regions_share_of_the_traffic() {
        let traffic = ObservedTraffic {
            telephony: vec![("us-east-1".into(), 100), ("us-west-2".into(), 0)],
            agents: vec![("us-east-1".into(), 90), ("us-west-2".into(), 10)],
            sign_in: vec![("us-east-1".into(), true), ("us-west-2".into(), false)],
        };
        assert_eq!(traffic.share("us-west-2"), (Some(0), Some(10), Some(false)));
        assert_eq!(traffic.share("eu-west-1"), (None, None, None));
    }
}

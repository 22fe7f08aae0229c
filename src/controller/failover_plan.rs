//! FailoverPlan: observe the levers (the traffic distribution, the DNS lever alarm) -> decide
//! (pure) -> carry out a failover as idempotent steps, each reading AWS before it writes
//! (readiness, traffic, DNS, checklist) -> status (the steps and the checklist recorded).
//!
//! A restart in the middle resumes from what AWS shows: a step whose effect is already there
//! writes nothing, and the failover in progress is continued, never started twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::alarm_policy::Mode;
use super::progress::{Progress, Write};
use super::status::StatusBase;
use crate::api::alarm_policy::{OWNER_KIND_TAG, OWNER_TAG};
use crate::api::common::Footprint;
use crate::api::conditions::{Status, find};
use crate::api::contact_center_region::{ContactCenterRegion, ContactCenterRegionStatus, Health};
use crate::api::failover_plan::{
    ActiveRegion, ChecklistItem, DnsLever, DnsLeverStatus, FailoverPhase, FailoverPlan,
    FailoverPlanStatus, FailoverRecord, StepRecord,
};
use crate::aws::{AwsClients, AwsError, Target};
use crate::controller::contact_center_region::{READY_FOR_TRAFFIC, region_target};
use crate::plan::alarm::{AlarmConfig, DesiredAlarm, MetricStat, ObservedAlarm, Source, Threshold};
use crate::plan::deletion::{
    Claim, Decision as DeletionDecision, Facts, decide as decide_deletion,
};
use crate::plan::diff::config_drift;
use crate::plan::failover::{
    Decision, Distribution, Reading, Sides, Trigger, decide, distribution_matches, distribution_to,
    lever_side, other, readiness, side_name, traffic_side,
};
use crate::plan::health::ObservedTraffic;

/// Annotation that lets a failover through although the target is not ready. Its value says why.
pub const FORCE_FAILOVER_ANNOTATION: &str = "dialtone.io/force-failover";
/// Namespace and name of the metric the DNS lever alarm watches.
pub const LEVER_NAMESPACE: &str = "dialtone";
pub const LEVER_METRIC: &str = "SideEnabled";
/// How long a step waits for AWS to settle (the group to leave UPDATE_IN_PROGRESS, the lever alarm
/// to evaluate) before the failover is left Waiting, to be resumed by the next sweep.
const SETTLE_WAIT: Duration = Duration::from_secs(120);
const POLL_EVERY: Duration = Duration::from_secs(1);
/// The lever alarm's period (the shortest Route 53 takes).
const LEVER_PERIOD_SECONDS: i32 = 60;
/// While a step waits for the lever alarm, the lever value is published again this often.
const REPUBLISH_EVERY: Duration = Duration::from_secs(10);

/// One call a failover makes (or, in `plan`, would make).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub step: &'static str,
    pub operation: &'static str,
    pub region: String,
    pub detail: String,
}

/// The footprint of a plan: its lever alarm, in the secondary's region.
pub fn footprint(
    plan: &FailoverPlan,
    owner: &str,
    secondary: &ContactCenterRegion,
) -> Vec<Footprint> {
    match &plan.spec.dns {
        Some(dns) if dns.lever == DnsLever::Alarm => {
            let target = region_target(secondary);
            vec![Footprint {
                region: target.region,
                role_arn: target.role_arn,
                names: vec![lever_alarm(owner).config.alarm_name],
            }]
        }
        _ => Vec::new(),
    }
}

/// What one sweep found and did for one plan.
#[derive(Debug, Clone)]
pub struct FailoverOutcome {
    /// `<namespace>/<name>`.
    pub owner: String,
    pub status: FailoverPlanStatus,
    /// Calls made (apply) or that a pending failover would make (plan), in order.
    pub calls: Vec<Call>,
    pub errors: Vec<AwsError>,
    /// A failover is due (plan) or was carried out or continued (apply).
    pub moving: Option<ActiveRegion>,
    /// Writes of peacetime (the lever alarm, its first data point).
    pub peacetime_writes: Vec<Call>,
}

/// A plan and what the sweep knows around it.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    pub plan: &'a FailoverPlan,
    pub primary: Option<(
        &'a ContactCenterRegion,
        Option<&'a ContactCenterRegionStatus>,
    )>,
    pub secondary: Option<(
        &'a ContactCenterRegion,
        Option<&'a ContactCenterRegionStatus>,
    )>,
    /// The last status (conditions, the failover in progress).
    pub previous: Option<&'a FailoverPlanStatus>,
}

fn owner_of(plan: &FailoverPlan) -> String {
    format!(
        "{}/{}",
        plan.metadata.namespace.as_deref().unwrap_or("default"),
        plan.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The lever alarm of a plan, in the secondary's region: ALARM as soon as a minute holds a 0 (the
/// primary side disabled; Minimum, so a failover shows at the next evaluation), OK once a whole
/// minute holds only 1s (a failback waits up to a minute after the last 0). Standard resolution:
/// Route 53 health checks do not take alarms on high-resolution metrics. Missing data keeps its
/// state: if dialtone stops publishing, DNS stays where it is.
pub fn lever_alarm(owner: &str) -> DesiredAlarm {
    DesiredAlarm {
        name: "dns-lever".into(),
        config: AlarmConfig {
            alarm_name: format!("dialtone/{owner}/dns-lever"),
            description: Some(format!(
                "DNS lever of FailoverPlan {owner}: in ALARM, Route 53 answers the SECONDARY records (dialtone)"
            )),
            alarm_actions: Default::default(),
            ok_actions: Default::default(),
            insufficient_data_actions: Default::default(),
            source: Source::Metric(MetricStat {
                namespace: LEVER_NAMESPACE.into(),
                metric_name: LEVER_METRIC.into(),
                dimensions: lever_dimensions(owner),
                stat: "Minimum".into(),
                period: LEVER_PERIOD_SECONDS,
                unit: None,
            }),
            threshold: Threshold::Static(1.0),
            comparison_operator: "LessThanThreshold".into(),
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            treat_missing_data: "ignore".into(),
        },
        tags: BTreeMap::from([
            (OWNER_TAG.to_string(), owner.to_string()),
            (OWNER_KIND_TAG.to_string(), "FailoverPlan".to_string()),
        ]),
    }
}

fn lever_dimensions(owner: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("FailoverPlan".to_string(), owner.to_string()),
        ("Side".to_string(), "primary".to_string()),
    ])
}

/// The lever value that serves `side`: 1 keeps the primary enabled, 0 disables it.
fn lever_value(side: ActiveRegion) -> f64 {
    match side {
        ActiveRegion::Primary => 1.0,
        ActiveRegion::Secondary => 0.0,
    }
}

fn expected_lever_state(side: ActiveRegion) -> &'static str {
    match side {
        ActiveRegion::Primary => "OK",
        ActiveRegion::Secondary => "ALARM",
    }
}

/// A step's entry in the record: a step run again (a resumed failover) replaces its earlier entry
/// and keeps when it first started.
fn note_step(steps: &mut Vec<StepRecord>, mut entry: StepRecord) {
    match steps.iter_mut().find(|s| s.name == entry.name) {
        Some(earlier) => {
            entry.started_at = earlier.started_at.take().or(entry.started_at);
            *earlier = entry;
        }
        None => steps.push(entry),
    }
}

/// The FailoverPlan engine shared by `plan`, `apply`, `run --manifests` and the cluster.
pub struct FailoverEngine {
    clients: Arc<AwsClients>,
}

/// An alarm as read, with its tags.
type TaggedAlarm = (ObservedAlarm, BTreeMap<String, String>);

/// What was read of the levers.
struct Levers {
    traffic: Option<Result<ObservedTraffic, AwsError>>,
    lever: Option<Result<Option<TaggedAlarm>, AwsError>>,
}

impl FailoverEngine {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Self { clients }
    }

    /// Reconciles one plan.
    pub async fn reconcile(
        &self,
        context: PlanContext<'_>,
        mode: Mode,
        now: Timestamp,
    ) -> FailoverOutcome {
        let plan = context.plan;
        let owner = owner_of(plan);
        let base = StatusBase {
            generation: plan.metadata.generation,
            conditions: context
                .previous
                .map(|s| s.conditions.clone())
                .unwrap_or_default(),
        };
        let mut outcome = FailoverOutcome {
            owner: owner.clone(),
            status: context.previous.cloned().unwrap_or_default(),
            calls: Vec::new(),
            errors: Vec::new(),
            moving: None,
            peacetime_writes: Vec::new(),
        };
        outcome.status.observed_generation = base.generation;
        let (Some((primary, primary_status)), Some((secondary, secondary_status))) =
            (context.primary, context.secondary)
        else {
            let missing = [
                (
                    "primary",
                    &plan.spec.primary.region_ref,
                    context.primary.is_none(),
                ),
                (
                    "secondary",
                    &plan.spec.secondary.region_ref,
                    context.secondary.is_none(),
                ),
            ]
            .into_iter()
            .filter(|(_, _, missing)| *missing)
            .map(|(side, name, _)| {
                format!("spec.{side}.regionRef: no ContactCenterRegion {name:?} in this namespace")
            })
            .collect::<Vec<_>>()
            .join("; ");
            set_ready(
                &mut outcome.status,
                &base,
                Status::False,
                Status::False,
                "InvalidSpec",
                &missing,
                now,
            );
            return outcome;
        };
        let sides = Sides {
            primary: primary.spec.region.clone(),
            secondary: secondary.spec.region.clone(),
        };
        let target_of_side = |side: ActiveRegion| match side {
            ActiveRegion::Primary => region_target(primary),
            ActiveRegion::Secondary => region_target(secondary),
        };
        let desired = plan.spec.active_region;
        let lever_target = target_of_side(ActiveRegion::Secondary);

        // Observe.
        let levers = self
            .observe(plan, &owner, desired, &target_of_side, &lever_target)
            .await;
        let mut readings = Vec::new();
        if let Some(traffic) = &levers.traffic {
            readings.push(match traffic {
                Ok(traffic) => traffic_side(traffic, &sides),
                Err(err) => Reading::Unknown(format!("{err} (in {})", sides.region(desired))),
            });
        }
        let alarm_lever = plan
            .spec
            .dns
            .as_ref()
            .is_some_and(|d| d.lever == DnsLever::Alarm);
        if alarm_lever && let Some(lever) = &levers.lever {
            readings.push(match lever {
                Ok(Some((alarm, _))) => lever_side(Some(&alarm.state)),
                // No lever yet: peacetime creates it for the side in effect.
                Ok(None) => Reading::On(
                    readings
                        .first()
                        .and_then(|r| match r {
                            Reading::On(side) => Some(*side),
                            _ => None,
                        })
                        .unwrap_or(desired),
                ),
                Err(err) => Reading::Unknown(format!("{err} (in {})", lever_target.region)),
            });
        }
        outcome.status.active_region = crate::plan::failover::actual(&readings);

        // Peacetime: the lever alarm exists as declared, and has data.
        if alarm_lever {
            self.peacetime_lever(
                &owner,
                &lever_target,
                &levers,
                outcome.status.active_region,
                mode,
                &mut outcome,
            )
            .await;
        }

        let decision = decide(desired, &readings, Trigger::Spec);
        match decision {
            Decision::Unknown(why) => {
                set_ready(
                    &mut outcome.status,
                    &base,
                    Status::False,
                    Status::False,
                    "AwsError",
                    &format!("the levers could not be read: {why}; nothing is written"),
                    now,
                );
            }
            Decision::Stay => {
                outcome.status.phase = Some(if desired == ActiveRegion::Secondary {
                    FailoverPhase::FailedOver
                } else {
                    FailoverPhase::Steady
                });
                if let Some(record) = outcome.status.last_failover.as_mut()
                    && record.completed_at.is_none()
                {
                    // Finished by someone, or by a sweep that crashed before recording it.
                    record.completed_at = Some(Time(now));
                }
                let message = format!("traffic on the {} side, as declared", side_name(desired));
                set_ready(
                    &mut outcome.status,
                    &base,
                    Status::True,
                    Status::True,
                    "Steady",
                    &message,
                    now,
                );
            }
            Decision::Move {
                to,
                trigger,
                underway,
            } => {
                outcome.moving = Some(to);
                // The lever alarm read (not stood in for: a missing one is created by peacetime).
                let lever_done = matches!(&levers.lever, Some(Ok(Some((alarm, _)))) if lever_side(Some(&alarm.state)) == Reading::On(to));
                let target_status = match to {
                    ActiveRegion::Primary => primary_status,
                    ActiveRegion::Secondary => secondary_status,
                };
                self.fail_over(
                    plan,
                    &owner,
                    to,
                    trigger,
                    underway,
                    lever_done,
                    &sides,
                    &target_of_side,
                    &lever_target,
                    target_status,
                    mode,
                    &base,
                    now,
                    &mut outcome,
                )
                .await;
            }
        }
        if alarm_lever {
            outcome.status.dns_lever = Some(DnsLeverStatus {
                kind: "alarm".into(),
                alarm_name: Some(lever_alarm(&owner).config.alarm_name),
                region: Some(lever_target.region.clone()),
                state: match &levers.lever {
                    Some(Ok(Some((alarm, _)))) => Some(alarm.state.clone()),
                    _ => None,
                },
                depends_on_route53_control_plane: false,
            });
        }
        outcome
    }

    async fn observe(
        &self,
        plan: &FailoverPlan,
        owner: &str,
        desired: ActiveRegion,
        target_of_side: &dyn Fn(ActiveRegion) -> Target,
        lever_target: &Target,
    ) -> Levers {
        let traffic = match &plan.spec.traffic_distribution {
            Some(traffic) => {
                // Read where the traffic should be; the other region if that one cannot answer.
                let first = self
                    .clients
                    .connect(&target_of_side(desired))
                    .await
                    .traffic(&traffic.group_arn)
                    .await;
                Some(match first {
                    Ok(read) => Ok(read),
                    Err(_) => {
                        self.clients
                            .connect(&target_of_side(other(desired)))
                            .await
                            .traffic(&traffic.group_arn)
                            .await
                    }
                })
            }
            None => None,
        };
        let lever = match &plan.spec.dns {
            Some(dns) if dns.lever == DnsLever::Alarm => {
                let cloudwatch = self.clients.cloudwatch(lever_target).await;
                let name = lever_alarm(owner).config.alarm_name;
                Some(
                    match cloudwatch.describe(std::slice::from_ref(&name)).await {
                        Ok(found) => match found.into_iter().next() {
                            Some(alarm) => cloudwatch
                                .tags(&alarm.arn)
                                .await
                                .map(|tags| Some((alarm, tags))),
                            None => Ok(None),
                        },
                        Err(err) => Err(err),
                    },
                )
            }
            _ => None,
        };
        Levers { traffic, lever }
    }

    /// The lever alarm created or repaired, and given its first data point.
    async fn peacetime_lever(
        &self,
        owner: &str,
        lever_target: &Target,
        levers: &Levers,
        active: Option<ActiveRegion>,
        mode: Mode,
        outcome: &mut FailoverOutcome,
    ) {
        let desired = lever_alarm(owner);
        let region = lever_target.region.clone();
        let cloudwatch = self.clients.cloudwatch(lever_target).await;
        let mut progress = Progress::new("FailoverPlan", lever_target, 0);
        let (write, publish) = match &levers.lever {
            Some(Ok(None)) => (Some(("create", true)), true),
            Some(Ok(Some((alarm, tags)))) => {
                if tags.get(OWNER_TAG).map(String::as_str) != Some(owner) {
                    outcome.errors.push(AwsError {
                        service: "cloudwatch",
                        operation: "PutMetricAlarm",
                        code: Some("Conflict".into()),
                        message: format!(
                            "the lever alarm {} exists and is not this plan's (tag {OWNER_TAG}); dialtone never takes over an alarm",
                            desired.config.alarm_name
                        ),
                        class: crate::ErrorClass::Terminal,
                    });
                    return;
                }
                let drifted = !config_drift(&desired.config, &alarm.config).is_empty();
                (
                    drifted.then_some(("update", false)),
                    alarm.state == "INSUFFICIENT_DATA",
                )
            }
            _ => (None, false),
        };
        if let Some((verb, create)) = write {
            let call = Call {
                step: "peacetime",
                operation: "PutMetricAlarm",
                region: region.clone(),
                detail: format!("{verb} the DNS lever alarm {}", desired.config.alarm_name),
            };
            if mode == Mode::Apply {
                let result = cloudwatch
                    .put(&desired.config, create.then_some(&desired.tags))
                    .await;
                progress.log(
                    Write {
                        owner,
                        verb,
                        name: &desired.config.alarm_name,
                        line: call.detail.clone(),
                    },
                    &result,
                );
                if let Err(err) = result {
                    outcome.errors.push(err);
                    return;
                }
            }
            outcome.peacetime_writes.push(call);
        }
        // First data: the side in effect now (never a move: that is the DNS step's).
        if publish && let Some(side) = active {
            let call = Call {
                step: "peacetime",
                operation: "PutMetricData",
                region: region.clone(),
                detail: format!(
                    "{LEVER_NAMESPACE}/{LEVER_METRIC}{{FailoverPlan={owner}, Side=primary}} = {} (the {} side is in effect)",
                    lever_value(side),
                    side_name(side)
                ),
            };
            if mode == Mode::Apply {
                let result = cloudwatch
                    .put_metric(
                        LEVER_NAMESPACE,
                        LEVER_METRIC,
                        &lever_dimensions(owner),
                        lever_value(side),
                    )
                    .await;
                if let Err(err) = result {
                    outcome.errors.push(err);
                    return;
                }
            }
            outcome.peacetime_writes.push(call);
        }
    }

    /// The failover to `to`, step by step; with `Mode::Plan` only the calls it would make.
    #[allow(clippy::too_many_arguments)]
    async fn fail_over(
        &self,
        plan: &FailoverPlan,
        owner: &str,
        to: ActiveRegion,
        trigger: Trigger,
        underway: bool,
        lever_done: bool,
        sides: &Sides,
        target_of_side: &dyn Fn(ActiveRegion) -> Target,
        lever_target: &Target,
        target_status: Option<&ContactCenterRegionStatus>,
        mode: Mode,
        base: &StatusBase,
        now: Timestamp,
        outcome: &mut FailoverOutcome,
    ) {
        let from = other(to);
        // Continue the failover in progress (a restart), or start a new record.
        let mut record = match outcome.status.last_failover.clone() {
            Some(record) if record.completed_at.is_none() && record.to == Some(to) => record,
            _ => FailoverRecord {
                from: Some(from),
                to: Some(to),
                trigger: Some(trigger.as_str().into()),
                reason: Some(format!(
                    "spec.activeRegion is {}; the traffic is on the {} side",
                    side_name(to),
                    side_name(from)
                )),
                started_at: Some(Time(now)),
                ..FailoverRecord::default()
            },
        };
        let step = |name: &str, result: &str, message: String| StepRecord {
            name: name.into(),
            started_at: Some(Time(Timestamp::now())),
            completed_at: Some(Time(Timestamp::now())),
            result: result.into(),
            message: Some(message),
        };

        // 1. Readiness of the target.
        let ready = target_status
            .and_then(|s| find(&s.conditions, READY_FOR_TRAFFIC))
            .map(|c| {
                if c.status == "True" {
                    Ok(())
                } else {
                    Err(c.message.clone())
                }
            })
            .unwrap_or_else(|| Err("the target region has not been probed".into()));
        let force = plan
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(FORCE_FAILOVER_ANNOTATION))
            .map(String::as_str);
        match readiness(ready, force) {
            _ if underway && record.steps.iter().any(|s| s.name == "readiness") => {}
            _ if underway => note_step(
                &mut record.steps,
                step(
                    "readiness",
                    "Skipped",
                    format!(
                        "the failover to the {} side is underway (a lever already serves it): readiness gates only its start",
                        side_name(to)
                    ),
                ),
            ),
            Ok(message) => note_step(&mut record.steps, step("readiness", "Succeeded", message)),
            Err(why) => {
                let message = format!(
                    "failover to the {} side blocked: {} is not ready for traffic: {why}; nothing was written (annotation {FORCE_FAILOVER_ANNOTATION}: \"<reason>\" overrides)",
                    side_name(to),
                    sides.region(to)
                );
                outcome.status.phase = Some(FailoverPhase::Blocked);
                set_ready(
                    &mut outcome.status,
                    base,
                    Status::False,
                    Status::True,
                    "Blocked",
                    &message,
                    now,
                );
                return;
            }
        }

        // The calls of the remaining steps.
        let distribution = plan
            .spec
            .traffic_distribution
            .as_ref()
            .map(|traffic| distribution_to(to, sides, traffic.agents, traffic.sign_in));
        let alarm_lever = plan
            .spec
            .dns
            .as_ref()
            .is_some_and(|d| d.lever == DnsLever::Alarm);
        if mode == Mode::Plan {
            if let (Some(traffic), Some(distribution)) =
                (&plan.spec.traffic_distribution, &distribution)
            {
                outcome.calls.push(Call {
                    step: "traffic",
                    operation: "UpdateTrafficDistribution",
                    region: sides.region(to).to_string(),
                    detail: format!("{} -> {}", traffic.group_arn, describe(distribution)),
                });
            }
            if alarm_lever {
                outcome.calls.push(Call {
                    step: "dns",
                    operation: "PutMetricData",
                    region: lever_target.region.clone(),
                    detail: format!(
                        "{LEVER_NAMESPACE}/{LEVER_METRIC}{{FailoverPlan={owner}, Side=primary}} = {} (no Route 53 call)",
                        lever_value(to)
                    ),
                });
            }
            outcome.status.phase = Some(FailoverPhase::FailingOver);
            set_ready(
                &mut outcome.status,
                base,
                Status::False,
                Status::True,
                "FailoverPending",
                &format!("a failover to the {} side is due", side_name(to)),
                now,
            );
            return;
        }

        // 2. Traffic: one UpdateTrafficDistribution in the target's region, then the group settles.
        if let (Some(traffic), Some(distribution)) =
            (&plan.spec.traffic_distribution, &distribution)
        {
            let connect = self.clients.connect(&target_of_side(to)).await;
            let started = Timestamp::now();
            let result = shift_traffic(
                &connect,
                &traffic.group_arn,
                distribution,
                target_of_side(to),
                owner,
            )
            .await;
            let mut entry = step(
                "traffic",
                match &result {
                    Ok(Shift::Done(_)) => "Succeeded",
                    Ok(Shift::Already) => "AlreadyDone",
                    Ok(Shift::Waiting(_)) => "Waiting",
                    Err(_) => "Failed",
                },
                match &result {
                    Ok(Shift::Done(message) | Shift::Waiting(message)) => message.clone(),
                    Ok(Shift::Already) => format!(
                        "the traffic already is on {}: nothing written",
                        sides.region(to)
                    ),
                    Err(err) => err.to_string(),
                },
            );
            entry.started_at = Some(Time(started));
            if matches!(result, Ok(Shift::Done(_))) {
                outcome.calls.push(Call {
                    step: "traffic",
                    operation: "UpdateTrafficDistribution",
                    region: sides.region(to).to_string(),
                    detail: format!("{} -> {}", traffic.group_arn, describe(distribution)),
                });
            }
            note_step(&mut record.steps, entry);
            match result {
                Ok(Shift::Waiting(message)) => {
                    outcome.status.phase = Some(FailoverPhase::FailingOver);
                    outcome.status.last_failover = Some(record);
                    set_ready(
                        &mut outcome.status,
                        base,
                        Status::False,
                        Status::True,
                        "FailingOver",
                        &message,
                        now,
                    );
                    return;
                }
                Err(err) => {
                    fail(outcome, record, base, "traffic", &err.to_string(), now);
                    outcome.errors.push(err);
                    return;
                }
                Ok(_) => {}
            }
        }

        // 3. DNS: the lever (a data-plane call in the secondary's region; no Route 53 call).
        if alarm_lever && lever_done {
            note_step(
                &mut record.steps,
                step(
                    "dns",
                    "AlreadyDone",
                    format!(
                        "the lever alarm already serves the {} side: nothing written",
                        side_name(to)
                    ),
                ),
            );
        } else if alarm_lever {
            let cloudwatch = self.clients.cloudwatch(lever_target).await;
            let value = lever_value(to);
            let started = Timestamp::now();
            let result = cloudwatch
                .put_metric(
                    LEVER_NAMESPACE,
                    LEVER_METRIC,
                    &lever_dimensions(owner),
                    value,
                )
                .await;
            let detail = format!(
                "{LEVER_NAMESPACE}/{LEVER_METRIC}{{FailoverPlan={owner}, Side=primary}} = {value}"
            );
            let mut progress = Progress::new("FailoverPlan", lever_target, 1);
            progress.log(
                Write {
                    owner,
                    verb: "publish",
                    name: LEVER_METRIC,
                    line: format!("published the DNS lever: {detail}"),
                },
                &result,
            );
            let mut entry = step(
                "dns",
                if result.is_ok() {
                    "Succeeded"
                } else {
                    "Failed"
                },
                match &result {
                    Ok(()) => format!("published {detail} in {}", lever_target.region),
                    Err(err) => err.to_string(),
                },
            );
            entry.started_at = Some(Time(started));
            note_step(&mut record.steps, entry);
            outcome.calls.push(Call {
                step: "dns",
                operation: "PutMetricData",
                region: lever_target.region.clone(),
                detail,
            });
            if let Err(err) = result {
                fail(outcome, record, base, "dns", &err.to_string(), now);
                outcome.errors.push(err);
                return;
            }
        }

        // 4. The checklist.
        outcome.status.phase = Some(FailoverPhase::Validating);
        let started = Timestamp::now();
        let mut checklist = Vec::new();
        if let (Some(traffic), Some(distribution)) =
            (&plan.spec.traffic_distribution, &distribution)
        {
            let read = self
                .clients
                .connect(&target_of_side(to))
                .await
                .traffic(&traffic.group_arn)
                .await;
            checklist.push(match read {
                Ok(read) => ChecklistItem {
                    name: "traffic reads back as intended".into(),
                    passed: distribution_matches(&read, distribution),
                    message: Some(format!(
                        "GetTrafficDistribution: telephony {}",
                        read.telephony
                            .iter()
                            .map(|(r, p)| format!("{r} {p} %"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                },
                Err(err) => ChecklistItem {
                    name: "traffic reads back as intended".into(),
                    passed: false,
                    message: Some(err.to_string()),
                },
            });
        }
        if alarm_lever {
            let expected = expected_lever_state(to);
            let state = self.lever_settles(owner, lever_target, to).await;
            checklist.push(ChecklistItem {
                name: "the DNS lever reads back as intended".into(),
                passed: state.as_ref().is_ok_and(|s| s == expected),
                message: Some(match state {
                    Ok(state) => format!("lever alarm is {state} (want {expected})"),
                    Err(err) => err.to_string(),
                }),
            });
        }
        let health = target_status
            .and_then(|s| s.health)
            .unwrap_or(Health::Unknown);
        checklist.push(ChecklistItem {
            name: "the target region is Healthy or Degraded".into(),
            passed: matches!(health, Health::Healthy | Health::Degraded),
            message: Some(format!("{} is {health:?}", sides.region(to))),
        });
        let passed = checklist.iter().all(|c| c.passed);
        let mut entry = step(
            "checklist",
            if passed { "Succeeded" } else { "Failed" },
            format!(
                "{} of {} checks passed",
                checklist.iter().filter(|c| c.passed).count(),
                checklist.len()
            ),
        );
        entry.started_at = Some(Time(started));
        note_step(&mut record.steps, entry);
        record.checklist = checklist;
        record.completed_at = Some(Time(Timestamp::now()));
        record.duration_seconds = record
            .started_at
            .as_ref()
            .map(|s| Timestamp::now().duration_since(s.0).as_secs());
        if passed {
            outcome.status.phase = Some(if to == ActiveRegion::Secondary {
                FailoverPhase::FailedOver
            } else {
                FailoverPhase::Steady
            });
            outcome.status.active_region = Some(to);
            let message = format!(
                "failed over to the {} side ({}): every check passed",
                side_name(to),
                sides.region(to)
            );
            outcome.status.last_failover = Some(record);
            set_ready(
                &mut outcome.status,
                base,
                Status::True,
                Status::True,
                "FailedOver",
                &message,
                now,
            );
        } else {
            let failed: Vec<String> = record
                .checklist
                .iter()
                .filter(|c| !c.passed)
                .map(|c| c.name.clone())
                .collect();
            fail(outcome, record, base, "checklist", &failed.join("; "), now);
        }
    }

    /// The one deletion path of a plan that is gone: its lever alarm, in every region its footprint
    /// names, by the deletion rule (owner read now). Returns the calls made and the footprint left.
    pub async fn cleanup(
        &self,
        owner: &str,
        footprint: &[Footprint],
        withheld: Option<&str>,
        mode: Mode,
    ) -> (Vec<Call>, Vec<AwsError>, Vec<Footprint>) {
        let (mut calls, mut errors, mut left) = (Vec::new(), Vec::new(), Vec::new());
        let owner_text = format!("FailoverPlan {owner}");
        for entry in footprint {
            let target = Target {
                region: entry.region.clone(),
                role_arn: entry.role_arn.clone(),
            };
            let claim = Claim {
                prefix: Some(format!("dialtone/{owner}/")),
                recorded: entry.names.iter().cloned().collect(),
            };
            let cloudwatch = self.clients.cloudwatch(&target).await;
            let mut kept = Vec::new();
            for name in &entry.names {
                let found = match cloudwatch.describe(std::slice::from_ref(name)).await {
                    Ok(found) => found.into_iter().next(),
                    Err(err) => {
                        errors.push(err);
                        kept.push(name.clone());
                        continue;
                    }
                };
                let Some(alarm) = found else { continue };
                let tags = match cloudwatch.tags(&alarm.arn).await {
                    Ok(tags) => tags,
                    Err(err) => {
                        errors.push(err);
                        kept.push(name.clone());
                        continue;
                    }
                };
                let ours = tags.get(OWNER_TAG).map(String::as_str) == Some(owner)
                    && tags.get(OWNER_KIND_TAG).map(String::as_str) == Some("FailoverPlan");
                if !ours {
                    continue;
                }
                let facts = Facts {
                    owner: &owner_text,
                    claim: &claim,
                    manage: true,
                    wanted_by: None,
                    withheld,
                    fresh: true,
                };
                if decide_deletion(name, facts) != DeletionDecision::Delete {
                    kept.push(name.clone());
                    continue;
                }
                calls.push(Call {
                    step: "cleanup",
                    operation: "DeleteAlarms",
                    region: target.region.clone(),
                    detail: format!("delete the DNS lever alarm {name} (the FailoverPlan is gone)"),
                });
                if mode == Mode::Apply {
                    let result = cloudwatch.delete(std::slice::from_ref(name)).await;
                    Progress::new("FailoverPlan", &target, 1).log(
                        Write {
                            owner,
                            verb: "delete",
                            name,
                            line: format!("deleted {name}"),
                        },
                        &result,
                    );
                    if let Err(err) = result {
                        errors.push(err);
                        kept.push(name.clone());
                    }
                }
            }
            if !kept.is_empty() {
                left.push(Footprint {
                    names: kept,
                    ..entry.clone()
                });
            }
        }
        (calls, errors, left)
    }

    /// The lever alarm's state once it serves `side`, or as it is when the wait ends. While it
    /// waits, the lever value is published again every few seconds, so that each minute the alarm
    /// evaluates holds it (the same value: publishing it twice changes nothing).
    async fn lever_settles(
        &self,
        owner: &str,
        lever_target: &Target,
        side: ActiveRegion,
    ) -> Result<String, AwsError> {
        let cloudwatch = self.clients.cloudwatch(lever_target).await;
        let name = lever_alarm(owner).config.alarm_name;
        let expected = expected_lever_state(side);
        let start = std::time::Instant::now();
        let deadline = start + SETTLE_WAIT;
        let mut published = start;
        loop {
            let state = cloudwatch
                .describe(std::slice::from_ref(&name))
                .await?
                .into_iter()
                .next()
                .map(|a| a.state)
                .unwrap_or_else(|| "missing".into());
            let now = std::time::Instant::now();
            if state == expected || now >= deadline {
                return Ok(state);
            }
            if now.duration_since(published) >= REPUBLISH_EVERY {
                cloudwatch
                    .put_metric(
                        LEVER_NAMESPACE,
                        LEVER_METRIC,
                        &lever_dimensions(owner),
                        lever_value(side),
                    )
                    .await?;
                published = now;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

/// What the traffic step did.
enum Shift {
    Done(String),
    Already,
    /// The group is still UPDATE_IN_PROGRESS after the wait: the next sweep resumes.
    Waiting(String),
}

/// Reads first; writes only if the distribution differs; waits (bounded) for the group to settle.
async fn shift_traffic(
    connect: &crate::aws::ConnectInstances,
    arn: &str,
    distribution: &Distribution,
    target: Target,
    owner: &str,
) -> Result<Shift, AwsError> {
    // A previous update may still be settling (a restart in the middle).
    if settled(connect, arn).await?.is_none() {
        return Ok(Shift::Waiting(
            "the traffic distribution group is still UPDATE_IN_PROGRESS".into(),
        ));
    }
    let read = connect.traffic(arn).await?;
    if distribution_matches(&read, distribution) {
        return Ok(Shift::Already);
    }
    let result = connect.update_traffic(arn, distribution).await;
    let mut progress = Progress::new("FailoverPlan", &target, 1);
    progress.log(
        Write {
            owner,
            verb: "update",
            name: arn,
            line: format!("UpdateTrafficDistribution: {}", describe(distribution)),
        },
        &result,
    );
    result?;
    match settled(connect, arn).await? {
        Some(_) => Ok(Shift::Done(format!(
            "UpdateTrafficDistribution in {}: {}",
            target.region,
            describe(distribution)
        ))),
        None => Ok(Shift::Waiting(format!(
            "UpdateTrafficDistribution in {} made; the group is still UPDATE_IN_PROGRESS",
            target.region
        ))),
    }
}

/// The group's status once it has left UPDATE_IN_PROGRESS, or None when the wait ends first.
async fn settled(
    connect: &crate::aws::ConnectInstances,
    arn: &str,
) -> Result<Option<String>, AwsError> {
    let deadline = std::time::Instant::now() + SETTLE_WAIT;
    loop {
        let status = connect
            .describe_group(arn)
            .await?
            .map(|g| g.status)
            .unwrap_or_default();
        if status != "UPDATE_IN_PROGRESS" {
            return Ok(Some(status));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// A distribution in words: `telephony us-west-2 100 %, us-east-1 0 %; agents ...; sign-in ...`.
pub fn describe(distribution: &Distribution) -> String {
    let percent = |list: &[(String, i32)]| {
        list.iter()
            .map(|(r, p)| format!("{r} {p} %"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = vec![format!("telephony {}", percent(&distribution.telephony))];
    if let Some(agents) = &distribution.agents {
        parts.push(format!("agents {}", percent(agents)));
    }
    if let Some(sign_in) = &distribution.sign_in {
        parts.push(format!(
            "sign-in {}",
            sign_in
                .iter()
                .map(|(r, on)| format!("{r} {}", if *on { "on" } else { "off" }))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    parts.join("; ")
}

fn fail(
    outcome: &mut FailoverOutcome,
    record: FailoverRecord,
    base: &StatusBase,
    step: &str,
    why: &str,
    now: Timestamp,
) {
    outcome.status.phase = Some(FailoverPhase::Failed);
    outcome.status.last_failover = Some(record);
    let message = format!("step {step} failed: {why}; retried with backoff");
    set_ready(
        &mut outcome.status,
        base,
        Status::False,
        Status::False,
        "Failed",
        &message,
        now,
    );
}

fn set_ready(
    status: &mut FailoverPlanStatus,
    base: &StatusBase,
    ready: Status,
    synced: Status,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    status.conditions =
        crate::controller::status::ready_and_synced(base, ready, synced, reason, message, now);
}

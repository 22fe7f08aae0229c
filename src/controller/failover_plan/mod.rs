//! FailoverPlan: observe the levers (the traffic distribution, the DNS lever alarm) -> decide
//! (pure) -> carry out a failover as idempotent steps, each reading AWS before it writes
//! (readiness, traffic, DNS, checklist) -> status (the steps and the checklist recorded).
//!
//! A restart in the middle resumes from what AWS shows: a step whose effect is already there
//! writes nothing, and the failover in progress is continued, never started twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::alarm_policy::Mode;
use super::harness::Note;
use super::progress::{Progress, Write};
use super::status::StatusBase;
use crate::api::alarm_policy::{OWNER_KIND_TAG, OWNER_TAG};
use crate::api::common::Footprint;
use crate::api::conditions::{READY_TO_FAIL_OVER, Status, find, set_condition};
use crate::api::contact_center_region::{ContactCenterRegion, ContactCenterRegionStatus, Health};
use crate::api::failover_plan::{
    ActiveRegion, ChecklistItem, DnsLever, DnsLeverStatus, FailoverPhase, FailoverPlan,
    FailoverPlanStatus, FailoverRecord, StepRecord,
};
use crate::api::maintenance_window::MaintenanceWindow;
use crate::aws::{AwsClients, AwsError, ROUTE53_REGION, Target};
use crate::controller::contact_center_region::{READY_FOR_TRAFFIC, region_target};
use crate::plan::alarm::{AlarmConfig, DesiredAlarm, MetricStat, ObservedAlarm, Source, Threshold};
use crate::plan::automatic::Verdict;
use crate::plan::deletion::{
    Claim, Decision as DeletionDecision, Facts, decide as decide_deletion,
};
use crate::plan::diff::config_drift;
use crate::plan::dns::{self, LeverAlarm};
use crate::plan::failover::{
    Decision, Distribution, Reading, Sides, Trigger, decide, distribution_matches, distribution_to,
    lever_side, other, readiness, side_name, traffic_side,
};
use crate::plan::health::ObservedTraffic;
use route53::DnsRead;

mod cleanup;
pub mod gate;
mod intent;
mod route53;
mod steps;

pub use steps::describe;

/// Annotation that lets a failover through although the target is not ready. Its value says why.
pub const FORCE_FAILOVER_ANNOTATION: &str = "dialtone.io/force-failover";
/// Annotation that starts a drill now. Its value says why; a new value starts another.
pub const DRILL_NOW_ANNOTATION: &str = "dialtone.io/drill-now";
/// Namespace and name of the metric the DNS lever alarm watches.
pub const LEVER_NAMESPACE: &str = "dialtone";
pub const LEVER_METRIC: &str = "SideEnabled";
/// How long a step waits for AWS to settle (the group to leave UPDATE_IN_PROGRESS, the lever alarm
/// to evaluate) before the failover is left Waiting, to be resumed by the next sweep.
const SETTLE_WAIT: Duration = Duration::from_secs(120);
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How often the lever alarm is read while a step waits for it (CloudWatch evaluates once a
/// minute; DescribeAlarms is shared with every AlarmPolicy of the region).
const LEVER_POLL_EVERY: Duration = Duration::from_secs(5);
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
    /// The failover was recorded as started and nothing written yet (`PlanContext::announce`):
    /// the caller shows the status, then reconciles again at once to carry it out.
    pub announced: bool,
    /// Why the pending (or carried out) move happens: `automatic: ...`, `drill: ...`.
    pub reason: Option<String>,
    /// What the automatic decision and the drill did, as events (logged in manifest mode).
    pub notes: Vec<Note>,
    /// When to look again (the end of `unhealthyFor`, a drill's hold, the next drill), if sooner
    /// than the resync.
    pub wake: Option<Duration>,
}

impl FailoverOutcome {
    /// An outcome that did nothing: `status` as it stands.
    pub fn standing(owner: String, status: FailoverPlanStatus) -> Self {
        Self {
            owner,
            status,
            calls: Vec::new(),
            errors: Vec::new(),
            moving: None,
            peacetime_writes: Vec::new(),
            announced: false,
            reason: None,
            notes: Vec::new(),
            wake: None,
        }
    }
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
    /// The last status (conditions, the failover in progress, the footprint).
    pub previous: Option<&'a FailoverPlanStatus>,
    /// Why deletions are withheld in this sweep (a manifest could not be loaded), if they are.
    pub withheld: Option<&'a str>,
    /// Record a failover as started (phase FailingOver) and return before its first write, so
    /// a cluster shows it while the steps run; the next reconcile carries it out.
    pub announce: bool,
    /// The MaintenanceWindow `spec.drill.maintenanceWindowRef` names, when it exists.
    pub drill_window: Option<&'a MaintenanceWindow>,
}

/// Counts a failover that finished in this sweep.
pub fn record_metrics(plan: &FailoverOutcome) {
    let finished = plan.calls.iter().any(|c| c.step != "cleanup");
    if let (true, Some(record)) = (finished, &plan.status.last_failover)
        && record.completed_at.is_some()
    {
        let (namespace, name) = plan
            .owner
            .split_once('/')
            .unwrap_or(("default", &plan.owner));
        crate::metrics::Metrics::global().failover(
            namespace,
            name,
            record.trigger.as_deref().unwrap_or("spec"),
            record.checklist.iter().all(|c| c.passed),
            record.duration_seconds.unwrap_or_default() as f64,
        );
    }
}

/// The side the first lever (the traffic) serves, if it serves one.
fn first_side(readings: &[Reading]) -> Option<ActiveRegion> {
    match readings.first() {
        Some(Reading::On(side)) => Some(*side),
        _ => None,
    }
}

/// What an earlier footprint names that the current one does not, by service: a lever alarm in
/// another region (or under another name), records in another zone. Health checks are not
/// here: they are the plan's wherever its records are, and peacetime settles them.
fn left_behind(previous: &[Footprint], current: &[Footprint]) -> Vec<Footprint> {
    let now: BTreeSet<(&str, &str)> = current
        .iter()
        .flat_map(|f| f.names.iter().map(move |n| (f.region.as_str(), n.as_str())))
        .collect();
    previous
        .iter()
        .filter_map(|f| {
            let names: Vec<String> = f
                .names
                .iter()
                .filter(|n| !now.contains(&(f.region.as_str(), n.as_str())))
                .filter(|n| !matches!(dns::parse_footprint(n), dns::Footprinted::Check { .. }))
                .cloned()
                .collect();
            (!names.is_empty()).then(|| Footprint { names, ..f.clone() })
        })
        .collect()
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

/// A failover to carry out, and what its steps need.
pub(super) struct Move<'a> {
    plan: &'a FailoverPlan,
    owner: &'a str,
    to: ActiveRegion,
    trigger: Trigger,
    /// Why, in words (recorded as the failover's reason).
    reason: String,
    /// A lever already serves `to`: the move started before (readiness no longer gates it).
    underway: bool,
    /// The DNS lever already serves `to` (read in this sweep).
    dns_done: bool,
    sides: &'a Sides,
    target_of_side: &'a (dyn Fn(ActiveRegion) -> Target + Sync),
    lever_target: &'a Target,
    target_status: Option<&'a ContactCenterRegionStatus>,
    base: &'a StatusBase,
    now: Timestamp,
    /// Route 53: the role reaching it, and the plan's health checks by role.
    route53_role: Option<&'a str>,
    check_ids: &'a BTreeMap<String, String>,
    announce: bool,
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
        let mut outcome =
            FailoverOutcome::standing(owner.clone(), context.previous.cloned().unwrap_or_default());
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
        let lever_target = target_of_side(ActiveRegion::Secondary);
        // Automatic failover: which side to be on, from the health history.
        let automatic = intent::automatic(
            plan,
            &sides,
            primary_status,
            secondary_status,
            &outcome.status,
            now,
        );
        let mut desired = automatic.side;

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
                Ok(None) => Reading::On(first_side(&readings).unwrap_or(desired)),
                Err(err) => Reading::Unknown(format!("{err} (in {})", lever_target.region)),
            });
        }
        // Route 53: the plan's checks and records (under `recordEdit` the records are the lever).
        let route53_role = lever_target.role_arn.clone();
        let previous_footprint = std::mem::take(&mut outcome.status.footprint);
        let recorded: Vec<String> = previous_footprint
            .iter()
            .flat_map(|f| f.names.iter())
            .filter(|n| n.starts_with(dns::FOOTPRINT_PREFIX))
            .cloned()
            .collect();
        let lever = alarm_lever.then(|| LeverAlarm {
            region: lever_target.region.clone(),
            name: lever_alarm(&owner).config.alarm_name,
        });
        let record_edit = plan
            .spec
            .dns
            .as_ref()
            .filter(|d| d.lever == DnsLever::RecordEdit);
        // Under `recordEdit` the records are the DNS lever: read before deciding.
        let mut dns_read = match record_edit {
            Some(spec) => Some(
                self.read_dns(
                    spec,
                    &owner,
                    route53_role.as_deref(),
                    lever.as_ref(),
                    &recorded,
                )
                .await,
            ),
            None => None,
        };
        if let (Some(spec), Some(read)) = (record_edit, &dns_read) {
            let pairs = dns::desired(spec, None, desired).pairs;
            readings.push(match &read.records {
                Ok(records) => dns::records_side(&owner, &pairs, records, &spec.records)
                    // No records yet: peacetime creates them for the side in effect.
                    .unwrap_or_else(|| Reading::On(first_side(&readings).unwrap_or(desired))),
                Err(err) => Reading::Unknown(format!("{err} (Route 53)")),
            });
        }
        outcome.status.active_region = crate::plan::failover::actual(&readings);

        // A drill: its stage moves on with what was read; it may want the other side now.
        let drill = intent::drill(
            plan,
            &sides,
            (primary_status, secondary_status),
            &automatic,
            &outcome.status,
            context.drill_window,
            now,
        );
        let mut trigger = automatic.trigger;
        let mut reason = match &automatic.verdict {
            Verdict::Move(why) => Some(why.clone()),
            Verdict::Latched(_) | Verdict::Watching(_) | Verdict::Withheld(_)
                if automatic.latched() =>
            {
                automatic
                    .memory
                    .latched_reason
                    .clone()
                    .map(|r| format!("automatic failover: {r}"))
            }
            _ => None,
        };
        if let Some(side) = drill.intent.side {
            desired = side;
            trigger = Trigger::Drill;
            reason = Some(drill.reason());
        }
        intent::keep(
            &mut outcome,
            plan,
            &automatic,
            &drill,
            context.drill_window,
            now,
            mode,
        );

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
        let decision = decide(desired, &readings, trigger);

        // Peacetime in Route 53, only when no failover is due: a failover under `lever: alarm`
        // makes no Route 53 call at all (its control plane may be what is down), and the records
        // and checks it would repair do not move traffic. `recordEdit` records serve the side they
        // serve now (moving them is the failover's DNS step).
        let mut check_ids = BTreeMap::new();
        let mut route53_names = recorded.clone();
        if let Some(spec) = &plan.spec.dns {
            if decision == Decision::Stay && dns_read.is_none() {
                dns_read = Some(
                    self.read_dns(
                        spec,
                        &owner,
                        route53_role.as_deref(),
                        lever.as_ref(),
                        &recorded,
                    )
                    .await,
                );
            }
            if let Some(read) = &dns_read {
                check_ids = read
                    .checks
                    .as_ref()
                    .map(|checks| {
                        dns::plan_checks(&owner, &[], checks, &Claim::default(), None).ids
                    })
                    .unwrap_or_default();
            }
            if let (Decision::Stay, Some(read)) = (&decision, &dns_read) {
                let serving = readings
                    .last()
                    .and_then(|r| match r {
                        Reading::On(side) if record_edit.is_some() => Some(*side),
                        _ => None,
                    })
                    .or(outcome.status.active_region)
                    .unwrap_or(desired);
                let want = dns::desired(spec, lever.as_ref(), serving);
                if let Some(peace) = self
                    .peacetime_dns(
                        &owner,
                        spec,
                        route53_role.as_deref(),
                        &want,
                        read,
                        &recorded,
                        context.withheld,
                        mode,
                        &mut outcome,
                    )
                    .await
                {
                    check_ids = peace.ids;
                    route53_names = peace.footprint;
                }
            }
        }
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
                outcome.status.phase = Some(if drill.intent.side.is_some() {
                    FailoverPhase::Drilling
                } else if desired == ActiveRegion::Secondary {
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
                let message = match (&drill.intent.side, &reason) {
                    (Some(_), Some(why)) => format!(
                        "traffic on the {} side for a drill: {why}",
                        side_name(desired)
                    ),
                    _ => format!("traffic on the {} side, as declared", side_name(desired)),
                };
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
                let reason = reason.clone().unwrap_or_else(|| {
                    format!(
                        "spec.activeRegion is {}; the traffic is on the {} side",
                        side_name(to),
                        side_name(other(to))
                    )
                });
                outcome.reason = Some(reason.clone());
                // The DNS lever as read (not stood in for: a missing one is created by peacetime).
                let dns_done = match (&levers.lever, record_edit, &dns_read) {
                    (Some(Ok(Some((alarm, _)))), _, _) => {
                        lever_side(Some(&alarm.state)) == Reading::On(to)
                    }
                    (
                        _,
                        Some(spec),
                        Some(DnsRead {
                            records: Ok(records),
                            ..
                        }),
                    ) => {
                        let pairs = dns::desired(spec, None, to).pairs;
                        dns::records_side(&owner, &pairs, records, &spec.records)
                            == Some(Reading::On(to))
                    }
                    _ => false,
                };
                let target_status = match to {
                    ActiveRegion::Primary => primary_status,
                    ActiveRegion::Secondary => secondary_status,
                };
                let step_in = Move {
                    plan,
                    owner: &owner,
                    to,
                    trigger,
                    reason,
                    underway,
                    dns_done,
                    sides: &sides,
                    target_of_side: &target_of_side,
                    lever_target: &lever_target,
                    target_status,
                    base: &base,
                    now,
                    route53_role: route53_role.as_deref(),
                    check_ids: &check_ids,
                    announce: context.announce && mode == Mode::Apply,
                };
                self.fail_over(&step_in, mode, &mut outcome).await;
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
        if let Some(spec) = record_edit {
            outcome.status.dns_lever = Some(DnsLeverStatus {
                kind: "recordEdit".into(),
                alarm_name: None,
                region: Some(ROUTE53_REGION.into()),
                state: readings.last().map(|r| match r {
                    Reading::On(side) => format!("records answer the {} side", side_name(*side)),
                    Reading::Split(why) | Reading::Unknown(why) => why.clone(),
                }),
                depends_on_route53_control_plane: true,
            });
            let _ = spec;
        }

        // An automatic failover holds the traffic where the spec does not say: Ready says so.
        intent::latched_condition(
            &mut outcome.status,
            &automatic,
            plan.spec.active_region,
            plan.spec.automatic.as_ref().is_some_and(|a| a.failback),
            &base,
            now,
        );

        // Would a failover to the other side work now? Evaluated every sweep.
        let target = other(outcome.status.active_region.unwrap_or(desired));
        let target_status = match target {
            ActiveRegion::Primary => primary_status,
            ActiveRegion::Secondary => secondary_status,
        };
        let mut problems = Vec::new();
        match target_status.and_then(|s| find(&s.conditions, READY_FOR_TRAFFIC)) {
            Some(c) if c.status == "True" => {}
            Some(c) => problems.push(format!(
                "{} is not ready for traffic: {}",
                sides.region(target),
                c.message
            )),
            None => problems.push(format!("{} has not been probed", sides.region(target))),
        }
        if alarm_lever {
            match &levers.lever {
                Some(Ok(Some(_))) => {}
                Some(Ok(None)) if mode == Mode::Apply && outcome.errors.is_empty() => {}
                Some(Ok(None)) => problems.push("the DNS lever alarm does not exist yet".into()),
                Some(Err(err)) => {
                    problems.push(format!("the DNS lever alarm could not be read: {err}"))
                }
                None => {}
            }
        }
        if mode == Mode::Plan && !outcome.peacetime_writes.is_empty() {
            problems.push(format!(
                "{} peacetime change(s) pending (lever alarm, health checks, records)",
                outcome.peacetime_writes.len()
            ));
        }
        problems.extend(outcome.errors.iter().map(ToString::to_string));
        problems.extend(drill.waiting().map(str::to_string));
        outcome.status.operator_region = self.clients.home_region();
        let (ready_to_fail_over, message) = if problems.is_empty() {
            (
                Status::True,
                format!(
                    "a failover to the {} side ({}) could start now",
                    side_name(target),
                    sides.region(target)
                ),
            )
        } else {
            (Status::False, problems.join("; "))
        };
        set_condition(
            &mut outcome.status.conditions,
            READY_TO_FAIL_OVER,
            ready_to_fail_over,
            if problems.is_empty() {
                "Ready"
            } else {
                "NotReady"
            },
            message,
            base.generation,
            now,
        );

        // The footprint: the lever alarm and the Route 53 resources; what an earlier spec left
        // elsewhere (another region's lever alarm, another zone's records) is cleaned up.
        let mut footprint = Vec::new();
        if alarm_lever {
            footprint.push(Footprint {
                region: lever_target.region.clone(),
                role_arn: lever_target.role_arn.clone(),
                names: vec![lever_alarm(&owner).config.alarm_name],
            });
        }
        if !route53_names.is_empty() {
            footprint.push(Footprint {
                region: ROUTE53_REGION.into(),
                role_arn: route53_role.clone(),
                names: route53_names,
            });
        }
        let left_behind = left_behind(&previous_footprint, &footprint);
        if !left_behind.is_empty() {
            let (calls, errors, left) = self
                .cleanup(&owner, &left_behind, context.withheld, mode)
                .await;
            outcome.peacetime_writes.extend(calls);
            outcome.errors.extend(errors);
            footprint.extend(left);
        }
        outcome.status.footprint = if mode == Mode::Apply {
            footprint
        } else {
            previous_footprint
        };
        outcome
    }

    async fn observe(
        &self,
        plan: &FailoverPlan,
        owner: &str,
        desired: ActiveRegion,
        target_of_side: &(dyn Fn(ActiveRegion) -> Target + Sync),
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
        let mut progress = Progress::new(
            "FailoverPlan",
            lever_target,
            usize::from(write.is_some()) + usize::from(publish && active.is_some()),
        );
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
                        line: format!("{verb}d the DNS lever alarm {}", desired.config.alarm_name),
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
                progress.log(
                    Write {
                        owner,
                        verb: "publish",
                        name: LEVER_METRIC,
                        line: format!("published the lever's first value: {}", call.detail),
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
    }
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

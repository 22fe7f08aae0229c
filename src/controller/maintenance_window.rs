//! MaintenanceWindow: which alarms each window mutes (from the selected policies, in the snapshot)
//! -> the mute rules it wants per region -> observe (ListAlarmMuteRules pages; a rule's details
//! only when it changed) -> plan (pure) -> execute -> status (pure).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::contact_center_region::{KnownAlarms, alarm_states};
use super::progress::{Progress, Write};
use super::status::StatusBase;
use crate::api::alarm_policy::AlarmPolicy;
use crate::api::common::Footprint;
use crate::api::conditions::{READY, SYNCED, Status, set_condition};
use crate::api::maintenance_window::{
    MaintenanceWindow, MaintenanceWindowStatus, MuteRuleStatus, WindowTimes,
};
use crate::aws::{AwsClients, AwsError, MuteRules, Target};
use crate::controller::alarm_policy::Mode;
use crate::plan::alarm::desired_alarms;
use crate::plan::deletion::Claim;
use crate::plan::gate::Gate;
use crate::plan::mute::{
    MuteAction, ObservedMuteRule, ObservedRules, WindowInput, WindowPlan, desired_rules,
    plan_rules, rule_prefix,
};
use crate::plan::schedule::{Schedule, Window};
use crate::plan::scope::target_of;

/// Rule names that could be dialtone's: only these are read in detail.
const OURS: &str = "dialtone/";
/// How long rule owners (tags) are trusted without a change that would show they moved.
const OWNERSHIP_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// How a window stands in the source of this sweep.
#[derive(Debug, Clone, Copy)]
pub enum Standing<'a> {
    Present(&'a MaintenanceWindow),
    /// Being deleted, or gone from a source that loaded cleanly: its rules go.
    Gone,
    /// Exists but cannot be used now (invalid, declared twice): its rules are left alone.
    Untouchable,
}

/// One window as a sweep sees it.
#[derive(Debug, Clone)]
pub struct WindowView<'a> {
    /// `<namespace>/<name>`.
    pub owner: String,
    pub standing: Standing<'a>,
    /// Where it wrote rules before, as recorded.
    pub footprint: &'a [Footprint],
}

/// What one sweep did for one window in one region.
#[derive(Debug, Clone)]
pub struct MutePart {
    pub target: Target,
    pub plan: WindowPlan,
    pub done: Vec<MuteAction>,
    pub errors: Vec<AwsError>,
}

/// What one sweep found and did for one window.
#[derive(Debug, Clone)]
pub struct WindowOutcome {
    pub owner: String,
    pub parts: Vec<MutePart>,
    /// Reads that failed before any planning (alarm states), per region.
    pub errors: Vec<String>,
    pub status: MaintenanceWindowStatus,
    pub footprint: Vec<Footprint>,
    pub removed: bool,
}

impl WindowOutcome {
    pub fn all_planned(&self) -> impl Iterator<Item = (&Target, &MuteAction)> {
        self.parts
            .iter()
            .flat_map(|p| p.plan.actions.iter().map(move |a| (&p.target, a)))
    }

    pub fn all_done(&self) -> impl Iterator<Item = (&Target, &MuteAction)> {
        self.parts
            .iter()
            .flat_map(|p| p.done.iter().map(move |a| (&p.target, a)))
    }

    pub fn aws_errors(&self) -> impl Iterator<Item = &AwsError> {
        self.parts.iter().flat_map(|p| &p.errors)
    }
}

fn split_owner(owner: &str) -> (&str, &str) {
    owner.split_once('/').unwrap_or(("default", owner))
}

/// The alarms a window mutes, per region: every alarm of the AlarmPolicies its suppress selector
/// picks (same namespace) whose severity it suppresses.
pub fn muted_alarms(
    window: &MaintenanceWindow,
    policies: &[&AlarmPolicy],
) -> BTreeMap<Target, BTreeSet<String>> {
    let mut muted: BTreeMap<Target, BTreeSet<String>> = BTreeMap::new();
    let Some(suppress) = &window.spec.suppress else {
        return muted;
    };
    let namespace = window.metadata.namespace.as_deref().unwrap_or("default");
    let Ok(selector) = kube::core::Selector::try_from(suppress.alarm_policy_selector.clone())
    else {
        return muted;
    };
    use kube::core::SelectorExt;
    for policy in policies {
        let policy_namespace = policy.metadata.namespace.as_deref().unwrap_or("default");
        if policy_namespace != namespace
            || !selector.matches(&policy.metadata.labels.clone().unwrap_or_default())
        {
            continue;
        }
        let name = policy.metadata.name.as_deref().unwrap_or_default();
        let names = desired_alarms(policy_namespace, name, &policy.spec)
            .into_iter()
            .zip(&policy.spec.alarms)
            .filter(|(_, spec)| suppress.covers(spec.severity))
            .map(|(desired, _)| desired.config.alarm_name);
        muted.entry(target_of(policy)).or_default().extend(names);
    }
    muted
}

/// A window with a change gate, with its schedule.
#[derive(Debug, Clone)]
pub struct GateWindow {
    /// `<namespace>/<name>`.
    pub owner: String,
    pub namespace: String,
    /// The AlarmPolicies it gates.
    pub policies: Option<kube::core::Selector>,
    /// The FailoverPlans it gates.
    pub plans: Option<kube::core::Selector>,
    pub schedule: Schedule,
}

/// The windows among `windows` that have a change gate (and a valid schedule).
pub fn gate_windows(windows: &[&MaintenanceWindow]) -> Vec<GateWindow> {
    let selector = |s: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>| {
        s.clone()
            .and_then(|s| kube::core::Selector::try_from(s).ok())
    };
    windows
        .iter()
        .filter_map(|window| {
            let gate = window.spec.change_gate.as_ref()?;
            let namespace = window
                .metadata
                .namespace
                .clone()
                .unwrap_or("default".into());
            Some(GateWindow {
                owner: format!(
                    "{namespace}/{}",
                    window.metadata.name.as_deref().unwrap_or_default()
                ),
                namespace,
                policies: selector(&gate.alarm_policy_selector),
                plans: selector(&gate.failover_plan_selector),
                schedule: Schedule::parse(&window.spec).ok()?,
            })
        })
        .collect()
}

/// The gates of an object: the windows of its namespace whose change gate selects it (`pick`
/// chooses the selector for its kind).
fn gates_for<'a>(
    meta: &kube::core::ObjectMeta,
    windows: &'a [GateWindow],
    pick: fn(&GateWindow) -> Option<&kube::core::Selector>,
) -> Vec<Gate<'a>> {
    use kube::core::SelectorExt;
    let namespace = meta.namespace.as_deref().unwrap_or("default");
    let labels = meta.labels.clone().unwrap_or_default();
    windows
        .iter()
        .filter(|w| w.namespace == namespace && pick(w).is_some_and(|s| s.matches(&labels)))
        .map(|w| Gate {
            window: &w.owner,
            schedule: &w.schedule,
        })
        .collect()
}

/// The gates of `policy`.
pub fn gates_of<'a>(policy: &AlarmPolicy, windows: &'a [GateWindow]) -> Vec<Gate<'a>> {
    gates_for(&policy.metadata, windows, |w| w.policies.as_ref())
}

/// The gates of a FailoverPlan.
pub fn gates_of_plan<'a>(
    plan: &crate::api::failover_plan::FailoverPlan,
    windows: &'a [GateWindow],
) -> Vec<Gate<'a>> {
    gates_for(&plan.metadata, windows, |w| w.plans.as_ref())
}

/// Where a window's rules would go, before anything is read: the regions of the alarms it mutes.
pub fn footprint_before(
    window: &MaintenanceWindow,
    policies: &[&AlarmPolicy],
    previous: &[Footprint],
) -> Vec<Footprint> {
    let mut footprint = previous.to_vec();
    for target in muted_alarms(window, policies).into_keys() {
        let known = footprint
            .iter()
            .any(|f| f.region == target.region && f.role_arn == target.role_arn);
        if !known {
            footprint.push(Footprint {
                region: target.region,
                role_arn: target.role_arn,
                names: Vec::new(),
            });
        }
    }
    footprint
}

/// Details of a region's rules, read once and reused while their LastUpdatedTimestamp stays.
#[derive(Debug, Default)]
struct RuleCache {
    rules: BTreeMap<String, (Option<i64>, ObservedMuteRule)>,
    tags_read_at: Option<std::time::Instant>,
}

/// The MaintenanceWindow engine shared by `plan`, `apply`, `run --manifests` and the cluster.
pub struct MuteEngine {
    clients: Arc<AwsClients>,
    caches: BTreeMap<Target, RuleCache>,
}

impl MuteEngine {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Self {
            clients,
            caches: BTreeMap::new(),
        }
    }

    /// Sweeps every window: their rules in every region they use or used. `known` holds alarm
    /// states already read (the policies' sweep); the rest are read in batches.
    #[allow(clippy::too_many_arguments)]
    pub async fn sweep(
        &mut self,
        views: &[WindowView<'_>],
        policies: &[&AlarmPolicy],
        known: &KnownAlarms,
        withheld: Option<&str>,
        mode: Mode,
        previous: &BTreeMap<String, MaintenanceWindowStatus>,
        now: Timestamp,
    ) -> Vec<WindowOutcome> {
        // What each present window mutes, and which of those alarms exist (a rule may only name
        // alarms that exist; one created in this sweep joins on the next).
        let mut wanted: BTreeMap<Target, BTreeSet<String>> = BTreeMap::new();
        let muted: Vec<BTreeMap<Target, BTreeSet<String>>> = views
            .iter()
            .map(|view| match view.standing {
                Standing::Present(window) => muted_alarms(window, policies),
                _ => BTreeMap::new(),
            })
            .collect();
        for per_target in &muted {
            for (target, names) in per_target {
                wanted
                    .entry(target.clone())
                    .or_default()
                    .extend(names.clone());
            }
        }
        let states = alarm_states(&self.clients, wanted, known).await;

        let mut regions: BTreeMap<Target, Vec<WindowInput>> = BTreeMap::new();
        let mut read_errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut schedules: BTreeMap<String, Schedule> = BTreeMap::new();
        for (view, per_target) in views.iter().zip(&muted) {
            let (namespace, name) = split_owner(&view.owner);
            let prefix = rule_prefix(namespace, name);
            let recorded = |target: &Target| -> BTreeSet<String> {
                view.footprint
                    .iter()
                    .filter(|f| f.region == target.region && f.role_arn == target.role_arn)
                    .flat_map(|f| f.names.iter().cloned())
                    .collect()
            };
            let claim = |target: &Target| Claim {
                prefix: Some(prefix.clone()),
                recorded: recorded(target),
            };
            let mut targets: BTreeSet<Target> = view
                .footprint
                .iter()
                .map(|f| Target {
                    region: f.region.clone(),
                    role_arn: f.role_arn.clone(),
                })
                .collect();
            match view.standing {
                Standing::Untouchable => continue,
                Standing::Gone => {}
                Standing::Present(window) => {
                    let Ok(schedule) = Schedule::parse(&window.spec) else {
                        continue;
                    };
                    targets.extend(per_target.keys().cloned());
                    for target in &targets {
                        let alarms: BTreeSet<String> = match states.get(target) {
                            Some(Err(why)) => {
                                // Unreadable: leave this region's rules as they are.
                                read_errors
                                    .entry(view.owner.clone())
                                    .or_default()
                                    .push(why.clone());
                                continue;
                            }
                            Some(Ok(states)) => per_target
                                .get(target)
                                .into_iter()
                                .flatten()
                                .filter(|n| states.get(*n).is_some_and(Option::is_some))
                                .cloned()
                                .collect(),
                            None => BTreeSet::new(),
                        };
                        regions
                            .entry(target.clone())
                            .or_default()
                            .push(WindowInput {
                                owner: view.owner.clone(),
                                rules: desired_rules(namespace, name, &schedule, &alarms, now),
                                claim: claim(target),
                            });
                    }
                    schedules.insert(view.owner.clone(), schedule);
                    continue;
                }
            }
            for target in &targets {
                regions
                    .entry(target.clone())
                    .or_default()
                    .push(WindowInput {
                        owner: view.owner.clone(),
                        rules: Vec::new(),
                        claim: claim(target),
                    });
            }
        }

        let mut parts: BTreeMap<String, Vec<MutePart>> = BTreeMap::new();
        for (target, inputs) in regions {
            let rules = self.clients.mute_rules(&target).await;
            let cache = self.caches.entry(target.clone()).or_default();
            for part in sweep_region(&rules, cache, &target, &inputs, withheld, mode).await {
                parts.entry(part.plan.owner.clone()).or_default().push(part);
            }
        }

        views
            .iter()
            .filter(|v| !matches!(v.standing, Standing::Untouchable))
            .map(|view| {
                let parts = parts.remove(&view.owner).unwrap_or_default();
                let errors = read_errors.remove(&view.owner).unwrap_or_default();
                let generation = match view.standing {
                    Standing::Present(window) => window.metadata.generation,
                    _ => None,
                };
                let base = StatusBase {
                    generation,
                    conditions: previous
                        .get(&view.owner)
                        .map(|s| s.conditions.clone())
                        .unwrap_or_default(),
                };
                let footprint = footprint_after(view.footprint, &parts);
                let mut status =
                    window_status(schedules.get(&view.owner), &parts, &errors, &base, now);
                status.footprint = footprint.clone();
                WindowOutcome {
                    owner: view.owner.clone(),
                    parts,
                    errors,
                    status,
                    footprint,
                    removed: !matches!(view.standing, Standing::Present(_)),
                }
            })
            .collect()
    }
}

/// The footprint after a sweep: per region swept, the names to remember; regions not swept keep
/// what they had.
fn footprint_after(previous: &[Footprint], parts: &[MutePart]) -> Vec<Footprint> {
    let mut footprint: Vec<Footprint> = previous
        .iter()
        .filter(|f| {
            !parts
                .iter()
                .any(|p| p.target.region == f.region && p.target.role_arn == f.role_arn)
        })
        .cloned()
        .collect();
    for part in parts {
        let mut names = part.plan.remember.clone();
        for done in &part.done {
            if let MuteAction::Delete { name } = done {
                names.remove(name);
            }
        }
        if !names.is_empty() || !part.errors.is_empty() {
            footprint.push(Footprint {
                region: part.target.region.clone(),
                role_arn: part.target.role_arn.clone(),
                names: names.into_iter().collect(),
            });
        }
    }
    footprint.sort_by(|a, b| (&a.region, &a.role_arn).cmp(&(&b.region, &b.role_arn)));
    footprint
}

/// Observes, plans and (with `Mode::Apply`) executes one region.
async fn sweep_region(
    rules: &MuteRules,
    cache: &mut RuleCache,
    target: &Target,
    inputs: &[WindowInput],
    withheld: Option<&str>,
    mode: Mode,
) -> Vec<MutePart> {
    let failed = |err: AwsError| {
        inputs
            .iter()
            .map(|input| MutePart {
                target: target.clone(),
                plan: WindowPlan {
                    owner: input.owner.clone(),
                    // Nothing was read: keep every name recorded or wanted.
                    remember: input
                        .claim
                        .recorded
                        .iter()
                        .cloned()
                        .chain(input.rules.iter().map(|r| r.name.clone()))
                        .collect(),
                    ..WindowPlan::default()
                },
                done: Vec::new(),
                errors: vec![err.clone()],
            })
            .collect::<Vec<_>>()
    };
    let mut observed = match observe(rules, cache, false).await {
        Ok(observed) => observed,
        Err(err) => return failed(err),
    };
    let (mut plans, mut needs_fresh) = plan_rules(inputs, &observed, withheld);
    if needs_fresh {
        // Something is to be deleted: decide it on owners read now.
        observed = match observe(rules, cache, true).await {
            Ok(observed) => observed,
            Err(err) => return failed(err),
        };
        (plans, needs_fresh) = plan_rules(inputs, &observed, withheld);
        debug_assert!(!needs_fresh);
    }
    let total: usize = plans.iter().map(|p| p.actions.len()).sum();
    let mut progress = Progress::new("MaintenanceWindow", target, total);
    let mut parts = Vec::new();
    let mut wrote = false;
    for plan in plans {
        let mut done = Vec::new();
        let mut errors = Vec::new();
        if mode == Mode::Apply {
            for action in &plan.actions {
                let (result, line) = match action {
                    MuteAction::Create(rule) => (
                        rules.put(rule, true).await,
                        format!(
                            "created mute rule {} ({} alarms)",
                            rule.name,
                            rule.targets.len()
                        ),
                    ),
                    MuteAction::Update { rule, drift } => (
                        rules.put(rule, false).await,
                        format!(
                            "updated mute rule {}: {}",
                            rule.name,
                            drift
                                .iter()
                                .map(|d| format!("{} {:?} -> {:?}", d.field, d.actual, d.desired))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                    MuteAction::Delete { name } => (
                        rules.delete(name).await,
                        format!("deleted mute rule {name}"),
                    ),
                };
                let verb = match action {
                    MuteAction::Create(_) => "create",
                    MuteAction::Update { .. } => "update",
                    MuteAction::Delete { .. } => "delete",
                };
                progress.log(
                    Write {
                        owner: &plan.owner,
                        verb,
                        name: action.rule_name(),
                        line,
                    },
                    &result,
                );
                match result {
                    Ok(()) => done.push(action.clone()),
                    Err(err) => errors.push(err),
                }
            }
        }
        wrote |= !done.is_empty();
        parts.push(MutePart {
            target: target.clone(),
            plan,
            done,
            errors,
        });
    }
    if wrote {
        // Our own writes moved timestamps and owners: read them afresh next time.
        cache.tags_read_at = None;
    }
    parts
}

/// The region's rules that could be ours: the list every time (pages of 100), a rule's details
/// and tags only when it is new to the cache or its LastUpdatedTimestamp moved, and every
/// candidate's tags when `fresh` is asked for (deletions) or the cache is old.
async fn observe(
    rules: &MuteRules,
    cache: &mut RuleCache,
    fresh: bool,
) -> Result<ObservedRules, AwsError> {
    let listed = rules.list().await?;
    let fresh = fresh
        || cache
            .tags_read_at
            .is_none_or(|at| at.elapsed() >= OWNERSHIP_MAX_AGE);
    let mut kept = BTreeMap::new();
    for summary in listed.into_iter().filter(|s| s.name.starts_with(OURS)) {
        let cached = cache
            .rules
            .remove(&summary.name)
            .filter(|(updated, _)| *updated == summary.last_updated);
        let rule = match cached {
            Some((_, mut rule)) if fresh => {
                rule.tags = rules.tags(&summary.arn).await?;
                rule
            }
            Some((_, rule)) => rule,
            None => match rules.get(&summary.name).await? {
                Some(rule) => rule,
                // Deleted between the list and the read.
                None => continue,
            },
        };
        kept.insert(summary.name.clone(), (summary.last_updated, rule));
    }
    cache.rules = kept;
    if fresh {
        cache.tags_read_at = Some(std::time::Instant::now());
    }
    Ok(ObservedRules {
        rules: cache
            .rules
            .iter()
            .map(|(name, (_, rule))| (name.clone(), rule.clone()))
            .collect(),
        fresh,
    })
}

fn window_times(window: &Window) -> WindowTimes {
    WindowTimes {
        start: Time(window.start),
        end: Time(window.end),
        reason: window.reason.clone(),
    }
}

/// The status of a window after a sweep: open or not, current and next window, the rules and how
/// many alarms are muted now, Ready and Synced.
pub fn window_status(
    schedule: Option<&Schedule>,
    parts: &[MutePart],
    read_errors: &[String],
    base: &StatusBase,
    now: Timestamp,
) -> MaintenanceWindowStatus {
    let current = schedule.and_then(|s| s.window_at(now));
    let next = schedule.and_then(|s| s.next(now));
    let mute_rules: Vec<MuteRuleStatus> = parts
        .iter()
        .flat_map(|p| {
            let applied: BTreeSet<&str> = p.done.iter().map(MuteAction::rule_name).collect();
            p.plan.rules.iter().map(move |rule| MuteRuleStatus {
                region: p.target.region.clone(),
                name: rule.name.clone(),
                alarm_count: i32::try_from(rule.targets.len()).unwrap_or(i32::MAX),
                drift: if applied.contains(rule.name.as_str()) {
                    Vec::new()
                } else {
                    rule.drift.clone()
                },
                conflict: rule.conflict.clone(),
            })
        })
        .collect();
    // Alarms muted now: the targets of the rules whose window covers now.
    let muted: BTreeSet<(&str, &String)> = match (&current, schedule) {
        (Some(_), Some(schedule)) => parts
            .iter()
            .flat_map(|p| {
                p.plan
                    .rules
                    .iter()
                    .filter(|r| r.conflict.is_none() && rule_open(&r.name, schedule, now))
                    .flat_map(move |r| r.targets.iter().map(move |t| (p.target.region.as_str(), t)))
            })
            .collect(),
        _ => BTreeSet::new(),
    };
    let errors: Vec<String> = parts
        .iter()
        .flat_map(|p| p.errors.iter().map(ToString::to_string))
        .chain(read_errors.iter().cloned())
        .collect();
    let conflicts = mute_rules.iter().filter(|r| r.conflict.is_some()).count();
    let drifted = mute_rules.iter().filter(|r| !r.drift.is_empty()).count();
    let (ready, synced, reason, message) = if let Some(first) = errors.first() {
        (Status::False, Status::False, "AwsError", first.clone())
    } else if conflicts > 0 {
        let first = mute_rules
            .iter()
            .find_map(|r| r.conflict.as_ref().map(|c| format!("{}: {c}", r.name)))
            .unwrap_or_default();
        (Status::False, Status::True, "Conflict", first)
    } else if drifted > 0 {
        (
            Status::False,
            Status::False,
            "Drifted",
            format!("{drifted} mute rule(s) differ, not yet corrected"),
        )
    } else {
        (
            Status::True,
            Status::True,
            "Reconciled",
            format!("{} mute rule(s) as declared", mute_rules.len()),
        )
    };
    let mut conditions = base.conditions.clone();
    for (type_, status) in [(READY, ready), (SYNCED, synced)] {
        set_condition(
            &mut conditions,
            type_,
            status,
            reason,
            &message,
            base.generation,
            now,
        );
    }
    MaintenanceWindowStatus {
        observed_generation: base.generation,
        conditions,
        open: current.is_some(),
        current_window: current.as_ref().map(window_times),
        next_window: next.as_ref().map(window_times),
        muted_alarms: i32::try_from(muted.len()).unwrap_or(i32::MAX),
        held_change_count: 0,
        held_changes: Vec::new(),
        mute_rules,
        footprint: Vec::new(),
    }
}

/// Whether the rule named `name` (recurring or one-off) is in effect at `now`.
fn rule_open(name: &str, schedule: &Schedule, now: Timestamp) -> bool {
    let slot = name.rsplit('/').next().unwrap_or_default();
    if slot.starts_with("recurring-") {
        return recurring_open(schedule, now);
    }
    slot.strip_prefix("once-")
        .and_then(|rest| rest.split('-').next())
        .is_some_and(|stamp| {
            schedule
                .one_off
                .iter()
                .any(|w| w.start.strftime("%Y%m%dT%H%M").to_string() == stamp && w.covers(now))
        })
}

fn recurring_open(schedule: &Schedule, now: Timestamp) -> bool {
    let recurring_only = Schedule {
        recurring: schedule.recurring.clone(),
        one_off: Vec::new(),
    };
    recurring_only.is_open(now)
}

//! CloudWatch alarm mute rules of MaintenanceWindows: the rules a window wants in a region, and
//! (desired, observed) -> the actions and drift, with the one deletion rule. Pure.
//!
//! A window wants, per region, one recurring rule per 100 alarms (`cron(...)` in its time zone, for
//! its duration) and one rule per 100 alarms per one-off window that has not ended (`at(...)` in
//! UTC). Rule names are deterministic: `dialtone/<namespace>/<name>/<slot>-<n>`, so a sweep finds
//! its rules by name and the prefix is the window's claim.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::deletion::{Claim, Decision, Facts, decide};
use super::schedule::{Schedule, at_expression, iso_duration};
use crate::api::alarm_policy::{FieldDrift, OWNER_TAG};

/// CloudWatch's limit of alarms per mute rule.
pub const TARGETS_PER_RULE: usize = 100;

/// The name prefix of every rule of a window: its claim.
pub fn rule_prefix(namespace: &str, name: &str) -> String {
    format!("dialtone/{namespace}/{name}/")
}

/// A mute rule as dialtone wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuteRuleSpec {
    pub name: String,
    pub description: String,
    /// `cron(...)` or `at(...)`.
    pub expression: String,
    /// ISO 8601, e.g. `PT2H`.
    pub duration: String,
    pub timezone: String,
    pub targets: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
}

/// A mute rule as CloudWatch holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedMuteRule {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub expression: String,
    pub duration: String,
    pub timezone: Option<String>,
    pub targets: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
    /// SCHEDULED, ACTIVE or EXPIRED.
    pub status: Option<String>,
}

impl ObservedMuteRule {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }
}

/// The rules `schedule` wants for `targets` (alarm names of one region), as of `now`.
pub fn desired_rules(
    namespace: &str,
    name: &str,
    schedule: &Schedule,
    targets: &BTreeSet<String>,
    now: Timestamp,
) -> Vec<MuteRuleSpec> {
    if targets.is_empty() {
        return Vec::new();
    }
    let owner = format!("{namespace}/{name}");
    let tags = BTreeMap::from([(OWNER_TAG.to_string(), owner.clone())]);
    let chunks: Vec<BTreeSet<String>> = targets
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .chunks(TARGETS_PER_RULE)
        .map(|c| c.iter().cloned().collect())
        .collect();
    let prefix = rule_prefix(namespace, name);
    let mut rules = Vec::new();
    if let Some(recurring) = &schedule.recurring {
        for (i, chunk) in chunks.iter().enumerate() {
            rules.push(MuteRuleSpec {
                name: format!("{prefix}recurring-{i}"),
                description: format!(
                    "MaintenanceWindow {owner}: {} in {} for {} (dialtone)",
                    recurring.expression,
                    recurring.zone_name,
                    iso_duration(recurring.duration)
                ),
                expression: recurring.expression.clone(),
                duration: iso_duration(recurring.duration),
                timezone: recurring.zone_name.clone(),
                targets: chunk.clone(),
                tags: tags.clone(),
            });
        }
    }
    for window in schedule.pending_one_off(now) {
        let stamp = window.start.strftime("%Y%m%dT%H%M");
        let duration = window.end.duration_since(window.start);
        for (i, chunk) in chunks.iter().enumerate() {
            let reason = window
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            rules.push(MuteRuleSpec {
                name: format!("{prefix}once-{stamp}-{i}"),
                description: format!(
                    "MaintenanceWindow {owner}: one-off window from {}{reason} (dialtone)",
                    window.start
                ),
                expression: at_expression(window.start),
                duration: iso_duration(duration),
                timezone: "UTC".into(),
                targets: chunk.clone(),
                tags: tags.clone(),
            });
        }
    }
    rules
}

/// One window's wishes in one region.
#[derive(Debug, Clone)]
pub struct WindowInput {
    /// `<namespace>/<name>`.
    pub owner: String,
    pub rules: Vec<MuteRuleSpec>,
    /// The rule names it may delete here: its prefix and the names it recorded.
    pub claim: Claim,
}

/// What one region's rules look like.
#[derive(Debug, Clone, Default)]
pub struct ObservedRules {
    /// Rules that could be dialtone's (their names carry the `dialtone/` prefix), by name, as read.
    pub rules: BTreeMap<String, ObservedMuteRule>,
    /// Whether the rules' tags (their owners) were read from AWS in this sweep.
    pub fresh: bool,
}

/// One change to a region's mute rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuteAction {
    /// PutAlarmMuteRule with tags.
    Create(MuteRuleSpec),
    /// PutAlarmMuteRule: the rule is ours and differs.
    Update {
        rule: MuteRuleSpec,
        drift: Vec<FieldDrift>,
    },
    /// DeleteAlarmMuteRule: ours and no longer wanted.
    Delete { name: String },
}

impl MuteAction {
    pub fn rule_name(&self) -> &str {
        match self {
            MuteAction::Create(rule) | MuteAction::Update { rule, .. } => &rule.name,
            MuteAction::Delete { name } => name,
        }
    }
}

/// One rule of a window as found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleState {
    pub name: String,
    /// The alarms it mutes.
    pub targets: BTreeSet<String>,
    pub drift: Vec<FieldDrift>,
    /// Why dialtone will not touch it.
    pub conflict: Option<String>,
}

/// One window's plan in one region.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WindowPlan {
    pub owner: String,
    pub actions: Vec<MuteAction>,
    pub rules: Vec<RuleState>,
    /// Owned rules no longer wanted that stay, and why.
    pub kept: Vec<(String, String)>,
    /// Names to remember as declared here once the plan is carried out.
    pub remember: BTreeSet<String>,
}

/// Normalizes an ISO 8601 duration of days, hours and minutes to minutes (`PT120M` == `PT2H`).
fn minutes(duration: &str) -> Option<i64> {
    let rest = duration.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((days, time)) => (days, time),
        None => (rest, ""),
    };
    let mut total = 0i64;
    let mut number = String::new();
    for (part, units) in [(days, "D"), (time, "HMS")] {
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let n: i64 = number.parse().ok()?;
            number.clear();
            total += match (units, c) {
                ("D", 'D') => n * 1440,
                ("HMS", 'H') => n * 60,
                ("HMS", 'M') => n,
                ("HMS", 'S') if n % 60 == 0 => n / 60,
                _ => return None,
            };
        }
    }
    number.is_empty().then_some(total)
}

fn drift(desired: &MuteRuleSpec, actual: &ObservedMuteRule) -> Vec<FieldDrift> {
    let mut drift = Vec::new();
    let mut field = |name: &str, want: String, have: String| {
        drift.push(FieldDrift {
            field: name.into(),
            desired: want,
            actual: have,
        })
    };
    if desired.expression != actual.expression {
        field(
            "expression",
            desired.expression.clone(),
            actual.expression.clone(),
        );
    }
    if minutes(&desired.duration) != minutes(&actual.duration) {
        field(
            "duration",
            desired.duration.clone(),
            actual.duration.clone(),
        );
    }
    let timezone = actual.timezone.clone().unwrap_or_else(|| "UTC".into());
    if desired.timezone != timezone {
        field("timezone", desired.timezone.clone(), timezone);
    }
    if desired.description != actual.description.clone().unwrap_or_default() {
        field(
            "description",
            desired.description.clone(),
            actual.description.clone().unwrap_or_default(),
        );
    }
    if desired.targets != actual.targets {
        let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
        let added: BTreeSet<String> = desired
            .targets
            .difference(&actual.targets)
            .cloned()
            .collect();
        let removed: BTreeSet<String> = actual
            .targets
            .difference(&desired.targets)
            .cloned()
            .collect();
        field(
            "targets",
            format!("+[{}]", join(&added)),
            format!("-[{}]", join(&removed)),
        );
    }
    drift
}

/// Plans every window of a region. `withheld` says why deletions wait (a manifest could not be
/// loaded). Returns the plans, and whether a deletion waits for ownership read afresh.
pub fn plan_rules(
    windows: &[WindowInput],
    observed: &ObservedRules,
    withheld: Option<&str>,
) -> (Vec<WindowPlan>, bool) {
    let mut needs_fresh = false;
    let declared: BTreeMap<&str, &str> = windows
        .iter()
        .flat_map(|w| {
            w.rules
                .iter()
                .map(move |r| (r.name.as_str(), w.owner.as_str()))
        })
        .collect();
    let plans = windows
        .iter()
        .map(|window| {
            let mut plan = WindowPlan {
                owner: window.owner.clone(),
                ..WindowPlan::default()
            };
            for rule in &window.rules {
                let mut state = RuleState {
                    name: rule.name.clone(),
                    targets: rule.targets.clone(),
                    ..RuleState::default()
                };
                match observed.rules.get(&rule.name) {
                    None => plan.actions.push(MuteAction::Create(rule.clone())),
                    Some(actual) if actual.owner() == Some(window.owner.as_str()) => {
                        let found = drift(rule, actual);
                        if !found.is_empty() {
                            plan.actions.push(MuteAction::Update {
                                rule: rule.clone(),
                                drift: found.clone(),
                            });
                        }
                        state.drift = found;
                    }
                    Some(actual) => {
                        state.conflict = Some(match actual.owner() {
                            Some(other) => format!(
                                "owned by MaintenanceWindow {other}; dialtone never takes over another window's rule"
                            ),
                            None => format!(
                                "exists in CloudWatch without the {OWNER_TAG} tag: dialtone never touches a rule it does not own"
                            ),
                        });
                    }
                }
                if state.conflict.is_none() {
                    plan.remember.insert(rule.name.clone());
                }
                plan.rules.push(state);
            }
            let owner_text = format!("MaintenanceWindow {}", window.owner);
            for (name, actual) in &observed.rules {
                if actual.owner() != Some(window.owner.as_str())
                    || window.rules.iter().any(|r| &r.name == name)
                {
                    continue;
                }
                let wanted_by = declared
                    .get(name.as_str())
                    .map(|o| format!("MaintenanceWindow {o}"));
                let facts = Facts {
                    owner: &owner_text,
                    claim: &window.claim,
                    manage: true,
                    wanted_by: wanted_by.as_deref(),
                    withheld,
                    fresh: observed.fresh,
                };
                match decide(name, facts) {
                    Decision::Delete => plan.actions.push(MuteAction::Delete { name: name.clone() }),
                    Decision::Keep(why) => {
                        plan.remember.insert(name.clone());
                        plan.kept.push((name.clone(), why));
                    }
                    Decision::ConfirmOwnership => {
                        plan.remember.insert(name.clone());
                        needs_fresh = true;
                    }
                    Decision::Orphan(why) => plan.kept.push((name.clone(), why)),
                }
            }
            plan
        })
        .collect();
    (plans, needs_fresh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::maintenance_window::MaintenanceWindowSpec;

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn schedule(extra: serde_json::Value) -> Schedule {
        let mut spec = serde_json::json!({
            "schedule": "0 2 * * SUN", "timeZone": "America/New_York", "duration": "2h",
            "suppress": {"alarmPolicySelector": {"matchLabels": {"tier": "prod"}}},
        });
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        let spec: MaintenanceWindowSpec = serde_json::from_value(spec).expect("spec");
        Schedule::parse(&spec).expect("valid")
    }

    fn names(n: usize) -> BTreeSet<String> {
        (0..n).map(|i| format!("alarm-{i:03}")).collect()
    }

    fn observed_of(rule: &MuteRuleSpec) -> ObservedMuteRule {
        ObservedMuteRule {
            name: rule.name.clone(),
            arn: format!(
                "arn:aws:cloudwatch:us-east-1:1:alarm-mute-rule:{}",
                rule.name
            ),
            description: Some(rule.description.clone()),
            expression: rule.expression.clone(),
            duration: rule.duration.clone(),
            timezone: Some(rule.timezone.clone()),
            targets: rule.targets.clone(),
            tags: rule.tags.clone(),
            status: Some("SCHEDULED".into()),
        }
    }

    #[test]
    fn a_window_wants_one_rule_per_100_alarms_per_window_and_none_for_past_one_offs() {
        let schedule = schedule(serde_json::json!({"windows": [
            {"start": "2026-12-26T01:00:00Z", "end": "2026-12-26T05:00:00Z", "reason": "CHG-4711"},
            {"start": "2026-11-01T01:00:00Z", "end": "2026-11-01T02:00:00Z"},
        ]}));
        let rules = desired_rules(
            "cc",
            "weekly",
            &schedule,
            &names(150),
            ts("2026-12-01T00:00:00Z"),
        );
        let summary: Vec<(&str, &str, &str, &str, usize)> = rules
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.expression.as_str(),
                    r.duration.as_str(),
                    r.timezone.as_str(),
                    r.targets.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "dialtone/cc/weekly/recurring-0",
                    "cron(0 2 * * SUN)",
                    "PT2H",
                    "America/New_York",
                    100
                ),
                (
                    "dialtone/cc/weekly/recurring-1",
                    "cron(0 2 * * SUN)",
                    "PT2H",
                    "America/New_York",
                    50
                ),
                (
                    "dialtone/cc/weekly/once-20261226T0100-0",
                    "at(2026-12-26T01:00)",
                    "PT4H",
                    "UTC",
                    100
                ),
                (
                    "dialtone/cc/weekly/once-20261226T0100-1",
                    "at(2026-12-26T01:00)",
                    "PT4H",
                    "UTC",
                    50
                ),
            ]
        );
        let all: BTreeSet<String> = rules[..2].iter().flat_map(|r| r.targets.clone()).collect();
        assert_eq!(all, names(150));
        assert_eq!(rules[0].tags[OWNER_TAG], "cc/weekly");
        assert!(
            desired_rules(
                "cc",
                "weekly",
                &schedule,
                &BTreeSet::new(),
                ts("2026-12-01T00:00:00Z")
            )
            .is_empty()
        );
    }

    fn input(rules: Vec<MuteRuleSpec>, recorded: &[&str]) -> WindowInput {
        WindowInput {
            owner: "cc/weekly".into(),
            rules,
            claim: Claim {
                prefix: Some(rule_prefix("cc", "weekly")),
                recorded: recorded.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    #[test]
    fn rules_are_created_repaired_kept_and_deleted_by_the_one_rule() {
        let now = ts("2026-12-01T00:00:00Z");
        let wanted = desired_rules(
            "cc",
            "weekly",
            &schedule(serde_json::json!({})),
            &names(3),
            now,
        );
        // Missing: created.
        let (plans, _) = plan_rules(
            &[input(wanted.clone(), &[])],
            &ObservedRules::default(),
            None,
        );
        assert!(matches!(plans[0].actions[..], [MuteAction::Create(_)]));
        // Edited out of band: targets and duration drift, repaired.
        let mut edited = observed_of(&wanted[0]);
        edited.targets.remove("alarm-001");
        edited.duration = "PT120M".into();
        let observed = ObservedRules {
            rules: BTreeMap::from([(edited.name.clone(), edited)]),
            fresh: true,
        };
        let (plans, _) = plan_rules(&[input(wanted.clone(), &[])], &observed, None);
        let MuteAction::Update { drift, .. } = &plans[0].actions[0] else {
            panic!("{:?}", plans[0].actions)
        };
        let fields: Vec<&str> = drift.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["targets"], "PT120M is PT2H");
        // A rule with our name but someone else's tag: a conflict, untouched.
        let mut foreign = observed_of(&wanted[0]);
        foreign.tags.clear();
        let observed = ObservedRules {
            rules: BTreeMap::from([(foreign.name.clone(), foreign)]),
            fresh: true,
        };
        let (plans, _) = plan_rules(&[input(wanted.clone(), &[])], &observed, None);
        assert!(plans[0].actions.is_empty());
        assert!(plans[0].rules[0].conflict.is_some());
        // No longer wanted: deleted on fresh ownership, asked for on a cached one, kept when withheld.
        let old = observed_of(&wanted[0]);
        let observed = ObservedRules {
            rules: BTreeMap::from([(old.name.clone(), old.clone())]),
            fresh: true,
        };
        let (plans, _) = plan_rules(&[input(vec![], &[])], &observed, None);
        assert_eq!(
            plans[0].actions,
            [MuteAction::Delete {
                name: old.name.clone()
            }]
        );
        let (plans, fresh) = plan_rules(
            &[input(vec![], &[])],
            &ObservedRules {
                fresh: false,
                ..observed.clone()
            },
            None,
        );
        assert!(plans[0].actions.is_empty() && fresh);
        let (plans, _) = plan_rules(
            &[input(vec![], &[])],
            &observed,
            Some("a manifest is broken"),
        );
        assert!(plans[0].actions.is_empty());
        assert_eq!(plans[0].kept[0].1, "a manifest is broken");
    }

    #[test]
    fn durations_compare_as_minutes() {
        for (a, b) in [
            ("PT2H", "PT120M"),
            ("P1DT12H", "PT36H"),
            ("PT1H30M", "PT5400S"),
            ("P1D", "PT24H"),
        ] {
            assert_eq!(minutes(a), minutes(b), "{a} {b}");
        }
        assert_eq!(minutes("2h"), None);
    }
}

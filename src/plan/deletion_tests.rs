//! The deletion rule: table tests for each case seen, and a property over random sweeps that no
//! plan ever deletes an alarm failing (a) fresh ownership, (b) the policy's claim or (c) "wanted by
//! no object, source clean, policy managed".

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::alarm::{AlarmConfig, DesiredAlarm, MetricStat, ObservedAlarm, Source, Threshold};
use super::sweep::{
    Action, Claim, Observed, Orphans, OwnedAlarm, PolicyInput, RegionInput, RegionPlan, plan_sweep,
};
use crate::api::alarm_policy::OWNER_TAG;

fn config(name: &str) -> AlarmConfig {
    AlarmConfig {
        alarm_name: name.into(),
        description: None,
        alarm_actions: BTreeSet::new(),
        ok_actions: BTreeSet::new(),
        insufficient_data_actions: BTreeSet::new(),
        source: Source::Metric(MetricStat {
            namespace: "AWS/Connect".into(),
            metric_name: "MissedCalls".into(),
            dimensions: BTreeMap::new(),
            stat: "Sum".into(),
            period: 60,
            unit: None,
        }),
        threshold: Threshold::Static(1.0),
        comparison_operator: "GreaterThanThreshold".into(),
        evaluation_periods: 1,
        datapoints_to_alarm: 1,
        treat_missing_data: "missing".into(),
    }
}

fn desired(owner: &str, name: &str) -> DesiredAlarm {
    DesiredAlarm {
        name: name.into(),
        config: config(name),
        tags: BTreeMap::from([(OWNER_TAG.to_string(), owner.to_string())]),
    }
}

fn policy(owner: &str, declares: &[&str], recorded: &[&str]) -> PolicyInput {
    PolicyInput {
        owner: owner.into(),
        desired: declares.iter().map(|n| desired(owner, n)).collect(),
        manage: true,
        adopt_existing: false,
        claim: Claim {
            prefix: Some(format!("{owner}/")),
            recorded: recorded.iter().map(|n| n.to_string()).collect(),
        },
    }
}

/// Alarms that exist, each with its owner tag (None: untagged).
fn observed(alarms: &[(&str, Option<&str>)], fresh: bool) -> Observed {
    Observed {
        alarms: alarms
            .iter()
            .map(|(name, _)| {
                (
                    name.to_string(),
                    ObservedAlarm {
                        arn: format!("arn:aws:cloudwatch:us-east-1:1:alarm:{name}"),
                        config: config(name),
                        state: "OK".into(),
                        state_reason: None,
                        state_updated: None,
                        config_updated: Some(1),
                    },
                )
            })
            .collect(),
        owned: alarms
            .iter()
            .filter_map(|(name, owner)| {
                let owner = (*owner)?;
                Some((
                    name.to_string(),
                    OwnedAlarm {
                        arn: format!("arn:aws:cloudwatch:us-east-1:1:alarm:{name}"),
                        tags: BTreeMap::from([(OWNER_TAG.to_string(), owner.to_string())]),
                    },
                ))
            })
            .collect(),
        owned_fresh: fresh,
    }
}

fn deletes(plan: &RegionPlan) -> Vec<String> {
    plan.policies
        .iter()
        .flat_map(|p| &p.actions)
        .chain(&plan.prune)
        .filter(|a| matches!(a, Action::Delete { .. }))
        .map(|a| a.alarm_name().to_string())
        .collect()
}

fn region(policies: Vec<PolicyInput>) -> RegionInput {
    RegionInput {
        policies,
        orphans: Orphans::Report,
        ..RegionInput::default()
    }
}

#[test]
fn an_undeclared_alarm_of_the_policy_in_its_prefix_is_deleted_on_fresh_ownership() {
    let input = region(vec![policy("ns/p", &["ns/p/a"], &[])]);
    let seen = observed(
        &[("ns/p/a", Some("ns/p")), ("ns/p/old", Some("ns/p"))],
        true,
    );
    assert_eq!(deletes(&plan_sweep(&input, &seen)), ["ns/p/old"]);
}

#[test]
fn cached_ownership_never_deletes_it_asks_for_a_fresh_read() {
    let input = region(vec![policy("ns/p", &["ns/p/a"], &[])]);
    let seen = observed(
        &[("ns/p/a", Some("ns/p")), ("ns/p/old", Some("ns/p"))],
        false,
    );
    let plan = plan_sweep(&input, &seen);
    assert!(deletes(&plan).is_empty());
    assert!(plan.needs_fresh_ownership);
}

#[test]
fn a_copied_owner_tag_outside_the_claim_is_an_orphan_not_a_deletion() {
    let input = region(vec![policy("ns/p", &["ns/p/a"], &[])]);
    let seen = observed(&[("hand-made", Some("ns/p"))], true);
    let plan = plan_sweep(&input, &seen);
    assert!(deletes(&plan).is_empty());
    assert_eq!(plan.orphans.len(), 1);
    assert!(
        plan.orphans[0].reason.contains("never declared"),
        "{:?}",
        plan.orphans
    );
}

#[test]
fn a_recorded_name_outside_the_prefix_is_deleted_once_no_longer_declared() {
    let input = region(vec![policy("ns/p", &[], &["legacy-name"])]);
    let seen = observed(&[("legacy-name", Some("ns/p"))], true);
    assert_eq!(deletes(&plan_sweep(&input, &seen)), ["legacy-name"]);
}

#[test]
fn withheld_deletions_are_kept_with_the_reason() {
    let mut input = region(vec![policy("ns/p", &[], &[])]);
    input.withheld = Some("nothing is deleted while 1 manifest(s) could not be loaded".into());
    let seen = observed(&[("ns/p/old", Some("ns/p"))], true);
    let plan = plan_sweep(&input, &seen);
    assert!(deletes(&plan).is_empty());
    assert!(
        !plan.needs_fresh_ownership,
        "no fresh read for a withheld deletion"
    );
    assert!(
        plan.policies[0].kept[0]
            .reason
            .contains("could not be loaded")
    );
}

#[test]
fn observe_never_deletes() {
    let mut observing = policy("ns/p", &[], &[]);
    observing.manage = false;
    let plan = plan_sweep(
        &region(vec![observing]),
        &observed(&[("ns/p/old", Some("ns/p"))], true),
    );
    assert!(deletes(&plan).is_empty());
    assert!(plan.policies[0].kept[0].reason.contains("Observe"));
}

#[test]
fn an_alarm_another_policy_declares_is_kept() {
    let input = region(vec![
        policy("ns/p", &[], &["shared"]),
        policy("ns/q", &["shared"], &[]),
    ]);
    let plan = plan_sweep(&input, &observed(&[("shared", Some("ns/p"))], true));
    assert!(deletes(&plan).is_empty());
}

#[test]
fn the_owner_keeps_managing_its_alarm_when_another_policy_claims_the_name_sorting_first() {
    // ns/a declares ns/z's alarm by name: ownership decides, not sort order.
    let input = region(vec![
        policy("ns/z", &["x"], &[]),
        policy("ns/a", &["x"], &[]),
    ]);
    let mut seen = observed(&[("x", Some("ns/z"))], true);
    seen.alarms.get_mut("x").expect("x").config.threshold = Threshold::Static(99.0);
    let plan = plan_sweep(&input, &seen);
    let owner = plan.policies.iter().find(|p| p.owner == "ns/z").expect("z");
    let claimant = plan.policies.iter().find(|p| p.owner == "ns/a").expect("a");
    assert_eq!(
        owner.actions.len(),
        1,
        "the owner repairs its drift: {:?}",
        owner.actions
    );
    assert!(owner.alarms[0].conflict.is_none());
    assert!(claimant.actions.is_empty());
    assert!(
        claimant.alarms[0]
            .conflict
            .as_deref()
            .is_some_and(|c| c.contains("owned by AlarmPolicy ns/z")),
        "{:?}",
        claimant.alarms
    );
}

#[test]
fn with_no_owner_the_first_declarer_by_namespace_and_name_claims_the_name() {
    let input = region(vec![
        policy("ns/z", &["x"], &[]),
        policy("ns/a", &["x"], &[]),
    ]);
    let plan = plan_sweep(&input, &observed(&[], true));
    let first = plan.policies.iter().find(|p| p.owner == "ns/a").expect("a");
    assert_eq!(first.actions.len(), 1);
    let second = plan.policies.iter().find(|p| p.owner == "ns/z").expect("z");
    assert!(
        second.alarms[0]
            .conflict
            .as_deref()
            .is_some_and(|c| c.contains("ns/a"))
    );
}

#[test]
fn orphans_of_owners_not_in_the_source_are_reported_and_pruned_only_when_asked() {
    let mut input = region(vec![policy("ns/p", &["ns/p/a"], &[])]);
    input.untouchable = BTreeSet::from(["ns/invalid".to_string()]);
    let seen = observed(
        &[
            ("ns/p/a", Some("ns/p")),
            ("ns/gone/x", Some("ns/gone")),
            ("ns/invalid/y", Some("ns/invalid")),
            ("foreign", None),
        ],
        true,
    );
    let plan = plan_sweep(&input, &seen);
    let orphans: Vec<&str> = plan.orphans.iter().map(|o| o.alarm_name.as_str()).collect();
    assert_eq!(orphans, ["ns/gone/x"]);
    assert!(deletes(&plan).is_empty());
    input.orphans = Orphans::Prune;
    assert_eq!(deletes(&plan_sweep(&input, &seen)), ["ns/gone/x"]);
    input.withheld = Some("broken".into());
    assert!(deletes(&plan_sweep(&input, &seen)).is_empty());
    input.withheld = None;
    input.orphans = Orphans::Ignore;
    assert!(plan_sweep(&input, &seen).orphans.is_empty());
}

#[test]
fn the_footprint_keeps_declared_and_still_owned_recorded_names() {
    let input = region(vec![policy("ns/p", &["ns/p/a"], &["legacy", "given-away"])]);
    let seen = observed(
        &[
            ("ns/p/a", Some("ns/p")),
            ("legacy", Some("ns/p")),
            ("given-away", None),
        ],
        true,
    );
    let plan = plan_sweep(&input, &seen);
    assert_eq!(
        plan.policies[0].remember,
        BTreeSet::from(["ns/p/a".to_string(), "legacy".to_string()])
    );
    // On a cached view nothing recorded is forgotten.
    let cached = plan_sweep(&input, &observed(&[("ns/p/a", Some("ns/p"))], false));
    assert_eq!(cached.policies[0].remember.len(), 3);
}

const OWNERS: [&str; 4] = ["ns/p", "ns/q", "ns/r", "ns/ghost"];
const NAMES: [&str; 8] = [
    "ns/p/a",
    "ns/p/b",
    "ns/q/a",
    "ns/q/b",
    "ns/r/a",
    "legacy-1",
    "legacy-2",
    "hand-made",
];

fn subset(mask: u8) -> Vec<&'static str> {
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

prop_compose! {
    fn arb_policy(owner: &'static str)(
        declares in any::<u8>(),
        recorded in any::<u8>(),
        manage in any::<bool>(),
        adopt in any::<bool>(),
        prefix in any::<bool>(),
    ) -> PolicyInput {
        PolicyInput {
            owner: owner.into(),
            desired: subset(declares).iter().map(|n| desired(owner, n)).collect(),
            manage,
            adopt_existing: adopt,
            claim: Claim {
                prefix: prefix.then(|| format!("{owner}/")),
                recorded: subset(recorded).iter().map(|n| n.to_string()).collect(),
            },
        }
    }
}

prop_compose! {
    fn arb_sweep()(
        p in arb_policy("ns/p"),
        q in arb_policy("ns/q"),
        present in 1usize..=2,
        untouchable_r in any::<bool>(),
        withheld in any::<bool>(),
        orphans in 0u8..3,
        // Per name: 0 absent, 1 untagged, 2.. owned by OWNERS[n-2] (tags copied anywhere).
        alarms in proptest::collection::vec(0usize..6, NAMES.len()),
        fresh in any::<bool>(),
    ) -> (RegionInput, Observed) {
        let policies = [p, q].into_iter().take(present).collect();
        let input = RegionInput {
            policies,
            untouchable: if untouchable_r { BTreeSet::from(["ns/r".to_string()]) } else { BTreeSet::new() },
            withheld: withheld.then(|| "a manifest could not be loaded".to_string()),
            orphans: [Orphans::Ignore, Orphans::Report, Orphans::Prune][orphans as usize],
        };
        let existing: Vec<(&str, Option<&str>)> = NAMES
            .iter()
            .zip(alarms)
            .filter(|(_, state)| *state > 0)
            .map(|(name, state)| (*name, (state >= 2).then(|| OWNERS[state - 2])))
            .collect();
        (input, observed(&existing, fresh))
    }
}

proptest! {
    #[test]
    fn no_plan_deletes_an_alarm_that_fails_the_rule((input, seen) in arb_sweep()) {
        let plan = plan_sweep(&input, &seen);
        let declared = |name: &str| input.policies.iter().any(|p| p.desired.iter().any(|d| d.config.alarm_name == name));
        let owner_of = |name: &str| seen.owned.get(name).and_then(OwnedAlarm::owner).map(str::to_string);
        for policy_plan in &plan.policies {
            let policy = input.policies.iter().find(|p| p.owner == policy_plan.owner).expect("input");
            for action in &policy_plan.actions {
                let Action::Delete { alarm_name } = action else { continue };
                // (a) owned by this policy, on ownership read in this sweep
                prop_assert!(seen.owned_fresh, "deleted {alarm_name} on cached ownership");
                prop_assert_eq!(owner_of(alarm_name), Some(policy.owner.clone()));
                // (b) a name it declares or declared
                prop_assert!(policy.claim.covers(alarm_name), "{alarm_name} outside the claim of {}", policy.owner);
                // (c) wanted by no object, the source clean, the policy managed
                prop_assert!(!declared(alarm_name), "{alarm_name} is still declared");
                prop_assert!(input.withheld.is_none());
                prop_assert!(policy.manage);
            }
        }
        for action in &plan.prune {
            let name = action.alarm_name();
            prop_assert_eq!(input.orphans, Orphans::Prune);
            prop_assert!(seen.owned_fresh && input.withheld.is_none());
            prop_assert!(!declared(name));
            let owner = owner_of(name);
            prop_assert!(owner.is_some(), "pruned {name}, which carries no owner tag");
            let owner = owner.unwrap_or_default();
            prop_assert!(!input.untouchable.contains(&owner), "pruned {name} of untouchable {owner}");
            if let Some(policy) = input.policies.iter().find(|p| p.owner == owner) {
                prop_assert!(!policy.claim.covers(name), "pruned {name}, which its present owner claims");
            }
        }
        if !seen.owned_fresh {
            prop_assert!(deletes(&plan).is_empty());
        }
    }
}

use super::*;
use crate::api::failover_plan::HealthCheck;

const OWNER: &str = "cc/dr";

fn record(name: &str, check: Option<HealthCheckProtocol>) -> DnsRecord {
    DnsRecord {
        name: name.into(),
        record_type: DnsRecordType::A,
        ttl: 60,
        primary: "192.0.2.10".into(),
        secondary: "198.51.100.10".into(),
        health_check: check.map(|protocol| HealthCheck {
            protocol,
            port: None,
            path: Some("/health".into()),
            failure_threshold: None,
        }),
    }
}

fn dns(lever: DnsLever, records: Vec<DnsRecord>) -> DnsFailover {
    DnsFailover {
        hosted_zone_id: "Z1".into(),
        lever,
        records,
    }
}

fn lever() -> LeverAlarm {
    LeverAlarm {
        region: "us-west-2".into(),
        name: "dialtone/cc/dr/dns-lever".into(),
    }
}

fn observed(id: &str, role: Option<&str>, spec: CheckSpec) -> ObservedCheck {
    ObservedCheck {
        id: id.into(),
        version: 1,
        caller_reference: format!("dialtone-{id}"),
        role: role.map(str::to_string),
        spec,
    }
}

fn claim(names: &[&str]) -> Claim {
    Claim {
        prefix: None,
        recorded: names.iter().map(|n| n.to_string()).collect(),
    }
}

fn roles(actions: &[CheckAction]) -> Vec<String> {
    actions
        .iter()
        .map(|a| {
            let verb = match a {
                CheckAction::Create { .. } => "create",
                CheckAction::Update { .. } => "update",
                CheckAction::Replace { .. } => "replace",
                CheckAction::Delete { .. } => "delete",
            };
            format!("{verb} {}", a.role())
        })
        .collect()
}

#[test]
fn names_are_compared_as_route53_returns_them() {
    assert_eq!(canonical_name("Chat.Example.com"), "chat.example.com.");
    assert_eq!(canonical_name("chat.example.com."), "chat.example.com.");
    assert_eq!(canonical_name("*.example.com"), "\\052.example.com.");
}

#[test]
fn the_alarm_lever_puts_a_calculated_check_on_each_primary_record_with_an_endpoint_check() {
    let want = desired(
        &dns(
            DnsLever::Alarm,
            vec![
                record("chat.example.com", Some(HealthCheckProtocol::Https)),
                record("api.example.com", None),
            ],
        ),
        Some(&lever()),
        ActiveRegion::Secondary,
    );
    let by_role: BTreeMap<&str, &CheckSpec> = want
        .checks
        .iter()
        .map(|c| (c.role.as_str(), &c.spec))
        .collect();
    assert_eq!(
        by_role.keys().copied().collect::<Vec<_>>(),
        [
            "endpoint:chat.example.com.",
            "lever",
            "primary:chat.example.com."
        ]
    );
    assert_eq!(
        by_role["endpoint:chat.example.com."],
        &CheckSpec::Endpoint {
            protocol: "HTTPS".into(),
            ip: Some("192.0.2.10".into()),
            host: None,
            port: 443,
            path: Some("/health".into()),
            failure_threshold: 3,
            request_interval: 30,
        }
    );
    assert_eq!(
        by_role["primary:chat.example.com."],
        &CheckSpec::Calculated {
            children: vec!["endpoint:chat.example.com.".into(), "lever".into()],
            threshold: 2,
        }
    );
    assert!(matches!(
        by_role["lever"],
        CheckSpec::Metric { insufficient_data, .. } if insufficient_data == "LastKnownStatus"
    ));
    // Under the alarm lever the PRIMARY record always answers the primary value: the health
    // check, not a record edit, moves DNS (whatever side is asked for).
    assert_eq!(want.pairs[0].primary_value, "192.0.2.10");
    assert_eq!(
        want.pairs[0].primary_check.as_deref(),
        Some("primary:chat.example.com.")
    );
    assert_eq!(want.pairs[1].primary_check.as_deref(), Some("lever"));
}

#[test]
fn record_edit_points_the_primary_record_at_the_serving_side() {
    let spec = dns(
        DnsLever::RecordEdit,
        vec![record("chat.example.com", Some(HealthCheckProtocol::Tcp))],
    );
    let peace = desired(&spec, None, ActiveRegion::Primary);
    assert_eq!(peace.checks.len(), 1, "the endpoint check only, no lever");
    assert!(matches!(
        &peace.checks[0].spec,
        CheckSpec::Endpoint {
            path: None,
            port: 80,
            ..
        }
    ));
    assert_eq!(peace.pairs[0].primary_value, "192.0.2.10");
    assert_eq!(
        peace.pairs[0].primary_check.as_deref(),
        Some("endpoint:chat.example.com.")
    );
    let failed_over = desired(&spec, None, ActiveRegion::Secondary);
    assert_eq!(failed_over.pairs[0].primary_value, "198.51.100.10");
    assert_eq!(failed_over.pairs[0].primary_check, None);
}

/// Health checks, as a table: what is read -> what is done.
#[test]
fn health_checks_are_created_repaired_replaced_and_deleted_by_the_rule() {
    let want = desired(
        &dns(
            DnsLever::Alarm,
            vec![record("chat.example.com", Some(HealthCheckProtocol::Https))],
        ),
        Some(&lever()),
        ActiveRegion::Primary,
    );
    let spec = |role: &str| {
        want.checks
            .iter()
            .find(|c| c.role == role)
            .map(|c| c.spec.clone())
            .expect("declared")
    };
    let endpoint = "endpoint:chat.example.com.";
    let calculated = CheckSpec::Calculated {
        children: vec!["h-end".into(), "h-lever".into()],
        threshold: 2,
    };
    let in_place = vec![
        observed("h-end", Some(endpoint), spec(endpoint)),
        observed("h-lever", Some("lever"), spec("lever")),
        observed(
            "h-calc",
            Some("primary:chat.example.com."),
            calculated.clone(),
        ),
    ];
    let moved_port = {
        let mut checks = in_place.clone();
        if let CheckSpec::Endpoint { port, .. } = &mut checks[0].spec {
            *port = 8443;
        }
        checks
    };
    let http = {
        let mut checks = in_place.clone();
        if let CheckSpec::Endpoint { protocol, .. } = &mut checks[0].spec {
            *protocol = "HTTP".into();
        }
        checks
    };
    let with = |extra: ObservedCheck| {
        let mut checks = in_place.clone();
        checks.push(extra);
        checks
    };
    let stale = observed("h-old", Some("endpoint:old.example.com."), spec(endpoint));
    // (what, read, claim, withheld, writes, deletes, kept)
    type Case<'a> = (
        &'a str,
        Vec<ObservedCheck>,
        Claim,
        Option<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        usize,
    );
    let cases: Vec<Case> = vec![
        (
            "nothing there: leaves first, then the calculated check",
            vec![],
            claim(&[]),
            None,
            vec![
                "create lever",
                "create endpoint:chat.example.com.",
                "create primary:chat.example.com.",
            ],
            vec![],
            0,
        ),
        (
            "all in place: nothing",
            in_place.clone(),
            claim(&[]),
            None,
            vec![],
            vec![],
            0,
        ),
        (
            "a port changed by hand: updated in place",
            moved_port,
            claim(&[]),
            None,
            vec!["update endpoint:chat.example.com."],
            vec![],
            0,
        ),
        (
            "a protocol changed: Route 53 cannot update it, so replaced",
            http,
            claim(&[]),
            None,
            vec!["replace endpoint:chat.example.com."],
            vec!["delete endpoint:chat.example.com."],
            0,
        ),
        (
            "a record removed from the spec: its check goes (recorded)",
            with(stale.clone()),
            claim(&["endpoint:old.example.com."]),
            None,
            vec![],
            vec!["delete endpoint:old.example.com."],
            0,
        ),
        (
            "a check the plan never recorded: kept",
            with(stale.clone()),
            claim(&[]),
            None,
            vec![],
            vec![],
            1,
        ),
        (
            "deletions withheld (a manifest did not load): kept",
            with(stale),
            claim(&["endpoint:old.example.com."]),
            Some("a manifest could not be loaded"),
            vec![],
            vec![],
            1,
        ),
        (
            "a second check of a role (an interrupted create): deleted",
            with(observed("h-zz", Some(endpoint), spec(endpoint))),
            claim(&[]),
            None,
            vec![],
            vec!["delete endpoint:chat.example.com."],
            0,
        ),
        (
            "the owner tag without a role tag: left alone",
            with(observed("h-x", None, spec(endpoint))),
            claim(&[]),
            None,
            vec![],
            vec![],
            1,
        ),
    ];
    for (what, read, claim, withheld, writes, deletes, kept) in cases {
        let plan = plan_checks(OWNER, &want.checks, &read, &claim, withheld);
        assert_eq!(roles(&plan.writes), writes, "{what}");
        assert_eq!(roles(&plan.deletes), deletes, "{what}");
        assert_eq!(plan.kept.len(), kept, "{what}: {:?}", plan.kept);
    }
}

#[test]
fn a_calculated_check_naming_a_foreign_child_is_repaired() {
    let want = desired(
        &dns(
            DnsLever::Alarm,
            vec![record("chat.example.com", Some(HealthCheckProtocol::Https))],
        ),
        Some(&lever()),
        ActiveRegion::Primary,
    );
    let mut read: Vec<ObservedCheck> = want
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| observed(&format!("h{i}"), Some(&c.role), c.spec.clone()))
        .collect();
    for check in &mut read {
        if let CheckSpec::Calculated { children, .. } = &mut check.spec {
            *children = vec!["h0".into(), "someone-elses".into()];
        }
    }
    let plan = plan_checks(OWNER, &want.checks, &read, &claim(&[]), None);
    assert_eq!(roles(&plan.writes), ["update primary:chat.example.com."]);
}

fn set(failover: &str, value: &str, check: Option<&str>) -> RecordSet {
    RecordSet {
        name: "chat.example.com.".into(),
        record_type: "A".into(),
        set_identifier: Some(set_identifier(OWNER, failover)),
        failover: Some(failover.into()),
        ttl: Some(60),
        values: vec![value.into()],
        health_check_id: check.map(str::to_string),
        alias: false,
    }
}

/// Records, as a table: what is read -> which changes go into the batch.
#[test]
fn record_pairs_are_upserted_when_they_differ_and_foreign_sets_are_never_touched() {
    let want = desired(
        &dns(DnsLever::Alarm, vec![record("chat.example.com", None)]),
        Some(&lever()),
        ActiveRegion::Primary,
    );
    let ids = BTreeMap::from([("lever".to_string(), "h-lever".to_string())]);
    let primary = set("PRIMARY", "192.0.2.10", Some("h-lever"));
    let secondary = set("SECONDARY", "198.51.100.10", None);
    let mut old = set("PRIMARY", "192.0.2.10", Some("h-lever"));
    old.name = "old.example.com.".into();
    let mut ttl = primary.clone();
    ttl.ttl = Some(300);
    let simple = RecordSet {
        set_identifier: None,
        failover: None,
        ..primary.clone()
    };
    // (what, read, claim, changes, conflicts, kept)
    type Case<'a> = (&'a str, Vec<RecordSet>, Claim, Vec<String>, usize, usize);
    let cases: Vec<Case> = vec![
        (
            "nothing there: both sets",
            vec![],
            claim(&[]),
            vec![
                format!("+{}", primary.describe()),
                format!("+{}", secondary.describe()),
            ],
            0,
            0,
        ),
        (
            "in place: nothing",
            vec![primary.clone(), secondary.clone()],
            claim(&[]),
            vec![],
            0,
            0,
        ),
        (
            "a TTL changed by hand: the PRIMARY set upserted",
            vec![ttl, secondary.clone()],
            claim(&[]),
            vec![format!("+{}", primary.describe())],
            0,
            0,
        ),
        (
            "someone's simple record at the name: conflict, nothing written",
            vec![simple],
            claim(&[]),
            vec![],
            1,
            0,
        ),
        (
            "a pair removed from the spec (recorded): deleted",
            vec![primary.clone(), secondary.clone(), old.clone()],
            claim(&["old.example.com. A"]),
            vec![format!("-{}", old.describe())],
            0,
            0,
        ),
        (
            "a pair of ours never recorded: kept",
            vec![primary.clone(), secondary.clone(), old],
            claim(&[]),
            vec![],
            0,
            1,
        ),
    ];
    for (what, read, claim, changes, conflicts, kept) in cases {
        let plan = plan_records(OWNER, &want.pairs, &ids, &read, &claim, None);
        let shown: Vec<String> = plan
            .changes
            .iter()
            .map(|c| match c {
                RecordChange::Upsert(r) => format!("+{}", r.describe()),
                RecordChange::Delete(r) => format!("-{}", r.describe()),
            })
            .collect();
        assert_eq!(shown, changes, "{what}");
        assert_eq!(
            plan.conflicts.len(),
            conflicts,
            "{what}: {:?}",
            plan.conflicts
        );
        assert_eq!(plan.kept.len(), kept, "{what}: {:?}", plan.kept);
    }
}

#[test]
fn a_check_not_created_yet_shows_as_new_in_a_preview() {
    let want = desired(
        &dns(DnsLever::Alarm, vec![record("chat.example.com", None)]),
        Some(&lever()),
        ActiveRegion::Primary,
    );
    let [primary, _] = pair_sets(OWNER, &want.pairs[0], &BTreeMap::new());
    assert_eq!(primary.health_check_id.as_deref(), Some("<new lever>"));
}

#[test]
fn record_edit_reads_the_side_from_the_primary_records() {
    let spec = dns(DnsLever::RecordEdit, vec![record("chat.example.com", None)]);
    let pairs = desired(&spec, None, ActiveRegion::Primary).pairs;
    let side = |read: Vec<RecordSet>| records_side(OWNER, &pairs, &read, &spec.records);
    assert_eq!(
        side(vec![set("PRIMARY", "192.0.2.10", None)]),
        Some(Reading::On(ActiveRegion::Primary))
    );
    assert_eq!(
        side(vec![set("PRIMARY", "198.51.100.10", None)]),
        Some(Reading::On(ActiveRegion::Secondary))
    );
    assert_eq!(side(vec![]), None, "missing: peacetime creates it");
    assert!(matches!(
        side(vec![set("PRIMARY", "203.0.113.1", None)]),
        Some(Reading::Split(_))
    ));
}

#[test]
fn footprint_names_read_back() {
    assert_eq!(
        parse_footprint(&record_footprint("Z1", "chat.example.com. A")),
        Footprinted::Record {
            zone: "Z1".into(),
            name: "chat.example.com.".into(),
            record_type: "A".into()
        }
    );
    assert_eq!(
        parse_footprint(&check_footprint("endpoint:chat.example.com.")),
        Footprinted::Check {
            role: "endpoint:chat.example.com.".into()
        }
    );
    assert_eq!(
        parse_footprint("dialtone/cc/dr/dns-lever"),
        Footprinted::Other
    );
}

//! Route 53 for a FailoverPlan, pure: the health checks and failover record pairs a plan's `dns`
//! declares, and what to create, change or delete given what Route 53 shows. No I/O: the caller
//! reads Route 53, calls these, and carries out the result in order (leaf health checks, then the
//! CALCULATED ones that name them, then one change batch for the records, then deletions).

use std::collections::{BTreeMap, BTreeSet};

use crate::api::failover_plan::{
    ActiveRegion, DnsFailover, DnsLever, DnsRecord, DnsRecordType, HealthCheckProtocol,
};
use crate::plan::deletion::{
    Claim, Decision as DeletionDecision, Facts, decide as decide_deletion,
};
use crate::plan::failover::Reading;

/// Tag naming what a health check is for, within its plan: `endpoint:<record>`, `lever`,
/// `primary:<record>`.
pub const CHECK_ROLE_TAG: &str = "dialtone.io/role";
/// Route 53 probes an endpoint every 30 seconds (10 is the fast, pricier option).
const REQUEST_INTERVAL: i32 = 30;
const DEFAULT_FAILURE_THRESHOLD: i32 = 3;

/// A health check's configuration, as far as dialtone sets it. A CALCULATED check's children are
/// roles in what is desired and health check ids in what is read; [`children_as_roles`] maps the
/// latter for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckSpec {
    Endpoint {
        /// HTTP, HTTPS or TCP.
        protocol: String,
        ip: Option<String>,
        host: Option<String>,
        port: i32,
        path: Option<String>,
        failure_threshold: i32,
        request_interval: i32,
    },
    /// CLOUDWATCH_METRIC on an alarm.
    Metric {
        region: String,
        alarm: String,
        insufficient_data: String,
    },
    Calculated {
        children: Vec<String>,
        threshold: i32,
    },
}

impl CheckSpec {
    /// Route 53's type name.
    pub fn type_name(&self) -> &str {
        match self {
            CheckSpec::Endpoint { protocol, .. } => protocol,
            CheckSpec::Metric { .. } => "CLOUDWATCH_METRIC",
            CheckSpec::Calculated { .. } => "CALCULATED",
        }
    }

    /// What UpdateHealthCheck cannot change: the type and the request interval.
    fn replaceable_by(&self, other: &CheckSpec) -> bool {
        match (self, other) {
            (
                CheckSpec::Endpoint {
                    protocol: a,
                    request_interval: x,
                    ..
                },
                CheckSpec::Endpoint {
                    protocol: b,
                    request_interval: y,
                    ..
                },
            ) => a == b && x == y,
            (CheckSpec::Metric { .. }, CheckSpec::Metric { .. })
            | (CheckSpec::Calculated { .. }, CheckSpec::Calculated { .. }) => true,
            _ => false,
        }
    }

    /// One line for plans and logs.
    pub fn describe(&self) -> String {
        match self {
            CheckSpec::Endpoint {
                protocol,
                ip,
                host,
                port,
                path,
                failure_threshold,
                ..
            } => format!(
                "{protocol} {}:{port}{} (failure threshold {failure_threshold})",
                ip.as_deref().or(host.as_deref()).unwrap_or("?"),
                path.as_deref().unwrap_or("")
            ),
            CheckSpec::Metric {
                region,
                alarm,
                insufficient_data,
            } => format!(
                "CLOUDWATCH_METRIC on alarm {alarm} in {region} (insufficient data: {insufficient_data})"
            ),
            CheckSpec::Calculated {
                children,
                threshold,
            } => format!(
                "CALCULATED: {threshold} of [{}] healthy",
                children.join(", ")
            ),
        }
    }
}

/// A health check the plan declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredCheck {
    pub role: String,
    pub spec: CheckSpec,
}

/// A health check as read, with the role its tag gives it (None: not tagged by dialtone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedCheck {
    pub id: String,
    pub version: i64,
    pub caller_reference: String,
    pub role: Option<String>,
    pub spec: CheckSpec,
}

/// A record set as Route 53 holds it (and as dialtone writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSet {
    /// Lower case, with the trailing dot, `*` as `\052` (as Route 53 returns names).
    pub name: String,
    pub record_type: String,
    pub set_identifier: Option<String>,
    /// `PRIMARY` or `SECONDARY` for failover records.
    pub failover: Option<String>,
    pub ttl: Option<i64>,
    pub values: Vec<String>,
    pub health_check_id: Option<String>,
    /// An alias record (dialtone never writes one).
    pub alias: bool,
}

impl RecordSet {
    /// `name type`, how footprints and messages name a record pair.
    pub fn key(&self) -> String {
        record_key(&self.name, &self.record_type)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} {} {} {} TTL {} -> {}{}",
            self.name,
            self.record_type,
            self.failover.as_deref().unwrap_or("-"),
            self.set_identifier.as_deref().unwrap_or("-"),
            self.ttl
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            self.values.join(","),
            self.health_check_id
                .as_deref()
                .map(|h| format!(" (health check {h})"))
                .unwrap_or_default()
        )
    }
}

/// `name type` of a record pair.
pub fn record_key(name: &str, record_type: &str) -> String {
    format!("{name} {record_type}")
}

/// A record name as Route 53 returns it: lower case, one trailing dot, `*` escaped as `\052`.
pub fn canonical_name(name: &str) -> String {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    format!("{}.", lower.replace('*', "\\052"))
}

fn type_name(record_type: DnsRecordType) -> &'static str {
    match record_type {
        DnsRecordType::A => "A",
        DnsRecordType::Aaaa => "AAAA",
        DnsRecordType::Cname => "CNAME",
    }
}

/// How a plan's footprint names what it wrote in Route 53 (records have no tags, and checks get
/// new ids when replaced: the footprint remembers record pairs by zone, name and type, and checks
/// by role).
pub const FOOTPRINT_PREFIX: &str = "route53:";

pub fn record_footprint(zone: &str, key: &str) -> String {
    format!("{FOOTPRINT_PREFIX}record:{zone}:{key}")
}

pub fn check_footprint(role: &str) -> String {
    format!("{FOOTPRINT_PREFIX}check:{role}")
}

/// A footprint name read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Footprinted {
    /// A record pair: zone, name, type.
    Record {
        zone: String,
        name: String,
        record_type: String,
    },
    Check {
        role: String,
    },
    /// Not Route 53's (a CloudWatch alarm name).
    Other,
}

pub fn parse_footprint(name: &str) -> Footprinted {
    let Some(rest) = name.strip_prefix(FOOTPRINT_PREFIX) else {
        return Footprinted::Other;
    };
    if let Some(role) = rest.strip_prefix("check:") {
        return Footprinted::Check { role: role.into() };
    }
    let record = rest.strip_prefix("record:").and_then(|r| {
        let (zone, key) = r.split_once(':')?;
        let (name, record_type) = key.rsplit_once(' ')?;
        Some(Footprinted::Record {
            zone: zone.into(),
            name: name.into(),
            record_type: record_type.into(),
        })
    });
    record.unwrap_or(Footprinted::Other)
}

/// Role of the endpoint health check of a record, of the lever check, of a record's CALCULATED
/// check.
pub fn endpoint_role(record: &str) -> String {
    format!("endpoint:{}", canonical_name(record))
}
pub const LEVER_ROLE: &str = "lever";
pub fn primary_role(record: &str) -> String {
    format!("primary:{}", canonical_name(record))
}

/// The set identifiers of a plan's pair: they are how dialtone knows a record set is its own
/// (records have no tags).
pub fn set_identifier(owner: &str, failover: &str) -> String {
    format!("dialtone/{owner}/{}", failover.to_ascii_lowercase())
}

/// A record pair the plan declares; `primary_check` is a health check role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredPair {
    pub name: String,
    pub record_type: String,
    pub ttl: i64,
    /// The value the PRIMARY record answers.
    pub primary_value: String,
    pub secondary_value: String,
    pub primary_check: Option<String>,
}

impl DesiredPair {
    pub fn key(&self) -> String {
        record_key(&self.name, &self.record_type)
    }
}

/// What a plan's `dns` declares in Route 53.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredDns {
    pub checks: Vec<DesiredCheck>,
    pub pairs: Vec<DesiredPair>,
}

/// The lever alarm a `lever: alarm` plan's metric health check watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeverAlarm {
    pub region: String,
    pub name: String,
}

/// Whether a value is an IP address (A, AAAA) rather than a host name (CNAME).
fn is_ip(value: &str) -> bool {
    value.parse::<std::net::IpAddr>().is_ok()
}

fn endpoint_spec(record: &DnsRecord) -> Option<CheckSpec> {
    let check = record.health_check.as_ref()?;
    let protocol = match check.protocol {
        HealthCheckProtocol::Http => "HTTP",
        HealthCheckProtocol::Https => "HTTPS",
        HealthCheckProtocol::Tcp => "TCP",
    };
    let port = check.port.unwrap_or(match check.protocol {
        HealthCheckProtocol::Https => 443,
        _ => 80,
    });
    let target = record.primary.trim_end_matches('.').to_string();
    let (ip, host) = if is_ip(&target) {
        (Some(target), None)
    } else {
        (None, Some(target))
    };
    Some(CheckSpec::Endpoint {
        protocol: protocol.into(),
        ip,
        host,
        port,
        path: match check.protocol {
            HealthCheckProtocol::Tcp => None,
            _ => check.path.clone(),
        },
        failure_threshold: check.failure_threshold.unwrap_or(DEFAULT_FAILURE_THRESHOLD),
        request_interval: REQUEST_INTERVAL,
    })
}

/// What `dns` declares. `lever` is the lever alarm for `lever: alarm`; `serving` is the side the
/// PRIMARY records answer for `lever: recordEdit` (the side in effect; a failover's DNS step asks
/// for the other). Under `lever: alarm` the PRIMARY record always answers the primary value, its
/// health check requiring the lever (and the endpoint's own check, through a CALCULATED check).
pub fn desired(dns: &DnsFailover, lever: Option<&LeverAlarm>, serving: ActiveRegion) -> DesiredDns {
    let mut checks = Vec::new();
    let mut pairs = Vec::new();
    let lever = match (dns.lever, lever) {
        (DnsLever::Alarm, Some(alarm)) => {
            checks.push(DesiredCheck {
                role: LEVER_ROLE.into(),
                spec: CheckSpec::Metric {
                    region: alarm.region.clone(),
                    alarm: alarm.name.clone(),
                    // Route 53 keeps answering what the lever last said while the alarm has no data.
                    insufficient_data: "LastKnownStatus".into(),
                },
            });
            true
        }
        _ => false,
    };
    for record in &dns.records {
        let endpoint = endpoint_spec(record).map(|spec| {
            let role = endpoint_role(&record.name);
            checks.push(DesiredCheck {
                role: role.clone(),
                spec,
            });
            role
        });
        let (primary_value, primary_check) = if lever {
            let check = match endpoint {
                Some(endpoint) => {
                    let role = primary_role(&record.name);
                    checks.push(DesiredCheck {
                        role: role.clone(),
                        spec: CheckSpec::Calculated {
                            children: sorted(vec![endpoint, LEVER_ROLE.to_string()]),
                            threshold: 2,
                        },
                    });
                    role
                }
                None => LEVER_ROLE.to_string(),
            };
            (record.primary.clone(), Some(check))
        } else {
            match serving {
                ActiveRegion::Primary => (record.primary.clone(), endpoint),
                // Failed over by a record edit: the PRIMARY record answers the secondary value,
                // whatever the primary endpoint's health.
                ActiveRegion::Secondary => (record.secondary.clone(), None),
            }
        };
        pairs.push(DesiredPair {
            name: canonical_name(&record.name),
            record_type: type_name(record.record_type).into(),
            ttl: record.ttl,
            primary_value,
            secondary_value: record.secondary.clone(),
            primary_check,
        });
    }
    DesiredDns { checks, pairs }
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

/// A read CALCULATED check's children as roles (ids of checks that are not the plan's own stay
/// as `id:<id>`, which no desired check has: drift).
pub fn children_as_roles(spec: &CheckSpec, roles_by_id: &BTreeMap<String, String>) -> CheckSpec {
    match spec {
        CheckSpec::Calculated {
            children,
            threshold,
        } => CheckSpec::Calculated {
            children: sorted(
                children
                    .iter()
                    .map(|id| {
                        roles_by_id
                            .get(id)
                            .cloned()
                            .unwrap_or_else(|| format!("id:{id}"))
                    })
                    .collect(),
            ),
            threshold: *threshold,
        },
        other => other.clone(),
    }
}

/// What to do about one health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckAction {
    Create {
        role: String,
        spec: CheckSpec,
    },
    Update {
        id: String,
        version: i64,
        role: String,
        spec: CheckSpec,
    },
    /// A change UpdateHealthCheck cannot make (type, request interval): a new check, the old one
    /// deleted once nothing points at it.
    Replace {
        id: String,
        role: String,
        spec: CheckSpec,
    },
    Delete {
        id: String,
        role: String,
        why: String,
    },
}

impl CheckAction {
    pub fn role(&self) -> &str {
        match self {
            CheckAction::Create { role, .. }
            | CheckAction::Update { role, .. }
            | CheckAction::Replace { role, .. }
            | CheckAction::Delete { role, .. } => role,
        }
    }
}

/// The health check actions of a plan, and what it keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckPlan {
    /// Creates, updates and replacements: leaves (endpoint, metric) before the CALCULATED checks
    /// that name them.
    pub writes: Vec<CheckAction>,
    /// Deletions, after the records stop pointing at them: CALCULATED checks before their children.
    pub deletes: Vec<CheckAction>,
    /// The ids of the plan's checks by role, as they are before any write.
    pub ids: BTreeMap<String, String>,
    /// Owned checks the deletion rule keeps, and why.
    pub kept: Vec<(String, String)>,
}

/// The health check plan: `observed` are the checks carrying the plan's owner tag (read now).
/// `claim` holds the roles the plan declared before (its footprint): only those are deleted when
/// no longer declared.
pub fn plan_checks(
    owner: &str,
    desired: &[DesiredCheck],
    observed: &[ObservedCheck],
    claim: &Claim,
    withheld: Option<&str>,
) -> CheckPlan {
    let mut plan = CheckPlan::default();
    // One check per role: the first read (by id) stays, any other is a leftover (a crash between
    // a create and its tags) and goes.
    let mut by_role: BTreeMap<&str, &ObservedCheck> = BTreeMap::new();
    let mut extra = Vec::new();
    let mut observed: Vec<&ObservedCheck> = observed.iter().collect();
    observed.sort_by(|a, b| a.id.cmp(&b.id));
    for check in observed {
        match check.role.as_deref() {
            Some(role) if !by_role.contains_key(role) => {
                by_role.insert(role, check);
            }
            _ => extra.push(check),
        }
    }
    let roles_by_id: BTreeMap<String, String> = by_role
        .iter()
        .map(|(role, check)| (check.id.clone(), role.to_string()))
        .collect();
    plan.ids = by_role
        .iter()
        .map(|(role, check)| (role.to_string(), check.id.clone()))
        .collect();
    let owner_text = format!("FailoverPlan {owner}");
    let rank = |spec: &CheckSpec| matches!(spec, CheckSpec::Calculated { .. });
    let mut desired: Vec<&DesiredCheck> = desired.iter().collect();
    desired.sort_by_key(|d| rank(&d.spec));
    let declared: BTreeSet<&str> = desired.iter().map(|d| d.role.as_str()).collect();
    for want in &desired {
        match by_role.get(want.role.as_str()) {
            None => plan.writes.push(CheckAction::Create {
                role: want.role.clone(),
                spec: want.spec.clone(),
            }),
            Some(have) => {
                let read = children_as_roles(&have.spec, &roles_by_id);
                if read == want.spec {
                    continue;
                }
                if have.spec.replaceable_by(&want.spec) {
                    plan.writes.push(CheckAction::Update {
                        id: have.id.clone(),
                        version: have.version,
                        role: want.role.clone(),
                        spec: want.spec.clone(),
                    });
                } else {
                    plan.writes.push(CheckAction::Replace {
                        id: have.id.clone(),
                        role: want.role.clone(),
                        spec: want.spec.clone(),
                    });
                    plan.deletes.push(CheckAction::Delete {
                        id: have.id.clone(),
                        role: want.role.clone(),
                        why: format!(
                            "replaced: Route 53 cannot change a {} check into {}",
                            have.spec.type_name(),
                            want.spec.describe()
                        ),
                    });
                }
            }
        }
    }
    let facts = Facts {
        owner: &owner_text,
        claim,
        manage: true,
        wanted_by: None,
        withheld,
        fresh: true,
    };
    let mut settle =
        |check: &ObservedCheck, role: &str, decision: DeletionDecision, why: String| match decision
        {
            DeletionDecision::Delete => plan.deletes.push(CheckAction::Delete {
                id: check.id.clone(),
                role: role.to_string(),
                why,
            }),
            DeletionDecision::Keep(why) | DeletionDecision::Orphan(why) => {
                plan.kept.push((check.id.clone(), why))
            }
            DeletionDecision::ConfirmOwnership => plan
                .kept
                .push((check.id.clone(), "ownership not confirmed".into())),
        };
    for (role, check) in &by_role {
        if !declared.contains(role) {
            let decision = decide_deletion(role, facts);
            settle(
                check,
                role,
                decision,
                format!("{role} is no longer declared"),
            );
        }
    }
    for check in extra {
        match check.role.as_deref() {
            // Tagged by hand, or tags edited: not provably a check dialtone made for a role.
            None => settle(
                check,
                "",
                DeletionDecision::Keep(format!(
                    "carries the owner tag but no {CHECK_ROLE_TAG} tag: left alone"
                )),
                String::new(),
            ),
            // A second check of a declared role: the plan's own leftover of an interrupted create.
            Some(role) if declared.contains(role) => {
                let decision = match withheld {
                    Some(why) => DeletionDecision::Keep(why.to_string()),
                    None => DeletionDecision::Delete,
                };
                settle(
                    check,
                    role,
                    decision,
                    format!("a second check for {role} (left by an interrupted create)"),
                );
            }
            Some(role) => {
                let decision = decide_deletion(role, facts);
                settle(
                    check,
                    role,
                    decision,
                    format!("{role} is no longer declared"),
                );
            }
        }
    }
    // CALCULATED checks go before the checks they name.
    plan.deletes.sort_by_key(
        |d| !matches!(d, CheckAction::Delete { role, .. } if role.starts_with("primary:")),
    );
    plan
}

/// The records of a plan: the two sets of each declared pair with health check ids resolved
/// (`ids` by role; a check not created yet shows as `<new ROLE>`).
pub fn pair_sets(
    owner: &str,
    pair: &DesiredPair,
    ids: &BTreeMap<String, String>,
) -> [RecordSet; 2] {
    let set = |failover: &str, value: &str, check: Option<&String>| RecordSet {
        name: pair.name.clone(),
        record_type: pair.record_type.clone(),
        set_identifier: Some(set_identifier(owner, failover)),
        failover: Some(failover.into()),
        ttl: Some(pair.ttl),
        values: vec![value.to_string()],
        health_check_id: check.map(|role| {
            ids.get(role)
                .cloned()
                .unwrap_or_else(|| format!("<new {role}>"))
        }),
        alias: false,
    };
    [
        set("PRIMARY", &pair.primary_value, pair.primary_check.as_ref()),
        set("SECONDARY", &pair.secondary_value, None),
    ]
}

/// One change of a change batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordChange {
    Upsert(RecordSet),
    Delete(RecordSet),
}

/// The record changes of a plan, and the pairs it cannot write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordPlan {
    pub changes: Vec<RecordChange>,
    /// `name type: why` of pairs left alone because record sets dialtone did not write are there.
    pub conflicts: Vec<String>,
    /// `name type: why` of the plan's own records kept by the deletion rule.
    pub kept: Vec<String>,
}

/// The record plan. `observed`: the record sets read at the names and types of the declared and
/// the recorded pairs. `claim`: the record keys the plan declared before (its footprint).
pub fn plan_records(
    owner: &str,
    pairs: &[DesiredPair],
    ids: &BTreeMap<String, String>,
    observed: &[RecordSet],
    claim: &Claim,
    withheld: Option<&str>,
) -> RecordPlan {
    let ours: BTreeSet<String> = ["PRIMARY", "SECONDARY"]
        .iter()
        .map(|f| set_identifier(owner, f))
        .collect();
    let is_ours = |set: &RecordSet| {
        set.set_identifier
            .as_ref()
            .is_some_and(|s| ours.contains(s))
    };
    let mut plan = RecordPlan::default();
    let declared: BTreeSet<String> = pairs.iter().map(DesiredPair::key).collect();
    for pair in pairs {
        let here: Vec<&RecordSet> = observed
            .iter()
            .filter(|r| r.name == pair.name && r.record_type == pair.record_type)
            .collect();
        let foreign: Vec<String> = here
            .iter()
            .filter(|r| !is_ours(r))
            .map(|r| {
                r.set_identifier
                    .clone()
                    .unwrap_or_else(|| "a simple record".into())
            })
            .collect();
        if !foreign.is_empty() {
            plan.conflicts.push(format!(
                "{}: Route 53 has record sets dialtone did not write ({}); dialtone never touches them: remove them or change spec.dns.records",
                pair.key(),
                foreign.join(", ")
            ));
            continue;
        }
        for want in pair_sets(owner, pair, ids) {
            if !here.iter().any(|have| **have == want) {
                plan.changes.push(RecordChange::Upsert(want));
            }
        }
    }
    let owner_text = format!("FailoverPlan {owner}");
    for set in observed.iter().filter(|r| is_ours(r)) {
        let key = set.key();
        if declared.contains(&key) {
            continue;
        }
        let facts = Facts {
            owner: &owner_text,
            claim,
            manage: true,
            wanted_by: None,
            withheld,
            fresh: true,
        };
        match decide_deletion(&key, facts) {
            DeletionDecision::Delete => plan.changes.push(RecordChange::Delete(set.clone())),
            DeletionDecision::Keep(why) | DeletionDecision::Orphan(why) => {
                plan.kept.push(format!("{key}: {why}"))
            }
            DeletionDecision::ConfirmOwnership => {
                plan.kept.push(format!("{key}: ownership not confirmed"))
            }
        }
    }
    plan
}

/// The side the records serve under `lever: recordEdit`: every declared pair's PRIMARY record
/// answering the primary value (or all the secondary value). None while a PRIMARY record is
/// missing (peacetime creates it).
pub fn records_side(
    owner: &str,
    pairs: &[DesiredPair],
    observed: &[RecordSet],
    records: &[DnsRecord],
) -> Option<Reading> {
    let primary_id = set_identifier(owner, "PRIMARY");
    let mut sides = BTreeSet::new();
    for (pair, record) in pairs.iter().zip(records) {
        let set = observed.iter().find(|r| {
            r.name == pair.name
                && r.record_type == pair.record_type
                && r.set_identifier.as_deref() == Some(primary_id.as_str())
        })?;
        let value = set.values.first().map(String::as_str);
        if value == Some(record.primary.as_str()) {
            sides.insert("primary");
        } else if value == Some(record.secondary.as_str()) {
            sides.insert("secondary");
        } else {
            return Some(Reading::Split(format!(
                "the PRIMARY record of {} answers {}, neither side's value",
                pair.key(),
                set.values.join(",")
            )));
        }
    }
    Some(
        match (sides.contains("primary"), sides.contains("secondary")) {
            (true, true) => {
                Reading::Split("some records answer the primary side, some the secondary".into())
            }
            (false, true) => Reading::On(ActiveRegion::Secondary),
            _ => Reading::On(ActiveRegion::Primary),
        },
    )
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;

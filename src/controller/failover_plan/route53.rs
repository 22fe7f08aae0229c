//! Route 53 for a FailoverPlan. Peacetime: the failover record pairs and the health checks as
//! declared (created, repaired, and deleted by the one deletion rule). `lever: recordEdit`: the
//! records a failover rewrites. Every Route 53 call is a control-plane call (us-east-1), which is
//! why `lever: alarm` makes none of them during a failover.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::*;
use crate::api::failover_plan::DnsFailover;
use crate::aws::ROUTE53_REGION;
use crate::aws::route53::Route53;
use crate::plan::dns::{
    self, CHECK_ROLE_TAG, CheckAction, CheckSpec, DesiredDns, DesiredPair, Footprinted,
    ObservedCheck, RecordChange, RecordSet,
};

/// Caller references of the health checks dialtone creates start with this; only those checks'
/// tags are read (an account may hold many health checks).
const CALLER_PREFIX: &str = "dialtone-";
/// A caller reference is refused once used by a deleted check: the next of this many is tried.
const MAX_REFERENCES: usize = 20;
/// How long a change batch may stay PENDING before the sweep moves on (the next one reads the
/// records back).
const INSYNC_WAIT: Duration = Duration::from_secs(120);

/// What was read of Route 53 for a plan.
pub(super) struct DnsRead {
    /// The health checks carrying the plan's owner tag, with their roles.
    pub checks: Result<Vec<ObservedCheck>, AwsError>,
    /// The record sets at the names and types of the declared pairs, and of the pairs the plan
    /// recorded in the same zone.
    pub records: Result<Vec<RecordSet>, AwsError>,
}

/// What peacetime left: the checks by role (for the records a failover writes) and the footprint.
pub(super) struct DnsPeace {
    pub ids: BTreeMap<String, String>,
    pub footprint: Vec<String>,
}

fn route53_call(step: &'static str, operation: &'static str, detail: String) -> Call {
    Call {
        step,
        operation,
        region: ROUTE53_REGION.into(),
        detail,
    }
}

/// One health check `plan_checks` deletes: the call (shown by `plan`) and, with `Mode::Apply`,
/// the DeleteHealthCheck itself, logged (None otherwise).
async fn delete_check(
    route53: &Route53,
    progress: &mut Progress<'_>,
    owner: &str,
    step: &'static str,
    (id, role, why): (&str, &str, &str),
    mode: Mode,
) -> (Call, Option<Result<(), AwsError>>) {
    let call = route53_call(
        step,
        "DeleteHealthCheck",
        format!("delete health check {role} ({id}): {why}"),
    );
    if mode != Mode::Apply {
        return (call, None);
    }
    let result = route53.delete_check(id).await;
    progress.log(
        Write {
            owner,
            verb: "delete",
            name: role,
            line: format!("deleted health check {role} ({id}): {why}"),
        },
        &result,
    );
    (call, Some(result))
}

/// The pairs the plan recorded in `zone` (its footprint), as (name, type).
fn recorded_pairs(recorded: &[String], zone: &str) -> Vec<(String, String)> {
    recorded
        .iter()
        .filter_map(|name| match dns::parse_footprint(name) {
            Footprinted::Record {
                zone: z,
                name,
                record_type,
            } if z == zone => Some((name, record_type)),
            _ => None,
        })
        .collect()
}

fn recorded_roles(recorded: &[String]) -> Claim {
    Claim {
        prefix: None,
        recorded: recorded
            .iter()
            .filter_map(|name| match dns::parse_footprint(name) {
                Footprinted::Check { role } => Some(role),
                _ => None,
            })
            .collect(),
    }
}

fn recorded_records(recorded: &[String], zone: &str) -> Claim {
    Claim {
        prefix: None,
        recorded: recorded_pairs(recorded, zone)
            .into_iter()
            .map(|(name, record_type)| dns::record_key(&name, &record_type))
            .collect(),
    }
}

/// A CALCULATED check's children as ids (a role not created yet, in a preview, as `<new ROLE>`).
fn resolved(spec: &CheckSpec, ids: &BTreeMap<String, String>) -> CheckSpec {
    match spec {
        CheckSpec::Calculated {
            children,
            threshold,
        } => CheckSpec::Calculated {
            children: children
                .iter()
                .map(|role| {
                    ids.get(role)
                        .cloned()
                        .unwrap_or_else(|| format!("<new {role}>"))
                })
                .collect(),
            threshold: *threshold,
        },
        other => other.clone(),
    }
}

/// The caller reference of attempt `attempt` to create `spec` for `role`: the same for a retry of
/// the same create (Route 53 then answers with the check the first attempt made).
fn caller_reference(owner: &str, role: &str, spec: &CheckSpec, attempt: usize) -> String {
    let digest = Sha256::digest(format!("{owner}\n{role}\n{spec:?}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{CALLER_PREFIX}{hex}-{attempt}")
}

/// The checks of `owner`: listed, then the tags of those with dialtone's caller reference.
async fn owned_checks(route53: &Route53, owner: &str) -> Result<Vec<ObservedCheck>, AwsError> {
    let all = route53.health_checks().await?;
    let candidates: Vec<String> = all
        .iter()
        .filter(|c| c.caller_reference.starts_with(CALLER_PREFIX))
        .map(|c| c.id.clone())
        .collect();
    let tags = route53.check_tags(&candidates).await?;
    Ok(all
        .into_iter()
        .filter_map(|mut check| {
            let tags = tags.get(&check.id)?;
            let ours = tags.get(OWNER_TAG).map(String::as_str) == Some(owner)
                && tags.get(OWNER_KIND_TAG).map(String::as_str) == Some("FailoverPlan");
            ours.then(|| {
                check.role = tags.get(CHECK_ROLE_TAG).cloned();
                check
            })
        })
        .collect())
}

/// The record sets at each (name, type).
async fn read_records(
    route53: &Route53,
    zone: &str,
    keys: &BTreeSet<(String, String)>,
) -> Result<Vec<RecordSet>, AwsError> {
    let mut sets = Vec::new();
    for (name, record_type) in keys {
        sets.extend(route53.record_sets(zone, name, record_type).await?);
    }
    Ok(sets)
}

fn describe_change(change: &RecordChange) -> (&'static str, String) {
    match change {
        RecordChange::Upsert(set) => ("UPSERT", set.describe()),
        RecordChange::Delete(set) => ("DELETE", set.describe()),
    }
}

impl FailoverEngine {
    /// Reads the plan's checks and records (nothing when it has no `dns`).
    pub(super) async fn read_dns(
        &self,
        dns: &DnsFailover,
        owner: &str,
        role_arn: Option<&str>,
        lever: Option<&dns::LeverAlarm>,
        recorded: &[String],
    ) -> DnsRead {
        // The names and types of the pairs: the same whichever side they serve.
        let desired = dns::desired(dns, lever, ActiveRegion::Primary);
        let route53 = self.clients.route53(role_arn).await;
        let checks = owned_checks(&route53, owner).await;
        let keys: BTreeSet<(String, String)> = desired
            .pairs
            .iter()
            .map(|p| (p.name.clone(), p.record_type.clone()))
            .chain(recorded_pairs(recorded, &dns.hosted_zone_id))
            .collect();
        let records = read_records(&route53, &dns.hosted_zone_id, &keys).await;
        DnsRead { checks, records }
    }

    /// Peacetime: health checks (leaves, then CALCULATED), one change batch for the records (then
    /// INSYNC, bounded), then the checks nothing points at any more. Nothing is written when what
    /// is there could not be read. Returns None when it could not finish.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn peacetime_dns(
        &self,
        owner: &str,
        dns: &DnsFailover,
        role_arn: Option<&str>,
        desired: &DesiredDns,
        read: &DnsRead,
        recorded: &[String],
        withheld: Option<&str>,
        mode: Mode,
        outcome: &mut FailoverOutcome,
    ) -> Option<DnsPeace> {
        let (checks, records) = match (&read.checks, &read.records) {
            (Ok(checks), Ok(records)) => (checks, records),
            (Err(err), _) | (_, Err(err)) => {
                outcome.errors.push(err.clone());
                return None;
            }
        };
        let route53 = self.clients.route53(role_arn).await;
        let target = Target {
            region: ROUTE53_REGION.into(),
            role_arn: role_arn.map(str::to_string),
        };
        let check_plan = dns::plan_checks(
            owner,
            &desired.checks,
            checks,
            &recorded_roles(recorded),
            withheld,
        );
        let mut progress = Progress::new(
            "FailoverPlan",
            &target,
            check_plan.writes.len() + check_plan.deletes.len(),
        );
        let mut ids = check_plan.ids.clone();

        // Health checks: leaves first, then the CALCULATED ones naming them.
        for action in &check_plan.writes {
            let (operation, verb, role, spec) = match action {
                CheckAction::Create { role, spec } => ("CreateHealthCheck", "create", role, spec),
                CheckAction::Replace { role, spec, .. } => {
                    ("CreateHealthCheck", "replace", role, spec)
                }
                CheckAction::Update { role, spec, .. } => {
                    ("UpdateHealthCheck", "update", role, spec)
                }
                CheckAction::Delete { .. } => continue,
            };
            let spec = resolved(spec, &ids);
            let detail = format!("{verb} health check {role}: {}", spec.describe());
            outcome
                .peacetime_writes
                .push(route53_call("peacetime", operation, detail.clone()));
            if mode != Mode::Apply {
                continue;
            }
            let result = match action {
                CheckAction::Update { id, version, .. } => route53
                    .update_check(id, *version, &spec)
                    .await
                    .map(|()| id.clone()),
                _ => self.create_check(&route53, owner, role, &spec).await,
            };
            progress.log(
                Write {
                    owner,
                    verb,
                    name: role,
                    line: format!("{verb}d health check {role}: {}", spec.describe()),
                },
                &result,
            );
            match result {
                Ok(id) => {
                    ids.insert(role.clone(), id);
                }
                Err(err) => {
                    // Records never point at a check that is not there.
                    outcome.errors.push(err);
                    return None;
                }
            }
        }

        // Records: one batch for the zone.
        let record_plan = dns::plan_records(
            owner,
            &desired.pairs,
            &ids,
            records,
            &recorded_records(recorded, &dns.hosted_zone_id),
            withheld,
        );
        for conflict in &record_plan.conflicts {
            outcome.errors.push(AwsError {
                service: "route53",
                operation: "ChangeResourceRecordSets",
                code: Some("Conflict".into()),
                message: conflict.clone(),
                class: crate::ErrorClass::Terminal,
            });
        }
        let mut deleted_pairs = BTreeSet::new();
        if !record_plan.changes.is_empty() {
            progress.grow(1);
            let written = self
                .write_records(
                    &route53,
                    owner,
                    &dns.hosted_zone_id,
                    &record_plan.changes,
                    "peacetime",
                    mode,
                    &mut progress,
                )
                .await;
            match written {
                Ok((call, _)) => outcome.peacetime_writes.push(call),
                Err(err) => {
                    outcome.errors.push(err);
                    return None;
                }
            }
            deleted_pairs.extend(record_plan.changes.iter().filter_map(|c| match c {
                RecordChange::Delete(set) => Some(set.key()),
                RecordChange::Upsert(_) => None,
            }));
        }

        // Checks nothing points at any more: CALCULATED ones before their children.
        let mut deleted_roles = BTreeSet::new();
        for action in &check_plan.deletes {
            let CheckAction::Delete { id, role, why } = action else {
                continue;
            };
            let (call, result) = delete_check(
                &route53,
                &mut progress,
                owner,
                "peacetime",
                (id, role, why),
                mode,
            )
            .await;
            outcome.peacetime_writes.push(call);
            match result {
                // A replaced check's role stays declared (its new check has it).
                Some(Ok(())) => {
                    deleted_roles.insert(role.clone());
                }
                Some(Err(err)) => outcome.errors.push(err),
                None => {}
            }
        }

        // The footprint: what is declared, and what was recorded and is not gone.
        let declared_roles: BTreeSet<&str> =
            desired.checks.iter().map(|c| c.role.as_str()).collect();
        let declared_pairs: BTreeSet<String> = desired.pairs.iter().map(DesiredPair::key).collect();
        let mut footprint: BTreeSet<String> = declared_roles
            .iter()
            .map(|role| dns::check_footprint(role))
            .chain(
                declared_pairs
                    .iter()
                    .map(|key| dns::record_footprint(&dns.hosted_zone_id, key)),
            )
            .collect();
        for name in recorded {
            let gone = match dns::parse_footprint(name) {
                Footprinted::Check { role } => {
                    !declared_roles.contains(role.as_str()) && deleted_roles.contains(&role)
                }
                Footprinted::Record {
                    zone,
                    name,
                    record_type,
                } if zone == dns.hosted_zone_id => {
                    let key = dns::record_key(&name, &record_type);
                    !declared_pairs.contains(&key)
                        && (deleted_pairs.contains(&key) || !records.iter().any(|r| r.key() == key))
                }
                // Another zone's records: the left-behind cleanup's.
                _ => false,
            };
            if !gone {
                footprint.insert(name.clone());
            }
        }
        Some(DnsPeace {
            ids,
            footprint: footprint.into_iter().collect(),
        })
    }

    /// CreateHealthCheck with its tags, under the first caller reference Route 53 takes.
    async fn create_check(
        &self,
        route53: &Route53,
        owner: &str,
        role: &str,
        spec: &CheckSpec,
    ) -> Result<String, AwsError> {
        let tags = BTreeMap::from([
            (OWNER_TAG.to_string(), owner.to_string()),
            (OWNER_KIND_TAG.to_string(), "FailoverPlan".to_string()),
            (CHECK_ROLE_TAG.to_string(), role.to_string()),
            ("Name".to_string(), format!("dialtone {owner} {role}")),
        ]);
        let mut last = None;
        for attempt in 0..MAX_REFERENCES {
            let reference = caller_reference(owner, role, spec, attempt);
            match route53.create_check(&reference, spec, &tags).await {
                Err(err) if err.code.as_deref() == Some("HealthCheckAlreadyExists") => {
                    last = Some(err)
                }
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| {
            AwsError::invalid("route53", "CreateHealthCheck", "no caller reference left")
        }))
    }

    /// One change batch, logged, then INSYNC (bounded): the call as a line, and whether Route 53
    /// said INSYNC. In a preview nothing is sent.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn write_records(
        &self,
        route53: &Route53,
        owner: &str,
        zone: &str,
        changes: &[RecordChange],
        step: &'static str,
        mode: Mode,
        progress: &mut Progress<'_>,
    ) -> Result<(Call, bool), AwsError> {
        let lines: Vec<String> = changes
            .iter()
            .map(|c| {
                let (action, set) = describe_change(c);
                format!("{action} {set}")
            })
            .collect();
        let detail = format!("zone {zone}: {}", lines.join("; "));
        if mode != Mode::Apply {
            return Ok((
                route53_call(step, "ChangeResourceRecordSets", detail),
                false,
            ));
        }
        let result = route53
            .change(
                zone,
                changes,
                &format!("dialtone FailoverPlan {owner}"),
                INSYNC_WAIT,
            )
            .await;
        progress.log(
            Write {
                owner,
                verb: "change",
                name: zone,
                line: format!("changed records: {detail}"),
            },
            &result,
        );
        let change = result?;
        let state = if change.insync {
            "INSYNC".to_string()
        } else {
            format!(
                "still PENDING after {} s; the next sweep reads it back",
                INSYNC_WAIT.as_secs()
            )
        };
        Ok((
            route53_call(
                step,
                "ChangeResourceRecordSets",
                format!("{detail} (change {}: {state})", change.id),
            ),
            change.insync,
        ))
    }

    /// The changes that make the records serve `to` under `lever: recordEdit` (read now): UPSERTs
    /// of the PRIMARY records (the SECONDARY ones only when drifted). A failover deletes nothing.
    pub(super) async fn record_edit_plan(
        &self,
        spec: &DnsFailover,
        owner: &str,
        role_arn: Option<&str>,
        to: ActiveRegion,
        ids: &BTreeMap<String, String>,
    ) -> Result<Vec<RecordChange>, AwsError> {
        let route53 = self.clients.route53(role_arn).await;
        let want = dns::desired(spec, None, to);
        let keys: BTreeSet<(String, String)> = want
            .pairs
            .iter()
            .map(|p| (p.name.clone(), p.record_type.clone()))
            .collect();
        let read = read_records(&route53, &spec.hosted_zone_id, &keys).await?;
        let plan = dns::plan_records(owner, &want.pairs, ids, &read, &Claim::default(), None);
        if let Some(conflict) = plan.conflicts.first() {
            return Err(AwsError {
                service: "route53",
                operation: "ChangeResourceRecordSets",
                code: Some("Conflict".into()),
                message: conflict.clone(),
                class: crate::ErrorClass::Terminal,
            });
        }
        Ok(plan
            .changes
            .into_iter()
            .filter(|c| matches!(c, RecordChange::Upsert(_)))
            .collect())
    }

    /// The DNS step of `lever: recordEdit`: the change batch (or, in a preview, the call it would
    /// be) and whether Route 53 said INSYNC.
    pub(super) async fn edit_records(
        &self,
        zone: &str,
        owner: &str,
        role_arn: Option<&str>,
        changes: &[RecordChange],
        mode: Mode,
    ) -> Result<(Call, bool), AwsError> {
        let route53 = self.clients.route53(role_arn).await;
        let target = Target {
            region: ROUTE53_REGION.into(),
            role_arn: role_arn.map(str::to_string),
        };
        let mut progress = Progress::new("FailoverPlan", &target, 1);
        self.write_records(&route53, owner, zone, changes, "dns", mode, &mut progress)
            .await
    }

    /// Route 53 resources named in a footprint that are no longer declared (the plan is gone, or
    /// its records moved to another zone): the plan's own records deleted in one batch per zone,
    /// then its checks, by the one deletion rule. Returns the calls, the errors, and the names
    /// still standing.
    pub(super) async fn cleanup_route53(
        &self,
        owner: &str,
        role_arn: Option<&str>,
        names: &[String],
        withheld: Option<&str>,
        mode: Mode,
    ) -> (Vec<Call>, Vec<AwsError>, Vec<String>) {
        let route53 = self.clients.route53(role_arn).await;
        let target = Target {
            region: ROUTE53_REGION.into(),
            role_arn: role_arn.map(str::to_string),
        };
        let mut progress = Progress::new("FailoverPlan", &target, 0);
        let (mut calls, mut errors) = (Vec::new(), Vec::new());
        let mut left: BTreeSet<String> = names.iter().cloned().collect();
        let mut zones: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
        for name in names {
            if let Footprinted::Record {
                zone,
                name,
                record_type,
            } = dns::parse_footprint(name)
            {
                zones.entry(zone).or_default().insert((name, record_type));
            }
        }
        for (zone, keys) in &zones {
            let read = match read_records(&route53, zone, keys).await {
                Ok(read) => read,
                Err(err) => {
                    errors.push(err);
                    continue;
                }
            };
            let claim = recorded_records(names, zone);
            let plan = dns::plan_records(owner, &[], &BTreeMap::new(), &read, &claim, withheld);
            let ours = |key: &str| {
                read.iter().any(|r| {
                    r.key() == key
                        && r.set_identifier.as_ref().is_some_and(|s| {
                            *s == dns::set_identifier(owner, "PRIMARY")
                                || *s == dns::set_identifier(owner, "SECONDARY")
                        })
                })
            };
            for (name, record_type) in keys {
                let key = dns::record_key(name, record_type);
                if !ours(&key) {
                    left.remove(&dns::record_footprint(zone, &key));
                }
            }
            if plan.changes.is_empty() {
                continue;
            }
            progress.grow(1);
            match self
                .write_records(
                    &route53,
                    owner,
                    zone,
                    &plan.changes,
                    "cleanup",
                    mode,
                    &mut progress,
                )
                .await
            {
                Ok((call, _)) => {
                    calls.push(call);
                    if mode == Mode::Apply {
                        for change in &plan.changes {
                            if let RecordChange::Delete(set) = change {
                                left.remove(&dns::record_footprint(zone, &set.key()));
                            }
                        }
                    }
                }
                Err(err) => errors.push(err),
            }
        }
        let roles = recorded_roles(names);
        if roles.recorded.is_empty() {
            return (calls, errors, left.into_iter().collect());
        }
        let checks = match owned_checks(&route53, owner).await {
            Ok(checks) => checks,
            Err(err) => {
                errors.push(err);
                return (calls, errors, left.into_iter().collect());
            }
        };
        for role in &roles.recorded {
            if !checks
                .iter()
                .any(|c| c.role.as_deref() == Some(role.as_str()))
            {
                left.remove(&dns::check_footprint(role));
            }
        }
        let plan = dns::plan_checks(owner, &[], &checks, &roles, withheld);
        progress.grow(plan.deletes.len());
        for action in &plan.deletes {
            let CheckAction::Delete { id, role, why } = action else {
                continue;
            };
            let (call, result) = delete_check(
                &route53,
                &mut progress,
                owner,
                "cleanup",
                (id, role, why),
                mode,
            )
            .await;
            calls.push(call);
            match result {
                Some(Ok(())) => {
                    left.remove(&dns::check_footprint(role));
                }
                Some(Err(err)) => errors.push(err),
                None => {}
            }
        }
        (calls, errors, left.into_iter().collect())
    }
}

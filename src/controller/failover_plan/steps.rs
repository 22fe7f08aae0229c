//! A failover, step by step: readiness -> traffic -> DNS -> checklist. Each step reads AWS before
//! it writes, so running it again (a restart, the next sweep) writes nothing twice.

use super::*;

impl FailoverEngine {
    /// The failover to `to`, step by step; with `Mode::Plan` only the calls it would make.
    pub(super) async fn fail_over(
        &self,
        step_in: &Move<'_>,
        mode: Mode,
        outcome: &mut FailoverOutcome,
    ) {
        let &Move {
            plan,
            owner,
            to,
            trigger,
            ref reason,
            underway,
            dns_done,
            sides,
            target_of_side,
            lever_target,
            target_status,
            base,
            now,
            route53_role,
            check_ids,
            announce,
        } = step_in;
        let record_edit = plan
            .spec
            .dns
            .as_ref()
            .filter(|d| d.lever == DnsLever::RecordEdit);
        let from = other(to);
        // Continue the failover in progress (a restart), or start a new record.
        let continued = outcome
            .status
            .last_failover
            .as_ref()
            .is_some_and(|r| r.completed_at.is_none() && r.to == Some(to));
        let mut record = match outcome.status.last_failover.clone() {
            Some(record) if continued => record,
            _ => FailoverRecord {
                from: Some(from),
                to: Some(to),
                trigger: Some(trigger.as_str().into()),
                reason: Some(reason.clone()),
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
        let force = crate::api::annotation(&plan.metadata, FORCE_FAILOVER_ANNOTATION);
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

        // Announced: the status shows the failover before its first write.
        if announce && !continued {
            let message = format!(
                "failing over to the {} side ({}): {}",
                side_name(to),
                sides.region(to),
                record.reason.clone().unwrap_or_default()
            );
            outcome.status.phase = Some(FailoverPhase::FailingOver);
            outcome.status.last_failover = Some(record);
            outcome.announced = true;
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
            if let Some(spec) = record_edit {
                match self
                    .record_edit_plan(spec, owner, route53_role, to, check_ids)
                    .await
                {
                    Ok(changes) if changes.is_empty() => {}
                    Ok(changes) => match self
                        .edit_records(&spec.hosted_zone_id, owner, route53_role, &changes, mode)
                        .await
                    {
                        Ok((call, _)) => outcome.calls.push(call),
                        Err(err) => outcome.errors.push(err),
                    },
                    Err(err) => outcome.errors.push(err),
                }
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
        if alarm_lever && dns_done {
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

        // 3'. DNS by record edit: one change batch (Route 53's control plane), then INSYNC.
        if let Some(spec) = record_edit {
            let started = Timestamp::now();
            let result = match self
                .record_edit_plan(spec, owner, route53_role, to, check_ids)
                .await
            {
                Ok(changes) if changes.is_empty() || dns_done => Ok(None),
                Ok(changes) => self
                    .edit_records(&spec.hosted_zone_id, owner, route53_role, &changes, mode)
                    .await
                    .map(Some),
                Err(err) => Err(err),
            };
            let mut entry = step(
                "dns",
                match &result {
                    Ok(None) => "AlreadyDone",
                    Ok(Some((_, true))) => "Succeeded",
                    Ok(Some((_, false))) => "Waiting",
                    Err(_) => "Failed",
                },
                match &result {
                    Ok(None) => format!(
                        "the records already answer the {} side: nothing written",
                        side_name(to)
                    ),
                    Ok(Some((call, _))) => call.detail.clone(),
                    Err(err) => err.to_string(),
                },
            );
            entry.started_at = Some(Time(started));
            note_step(&mut record.steps, entry);
            match result {
                Ok(Some((call, insync))) => {
                    outcome.calls.push(call);
                    if !insync {
                        outcome.status.phase = Some(FailoverPhase::FailingOver);
                        outcome.status.last_failover = Some(record);
                        set_ready(
                            &mut outcome.status,
                            base,
                            Status::False,
                            Status::True,
                            "FailingOver",
                            "the record change is still PENDING in Route 53; the next sweep reads it back",
                            now,
                        );
                        return;
                    }
                }
                Ok(None) => {}
                Err(err) => {
                    fail(outcome, record, base, "dns", &err.to_string(), now);
                    outcome.errors.push(err);
                    return;
                }
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
        if let Some(spec) = record_edit {
            let left = self
                .record_edit_plan(spec, owner, route53_role, to, check_ids)
                .await;
            checklist.push(ChecklistItem {
                name: "the DNS records read back as intended".into(),
                passed: left.as_ref().is_ok_and(Vec::is_empty),
                message: Some(match left {
                    Ok(left) if left.is_empty() => format!(
                        "every PRIMARY record answers the {} side's value",
                        side_name(to)
                    ),
                    Ok(left) => format!("{} record set(s) still differ", left.len()),
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
            tokio::time::sleep(LEVER_POLL_EVERY).await;
        }
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

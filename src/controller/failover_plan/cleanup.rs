//! A FailoverPlan that is gone: what it wrote goes, by the one deletion rule.

use super::*;

impl FailoverEngine {
    /// The one deletion path of what a plan no longer declares (all of it when the plan is gone):
    /// lever alarms and Route 53 records and health checks its footprint names, by the deletion
    /// rule (owner read now). Returns the calls made, the errors, and the footprint left.
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
            let (route53_names, alarm_names): (Vec<String>, Vec<String>) = entry
                .names
                .iter()
                .cloned()
                .partition(|n| n.starts_with(crate::plan::dns::FOOTPRINT_PREFIX));
            let mut kept = Vec::new();
            if !route53_names.is_empty() {
                let (done, failed, standing) = self
                    .cleanup_route53(
                        owner,
                        entry.role_arn.as_deref(),
                        &route53_names,
                        withheld,
                        mode,
                    )
                    .await;
                calls.extend(done);
                errors.extend(failed);
                kept.extend(standing);
            }
            for name in &alarm_names {
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
                    detail: format!("delete the DNS lever alarm {name} (no longer declared)"),
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
}

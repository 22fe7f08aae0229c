//! CloudWatch alarm mute rules: list (paged), read one with its tags, put, delete. Every call
//! rate-limited (PutAlarmMuteRule at CloudWatch's 3 per second by default).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{MuteTargets, Rule, Schedule, Tag};

use super::rate::RateLimiter;
use super::{AwsError, settle};
use crate::ErrorClass;
use crate::plan::mute::{MuteRuleSpec, ObservedMuteRule};

/// ListAlarmMuteRules returns at most 100 rules a page.
const PAGE: i32 = 100;

/// A rule as ListAlarmMuteRules summarizes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSummary {
    pub name: String,
    pub arn: String,
    /// Milliseconds since the epoch of the last PutAlarmMuteRule: details are read again only
    /// when it moves.
    pub last_updated: Option<i64>,
}

/// The mute rules of one region (and role).
pub struct MuteRules {
    client: aws_sdk_cloudwatch::Client,
    limiter: Arc<RateLimiter>,
}

/// `arn:aws:cloudwatch:REGION:ACCOUNT:alarm-mute-rule:NAME` -> NAME (names may contain colons).
pub fn rule_name_of(arn: &str) -> Option<&str> {
    arn.split_once(":alarm-mute-rule:")
        .or_else(|| arn.split_once(":alarm-mute:"))
        .map(|(_, name)| name)
}

impl MuteRules {
    pub fn new(config: &SdkConfig, limiter: Arc<RateLimiter>) -> Self {
        Self {
            client: aws_sdk_cloudwatch::Client::new(config),
            limiter,
        }
    }

    /// Every rule of the region, one ListAlarmMuteRules call per 100.
    pub async fn list(&self) -> Result<Vec<RuleSummary>, AwsError> {
        let mut rules = Vec::new();
        let mut token: Option<String> = None;
        loop {
            self.limiter.acquire("ListAlarmMuteRules").await;
            let page = settle(
                "cloudwatch",
                "ListAlarmMuteRules",
                self.client
                    .list_alarm_mute_rules()
                    .max_records(PAGE)
                    .set_next_token(token)
                    .send()
                    .await,
            )?;
            for summary in page.alarm_mute_rule_summaries() {
                let Some(arn) = summary.alarm_mute_rule_arn() else {
                    continue;
                };
                let Some(name) = rule_name_of(arn) else {
                    continue;
                };
                rules.push(RuleSummary {
                    name: name.to_string(),
                    arn: arn.to_string(),
                    last_updated: summary
                        .last_updated_timestamp()
                        .and_then(|t| t.to_millis().ok()),
                });
            }
            token = page
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(rules)
    }

    /// GetAlarmMuteRule and its tags (ListTagsForResource), or None when it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<ObservedMuteRule>, AwsError> {
        self.limiter.acquire("GetAlarmMuteRule").await;
        let rule = match settle(
            "cloudwatch",
            "GetAlarmMuteRule",
            self.client
                .get_alarm_mute_rule()
                .alarm_mute_rule_name(name)
                .send()
                .await,
        ) {
            Ok(rule) => rule,
            Err(err) if err.class == ErrorClass::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let schedule = rule.rule().and_then(|r| r.schedule());
        let arn = rule.alarm_mute_rule_arn().unwrap_or_default().to_string();
        let tags = self.tags(&arn).await?;
        Ok(Some(ObservedMuteRule {
            name: rule.name().unwrap_or(name).to_string(),
            arn,
            description: rule.description().map(str::to_string),
            expression: schedule
                .and_then(|s| s.expression())
                .unwrap_or_default()
                .to_string(),
            duration: schedule
                .and_then(|s| s.duration())
                .unwrap_or_default()
                .to_string(),
            timezone: schedule.and_then(|s| s.timezone()).map(str::to_string),
            targets: rule
                .mute_targets()
                .map(|t| t.alarm_names().iter().cloned().collect())
                .unwrap_or_default(),
            tags,
            status: rule.status().map(|s| s.as_str().to_string()),
        }))
    }

    /// The tags of a rule (its owner tag among them).
    pub async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        super::cloudwatch::list_tags(&self.client, &self.limiter, arn).await
    }

    /// PutAlarmMuteRule: creates the rule (with its tags) or overwrites it.
    pub async fn put(&self, rule: &MuteRuleSpec, create: bool) -> Result<(), AwsError> {
        self.limiter.acquire("PutAlarmMuteRule").await;
        let schedule = Schedule::builder()
            .expression(&rule.expression)
            .duration(&rule.duration)
            .timezone(&rule.timezone)
            .build();
        let targets = MuteTargets::builder()
            .set_alarm_names(Some(rule.targets.iter().cloned().collect()))
            .build();
        let tags = create.then(|| {
            rule.tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect()
        });
        settle(
            "cloudwatch",
            "PutAlarmMuteRule",
            self.client
                .put_alarm_mute_rule()
                .name(&rule.name)
                .description(&rule.description)
                .rule(Rule::builder().schedule(schedule).build())
                .mute_targets(targets)
                .set_tags(tags)
                .send()
                .await,
        )?;
        Ok(())
    }

    /// DeleteAlarmMuteRule (a rule already gone is not an error).
    pub async fn delete(&self, name: &str) -> Result<(), AwsError> {
        self.limiter.acquire("DeleteAlarmMuteRule").await;
        settle(
            "cloudwatch",
            "DeleteAlarmMuteRule",
            self.client
                .delete_alarm_mute_rule()
                .alarm_mute_rule_name(name)
                .send()
                .await,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_come_from_arns() {
        assert_eq!(
            rule_name_of(
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm-mute-rule:dialtone/cc/w/recurring-0"
            ),
            Some("dialtone/cc/w/recurring-0")
        );
        assert_eq!(rule_name_of("arn:aws:cloudwatch:us-east-1:1:alarm:x"), None);
    }
}

//! Amazon Connect: the instance, its replication and its traffic distribution group (Global
//! Resiliency). Reads only here; every call rate-limited (Connect allows 2 per second per API).

use std::sync::Arc;

use aws_config::SdkConfig;

use super::rate::RateLimiter;
use super::{AwsError, settle};
use crate::ErrorClass;
use crate::plan::failover::Distribution;
use crate::plan::health::{ObservedGroup, ObservedInstance, ObservedTraffic, Replication};

/// Amazon Connect in one region (and role).
pub struct ConnectInstances {
    client: aws_sdk_connect::Client,
    limiter: Arc<RateLimiter>,
}

/// Ok(None) for a not-found answer: a missing thing is an observation, not an error.
fn found<T>(result: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.class == ErrorClass::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

impl ConnectInstances {
    pub fn new(config: &SdkConfig, limiter: Arc<RateLimiter>) -> Self {
        Self {
            client: aws_sdk_connect::Client::new(config),
            limiter,
        }
    }

    /// DescribeInstance: the instance and its replication, or None when it does not exist here.
    pub async fn describe_instance(
        &self,
        instance_id: &str,
    ) -> Result<Option<ObservedInstance>, AwsError> {
        self.limiter.acquire("DescribeInstance").await;
        let output = found(settle(
            "connect",
            "DescribeInstance",
            self.client
                .describe_instance()
                .instance_id(instance_id)
                .send()
                .await,
        ))?;
        Ok(output.map(|output| {
            let instance = output.instance();
            ObservedInstance {
                arn: instance.and_then(|i| i.arn()).map(str::to_string),
                alias: instance
                    .and_then(|i| i.instance_alias())
                    .map(str::to_string),
                status: instance
                    .and_then(|i| i.instance_status())
                    .map(|s| s.as_str().to_string()),
                replication: output
                    .replication_configuration()
                    .map(|c| c.replication_status_summary_list())
                    .unwrap_or_default()
                    .iter()
                    .map(|r| Replication {
                        region: r.region().unwrap_or_default().to_string(),
                        status: r
                            .replication_status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                        reason: r.replication_status_reason().map(str::to_string),
                    })
                    .collect(),
            }
        }))
    }

    /// DescribeTrafficDistributionGroup by ARN (readable from either region of the group), or
    /// None when it does not exist.
    pub async fn describe_group(&self, arn: &str) -> Result<Option<ObservedGroup>, AwsError> {
        self.limiter
            .acquire("DescribeTrafficDistributionGroup")
            .await;
        let output = found(settle(
            "connect",
            "DescribeTrafficDistributionGroup",
            self.client
                .describe_traffic_distribution_group()
                .traffic_distribution_group_id(arn)
                .send()
                .await,
        ))?;
        Ok(output.and_then(|o| {
            o.traffic_distribution_group().map(|g| ObservedGroup {
                arn: g.arn().unwrap_or(arn).to_string(),
                status: g
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                is_default: g.is_default(),
            })
        }))
    }

    /// UpdateTrafficDistribution by group ARN, made in the region that takes the traffic (this
    /// adapter's): telephony, and agents and sign-in when given. The group is UPDATE_IN_PROGRESS
    /// afterwards; a second update meanwhile is a 409 ResourceConflictException.
    pub async fn update_traffic(
        &self,
        arn: &str,
        distribution: &Distribution,
    ) -> Result<(), AwsError> {
        use aws_sdk_connect::types::{
            AgentConfig, Distribution as SdkDistribution, SignInConfig, SignInDistribution,
            TelephonyConfig,
        };
        let percentages = |list: &[(String, i32)]| -> Vec<SdkDistribution> {
            list.iter()
                .filter_map(|(region, pct)| {
                    SdkDistribution::builder()
                        .region(region)
                        .percentage(*pct)
                        .build()
                        .ok()
                })
                .collect()
        };
        let telephony = TelephonyConfig::builder()
            .set_distributions(Some(percentages(&distribution.telephony)))
            .build()
            .map_err(|e| AwsError::invalid("connect", "UpdateTrafficDistribution", e))?;
        let agents = match &distribution.agents {
            Some(agents) => Some(
                AgentConfig::builder()
                    .set_distributions(Some(percentages(agents)))
                    .build()
                    .map_err(|e| AwsError::invalid("connect", "UpdateTrafficDistribution", e))?,
            ),
            None => None,
        };
        let sign_in = match &distribution.sign_in {
            Some(sign_in) => Some(
                SignInConfig::builder()
                    .set_distributions(Some(
                        sign_in
                            .iter()
                            .filter_map(|(region, on)| {
                                SignInDistribution::builder()
                                    .region(region)
                                    .enabled(*on)
                                    .build()
                                    .ok()
                            })
                            .collect(),
                    ))
                    .build()
                    .map_err(|e| AwsError::invalid("connect", "UpdateTrafficDistribution", e))?,
            ),
            None => None,
        };
        self.limiter.acquire("UpdateTrafficDistribution").await;
        settle(
            "connect",
            "UpdateTrafficDistribution",
            self.client
                .update_traffic_distribution()
                .id(arn)
                .telephony_config(telephony)
                .set_agent_config(agents)
                .set_sign_in_config(sign_in)
                .send()
                .await,
        )?;
        Ok(())
    }

    /// GetTrafficDistribution by group ARN: telephony, agents and sign-in per region.
    pub async fn traffic(&self, arn: &str) -> Result<ObservedTraffic, AwsError> {
        self.limiter.acquire("GetTrafficDistribution").await;
        let output = settle(
            "connect",
            "GetTrafficDistribution",
            self.client.get_traffic_distribution().id(arn).send().await,
        )?;
        let percentages = |list: &[aws_sdk_connect::types::Distribution]| {
            list.iter()
                .map(|d| (d.region().to_string(), d.percentage()))
                .collect()
        };
        Ok(ObservedTraffic {
            telephony: percentages(
                output
                    .telephony_config()
                    .map(|c| c.distributions())
                    .unwrap_or_default(),
            ),
            agents: percentages(
                output
                    .agent_config()
                    .map(|c| c.distributions())
                    .unwrap_or_default(),
            ),
            sign_in: output
                .sign_in_config()
                .map(|c| c.distributions())
                .unwrap_or_default()
                .iter()
                .map(|d| (d.region().to_string(), d.enabled()))
                .collect(),
        })
    }
}

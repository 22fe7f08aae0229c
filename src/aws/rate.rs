//! Client-side rate limits per AWS operation, so dialtone stays inside its share of the account's
//! quotas (which other tools and people use too) instead of relying on throttling.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The default quotas per region (requests per second): CloudWatch's (mute rules included),
/// Amazon Connect's 2 per second per API, and Route 53's 5 per second per account, shared by all
/// its APIs (one bucket, `Route53`).
const DEFAULTS: &[(&str, f64)] = &[
    ("PutMetricAlarm", 3.0),
    ("DescribeAlarms", 9.0),
    ("DeleteAlarms", 3.0),
    ("TagResource", 20.0),
    ("UntagResource", 20.0),
    ("ListTagsForResource", 10.0),
    ("GetResources", 5.0),
    ("PutAlarmMuteRule", 3.0),
    ("DescribeInstance", 2.0),
    ("DescribeTrafficDistributionGroup", 2.0),
    ("GetTrafficDistribution", 2.0),
    ("UpdateTrafficDistribution", 2.0),
    (super::route53::RATE_BUCKET, 5.0),
];

/// Requests per second per operation; 0 means unlimited.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    per_operation: BTreeMap<String, f64>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_operation: DEFAULTS
                .iter()
                .map(|(op, rate)| (op.to_string(), *rate))
                .collect(),
        }
    }
}

/// A bad `--aws-rate` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--aws-rate {0:?}: expected OPERATION=PER_SECOND (e.g. PutMetricAlarm=3, or all=0 for no limits)"
)]
pub struct RateParseError(pub String);

impl RateLimits {
    /// Applies `OPERATION=PER_SECOND` settings in order; `all=N` sets every operation.
    pub fn with_overrides<'a>(
        mut self,
        settings: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, RateParseError> {
        for setting in settings {
            let (op, rate) = setting
                .split_once('=')
                .ok_or_else(|| RateParseError(setting.to_string()))?;
            let rate: f64 = rate
                .trim()
                .parse()
                .ok()
                .filter(|r: &f64| r.is_finite() && *r >= 0.0)
                .ok_or_else(|| RateParseError(setting.to_string()))?;
            let op = op.trim();
            if op.is_empty() {
                return Err(RateParseError(setting.to_string()));
            }
            if op == "all" {
                self.per_operation.values_mut().for_each(|r| *r = rate);
                self.per_operation.insert("*".into(), rate);
            } else {
                self.per_operation.insert(op.to_string(), rate);
            }
        }
        Ok(self)
    }

    /// The rate of `operation` (0: unlimited).
    pub fn rate(&self, operation: &str) -> f64 {
        self.per_operation
            .get(operation)
            .or_else(|| self.per_operation.get("*"))
            .copied()
            .unwrap_or(0.0)
    }

    /// A limiter enforcing these rates, for one region's clients.
    pub fn limiter(&self) -> RateLimiter {
        RateLimiter {
            limits: self.clone(),
            next: Mutex::new(HashMap::new()),
        }
    }
}

/// Spaces calls of each operation evenly (no bursts beyond the rate).
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    next: Mutex<HashMap<&'static str, Instant>>,
}

impl RateLimiter {
    /// Waits until a call of `operation` fits the rate.
    pub async fn acquire(&self, operation: &'static str) {
        let rate = self.limits.rate(operation);
        if rate <= 0.0 {
            return;
        }
        let interval = Duration::from_secs_f64(1.0 / rate);
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = next
                .get(operation)
                .copied()
                .filter(|s| *s > now)
                .unwrap_or(now);
            next.insert(operation, slot + interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_cloudwatch_quotas() {
        let limits = RateLimits::default();
        assert_eq!(limits.rate("PutMetricAlarm"), 3.0);
        assert_eq!(limits.rate("DescribeAlarms"), 9.0);
        assert_eq!(limits.rate("DeleteAlarms"), 3.0);
        assert_eq!(limits.rate("TagResource"), 20.0);
        assert_eq!(limits.rate("SomethingElse"), 0.0);
    }

    #[test]
    fn overrides_apply_in_order() {
        let limits = RateLimits::default()
            .with_overrides(["all=0", "PutMetricAlarm=1.5"])
            .expect("valid");
        assert_eq!(limits.rate("DescribeAlarms"), 0.0);
        assert_eq!(limits.rate("Unknown"), 0.0);
        assert_eq!(limits.rate("PutMetricAlarm"), 1.5);
    }

    #[test]
    fn malformed_overrides_name_the_setting() {
        for bad in [
            "PutMetricAlarm",
            "PutMetricAlarm=fast",
            "=3",
            "X=-1",
            "X=inf",
        ] {
            let err = RateLimits::default().with_overrides([bad]).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_by_the_rate() {
        let limiter = RateLimits::default().limiter();
        let start = Instant::now();
        for _ in 0..4 {
            limiter.acquire("PutMetricAlarm").await;
        }
        // Three intervals of 1/3 s between four calls.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(999) && elapsed < Duration::from_millis(1100),
            "{elapsed:?}"
        );
        let before = Instant::now();
        limiter.acquire("DescribeAlarms").await;
        assert!(
            before.elapsed() < Duration::from_millis(1),
            "operations are independent"
        );
    }
}

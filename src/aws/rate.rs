//! Client-side rate limits per AWS operation, so dialtone stays inside its share of the account's
//! quotas (which other tools and people use too) instead of relying on throttling.
//!
//! Each operation has its own bucket ([`governor`]'s GCRA): it refills at the operation's rate and
//! holds one second's worth of calls (the rate rounded down, at least 1), so a quiet operation may
//! make that many calls at once and then settles to the rate. Over any stretch of `t` seconds an
//! operation makes at most `burst + t × rate` calls; AWS's own quotas are token buckets too, with
//! bursts at least this large. A rate of 0 means unlimited: no bucket, no wait.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};

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

/// Every operation a limit can be set for: the AWS calls dialtone makes (Route 53's share one
/// bucket, `Route53`).
const LIMITED: &[&str] = &[
    "DeleteAlarmMuteRule",
    "DeleteAlarms",
    "DescribeAlarms",
    "DescribeInstance",
    "DescribeTrafficDistributionGroup",
    "GetAlarmMuteRule",
    "GetResources",
    "GetTrafficDistribution",
    "ListAlarmMuteRules",
    "ListTagsForResource",
    "PutAlarmMuteRule",
    "PutMetricAlarm",
    "PutMetricData",
    super::route53::RATE_BUCKET,
    "TagResource",
    "UntagResource",
    "UpdateTrafficDistribution",
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
#[error("--aws-rate {setting:?}: {why}")]
pub struct RateParseError {
    pub setting: String,
    pub why: String,
}

impl RateParseError {
    fn malformed(setting: &str) -> Self {
        Self {
            setting: setting.to_string(),
            why: "expected OPERATION=PER_SECOND (e.g. PutMetricAlarm=3, or all=0 for no limits)"
                .into(),
        }
    }
}

impl RateLimits {
    /// Applies `OPERATION=PER_SECOND` settings in order; `all=N` sets every operation.
    pub fn with_overrides<'a>(
        mut self,
        settings: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, RateParseError> {
        for setting in settings {
            let (op, rate) = setting
                .split_once('=')
                .ok_or_else(|| RateParseError::malformed(setting))?;
            let rate: f64 = rate
                .trim()
                .parse()
                .ok()
                // 0 is unlimited; below one call in about 17 minutes a limit is a typo.
                .filter(|r: &f64| r.is_finite() && (*r == 0.0 || *r >= 0.001))
                .ok_or_else(|| RateParseError::malformed(setting))?;
            let op = op.trim();
            if op.is_empty() {
                return Err(RateParseError::malformed(setting));
            }
            if op == "all" {
                self.per_operation.values_mut().for_each(|r| *r = rate);
                self.per_operation.insert("*".into(), rate);
            } else if LIMITED.contains(&op) || DEFAULTS.iter().any(|(known, _)| *known == op) {
                self.per_operation.insert(op.to_string(), rate);
            } else {
                return Err(RateParseError {
                    setting: setting.to_string(),
                    why: format!(
                        "dialtone makes no {op} call; one of: all, {}",
                        LIMITED.join(", ")
                    ),
                });
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
            buckets: Mutex::new(HashMap::new()),
        }
    }
}

/// One operation's bucket: `rate` calls per second, a burst of one second's worth (at least 1).
/// `None` for unlimited (a rate of 0, or too fast to space: more than a billion per second).
fn quota(rate: f64) -> Option<Quota> {
    if rate <= 0.0 {
        return None;
    }
    let burst =
        NonZeroU32::new(rate.floor().min(f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(Duration::from_secs_f64(1.0 / rate)).map(|q| q.allow_burst(burst))
}

/// A bucket per operation, made on the operation's first call; `None` when it is unlimited.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<&'static str, Option<Arc<DefaultDirectRateLimiter>>>>,
}

impl RateLimiter {
    /// Waits until a call of `operation` fits its bucket.
    pub async fn acquire(&self, operation: &'static str) {
        let bucket = self
            .buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(operation)
            .or_insert_with(|| {
                quota(self.limits.rate(operation))
                    .map(|q| Arc::new(DefaultDirectRateLimiter::direct(q)))
            })
            .clone();
        if let Some(bucket) = bucket {
            bucket.until_ready().await;
        }
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
            .with_overrides(["all=0", "PutMetricAlarm=1.5", "ListAlarmMuteRules=2"])
            .expect("valid");
        assert_eq!(limits.rate("DescribeAlarms"), 0.0);
        assert_eq!(limits.rate("Unknown"), 0.0);
        assert_eq!(limits.rate("PutMetricAlarm"), 1.5);
        assert_eq!(limits.rate("ListAlarmMuteRules"), 2.0);
    }

    #[test]
    fn an_operation_dialtone_never_calls_is_refused_with_the_list() {
        let err = RateLimits::default()
            .with_overrides(["PutMetricAlarms=3"])
            .expect_err("a typo");
        let text = err.to_string();
        assert!(
            text.contains("no PutMetricAlarms call") && text.contains("PutMetricAlarm,"),
            "{text}"
        );
    }

    #[test]
    fn malformed_overrides_name_the_setting() {
        for bad in [
            "PutMetricAlarm",
            "PutMetricAlarm=fast",
            "=3",
            "PutMetricAlarm=-1",
            "PutMetricAlarm=inf",
            "PutMetricAlarm=1e-20",
            "PutMetricAlarms=3",
        ] {
            let err = RateLimits::default().with_overrides([bad]).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn a_bucket_holds_one_seconds_worth_and_refills_at_the_rate() {
        use governor::RateLimiter;
        use governor::clock::FakeRelativeClock;

        let clock = FakeRelativeClock::default();
        let bucket = RateLimiter::direct_with_clock(quota(3.0).expect("limited"), clock.clone());
        for _ in 0..3 {
            assert!(bucket.check().is_ok(), "a burst of one second's worth");
        }
        assert!(bucket.check().is_err(), "then the rate");
        clock.advance(Duration::from_millis(300));
        assert!(bucket.check().is_err());
        clock.advance(Duration::from_millis(34));
        assert!(bucket.check().is_ok(), "one call per 1/3 s");
        assert!(bucket.check().is_err());

        // Below 1 per second the burst is one call.
        let clock = FakeRelativeClock::default();
        let slow = RateLimiter::direct_with_clock(quota(0.5).expect("limited"), clock.clone());
        assert!(slow.check().is_ok());
        assert!(slow.check().is_err());
        clock.advance(Duration::from_millis(1999));
        assert!(slow.check().is_err());
        clock.advance(Duration::from_millis(1));
        assert!(slow.check().is_ok());

        assert!(quota(0.0).is_none(), "0 is unlimited");
        assert!(quota(1e12).is_none(), "too fast to space is unlimited");
    }

    #[tokio::test]
    async fn calls_beyond_the_burst_wait_for_the_rate() {
        let limiter = RateLimits::default()
            .with_overrides(["PutMetricAlarm=20"])
            .expect("valid")
            .limiter();
        let start = std::time::Instant::now();
        // A burst of 20, then 20 more at 20 per second: about a second.
        for _ in 0..40 {
            limiter.acquire("PutMetricAlarm").await;
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(10),
            "{elapsed:?}"
        );
        let before = std::time::Instant::now();
        limiter.acquire("DescribeAlarms").await;
        assert!(
            before.elapsed() < Duration::from_millis(500),
            "operations are independent"
        );
    }

    #[tokio::test]
    async fn unlimited_never_waits() {
        let limiter = RateLimits::default()
            .with_overrides(["all=0"])
            .expect("valid")
            .limiter();
        let start = std::time::Instant::now();
        for _ in 0..10_000 {
            limiter.acquire("PutMetricAlarm").await;
            limiter.acquire("SomethingElse").await;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
}

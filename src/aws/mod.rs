//! Thin adapters over the AWS SDK: they translate, batch, rate-limit and classify errors, and
//! decide nothing.

pub mod cloudwatch;
pub mod connect;
pub mod mute_rules;
pub mod rate;
pub mod route53;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatch::config::http::HttpResponse;
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};

use crate::ErrorClass;
use crate::metrics::Metrics;
pub use cloudwatch::CloudWatchAlarms;
pub use connect::ConnectInstances;
pub use mute_rules::MuteRules;
pub use rate::{RateLimiter, RateLimits};
pub use route53::Route53;

/// Attempts per AWS call (the SDK's standard retry mode: exponential backoff with jitter on
/// throttling, 5xx and transient network errors).
const MAX_ATTEMPTS: u32 = 6;
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);

/// Where Route 53's control plane is, and its calls are signed.
pub const ROUTE53_REGION: &str = "us-east-1";

/// Error codes AWS uses for throttling, across protocols.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "PriorRequestNotComplete",
];

/// A failed AWS call, with what it was and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{service} {operation} failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub class: ErrorClass,
}

impl AwsError {
    /// Whether AWS refused the call for its rate (throttling), not for a failure.
    pub fn is_throttling(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| THROTTLING.contains(&c))
    }

    /// A request dialtone could not even build (a value outside what the SDK accepts): terminal.
    pub fn invalid(
        service: &'static str,
        operation: &'static str,
        err: impl std::fmt::Display,
    ) -> Self {
        AwsError {
            service,
            operation,
            code: None,
            message: format!("invalid request: {err}"),
            class: ErrorClass::Terminal,
        }
    }

    /// Classifies an SDK error: throttling, 5xx, timeouts and connection failures are retryable;
    /// `*NotFound*` codes are not-found; everything else is terminal.
    pub fn from_sdk<E>(
        service: &'static str,
        operation: &'static str,
        err: SdkError<E, aws_sdk_cloudwatch::config::http::HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let (code, message, class) = match &err {
            SdkError::ServiceError(service_err) => {
                let code = service_err.err().code().map(str::to_string);
                let status = service_err.raw().status().as_u16();
                let message = service_err
                    .err()
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("HTTP {status}"));
                let class = match code.as_deref() {
                    Some(c) if THROTTLING.contains(&c) => ErrorClass::Retryable,
                    Some(c) if c.contains("NotFound") => ErrorClass::NotFound,
                    _ if status >= 500 || status == 429 => ErrorClass::Retryable,
                    _ => ErrorClass::Terminal,
                };
                (code, message, class)
            }
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => (None, error_chain(&err), ErrorClass::Retryable),
            _ => (None, error_chain(&err), ErrorClass::Terminal),
        };
        AwsError {
            service,
            operation,
            code,
            message,
            class,
        }
    }
}

/// The one way an SDK call's result enters dialtone: errors classified, every call counted in
/// the metrics by outcome.
pub(crate) fn settle<T, E>(
    service: &'static str,
    operation: &'static str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> Result<T, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let result = result.map_err(|e| AwsError::from_sdk(service, operation, e));
    let outcome = match &result {
        Ok(_) => "ok",
        Err(err) => match err.class {
            ErrorClass::Retryable => "retryable_error",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Terminal => "error",
        },
    };
    Metrics::global().aws_request(service, operation, outcome);
    result
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Where a set of AWS clients points: a region, optionally through an assumed role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub region: String,
    pub role_arn: Option<String>,
}

/// One region's (and role's) adapters, sharing one rate limiter.
struct Regional {
    cloudwatch: Arc<CloudWatchAlarms>,
    connect: Arc<ConnectInstances>,
    mute_rules: Arc<MuteRules>,
    route53: Arc<Route53>,
}

/// One client set per region and role, built on first use and shared by every object there, so
/// reads batch across objects and rate limits hold per region.
pub struct AwsClients {
    base: SdkConfig,
    rates: RateLimits,
    regional: Mutex<HashMap<Target, Arc<Regional>>>,
}

impl AwsClients {
    /// Loads the standard AWS configuration (environment, profiles, IRSA / Pod Identity, and
    /// `AWS_ENDPOINT_URL` for an emulator).
    pub async fn from_env(rates: RateLimits) -> Self {
        let base = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::new(base, rates)
    }

    /// The region of dialtone's own AWS configuration (`AWS_REGION`, the profile), when set:
    /// where it reaches AWS from.
    pub fn home_region(&self) -> Option<String> {
        self.base.region().map(|r| r.to_string())
    }

    /// Clients on top of `base` (which may point at an emulator with `endpoint_url`).
    pub fn new(base: SdkConfig, rates: RateLimits) -> Self {
        // The app name marks dialtone's requests (user agent `app/dialtone`) in CloudTrail and in
        // the test emulator, which checks them against the IAM policy. STS calls for assumed
        // roles are built from this base too.
        let base = match aws_config::AppName::new("dialtone") {
            Ok(name) => base.to_builder().app_name(name).build(),
            Err(_) => base,
        };
        Self {
            base,
            rates,
            regional: Mutex::new(HashMap::new()),
        }
    }

    /// The CloudWatch adapter for `target`.
    pub async fn cloudwatch(&self, target: &Target) -> Arc<CloudWatchAlarms> {
        self.regional(target).await.cloudwatch.clone()
    }

    /// The CloudWatch mute rules adapter for `target`.
    pub async fn mute_rules(&self, target: &Target) -> Arc<MuteRules> {
        self.regional(target).await.mute_rules.clone()
    }

    /// The Amazon Connect adapter for `target`.
    pub async fn connect(&self, target: &Target) -> Arc<ConnectInstances> {
        self.regional(target).await.connect.clone()
    }

    /// The Route 53 adapter of the account `role_arn` reaches (Route 53's control plane is in
    /// us-east-1, where its calls are signed).
    pub async fn route53(&self, role_arn: Option<&str>) -> Arc<Route53> {
        let target = Target {
            region: ROUTE53_REGION.into(),
            role_arn: role_arn.map(str::to_string),
        };
        self.regional(&target).await.route53.clone()
    }

    async fn regional(&self, target: &Target) -> Arc<Regional> {
        if let Some(existing) = self.lock().get(target) {
            return existing.clone();
        }
        let config = self.config_for(target).await;
        let limiter = Arc::new(self.rates.limiter());
        let created = Arc::new(Regional {
            cloudwatch: Arc::new(CloudWatchAlarms::new(&config, limiter.clone())),
            connect: Arc::new(ConnectInstances::new(&config, limiter.clone())),
            mute_rules: Arc::new(MuteRules::new(&config, limiter.clone())),
            route53: Arc::new(Route53::new(&config, limiter)),
        });
        self.lock().entry(target.clone()).or_insert(created).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Target, Arc<Regional>>> {
        // A panic while holding this lock cannot leave the map inconsistent (inserts are atomic).
        self.regional
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn config_for(&self, target: &Target) -> SdkConfig {
        let region = Region::new(target.region.clone());
        let mut builder = self.base.to_builder().region(region.clone()).retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(INITIAL_BACKOFF),
        );
        if let Some(role) = &target.role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("dialtone")
                .region(region)
                .configure(&self.base)
                .build()
                .await;
            builder = builder.credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            );
        }
        builder.build()
    }
}

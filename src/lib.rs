//! dialtone: keeps an Amazon Connect contact center's CloudWatch alarms, maintenance windows and region
//! failover in the state declared in Git.

pub mod api;
pub mod aws;
pub mod commands;
pub mod controller;
pub mod crdgen;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod operator;
pub mod plan;
pub mod render;
pub mod say;
pub mod source;
pub mod validate;

/// What can go wrong in dialtone, classified so callers know whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {message}")]
    Manifest { path: String, message: String },

    #[error("{0}")]
    InvalidSpec(#[from] validate::InvalidSpec),

    #[error(transparent)]
    Aws(#[from] aws::AwsError),

    #[error("{0}")]
    Usage(String),

    #[error(transparent)]
    Operator(#[from] operator::OperatorError),

    #[error("serializing {what}: {message}")]
    Serialize { what: String, message: String },

    #[error("state file {path} {message}")]
    State { path: String, message: String },
}

/// How a caller should treat an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Trying again later may succeed (throttling, timeouts, 5xx).
    Retryable,
    /// Trying again cannot help until the input changes.
    Terminal,
    /// The thing asked for does not exist.
    NotFound,
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorClass::NotFound
            }
            Error::Io { .. } => ErrorClass::Retryable,
            Error::Aws(err) => err.class,
            Error::Operator(_) => ErrorClass::Retryable,
            Error::Manifest { .. }
            | Error::InvalidSpec(_)
            | Error::Serialize { .. }
            | Error::State { .. }
            | Error::Usage(_) => ErrorClass::Terminal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

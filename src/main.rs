//! The `dialtone` command: wiring only.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dialtone::aws::{AwsClients, RateLimits};
use dialtone::commands::{self, Output};
use dialtone::{api::common::parse_duration, crdgen, source::manifests};

/// Keeps an Amazon Connect contact center's CloudWatch alarms, maintenance windows and region
/// failover in the state declared in Git.
#[derive(Parser)]
#[command(name = "dialtone", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the four CustomResourceDefinitions as one multi-document YAML stream.
    Crds {
        /// Instead of printing, write one file per CRD into this directory (e.g. crds/).
        #[arg(long, value_name = "DIR")]
        split: Option<PathBuf>,
    },
    /// Show what would change in AWS, like `terraform plan`: each alarm to create, update or
    /// delete, each drifted field with its value in AWS and in the spec, and conflicts.
    Plan {
        #[command(flatten)]
        files: Files,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
        output: Format,
        /// Exit 0 when nothing would change, 2 when changes are pending, 1 on errors.
        #[arg(long)]
        detailed_exitcode: bool,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Apply the manifests once, print what was done and the resulting status.
    Apply {
        #[command(flatten)]
        files: Files,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Reconcile continuously: re-read the manifests, repair drift every resync, until SIGINT/SIGTERM.
    Run {
        /// A YAML file or a directory of them: the desired state, no cluster needed.
        #[arg(long, value_name = "PATH")]
        manifests: PathBuf,
        /// Time between sweeps, e.g. 30s, 60s, 5m.
        #[arg(long, default_value = "60s", value_parser = duration)]
        resync: Duration,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Check manifests the way the API server and dialtone would, without touching AWS.
    /// Exit 0 when every document is valid, 1 otherwise.
    Validate {
        /// A YAML file or a directory of them (multi-document files allowed).
        #[arg(short = 'f', long = "filename", value_name = "PATH")]
        path: PathBuf,
    },
}

#[derive(Args)]
struct Files {
    /// A YAML file or a directory of them (multi-document files allowed; objects without a
    /// namespace are in `default`).
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    path: PathBuf,
}

#[derive(Args)]
struct AwsArgs {
    /// Client-side rate limit for an AWS operation, OPERATION=PER_SECOND (repeatable). Defaults
    /// follow CloudWatch's quotas (PutMetricAlarm=3, DescribeAlarms=9, DeleteAlarms=3,
    /// TagResource=20); `all=0` turns limiting off, e.g. for an emulator.
    #[arg(long = "aws-rate", value_name = "OPERATION=PER_SECOND")]
    rates: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        Some(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => Err(format!("{text:?} is not a duration like 30s, 2m or 1h")),
    }
}

impl AwsArgs {
    async fn clients(&self) -> dialtone::Result<Arc<AwsClients>> {
        let rates = RateLimits::default()
            .with_overrides(self.rates.iter().map(String::as_str))
            .map_err(|err| dialtone::Error::Usage(err.to_string()))?;
        Ok(Arc::new(AwsClients::from_env(rates).await))
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(Cli::parse())) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> dialtone::Result<ExitCode> {
    match cli.command {
        Command::Plan {
            files,
            output,
            detailed_exitcode,
            aws,
        } => {
            let output = match output {
                Format::Text => Output::Text,
                Format::Json => Output::Json,
            };
            let code = commands::plan(&files.path, aws.clients().await?, output, detailed_exitcode)
                .await?;
            return Ok(ExitCode::from(code));
        }
        Command::Apply { files, aws } => {
            let code = commands::apply(&files.path, aws.clients().await?).await?;
            return Ok(ExitCode::from(code));
        }
        Command::Run {
            manifests,
            resync,
            aws,
        } => {
            let code = commands::run_manifests(&manifests, aws.clients().await?, resync).await?;
            return Ok(ExitCode::from(code));
        }
        Command::Crds { split: None } => {
            print!("{}", crdgen::stream()?);
        }
        Command::Crds { split: Some(dir) } => {
            for path in crdgen::write_split(&dir)? {
                println!("wrote {}", path.display());
            }
        }
        Command::Validate { path } => {
            let loaded = manifests::load(&path)?;
            for (origin, object) in &loaded.objects {
                println!("valid    {origin}: {}", object.key());
            }
            for problem in loaded.problems() {
                println!("INVALID  {problem}");
            }
            if !loaded.invalid.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

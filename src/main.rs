//! The `dialtone` command: wiring only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dialtone::aws::{AwsClients, RateLimits};
use dialtone::commands::{self, Output};
use dialtone::http::{self, Health};
use dialtone::operator::{self, ClusterOptions};
use dialtone::{api::common::parse_duration, crdgen, source::manifests};

/// Keeps an Amazon Connect contact center's CloudWatch alarms, maintenance windows and region
/// failover in the state declared in Git.
#[derive(Parser)]
#[command(name = "dialtone", version, about)]
struct Cli {
    /// Log format: text or json (structured, one object per line).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Every object's status from a running `dialtone run --manifests` (its /status), one line
    /// per object as `kubectl get` shows them; `-o json` for the whole document.
    Status {
        /// The --http-addr of the running instance.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
        output: Format,
    },
    /// Print a shell completion script: `source <(dialtone completions bash)`, or save it where
    /// your shell loads completions (zsh: a file `_dialtone` in $fpath; fish:
    /// ~/.config/fish/completions/dialtone.fish).
    Completions { shell: clap_complete::Shell },
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
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
        output: Format,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Reconcile continuously until SIGINT/SIGTERM: the operator in a cluster (kubeconfig or
    /// in-cluster config), or with --manifests a directory of manifests and no cluster.
    Run {
        /// Desired state from a YAML file or a directory of them instead of the Kubernetes API.
        #[arg(long, value_name = "PATH")]
        manifests: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
        /// Time between drift sweeps, e.g. 30s, 60s, 5m.
        #[arg(long, default_value = "60s", value_parser = duration)]
        resync: Duration,
        /// Address of /metrics, /healthz, /readyz (and /status with --manifests). Default:
        /// 0.0.0.0:8080 in a cluster (the pod's probes and Prometheus reach it), 127.0.0.1:8080
        /// with --manifests (a workstation does not publish its status to the network).
        #[arg(long)]
        http_addr: Option<SocketAddr>,
        /// Watch only this namespace (default: all).
        #[arg(long, conflicts_with = "manifests")]
        namespace: Option<String>,
        /// Watch only objects with these labels, e.g. `shard=a` (several instances can split the objects).
        #[arg(long, conflicts_with = "manifests")]
        selector: Option<String>,
        /// Name of the coordination.k8s.io Lease used for leader election.
        #[arg(long, default_value = "dialtone-leader")]
        lease_name: String,
        /// Namespace of the Lease (default: the pod's namespace, from POD_NAMESPACE).
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        lease_namespace: String,
        /// This instance's identity in the Lease (default: the pod name, from POD_NAME).
        #[arg(long, env = "POD_NAME")]
        identity: Option<String>,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// The alert catalog: each preset an alarm entry can name (`preset: connect-queue-wait`), what it
    /// watches, its default threshold and severity, and its params. With NAME, the preset's docs
    /// and the alarm it expands to.
    Presets {
        /// One preset.
        name: Option<String>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
        output: Format,
    },
    /// Check manifests the way the API server and dialtone would, without touching AWS.
    /// Exit 0 when every document is valid, 1 otherwise.
    Validate {
        /// A YAML file or a directory of them (multi-document files allowed).
        #[arg(short = 'f', long = "filename", value_name = "PATH")]
        path: PathBuf,
        /// Read the subdirectories too (as `kubectl apply -R`).
        #[arg(short = 'R', long)]
        recursive: bool,
    },
}

#[derive(Args)]
struct Files {
    /// A YAML file or a directory of them (multi-document files allowed; objects without a
    /// namespace are in `default`).
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    path: PathBuf,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args)]
struct StateArgs {
    /// Where dialtone remembers, between runs, what it wrote for each object (how it cleans up
    /// after a manifest is removed or a region changes). Default: one file per manifest path under
    /// $XDG_STATE_HOME/dialtone/ (~/.local/state/dialtone/).
    #[arg(long, value_name = "FILE", env = "DIALTONE_STATE")]
    state: Option<PathBuf>,
    /// Also delete orphans: alarms with a dialtone owner tag, in a region this source uses, that
    /// no object of the source may delete (their policy was removed while no state recorded it,
    /// or the tag was copied by hand). `plan --prune` shows them first. Do not use it when other
    /// sources (directories, clusters) manage the same account and region.
    #[arg(long)]
    prune: bool,
    /// Read the subdirectories of a manifest directory too (as `kubectl apply -R`); without it
    /// they are named and skipped.
    #[arg(short = 'R', long)]
    recursive: bool,
}

impl StateArgs {
    fn options(&self) -> commands::FileOptions {
        commands::FileOptions {
            state: self.state.clone(),
            prune: self.prune,
            recursive: self.recursive,
        }
    }
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

impl From<Format> for Output {
    fn from(format: Format) -> Output {
        match format {
            Format::Text => Output::Text,
            Format::Json => Output::Json,
        }
    }
}

/// Hostname and process id: unique enough outside a pod (in a pod POD_NAME is set).
fn default_identity() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "dialtone".to_string());
    format!("{host}-{}", std::process::id())
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
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal; a file or a pipe gets plain text.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    dialtone::say::use_json(matches!(cli.log_format, LogFormat::Json));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            dialtone::say::err("ERROR", &format!("error: {err}"));
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
            let code = commands::plan(
                &files.path,
                aws.clients().await?,
                output.into(),
                detailed_exitcode,
                &files.state.options(),
            )
            .await?;
            return Ok(ExitCode::from(code));
        }
        Command::Apply { files, output, aws } => {
            let code = commands::apply(
                &files.path,
                aws.clients().await?,
                output.into(),
                &files.state.options(),
            )
            .await?;
            return Ok(ExitCode::from(code));
        }
        Command::Run {
            manifests,
            state,
            resync,
            http_addr,
            namespace,
            selector,
            lease_name,
            lease_namespace,
            identity,
            aws,
        } => {
            if let Some(path) = &manifests {
                // A path that is not there at start is a typo, not a directory still to come.
                std::fs::metadata(path).map_err(|source| dialtone::Error::Io {
                    path: format!("--manifests {}", path.display()),
                    source,
                })?;
            }
            let http_addr = http_addr.unwrap_or(if manifests.is_some() {
                SocketAddr::from(([127, 0, 0, 1], 8080))
            } else {
                SocketAddr::from(([0, 0, 0, 0], 8080))
            });
            let clients = aws.clients().await?;
            let health = Arc::new(Health::default());
            let listener = http::bind(http_addr).await.map_err(|err| {
                dialtone::Error::Usage(format!(
                    "--http-addr {http_addr}: cannot listen there: {err}{}",
                    if err.kind() == std::io::ErrorKind::AddrInUse {
                        " (another program uses the port: pick another with --http-addr, e.g. 127.0.0.1:8081)"
                    } else {
                        ""
                    }
                ))
            })?;
            let bound = listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            dialtone::say::out(&format!(
                "dialtone: serving /metrics, /healthz and /readyz on http://{bound}"
            ));
            tokio::spawn(http::serve(listener, health.clone()));
            let stop = commands::shutdown_signal();
            if let Some(path) = manifests {
                let code =
                    commands::run_manifests(&path, clients, resync, &state.options(), health, stop)
                        .await?;
                return Ok(ExitCode::from(code));
            }
            let client = kube::Client::try_default().await.map_err(|err| {
                dialtone::Error::Usage(format!("connecting to Kubernetes: {err}"))
            })?;
            let options = ClusterOptions {
                namespace,
                selector,
                resync,
                lease_name,
                lease_namespace,
                identity: identity.unwrap_or_else(default_identity),
            };
            operator::run(client, clients, options, health, stop).await?;
            dialtone::say::out("dialtone: stopped");
        }
        Command::Crds { split: None } => {
            print!("{}", crdgen::stream()?);
        }
        Command::Crds { split: Some(dir) } => {
            for path in crdgen::write_split(&dir)? {
                println!("wrote {}", path.display());
            }
        }
        Command::Status { addr, output } => {
            return Ok(ExitCode::from(commands::status(addr, output.into())?));
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut command = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "dialtone", &mut script);
            commands::emit(&String::from_utf8_lossy(&script));
        }
        Command::Presets { name, output } => {
            return Ok(ExitCode::from(commands::presets(
                name.as_deref(),
                output.into(),
            )?));
        }
        Command::Validate { path, recursive } => {
            let loaded = manifests::load_with(&path, recursive)?;
            for note in loaded.notes() {
                dialtone::say::err("INFO", &note);
            }
            for (key, (origin, _)) in &loaded.objects {
                println!("valid    {origin}: {key}");
            }
            for problem in loaded.problems() {
                println!("INVALID  {problem}");
            }
            if loaded.problem_count() > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

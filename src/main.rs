//! The `dialtone` command: wiring only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dialtone::{crdgen, source::manifests};

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
    /// Check manifests the way the API server and dialtone would, without touching AWS.
    /// Exit 0 when every document is valid, 1 otherwise.
    Validate {
        /// A YAML file or a directory of them (multi-document files allowed).
        #[arg(short = 'f', long = "filename", value_name = "PATH")]
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> dialtone::Result<ExitCode> {
    match cli.command {
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

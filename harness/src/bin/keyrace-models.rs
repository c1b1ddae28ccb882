//! `keyrace-models`: run the model catalogue and print the report table, or replay one
//! counterexample. The explorers are those of the build (see `keyrace_harness::explore`).
//!
//! ```text
//! keyrace-models run [--case <row/variant/actors>]
//! keyrace-models replay <row/variant/actors> (--shuttle <schedule> | --loom <checkpoint file>)
//! ```
//!
//! Exit codes: 0 as expected (run: every reference passes and every mutant is caught; replay:
//! the failure reproduced), 1 otherwise, 2 usage errors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyrace_harness::catalogue::{catalogue, find, Body};
use keyrace_harness::explore::{judge_replay, Backend, Replay, ReplayVerdict};
use keyrace_harness::report::Report;

#[derive(Parser)]
#[command(about = "Run keyrace's model catalogue, or replay a counterexample")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every model (or one) under this build's explorers and print the table.
    Run {
        /// Only this case, named row/variant/actors.
        #[arg(long)]
        case: Option<String>,
        /// Also print each caught mutant's counterexample: invariant, trace, replay command.
        #[arg(long)]
        counterexamples: bool,
    },
    /// Replay a failing execution printed by a run.
    Replay {
        /// The case, named row/variant/actors.
        case: String,
        /// A shuttle schedule string.
        #[arg(long, conflicts_with = "loom")]
        shuttle: Option<String>,
        /// A loom checkpoint file.
        #[arg(long)]
        loom: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run {
            case,
            counterexamples,
        } => {
            let cases: Vec<_> = catalogue()
                .into_iter()
                .filter(|c| case.as_ref().is_none_or(|name| c.name() == *name))
                .collect();
            if cases.is_empty() {
                eprintln!("no such case; cases are named row/variant/actors");
                return ExitCode::from(2);
            }
            let report = Report::run(&cases, &Backend::for_build());
            print!("{report}");
            if counterexamples {
                print!("{}", report.counterexamples());
            }
            if report.unexpected().is_empty() {
                ExitCode::SUCCESS
            } else {
                eprintln!("{}", report.explain_unexpected());
                ExitCode::FAILURE
            }
        }
        Command::Replay {
            case,
            shuttle,
            loom,
        } => {
            let Some(found) = find(&case) else {
                eprintln!("no case named {case}");
                return ExitCode::from(2);
            };
            let Body::Model(model) = &found.body else {
                eprintln!("{case} is a property: run it again to reproduce its minimal case");
                return ExitCode::from(2);
            };
            let handle = match (shuttle, loom) {
                (Some(schedule), None) => Replay::Shuttle(schedule),
                (None, Some(path)) => Replay::Loom(path),
                _ => {
                    eprintln!("give --shuttle <schedule> or --loom <file>");
                    return ExitCode::from(2);
                }
            };
            match judge_replay(&handle, model) {
                ReplayVerdict::Reproduced(message) => {
                    println!("reproduced:\n{message}");
                    ExitCode::SUCCESS
                }
                ReplayVerdict::Unusable(message) => {
                    eprintln!("cannot replay {case} with that handle: {message}");
                    ExitCode::from(2)
                }
                ReplayVerdict::Passed => {
                    println!("the execution passed: not reproduced");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

//! The grace ledgers across processes: P processes × T threads, each with its own connection,
//! consume the same K tokens in the same order at once; every token must have exactly one
//! winner among all of them. SQLite always; PostgreSQL where `KEYRACE_POSTGRES` names one.
//!
//! The test runs its own executable again as the racing processes (`KEYRACE_LEDGER_RACE` set:
//! the child's arguments), so it has its own `main` instead of libtest's.

use std::collections::BTreeMap;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use keyrace_core::bootstrap::{Consumed, GraceLedger};
use keyrace_witness::ledger::LedgerSpec;
use keyrace_witness::mutants::{ledger_for, ServerMutant};

/// A spec with this prefix races the `ledger-check-then-set` mutant over that database.
const MUTANT: &str = "check-then-set+";

const CHILD: &str = "KEYRACE_LEDGER_RACE";
const POSTGRES_ENV: &str = "KEYRACE_POSTGRES";
const PROCESSES: usize = 4;
const THREADS: usize = 4;

/// In a child: `spec|run|tokens`. Prints every token this process won, one per line.
fn child(args: &str) -> Result<(), String> {
    let mut parts = args.splitn(3, '|');
    let (Some(spec), Some(run), Some(tokens)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("bad {CHILD}: {args}"));
    };
    let (mutant, spec) = match spec.strip_prefix(MUTANT) {
        Some(spec) => (Some(ServerMutant::LedgerCheckThenSet), spec),
        None => (None, spec),
    };
    let spec: LedgerSpec = spec.parse()?;
    let tokens: usize = tokens.parse().map_err(|e| format!("tokens: {e}"))?;
    let ledger = ledger_for(&spec, THREADS, mutant).map_err(|e| e.to_string())?;
    let ledger: &dyn GraceLedger = &*ledger;
    let won: Vec<Vec<usize>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(move || {
                    let mut won = Vec::new();
                    for token in 0..tokens {
                        match ledger.try_consume(&format!("race-{run}-{token}")) {
                            Ok(Consumed::Won) => won.push(token),
                            Ok(Consumed::AlreadyConsumed) => {}
                            Err(e) => return Err(e.to_string()),
                        }
                    }
                    Ok(won)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err("a thread panicked".to_owned()))
            })
            .collect::<Result<_, _>>()
    })?;
    for token in won.into_iter().flatten() {
        println!("{token}");
    }
    Ok(())
}

/// Race `tokens` tokens through `spec` in PROCESSES × THREADS consumers.
fn race(spec: &str, tokens: usize) -> Result<(), String> {
    let run = {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
        hex::encode(bytes)
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .env(CHILD, format!("{spec}|{run}|{tokens}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let mut winners: BTreeMap<usize, usize> = BTreeMap::new();
    for child in children {
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!(
                "a racing process failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let token: usize = line.parse().map_err(|e| format!("{line:?}: {e}"))?;
            *winners.entry(token).or_default() += 1;
        }
    }
    let elapsed = start.elapsed();
    let wrong: Vec<String> = (0..tokens)
        .filter_map(|t| {
            let n = winners.get(&t).copied().unwrap_or(0);
            (n != 1).then(|| format!("token {t}: {n} winners"))
        })
        .take(10)
        .collect();
    if !wrong.is_empty() {
        return Err(format!(
            "{spec}: not exactly one winner per token: {wrong:?}"
        ));
    }
    let consumes = tokens * PROCESSES * THREADS;
    println!(
        "{}: {tokens} tokens × {PROCESSES} processes × {THREADS} threads: exactly one winner each \
         ({consumes} consumes in {elapsed:.2?}, {:.0}/s)",
        spec.split(':').next().unwrap_or(spec),
        consumes as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    if let Ok(args) = std::env::var(CHILD) {
        return match child(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    // libtest's flags (`--list`, filters) are not ours: a listing lists nothing.
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("tempdir: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut specs = vec![(
        format!("sqlite:{}", dir.path().join("grace.sqlite").display()),
        2000,
    )];
    match std::env::var(POSTGRES_ENV) {
        Ok(config) if !config.trim().is_empty() => specs.push((format!("postgres:{config}"), 2000)),
        _ if std::env::var_os("CI").is_some() => {
            eprintln!("{POSTGRES_ENV} is not set in CI: .ci/run must start PostgreSQL and set it");
            return ExitCode::FAILURE;
        }
        _ => println!(
            "SKIPPED postgres: set {POSTGRES_ENV} to a connection string (e.g. 'host=/tmp \
             dbname=postgres user=postgres') to race the PostgreSQL ledger too"
        ),
    }
    for (spec, tokens) in &specs {
        if let Err(e) = race(spec, *tokens) {
            eprintln!("FAILED: {e}");
            return ExitCode::FAILURE;
        }
    }
    // The race can fail: the check-then-set ledger, raced the same way, gives some token
    // more than one winner.
    for (spec, tokens) in &specs {
        match race(&format!("{MUTANT}{spec}"), *tokens) {
            Err(e) if e.contains("not exactly one winner") => {
                println!("caught, as it must be: {e}")
            }
            Err(e) => {
                eprintln!("FAILED: the mutant's race did not run: {e}");
                return ExitCode::FAILURE;
            }
            Ok(()) => {
                eprintln!("FAILED: the check-then-set ledger on {spec} was not caught");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

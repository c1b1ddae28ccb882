//! `keyrace check`: run the selected scenarios round by round within the budget, collect one
//! [`Report`], print it and write the machine forms.

use std::fs;
use std::io::IsTerminal;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use keyrace_core::ErrorCode;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::actor::{Actor, ActorError};
use crate::config::{Budget, Config};
use crate::protocol::{Hello, OpName, PROTOCOL};
use crate::reaper;
use crate::report::{Fault, Report, ScenarioReport, Status, Violation, EXIT_FAULT};
use crate::scenario::{self, Env, Round, ScenarioDef};

/// Violations shown in full per scenario (the rest are counted).
const SHOWN_VIOLATIONS: usize = 3;

/// Why a run could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("unknown scenario {0:?}; `keyrace list` shows the ids")]
    UnknownScenario(String),
    #[error("cannot prepare the run's scratch directory: {0}; check that the temp directory (TMPDIR) is writable")]
    Scratch(#[source] std::io::Error),
    #[error("cannot write {path}: {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RunError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RunError::UnknownScenario(_) => ErrorCode::InvalidArgument,
            RunError::Scratch(e) | RunError::Output { source: e, .. } => ErrorCode::from_io(e),
        }
    }
}

/// Run `keyrace check` and print its report; returns the process exit code.
pub fn run(cfg: &Config) -> i32 {
    let checked = check(cfg);
    if reaper::interrupted() {
        // The faults of killed actors are not findings; the handler reports and exits.
        reaper::wait_for_interrupt_handler();
    }
    let report = match checked {
        Ok(report) => report,
        Err(e) => {
            eprintln!("keyrace: {e}");
            return EXIT_FAULT;
        }
    };
    print!("{}", report.to_text());
    let outputs = [
        (cfg.json.as_ref(), report.to_json()),
        (cfg.junit.as_ref(), report.to_junit()),
    ];
    for (path, text) in outputs {
        if let Some(path) = path {
            if let Err(source) = fs::write(path, text) {
                eprintln!(
                    "keyrace: {}",
                    RunError::Output {
                        path: path.clone(),
                        source
                    }
                );
                return EXIT_FAULT;
            }
        }
    }
    report.exit_code
}

/// Run the selected scenarios and build the report.
pub fn check(cfg: &Config) -> Result<Report, RunError> {
    let started = Instant::now();
    let defs = select(cfg)?;
    let scratch = tempfile::Builder::new()
        .prefix("keyrace-")
        .tempdir()
        .map_err(RunError::Scratch)?;
    reaper::register_dir(scratch.path().to_owned());
    let result = check_in(cfg, &defs, scratch.path());
    reaper::unregister_dir(scratch.path());
    let scenarios = result?;
    Ok(Report {
        protocol: PROTOCOL,
        adapter: cfg
            .adapter
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        adapter_name: scenarios.1,
        seed: cfg.seed,
        actors: cfg.actors,
        exit_code: Report::compute_exit_code(&scenarios.0),
        scenarios: scenarios.0,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn select(cfg: &Config) -> Result<Vec<&'static ScenarioDef>, RunError> {
    if cfg.scenarios.is_empty() {
        return Ok(scenario::CATALOGUE.to_vec());
    }
    cfg.scenarios
        .iter()
        .map(|id| scenario::find(id).ok_or_else(|| RunError::UnknownScenario(id.clone())))
        .collect()
}

fn make_dir(path: &Path, mode: u32) -> std::io::Result<()> {
    fs::DirBuilder::new().mode(mode).create(path)?;
    // The umask may have taken bits away; set exactly what was asked.
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn check_in(
    cfg: &Config,
    defs: &[&'static ScenarioDef],
    scratch: &Path,
) -> Result<(Vec<ScenarioReport>, Option<String>), RunError> {
    // Traversable (not listable) by other users: a scenario may run actors unprivileged.
    fs::set_permissions(scratch, fs::Permissions::from_mode(0o711)).map_err(RunError::Scratch)?;
    let home = scratch.join("home");
    make_dir(&home, 0o700).map_err(RunError::Scratch)?;

    let probe = Env::new(cfg, home.clone()).spec("probe");
    let hello = match Actor::spawn(&probe) {
        Ok(actor) => Ok(actor.hello().clone()),
        Err(e) => Err(e),
    };
    let bar = progress_bar(cfg, defs);
    let mut reports = Vec::new();
    for def in defs {
        bar.set_message(def.id);
        let report = match &hello {
            Ok(hello) => run_scenario(cfg, def, hello, scratch, &home, &bar),
            Err(e) => fault_report(cfg, def, e),
        };
        reports.push(report);
    }
    bar.finish_and_clear();
    Ok((reports, hello.ok().map(|h| h.name)))
}

fn progress_bar(cfg: &Config, defs: &[&ScenarioDef]) -> ProgressBar {
    if !cfg.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total: u64 = defs
        .iter()
        .map(|def| match cfg.budget {
            Budget::Default => u64::from(def.default_rounds),
            Budget::Rounds(n) => u64::from(n),
            Budget::Time(_) => 0,
        })
        .sum();
    let bar = if total == 0 {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::new(total)
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} rounds  {msg:28} {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

fn fault_report(cfg: &Config, def: &ScenarioDef, error: &ActorError) -> ScenarioReport {
    ScenarioReport {
        id: def.id.to_owned(),
        status: Status::Fault,
        rounds: 0,
        violating_rounds: 0,
        violations: Vec::new(),
        skipped_reason: None,
        fault: Some(Fault {
            round: 0,
            message: error.to_string(),
            stderr_tail: error.stderr_tail().to_owned(),
            repro: cfg.repro(def.id, 0),
        }),
        seconds: 0.0,
        rounds_per_second: 0.0,
    }
}

/// A seed per (run seed, scenario, round): re-running with `--seed` replays every round's
/// choices, whatever rounds ran before it.
pub fn round_seed(seed: u64, id: &str, round: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed ^ h ^ u64::from(round).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // splitmix64 finalizer
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn run_scenario(
    cfg: &Config,
    def: &ScenarioDef,
    hello: &Hello,
    scratch: &Path,
    home: &Path,
    bar: &ProgressBar,
) -> ScenarioReport {
    let mut report = ScenarioReport {
        id: def.id.to_owned(),
        status: Status::Passed,
        rounds: 0,
        violating_rounds: 0,
        violations: Vec::new(),
        skipped_reason: None,
        fault: None,
        seconds: 0.0,
        rounds_per_second: 0.0,
    };
    let missing: Vec<&str> = def
        .needs
        .iter()
        .filter(|op| !hello.ops.contains(op))
        .map(|op: &OpName| op.as_str())
        .collect();
    if !missing.is_empty() {
        report.status = Status::Skipped;
        report.skipped_reason = Some(format!(
            "the adapter does not implement {} (its hello lists {:?})",
            missing.join(", "),
            hello.ops.iter().map(|op| op.as_str()).collect::<Vec<_>>()
        ));
        return report;
    }
    let dir = scratch.join(def.id);
    if let Err(e) = make_dir(&dir, 0o711) {
        report.status = Status::Skipped;
        report.skipped_reason = Some(format!("cannot create {}: {e}", dir.display()));
        return report;
    }
    let started = Instant::now();
    let mut env = Env::new(cfg, home.to_owned());
    loop {
        let done = match cfg.budget {
            Budget::Default => report.rounds >= def.default_rounds,
            Budget::Rounds(n) => report.rounds >= n,
            Budget::Time(limit) => report.rounds > 0 && started.elapsed() >= limit,
        };
        if done {
            break;
        }
        let index = report.rounds;
        let round_dir = dir.join(format!("round-{index}"));
        if let Err(e) = make_dir(&round_dir, 0o700) {
            report.skipped_reason = Some(format!("cannot create {}: {e}", round_dir.display()));
            break;
        }
        let mut round = Round {
            index,
            dir: round_dir.clone(),
            rng: StdRng::seed_from_u64(round_seed(cfg.seed, def.id, index)),
            violations: Vec::new(),
        };
        let result = (def.run_round)(&mut env, &mut round);
        let _ = fs::remove_dir_all(&round_dir);
        report.rounds += 1;
        bar.inc(1);
        if !round.violations.is_empty() {
            report.violating_rounds += 1;
        }
        for (invariant, replies) in round.violations {
            if report.violations.len() < SHOWN_VIOLATIONS {
                report.violations.push(Violation {
                    round: index,
                    invariant,
                    replies,
                    repro: cfg.repro(def.id, index),
                });
            }
        }
        if let Err(e) = result {
            report.fault = Some(Fault {
                round: index,
                message: e.to_string(),
                stderr_tail: e.stderr_tail().to_owned(),
                repro: cfg.repro(def.id, index),
            });
            break;
        }
        if let Some(reason) = env.skip.take() {
            report.skipped_reason = Some(reason);
            break;
        }
        if cfg.fail_fast && report.violating_rounds > 0 {
            break;
        }
    }
    drop(env);
    report.seconds = started.elapsed().as_secs_f64();
    report.rounds_per_second = if report.seconds > 0.0 {
        f64::from(report.rounds) / report.seconds
    } else {
        0.0
    };
    report.status = if report.fault.is_some() {
        Status::Fault
    } else if report.violating_rounds > 0 {
        Status::Failed
    } else if report.skipped_reason.is_some() {
        Status::Skipped
    } else {
        Status::Passed
    };
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_seeds_differ_by_scenario_and_round_and_repeat() {
        assert_eq!(round_seed(1, "a", 0), round_seed(1, "a", 0));
        assert_ne!(round_seed(1, "a", 0), round_seed(1, "a", 1));
        assert_ne!(round_seed(1, "a", 0), round_seed(1, "b", 0));
        assert_ne!(round_seed(1, "a", 0), round_seed(2, "a", 0));
    }
}

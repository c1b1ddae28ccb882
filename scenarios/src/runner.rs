//! `keyrace check`: run the selected scenarios round by round within the budget, collect one
//! [`Report`], print it and write the machine forms.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use keyrace_core::ErrorCode;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rustix::process::Signal;

use crate::actor::{Actor, ActorError, FaultKind};
use crate::config::{Budget, Config};
use crate::explore::{word_text, Explorer, Strategy};
use crate::progress::Progress;
use crate::protocol::{Hello, OpName, PROTOCOL};
use crate::reaper;
use crate::report::{Fault, Report, ScenarioReport, EXIT_FAULT, EXIT_VIOLATION};
use crate::scenario::{self, Env, Mode, Round, ScenarioDef, EXPLORE_ROUNDS};
use crate::scratch::{Area, Scratch};

/// Why a run could not start, or did not end on its own.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("unknown scenario {0:?}; the scenarios are: {ids}", ids = scenario::CATALOGUE.map(|d| d.id).join(", "))]
    UnknownScenario(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("cannot prepare the run's scratch directory: {0}; check that the temp directory (TMPDIR) is writable")]
    Scratch(#[source] std::io::Error),
    #[error("cannot write {path}: {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted by {}; {}; {}", reaper::signal_name(*.signal), reaper::containment_summary(.survivors), .cleanup)]
    Interrupted {
        signal: Signal,
        survivors: Vec<u32>,
        /// What became of the scratch directory.
        cleanup: String,
    },
}

impl RunError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RunError::UnknownScenario(_) | RunError::InvalidConfig(_) => ErrorCode::InvalidArgument,
            RunError::Scratch(e) | RunError::Output { source: e, .. } => ErrorCode::from_io(e),
            RunError::Interrupted { .. } => ErrorCode::Io,
        }
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Interrupted { signal, .. } => reaper::exit_code(*signal),
            _ => EXIT_FAULT,
        }
    }
}

/// Run `keyrace check` and print its report; returns the process exit code.
pub fn run(cfg: &Config) -> i32 {
    let report = match check(cfg) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("keyrace: {e}");
            return e.exit_code();
        }
    };
    print!("{}", report.to_text());
    let outputs = [
        (cfg.json.as_ref(), report.to_json()),
        (cfg.junit.as_ref(), report.to_junit()),
    ];
    let mut exit_code = report.exit_code;
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
                // A violation stays the headline; otherwise the run is not fully reported.
                if exit_code != EXIT_VIOLATION {
                    exit_code = EXIT_FAULT;
                }
            }
        }
    }
    if let Some(signal) = reaper::interrupted() {
        // Interrupted after the scenarios ended (while the report was written).
        eprintln!("keyrace: interrupted by {}", reaper::signal_name(signal));
        return reaper::exit_code(signal);
    }
    exit_code
}

/// Run the selected scenarios and build the report.
///
/// The calling process becomes a child subreaper for the run, so helpers an adapter leaves
/// behind are reparented to it and killed (those marked with [`reaper::RUN_MARKER_ENV`], or
/// every non-actor child after [`reaper::own_every_child`]).
pub fn check(cfg: &Config) -> Result<Report, RunError> {
    let started = Instant::now();
    cfg.validate().map_err(RunError::InvalidConfig)?;
    let defs = select(cfg)?;
    let mut warnings = Vec::new();
    if let Err(e) = reaper::become_subreaper() {
        warnings.push(format!(
            "{e}: helpers an adapter leaves behind when it exits may survive the run"
        ));
    }
    let scratch = Scratch::create().map_err(RunError::Scratch)?;
    let scratch_path = scratch.area().path().to_owned();
    let result = check_in(cfg, &defs, scratch.area());
    let removed = scratch.remove();
    reaper::sweep_orphans();
    let survivors = reaper::unreaped();
    if let Some(signal) = reaper::interrupted() {
        return Err(RunError::Interrupted {
            signal,
            survivors,
            cleanup: match removed {
                Ok(()) => "the scratch directory was removed".to_owned(),
                Err(e) => format!(
                    "the scratch directory {} could not be removed: {e}",
                    scratch_path.display()
                ),
            },
        });
    }
    if let Err(e) = removed {
        warnings.push(format!(
            "the scratch directory {} could not be removed: {e}",
            scratch_path.display()
        ));
    }
    if !survivors.is_empty() {
        warnings.push(reaper::containment_summary(&survivors));
    }
    let (scenarios, adapter_name) = result?;
    Ok(Report {
        protocol: PROTOCOL,
        adapter: cfg
            .adapter
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        adapter_name,
        seed: cfg.seed,
        actors: cfg.actors,
        exit_code: Report::compute_exit_code(&scenarios),
        scenarios,
        seconds: started.elapsed().as_secs_f64(),
        warnings,
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

fn check_in(
    cfg: &Config,
    defs: &[&'static ScenarioDef],
    scratch: &Area,
) -> Result<(Vec<ScenarioReport>, Option<String>), RunError> {
    let home = scratch.create("home", 0o700).map_err(RunError::Scratch)?;

    let probe = Env::new(cfg, home.path().to_owned()).spec("probe");
    let hello = Actor::spawn(&probe).map(|actor| actor.hello().clone());
    let planned: u64 = defs
        .iter()
        .filter_map(|def| planned_rounds(cfg, def))
        .map(u64::from)
        .sum();
    let mut progress = Progress::new(
        cfg.progress,
        (!matches!(cfg.budget, Budget::Time(_))).then_some(planned),
    );
    let mut reports = Vec::new();
    // After an adapter stops answering, every later scenario would wait out the same deadline.
    let mut hung_in: Option<&str> = None;
    for def in defs {
        if reaper::interrupted().is_some() {
            break;
        }
        progress.scenario(def.id);
        let report = match (&hello, hung_in) {
            (Err(e), _) => fault_report(cfg, def, e),
            (Ok(_), Some(hung)) => not_run(def, format!(
                "not run: the adapter stopped answering in {hung} (its fault is shown there); fix that and re-run"
            )),
            (Ok(hello), None) => run_scenario(cfg, def, hello, scratch, home.path(), &mut progress),
        };
        if report
            .fault
            .as_ref()
            .is_some_and(|f| f.kind == FaultKind::Timeout)
        {
            hung_in = Some(def.id);
        }
        reports.push(report);
    }
    progress.finish();
    Ok((reports, hello.ok().map(|h| h.name)))
}

/// The rounds a scenario is planned to run (for progress; DFS may end sooner).
fn planned_rounds(cfg: &Config, def: &ScenarioDef) -> Option<u32> {
    if let (true, Mode::Stochastic) | (false, Mode::Traced) = (cfg.explore.is_some(), def.mode) {
        return Some(0);
    }
    match cfg.budget {
        Budget::Default if cfg.explore.is_some() && def.mode == Mode::Race => Some(EXPLORE_ROUNDS),
        Budget::Default => Some(def.default_rounds),
        Budget::Rounds(n) => Some(n),
        Budget::Time(_) => None,
    }
}

fn not_run(def: &ScenarioDef, reason: String) -> ScenarioReport {
    let mut report = ScenarioReport::new(def.id);
    report.skipped_reason = Some(reason);
    report.settle();
    report
}

fn fault_report(cfg: &Config, def: &ScenarioDef, error: &ActorError) -> ScenarioReport {
    let mut report = ScenarioReport::new(def.id);
    report.fault = Some(Fault {
        round: None,
        kind: error.kind(),
        message: error.to_string(),
        stderr_tail: error.stderr_tail().to_owned(),
        repro: cfg.repro(def.id, 0),
    });
    report.settle();
    report
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
    scratch: &Area,
    home: &std::path::Path,
    progress: &mut Progress,
) -> ScenarioReport {
    let mut report = ScenarioReport::new(def.id);
    let missing: Vec<&str> = def
        .needs
        .iter()
        .filter(|op| !hello.ops.contains(op))
        .map(|op: &OpName| op.as_str())
        .collect();
    if !missing.is_empty() {
        return not_run(
            def,
            format!(
                "the adapter does not implement {} (its hello lists {:?})",
                missing.join(", "),
                hello.ops.iter().map(|op| op.as_str()).collect::<Vec<_>>()
            ),
        );
    }
    if def.needs_key && hello.keyless {
        return not_run(
            def,
            "the adapter's hello declares the store keyless (it keeps no key material), so \
             there is no key source to check"
                .to_owned(),
        );
    }
    match (&cfg.explore, def.mode) {
        (None, Mode::Traced) => {
            return not_run(
                def,
                "runs only under --explore (it records file-system calls through the tracer)"
                    .to_owned(),
            )
        }
        (Some(_), Mode::Stochastic) => {
            return not_run(
                def,
                "has no controlled form (its faults are signals and damage, not \
                 interleavings); run it without --explore"
                    .to_owned(),
            )
        }
        _ => {}
    }
    let area = match scratch.create(def.id, 0o700) {
        Ok(area) => area,
        Err(e) => {
            return not_run(
                def,
                format!(
                    "cannot create {}: {e}",
                    scratch.path().join(def.id).display()
                ),
            )
        }
    };
    let planned = planned_rounds(cfg, def);
    let started = Instant::now();
    let mut env = match &cfg.explore {
        None => Env::new(cfg, home.to_owned()),
        Some(strategy) => {
            let explorer = Explorer::new(
                strategy.clone(),
                cfg.actors,
                round_seed(cfg.seed, def.id, u32::MAX),
            );
            match Env::controlled(cfg, home.to_owned(), area.path(), explorer) {
                Ok(env) => env,
                Err(reason) => {
                    return not_run(
                        def,
                        format!(
                            "cannot trace adapters here ({reason}); the stochastic scenarios \
                             still run without --explore"
                        ),
                    )
                }
            }
        }
    };
    let default_rounds = match def.mode {
        Mode::Race if cfg.explore.is_some() => EXPLORE_ROUNDS,
        _ => def.default_rounds,
    };
    loop {
        let done = match cfg.budget {
            Budget::Default => report.rounds >= default_rounds,
            Budget::Rounds(n) => report.rounds >= n,
            Budget::Time(limit) => report.rounds > 0 && started.elapsed() >= limit,
        };
        if done || reaper::interrupted().is_some() {
            break;
        }
        let index = report.rounds;
        let name = format!("round-{index}");
        let round_area = match area.create(&name, 0o700) {
            Ok(round_area) => round_area,
            Err(e) => {
                report.skipped_reason = Some(format!(
                    "cannot create {}: {e}",
                    area.path().join(&name).display()
                ));
                break;
            }
        };
        let mut round = Round {
            index,
            dir: round_area.path().to_owned(),
            area: round_area,
            rng: StdRng::seed_from_u64(round_seed(cfg.seed, def.id, index)),
            violations: Vec::new(),
            not_reached: Vec::new(),
            skip: None,
        };
        if let Some(controlled) = env.controlled.as_mut() {
            controlled.explorer.begin_round();
            controlled.log.clear();
        }
        let result = (def.run_round)(&mut env, &mut round);
        if reaper::interrupted().is_some() {
            // What a killed actor answered is not a finding.
            break;
        }
        if let Err(e) = area.remove_all(&name) {
            report.skipped_reason = Some(format!(
                "cannot remove {}: {e}",
                area.path().join(&name).display()
            ));
        }
        report.rounds += 1;
        let mut violations = env.findings.take();
        violations.append(&mut round.violations);
        let mut repro = cfg.repro(def.id, index);
        let mut exhausted = false;
        if let Some(controlled) = env.controlled.as_mut().filter(|_| def.mode == Mode::Race) {
            let word = controlled.explorer.word().to_vec();
            if !word.is_empty() {
                let mut schedule = vec![format!(
                    "schedule {} ({}{})",
                    word_text(&word),
                    controlled.explorer.strategy().describe(),
                    if controlled.explorer.diverged {
                        "; the adapter did not repeat its calls, so the planned schedule \
                         was left"
                    } else {
                        ""
                    }
                )];
                schedule.extend(controlled.log.iter().take(SCHEDULE_LINES).cloned());
                if controlled.log.len() > SCHEDULE_LINES {
                    schedule.push(format!(
                        "… {} more released calls",
                        controlled.log.len() - SCHEDULE_LINES
                    ));
                }
                for (_, lines) in &mut violations {
                    lines.extend(schedule.iter().cloned());
                }
                repro = cfg.repro_schedule(def.id, &word);
            }
            exhausted = !controlled.explorer.end_round();
            report.coverage = Some(explored(&controlled.explorer, report.rounds, exhausted));
        }
        if let Some(controlled) = env.controlled.as_ref().filter(|_| def.mode == Mode::Traced) {
            report.coverage = Some(format!(
                "{} distinct crash states judged ({} broke an invariant), under the portable \
                 and the ext4 data=ordered persistence profiles",
                controlled.states_judged, controlled.states_violating
            ));
        }
        report.record(index, violations, &round.not_reached, &repro);
        progress.round(def.id, report.rounds, planned, report.violating_rounds);
        if let Err(e) = result {
            report.fault = Some(Fault {
                round: Some(index),
                kind: e.kind(),
                message: e.to_string(),
                stderr_tail: e.stderr_tail().to_owned(),
                repro: cfg.repro(def.id, index),
            });
            break;
        }
        if let Some(unsupported) = env.controlled.as_ref().and_then(|c| c.tracer.unsupported()) {
            // What it found is real; a pass would not be.
            report.skipped_reason = Some(format!("unsupported, not judged: {unsupported}"));
            break;
        }
        if let Some(reason) = round.skip.take() {
            report.skipped_reason = Some(reason);
            break;
        }
        if exhausted
            || report.skipped_reason.is_some()
            || (cfg.fail_fast && report.violating_rounds > 0)
        {
            break;
        }
    }
    if cfg.explore.is_none() && def.mode == Mode::Race && report.rounds > 0 {
        report.coverage = Some(chance_coverage(report.rounds, cfg.actors));
    }
    drop(env);
    // Helpers that escaped an actor that was killed alive (an adapter that gave up being a
    // subreaper) are the runner's by now.
    reaper::sweep_orphans();
    report.seconds = started.elapsed().as_secs_f64();
    report.rounds_per_second = if report.seconds > 0.0 {
        f64::from(report.rounds) / report.seconds
    } else {
        0.0
    };
    report.settle();
    report
}

/// Released calls shown with a violation's schedule.
const SCHEDULE_LINES: usize = 60;

/// What chance bought in a racing scenario: the odds that a race showing in a given share of
/// rounds (each round independent) was missed by all of them.
fn chance_coverage(rounds: u32, actors: usize) -> String {
    let missed = |share: f64| {
        let p = (1.0 - share).powf(f64::from(rounds));
        if p >= 0.001 {
            format!("{:.1}%", p * 100.0)
        } else {
            format!("{p:.0e}")
        }
    };
    format!(
        "{rounds} rounds of {actors} actors at once: a race that shows in 1 round in 10 is \
         missed with probability {}, 1 in 100 with {}, 1 in 1,000 with {}; --explore orders \
         the calls instead",
        missed(0.1),
        missed(0.01),
        missed(0.001)
    )
}

/// What `--explore` covered in a scenario, for the report.
fn explored(explorer: &Explorer, rounds: u32, exhausted: bool) -> String {
    match explorer.strategy() {
        Strategy::Dfs { preemptions } if exhausted && explorer.inexact => format!(
            "{rounds} schedules with at most {preemptions} preemption(s); NOT exhaustive: the adapter did not repeat its file-system calls from one schedule to the next, so some planned schedules could not be followed"
        ),
        Strategy::Dfs { preemptions } if exhausted => format!(
            "all {rounds} schedules with at most {preemptions} preemption(s) (exhaustive within the bound; longest {} decisions)",
            explorer.longest
        ),
        Strategy::Dfs { preemptions } => format!(
            "{rounds} schedules with at most {preemptions} preemption(s); the bound was NOT exhausted (raise --rounds)"
        ),
        Strategy::Pct { .. } => format!(
            "{rounds} random schedules; {}",
            explorer.pct_bound().unwrap_or_default()
        ),
        Strategy::Replay(_) => "one replayed schedule".to_owned(),
    }
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

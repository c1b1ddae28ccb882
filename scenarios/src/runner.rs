//! `keyrace check`: run the selected scenarios round by round within the budget, collect one
//! [`Report`], print it and write the machine forms.

use std::path::{Path, PathBuf};
use std::time::Instant;

use keyrace_protocol::ErrorCode;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::actor::{Actor, ActorError, FaultKind};
use crate::config::{Budget, Config, RunMode};
use crate::coverage::{Coverage, Form};
use crate::crash::states::Profile;
use crate::explore::{Explorer, Strategy};
use crate::progress::Progress;
use crate::protocol::{Hello, OpName, PROTOCOL};
use crate::reaper;
use crate::report::{
    Fault, Interrupted, Part, Report, ScenarioReport, Weaker, EXIT_FAULT, EXIT_PASS,
    EXIT_VIOLATION, INTERRUPTED_BY, LACKS_OP, NOT_RUN,
};
use crate::scenario::{self, Env, Mode, Round, ScenarioDef, EXPLORE_ROUNDS};
use crate::scratch::{Area, Scratch};
use crate::trace::{self, Unavailable};

/// Why a run could not start, or did not end on its own.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An id no scenario has, with every id listed (`ScenarioId`'s own refusal).
    #[error("{0}")]
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
}

impl RunError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RunError::UnknownScenario(_) | RunError::InvalidConfig(_) => ErrorCode::InvalidArgument,
            RunError::Scratch(e) | RunError::Output { source: e, .. } => ErrorCode::from_io(e),
        }
    }

    /// The process exit status for this error: a usage error or a run that could not start.
    pub fn exit_code(&self) -> i32 {
        EXIT_FAULT
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
    let files = [
        cfg.json.as_deref().map(|path| (path, Ok(report.to_json()))),
        cfg.junit
            .as_deref()
            .map(|path| (path, Ok(report.to_junit()))),
    ];
    write_files(
        files.into_iter().flatten(),
        report.exit_code,
        report.interrupted.is_some(),
    )
}

/// Write a run's report files and settle its exit code as one run does (`keyrace check`, its
/// `--jobs` workers merged, `keyrace merge`): a file that cannot be written (or whose text
/// could not be made) makes a run that broke nothing exit 2; a signal that came after the
/// report was made, while its files were written, makes it exit 128 + n. `interrupted`: the
/// report already says a signal cut the run short. Standard error may be gone (a CI log
/// collector that timed out): what is said there is best effort.
pub fn write_files<'a>(
    files: impl IntoIterator<Item = (&'a Path, std::io::Result<String>)>,
    mut exit_code: i32,
    interrupted: bool,
) -> i32 {
    use std::io::Write;
    for (path, text) in files {
        if let Err(source) = text.and_then(|text| crate::report::write_whole(path, &text)) {
            let error = RunError::Output {
                path: path.to_owned(),
                source,
            };
            let _ = writeln!(std::io::stderr(), "keyrace: {error}");
            // A violation stays the headline; otherwise the run is not fully reported.
            if exit_code != EXIT_VIOLATION {
                exit_code = EXIT_FAULT;
            }
        }
    }
    if !interrupted {
        if let Some(signal) = reaper::interrupted() {
            let name = reaper::signal_name(signal);
            let _ = writeln!(std::io::stderr(), "keyrace: interrupted by {name}");
            if exit_code != EXIT_VIOLATION {
                return reaper::exit_code(signal);
            }
        }
    }
    exit_code
}

/// Run the selected scenarios and build the report.
///
/// The calling process becomes a child subreaper for the run, so helpers an adapter leaves
/// behind are reparented to it and killed (those marked with [`reaper::RUN_MARKER_ENV`], or
/// every non-actor child after [`reaper::own_every_child`]). A signal (SIGINT, SIGTERM,
/// SIGHUP) ends the run early: the report then holds what ran until then, and says so.
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
    let tracing = match cfg.mode {
        RunMode::Full => Tracing::probe(),
        RunMode::Chance => Tracing::NotWanted,
    };
    let scratch = Scratch::create().map_err(RunError::Scratch)?;
    let scratch_path = scratch.area().path().to_owned();
    let result = check_in(cfg, &defs, scratch.area(), &tracing);
    let removed = scratch.remove();
    reaper::sweep_orphans();
    let survivors = reaper::unreaped();
    let removal = match &removed {
        Ok(()) => "the scratch directory was removed".to_owned(),
        Err(e) => format!(
            "the scratch directory {} could not be removed: {e}",
            scratch_path.display()
        ),
    };
    // An interrupted run says how it was cleaned up in its INTERRUPTED line.
    let cleanup = format!("{}; {removal}", reaper::containment_summary(&survivors));
    if reaper::interrupted().is_none() {
        if removed.is_err() {
            warnings.push(removal);
        }
        if !survivors.is_empty() {
            warnings.push(reaper::containment_summary(&survivors));
        }
    }
    let ran = result?;
    let (scenarios, adapter_name) = (ran.reports, ran.adapter_name);
    let mut report = Report {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol: PROTOCOL.to_owned(),
        adapter: cfg
            .adapter
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        adapter_name,
        seed: cfg.seed,
        mode: cfg.mode,
        budget: cfg.budget.text(),
        strategy: cfg.strategy.describe(),
        shard: cfg.shard,
        parts: cfg.shard.map(|_| ran.parts),
        shards: None,
        weaker: tracing.weaker(&scenarios, &defs),
        require_systematic: cfg.require_systematic,
        exit_code: EXIT_PASS,
        scenarios,
        seconds: started.elapsed().as_secs_f64(),
        interrupted: reaper::interrupted().map(|signal| Interrupted {
            signal: reaper::signal_name(signal).to_owned(),
            exit_code: reaper::exit_code(signal),
            cleanup,
        }),
        warnings,
    };
    report.exit_code = report.compute_exit_code();
    Ok(report)
}

/// Whether this run traces its adapters: the full mode where tracing works.
pub enum Tracing {
    /// The chance mode: nothing is traced.
    NotWanted,
    Available,
    /// The full mode where tracing does not work: racing scenarios run by chance, and the
    /// crash-state scenarios do not run.
    Unavailable(Unavailable),
}

impl Tracing {
    fn probe() -> Tracing {
        match trace::available() {
            Ok(()) => Tracing::Available,
            Err(why) => Tracing::Unavailable(why),
        }
    }

    /// What a full run did instead of tracing, if it could not trace.
    fn weaker(&self, scenarios: &[ScenarioReport], defs: &[&ScenarioDef]) -> Option<Weaker> {
        let Tracing::Unavailable(why) = self else {
            return None;
        };
        let ids = |of_mode: fn(Mode) -> bool, ran: bool| {
            scenarios
                .iter()
                .filter(|s| {
                    defs.iter()
                        .any(|def| def.id.as_str() == s.id && of_mode(def.mode))
                })
                .filter(|s| s.form.is_some() == ran)
                .map(|s| s.id.clone())
                .collect()
        };
        let (by_chance, not_run): (Vec<String>, Vec<String>) = (
            ids(|mode| mode == Mode::Race, true),
            ids(Mode::needs_tracer, false),
        );
        // Scenarios that need no tracer ran at full strength whatever the machine allows.
        if by_chance.is_empty() && not_run.is_empty() {
            return None;
        }
        Some(Weaker {
            cause: why.cause.clone(),
            fix: why.fix.clone(),
            by_chance,
            not_run,
        })
    }

    /// How `def` runs under this tracing, or why it does not.
    fn plan(&self, def: &ScenarioDef) -> Result<Form, String> {
        match (def.mode, self) {
            (Mode::Stochastic, _) => Ok(Form::Untraced),
            (Mode::Race, Tracing::Available) => Ok(Form::Controlled),
            (Mode::Race, _) => Ok(Form::Chance),
            (Mode::Traced, Tracing::Available) => Ok(Form::CrashStates),
            (Mode::TracedRace, Tracing::Available) => Ok(Form::Controlled),
            (Mode::Traced | Mode::TracedRace, Tracing::NotWanted) => Err(
                "not run in the chance mode: crash states need the tracer (run without --mode \
                 chance)"
                    .to_owned(),
            ),
            (Mode::Traced | Mode::TracedRace, Tracing::Unavailable(why)) => Err(format!(
                "NOT RUN: crash states need the tracer, and tracing is unavailable here: {why}"
            )),
        }
    }
}

fn select(cfg: &Config) -> Result<Vec<&'static ScenarioDef>, RunError> {
    if cfg.scenarios.is_empty() {
        return Ok(scenario::CATALOGUE.to_vec());
    }
    // A scenario named twice runs once, where it was first named: its parts must be
    // numbered once for the shards of a run to join.
    let mut defs: Vec<&'static ScenarioDef> = Vec::new();
    for id in &cfg.scenarios {
        let def = scenario::def(id.parse().map_err(RunError::UnknownScenario)?);
        if !defs.iter().any(|d| d.id == def.id) {
            defs.push(def);
        }
    }
    Ok(defs)
}

/// What [`check_in`] ran.
struct Ran {
    reports: Vec<ScenarioReport>,
    /// The adapter's name, from its hello.
    adapter_name: Option<String>,
    /// The parts the whole run divides into (for a shard: all shards' together).
    parts: usize,
}

fn check_in(
    cfg: &Config,
    defs: &[&'static ScenarioDef],
    scratch: &Area,
    tracing: &Tracing,
) -> Result<Ran, RunError> {
    let home = scratch.create("home", 0o700).map_err(RunError::Scratch)?;

    let probe = Env::new(cfg, home.path().to_owned(), 1).spec("probe");
    let hello = Actor::spawn(&probe).map(|actor| actor.hello().clone());
    let planned: u64 = defs
        .iter()
        .filter_map(|def| planned_rounds(cfg, def, tracing.plan(def).ok()))
        .map(u64::from)
        .sum();
    let mut progress = Progress::new(
        cfg.progress,
        (!matches!(cfg.budget, Budget::Time(_))).then_some(planned),
    );
    let mut reports = Vec::new();
    // After an adapter stops answering, every later scenario would wait out the same deadline.
    let mut hung_in: Option<&str> = None;
    // The run's parts, numbered in the run's order of scenarios: a shard runs those it owns.
    let mut unit = 0;
    let plan: Vec<_> = defs
        .iter()
        .map(|&def| (def, parts(cfg, def, tracing)))
        .collect();
    for &(def, ref def_parts) in &plan {
        for &part in def_parts {
            unit += 1;
            if cfg.shard.is_some_and(|shard| !shard.owns(unit - 1)) {
                continue;
            }
            if let Some(signal) = reaper::interrupted() {
                // Listed, so that the report shows what the run left out (and a shard's report
                // holds every part it owns, as `keyrace merge` needs).
                let mut report = not_run(
                    def,
                    format!(
                        "{NOT_RUN}the run was interrupted ({}) before it started",
                        reaper::signal_name(signal)
                    ),
                );
                report.part = part;
                reports.push(report);
                continue;
            }
            progress.scenario(def.id.as_str());
            let mut report = match (&hello, hung_in) {
                (Err(e), _) => fault_report(cfg, def, e),
                (Ok(_), Some(hung)) => not_run(def, hung_text(hung)),
                (Ok(hello), None) => match tracing.plan(def) {
                    Err(reason) => not_run(def, reason),
                    Ok(form) => {
                        let scenario = Scenario {
                            cfg,
                            def,
                            form,
                            actors: cfg
                                .actors_for(matches!(form, Form::Controlled | Form::CrashStates)),
                            part: part.map(|p| p.index),
                        };
                        scenario.run(hello, scratch, home.path(), &mut progress)
                    }
                },
            };
            if report.part.is_none() {
                report.part = part;
            }
            if report
                .fault
                .as_ref()
                .is_some_and(|f| f.kind == FaultKind::Timeout)
            {
                hung_in = Some(def.id.as_str());
            }
            progress.finished(&report);
            reports.push(report);
        }
    }
    progress.finish();
    Ok(Ran {
        reports,
        adapter_name: hello.ok().map(|h| h.name),
        parts: plan.iter().map(|(_, parts)| parts.len()).sum(),
    })
}

/// `1st`, `2nd`, `3rd`, `4th`.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The parts `def` divides into in a sharded run: a controlled race explored by DFS, one per
/// actor run at its first choice; anything else is one part (`None`).
fn parts(cfg: &Config, def: &ScenarioDef, tracing: &Tracing) -> Vec<Option<Part>> {
    let split = cfg.shard.is_some()
        && matches!(cfg.strategy, Strategy::Dfs { .. })
        && tracing.plan(def) == Ok(Form::Controlled);
    if !split {
        return vec![None];
    }
    let of = cfg.actors_for(true);
    (0..of)
        .map(|actor| {
            Some(Part {
                index: actor,
                of,
                empty: false,
            })
        })
        .collect()
}

/// What a run that allowed a SQLite WAL index's shared mapping states.
pub const SHARED_MEMORY_NOTE: &str = "the store maps a SQLite WAL index (coordination memory, \
    rebuilt from the WAL after a crash): writes through shared memory are not controlled; the \
    store orders them with fcntl locks, which are; crash states leave the index out, as a reboot \
    does";

/// The rounds a scenario is planned to run (for progress; DFS may end sooner). `form`:
/// how it runs (`None`: it does not).
fn planned_rounds(cfg: &Config, def: &ScenarioDef, form: Option<Form>) -> Option<u32> {
    let form = form?;
    match cfg.budget {
        Budget::Default => Some(default_rounds(def, form)),
        Budget::Rounds(n) => Some(n),
        Budget::Time(_) => None,
    }
}

/// Rounds a crash form runs under the default budget however long they take: all of those
/// whose default is 2 (a put round and a delete round, say), so the time cap cuts only the
/// crash forms of many rounds, whose rounds are random mixes or schedules.
const MIN_CRASH_ROUNDS: u32 = 2;

/// The rounds of the default budget: a scenario's own, or up to [`EXPLORE_ROUNDS`]
/// schedules of a controlled race.
fn default_rounds(def: &ScenarioDef, form: Form) -> u32 {
    match form {
        // Every schedule of a racing crash form is judged in all its crash states.
        Form::Controlled if def.mode == Mode::TracedRace => def.default_rounds,
        Form::Controlled => EXPLORE_ROUNDS,
        Form::Chance | Form::Untraced | Form::CrashStates => def.default_rounds,
    }
}

/// Why a scenario after one whose adapter stopped answering did not run.
fn hung_text(hung: &str) -> String {
    format!(
        "{NOT_RUN}the adapter stopped answering in {hung} (its fault is shown there); fix that \
         and re-run"
    )
}

/// `--html`: the first history of the run that did not linearize, as a timeline page. The
/// report's note on what was written (`None` once a page was written).
fn write_timeline(
    cfg: &Config,
    env: &mut Env<'_>,
    id: &str,
    index: u32,
    (history, failure): &(keyrace_history::History, keyrace_history::Failure),
    repro: &str,
) -> Option<String> {
    let path = cfg.html.as_ref().filter(|_| !env.wrote_html)?;
    env.wrote_html = true;
    let title = format!("keyrace: {id} round {index} is not linearizable");
    let page = keyrace_history::timeline::html(history, failure, &title, repro);
    Some(match std::fs::write(path, page) {
        Ok(()) => format!("round {index}'s timeline was written to {}", path.display()),
        Err(e) => format!(
            "could not write round {index}'s timeline to {}: {e}",
            path.display()
        ),
    })
}

fn not_run(def: &ScenarioDef, reason: String) -> ScenarioReport {
    let mut report = ScenarioReport::new(def.id.as_str());
    report.skipped_reason = Some(reason);
    report.settle();
    report
}

fn fault_report(cfg: &Config, def: &ScenarioDef, error: &ActorError) -> ScenarioReport {
    let mut report = ScenarioReport::new(def.id.as_str());
    report.fault = Some(Fault {
        round: None,
        kind: error.kind(),
        message: error.to_string(),
        stderr_tail: error.stderr_tail().to_owned(),
        repro: cfg.repro(def.id.as_str(), Form::Untraced, 0),
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

/// One scenario of the run, in the form chosen for it.
struct Scenario<'c> {
    cfg: &'c Config,
    def: &'static ScenarioDef,
    form: Form,
    actors: usize,
    /// Only the schedules that run this actor at the first choice (`--shard`).
    part: Option<usize>,
}

/// Whether the round loop goes on.
enum Next {
    Continue,
    Stop,
}

impl Scenario<'_> {
    fn run(
        &self,
        hello: &Hello,
        scratch: &Area,
        home: &std::path::Path,
        progress: &mut Progress,
    ) -> ScenarioReport {
        let def = self.def;
        if let Err(reason) = self.takes_part(hello) {
            return not_run(def, reason);
        }
        let name = match self.part {
            Some(actor) => format!("{}-part-{actor}", def.id),
            None => def.id.to_string(),
        };
        let area = match scratch.create(&name, 0o700) {
            Ok(area) => area,
            Err(e) => {
                return not_run(
                    def,
                    format!(
                        "cannot create {}: {e}",
                        scratch.path().join(&name).display()
                    ),
                )
            }
        };
        let mut env = match self.env(home, area.path()) {
            Ok(env) => env,
            Err(why) => return not_run(def, format!("NOT RUN: cannot trace adapters here: {why}")),
        };
        let mut report = ScenarioReport::new(def.id.as_str());
        report.form = Some(self.form);
        report.actors = self.actors;
        report.part = self.part.map(|index| Part {
            index,
            of: self.actors,
            empty: false,
        });
        let planned = planned_rounds(self.cfg, def, Some(self.form));
        let started = Instant::now();
        env.ticker = progress.ticker(def.id.as_str());
        if let Budget::Time(limit) = self.cfg.budget {
            env.deadline = Some(started + limit);
        }
        let mut cut_by = None;
        let mut out_of_time = false;
        while !self.budget_spent(&report, started) {
            if self.crash_time_spent(&report, started) {
                out_of_time = true;
                break;
            }
            if let Some(signal) = reaper::interrupted() {
                cut_by = Some(signal);
                break;
            }
            if let Next::Stop = self.round(&mut env, &area, &mut report) {
                cut_by = reaper::interrupted();
                break;
            }
            progress.round(
                def.id.as_str(),
                report.rounds,
                planned,
                report.violating_rounds,
            );
        }
        report.coverage = self.coverage(&env, report.rounds);
        if out_of_time {
            report.notes.push(format!(
                "stopped after {} of its {} default rounds: the default budget gives a crash \
                 form {:.0} s (this store's rounds make many crash states); --rounds N or --time \
                 SECONDS runs more",
                report.rounds,
                default_rounds(def, self.form),
                self.cfg.crash_time.as_secs_f64()
            ));
        }
        if let Some(states) = self.racing_crash_states(&env) {
            report
                .notes
                .push(format!("crash states of its schedules: {states}"));
        }
        if let Some(mapping) = env
            .controlled
            .as_ref()
            .and_then(|c| c.tracer.coordination())
        {
            report
                .notes
                .push(format!("{SHARED_MEMORY_NOTE} ({mapping})"));
        }
        if let Some(signal) = cut_by {
            if report.skipped_reason.is_none() {
                // Rounds that passed before the signal are not a pass of the scenario.
                report.skipped_reason = Some(format!(
                    "{INTERRUPTED_BY}{} after {} round(s), before its budget was spent: not \
                     judged in full",
                    reaper::signal_name(signal),
                    report.rounds
                ));
            }
        }
        drop(env);
        // Helpers that escaped an actor that was killed alive (an adapter that gave up being
        // a subreaper) are the runner's by now.
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

    /// Why the adapter cannot take part, if it cannot: an op it lacks, or no key to check.
    fn takes_part(&self, hello: &Hello) -> Result<(), String> {
        let missing: Vec<&str> = self
            .def
            .needs
            .iter()
            .filter(|op| !hello.ops.contains(op))
            .map(|op: &OpName| op.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(format!("{LACKS_OP}{}", missing.join(", ")));
        }
        if self.def.needs_key && hello.keyless {
            return Err(
                "the adapter's hello declares the store keyless (it keeps no key material), \
                 so there is no key source to check"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// The actors of this scenario: free, or under a tracer scoped to `scope`.
    fn env<'c>(
        &self,
        home: &std::path::Path,
        scope: &std::path::Path,
    ) -> Result<Env<'c>, Unavailable>
    where
        Self: 'c,
    {
        let cfg: &'c Config = self.cfg;
        match self.form {
            Form::Chance | Form::Untraced => Ok(Env::new(cfg, home.to_owned(), self.actors)),
            Form::Controlled | Form::CrashStates => {
                let mut strategy = cfg.strategy.clone();
                if let Strategy::Dfs { reduction, .. } = &mut strategy {
                    // Actors that talk to a server share its state through sockets the
                    // tracer does not see: any of their calls may depend on any other.
                    *reduction &= !self.def.needs.contains(&OpName::Witness);
                    // When a racer's fsync runs, relative to another's reply, decides what a
                    // power loss keeps: an order the reduction treats as commuting.
                    *reduction &= self.def.mode != Mode::TracedRace;
                }
                let mut explorer = Explorer::new(
                    strategy,
                    self.actors,
                    round_seed(cfg.seed, self.def.id.as_str(), u32::MAX),
                );
                if let Some(actor) = self.part {
                    explorer = explorer.part(actor);
                }
                let mut env = Env::controlled(cfg, home.to_owned(), self.actors, scope, explorer)?;
                if let Some(controlled) = env.controlled.as_mut() {
                    controlled
                        .tracer
                        .order_syncs(self.def.mode == Mode::TracedRace);
                    controlled.verifier_with_racers =
                        matches!(self.def.mode, Mode::Race | Mode::TracedRace);
                }
                Ok(env)
            }
        }
    }

    /// Under the default budget, a crash form's time is up (checked between rounds).
    fn crash_time_spent(&self, report: &ScenarioReport, started: Instant) -> bool {
        matches!(self.cfg.budget, Budget::Default)
            && self.def.mode.needs_tracer()
            && report.rounds >= MIN_CRASH_ROUNDS
            && started.elapsed() >= self.cfg.crash_time
    }

    fn budget_spent(&self, report: &ScenarioReport, started: Instant) -> bool {
        match self.cfg.budget {
            Budget::Default => report.rounds >= default_rounds(self.def, self.form),
            Budget::Rounds(n) => report.rounds >= n,
            Budget::Time(limit) => report.rounds > 0 && started.elapsed() >= limit,
        }
    }

    /// Round `index`'s directory `name` in `area`, and the round; `None` (the scenario stops,
    /// saying why) when the directory cannot be made.
    fn open_round(
        &self,
        area: &Area,
        name: &str,
        index: u32,
        report: &mut ScenarioReport,
    ) -> Option<Round> {
        let round_area = match area.create(name, 0o700) {
            Ok(round_area) => round_area,
            Err(e) => {
                report.skipped_reason = Some(format!(
                    "cannot create {}: {e}",
                    area.path().join(name).display()
                ));
                return None;
            }
        };
        Some(Round {
            index,
            dir: round_area.path().to_owned(),
            area: round_area,
            rng: StdRng::seed_from_u64(round_seed(self.cfg.seed, self.def.id.as_str(), index)),
            violations: Vec::new(),
            not_reached: Vec::new(),
            skip: None,
            timeline: None,
        })
    }

    /// What follows a round that ran another part's schedule (its directory `name` removed),
    /// or `None` for a round of this part's.
    fn foreign_round(
        &self,
        env: &mut Env<'_>,
        area: &Area,
        name: &str,
        report: &mut ScenarioReport,
    ) -> Option<Next> {
        let controlled = env.controlled.as_mut().filter(|c| c.foreign())?;
        let index = report.rounds;
        let schedule = controlled.end_round(&mut []);
        let _ = area.remove_all(name);
        if schedule.more {
            // A smaller bound held none of this part's schedules: the next bound's
            // search goes on (a deepening search: at most once per bound).
            return Some(Next::Continue);
        }
        let part = self.part.unwrap_or(0);
        if report.rounds == 0 {
            if let Some(part) = report.part.as_mut() {
                part.empty = true;
            }
            report.notes.push(format!(
                "this part is empty: no schedule has a {} actor able to run at the first \
                 decision where more than one can; the other parts cover the scenario",
                ordinal(part + 1)
            ));
        } else {
            report.notes.push(format!(
                "round {index} ran another part's schedule (the adapter did not repeat its \
                 calls before the first choice): this part's search stopped there"
            ));
        }
        Some(Next::Stop)
    }

    /// One round: a fresh directory, the scenario's round, its findings into `report`.
    fn round(&self, env: &mut Env<'_>, area: &Area, report: &mut ScenarioReport) -> Next {
        let (cfg, def) = (self.cfg, self.def);
        let index = report.rounds;
        let name = format!("round-{index}");
        let Some(mut round) = self.open_round(area, &name, index, report) else {
            return Next::Stop;
        };
        if let Some(controlled) = env.controlled.as_mut() {
            controlled.begin_round();
        }
        let result = (def.run_round)(env, &mut round);
        if reaper::interrupted().is_some() {
            // What a killed actor answered is not a finding.
            return Next::Stop;
        }
        // A round that ran another part's schedule is not this part's to count (a fault is
        // reported all the same, below).
        if result.is_ok() {
            if let Some(next) = self.foreign_round(env, area, &name, report) {
                return next;
            }
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
        let mut repro = cfg.repro(def.id.as_str(), self.form, index);
        let mut exhausted = false;
        if let Some(controlled) = env
            .controlled
            .as_mut()
            .filter(|_| self.form == Form::Controlled)
        {
            let schedule = controlled.end_round(&mut violations);
            if let Some(word) = schedule.word {
                repro = cfg.repro_schedule(def.id.as_str(), &word);
            }
            exhausted = !schedule.more;
        }
        if let Some(timeline) = &round.timeline {
            let note = write_timeline(cfg, env, def.id.as_str(), index, timeline, &repro);
            report.notes.extend(note);
        }
        report.record(index, violations, &round.not_reached, &repro);
        if let Err(e) = result {
            report.fault = Some(Fault {
                round: Some(index),
                kind: e.kind(),
                message: e.to_string(),
                stderr_tail: e.stderr_tail().to_owned(),
                repro: cfg.repro(def.id.as_str(), self.form, index),
            });
            return Next::Stop;
        }
        if let Some(unsupported) = env.controlled.as_ref().and_then(|c| c.tracer.unsupported()) {
            // What it found is real; a pass would not be.
            report.skipped_reason = Some(format!("unsupported, not judged: {unsupported}"));
            return Next::Stop;
        }
        if let Some(reason) = round.skip.take() {
            report.skipped_reason = Some(reason);
            return Next::Stop;
        }
        if exhausted
            || report.skipped_reason.is_some()
            || (cfg.fail_fast && report.violating_rounds > 0)
        {
            return Next::Stop;
        }
        Next::Continue
    }

    /// What a racing crash form judged in its schedules' crash states (its coverage is the
    /// schedules').
    fn racing_crash_states(&self, env: &Env<'_>) -> Option<Coverage> {
        let controlled = env.controlled.as_ref()?;
        let crash = &controlled.crash;
        (self.def.mode == Mode::TracedRace && crash.recordings > 0).then(|| Coverage::CrashStates {
            recordings: crash.recordings,
            states: crash.states_judged,
            states_violating: crash.states_violating,
            profiles: Profile::ALL.map(|p| p.name().to_owned()).to_vec(),
            enumeration_exhaustive: crash.cut_short.is_empty(),
            cut_short: crash.cut_short.clone(),
        })
    }

    /// What the rounds covered, in this scenario's form.
    fn coverage(&self, env: &Env<'_>, rounds: u32) -> Option<Coverage> {
        if rounds == 0 {
            return None;
        }
        match (self.form, env.controlled.as_ref()) {
            (Form::Chance, _) => Some(Coverage::Chance {
                rounds,
                actors: self.actors,
            }),
            (Form::Controlled, Some(controlled)) => Some(controlled.coverage(rounds)),
            (Form::CrashStates, Some(controlled)) => Some(Coverage::CrashStates {
                recordings: controlled.crash.recordings,
                states: controlled.crash.states_judged,
                states_violating: controlled.crash.states_violating,
                profiles: Profile::ALL.map(|p| p.name().to_owned()).to_vec(),
                enumeration_exhaustive: controlled.crash.cut_short.is_empty(),
                cut_short: controlled.crash.cut_short.clone(),
            }),
            _ => None,
        }
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

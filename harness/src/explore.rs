//! One model body, run by whichever explorer this build has.
//!
//! | build | explorers | budget (defaults) |
//! |---|---|---|
//! | `RUSTFLAGS="--cfg loom"` | [`Backend::Loom`] | exhaustive within a preemption bound ([`LOOM_PREEMPTION_BOUND`], or `LOOM_MAX_PREEMPTIONS`) |
//! | `--features shuttle` | [`Backend::ShuttlePct`] depth 2 and 3, [`Backend::ShuttleRandom`] | [`SHUTTLE_ITERATIONS`] schedules each, seeded by [`shuttle_seed`] |
//! | plain | [`Backend::Stress`] | std threads, [`STRESS_ITERATIONS`] runs: finds little, proves the models run |
//!
//! A model is a `Fn()` that panics when its invariant breaks. A run stops at the first failure
//! and returns a [`Counterexample`] with the panic message (invariant and trace) and how to replay it.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::quiet;

/// Set to a printed replay handle (a shuttle schedule, or a loom checkpoint file),
/// [`crate::check::check`] re-runs that one failing execution instead of exploring. It lives
/// here, beside the counterexample that prints it, so `check` depends on `explore` and not
/// the other way round.
pub const REPLAY_ENV: &str = "KEYRACE_REPLAY";

/// A model: panics with a [`crate::models::violated`] message when its invariant breaks.
pub type Model = Arc<dyn Fn() + Send + Sync + 'static>;

/// Loom's default preemption bound: every interleaving with at most this many preemptions.
/// `.ci/models.sh` raises it to 3 through `LOOM_MAX_PREEMPTIONS`.
pub const LOOM_PREEMPTION_BOUND: usize = 2;

/// The bound for models of three or more actors, whatever the default: at bound 3 the
/// three-actor put race alone takes 60 000 executions (20 s), at bound 2 about 2 000 (1 s),
/// and no mutant needs more than 2 preemptions with three actors (they are all caught with
/// two actors at the same bound).
pub const LOOM_PREEMPTION_BOUND_3_ACTORS: usize = 2;

/// Schedules per shuttle explorer.
pub const SHUTTLE_ITERATIONS: usize = 1000;

/// The seed of the shuttle schedulers when `KEYRACE_SHUTTLE_SEED` is unset: a fixed one, so
/// that two runs of the suite explore the same schedules and a red run can be reproduced.
pub const DEFAULT_SHUTTLE_SEED: u64 = 0x6b65_7972_6163_6501;

/// The seed of the shuttle schedulers: `KEYRACE_SHUTTLE_SEED` (decimal), else
/// [`DEFAULT_SHUTTLE_SEED`]. Printed in every report.
pub fn shuttle_seed() -> u64 {
    std::env::var("KEYRACE_SHUTTLE_SEED")
        .ok()
        .and_then(|seed| seed.trim().parse().ok())
        .unwrap_or(DEFAULT_SHUTTLE_SEED)
}

/// Runs of the plain-build stress explorer.
pub const STRESS_ITERATIONS: usize = 50;

/// What runs a model's threads: loom, shuttle or plain std threads (the runner's controlled
/// interleavings of processes are `keyrace_runner::explore::Explorer`, another thing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `loom::model` with this preemption bound: exhaustive within the bound.
    Loom { preemption_bound: usize },
    /// `shuttle`'s PCT scheduler: probabilistic bug-depth guarantees.
    ShuttlePct { iterations: usize, depth: usize },
    /// `shuttle`'s uniformly random scheduler.
    ShuttleRandom { iterations: usize },
    /// Plain std threads, repeated.
    Stress { iterations: usize },
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Loom { preemption_bound } => write!(f, "loom(preempt<={preemption_bound})"),
            Backend::ShuttlePct { depth, .. } => write!(f, "shuttle-pct(d={depth})"),
            Backend::ShuttleRandom { .. } => write!(f, "shuttle-random"),
            Backend::Stress { .. } => write!(f, "std-stress"),
        }
    }
}

impl Backend {
    /// Whether this explorer has anything to explore in a model of `actors` actors: shuttle's
    /// PCT refuses a model with a single thread ("did not exercise any concurrency"), so
    /// sequential models (one actor: crash loops, fault injection) run under the other
    /// explorers only.
    pub fn applies_to(&self, actors: usize) -> bool {
        !matches!(self, Backend::ShuttlePct { .. }) || actors > 1
    }

    /// This explorer's budget for a model of `actors` actors (see
    /// [`LOOM_PREEMPTION_BOUND_3_ACTORS`]).
    pub fn for_actors(self, actors: usize) -> Backend {
        match self {
            Backend::Loom { preemption_bound } if actors >= 3 => Backend::Loom {
                preemption_bound: preemption_bound.min(LOOM_PREEMPTION_BOUND_3_ACTORS),
            },
            other => other,
        }
    }

    /// The budget for a sequential (one-actor) model: every schedule is the same one, so one
    /// execution explores it all.
    pub fn for_sequential(self) -> Backend {
        match self {
            Backend::ShuttleRandom { .. } => Backend::ShuttleRandom { iterations: 1 },
            Backend::Stress { .. } => Backend::Stress { iterations: 1 },
            other => other,
        }
    }

    /// This explorer's budget for a model of `actors` actors: [`Backend::for_actors`], or
    /// [`Backend::for_sequential`] for a one-actor model.
    pub fn for_model(self, actors: usize) -> Backend {
        if actors > 1 {
            self.for_actors(actors)
        } else {
            self.for_sequential()
        }
    }

    /// The explorers this build can run, with their default budgets. Panics, saying which
    /// feature to enable, when `keyrace_core::sync` resolves to other primitives than these
    /// explorers need (see [`build_mismatch`]).
    pub fn for_build() -> Vec<Backend> {
        let explorers = Backend::configured();
        if let Some(problem) = explorers.iter().find_map(|e| build_mismatch(*e)) {
            panic!("{problem}");
        }
        explorers
    }

    fn configured() -> Vec<Backend> {
        if cfg!(loom) {
            let bound = std::env::var("LOOM_MAX_PREEMPTIONS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(LOOM_PREEMPTION_BOUND);
            vec![Backend::Loom {
                preemption_bound: bound,
            }]
        } else if cfg!(feature = "shuttle") {
            vec![
                Backend::ShuttlePct {
                    iterations: SHUTTLE_ITERATIONS,
                    depth: 2,
                },
                Backend::ShuttlePct {
                    iterations: SHUTTLE_ITERATIONS,
                    depth: 3,
                },
                Backend::ShuttleRandom {
                    iterations: SHUTTLE_ITERATIONS,
                },
            ]
        } else {
            vec![Backend::Stress {
                iterations: STRESS_ITERATIONS,
            }]
        }
    }
}

/// How to run a failing execution again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// A shuttle schedule string, for `shuttle::replay`.
    Shuttle(String),
    /// A loom checkpoint file holding the failing execution's path.
    Loom(PathBuf),
    /// Std threads cannot be replayed.
    None,
}

/// A failing execution a model explorer found: what broke, and how to replay it.
#[derive(Debug, Clone)]
pub struct Counterexample {
    /// The panic message: the invariant, details and the trace.
    pub message: String,
    pub replay: Replay,
}

impl Counterexample {
    /// Whether `message` (a panic message) reports a broken model invariant, as opposed to a
    /// model that could not run.
    pub fn is_violation(message: &str) -> bool {
        message.contains(crate::models::VIOLATION_PREFIX)
    }

    /// The invariant a violation names: the rest of the line after
    /// [`crate::models::VIOLATION_PREFIX`], wherever an explorer put it (shuttle wraps the
    /// panic message). `None` for a panic that is not a violation.
    pub fn broken_invariant(&self) -> Option<&str> {
        let prefix = crate::models::VIOLATION_PREFIX;
        let at = self.message.find(prefix)? + prefix.len();
        self.message[at..].lines().next()
    }

    /// The first line naming the broken invariant (or the panic's first line).
    pub fn invariant(&self) -> &str {
        self.message
            .lines()
            .find(|l| l.starts_with(crate::models::VIOLATION_PREFIX))
            .or_else(|| self.message.lines().next())
            .unwrap_or("")
    }
}

/// The message without shuttle's own replay hints, then one line that re-runs the failing
/// execution: the test to run (the current thread's name, as libtest names a test's thread)
/// and the schedule to run it with.
impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", without_shuttle_hints(&self.message).trim_end())?;
        let test = std::thread::current()
            .name()
            .filter(|name| *name != "main")
            .map_or_else(
                || "this test".to_owned(),
                |name| format!("cargo test {name} -- --exact"),
            );
        let env = REPLAY_ENV;
        match &self.replay {
            Replay::Shuttle(schedule) => write!(
                f,
                "replay: {env}='{schedule}' {test} (with this run's features)"
            ),
            Replay::Loom(path) => write!(
                f,
                "replay: {env}={} {test} (with this run's RUSTFLAGS)",
                path.display()
            ),
            Replay::None => f.write_str(
                "replay: std threads record no schedule; run under keyrace-harness/shuttle or \
                 loom for a replayable one",
            ),
        }
    }
}

/// `message` without the lines shuttle adds to a failure (its schedule and how to pass it to
/// `shuttle::replay`, which a keyrace test replays through its own line instead).
fn without_shuttle_hints(message: &str) -> String {
    let mut kept = Vec::new();
    let mut in_schedule = false;
    for line in message.lines() {
        if line.starts_with("test panicked in task ") {
            continue;
        }
        if line == "failing schedule:" {
            in_schedule = true;
            continue;
        }
        if in_schedule {
            if line.starts_with("pass that string to `shuttle::replay`") {
                in_schedule = false;
            }
            continue;
        }
        kept.push(line.strip_prefix("original panic: ").unwrap_or(line));
    }
    kept.join("\n")
}

/// What replaying a counterexample showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// The execution broke an invariant again: this message.
    Reproduced(String),
    /// The execution passed.
    Passed,
    /// The handle could not be replayed (a mangled schedule, not a checkpoint file): why.
    Unusable(String),
}

/// Replay `handle` against `model` and judge what happened.
pub fn judge_replay(handle: &Replay, model: &Model) -> ReplayVerdict {
    match replay(handle, model) {
        Err(message) if Counterexample::is_violation(&message) => {
            ReplayVerdict::Reproduced(message)
        }
        Err(message) => ReplayVerdict::Unusable(message),
        Ok(()) => ReplayVerdict::Passed,
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub explorer: Backend,
    /// Executions run (interleavings for loom, schedules for shuttle), the failing one included.
    pub executions: usize,
    pub elapsed: Duration,
    pub failure: Option<Counterexample>,
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "(non-string panic payload)".to_owned()
    }
}

/// Wrap `model` so that every execution is counted.
fn counted(model: &Model, counter: &Arc<AtomicUsize>) -> impl Fn() + Send + Sync + 'static {
    let (model, counter) = (Arc::clone(model), Arc::clone(counter));
    move || {
        counter.fetch_add(1, Ordering::Relaxed);
        model()
    }
}

/// Run `model` under `explorer` until its budget is spent or the first failure. `name` names
/// the checkpoint file of a loom failure.
pub fn explore(explorer: Backend, name: &str, model: &Model) -> Outcome {
    if let Some(problem) = build_mismatch(explorer) {
        panic!("{problem}");
    }
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    // Violations are expected (every mutant panics) and come back in the `Counterexample`.
    let result = quiet::quietly(|| run(explorer, counted(model, &counter)));
    let executions = counter.load(Ordering::Relaxed);
    let elapsed = start.elapsed();
    let failure = result.err().map(|message| {
        let replay = quiet::quietly(|| replay_handle(explorer, name, model, &message));
        Counterexample { message, replay }
    });
    Outcome {
        explorer,
        executions,
        elapsed,
        failure,
    }
}

/// Why `explorer` cannot run in this build, if it cannot. Features unify: a dependent that
/// enables only `keyrace-core/shuttle` gets shuttle's primitives in the core and std threads
/// here, which shuttle reports as an internal error far from the cause.
fn build_mismatch(explorer: Backend) -> Option<String> {
    let shuttle_core = keyrace_core::sync::MODE == "shuttle";
    let shuttle_explorer = matches!(
        explorer,
        Backend::ShuttlePct { .. } | Backend::ShuttleRandom { .. }
    );
    (shuttle_core != shuttle_explorer && !cfg!(loom)).then(|| {
        format!(
            "keyrace-core's primitives are {} but the {} explorer needs {}: enable \
             `keyrace-harness/shuttle` (it switches the core too) to run the models under \
             shuttle, and neither feature for std threads",
            keyrace_core::sync::MODE,
            explorer,
            if shuttle_explorer {
                "shuttle's"
            } else {
                "std's"
            }
        )
    })
}

fn catch(f: impl FnOnce()) -> Result<(), String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_text(&*payload))
}

fn run(explorer: Backend, model: impl Fn() + Send + Sync + 'static) -> Result<(), String> {
    match explorer {
        Backend::Stress { iterations } => catch(|| {
            for _ in 0..iterations {
                model();
            }
        }),
        Backend::Loom { preemption_bound } => run_loom(preemption_bound, model),
        Backend::ShuttlePct { iterations, depth } => run_shuttle_pct(iterations, depth, model),
        Backend::ShuttleRandom { iterations } => run_shuttle_random(iterations, model),
    }
}

#[cfg(loom)]
fn loom_builder(preemption_bound: usize) -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemption_bound);
    builder.max_branches = 100_000;
    builder.checkpoint_file = None;
    builder
}

#[cfg(loom)]
fn run_loom(
    preemption_bound: usize,
    model: impl Fn() + Send + Sync + 'static,
) -> Result<(), String> {
    catch(|| loom_builder(preemption_bound).check(model))
}

#[cfg(not(loom))]
fn run_loom(_: usize, _: impl Fn() + Send + Sync + 'static) -> Result<(), String> {
    Err("loom is not in this build: rebuild with RUSTFLAGS=\"--cfg loom\"".to_owned())
}

#[cfg(all(feature = "shuttle", not(loom)))]
fn shuttle_config() -> shuttle::Config {
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::Print;
    config.silence_warnings = true;
    config
}

#[cfg(all(feature = "shuttle", not(loom)))]
fn run_shuttle_pct(
    iterations: usize,
    depth: usize,
    model: impl Fn() + Send + Sync + 'static,
) -> Result<(), String> {
    let scheduler =
        shuttle::scheduler::PctScheduler::new_from_seed(shuttle_seed(), depth, iterations);
    catch(|| {
        shuttle::Runner::new(scheduler, shuttle_config()).run(model);
    })
}

#[cfg(all(feature = "shuttle", not(loom)))]
fn run_shuttle_random(
    iterations: usize,
    model: impl Fn() + Send + Sync + 'static,
) -> Result<(), String> {
    let scheduler = shuttle::scheduler::RandomScheduler::new_from_seed(shuttle_seed(), iterations);
    catch(|| {
        shuttle::Runner::new(scheduler, shuttle_config()).run(model);
    })
}

#[cfg(not(all(feature = "shuttle", not(loom))))]
fn run_shuttle_pct(_: usize, _: usize, _: impl Fn() + Send + Sync + 'static) -> Result<(), String> {
    Err("shuttle is not in this build: rebuild with --features shuttle".to_owned())
}

#[cfg(not(all(feature = "shuttle", not(loom))))]
fn run_shuttle_random(_: usize, _: impl Fn() + Send + Sync + 'static) -> Result<(), String> {
    Err("shuttle is not in this build: rebuild with --features shuttle".to_owned())
}

/// The schedule string shuttle puts in its panic message, between the quote lines.
pub fn shuttle_schedule(message: &str) -> Option<String> {
    let start = message.find("failing schedule:\n\"\n")? + "failing schedule:\n\"\n".len();
    let len = message[start..].find("\n\"")?;
    Some(message[start..start + len].to_owned())
}

/// Where a loom counterexample of `name` is checkpointed.
pub fn loom_checkpoint_path(name: &str) -> PathBuf {
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::env::temp_dir().join(format!("keyrace-loom-{file}.json"))
}

fn replay_handle(explorer: Backend, name: &str, model: &Model, message: &str) -> Replay {
    match explorer {
        Backend::ShuttlePct { .. } | Backend::ShuttleRandom { .. } => {
            shuttle_schedule(message).map_or(Replay::None, Replay::Shuttle)
        }
        Backend::Loom { preemption_bound } => loom_checkpoint(preemption_bound, name, model),
        Backend::Stress { .. } => Replay::None,
    }
}

/// Loom explores in a fixed order, so running again with a checkpoint written before every
/// execution leaves the failing execution's path in the file when the same failure recurs.
#[cfg(loom)]
fn loom_checkpoint(preemption_bound: usize, name: &str, model: &Model) -> Replay {
    let path = loom_checkpoint_path(name);
    let _ = std::fs::remove_file(&path);
    let mut builder = loom_builder(preemption_bound);
    builder.checkpoint_file = Some(path.clone());
    builder.checkpoint_interval = 1;
    let model = Arc::clone(model);
    match catch(move || builder.check(move || model())) {
        Err(_) if path.exists() => Replay::Loom(path),
        _ => Replay::None,
    }
}

#[cfg(not(loom))]
fn loom_checkpoint(_: usize, _: &str, _: &Model) -> Replay {
    Replay::None
}

/// Run the recorded failing execution again; `Err(message)` when it fails (as it should).
/// A handle that cannot be replayed (a mangled schedule string, a file that is not a loom
/// checkpoint) also comes back as `Err`, whose message then names no broken invariant: see
/// [`Counterexample::is_violation`].
pub fn replay(replay: &Replay, model: &Model) -> Result<(), String> {
    // Quiet, as in `explore`: the panic comes back in the result.
    quiet::quietly(|| match replay {
        Replay::None => Err("this failure has no replay handle".to_owned()),
        Replay::Shuttle(schedule) => replay_shuttle(schedule.trim(), model),
        Replay::Loom(path) => replay_loom(path, model),
    })
}

#[cfg(all(feature = "shuttle", not(loom)))]
fn replay_shuttle(schedule: &str, model: &Model) -> Result<(), String> {
    let model = Arc::clone(model);
    // Shuttle panics on a string that is not a schedule.
    let scheduler = std::panic::catch_unwind(|| {
        shuttle::scheduler::ReplayScheduler::new_from_encoded(schedule)
    })
    .map_err(|_| format!("{schedule:?} is not a shuttle schedule string"))?;
    catch(move || {
        shuttle::Runner::new(scheduler, shuttle_config()).run(move || model());
    })
}

#[cfg(not(all(feature = "shuttle", not(loom))))]
fn replay_shuttle(_: &str, _: &Model) -> Result<(), String> {
    Err("shuttle is not in this build: rebuild with --features shuttle".to_owned())
}

/// Replays from a copy, so a replay that does not fail cannot overwrite the user's file.
#[cfg(loom)]
fn replay_loom(path: &std::path::Path, model: &Model) -> Result<(), String> {
    let copy = path.with_extension("replay.json");
    std::fs::copy(path, &copy).map_err(|e| format!("copy {}: {e}", path.display()))?;
    let mut builder = loom_builder(usize::MAX);
    builder.preemption_bound = None;
    builder.checkpoint_file = Some(copy);
    builder.checkpoint_interval = 1;
    // Stop before the second execution: only the recorded one runs.
    builder.max_permutations = Some(2);
    let model = Arc::clone(model);
    catch(move || builder.check(move || model()))
}

#[cfg(not(loom))]
fn replay_loom(_: &std::path::Path, _: &Model) -> Result<(), String> {
    Err("loom is not in this build: rebuild with RUSTFLAGS=\"--cfg loom\"".to_owned())
}

#[cfg(test)]
mod tests {

    /// A build whose core and explorer disagree says which feature to enable.
    #[test]
    #[cfg(not(any(loom, feature = "shuttle")))]
    fn a_shuttle_explorer_over_std_primitives_says_what_to_enable() {
        assert_eq!(build_mismatch(Backend::Stress { iterations: 1 }), None);
        let problem = build_mismatch(Backend::ShuttleRandom { iterations: 1 })
            .expect("std primitives cannot run under shuttle");
        assert!(
            problem.contains("enable `keyrace-harness/shuttle`"),
            "{problem}"
        );
    }

    use super::*;

    #[test]
    fn the_schedule_is_found_in_shuttles_failure_message() {
        let message = "test panicked in task 'main-thread'\nfailing schedule:\n\"\n9101ab00\n\"\npass that string to `shuttle::replay` to replay the failure\noriginal panic: x";
        assert_eq!(shuttle_schedule(message).as_deref(), Some("9101ab00"));
        assert_eq!(shuttle_schedule("no schedule here"), None);
    }

    #[test]
    fn shuttles_hints_are_left_out_and_one_replay_line_names_the_test() {
        let failure = Counterexample {
            message: "test panicked in task 'main-thread'\nfailing schedule:\n\"\n9101ab00\n\"\npass that string to `shuttle::replay` to replay the failure\noriginal panic: invariant violated: x\ntrace".to_owned(),
            replay: Replay::Shuttle("9101ab00".to_owned()),
        };
        let shown = failure.to_string();
        let name = std::thread::current().name().unwrap_or_default().to_owned();
        assert_eq!(
            shown,
            format!(
                "invariant violated: x\ntrace\nreplay: KEYRACE_REPLAY='9101ab00' cargo test \
                 {name} -- --exact (with this run's features)"
            )
        );
    }

    #[test]
    fn the_invariant_line_is_picked_out_of_a_failure() {
        let failure = Counterexample {
            message: format!(
                "preamble\n{}keys differ\nobserved: x",
                crate::models::VIOLATION_PREFIX
            ),
            replay: Replay::None,
        };
        assert_eq!(failure.invariant(), "invariant violated: keys differ");
    }
}

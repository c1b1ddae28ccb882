//! One model checked from a test: every explorer of the build, the first counterexample with
//! its invariant, trace and how to replay it. This is what an implementer's own `cargo test`
//! calls (see the harness README, "Model your own store"); the catalogue's suites go through
//! [`crate::report`] instead, which also tabulates.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::explore::REPLAY_ENV;
use crate::explore::{explore, replay, Backend, Counterexample, Model, Outcome, Replay};

/// What [`check`] found: every explorer's outcome, in order, up to the first failure.
#[derive(Debug, Clone)]
pub struct Checked {
    pub name: String,
    pub outcomes: Vec<Outcome>,
}

impl Checked {
    /// The first counterexample, if an explorer found one.
    pub fn counterexample(&self) -> Option<&Counterexample> {
        self.outcomes.iter().find_map(|o| o.failure.as_ref())
    }

    /// Whether every explorer of this build can force interleavings (loom or shuttle). Plain
    /// std threads cannot: a race they do not hit says little.
    pub fn systematic(&self) -> bool {
        self.outcomes
            .iter()
            .all(|o| !matches!(o.explorer, Backend::Stress { .. }))
    }
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for outcome in &self.outcomes {
            let verdict = if outcome.failure.is_some() {
                "FAILED"
            } else {
                "held"
            };
            writeln!(
                f,
                "{}: {} under {} ({} executions, {:.2?})",
                self.name, verdict, outcome.explorer, outcome.executions, outcome.elapsed
            )?;
        }
        if let Some(failure) = self.counterexample() {
            write!(f, "\n{failure}")?;
        }
        Ok(())
    }
}

/// Run `model`, a model of `actors` concurrent actors, under every explorer this build has
/// (loom with `--cfg loom`; shuttle PCT and random with `keyrace-harness/shuttle`; else std
/// threads), stopping at the first failure. With [`REPLAY_ENV`] set, re-run that execution.
pub fn check(name: &str, actors: usize, model: impl Fn() + Send + Sync + 'static) -> Checked {
    let model: Model = Arc::new(model);
    if let Some(handle) = replay_from_env() {
        let failure = replay(&handle, &model).err().map(|message| Counterexample {
            message,
            replay: handle,
        });
        let outcome = Outcome {
            explorer: Backend::for_build()[0],
            executions: 1,
            elapsed: std::time::Duration::ZERO,
            failure,
        };
        return Checked {
            name: name.to_owned(),
            outcomes: vec![outcome],
        };
    }
    let mut outcomes = Vec::new();
    for explorer in Backend::for_build() {
        if !explorer.applies_to(actors) {
            continue;
        }
        let outcome = explore(explorer.for_model(actors), name, &model);
        let failed = outcome.failure.is_some();
        outcomes.push(outcome);
        if failed {
            break;
        }
    }
    Checked {
        name: name.to_owned(),
        outcomes,
    }
}

/// Set (to anything) to let [`assert_holds`] pass a racing model on plain std threads.
pub const PLAIN_THREADS_ENV: &str = "KEYRACE_PLAIN_THREADS";

/// [`check`], panicking with the counterexample when the model fails: for the reference, or a
/// store that must hold. A race of several actors that held only on plain std threads (a
/// build without shuttle or loom) proves little, so that panics too, saying what to enable,
/// unless [`PLAIN_THREADS_ENV`] is set.
pub fn assert_holds(
    name: &str,
    actors: usize,
    model: impl Fn() + Send + Sync + 'static,
) -> Checked {
    let checked = check(name, actors, model);
    if checked.counterexample().is_some() {
        panic!("{checked}");
    }
    if actors > 1 && !checked.systematic() && std::env::var_os(PLAIN_THREADS_ENV).is_none() {
        panic!(
            "{name} held, but only under plain std threads, which cannot force the \
             interleavings a race needs: run this test with `--features keyrace-harness/shuttle` \
             (or loom), or set {PLAIN_THREADS_ENV}=1 to accept plain threads\n{checked}"
        );
    }
    checked
}

/// [`check`], panicking when no explorer catches the model breaking `invariant` (a planted
/// bug, a mutant); returns the counterexample. A failure of anything else (a model's setup,
/// another invariant) is not a catch.
pub fn assert_caught(
    name: &str,
    actors: usize,
    invariant: &str,
    model: impl Fn() + Send + Sync + 'static,
) -> Counterexample {
    let checked = check(name, actors, model);
    match checked.counterexample() {
        Some(failure) if failure.broken_invariant() == Some(invariant) => failure.clone(),
        Some(_) => panic!("{name} failed, but not by breaking \"{invariant}\":\n{checked}"),
        None if !checked.systematic() && actors > 1 => panic!(
            "{name} held under plain std threads, which cannot force the interleaving a race \
             needs: run this test with `--features keyrace-harness/shuttle` (or loom)\n{checked}"
        ),
        None => panic!("{name} was not caught:\n{checked}"),
    }
}

fn replay_from_env() -> Option<Replay> {
    let value = std::env::var(REPLAY_ENV).ok()?;
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let path = PathBuf::from(value);
    Some(if path.is_file() {
        Replay::Loom(path)
    } else {
        Replay::Shuttle(value.to_owned())
    })
}

//! What catches a mutant at process level: a runner scenario and a phrase of its violation, or
//! only the models, with the reason. Each mutant names its catch where it is declared (the
//! `mutants!` list in this crate's root), so a new mutant does not build until it does, and
//! `cli/tests/mutants.rs` runs every one against its check.

use keyrace_protocol::ScenarioId;

/// What must catch a mutant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Catch {
    /// A violation in runner scenario `scenario` that names `check`: a phrase of its invariant
    /// or, where one invariant has several branches, of its evidence.
    Runner {
        scenario: ScenarioId,
        check: &'static str,
    },
    /// Only `keyrace-harness`'s models can catch it, for the reason given.
    ModelsOnly { why: &'static str },
}

impl Catch {
    /// The scenario of a runner catch.
    pub fn scenario(self) -> Option<ScenarioId> {
        match self {
            Catch::Runner { scenario, .. } => Some(scenario),
            Catch::ModelsOnly { .. } => None,
        }
    }
}

/// A catch by runner scenario `scenario`, whose violation names `check`.
pub(crate) const fn runner(scenario: ScenarioId, check: &'static str) -> Catch {
    Catch::Runner { scenario, check }
}

/// A catch by the models alone, and why the runner cannot make one.
pub(crate) const fn models_only(why: &'static str) -> Catch {
    Catch::ModelsOnly { why }
}

// The secondary catches: a general scenario that also catches what a hand-written race was
// made for. Each is tested like the own catches and listed in docs/design.md's table.

/// A power loss brings a deleted secret back.
pub(crate) const RESURRECTED: &[Catch] =
    &[runner(ScenarioId::CrashHistory, "no deleted secret back")];
/// A power loss takes an acknowledged write.
pub(crate) const LOST: &[Catch] = &[runner(
    ScenarioId::CrashHistory,
    "no acknowledged write lost",
)];
/// A concurrent reader sees a torn value as an error.
pub(crate) const TORN_READ: &[Catch] = &[runner(ScenarioId::History, "never answer an error")];

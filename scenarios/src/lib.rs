//! keyrace-runner: the conformance runner, as a library. It races real processes of any store
//! implementation through the keyrace-adapter/1 protocol (`docs/protocol.md`), injects faults
//! (SIGKILL mid-put, corrupted files, unwritable directories), checks the invariants of the
//! race catalogue, and reports as a table, JSON and JUnit XML.
//!
//! Below it: `keyrace-process` (one adapter process per actor with deadlines, bounded output and
//! kill-and-reap on drop; containment; scratch directories; [`protocol`], the wire types with
//! their report summaries, re-exported) and `keyrace-systematic` (adapters under ptrace and
//! seccomp; [`explore`], controlled interleavings, re-exported; crash states).
//!
//! - [`Check`]: a run, as a builder (a dependent's `cargo test`); [`run`] and [`check`] for a
//!   [`Config`] the CLI built.
//! - [`report`]: the typed results and their three renderings; [`coverage`]: what a run
//!   covered.
//! - [`catalogue`]: the scenarios' ids, summaries and forms, and the invariants tests name.
//!
//! The scenarios themselves (one file each), the rounds and budgets, and the progress display
//! are this crate's own.
//!
//! It needs no cipher, database or reference crate: the `keyrace` command (`cli/`) adds the
//! reference adapter and the witness server. A store's `cargo test` depends on this crate.

mod builder;
pub mod config;
pub mod coverage;
mod progress;
pub mod report;
mod runner;
mod scenario;
mod scripted_witness;
pub mod workload;

/// The scenario catalogue as callers see it: each scenario's id, summary, needs and form, and
/// the invariants of the history scenarios (which tests look for in reports).
pub mod catalogue {
    pub use crate::scenario::{find, Mode, ScenarioDef, ScenarioId, CATALOGUE};

    /// The invariant `crash-history` judges every crash state by.
    pub use crate::scenario::crash_history::INVARIANT as CRASH_HISTORY_INVARIANT;
    /// The invariant `crash-history-race` judges every crash state by, and the reads it makes.
    pub use crate::scenario::crash_history_race::{
        INVARIANT as CRASH_HISTORY_RACE_INVARIANT, READS as CRASH_HISTORY_RACE_READS,
    };
}

// The layers below: the wire types and the exploration strategies are part of this crate's
// API (reports and `Config` name them); the rest is used here, not re-exported.
pub use keyrace_process::protocol;
use keyrace_process::{actor, finding, procfs, reaper, scratch};
pub use keyrace_systematic::explore;
use keyrace_systematic::{crash, trace};

pub use builder::Check;
pub use config::{Budget, Config, RunMode};
pub use report::Report;
pub use runner::{check, run, write_files, RunError};

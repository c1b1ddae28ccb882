//! keyrace-scenarios: the conformance runner. It races real processes of any store
//! implementation through the keyrace-adapter/1 protocol (`docs/protocol.md`), injects faults
//! (SIGKILL mid-put, corrupted files, unwritable directories), checks the invariants of the
//! race catalogue, and reports as a table, JSON and JUnit XML.
//!
//! - [`protocol`]: the message types of keyrace-adapter/1.
//! - [`actor`]: one adapter process with deadlines, bounded output, stderr capture and
//!   kill-and-reap on drop; [`reaper`]: containment of every process adapters start, and
//!   signals; [`scratch`]: the runner's file work, through no-follow directory handles.
//! - [`scenario`]: the catalogue, one file per scenario.
//! - [`runner`]: rounds, budgets, the report. [`report`]: its three renderings.
//!   [`Check`]: the same from Rust, as a builder (a dependent's `cargo test`).
//! - [`trace`]: adapters under ptrace and seccomp; [`explore`]: controlled interleavings
//!   (DFS, PCT, replay); [`crash`]: crash states of a recorded operation (`--explore`).
//! - `adapter` (the `reference` feature, on by default): the reference adapter over
//!   `keyrace-core`, and its mutants, which the `keyrace` binary serves. Without the feature
//!   the runner library needs no cipher, database or reference crate: a store's `cargo test`
//!   depends on `keyrace-scenarios = { default-features = false }`.

pub mod actor;
#[cfg(feature = "reference")]
pub mod adapter;
pub mod builder;
pub mod config;
pub mod coverage;
pub mod crash;
pub mod explore;
pub mod jobs;
pub mod merge;
pub mod procfs;
pub mod progress;
pub mod protocol;
pub mod reaper;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod scratch;
pub mod scripted;
pub mod trace;
pub mod workload;

pub use builder::Check;
pub use config::{Budget, Config, RunMode};
pub use report::Report;
pub use runner::{check, run};

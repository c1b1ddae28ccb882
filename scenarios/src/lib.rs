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
//! - [`scenario`]: the catalogue, one file per scenario.
//! - [`runner`]: rounds, budgets, the report. [`report`]: its three renderings.
//!   [`Check`]: the same from Rust, as a builder (a dependent's `cargo test`).
//!
//! It needs no cipher, database or reference crate: the `keyrace` command (`cli/`) adds the
//! reference adapter and the witness server. A store's `cargo test` depends on this crate.

pub mod builder;
pub mod config;
pub mod coverage;
mod progress;
pub mod report;
pub mod runner;
pub mod scenario;
mod scripted_witness;
pub mod workload;

// The layers below: the wire types and the exploration strategies are part of this crate's
// API (reports and `Config` name them); the rest is used here, not re-exported.
pub use keyrace_process::protocol;
use keyrace_process::{actor, procfs, reaper, scratch};
pub use keyrace_systematic::explore;
use keyrace_systematic::{crash, trace};

pub use builder::Check;
pub use config::{Budget, Config, RunMode};
pub use report::Report;
pub use runner::{check, run};

//! keyrace-systematic: the runner's systematic mode, below the scenarios.
//!
//! - [`trace`]: adapters under ptrace and seccomp; every store call stops at the runner.
//! - [`explore`]: controlled interleavings (DFS with partial-order reduction, PCT, replay).
//! - [`crash`]: crash states of a recorded operation under a persistence profile.

pub mod crash;
pub mod explore;
pub mod trace;

//! Crash states in the runner: recording a scenario's operations with the tracer
//! ([`recording`]) and judging every power-loss state after them with the verifier
//! ([`judge`]). The engine underneath (what a power loss can leave, writing a state to disk,
//! the fix to suggest) is `keyrace-systematic`'s, re-exported here under the same names.

pub mod judge;
pub mod recording;

pub use keyrace_systematic::crash::{fix, materialize, ops, record, states};

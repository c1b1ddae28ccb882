//! Crash states in the scenarios: recording a scenario's operations with the tracer
//! ([`recording`]) and judging every power-loss state after them with the verifier
//! ([`judge`]). The engine underneath (what a power loss can leave, writing a state to disk,
//! the fix to suggest) is `keyrace-systematic`'s `crash`.

pub mod judge;
pub mod recording;

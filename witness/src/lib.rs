//! keyrace-witness: the witness protocol of seed 002 over HTTP (`docs/witness.md`).
//!
//! - [`wire`]: paths, header names (with presets), the JSON bodies.
//! - [`ledger`]: the one-time grace ledger in SQLite (embedded, the default) or PostgreSQL,
//!   one conditional `UPDATE` per consume.
//! - [`server`]: the reference witness server, `keyrace witness-server`.
//! - [`mutants`]: the server's known-bad variants.
//! - [`transport`]: an HTTP [`keyrace_core::witness::Transport`] for the core's client.
//! - [`check`]: the server conformance check, a swarm of clients against a server.
//!
//! [`wire`] and [`http`] are all a client of the protocol needs (the conformance runner's
//! scripted servers); the rest, with the reference core, SQLite and PostgreSQL, comes with
//! the `server` feature (on by default).

#[cfg(feature = "server")]
pub mod check;
pub mod http;
#[cfg(feature = "server")]
pub mod ledger;
#[cfg(feature = "server")]
pub mod mutants;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod transport;
pub mod wire;

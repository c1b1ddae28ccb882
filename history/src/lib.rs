//! Linearizability of a secret store's recorded history.
//!
//! The runner records every operation its actors made: the call, when it was invoked, when it
//! completed and how it ended ([`Outcome`]: ok, fail, or info for "maybe applied"). The
//! [`check`](check::check) decides whether some sequential order of the operations, each placed
//! between its invocation and its completion, explains every answer under the store's
//! specification: a map from name to value or absent, and a one-time set of tokens.
//!
//! - [`history`]: the recorded operations.
//! - [`spec`]: the sequential specification, one partition (a name or a token) at a time.
//! - [`check`]: the Wing–Gong search with Lowe's memoisation, partitioned, under a time budget.
//! - [`shrink`]: a smaller history that still fails, and that still proves the original wrong.
//! - [`timeline`]: the failing history as text lanes and as a self-contained HTML page.
//! - [`generate`]: random linearizable histories, for tests, benchmarks and the Porcupine export.
//! - [`porcupine`]: the export that lets Porcupine check the same histories.

pub mod check;
pub mod generate;
pub mod history;
pub mod porcupine;
pub mod shrink;
pub mod spec;
pub mod timeline;

pub use check::{check, Budget, Failure, Verdict};
pub use history::{Call, History, Operation, Outcome, Ret};

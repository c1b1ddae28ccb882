//! One-time bootstrap consumption and the witness gate (seed 002, server side).
//!
//! - [`ledger`]: the [`GraceLedger`] that consumes a key's one-time grace atomically
//!   ([`MemoryLedger`], [`FileLedger`]).
//! - [`sth`]: signed tree heads, their strict text form, and an append-only [`HeadLog`].
//! - [`gate`]: [`WitnessGate`], which classifies a request: pass, 412, 409 or 400.
//!
//! Seams for mutants (the harness swaps one small piece, the rest stays the reference):
//! - `grace-check-then-set`: a [`GraceLedger`] whose `try_consume` is
//!   `if l.is_consumed(k) { AlreadyConsumed } else { l.mark(k); Won }` over a [`MemoryLedger`]
//!   (or an lstat-then-write over [`FileLedger::marker_path`] through the same `Fs`).
//! - A counting or failing [`HeadLog`] checks "one head read per request" and "a failed read
//!   never burns the grace".

pub mod gate;
pub mod ledger;
pub mod sth;

use std::io;

use crate::code::ErrorCode;

pub use gate::{Pass, Status, WitnessGate};
pub use ledger::{Consumed, FileLedger, GraceLedger, MemoryLedger};
pub use sth::{HeadLog, HeadParseError, MemoryHeadLog, SignedTreeHead};

/// Errors of the bootstrap layer: the gate's refusals and the ledger's and log's failures.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("this key's one-time bootstrap grace is already consumed; send the current tree head {current_head} as the last-known head and retry the request once")]
    AlreadyConsumed { current_head: SignedTreeHead },

    #[error("the client's tree head is not in this server's history (the server's current head is {current_head}); this may be a forked or rolled-back log: investigate before trusting the server, do not retry blindly")]
    Divergence { current_head: SignedTreeHead },

    #[error("malformed last-known-head header: {reason}; send a head exactly as the server handed it out, or omit the header to bootstrap")]
    MalformedHead { reason: sth::HeadParseError },

    #[error(
        "invalid key id: {detail}; pass a non-empty id of at most {} bytes",
        ledger::MAX_KEY_ID
    )]
    InvalidKeyId { detail: String },

    #[error("refusing to append head at position {position}: the log's newest position is {newest} and the log is append-only")]
    OutOfOrderHead { position: u64, newest: u64 },

    #[error("could not {what}: {source}; the request was refused and no bootstrap was granted: check the ledger directory's disk and permissions, then retry")]
    Ledger {
        what: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("could not read the tree head log: {source}; the request was refused before any grace was consumed: check the log's storage, then retry")]
    HeadLog {
        #[source]
        source: io::Error,
    },
}

impl BootstrapError {
    pub fn code(&self) -> ErrorCode {
        match self {
            BootstrapError::AlreadyConsumed { .. } => ErrorCode::BootstrapAlreadyConsumed,
            BootstrapError::Divergence { .. } => ErrorCode::Divergence,
            BootstrapError::MalformedHead { .. }
            | BootstrapError::InvalidKeyId { .. }
            | BootstrapError::OutOfOrderHead { .. } => ErrorCode::InvalidArgument,
            BootstrapError::Ledger { source, .. } | BootstrapError::HeadLog { source } => {
                ErrorCode::from_io(source)
            }
        }
    }

    /// The status a gate answers with for this error.
    pub fn status(&self) -> Status {
        match self {
            BootstrapError::AlreadyConsumed { .. } => Status::PreconditionFailed,
            BootstrapError::Divergence { .. } => Status::Conflict,
            BootstrapError::MalformedHead { .. }
            | BootstrapError::InvalidKeyId { .. }
            | BootstrapError::OutOfOrderHead { .. } => Status::BadRequest,
            BootstrapError::Ledger { .. } | BootstrapError::HeadLog { .. } => Status::Unavailable,
        }
    }

    /// The current head a refusal carries back to the client (412 always, 409 always).
    pub fn current_head(&self) -> Option<SignedTreeHead> {
        match self {
            BootstrapError::AlreadyConsumed { current_head }
            | BootstrapError::Divergence { current_head } => Some(*current_head),
            _ => None,
        }
    }

    pub(crate) fn ledger(what: &'static str) -> impl FnOnce(io::Error) -> BootstrapError {
        move |source| BootstrapError::Ledger { what, source }
    }
}

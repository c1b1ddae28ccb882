//! The witness client (seed 002, client side): a persisted head cache and a client that
//! retries a bootstrap-412 exactly once and coalesces cold starts.
//!
//! - [`cache`]: [`FileCacheStore`], atomic and symlink-safe, keyed by a hash of server + key.
//! - [`singleflight`]: [`SingleFlight`], one bootstrap for N concurrent cold starts.
//! - [`transport`]: request/response structs, the [`Transport`] trait, [`InProcessTransport`].
//! - [`client`]: [`WitnessClient`] and its [`RetryRule`].
//!
//! Seams for mutants (each one small piece, swapped through a type parameter):
//! - `no-singleflight`: a [`HeadSlot`] that answers `Lead` to everyone while no head is known.
//! - `retry-unbounded` / `retry-on-divergence`: a [`RetryRule`].
//! - `cache-write-in-place` / `cache-follows-symlink`: a [`CacheStore`] built from
//!   [`cache::encode`] and [`FileCacheStore::path`] that writes the path directly.

pub mod cache;
pub mod client;
pub mod singleflight;
pub mod transport;

use std::io;

use crate::bootstrap::SignedTreeHead;
use crate::code::ErrorCode;

pub use cache::{CacheLoad, CacheMiss, CacheStore, FileCacheStore, NoCache};
pub use client::{RetryOnce, RetryRule, WitnessClient};
pub use singleflight::{Acquire, HeadSlot, SingleFlight};
pub use transport::{ApiKey, InProcessTransport, Transport, WitnessRequest, WitnessResponse};

/// Errors of a witness call, as the caller sees them.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("the server says this key's one-time bootstrap grace is consumed{}; the one retry with its head did not pass (or it sent no valid head): check the server's tree head log, then retry", head_note(current_head))]
    AlreadyConsumed {
        current_head: Option<SignedTreeHead>,
    },

    #[error("the server's history does not contain this client's tree head{}: the log may have been forked or rolled back; investigate before trusting the server (the new head is remembered, so a retry will pass if you decide to trust it)", head_note(current_head))]
    Divergence {
        current_head: Option<SignedTreeHead>,
    },

    #[error("the server refused the request with status {status}{}: {message}", code.map(|c| format!(" ({c})")).unwrap_or_default())]
    Rejected {
        status: u16,
        code: Option<ErrorCode>,
        message: String,
    },

    #[error("could not reach the server: {source}; check the connection and retry")]
    Transport {
        #[source]
        source: io::Error,
    },
}

fn head_note(head: &Option<SignedTreeHead>) -> String {
    head.map(|h| format!(" (server head {h})"))
        .unwrap_or_default()
}

impl WitnessError {
    pub fn code(&self) -> ErrorCode {
        match self {
            WitnessError::AlreadyConsumed { .. } => ErrorCode::BootstrapAlreadyConsumed,
            WitnessError::Divergence { .. } => ErrorCode::Divergence,
            WitnessError::Rejected { code, .. } => code.unwrap_or(ErrorCode::Io),
            WitnessError::Transport { source } => ErrorCode::from_io(source),
        }
    }
}

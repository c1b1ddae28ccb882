//! The witness protocol on the wire (`docs/witness.md`): one `POST` per guarded operation, the
//! API key as a bearer token, the client's last known head in one header and the server's
//! current head in another, a JSON error body with a stable code.

use std::fmt;
use std::str::FromStr;

use keyrace_core::ErrorCode;
use serde::{Deserialize, Serialize};

/// The path of the guarded operation.
pub const WITNESS_PATH: &str = "/v1/witness";

/// The path that seals the next head (the reference server's test endpoint).
pub const SEAL_PATH: &str = "/v1/seal";

/// The header carrying the API key, as `Bearer <key>`.
pub const AUTHORIZATION: &str = "Authorization";

/// The two head headers. HTTP header names are case-insensitive; these are the spellings sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadHeaders {
    /// Request header: the client's last known head; absent on a bootstrap.
    pub last_known: String,
    /// Response header: the server's current head.
    pub current: String,
}

/// The named header spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preset {
    /// `X-Keyrace-Last-Known-Head` / `X-Keyrace-Current-Head`.
    #[default]
    Keyrace,
    /// loopctl's (seed 002): `X-Loopctl-Last-Known-STH` / `x-loopctl-current-sth`, so its
    /// clients can be checked unchanged.
    Loopctl,
}

impl Preset {
    pub const ALL: [Preset; 2] = [Preset::Keyrace, Preset::Loopctl];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Keyrace => "keyrace",
            Preset::Loopctl => "loopctl",
        }
    }

    pub fn headers(self) -> HeadHeaders {
        let (last_known, current) = match self {
            Preset::Keyrace => ("X-Keyrace-Last-Known-Head", "X-Keyrace-Current-Head"),
            Preset::Loopctl => ("X-Loopctl-Last-Known-STH", "x-loopctl-current-sth"),
        };
        HeadHeaders {
            last_known: last_known.to_owned(),
            current: current.to_owned(),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Preset, String> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown header preset {s:?}; one of keyrace, loopctl"))
    }
}

impl Default for HeadHeaders {
    fn default() -> HeadHeaders {
        Preset::Keyrace.headers()
    }
}

/// The body of every refusal (400, 409, 412, 503).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code of `keyrace_core::ErrorCode` (`BOOTSTRAP_ALREADY_CONSUMED`, ...).
    pub code: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            code: code.as_str().to_owned(),
            message: message.into(),
        }
    }
}

/// The body of a 200 from the reference server: what its guarded operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpsBody {
    /// Guarded operations run for this key so far, this one included. A refused request
    /// never runs one, so the count tells a checker whether a refusal had a side effect.
    pub ops: u64,
}

/// The body of a 200 on [`SEAL_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealBody {
    pub head: String,
}

/// `Bearer <key>` → `<key>`.
pub fn bearer(value: &str) -> Option<&str> {
    let key = value.strip_prefix("Bearer ")?.trim();
    (!key.is_empty()).then_some(key)
}

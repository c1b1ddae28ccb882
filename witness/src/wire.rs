//! The witness protocol on the wire (`docs/witness.md`): one `POST` per guarded operation, the
//! API key as a bearer token, the client's last known head in one header and the server's
//! current head in another, a JSON error body with a stable code.

use std::fmt;
use std::str::FromStr;

use keyrace_protocol::ErrorCode;
use serde::{Deserialize, Serialize};

/// The path of the guarded operation.
pub const WITNESS_PATH: &str = "/v1/witness";

/// The path that seals the next head (the reference server's test endpoint).
pub const SEAL_PATH: &str = "/v1/seal";

/// The header carrying the API key, as `Bearer <key>`.
pub const AUTHORIZATION: &str = "Authorization";

/// A server's spelling of the protocol: the head headers' names, how a bootstrap is marked
/// and the shape of a refusal's body. HTTP header names are case-insensitive; the names here are
/// the spellings sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preset {
    /// `X-Keyrace-Last-Known-Head` / `X-Keyrace-Current-Head`; refusals are
    /// `{"code": "BOOTSTRAP_ALREADY_CONSUMED", "message": ...}`.
    #[default]
    Keyrace,
    /// loopctl's (seed 002): `X-Loopctl-Last-Known-STH` / `x-loopctl-current-sth`, a bootstrap
    /// marked `X-Loopctl-STH-Bootstrap: true`, refusals
    /// `{"error": {"code": "witness_bootstrap_already_consumed", "message": ...}}`, so that its
    /// clients and servers can be checked unchanged.
    Loopctl,
}

/// loopctl's spellings of the two refusal codes seed 002 names; every other code is sent and
/// read in keyrace's spelling.
const LOOPCTL_CODES: [(ErrorCode, &str); 2] = [
    (
        ErrorCode::BootstrapAlreadyConsumed,
        "witness_bootstrap_already_consumed",
    ),
    (ErrorCode::Divergence, "witness_divergence"),
];

impl Preset {
    pub const ALL: [Preset; 2] = [Preset::Keyrace, Preset::Loopctl];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Keyrace => "keyrace",
            Preset::Loopctl => "loopctl",
        }
    }

    /// Request header: the client's last known head; absent on a bootstrap.
    pub fn last_known_header(self) -> &'static str {
        match self {
            Preset::Keyrace => "X-Keyrace-Last-Known-Head",
            Preset::Loopctl => "X-Loopctl-Last-Known-STH",
        }
    }

    /// Response header: the server's current head.
    pub fn current_header(self) -> &'static str {
        match self {
            Preset::Keyrace => "X-Keyrace-Current-Head",
            Preset::Loopctl => "x-loopctl-current-sth",
        }
    }

    /// Request header (and value) a client of this spelling adds to a bootstrap. Servers
    /// accept it and go by the absent head, so it changes nothing they decide.
    pub fn bootstrap_header(self) -> Option<(&'static str, &'static str)> {
        match self {
            Preset::Keyrace => None,
            Preset::Loopctl => Some(("X-Loopctl-STH-Bootstrap", "true")),
        }
    }

    /// `code` as this spelling writes it.
    pub fn code_name(self, code: ErrorCode) -> &'static str {
        match self {
            Preset::Keyrace => code.as_str(),
            Preset::Loopctl => LOOPCTL_CODES
                .iter()
                .find(|(c, _)| *c == code)
                .map_or(code.as_str(), |(_, name)| name),
        }
    }

    /// A refusal's body. `head` is echoed where the spelling has a place for it (loopctl's
    /// retry contract, `error.remediation`).
    pub fn refusal_body(self, code: ErrorCode, message: &str, head: Option<&str>) -> Vec<u8> {
        let body = match self {
            Preset::Keyrace => serde_json::json!({ "code": code.as_str(), "message": message }),
            Preset::Loopctl => {
                let mut error =
                    serde_json::json!({ "code": self.code_name(code), "message": message });
                if code == ErrorCode::BootstrapAlreadyConsumed {
                    error["remediation"] = serde_json::json!({
                        "retry": format!("once, sending {}", self.last_known_header()),
                        "current_sth": head,
                    });
                }
                serde_json::json!({ "error": error })
            }
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// A refusal's body read back: its code in keyrace's spelling (a code this spelling does
    /// not rename is passed through) and its message; `None` if the body is not this
    /// spelling's refusal.
    pub fn parse_refusal(self, body: &[u8]) -> Option<ErrorBody> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let error = match self {
            Preset::Keyrace => &value,
            Preset::Loopctl => value.get("error")?,
        };
        let code = error.get("code")?.as_str()?;
        let message = error
            .get("message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let code = match self {
            Preset::Keyrace => code,
            Preset::Loopctl => LOOPCTL_CODES
                .iter()
                .find(|(_, name)| *name == code)
                .map_or(code, |(c, _)| c.as_str()),
        };
        Some(ErrorBody {
            code: code.to_owned(),
            message: message.to_owned(),
        })
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

/// A refusal's code (in keyrace's spelling) and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code of `keyrace_protocol::ErrorCode` (`BOOTSTRAP_ALREADY_CONSUMED`, ...).
    pub code: String,
    pub message: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_spelling_reads_back_what_it_writes() {
        for preset in Preset::ALL {
            for code in [
                ErrorCode::BootstrapAlreadyConsumed,
                ErrorCode::Divergence,
                ErrorCode::InvalidArgument,
            ] {
                let body = preset.refusal_body(code, "why", Some("1:AAAAAAAAAAAAAAAAAAAAAA"));
                let read = preset.parse_refusal(&body).map(|b| (b.code, b.message));
                assert_eq!(read, Some((code.as_str().to_owned(), "why".to_owned())));
            }
        }
    }

    #[test]
    fn loopctl_refusals_are_nested_renamed_and_carry_the_retry_contract() {
        let body = Preset::Loopctl.refusal_body(
            ErrorCode::BootstrapAlreadyConsumed,
            "consumed",
            Some("3:AAAAAAAAAAAAAAAAAAAAAA"),
        );
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(value["error"]["code"], "witness_bootstrap_already_consumed");
        assert_eq!(
            value["error"]["remediation"]["current_sth"],
            "3:AAAAAAAAAAAAAAAAAAAAAA"
        );
        // Neither spelling reads the other's refusals.
        assert_eq!(Preset::Keyrace.parse_refusal(&body), None);
        let flat = Preset::Keyrace.refusal_body(ErrorCode::Divergence, "fork", None);
        assert_eq!(Preset::Loopctl.parse_refusal(&flat), None);
    }
}

//! keyrace-adapter/1: the JSON-lines contract between the runner and an adapter
//! (`docs/protocol.md` is the prose version; keep the two in step).
//!
//! Parsing is strict where a sloppy adapter would make a check meaningless (a reply must carry
//! the request's id, `ok`, a known error code, the field its op promises) and lenient where the
//! versioning rule allows growth (unknown fields and unknown op names are ignored).

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::code::ErrorCode;
use serde::{Deserialize, Deserializer, Serialize};

/// The protocol name and major version an adapter must announce.
pub const PROTOCOL: &str = "keyrace-adapter/1";

/// The operations of keyrace-adapter/1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpName {
    Open,
    Put,
    Get,
    Delete,
    Destroy,
    Reset,
    Consume,
    Witness,
}

impl OpName {
    pub const ALL: [OpName; 8] = [
        OpName::Open,
        OpName::Put,
        OpName::Get,
        OpName::Delete,
        OpName::Destroy,
        OpName::Reset,
        OpName::Consume,
        OpName::Witness,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            OpName::Open => "open",
            OpName::Put => "put",
            OpName::Get => "get",
            OpName::Delete => "delete",
            OpName::Destroy => "destroy",
            OpName::Reset => "reset",
            OpName::Consume => "consume",
            OpName::Witness => "witness",
        }
    }
}

impl fmt::Display for OpName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OpName {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OpName::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or(())
    }
}

/// The adapter's first line: its protocol, its name, the ops it implements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub name: String,
    pub ops: BTreeSet<OpName>,
    /// The store keeps no key material of its own (plain files, or a key held by a service
    /// it does not manage): the key-source scenarios are skipped.
    pub keyless: bool,
}

#[derive(Serialize, Deserialize)]
struct RawHello {
    protocol: String,
    name: String,
    ops: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    keyless: bool,
}

impl Hello {
    pub fn new(name: &str, ops: &[OpName]) -> Hello {
        Hello {
            name: name.to_owned(),
            ops: ops.iter().copied().collect(),
            keyless: false,
        }
    }

    /// Parse the first line. Op names this runner does not know are ignored (a newer adapter).
    pub fn parse(line: &[u8]) -> Result<Hello, String> {
        let raw: RawHello = serde_json::from_slice(line).map_err(|e| {
            format!(
                "the first line must be {{\"protocol\":\"{PROTOCOL}\",\"name\":...,\"ops\":[...]}}: {e}"
            )
        })?;
        if raw.protocol != PROTOCOL {
            return Err(format!(
                "the adapter speaks {:?}, this runner speaks {PROTOCOL:?}",
                raw.protocol
            ));
        }
        Ok(Hello {
            name: raw.name,
            ops: raw.ops.iter().filter_map(|op| op.parse().ok()).collect(),
            keyless: raw.keyless,
        })
    }

    pub fn to_line(&self) -> String {
        let raw = RawHello {
            protocol: PROTOCOL.to_owned(),
            name: self.name.clone(),
            ops: self.ops.iter().map(|op| op.as_str().to_owned()).collect(),
            keyless: self.keyless,
        };
        serde_json::to_string(&raw).unwrap_or_else(|_| unreachable!("plain struct"))
    }
}

/// One operation with its arguments. `store` is an absolute directory path. /1 may add ops
/// (announced in the hello), so a match needs a fallback arm (`UNSUPPORTED_OP`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Op {
    Open {
        store: PathBuf,
    },
    Put {
        store: PathBuf,
        name: String,
        value: String,
    },
    Get {
        store: PathBuf,
        name: String,
    },
    Delete {
        store: PathBuf,
        name: String,
    },
    Destroy {
        store: PathBuf,
    },
    Reset {
        store: PathBuf,
    },
    Consume {
        store: PathBuf,
        token: String,
    },
    /// One call of the store's witness client (or `concurrency` concurrent calls of one
    /// client, in one process) against the witness server at `url` (`docs/witness.md`).
    Witness {
        url: String,
        api_key: String,
        /// Where the client keeps its head cache.
        cache_dir: PathBuf,
        /// Concurrent calls of one client (absent: 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        concurrency: Option<u32>,
        /// The server's spelling of the protocol, `loopctl` (`docs/witness.md`); absent: the
        /// default, `keyrace`. A client that speaks one spelling may ignore it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preset: Option<String>,
    },
}

impl Op {
    pub fn name(&self) -> OpName {
        match self {
            Op::Open { .. } => OpName::Open,
            Op::Put { .. } => OpName::Put,
            Op::Get { .. } => OpName::Get,
            Op::Delete { .. } => OpName::Delete,
            Op::Destroy { .. } => OpName::Destroy,
            Op::Reset { .. } => OpName::Reset,
            Op::Consume { .. } => OpName::Consume,
            Op::Witness { .. } => OpName::Witness,
        }
    }
}

/// A request line: `{"id":1,"op":"put","store":"/abs","name":"k","value":"v"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub id: u64,
    #[serde(flatten)]
    pub op: Op,
}

impl Request {
    pub fn to_line(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Parse a request (adapter side). On failure, returns the id if one could be read, so the
    /// adapter can still answer it; unknown fields are ignored.
    pub fn parse(line: &[u8]) -> Result<Request, (Option<u64>, String)> {
        let mut value: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| (None, format!("not JSON: {e}")))?;
        let id = value
            .get("id")
            .and_then(serde_json::Value::as_u64)
            .ok_or((None, "no unsigned integer \"id\"".to_owned()))?;
        if let Some(object) = value.as_object_mut() {
            object.remove("id");
        }
        let op = serde_json::from_value::<Op>(value).map_err(|e| (Some(id), e.to_string()))?;
        Ok(Request { id, op })
    }
}

/// What an `ok: true` reply carries; which field is required depends on the op.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Success {
    /// A public fingerprint of the key in use (any op that opened the store may send it).
    pub key_id: Option<String>,
    /// `get`: `Some(None)` is JSON `null` (no such secret); `None` means the field was absent.
    pub value: Option<Option<String>>,
    /// `consume`: whether this call consumed the token.
    pub won: Option<bool>,
    /// `witness` (one call, optional): the head its first request carried; `Some(None)` is
    /// JSON `null` (none: a bootstrap).
    pub head: Option<Option<String>>,
    /// `witness` (one call, optional): whether that head came from the cache file.
    pub from_cache: Option<bool>,
}

/// The code of an error reply: one of the taxonomy, or a string outside it (which breaks an
/// invariant of its own, and is judged as a failed op).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Known(ErrorCode),
    Unknown(String),
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Known(code) => write!(f, "{code}"),
            Code::Unknown(code) => write!(f, "{code:?} (not a keyrace code)"),
        }
    }
}

/// An error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

/// The message (the code is [`Failure::code`]).
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// A failure with a code of the taxonomy and a message that tells the user what to do.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code: Code::Known(code),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub id: u64,
    pub outcome: Result<Success, Failure>,
}

#[derive(Serialize, Deserialize)]
struct RawReply {
    id: u64,
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "present_or_null",
        skip_serializing_if = "Option::is_none"
    )]
    value: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    won: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present_or_null",
        skip_serializing_if = "Option::is_none"
    )]
    head: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from_cache: Option<bool>,
}

/// Tell `"value": null` (present, null) from a missing `"value"`.
fn present_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl Reply {
    pub fn success(id: u64, success: Success) -> Reply {
        Reply {
            id,
            outcome: Ok(success),
        }
    }

    pub fn failure(id: u64, code: ErrorCode, message: impl Into<String>) -> Reply {
        Reply {
            id,
            outcome: Err(Failure {
                code: Code::Known(code),
                message: message.into(),
            }),
        }
    }

    /// Parse a reply line strictly: `ok` must be present, an error must carry a code (one
    /// outside the taxonomy is kept as [`Code::Unknown`] for the runner to report).
    pub fn parse(line: &[u8]) -> Result<Reply, String> {
        let raw: RawReply = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let outcome = if raw.ok {
            Ok(Success {
                key_id: raw.key_id,
                value: raw.value,
                won: raw.won,
                head: raw.head,
                from_cache: raw.from_cache,
            })
        } else {
            let code = raw
                .code
                .ok_or("an error reply (\"ok\":false) must carry a \"code\"")?;
            let code = match code.parse::<ErrorCode>() {
                Ok(known) => Code::Known(known),
                Err(_) => Code::Unknown(code),
            };
            Err(Failure {
                code,
                message: raw.message.unwrap_or_default(),
            })
        };
        Ok(Reply {
            id: raw.id,
            outcome,
        })
    }

    /// Check that a successful reply carries what `op` promises.
    pub fn check_fields(&self, op: OpName) -> Result<(), String> {
        let Ok(success) = &self.outcome else {
            return Ok(());
        };
        match op {
            OpName::Get if success.value.is_none() => {
                Err("a successful get must carry \"value\" (a string, or null)".to_owned())
            }
            OpName::Consume if success.won.is_none() => {
                Err("a successful consume must carry \"won\" (true or false)".to_owned())
            }
            _ => Ok(()),
        }
    }

    pub fn to_line(&self) -> String {
        let raw = match &self.outcome {
            Ok(success) => RawReply {
                id: self.id,
                ok: true,
                code: None,
                message: None,
                key_id: success.key_id.clone(),
                value: success.value.clone(),
                won: success.won,
                head: success.head.clone(),
                from_cache: success.from_cache,
            },
            Err(failure) => RawReply {
                id: self.id,
                ok: false,
                code: Some(match &failure.code {
                    Code::Known(code) => code.as_str().to_owned(),
                    Code::Unknown(code) => code.clone(),
                }),
                message: Some(failure.message.clone()),
                key_id: None,
                value: None,
                won: None,
                head: None,
                from_cache: None,
            },
        };
        serde_json::to_string(&raw).unwrap_or_else(|_| unreachable!("plain struct"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_and_puts_id_first() {
        let request = Request {
            id: 7,
            op: Op::Put {
                store: "/s".into(),
                name: "k".into(),
                value: "v".into(),
            },
        };
        let line = request.to_line().expect("serialize");
        assert_eq!(
            line,
            r#"{"id":7,"op":"put","store":"/s","name":"k","value":"v"}"#
        );
        assert_eq!(Request::parse(line.as_bytes()), Ok(request));
    }

    #[test]
    fn request_with_unknown_op_keeps_its_id() {
        let err = Request::parse(br#"{"id":3,"op":"fly","store":"/s"}"#).expect_err("unknown op");
        assert_eq!(err.0, Some(3));
        assert_eq!(Request::parse(b"nope").expect_err("garbage").0, None);
    }

    #[test]
    fn reply_value_null_differs_from_missing() {
        let null = Reply::parse(br#"{"id":1,"ok":true,"value":null}"#).expect("null");
        assert_eq!(
            null.outcome.as_ref().map(|s| s.value.clone()),
            Ok(Some(None))
        );
        assert!(null.check_fields(OpName::Get).is_ok());
        let missing = Reply::parse(br#"{"id":1,"ok":true}"#).expect("missing");
        assert!(missing.check_fields(OpName::Get).is_err());
        assert!(missing.check_fields(OpName::Put).is_ok());
    }

    #[test]
    fn error_reply_needs_a_known_code() {
        assert!(Reply::parse(br#"{"id":1,"ok":false}"#).is_err());
        let unknown = Reply::parse(br#"{"id":1,"ok":false,"code":"OOPS"}"#).expect("uncoded");
        assert_eq!(
            unknown.outcome.expect_err("an error").code,
            Code::Unknown("OOPS".to_owned())
        );
        let reply = Reply::parse(br#"{"id":1,"ok":false,"code":"BUSY","message":"m","extra":1}"#)
            .expect("coded");
        assert_eq!(reply, Reply::failure(1, ErrorCode::Busy, "m"));
        assert!(Reply::parse(br#"{"ok":true}"#).is_err(), "no id");
    }

    #[test]
    fn reply_lines_round_trip() {
        for reply in [
            Reply::success(
                2,
                Success {
                    key_id: Some("ab".into()),
                    value: Some(None),
                    won: Some(true),
                    head: None,
                    from_cache: None,
                },
            ),
            Reply::success(
                4,
                Success {
                    head: Some(Some("3:AAAAAAAAAAAAAAAAAAAAAA".into())),
                    from_cache: Some(true),
                    ..Success::default()
                },
            ),
            Reply::success(
                5,
                Success {
                    head: Some(None),
                    from_cache: Some(false),
                    ..Success::default()
                },
            ),
            Reply::failure(3, ErrorCode::NoStableKey, "set KEYRACE_MASTER_KEY"),
        ] {
            assert_eq!(Reply::parse(reply.to_line().as_bytes()), Ok(reply));
        }
    }

    #[test]
    fn hello_is_checked_and_tolerates_new_ops() {
        let hello = Hello::parse(
            br#"{"protocol":"keyrace-adapter/1","name":"x","ops":["put","teleport"]}"#,
        )
        .expect("hello");
        assert_eq!(hello, Hello::new("x", &[OpName::Put]));
        let keyless =
            Hello::parse(br#"{"protocol":"keyrace-adapter/1","name":"x","ops":[],"keyless":true}"#)
                .expect("keyless hello");
        assert!(keyless.keyless);
        assert_eq!(Hello::parse(keyless.to_line().as_bytes()), Ok(keyless));
        assert!(Hello::parse(br#"{"protocol":"keyrace-adapter/2","name":"x","ops":[]}"#).is_err());
        assert!(Hello::parse(b"hello").is_err());
        let line = Hello::new("ref", &OpName::ALL).to_line();
        assert_eq!(
            Hello::parse(line.as_bytes()),
            Ok(Hello::new("ref", &OpName::ALL))
        );
    }
}

//! How the client reaches the gate: plain request/response structs and a [`Transport`] trait,
//! with [`InProcessTransport`] wired straight to a [`WitnessGate`]. No HTTP library: a real
//! transport maps these fields to headers (`X-Last-Known-STH`, `X-Current-STH`) and a status.

use std::fmt;
use std::io;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::bootstrap::{GraceLedger, HeadLog, Status, WitnessGate};

/// An API key. Zeroized on drop; `Debug` never shows it; it never touches disk.
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(Zeroizing::new(key.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The server-side id of this key: a domain-separated SHA-256, safe to store and log.
    pub fn key_id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"keyrace/api-key-id/v1\0")
            .chain_update(self.0.as_bytes())
            .finalize();
        hex::encode(&digest[..16])
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(id {})", self.key_id())
    }
}

/// One request as the client sends it.
#[derive(Debug)]
pub struct WitnessRequest<'a> {
    pub key: &'a ApiKey,
    /// The last-known-head header. `None` is the bootstrap marker: the header is absent.
    pub last_known_head: Option<String>,
    /// The operation the gate guards; it runs only if the request passes.
    pub body: &'a [u8],
}

/// One response as the client receives it. Every field is untrusted input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessResponse {
    /// HTTP-like status: 200, 400, 409, 412, 503, or anything else a server sends.
    pub status: u16,
    /// The stable error code (`BOOTSTRAP_ALREADY_CONSUMED`, `DIVERGENCE`, ...) of a refusal.
    pub code: Option<String>,
    /// The current-head header: the server's newest head, as text.
    pub current_head: Option<String>,
    pub message: String,
    /// The operation's result (empty for a refusal).
    pub body: Vec<u8>,
}

impl WitnessResponse {
    /// A 200 carrying `current_head` and `body`.
    pub fn ok(current_head: Option<String>, body: Vec<u8>) -> WitnessResponse {
        WitnessResponse {
            status: Status::Ok.as_u16(),
            code: None,
            current_head,
            message: String::new(),
            body,
        }
    }

    /// A refusal with `status`, `code` and an optional current head.
    pub fn refusal(
        status: u16,
        code: Option<&str>,
        current_head: Option<String>,
        message: impl Into<String>,
    ) -> WitnessResponse {
        WitnessResponse {
            status,
            code: code.map(str::to_owned),
            current_head,
            message: message.into(),
            body: Vec::new(),
        }
    }
}

/// Sends one request and returns the server's answer; `Err` means no answer (connection,
/// timeout): the client never retries it by itself.
pub trait Transport: Send + Sync {
    fn send(&self, request: &WitnessRequest<'_>) -> io::Result<WitnessResponse>;
}

impl<T: Transport + ?Sized> Transport for &T {
    fn send(&self, request: &WitnessRequest<'_>) -> io::Result<WitnessResponse> {
        (**self).send(request)
    }
}

impl<T: Transport + ?Sized> Transport for crate::sync::Arc<T> {
    fn send(&self, request: &WitnessRequest<'_>) -> io::Result<WitnessResponse> {
        (**self).send(request)
    }
}

/// A transport that calls a [`WitnessGate`] in the same process, then, if the request
/// passes, the guarded operation `operation(body)`. A refused request never runs it.
pub struct InProcessTransport<L, H, O> {
    gate: WitnessGate<L, H>,
    operation: O,
}

impl<L, H, O> InProcessTransport<L, H, O>
where
    L: GraceLedger,
    H: HeadLog,
    O: Fn(&[u8]) -> Vec<u8> + Send + Sync,
{
    pub fn new(gate: WitnessGate<L, H>, operation: O) -> Self {
        InProcessTransport { gate, operation }
    }

    pub fn gate(&self) -> &WitnessGate<L, H> {
        &self.gate
    }
}

impl<L, H, O> Transport for InProcessTransport<L, H, O>
where
    L: GraceLedger,
    H: HeadLog,
    O: Fn(&[u8]) -> Vec<u8> + Send + Sync,
{
    fn send(&self, request: &WitnessRequest<'_>) -> io::Result<WitnessResponse> {
        let key_id = request.key.key_id();
        Ok(
            match self.gate.check(&key_id, request.last_known_head.as_deref()) {
                Ok(pass) => WitnessResponse::ok(
                    Some(pass.current_head.to_string()),
                    (self.operation)(request.body),
                ),
                Err(refusal) => WitnessResponse::refusal(
                    refusal.status().as_u16(),
                    Some(refusal.code().as_str()),
                    refusal.current_head().map(|h| h.to_string()),
                    refusal.to_string(),
                ),
            },
        )
    }
}

impl<L, H, O> fmt::Debug for InProcessTransport<L, H, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InProcessTransport")
    }
}

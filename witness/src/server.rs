//! The reference witness server: the core's [`WitnessGate`] over real HTTP on a real socket
//! ([`crate::http`]: blocking, a thread per connection, which is all a loopback test server
//! needs, without an async runtime).
//!
//! `POST /v1/witness` runs the gate, then, if the request passes, the guarded operation: it
//! counts the operations run for the key and answers [`OpsBody`]. `POST /v1/seal` seals the
//! next head of the in-memory head log (a test endpoint: the checks need history).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use keyrace_core::bootstrap::{
    BootstrapError, GraceLedger, MemoryHeadLog, Pass, SignedTreeHead, Status, WitnessGate,
};
use keyrace_core::witness::ApiKey;
use keyrace_core::ErrorCode;

use crate::http::{HttpRequest, HttpResponse, HttpServer};
use crate::mutants::ServerMutant;
use crate::wire::{bearer, OpsBody, Preset, SealBody, AUTHORIZATION, SEAL_PATH, WITNESS_PATH};

/// Worker threads of a server.
pub const DEFAULT_THREADS: usize = 8;

/// How a server answers.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub preset: Preset,
    pub mutant: Option<ServerMutant>,
    /// Heads sealed at start (0: the log starts empty and the zero placeholder passes).
    pub sealed: u64,
}

struct State {
    gate: WitnessGate<Box<dyn GraceLedger>, Arc<MemoryHeadLog>>,
    log: Arc<MemoryHeadLog>,
    ops: Mutex<HashMap<String, u64>>,
    config: ServerConfig,
}

/// A running server; [`WitnessServer::shutdown`] (or drop) stops it.
pub struct WitnessServer {
    http: HttpServer,
    state: Arc<State>,
}

/// A fresh random root prefix for a sealed head.
fn random_prefix() -> io::Result<[u8; 16]> {
    let mut prefix = [0u8; 16];
    getrandom::fill(&mut prefix).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(prefix)
}

impl WitnessServer {
    /// Listen on `addr` (`127.0.0.1:0` for an ephemeral port). Each connection gets its own
    /// thread; `threads` is the ledger's connection count, kept for the callers that size both.
    pub fn start(
        addr: &str,
        ledger: Box<dyn GraceLedger>,
        config: ServerConfig,
        _threads: usize,
    ) -> io::Result<WitnessServer> {
        let log = Arc::new(MemoryHeadLog::new());
        for _ in 0..config.sealed {
            log.seal(random_prefix()?).map_err(io::Error::other)?;
        }
        let state = Arc::new(State {
            gate: WitnessGate::new(ledger, Arc::clone(&log)),
            log,
            ops: Mutex::new(HashMap::new()),
            config,
        });
        let handler = {
            let state = Arc::clone(&state);
            Arc::new(move |request: &HttpRequest| state.respond(request))
        };
        let http = HttpServer::start(addr, handler)?;
        Ok(WitnessServer { http, state })
    }

    pub fn addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.http.addr())
    }

    /// Seal the next head (what `POST /v1/seal` does).
    pub fn seal(&self) -> io::Result<SignedTreeHead> {
        self.state
            .log
            .seal(random_prefix()?)
            .map_err(io::Error::other)
    }

    /// Stop accepting (requests in flight finish on their own threads).
    pub fn shutdown(self) {
        self.http.shutdown();
    }
}

fn json_response(status: u16, body: &impl serde::Serialize) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    HttpResponse::new(status, bytes).with_header("Content-Type", "application/json")
}

impl State {
    /// A refusal in the configured spelling; `head`, if any, also goes in the current-head
    /// header.
    fn refusal(
        &self,
        code: ErrorCode,
        status: u16,
        message: String,
        head: Option<String>,
    ) -> HttpResponse {
        let preset = self.config.preset;
        let body = preset.refusal_body(code, &message, head.as_deref());
        let response =
            HttpResponse::new(status, body).with_header("Content-Type", "application/json");
        match head {
            Some(head) => response.with_header(preset.current_header(), &head),
            None => response,
        }
    }
}

impl State {
    fn respond(&self, request: &HttpRequest) -> HttpResponse {
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", WITNESS_PATH) => self.witness(request),
            ("POST", SEAL_PATH) => match random_prefix().map(|p| self.log.seal(p)) {
                Ok(Ok(head)) => json_response(
                    200,
                    &SealBody {
                        head: head.to_string(),
                    },
                ),
                Ok(Err(e)) => self.refusal(e.code(), 503, e.to_string(), None),
                Err(e) => self.refusal(ErrorCode::Io, 503, e.to_string(), None),
            },
            _ => self.refusal(
                ErrorCode::InvalidArgument,
                404,
                format!("no such endpoint; send POST {WITNESS_PATH}"),
                None,
            ),
        }
    }

    fn witness(&self, request: &HttpRequest) -> HttpResponse {
        let key = match request.header_values(AUTHORIZATION).as_slice() {
            [value] => bearer(value).map(ApiKey::new),
            _ => None,
        };
        let Some(key) = key else {
            return self.refusal(
                ErrorCode::InvalidArgument,
                400,
                format!("send the API key once, as {AUTHORIZATION}: Bearer <key>"),
                None,
            );
        };
        let preset = self.config.preset;
        let last_known = preset.last_known_header();
        let claimed = match request.header_values(last_known).as_slice() {
            [] => None,
            [one] => Some((*one).to_owned()),
            _ => {
                return self.refusal(
                    ErrorCode::InvalidArgument,
                    400,
                    format!("send {last_known} at most once"),
                    None,
                )
            }
        };
        if self.config.mutant == Some(ServerMutant::OpBeforeRefusal) {
            self.count_op(&key);
        }
        let checked = self.check(&key, claimed.as_deref());
        match checked {
            Ok(pass) => {
                let ops = if self.config.mutant == Some(ServerMutant::OpBeforeRefusal) {
                    self.ops_of(&key)
                } else {
                    self.count_op(&key)
                };
                json_response(200, &OpsBody { ops })
                    .with_header(preset.current_header(), &pass.current_head.to_string())
            }
            Err(e) => {
                let status = e.status().as_u16();
                let drop_head = self.config.mutant == Some(ServerMutant::RefusalWithoutHead)
                    && e.status() == Status::PreconditionFailed;
                let head = e.current_head().filter(|_| !drop_head);
                self.refusal(e.code(), status, e.to_string(), head.map(|h| h.to_string()))
            }
        }
    }

    /// Run the guarded operation for `key`: count it. Returns the count.
    fn count_op(&self, key: &ApiKey) -> u64 {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        let count = ops.entry(key.key_id()).or_insert(0);
        *count += 1;
        *count
    }

    fn ops_of(&self, key: &ApiKey) -> u64 {
        let ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        ops.get(&key.key_id()).copied().unwrap_or(0)
    }

    /// The gate's verdict, or a mutant's.
    fn check(&self, key: &ApiKey, claimed: Option<&str>) -> Result<Pass, BootstrapError> {
        let parsed = claimed.map(SignedTreeHead::parse);
        let current = self.log_current();
        let sealed = !current.is_zero();
        let pass = Ok(Pass {
            current_head: current,
            bootstrapped: false,
        });
        let diverged = Err(BootstrapError::Divergence {
            current_head: current,
        });
        match (self.config.mutant, parsed) {
            (Some(ServerMutant::ZeroHeadLoop), Some(Ok(head))) if head.is_zero() => diverged,
            (Some(ServerMutant::ZeroAfterSeal), Some(Ok(head))) if head.is_zero() => pass,
            (Some(ServerMutant::TrustsAnyHead), Some(Ok(_))) => pass,
            (Some(ServerMutant::NewestHeadOnly), Some(Ok(head)))
                if head != current && (sealed || !head.is_zero()) =>
            {
                diverged
            }
            (Some(ServerMutant::MalformedAsAbsent), Some(Err(_))) => {
                self.gate.check(&key.key_id(), None)
            }
            _ => self.gate.check(&key.key_id(), claimed),
        }
    }

    fn log_current(&self) -> SignedTreeHead {
        use keyrace_core::bootstrap::HeadLog;
        self.log
            .current()
            .ok()
            .flatten()
            .unwrap_or(SignedTreeHead::ZERO)
    }
}

//! The reference witness server: the core's [`WitnessGate`] over real HTTP on a real socket
//! (tiny_http: a small blocking server whose worker threads each take requests from one
//! listener, which is all a loopback test server needs, without an async runtime).
//!
//! `POST /v1/witness` runs the gate, then, if the request passes, the guarded operation: it
//! counts the operations run for the key and answers [`OpsBody`]. `POST /v1/seal` seals the
//! next head of the in-memory head log (a test endpoint: the checks need history).

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use keyrace_core::bootstrap::{
    BootstrapError, GraceLedger, MemoryHeadLog, Pass, SignedTreeHead, Status, WitnessGate,
};
use keyrace_core::witness::ApiKey;
use keyrace_core::ErrorCode;
use tiny_http::{Header, Method, Request, Response};

use crate::mutants::ServerMutant;
use crate::wire::{
    bearer, ErrorBody, HeadHeaders, OpsBody, SealBody, AUTHORIZATION, SEAL_PATH, WITNESS_PATH,
};

/// Largest request body read; the guarded operation of the reference server needs none.
pub const MAX_BODY: u64 = 64 * 1024;

/// Worker threads of a server.
pub const DEFAULT_THREADS: usize = 8;

/// How a server answers.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub headers: HeadHeaders,
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
    http: Arc<tiny_http::Server>,
    addr: SocketAddr,
    state: Arc<State>,
    workers: Vec<JoinHandle<()>>,
}

/// A fresh random root prefix for a sealed head.
fn random_prefix() -> io::Result<[u8; 16]> {
    let mut prefix = [0u8; 16];
    getrandom::fill(&mut prefix).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(prefix)
}

impl WitnessServer {
    /// Listen on `addr` (`127.0.0.1:0` for an ephemeral port) and serve with `threads` workers.
    pub fn start(
        addr: &str,
        ledger: Box<dyn GraceLedger>,
        config: ServerConfig,
        threads: usize,
    ) -> io::Result<WitnessServer> {
        let http = tiny_http::Server::http(addr).map_err(io::Error::other)?;
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("the server is not listening on an IP socket"))?;
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
        let http = Arc::new(http);
        let workers = (0..threads.max(1))
            .map(|_| {
                let (http, state) = (Arc::clone(&http), Arc::clone(&state));
                std::thread::spawn(move || {
                    for request in http.incoming_requests() {
                        // A client that went away mid-response is its problem, not the server's.
                        let _ = state.answer(request);
                    }
                })
            })
            .collect();
        Ok(WitnessServer {
            http,
            addr,
            state,
            workers,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Seal the next head (what `POST /v1/seal` does).
    pub fn seal(&self) -> io::Result<SignedTreeHead> {
        self.state
            .log
            .seal(random_prefix()?)
            .map_err(io::Error::other)
    }

    /// Stop accepting, let the workers finish their request, and join them.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for _ in &self.workers {
            self.http.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Drop for WitnessServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn json_response(status: u16, body: &impl serde::Serialize) -> Response<io::Cursor<Vec<u8>>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let response = Response::from_data(bytes).with_status_code(status);
    match header("Content-Type", "application/json") {
        Some(h) => response.with_header(h),
        None => response,
    }
}

fn refusal(code: ErrorCode, status: u16, message: String) -> Response<io::Cursor<Vec<u8>>> {
    json_response(status, &ErrorBody::new(code, message))
}

impl State {
    fn answer(&self, mut request: Request) -> io::Result<()> {
        let response = self.respond(&mut request);
        request.respond(response)
    }

    fn respond(&self, request: &mut Request) -> Response<io::Cursor<Vec<u8>>> {
        let path = request.url().split('?').next().unwrap_or("").to_owned();
        match (request.method(), path.as_str()) {
            (Method::Post, WITNESS_PATH) => self.witness(request),
            (Method::Post, SEAL_PATH) => match random_prefix().map(|p| self.log.seal(p)) {
                Ok(Ok(head)) => json_response(
                    200,
                    &SealBody {
                        head: head.to_string(),
                    },
                ),
                Ok(Err(e)) => refusal(e.code(), 503, e.to_string()),
                Err(e) => refusal(ErrorCode::Io, 503, e.to_string()),
            },
            _ => refusal(
                ErrorCode::InvalidArgument,
                404,
                format!("no such endpoint; send POST {WITNESS_PATH}"),
            ),
        }
    }

    /// The values of header `name` (any spelling).
    fn header_values<'r>(request: &'r Request, name: &str) -> Vec<&'r str> {
        request
            .headers()
            .iter()
            .filter(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
            .collect()
    }

    fn witness(&self, request: &mut Request) -> Response<io::Cursor<Vec<u8>>> {
        let mut body = Vec::new();
        if let Err(e) = request.as_reader().take(MAX_BODY).read_to_end(&mut body) {
            return refusal(ErrorCode::Io, 400, format!("could not read the body: {e}"));
        }
        let key = match Self::header_values(request, AUTHORIZATION).as_slice() {
            [value] => bearer(value).map(ApiKey::new),
            _ => None,
        };
        let Some(key) = key else {
            return refusal(
                ErrorCode::InvalidArgument,
                400,
                format!("send the API key once, as {AUTHORIZATION}: Bearer <key>"),
            );
        };
        let names = &self.config.headers;
        let claimed = match Self::header_values(request, &names.last_known).as_slice() {
            [] => None,
            [one] => Some((*one).to_owned()),
            _ => {
                return refusal(
                    ErrorCode::InvalidArgument,
                    400,
                    format!("send {} at most once", names.last_known),
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
                let response = json_response(200, &OpsBody { ops });
                match header(&names.current, &pass.current_head.to_string()) {
                    Some(h) => response.with_header(h),
                    None => response,
                }
            }
            Err(e) => {
                let status = e.status().as_u16();
                let response = refusal(e.code(), status, e.to_string());
                let drop_head = self.config.mutant == Some(ServerMutant::RefusalWithoutHead)
                    && e.status() == Status::PreconditionFailed;
                match e.current_head().filter(|_| !drop_head) {
                    Some(head) => match header(&names.current, &head.to_string()) {
                        Some(h) => response.with_header(h),
                        None => response,
                    },
                    None => response,
                }
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

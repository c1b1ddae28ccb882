//! A scripted witness server for the client scenarios: it answers each request as the
//! scenario's script says and records every request it gets, on 127.0.0.1 at an ephemeral
//! port (one per round, so no two rounds share a server or a cache entry).
//!
//! What the client sent is the evidence: the runner judges the requests this server saw,
//! not what the adapter says it did.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use keyrace_core::bootstrap::SignedTreeHead;
use keyrace_core::ErrorCode;
use keyrace_witness::wire::{bearer, ErrorBody, HeadHeaders, AUTHORIZATION, WITNESS_PATH};
use tiny_http::{Header, Response};

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The API key of its `Authorization: Bearer` header.
    pub api_key: Option<String>,
    /// Its last-known-head header, as sent (`None`: absent, a bootstrap).
    pub head: Option<String>,
}

impl Seen {
    pub fn describe(&self) -> String {
        match &self.head {
            Some(head) => format!("server saw a request with head {head:?}"),
            None => "server saw a request without a head (a bootstrap)".to_owned(),
        }
    }
}

/// The script's answer to one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 carrying `head`.
    Pass(SignedTreeHead),
    /// 412 `BOOTSTRAP_ALREADY_CONSUMED` carrying `head`.
    Consumed(SignedTreeHead),
    /// 409 `DIVERGENCE` carrying `head`.
    Diverged(SignedTreeHead),
    /// A status with no head and no keyrace body (a broken or overloaded server).
    Status(u16),
    /// No answer for this long, then a 503 (a hung server: a client must give up first).
    Slow(std::time::Duration),
    /// This answer, after this long (a slow server: what the client does meanwhile shows).
    After(std::time::Duration, Box<Answer>),
    /// The connection dies mid-answer: a 200's status line and headers, half its body, then
    /// nothing more.
    Cut,
}

/// Decides the answer to request number `n` (from 0) of this server, given what it saw.
pub type Script = Box<dyn Fn(usize, &Seen) -> Answer + Send + Sync>;

/// A running scripted server.
pub struct ScriptedServer {
    http: Arc<tiny_http::Server>,
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    worker: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    pub fn start(script: Script) -> io::Result<ScriptedServer> {
        let http = Arc::new(tiny_http::Server::http("127.0.0.1:0").map_err(io::Error::other)?);
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("not listening on an IP socket"))?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let worker = {
            let (http, seen) = (Arc::clone(&http), Arc::clone(&seen));
            std::thread::spawn(move || {
                let headers = HeadHeaders::default();
                for mut request in http.incoming_requests() {
                    let mut body = Vec::new();
                    let _ = request.as_reader().take(64 * 1024).read_to_end(&mut body);
                    let value = |name: &str| {
                        request
                            .headers()
                            .iter()
                            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
                            .map(|h| h.value.as_str().to_owned())
                    };
                    let request_seen = Seen {
                        api_key: value(AUTHORIZATION).and_then(|v| bearer(&v).map(str::to_owned)),
                        head: value(&headers.last_known),
                    };
                    let n = {
                        let mut all = seen.lock().unwrap_or_else(|p| p.into_inner());
                        all.push(request_seen.clone());
                        all.len() - 1
                    };
                    let answer = if request.url().split('?').next() == Some(WITNESS_PATH) {
                        script(n, &request_seen)
                    } else {
                        Answer::Status(404)
                    };
                    let answer = match answer {
                        // The fault being injected: the server hangs (this thread only).
                        Answer::Slow(delay) => {
                            std::thread::sleep(delay);
                            Answer::Slow(delay)
                        }
                        Answer::After(delay, answer) => {
                            std::thread::sleep(delay);
                            *answer
                        }
                        answer => answer,
                    };
                    if let Answer::Cut = answer {
                        let mut writer = request.into_writer();
                        let _ = writer.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"ops",
                        );
                        let _ = writer.flush();
                        continue;
                    }
                    // A client that went away is its own problem.
                    let _ = request.respond(respond(&answer, &headers));
                }
            })
        };
        Ok(ScriptedServer {
            http,
            url: format!("http://{addr}"),
            seen,
            worker: Some(worker),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Each request, described, for a violation's report.
    pub fn describe(&self) -> Vec<String> {
        let seen = self.seen();
        if seen.is_empty() {
            return vec!["server saw no request".to_owned()];
        }
        seen.iter().map(Seen::describe).collect()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn respond(answer: &Answer, headers: &HeadHeaders) -> Response<io::Cursor<Vec<u8>>> {
    let (status, head, code) = match answer {
        Answer::Pass(head) => (200, Some(head), None),
        Answer::Consumed(head) => (412, Some(head), Some(ErrorCode::BootstrapAlreadyConsumed)),
        Answer::Diverged(head) => (409, Some(head), Some(ErrorCode::Divergence)),
        Answer::Status(status) => (*status, None, None),
        Answer::Slow(_) | Answer::Cut | Answer::After(..) => (503, None, None),
    };
    let body = match code {
        Some(code) => {
            serde_json::to_vec(&ErrorBody::new(code, "scripted refusal")).unwrap_or_default()
        }
        None if status == 200 => b"{\"ops\":1}".to_vec(),
        None => b"scripted failure".to_vec(),
    };
    let response = Response::from_data(body).with_status_code(status);
    match head
        .and_then(|h| Header::from_bytes(headers.current.as_bytes(), h.to_string().as_bytes()).ok())
    {
        Some(header) => response.with_header(header),
        None => response,
    }
}

/// A distinct, valid head for position `position` (its prefix derived from it).
pub fn head(position: u64) -> SignedTreeHead {
    let mut prefix = [0u8; 16];
    prefix[..8].copy_from_slice(&position.to_be_bytes());
    prefix[8] = 0x5a;
    SignedTreeHead::new(position, prefix)
}

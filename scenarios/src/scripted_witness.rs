//! A scripted witness server for the client scenarios: it answers each request as the
//! scenario's script says and records every request it gets, on 127.0.0.1 at an ephemeral
//! port (one per round, so no two rounds share a server or a cache entry).
//!
//! What the client sent is the evidence: the runner judges the requests this server saw,
//! not what the adapter says it did.

use std::io;
use std::sync::{Arc, Mutex};

use keyrace_protocol::head::SignedTreeHead;
use keyrace_protocol::ErrorCode;
use keyrace_witness::http::{HttpRequest, HttpResponse, HttpServer};
use keyrace_witness::wire::{bearer, Preset, AUTHORIZATION, WITNESS_PATH};

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
    /// The connection dies mid-answer: a 200's status line and headers, half its body, then
    /// nothing more.
    Cut,
}

/// Decides the answer to request number `n` (from 0) of this server, given what it saw.
pub type Script = Box<dyn Fn(usize, &Seen) -> Answer + Send + Sync>;

/// A running scripted server (a thread per connection: one slow answer holds up nobody else).
pub struct ScriptedServer {
    /// Held for its drop: the server stops accepting when the scripted server goes.
    _http: HttpServer,
    url: String,
    preset: Preset,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ScriptedServer {
    /// A server answering in `preset`'s spelling. A bootstrap marker (loopctl's
    /// `X-Loopctl-STH-Bootstrap: true`) is accepted: what the server goes by is the head
    /// header, present or not.
    pub fn start(preset: Preset, script: Script) -> io::Result<ScriptedServer> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = {
            let seen = Arc::clone(&seen);
            Arc::new(move |request: &HttpRequest| {
                let value =
                    |name: &str| request.header_values(name).first().map(|v| (*v).to_owned());
                let request_seen = Seen {
                    api_key: value(AUTHORIZATION).and_then(|v| bearer(&v).map(str::to_owned)),
                    head: value(preset.last_known_header()),
                };
                let n = {
                    let mut all = seen.lock().unwrap_or_else(|p| p.into_inner());
                    all.push(request_seen.clone());
                    all.len() - 1
                };
                let answer = if request.path == WITNESS_PATH {
                    script(n, &request_seen)
                } else {
                    Answer::Status(404)
                };
                let answer = match answer {
                    // The fault being injected: the server hangs (this connection only).
                    Answer::Slow(delay) => {
                        std::thread::sleep(delay);
                        Answer::Slow(delay)
                    }
                    answer => answer,
                };
                respond(&answer, preset)
            })
        };
        let http = HttpServer::start("127.0.0.1:0", handler)?;
        Ok(ScriptedServer {
            url: format!("http://{}", http.addr()),
            preset,
            _http: http,
            seen,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The spelling it answers in.
    pub fn preset(&self) -> Preset {
        self.preset
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

fn respond(answer: &Answer, preset: Preset) -> HttpResponse {
    let (status, head, code) = match answer {
        Answer::Pass(head) => (200, Some(head), None),
        Answer::Consumed(head) => (412, Some(head), Some(ErrorCode::BootstrapAlreadyConsumed)),
        Answer::Diverged(head) => (409, Some(head), Some(ErrorCode::Divergence)),
        Answer::Status(status) => (*status, None, None),
        Answer::Slow(_) => (503, None, None),
        Answer::Cut => {
            // A 200 promising 100 bytes, 5 of them, then the connection closes.
            return HttpResponse::Raw(
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"ops"
                    .to_vec(),
            );
        }
    };
    let body = match code {
        Some(code) => preset.refusal_body(
            code,
            "scripted refusal",
            head.map(|h| h.to_string()).as_deref(),
        ),
        None if status == 200 => b"{\"ops\":1}".to_vec(),
        None => b"scripted failure".to_vec(),
    };
    let response = HttpResponse::new(status, body);
    match head {
        Some(head) => response.with_header(preset.current_header(), &head.to_string()),
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

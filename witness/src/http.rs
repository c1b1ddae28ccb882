//! A small blocking HTTP/1.1 server for loopback tests: one thread per connection, one request
//! per connection (every answer says `Connection: close` and closes), request parsing by
//! `httparse`. Both of keyrace's servers use it: the reference witness server and the runner's
//! scripted server.
//!
//! Why not a pooled server (tiny_http, the first choice): it serves each connection on a
//! pooled thread for as long as the client keeps it alive, and its pool can queue a new
//! connection behind idle keep-alive ones, so a keep-alive client's request sat unread (seen:
//! Python `requests`, 8 concurrent calls, 2–4 of 20 rounds) and a checker would have blamed
//! the client. A thread per connection cannot starve a connection.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest request head (request line and headers) read.
pub const MAX_HEAD: usize = 16 * 1024;

/// Largest request body read.
pub const MAX_BODY: usize = 64 * 1024;

/// How long a connection may take to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One parsed request.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// Every value of header `name` (any spelling), trimmed.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }
}

/// What to send back.
#[derive(Debug, Clone)]
pub enum HttpResponse {
    /// A complete answer.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// These bytes as they are, then close (a broken server, for fault injection).
    Raw(Vec<u8>),
}

impl HttpResponse {
    pub fn new(status: u16, body: Vec<u8>) -> HttpResponse {
        HttpResponse::Full {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// Add a header (to a full answer).
    pub fn with_header(mut self, name: &str, value: &str) -> HttpResponse {
        if let HttpResponse::Full { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            HttpResponse::Raw(bytes) => bytes.clone(),
            HttpResponse::Full {
                status,
                headers,
                body,
            } => {
                let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(*status));
                for (name, value) in headers {
                    // A value with a line break would split the answer: never sent.
                    if !value.contains(['\r', '\n']) && !name.contains(['\r', '\n', ':']) {
                        out.push_str(&format!("{name}: {value}\r\n"));
                    }
                }
                out.push_str(&format!(
                    "Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                ));
                let mut bytes = out.into_bytes();
                bytes.extend_from_slice(body);
                bytes
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        412 => "Precondition Failed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Answers one request.
pub type Handler = dyn Fn(&HttpRequest) -> HttpResponse + Send + Sync;

/// A listening server; [`HttpServer::shutdown`] (or drop) stops accepting and joins the
/// accept thread (connection threads end with their connection).
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Listen on `addr` (port 0: an ephemeral one) and answer every request with `handler`.
    pub fn start(addr: &str, handler: Arc<Handler>) -> io::Result<HttpServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let handler = Arc::clone(&handler);
                    std::thread::spawn(move || {
                        // A client that went away mid-request is its own problem.
                        let _ = serve(stream, &*handler);
                    });
                }
            })
        };
        Ok(HttpServer {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn shutdown(mut self) {
        self.stop_accepting();
    }

    fn stop_accepting(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocked accept with a connection of our own.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop_accepting();
    }
}

/// Read one request from `stream`, answer it, close.
fn serve(stream: TcpStream, handler: &Handler) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = Vec::new();
    // Up to the blank line that ends the head.
    loop {
        let before = head.len();
        let n = (&mut reader)
            .take((MAX_HEAD - head.len()) as u64)
            .read_until(b'\n', &mut head)?;
        if n == 0 {
            return Ok(()); // closed before a whole request
        }
        if head[before..] == *b"\r\n" || head[before..] == *b"\n" {
            break;
        }
        if head.len() >= MAX_HEAD {
            return answer(
                stream,
                &HttpResponse::new(431, b"request head too large".to_vec()),
            );
        }
    }
    let mut parsed_headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut parsed_headers);
    let request = match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => HttpRequest {
            method: parsed.method.unwrap_or("").to_owned(),
            path: parsed
                .path
                .unwrap_or("")
                .split('?')
                .next()
                .unwrap_or("")
                .to_owned(),
            headers: parsed
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            body: Vec::new(),
        },
        _ => {
            return answer(
                stream,
                &HttpResponse::new(400, b"malformed request".to_vec()),
            )
        }
    };
    let length = match request.header_values("Content-Length").as_slice() {
        [] => 0,
        [one] => match one.parse::<usize>() {
            Ok(n) if n <= MAX_BODY => n,
            _ => {
                return answer(
                    stream,
                    &HttpResponse::new(400, b"bad Content-Length".to_vec()),
                )
            }
        },
        _ => {
            return answer(
                stream,
                &HttpResponse::new(400, b"repeated Content-Length".to_vec()),
            )
        }
    };
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request = HttpRequest { body, ..request };
    answer(stream, &handler(&request))
}

fn answer(mut stream: TcpStream, response: &HttpResponse) -> io::Result<()> {
    stream.write_all(&response.bytes())?;
    stream.flush()?;
    stream.shutdown(Shutdown::Write)
}

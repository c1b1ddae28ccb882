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
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
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
    if !request.header_values("Transfer-Encoding").is_empty() {
        return answer(
            stream,
            &HttpResponse::new(
                501,
                b"Transfer-Encoding is not supported: send the body with a Content-Length".to_vec(),
            ),
        );
    }
    let length = match request.header_values("Content-Length").as_slice() {
        [] => 0,
        // Digits only: Rust's integer parsing would also take a sign.
        [one] => match one.parse::<usize>() {
            Ok(n) if n <= MAX_BODY && one.bytes().all(|b| b.is_ascii_digit()) => n,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every read and write of a test client: shorter than the server's READ_TIMEOUT, so an
    /// idle connection the server gave up on cannot be what let a request through.
    const WAIT: Duration = Duration::from_secs(5);

    /// Answers `METHOD PATH BODY`, and the `X-Probe` values in a header.
    fn echo() -> HttpServer {
        let handler: Arc<Handler> = Arc::new(|request: &HttpRequest| {
            let body = format!(
                "{} {} {}",
                request.method,
                request.path,
                String::from_utf8_lossy(&request.body)
            );
            HttpResponse::new(200, body.into_bytes())
                .with_header("X-Probes", &request.header_values("x-probe").join("|"))
        });
        HttpServer::start("127.0.0.1:0", handler).unwrap()
    }

    fn connect(server: &HttpServer) -> TcpStream {
        let stream = TcpStream::connect(server.addr()).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        stream
    }

    /// Everything the server sends until it closes (a read past WAIT fails the test).
    fn until_closed(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        stream.read_to_end(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn exchange(server: &HttpServer, request: &[u8]) -> String {
        let mut stream = connect(server);
        stream.write_all(request).unwrap();
        until_closed(&mut stream)
    }

    fn answer_for(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn ok(body: &str) -> String {
        answer_for("200 OK", "X-Probes: \r\n", body)
    }

    /// The regression that replaced tiny_http: its pool queued a keep-alive client's
    /// connection behind idle ones. Eight connections hold a server thread each, mid-request;
    /// the client's requests (it asks for keep-alive, is told to close, and reconnects, as
    /// keep-alive clients do) must all be answered meanwhile.
    #[test]
    fn a_keep_alive_client_is_answered_while_eight_connections_sit_idle() {
        let server = echo();
        let mut idle: Vec<TcpStream> = (0..8)
            .map(|_| {
                let mut stream = connect(&server);
                stream
                    .write_all(b"GET /idle HTTP/1.1\r\nHost: t\r\n")
                    .unwrap();
                stream
            })
            .collect();
        // Accepted after the idle ones: the listen backlog is first in, first out.
        for path in ["/first", "/second"] {
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n");
            let answer = exchange(&server, request.as_bytes());
            assert_eq!(answer, ok(&format!("GET {path} ")));
        }
        // The idle ones were held open all along, and are answered once they finish.
        for stream in &mut idle {
            stream.write_all(b"\r\n").unwrap();
            assert_eq!(until_closed(stream), ok("GET /idle "));
        }
    }

    #[test]
    fn one_request_per_connection_even_when_the_client_asks_to_keep_it_alive() {
        let server = echo();
        let two = b"GET /a HTTP/1.1\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
        assert_eq!(exchange(&server, two), ok("GET /a "));
    }

    #[test]
    fn a_content_length_body_is_read_and_the_query_dropped() {
        let server = echo();
        let mut stream = connect(&server);
        // The body arrives after the head, in a write of its own.
        stream
            .write_all(b"POST /v1/head?x=1 HTTP/1.1\r\ncontent-length:  5 \r\n\r\n")
            .unwrap();
        stream.write_all(b"hello").unwrap();
        assert_eq!(until_closed(&mut stream), ok("POST /v1/head hello"));
        let most = format!(
            "PUT /big HTTP/1.1\r\nContent-Length: {MAX_BODY}\r\n\r\n{}",
            "b".repeat(MAX_BODY)
        );
        let answer = exchange(&server, most.as_bytes());
        assert_eq!(answer, ok(&format!("PUT /big {}", "b".repeat(MAX_BODY))));
    }

    #[test]
    fn headers_are_kept_with_every_value_of_a_name_in_any_spelling() {
        let server = echo();
        let answer = exchange(
            &server,
            b"GET / HTTP/1.1\r\nX-Probe: a\r\nHost: t\r\nx-probe:   b  \r\n\r\n",
        );
        assert_eq!(answer, answer_for("200 OK", "X-Probes: a|b\r\n", "GET / "));
        // Bare line feeds end lines too.
        let answer = exchange(&server, b"GET /lf HTTP/1.1\nX-Probe: c\n\n");
        assert_eq!(answer, answer_for("200 OK", "X-Probes: c\r\n", "GET /lf "));
    }

    #[test]
    fn a_request_the_server_cannot_use_is_refused_with_its_reason() {
        let server = echo();
        let too_long = format!("{}", MAX_BODY + 1);
        let cases: [(String, &str, &str); 7] = [
            (
                "NOT A REQUEST\r\n\r\n".to_owned(),
                "400 Bad Request",
                "malformed request",
            ),
            (
                "GET / HTTP/1.1\r\nno colon here\r\n\r\n".to_owned(),
                "400 Bad Request",
                "malformed request",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: five\r\n\r\n".to_owned(),
                "400 Bad Request",
                "bad Content-Length",
            ),
            (
                format!("POST / HTTP/1.1\r\nContent-Length: {too_long}\r\n\r\n"),
                "400 Bad Request",
                "bad Content-Length",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n".to_owned(),
                "400 Bad Request",
                "repeated Content-Length",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello".to_owned(),
                "400 Bad Request",
                "bad Content-Length",
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                    .to_owned(),
                "501 Not Implemented",
                "Transfer-Encoding is not supported: send the body with a Content-Length",
            ),
        ];
        for (request, status, body) in cases {
            let answer = exchange(&server, request.as_bytes());
            assert_eq!(answer, answer_for(status, "", body), "{request:?}");
        }
        // Exactly MAX_HEAD bytes without the blank line: all read, so the close is clean.
        let start = "GET / HTTP/1.1\r\nX-Long: ";
        let head = format!("{start}{}", "l".repeat(MAX_HEAD - start.len()));
        let answer = exchange(&server, head.as_bytes());
        assert_eq!(
            answer,
            answer_for(
                "431 Request Header Fields Too Large",
                "",
                "request head too large"
            )
        );
    }

    #[test]
    fn a_client_that_stops_short_of_a_whole_request_gets_no_answer() {
        let server = echo();
        for partial in [
            &b"GET / HTTP/1.1\r\nHost: t"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
        ] {
            let mut stream = connect(&server);
            stream.write_all(partial).unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            assert_eq!(until_closed(&mut stream), "");
        }
    }

    #[test]
    fn an_answer_drops_headers_that_would_split_it_and_raw_bytes_go_as_they_are() {
        let full = HttpResponse::new(404, b"gone".to_vec())
            .with_header("ETag", "\"1\"")
            .with_header("X-Split", "a\r\nInjected: 1")
            .with_header("X-Bad:Name", "v");
        assert_eq!(
            String::from_utf8(full.bytes()).unwrap(),
            answer_for("404 Not Found", "ETag: \"1\"\r\n", "gone")
        );
        let raw = HttpResponse::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ntorn".to_vec())
            .with_header("X-Ignored", "1");
        let handler: Arc<Handler> = Arc::new(move |_| raw.clone());
        let server = HttpServer::start("127.0.0.1:0", handler).unwrap();
        assert_eq!(
            exchange(&server, b"GET / HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ntorn"
        );
    }

    #[test]
    fn after_shutdown_no_connection_is_accepted() {
        let server = echo();
        let addr = server.addr();
        server.shutdown();
        let refused = TcpStream::connect(addr).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn header_values_matches_names_in_any_case_and_trims() {
        let request = HttpRequest {
            method: "GET".to_owned(),
            path: "/".to_owned(),
            headers: vec![
                ("If-Match".to_owned(), " \"a\" ".to_owned()),
                ("Host".to_owned(), "t".to_owned()),
                ("if-match".to_owned(), "\"b\"".to_owned()),
            ],
            body: Vec::new(),
        };
        assert_eq!(request.header_values("IF-MATCH"), ["\"a\"", "\"b\""]);
        assert!(request.header_values("Content-Length").is_empty());
    }
}

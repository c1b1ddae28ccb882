//! One adapter process: started directly (no shell) in its own process group, greeted, then
//! driven one request at a time with a deadline on every reply. A reader thread turns stdout
//! into lines, small requests are written directly (large ones from a helper thread, so a
//! child that stops reading cannot block the runner), and the last few KiB of stderr are kept for fault reports. Dropping an actor
//! kills its whole process group and reaps it.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use keyrace_core::{ErrorCode, MASTER_KEY_ENV};

use crate::protocol::{Hello, Op, OpName, Reply, Request};
use crate::reaper;

/// Longest stdout line accepted (a 16 MiB secret as JSON, with room to spare).
const MAX_LINE: usize = 64 * 1024 * 1024;

/// Requests up to this size are written directly (a pipe holds at least 64 KiB on Linux).
const DIRECT_WRITE_MAX: usize = 32 * 1024;

/// How much of stderr is kept.
const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// How to start one actor.
#[derive(Debug, Clone)]
pub struct ActorSpec {
    /// The adapter's argv; `argv[0]` is the program, started without a shell.
    pub argv: Vec<OsString>,
    /// `HOME` for the adapter: a private directory of the run.
    pub home: PathBuf,
    /// `KEYRACE_MASTER_KEY` (hex); `None` removes it from the environment.
    pub master_key: Option<String>,
    /// Run as this (uid, gid) instead of the runner's user.
    pub run_as: Option<(u32, u32)>,
    /// Deadline for the hello and for every reply.
    pub timeout: Duration,
    /// A label for reports ("actor 2", "verifier").
    pub label: String,
}

/// Why an actor could not be used: the adapter is broken (or was killed on purpose).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ActorError {
    #[error(
        "{label}: could not start the adapter {program:?}: {detail}; check the --adapter command"
    )]
    Spawn {
        label: String,
        program: String,
        detail: String,
        kind: io::ErrorKind,
    },
    #[error("{label}: the adapter exited ({status}) {when}; it must answer every request and exit only at EOF on stdin")]
    Exited {
        label: String,
        status: String,
        when: String,
        stderr_tail: String,
    },
    #[error("{label}: no answer {when} within {waited:?}; the adapter must answer every request (raise --timeout for slow stores)")]
    Timeout {
        label: String,
        when: String,
        waited: Duration,
        stderr_tail: String,
    },
    #[error("{label}: broke the protocol {when}: {detail}; see docs/protocol.md")]
    Protocol {
        label: String,
        when: String,
        detail: String,
        stderr_tail: String,
    },
}

impl ActorError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ActorError::Spawn { kind, .. } => ErrorCode::from_io(&io::Error::from(*kind)),
            ActorError::Timeout { .. } => ErrorCode::Busy,
            ActorError::Exited { .. } | ActorError::Protocol { .. } => ErrorCode::Io,
        }
    }

    /// The adapter's last stderr lines, if any were captured.
    pub fn stderr_tail(&self) -> &str {
        match self {
            ActorError::Spawn { .. } => "",
            ActorError::Exited { stderr_tail, .. }
            | ActorError::Timeout { stderr_tail, .. }
            | ActorError::Protocol { stderr_tail, .. } => stderr_tail,
        }
    }
}

enum Line {
    Text(Vec<u8>),
    TooLong,
    Eof,
    Failed(String),
}

/// The last bytes an adapter wrote to stderr.
#[derive(Default)]
struct Tail {
    bytes: VecDeque<u8>,
    closed: bool,
}

pub struct Actor {
    label: String,
    child: Child,
    pid: u32,
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    lines: Receiver<Line>,
    stderr: Arc<(Mutex<Tail>, std::sync::Condvar)>,
    hello: Hello,
    next_id: u64,
    timeout: Duration,
    reaped: bool,
}

impl std::fmt::Debug for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actor")
            .field("label", &self.label)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Actor {
    /// Start the adapter and wait for its hello line.
    pub fn spawn(spec: &ActorSpec) -> Result<Actor, ActorError> {
        let program = spec.argv.first().cloned().unwrap_or_default();
        let mut command = Command::new(&program);
        command
            .args(spec.argv.iter().skip(1))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("HOME", &spec.home)
            .env_remove(MASTER_KEY_ENV)
            // Its own process group: a terminal's Ctrl-C reaches only the runner, which then
            // kills the whole group, helpers the adapter started included.
            .process_group(0);
        if let Some(key) = &spec.master_key {
            command.env(MASTER_KEY_ENV, key);
        }
        if let Some((uid, gid)) = spec.run_as {
            command.uid(uid).gid(gid);
        }
        let mut child = reaper::spawn_registered(&mut command).map_err(|e| ActorError::Spawn {
            label: spec.label.clone(),
            program: program.to_string_lossy().into_owned(),
            detail: e.to_string(),
            kind: e.kind(),
        })?;
        let pid = child.id();
        let (stdin, stdout, stderr) =
            match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                (Some(stdin), Some(stdout), Some(stderr)) => (stdin, stdout, stderr),
                _ => unreachable!("all three streams were piped"),
            };
        let tail = Arc::new((Mutex::new(Tail::default()), std::sync::Condvar::new()));
        spawn_stderr_reader(stderr, Arc::clone(&tail));
        let lines = spawn_stdout_reader(stdout);
        let mut actor = Actor {
            label: spec.label.clone(),
            child,
            pid,
            stdin: Arc::new(Mutex::new(Some(stdin))),
            lines,
            stderr: tail,
            hello: Hello::new("", &[]),
            next_id: 1,
            timeout: spec.timeout,
            reaped: false,
        };
        let when = "before its hello line";
        let line = actor.next_line(Instant::now() + spec.timeout, when)?;
        actor.hello = Hello::parse(&line).map_err(|detail| actor.protocol_error(when, detail))?;
        Ok(actor)
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    pub fn supports(&self, op: OpName) -> bool {
        self.hello.ops.contains(&op)
    }

    /// Deliver a request without waiting for the reply. Returns its id.
    pub fn send(&mut self, op: &Op) -> Result<u64, ActorError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = Request { id, op: op.clone() };
        let mut line = request.to_line().map_err(|e| ActorError::Protocol {
            label: self.label.clone(),
            when: "while the runner encoded a request".to_owned(),
            detail: e.to_string(),
            stderr_tail: String::new(),
        })?;
        line.push('\n');
        // A write error means the adapter is gone; the reply read reports how it ended.
        if line.len() <= DIRECT_WRITE_MAX {
            // Fits in the empty pipe (one request at a time), so this cannot block; written from
            // this thread, the requests of a race reach all actors back to back.
            let _ = write_line(&self.stdin, line.as_bytes());
        } else {
            // A large request could block on an adapter that stopped reading: write it from a
            // helper thread, and let the reply deadline decide.
            let stdin = Arc::clone(&self.stdin);
            thread::spawn(move || write_line(&stdin, line.as_bytes()));
        }
        Ok(id)
    }

    /// Wait for the reply to request `id` of `op`, within the actor's timeout.
    pub fn recv(&mut self, id: u64, op: OpName) -> Result<Reply, ActorError> {
        let when = format!("in reply to request {id} ({op})");
        let line = self.next_line(Instant::now() + self.timeout, &when)?;
        let reply = Reply::parse(&line).map_err(|detail| {
            self.protocol_error(
                &when,
                format!(
                    "{detail}: {}",
                    String::from_utf8_lossy(&line[..line.len().min(200)])
                ),
            )
        })?;
        if reply.id != id {
            return Err(self.protocol_error(
                &when,
                format!("the reply carries id {}, expected {id}", reply.id),
            ));
        }
        reply
            .check_fields(op)
            .map_err(|detail| self.protocol_error(&when, detail))?;
        Ok(reply)
    }

    /// A reply line if one is already waiting (for fault injection that must not block).
    pub fn try_recv(&mut self, id: u64, op: OpName) -> Option<Result<Reply, ActorError>> {
        match self.lines.try_recv() {
            Ok(Line::Text(line)) => {
                let when = format!("in reply to request {id} ({op})");
                Some(match Reply::parse(&line) {
                    Ok(reply) if reply.id == id => Ok(reply),
                    Ok(reply) => Err(self.protocol_error(
                        &when,
                        format!("the reply carries id {}, expected {id}", reply.id),
                    )),
                    Err(detail) => Err(self.protocol_error(&when, detail)),
                })
            }
            Ok(_) => Some(Err(self.exited("while a request was in flight"))),
            Err(_) => None,
        }
    }

    /// Send one request and wait for its reply.
    pub fn call(&mut self, op: &Op) -> Result<Reply, ActorError> {
        let id = self.send(op)?;
        self.recv(id, op.name())
    }

    fn next_line(&mut self, deadline: Instant, when: &str) -> Result<Vec<u8>, ActorError> {
        let waited = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(waited) {
            Ok(Line::Text(line)) => Ok(line),
            Ok(Line::TooLong) => {
                Err(self.protocol_error(when, format!("a line longer than {MAX_LINE} bytes")))
            }
            Ok(Line::Failed(detail)) => Err(self.protocol_error(when, detail)),
            Ok(Line::Eof) | Err(RecvTimeoutError::Disconnected) => Err(self.exited(when)),
            Err(RecvTimeoutError::Timeout) => {
                let stderr_tail = self.stderr_tail();
                Err(ActorError::Timeout {
                    label: self.label.clone(),
                    when: when.to_owned(),
                    waited: self.timeout,
                    stderr_tail,
                })
            }
        }
    }

    fn protocol_error(&mut self, when: &str, detail: String) -> ActorError {
        ActorError::Protocol {
            label: self.label.clone(),
            when: when.to_owned(),
            detail,
            stderr_tail: self.stderr_tail(),
        }
    }

    /// stdout closed: wait briefly for the exit status and the rest of stderr, then report.
    fn exited(&mut self, when: &str) -> ActorError {
        let status = self
            .wait_until(Instant::now() + Duration::from_secs(1))
            .map_or_else(|| "still running with stdout closed".to_owned(), describe);
        self.wait_stderr_closed(Instant::now() + Duration::from_millis(500));
        ActorError::Exited {
            label: self.label.clone(),
            status,
            when: when.to_owned(),
            stderr_tail: self.stderr_tail(),
        }
    }

    fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    reaper::unregister_pid(self.pid);
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(2));
                }
                _ => return None,
            }
        }
    }

    fn wait_stderr_closed(&self, deadline: Instant) {
        let (lock, closed) = &*self.stderr;
        let mut tail = lock.lock().unwrap_or_else(|p| p.into_inner());
        while !tail.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            tail = match closed.wait_timeout(tail, left) {
                Ok((tail, _)) => tail,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// The last lines the adapter wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr.0.lock().unwrap_or_else(|p| p.into_inner());
        let bytes: Vec<u8> = tail.bytes.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Close stdin and wait for a clean exit (exit 0 at EOF is part of the protocol).
    pub fn stop(mut self) -> Result<(), ActorError> {
        self.close_stdin();
        let when = "after EOF on stdin";
        match self.wait_until(Instant::now() + self.timeout) {
            Some(status) if status.success() => Ok(()),
            Some(status) => {
                self.wait_stderr_closed(Instant::now() + Duration::from_millis(500));
                Err(ActorError::Exited {
                    label: self.label.clone(),
                    status: describe(status),
                    when: when.to_owned(),
                    stderr_tail: self.stderr_tail(),
                })
            }
            None => Err(ActorError::Timeout {
                label: self.label.clone(),
                when: format!("{when} (it did not exit)"),
                waited: self.timeout,
                stderr_tail: self.stderr_tail(),
            }),
        }
    }

    /// Send EOF. (A helper thread still writing a large request holds the lock until the
    /// adapter reads it or dies; stop's deadline covers that.)
    fn close_stdin(&self) {
        if let Ok(mut stdin) = self.stdin.try_lock() {
            *stdin = None;
        }
    }

    /// SIGKILL the adapter and every process of its group, and reap it.
    pub fn kill(&mut self) {
        if self.reaped {
            return;
        }
        reaper::kill_group(self.pid);
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
        reaper::unregister_pid(self.pid);
    }
}

impl Drop for Actor {
    fn drop(&mut self) {
        self.kill();
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

fn spawn_stdout_reader(stdout: impl Read + Send + 'static) -> Receiver<Line> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut line = Vec::new();
            let read = (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line);
            let event = match read {
                Ok(0) => Line::Eof,
                Ok(_) if line.last() == Some(&b'\n') => {
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    Line::Text(line)
                }
                Ok(_) if line.len() > MAX_LINE => Line::TooLong,
                // A last line without a newline, then EOF.
                Ok(_) => Line::Text(line),
                Err(e) => Line::Failed(format!("reading its stdout failed: {e}")),
            };
            let last = !matches!(event, Line::Text(_));
            if tx.send(event).is_err() || last {
                return;
            }
        }
    });
    rx
}

fn write_line(stdin: &Mutex<Option<ChildStdin>>, line: &[u8]) -> io::Result<()> {
    let mut stdin = stdin.lock().unwrap_or_else(|p| p.into_inner());
    match stdin.as_mut() {
        Some(pipe) => pipe.write_all(line).and_then(|()| pipe.flush()),
        None => Err(io::ErrorKind::BrokenPipe.into()),
    }
}

fn spawn_stderr_reader(
    mut stderr: impl Read + Send + 'static,
    tail: Arc<(Mutex<Tail>, std::sync::Condvar)>,
) {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let n = stderr.read(&mut buf).unwrap_or(0);
            let (lock, closed) = &*tail;
            let mut tail = lock.lock().unwrap_or_else(|p| p.into_inner());
            if n == 0 {
                tail.closed = true;
                closed.notify_all();
                return;
            }
            tail.bytes.extend(&buf[..n]);
            let excess = tail.bytes.len().saturating_sub(STDERR_TAIL_BYTES);
            tail.bytes.drain(..excess);
        }
    });
}

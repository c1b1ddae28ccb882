//! One adapter process: started directly (no shell) in its own process group as a subreaper
//! of its own tree ([`reaper`]), greeted, then driven one request at a time with a deadline on
//! every reply. The runner never blocks on an adapter: requests are written non-blocking (a
//! helper thread finishes a request the adapter is slow to read, within the deadline), stdout
//! is read by a thread into a queue bounded in line length and bytes, and the last few KiB of
//! stderr are kept for fault reports. Dropping an actor stops and kills its whole tree.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use keyrace_protocol::{ErrorCode, MASTER_KEY_ENV};

use crate::finding::{Findings, CODED_ERRORS};
use crate::protocol::{Code, Hello, Op, OpName, Reply, Request, Summary};
use crate::reaper;

/// Longest stdout line accepted: a 1 MiB secret as JSON, with room for escaping.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// Most stdout the runner holds unread per actor; more is a flood (a protocol fault). Each
/// line also counts [`LINE_COST`] bytes, so a flood of empty lines is bounded too.
pub const MAX_QUEUED: usize = 8 * 1024 * 1024;

/// What one queued line costs beyond its bytes (its allocation and queue slot).
const LINE_COST: usize = 64;

/// How much of stderr is kept.
const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// How often a wait for a reply also checks whether the adapter has exited (its stdout may
/// stay open in a helper that inherited it).
const EXIT_POLL: Duration = Duration::from_millis(50);

/// `now + d`, or a far deadline where that overflows.
pub fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

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
    /// Where uncoded error replies are recorded.
    pub findings: Findings,
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

/// What kind of adapter failure a fault was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    Spawn,
    Exited,
    Timeout,
    Protocol,
}

impl ActorError {
    pub fn kind(&self) -> FaultKind {
        match self {
            ActorError::Spawn { .. } => FaultKind::Spawn,
            ActorError::Exited { .. } => FaultKind::Exited,
            ActorError::Timeout { .. } => FaultKind::Timeout,
            ActorError::Protocol { .. } => FaultKind::Protocol,
        }
    }

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
    /// More than [`MAX_QUEUED`] bytes were waiting unread; the reader stopped.
    Flood,
    Eof,
    Failed(String),
}

/// The write end of the adapter's stdin (non-blocking), and whether a helper thread is still
/// writing the tail of a request into it.
struct Stdin {
    pipe: Mutex<Option<ChildStdin>>,
    writing: Mutex<bool>,
    written: std::sync::Condvar,
}

/// How long a new request waits for the helper to finish the previous one: the adapter has
/// read it (it answered), so only the helper's last steps remain.
const PREVIOUS_WRITE_GRACE: Duration = Duration::from_secs(1);

impl Stdin {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ChildStdin>> {
        self.pipe.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Write as much of `rest` as the pipe takes now; what is left stays in `rest`. `Err` when
    /// the pipe is closed or broken (the reply read then reports how the adapter ended).
    fn write_now(&self, rest: &mut &[u8]) -> io::Result<()> {
        let mut pipe = self.lock();
        let Some(pipe) = pipe.as_mut() else {
            return Err(io::ErrorKind::BrokenPipe.into());
        };
        while !rest.is_empty() {
            match pipe.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => *rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Finish writing `rest` by `deadline` (from a helper thread), waiting for the pipe to
    /// drain in short polls so [`Stdin::close`] is never held up for long.
    fn write_until(&self, mut rest: Vec<u8>, deadline: Instant) {
        let poll_slice = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 20_000_000,
        };
        while !rest.is_empty() && Instant::now() < deadline {
            let mut left: &[u8] = &rest;
            if self.write_now(&mut left).is_err() {
                break;
            }
            let written = rest.len() - left.len();
            rest.drain(..written);
            if rest.is_empty() {
                break;
            }
            let pipe = self.lock();
            let Some(pipe) = pipe.as_ref() else { break };
            let mut fds = [rustix::event::PollFd::new(
                pipe,
                rustix::event::PollFlags::OUT,
            )];
            let _ = rustix::event::poll(&mut fds, Some(&poll_slice));
        }
        *self.writing.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.written.notify_all();
    }

    /// Wait until no helper is writing, up to `grace`. False if one still is.
    fn wait_idle(&self, grace: Duration) -> bool {
        let writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        match self
            .written
            .wait_timeout_while(writing, grace, |writing| *writing)
        {
            Ok((writing, _)) => !*writing,
            Err(p) => !*p.into_inner().0,
        }
    }

    /// Send EOF.
    fn close(&self) {
        *self.lock() = None;
    }
}

/// The last bytes an adapter wrote to stderr.
#[derive(Default)]
struct Tail {
    bytes: VecDeque<u8>,
    closed: bool,
}

pub struct Actor {
    label: String,
    /// The adapter's pid; it is reaped by pid ([`Actor::kill`]), never through `Child`.
    pid: u32,
    stdin: Arc<Stdin>,
    lines: Receiver<Line>,
    /// Bytes (and line costs) queued by the stdout reader and not yet taken.
    queued: Arc<AtomicUsize>,
    /// The reader stopped at [`MAX_QUEUED`]: every later read is that fault, whatever is queued.
    flooded: Arc<AtomicBool>,
    stderr: Arc<(Mutex<Tail>, std::sync::Condvar)>,
    hello: Hello,
    next_id: u64,
    timeout: Duration,
    findings: Findings,
    /// How the adapter ended, once seen (it stays unreaped until killed, so its pid and
    /// process group cannot be reused meanwhile).
    ended: Option<Ended>,
    /// Reaped by a tracer: the pid may belong to another process by now.
    reaped: bool,
    killed: bool,
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
        let mut actor = Actor::start(spec, &mut reaper::spawn_registered)?;
        let when = "before its hello line";
        let line = actor.next_line(deadline_after(spec.timeout), when)?;
        actor.take_hello(&line)?;
        Ok(actor)
    }

    /// Start the adapter through `spawner` (which runs the command) without waiting for its
    /// hello: a tracer must keep serving the adapter's stops meanwhile.
    pub fn start(
        spec: &ActorSpec,
        spawner: &mut dyn FnMut(&mut Command) -> io::Result<std::process::Child>,
    ) -> Result<Actor, ActorError> {
        let program = spec.argv.first().cloned().unwrap_or_default();
        let mut command = Command::new(&program);
        command
            .args(spec.argv.iter().skip(1))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("HOME", &spec.home)
            .env_remove(MASTER_KEY_ENV);
        if let Some(key) = &spec.master_key {
            command.env(MASTER_KEY_ENV, key);
        }
        if let Some((uid, gid)) = spec.run_as {
            std::os::unix::process::CommandExt::uid(&mut command, uid);
            std::os::unix::process::CommandExt::gid(&mut command, gid);
        }
        let spawn_error = |e: io::Error| ActorError::Spawn {
            label: spec.label.clone(),
            program: program.to_string_lossy().into_owned(),
            detail: e.to_string(),
            kind: e.kind(),
        };
        let mut child = spawner(&mut command).map_err(spawn_error)?;
        let pid = child.id();
        let (stdin, stdout, stderr) =
            match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                (Some(stdin), Some(stdout), Some(stderr)) => (stdin, stdout, stderr),
                _ => unreachable!("all three streams were piped"),
            };
        let tail = Arc::new((Mutex::new(Tail::default()), std::sync::Condvar::new()));
        spawn_stderr_reader(stderr, Arc::clone(&tail));
        let queued = Arc::new(AtomicUsize::new(0));
        let flooded = Arc::new(AtomicBool::new(false));
        let lines = spawn_stdout_reader(stdout, Arc::clone(&queued), Arc::clone(&flooded));
        let nonblocking = rustix::fs::fcntl_getfl(&stdin).and_then(|flags| {
            rustix::fs::fcntl_setfl(&stdin, flags | rustix::fs::OFlags::NONBLOCK)
        });
        // Dropping a `Child` neither kills nor waits: the pid stays ours until `kill` reaps it.
        drop(child);
        let actor = Actor {
            label: spec.label.clone(),
            pid,
            stdin: Arc::new(Stdin {
                pipe: Mutex::new(Some(stdin)),
                writing: Mutex::new(false),
                written: std::sync::Condvar::new(),
            }),
            lines,
            queued,
            flooded,
            stderr: tail,
            hello: Hello::new("", &[]),
            next_id: 1,
            timeout: spec.timeout,
            findings: spec.findings.clone(),
            ended: None,
            reaped: false,
            killed: false,
        };
        // Without O_NONBLOCK a request write could block the runner: refuse to go on.
        nonblocking.map_err(|e| spawn_error(e.into()))?;
        Ok(actor)
    }

    fn take_hello(&mut self, line: &[u8]) -> Result<(), ActorError> {
        self.hello = Hello::parse(line)
            .map_err(|detail| self.protocol_error("before its hello line", detail))?;
        Ok(())
    }

    /// The hello line if it has arrived (for a caller that must not block).
    pub fn try_hello(&mut self) -> Option<Result<(), ActorError>> {
        self.hello_within(Duration::ZERO)
    }

    /// The hello line if it arrives within `wait` (see [`Actor::recv_within`]).
    pub fn hello_within(&mut self, wait: Duration) -> Option<Result<(), ActorError>> {
        let event = self.line_within(wait)?;
        Some(
            self.take_line(event, "before its hello line")
                .and_then(|line| self.take_hello(&line)),
        )
    }

    /// What the stdout reader delivers within `wait` (none waited for at zero).
    fn line_within(&mut self, wait: Duration) -> Option<Line> {
        let received = if wait.is_zero() {
            self.lines.try_recv().map_err(|e| match e {
                TryRecvError::Empty => RecvTimeoutError::Timeout,
                TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            })
        } else {
            self.lines.recv_timeout(wait)
        };
        match received {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Line::Eof),
        }
    }

    /// The adapter was reaped by its tracer, which saw how it ended: its pid is no longer
    /// ours, so a later kill must not signal it.
    pub fn reaped(&mut self, clean: bool, description: String) {
        self.ended = Some(Ended { clean, description });
        self.reaped = true;
        reaper::unregister_pid(self.pid);
    }

    /// The actor's deadline for one reply.
    pub fn timeout(&self) -> Duration {
        self.timeout
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

    /// Deliver a request without waiting for the reply (never blocks). Returns its id.
    pub fn send(&mut self, op: &Op) -> Result<u64, ActorError> {
        let id = self.next_id;
        self.next_id += 1;
        let when = format!("before request {id} ({})", op.name());
        if !self.stdin.wait_idle(PREVIOUS_WRITE_GRACE) {
            return Err(self.protocol_error(
                &when,
                format!(
                    "it answered request {} before reading all of it",
                    id.saturating_sub(1)
                ),
            ));
        }
        let request = Request { id, op: op.clone() };
        let mut line = request
            .to_line()
            .map_err(|e| self.protocol_error("while the runner encoded a request", e.to_string()))?
            .into_bytes();
        line.push(b'\n');
        // Written from this thread while the pipe takes it, so the requests of a race reach
        // all actors back to back. A write error means the adapter is gone; the reply read
        // reports how it ended.
        let mut rest: &[u8] = &line;
        if self.stdin.write_now(&mut rest).is_ok() && !rest.is_empty() {
            // The adapter reads slowly (or not at all): finish from a helper thread, and let
            // the reply deadline decide.
            let rest = rest.to_vec();
            let stdin = Arc::clone(&self.stdin);
            let deadline = deadline_after(self.timeout);
            *stdin.writing.lock().unwrap_or_else(|p| p.into_inner()) = true;
            thread::spawn(move || stdin.write_until(rest, deadline));
        }
        Ok(id)
    }

    /// Wait for the reply to request `id` of `op`, within the actor's timeout.
    pub fn recv(&mut self, id: u64, op: OpName) -> Result<Reply, ActorError> {
        let when = format!("in reply to request {id} ({op})");
        let line = self.next_line(deadline_after(self.timeout), &when)?;
        self.parse_reply(&line, id, op, &when)
    }

    fn parse_reply(
        &mut self,
        line: &[u8],
        id: u64,
        op: OpName,
        when: &str,
    ) -> Result<Reply, ActorError> {
        let reply = Reply::parse(line).map_err(|detail| {
            self.protocol_error(
                when,
                format!(
                    "{detail}: {}",
                    String::from_utf8_lossy(&line[..line.len().min(200)])
                ),
            )
        })?;
        if reply.id != id {
            return Err(self.protocol_error(
                when,
                format!("the reply carries id {}, expected {id}", reply.id),
            ));
        }
        reply
            .check_fields(op)
            .map_err(|detail| self.protocol_error(when, detail))?;
        if let Err(failure) = &reply.outcome {
            if let Code::Unknown(_) = failure.code {
                self.findings.push(
                    CODED_ERRORS,
                    format!("{}: {op} → {}", self.label, reply.summary()),
                );
            }
        }
        Ok(reply)
    }

    /// A reply line if one is already waiting (for fault injection that must not block).
    pub fn try_recv(&mut self, id: u64, op: OpName) -> Option<Result<Reply, ActorError>> {
        self.recv_within(id, op, Duration::ZERO)
    }

    /// A reply line if one arrives within `wait`: a caller that must also do other work
    /// (serve the tracer's stops) waits a slice at a time, and wakes as soon as it comes.
    pub fn recv_within(
        &mut self,
        id: u64,
        op: OpName,
        wait: Duration,
    ) -> Option<Result<Reply, ActorError>> {
        let event = self.line_within(wait)?;
        let when = format!("in reply to request {id} ({op})");
        Some(
            self.take_line(event, &when)
                .and_then(|line| self.parse_reply(&line, id, op, &when)),
        )
    }

    /// Send one request and wait for its reply.
    pub fn call(&mut self, op: &Op) -> Result<Reply, ActorError> {
        let id = self.send(op)?;
        self.recv(id, op.name())
    }

    /// Turn what the stdout reader delivered into a line or the fault it means.
    fn take_line(&mut self, event: Line, when: &str) -> Result<Vec<u8>, ActorError> {
        let event = if self.flooded.load(Ordering::Acquire) {
            Line::Flood
        } else {
            event
        };
        match event {
            Line::Text(line) => {
                self.queued
                    .fetch_sub(line.len() + LINE_COST, Ordering::AcqRel);
                Ok(line)
            }
            Line::TooLong => {
                Err(self.protocol_error(when, format!("a line longer than {MAX_LINE} bytes")))
            }
            Line::Flood => Err(self.protocol_error(
                when,
                format!(
                    "it wrote more than {MAX_QUEUED} bytes to stdout that no request asked for \
                     (one reply line per request, nothing else)"
                ),
            )),
            Line::Failed(detail) => Err(self.protocol_error(when, detail)),
            Line::Eof => Err(self.exited(when)),
        }
    }

    fn next_line(&mut self, deadline: Instant, when: &str) -> Result<Vec<u8>, ActorError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.min(EXIT_POLL)) {
                Ok(event) => return self.take_line(event, when),
                Err(RecvTimeoutError::Disconnected) => return self.take_line(Line::Eof, when),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.peek_exit().is_some() {
                // A reply written just before the exit is already on its way.
                return match self.lines.recv_timeout(EXIT_POLL) {
                    Ok(Line::Text(line)) => self.take_line(Line::Text(line), when),
                    _ => Err(self.exited(when)),
                };
            }
            if left.is_zero() {
                return Err(ActorError::Timeout {
                    label: self.label.clone(),
                    when: when.to_owned(),
                    waited: self.timeout,
                    stderr_tail: self.stderr_tail(),
                });
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

    /// stdout closed or the adapter exited: wait briefly for the exit status and the rest of
    /// stderr, then report.
    fn exited(&mut self, when: &str) -> ActorError {
        let status = self
            .wait_until(deadline_after(Duration::from_secs(1)))
            .map_or_else(
                || "still running with stdout closed".to_owned(),
                |ended| ended.description,
            );
        self.wait_stderr_closed(deadline_after(Duration::from_millis(500)));
        ActorError::Exited {
            label: self.label.clone(),
            status,
            when: when.to_owned(),
            stderr_tail: self.stderr_tail(),
        }
    }

    /// How the adapter ended, if it has, without reaping it.
    fn peek_exit(&mut self) -> Option<Ended> {
        if self.ended.is_none() {
            let pid = rustix::process::Pid::from_raw(i32::try_from(self.pid).ok()?)?;
            let options = rustix::process::WaitIdOptions::EXITED
                | rustix::process::WaitIdOptions::NOHANG
                | rustix::process::WaitIdOptions::NOWAIT;
            self.ended = match rustix::process::waitid(rustix::process::WaitId::Pid(pid), options) {
                Ok(Some(status)) => Some(Ended::from(&status)),
                Ok(None) => None,
                // Not waitable: reaped already (by an interrupt's cleanup).
                Err(_) => Some(Ended {
                    clean: false,
                    description: "ended".to_owned(),
                }),
            };
        }
        self.ended.clone()
    }

    fn wait_until(&mut self, deadline: Instant) -> Option<Ended> {
        loop {
            if let Some(ended) = self.peek_exit() {
                return Some(ended);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(2));
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

    /// Close stdin and wait for a clean exit (exit 0 at EOF is part of the protocol). Helpers
    /// it leaves behind are killed with it.
    pub fn stop(mut self) -> Result<(), ActorError> {
        self.stdin.close();
        let when = "after EOF on stdin";
        match self.wait_until(deadline_after(self.timeout)) {
            Some(ended) if ended.clean => Ok(()),
            Some(ended) => {
                self.wait_stderr_closed(deadline_after(Duration::from_millis(500)));
                Err(ActorError::Exited {
                    label: self.label.clone(),
                    status: ended.description,
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

    /// Stop and SIGKILL the adapter, its process group and every descendant, and reap them
    /// within a deadline. If the adapter had exited on its own, its helpers went to the runner:
    /// they are swept.
    pub fn kill(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        self.stdin.close();
        if self.reaped {
            reaper::sweep_orphans();
            return;
        }
        let exited = self.peek_exit().is_some();
        let tree = if exited {
            reaper::kill_group(self.pid);
            std::collections::BTreeSet::from([self.pid])
        } else {
            reaper::kill_tree(self.pid)
        };
        // Unregistered before it is reaped: the signal thread never signals a freed pid.
        reaper::unregister_pid(self.pid);
        // Reaped by pid with a deadline (never `Child::wait`, which could block for ever on a
        // process stuck in the kernel).
        let unreaped = reaper::reap(&tree);
        reaper::note_unreaped(&unreaped);
        if exited {
            reaper::sweep_orphans();
        }
    }
}

impl Drop for Actor {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How an adapter process ended.
#[derive(Debug, Clone)]
struct Ended {
    /// Exit status 0, as the protocol asks at EOF.
    clean: bool,
    /// "exit code 3", "killed by signal 9".
    description: String,
}

impl From<&rustix::process::WaitIdStatus> for Ended {
    fn from(status: &rustix::process::WaitIdStatus) -> Ended {
        let (clean, description) = match (status.exit_status(), status.terminating_signal()) {
            (Some(code), _) if status.exited() => (code == 0, format!("exit code {code}")),
            (_, Some(signal)) => (false, format!("killed by signal {signal}")),
            _ => (false, "ended".to_owned()),
        };
        Ended { clean, description }
    }
}

fn spawn_stdout_reader(
    stdout: impl Read + Send + 'static,
    queued: Arc<AtomicUsize>,
    flooded: Arc<AtomicBool>,
) -> Receiver<Line> {
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
            let event = match event {
                Line::Text(mut line) => {
                    // A long line may sit in twice its length of capacity: give it back.
                    line.shrink_to_fit();
                    let cost = line.len() + LINE_COST;
                    if queued.fetch_add(cost, Ordering::AcqRel) + cost > MAX_QUEUED {
                        flooded.store(true, Ordering::Release);
                        Line::Flood
                    } else {
                        Line::Text(line)
                    }
                }
                other => other,
            };
            // After a flood the reader stops: the adapter blocks on a full pipe, and the
            // runner's memory stays bounded.
            let last = !matches!(event, Line::Text(_));
            if tx.send(event).is_err() || last {
                return;
            }
        }
    });
    rx
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str) -> ActorSpec {
        ActorSpec {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            home: std::env::temp_dir(),
            master_key: None,
            run_as: None,
            timeout: Duration::from_secs(10),
            label: "flooder".to_owned(),
            findings: Findings::default(),
        }
    }

    const HELLO: &str = r#"{"protocol":"keyrace-adapter/1","name":"t","ops":["get"]}"#;

    #[test]
    fn unrequested_output_past_the_queue_limit_is_a_fault_naming_it() {
        let mut actor = Actor::spawn(&spec(&format!(
            "echo '{HELLO}'; head -c 20000000 /dev/zero | tr '\\0' '\\n'; sleep 300"
        )))
        .expect("hello");
        let waited = Instant::now();
        while !actor.flooded.load(Ordering::Acquire) {
            assert!(waited.elapsed() < Duration::from_secs(30), "never flooded");
            thread::sleep(Duration::from_millis(5));
        }
        // The reader stopped at the limit: what it holds is bounded by it.
        assert!(actor.queued.load(Ordering::Acquire) <= MAX_QUEUED + MAX_LINE + LINE_COST);
        let id = actor
            .send(&Op::Get {
                store: "/s".into(),
                name: "k".into(),
            })
            .expect("send");
        let error = actor.recv(id, OpName::Get).expect_err("a flood");
        assert_eq!(error.kind(), FaultKind::Protocol);
        assert!(
            error
                .to_string()
                .contains(&format!("more than {MAX_QUEUED} bytes")),
            "{error}"
        );
    }

    #[test]
    fn a_request_the_adapter_never_reads_does_not_block_the_sender() {
        // The adapter answers without reading: the pipe fills, and `send` must still return.
        let mut actor = Actor::spawn(&spec(&format!(
            "echo '{HELLO}'; i=1; while :; do echo \"{{\\\"id\\\":$i,\\\"ok\\\":true,\\\"value\\\":null}}\"; i=$((i+1)); sleep 0.001; done"
        )))
        .expect("hello");
        let op = Op::Get {
            store: "/s".into(),
            name: "x".repeat(1000),
        };
        let started = Instant::now();
        let error = loop {
            match actor.send(&op).and_then(|id| actor.recv(id, OpName::Get)) {
                Ok(_) => assert!(started.elapsed() < Duration::from_secs(30), "never failed"),
                Err(error) => break error,
            }
        };
        assert!(
            error.to_string().contains("before reading all of it"),
            "{error}"
        );
    }
}

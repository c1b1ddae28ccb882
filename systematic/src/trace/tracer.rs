//! The tracer: actors started under ptrace with the seccomp filters of [`super::filter`], one
//! thread serving every stop. A file-system call under the scope directory is a *store call*:
//! it is shown to an [`Observer`] (the crash recorder) and, in a controlled step, held until
//! the scheduler releases it, so between two store calls one actor runs alone. Every other
//! stop continues at once. An actor's write to its own stdout pipe marks its reply. A store
//! file's `fsync` returns success without reaching the disk (see `flushes_a_store_file`).
//!
//! The `Tracer` lives on the thread that made it: ptrace requests are only valid from the
//! thread that traces, and that thread is the one that forked the actors.

use std::collections::{HashMap, VecDeque};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::call::{Call, FdTarget, Kind, LockMode};
use super::filter::Filters;
use super::footprint::{descriptor_inode, Footprint, Inode};
use super::locks::{held_locks, lock_is_free};
use super::patience::{Patience, Wait};
use super::probe::Unavailable;
use super::stuck::{self, ThreadState};
use keyrace_process::actor::{Actor, ActorError, ActorSpec};
use keyrace_process::protocol::{Op, OpName, Reply};
use keyrace_process::reaper;

/// Sees the store calls of traced actors, stopped at entry (and at exit if it asks).
pub trait Observer {
    /// A store call of actor `slot` is about to run. True to be shown its result.
    fn entry(&mut self, slot: usize, call: &Call) -> bool;
    fn exit(&mut self, slot: usize, call: &Call, ret: i64);
    /// Actor `slot` is writing its reply.
    fn replied(&mut self, slot: usize);
}

/// Why a traced step could not finish.
#[derive(Debug)]
pub enum StepError {
    /// An actor neither stopped nor replied within its deadline (it was killed).
    Timeout {
        slot: usize,
        /// What the explorer was waiting for when the deadline passed.
        waiting_for: String,
        /// Each thread of the step's actors then: held, blocked (in which call) or runnable.
        threads: Vec<String>,
    },
    /// Every held actor waits for a lock that no actor of the race will release.
    Deadlock { held: Vec<String> },
    /// ptrace itself failed.
    Trace(String),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Timeout {
                slot,
                waiting_for,
                threads,
            } => {
                write!(
                    f,
                    "actor {slot} neither stopped nor replied within its timeout; {}",
                    stuck_summary(waiting_for, threads)
                )
            }
            StepError::Deadlock { held } => write!(
                f,
                "every actor of the race waits for a lock no other actor releases: {}",
                held.join("; ")
            ),
            StepError::Trace(detail) => write!(f, "tracing failed: {detail}"),
        }
    }
}

/// A held store call the scheduler may release.
#[derive(Debug, Clone)]
pub struct Choice {
    pub slot: usize,
    pub call: String,
    /// What the call and its actor's untraced work until its next stop would touch.
    pub footprint: Footprint,
}

/// Picks which held call runs next: an index into the choices.
pub type Chooser<'a> = dyn FnMut(&[Choice]) -> usize + 'a;

/// One released store call of a controlled step.
#[derive(Debug, Clone)]
pub struct Decision {
    pub slot: usize,
    pub call: String,
}

struct Held {
    tid: Pid,
    call: Call,
    /// A blocking lock made non-blocking failed and was rewound to run again: the actor
    /// waits for another to move (until one does).
    rewound: bool,
    /// Its footprint (without what its actor holds), with the [`Tracer::namespace`] count it
    /// was computed at: kept while the count is unchanged.
    footprint: Option<(u64, Footprint)>,
}

impl Held {
    fn new(tid: Pid, call: Call, rewound: bool) -> Held {
        Held {
            tid,
            call,
            rewound,
            footprint: None,
        }
    }
}

/// An actor and what the tracer knows about it.
pub struct Traced {
    pub actor: Actor,
    root: Pid,
    stdout_pipe: u64,
    replied: bool,
    exited: bool,
    controlled: bool,
    held: VecDeque<Held>,
    /// Whether it waits for another actor to move (it polls or spins).
    patience: Patience,
    /// A store write the tracer cannot see (a shared writable mapping).
    pub unsupported: Option<String>,
    /// A thread the scheduler released while siblings stay held: the next choice waits until
    /// it stops again, exits or parks.
    released: Option<Pid>,
    /// A shared writable mapping of a SQLite WAL index: coordination memory, allowed.
    pub coordination: Option<String>,
    /// Files under the scope it holds open: it may read them (or their size) at any moment,
    /// untraced.
    open_files: Vec<Inode>,
    /// Files it locked: an untraced close may release the lock at any moment.
    locked: Vec<Inode>,
}

struct Pending {
    call: Call,
    slot: usize,
    observe: bool,
    /// A visible call of a controlled step: its result tells whether the actor is polling.
    watch: bool,
    /// A blocking lock turned non-blocking: the argument register and its first value.
    lock: Option<u64>,
    /// A call of an actor outside the running controlled step, which may change names: the
    /// footprints kept from before its exit are stale after it.
    unseen_change: bool,
}

pub struct Tracer {
    scope: PathBuf,
    filters: Arc<Filters>,
    tasks: HashMap<Pid, usize>,
    slots: Vec<Option<Traced>>,
    pending: HashMap<Pid, Pending>,
    /// Roots started but not yet stopped after their exec (options not yet set).
    fresh: Vec<Pid>,
    observer: Option<Box<dyn Observer>>,
    watchdog: Watchdog,
    /// An actor made a store call or replied since the watchdog was last pushed back.
    moved: bool,
    /// Seccomp stops served, for statistics.
    pub stops: u64,
    /// `fsync`s and `fdatasync`s of store files answered without a flush, for statistics.
    pub flushes_skipped: u64,
    /// Retry loops of controlled steps, until taken.
    retry_loops: Vec<RetryLoop>,
    /// Whether choices carry the footprints of their calls (a reducing explorer's need):
    /// otherwise every choice is dependent on all, and nothing is resolved to compute it.
    footprints: bool,
    /// Changes of the store's entries let run so far. A held call's footprint is what the
    /// names on its way resolve to (a symlink check of each, a `stat`), which only such a
    /// change can alter: it is computed once per change, not at every decision.
    namespace: u64,
    /// Whether an fsync is a decision too (a racing crash form's need: when one actor's
    /// fsync runs, relative to another's reply, decides what a power loss keeps).
    order_syncs: bool,
}

const OPTIONS: ptrace::Options = ptrace::Options::PTRACE_O_TRACESECCOMP
    .union(ptrace::Options::PTRACE_O_TRACECLONE)
    .union(ptrace::Options::PTRACE_O_TRACEFORK)
    .union(ptrace::Options::PTRACE_O_TRACEVFORK)
    .union(ptrace::Options::PTRACE_O_TRACEEXEC)
    .union(ptrace::Options::PTRACE_O_EXITKILL)
    .union(ptrace::Options::PTRACE_O_TRACESYSGOOD);

/// Choices of held calls, each with its index among its actor's held threads.
type HeldChoices = Vec<(Choice, usize)>;

impl Tracer {
    /// A tracer whose store calls are those under `scope`. Fails (with the cause and the
    /// fix) where tracing is not available: not x86_64, ptrace refused, or no seccomp.
    pub fn new(scope: &Path) -> Result<Tracer, Unavailable> {
        let filters = super::probe::probe()?;
        let scope = std::fs::canonicalize(scope).map_err(|e| Unavailable {
            cause: format!("cannot resolve {} ({e})", scope.display()),
            fix: "check that the temp directory (TMPDIR) is readable".to_owned(),
        })?;
        Ok(Tracer {
            scope,
            filters,
            tasks: HashMap::new(),
            slots: Vec::new(),
            pending: HashMap::new(),
            fresh: Vec::new(),
            observer: None,
            watchdog: Watchdog::start(),
            moved: false,
            stops: 0,
            flushes_skipped: 0,
            retry_loops: Vec::new(),
            footprints: false,
            namespace: 0,
            order_syncs: false,
        })
    }

    /// Give each choice the footprint of its call (for a partial-order reduction).
    pub fn track_footprints(&mut self, on: bool) {
        self.footprints = on;
    }

    /// Make every fsync of a store file or directory a decision of the explorer (by default
    /// it runs with the actor's previous call: no other process sees it).
    pub fn order_syncs(&mut self, on: bool) {
        self.order_syncs = on;
    }

    /// Whether a controlled actor's `call` waits for the explorer's decision.
    fn ordered(&self, call: &Call) -> bool {
        (call.is_visible() && !opens_directory(call)) || self.ordered_sync(call)
    }

    fn ordered_sync(&self, call: &Call) -> bool {
        self.order_syncs && matches!(call.kind, Kind::Fsync | Kind::SyncAll)
    }

    /// A store write of some actor that the tracer cannot see, if there was one: a run with
    /// one proves nothing by passing.
    pub fn unsupported(&self) -> Option<String> {
        self.slots.iter().flatten().find_map(|t| {
            t.unsupported
                .as_ref()
                .map(|u| format!("{}: {u}", t.actor.label()))
        })
    }

    /// The first shared mapping of a SQLite WAL index by some actor, if there was one: allowed,
    /// and stated in the report, since the writes through it are not controlled.
    pub fn coordination(&self) -> Option<String> {
        self.slots.iter().flatten().find_map(|t| {
            t.coordination
                .as_ref()
                .map(|c| format!("{}: {c}", t.actor.label()))
        })
    }

    pub fn scope(&self) -> &Path {
        &self.scope
    }

    pub fn set_observer(
        &mut self,
        observer: Option<Box<dyn Observer>>,
    ) -> Option<Box<dyn Observer>> {
        std::mem::replace(&mut self.observer, observer)
    }

    pub fn traced(&self, slot: usize) -> Option<&Traced> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    pub fn actor(&mut self, slot: usize) -> Option<&mut Actor> {
        self.slots
            .get_mut(slot)
            .and_then(Option::as_mut)
            .map(|t| &mut t.actor)
    }

    /// Start an actor under the tracer and wait (serving its stops) for its hello.
    pub fn spawn(&mut self, spec: &ActorSpec) -> Result<usize, ActorError> {
        let slots = self.spawn_all(std::slice::from_ref(spec))?;
        Ok(slots[0])
    }

    /// Start actors under the tracer at once and wait for each one's hello: interpreters
    /// start side by side, not one after another. On an error none of them is left.
    pub fn spawn_all(&mut self, specs: &[ActorSpec]) -> Result<Vec<usize>, ActorError> {
        let mut slots = Vec::new();
        for spec in specs {
            match self.start(spec) {
                Ok(slot) => slots.push(slot),
                Err(error) => return Err(self.kill_all(&slots, error)),
            }
        }
        // The hello is an actor's first write to its stdout: run them freely until then.
        if let Err(error) = self.step(&slots, None) {
            let blamed = match &error {
                StepError::Timeout { slot, .. } => *slot,
                _ => slots[0],
            };
            let error = self.step_error(blamed, error);
            return Err(self.kill_all(&slots, error));
        }
        for (&slot, spec) in slots.iter().zip(specs) {
            if let Err(error) = self.await_hello(slot, spec) {
                return Err(self.kill_all(&slots, error));
            }
        }
        Ok(slots)
    }

    /// Fork and exec one actor under the tracer's filters, and give it a slot.
    fn start(&mut self, spec: &ActorSpec) -> Result<usize, ActorError> {
        let filters = Arc::clone(&self.filters);
        let mut stdout_pipe = 0;
        let mut spawner = |command: &mut Command| {
            preflight(command)?;
            reaper::prepare(command);
            install_tracing(command, Arc::clone(&filters));
            let child = reaper::spawn_prepared(command)?;
            if let Some(stdout) = &child.stdout {
                stdout_pipe = rustix::fs::fstat(stdout.as_fd())?.st_ino;
            }
            Ok(child)
        };
        let actor = Actor::start(spec, &mut spawner)?;
        let root = Pid::from_raw(actor.pid() as i32);
        let slot = self.slots.len();
        self.slots.push(Some(Traced {
            actor,
            root,
            stdout_pipe,
            replied: false,
            exited: false,
            controlled: false,
            held: VecDeque::new(),
            patience: Patience::default(),
            unsupported: None,
            released: None,
            coordination: None,
            open_files: Vec::new(),
            locked: Vec::new(),
        }));
        self.tasks.insert(root, slot);
        self.fresh.push(root);
        Ok(slot)
    }

    /// The hello of an actor whose step has ended (it wrote the line, or exited).
    fn await_hello(&mut self, slot: usize, spec: &ActorSpec) -> Result<(), ActorError> {
        let deadline = Instant::now() + spec.timeout;
        let mut wait = Duration::ZERO;
        loop {
            let Some(traced) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
                return Err(gone(slot));
            };
            if let Some(hello) = traced.actor.hello_within(wait) {
                traced.replied = false;
                return hello;
            }
            if Instant::now() >= deadline {
                return Err(ActorError::Timeout {
                    label: spec.label.clone(),
                    when: "before its hello line".to_owned(),
                    waited: spec.timeout,
                    stderr_tail: String::new(),
                });
            }
            wait = self.serve_for_line(slot);
        }
    }

    /// Kill the actors of `slots` and pass `error` on.
    fn kill_all(&mut self, slots: &[usize], error: ActorError) -> ActorError {
        for &slot in slots {
            self.kill(slot);
        }
        error
    }

    /// Send `op` to the actor in `slot` (it runs only as the tracer lets it).
    pub fn send(&mut self, slot: usize, op: &Op) -> Result<u64, ActorError> {
        let Some(traced) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return Err(gone(slot));
        };
        traced.replied = false;
        traced.actor.send(op)
    }

    /// Wait for the reply to request `id`, serving stops meanwhile.
    pub fn recv(&mut self, slot: usize, id: u64, op: OpName) -> Result<Reply, ActorError> {
        let Some(timeout) = self.traced(slot).map(|t| t.actor.timeout()) else {
            return Err(gone(slot));
        };
        let deadline = Instant::now() + timeout;
        let mut wait = Duration::ZERO;
        loop {
            let Some(traced) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
                return Err(gone(slot));
            };
            if let Some(reply) = traced.actor.recv_within(id, op, wait) {
                return reply;
            }
            if Instant::now() >= deadline {
                let error = ActorError::Timeout {
                    label: traced.actor.label().to_owned(),
                    when: format!("in reply to request {id} ({op})"),
                    waited: timeout,
                    stderr_tail: traced.actor.stderr_tail(),
                };
                self.kill(slot);
                return Err(error);
            }
            wait = self.serve_for_line(slot);
        }
    }

    /// One request, run freely to its reply.
    pub fn call(&mut self, slot: usize, op: &Op) -> Result<Reply, ActorError> {
        let id = self.send(slot, op)?;
        self.step(&[slot], None)
            .map_err(|e| self.step_error(slot, e))?;
        self.recv(slot, id, op.name())
    }

    /// Turn a step failure into the actor error a scenario reports.
    pub fn step_error(&mut self, slot: usize, error: StepError) -> ActorError {
        let label = self
            .traced(slot)
            .map_or_else(|| format!("actor {slot}"), |t| t.actor.label().to_owned());
        match error {
            StepError::Timeout {
                waiting_for,
                threads,
                ..
            } => ActorError::Timeout {
                label,
                when: format!(
                    "while it ran under the tracer ({})",
                    stuck_summary(&waiting_for, &threads)
                ),
                waited: self
                    .traced(slot)
                    .map_or(Duration::ZERO, |t| t.actor.timeout()),
                stderr_tail: self
                    .traced(slot)
                    .map(|t| t.actor.stderr_tail())
                    .unwrap_or_default(),
            },
            other => ActorError::Protocol {
                label,
                when: "while it ran under the tracer".to_owned(),
                detail: other.to_string(),
                stderr_tail: String::new(),
            },
        }
    }

    /// Run the actors in `slots` (each has a request outstanding) until each has replied or
    /// exited. With `choose`, a controlled step: every store call of these actors is held,
    /// and whenever no actor of the step runs, `choose` picks the held call to release (an
    /// index into the choices it is shown). Returns the released calls in order.
    pub fn step(
        &mut self,
        slots: &[usize],
        mut choose: Option<&mut Chooser<'_>>,
    ) -> Result<Vec<Decision>, StepError> {
        let controlled = choose.is_some();
        // Between steps the store is the runner's and the uncontrolled actors' to change.
        self.namespace += 1;
        let mut deadline_for = Duration::ZERO;
        for &slot in slots {
            if let Some(traced) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                if controlled {
                    if self.footprints {
                        traced.refresh_open_files(&self.scope);
                    }
                    traced.patience.forget();
                }
                traced.controlled = controlled;
                deadline_for = deadline_for.max(traced.actor.timeout());
            }
        }
        let result = self.run_step(slots, &mut choose, deadline_for);
        // The step is over for every actor before any held call runs on, so that none of
        // them is taken for a call beside a controlled step.
        for &slot in slots {
            if let Some(traced) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                traced.controlled = false;
            }
        }
        for &slot in slots {
            if let Some(traced) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                // Whatever is still held runs freely now.
                let held: Vec<Held> = traced.held.drain(..).collect();
                for h in held {
                    self.run_on(h, slot);
                }
            }
        }
        result
    }

    /// The timeout of a step whose watchdog fired, with the threads it saw: a thread in a
    /// ptrace stop that the scheduler holds is named with its held call.
    fn timed_out(&self, slot: usize, waiting_for: String) -> StepError {
        let mut threads = Vec::new();
        for (owner, states) in self.watchdog.snapshot() {
            let held = self.traced(owner).map(|t| &t.held);
            for state in states {
                let held_call = held.and_then(|h| {
                    h.iter()
                        .find(|h| h.tid.as_raw() == state.tid)
                        .map(|h| h.call.describe(&self.scope))
                });
                threads.push(match held_call {
                    Some(call) => format!(
                        "actor {owner} thread {} ({}): held by the scheduler at {call}",
                        state.tid, state.name
                    ),
                    None => format!("actor {owner} {state}"),
                });
            }
        }
        StepError::Timeout {
            slot,
            waiting_for,
            threads,
        }
    }

    fn run_step(
        &mut self,
        slots: &[usize],
        choose: &mut Option<&mut Chooser<'_>>,
        timeout: Duration,
    ) -> Result<Vec<Decision>, StepError> {
        // The deadline moves with the actors: a step fails once no actor made a store call or
        // replied for `timeout`. A step that keeps moving ends at a hard limit all the same
        // (an actor polling a file forever).
        let started = Instant::now();
        let actors = u32::try_from(slots.len()).unwrap_or(u32::MAX);
        let hard = started + timeout.saturating_mul(actors.saturating_mul(HARD_LIMIT_FACTOR));
        let roots = slots
            .iter()
            .filter_map(|&s| self.traced(s).filter(|t| !t.exited).map(|t| (s, t.root)))
            .collect();
        self.moved = false;
        self.watchdog.arm(started + timeout, hard, roots);
        let result = self.run_step_armed(slots, choose, timeout);
        self.watchdog.disarm();
        result
    }

    fn run_step_armed(
        &mut self,
        slots: &[usize],
        choose: &mut Option<&mut Chooser<'_>>,
        idle: Duration,
    ) -> Result<Vec<Decision>, StepError> {
        let mut decisions = Vec::new();
        let mut stalled = 0u32;
        loop {
            self.settle(slots, idle)?;
            let Some(choose) = choose.as_mut() else {
                return Ok(decisions);
            };
            if self.watchdog.fired() {
                let waiting_for = "its own choice of the next call to release".to_owned();
                return Err(self.timed_out(slots[0], waiting_for));
            }
            if decisions.len() >= MAX_DECISIONS {
                return Err(StepError::Deadlock {
                    held: vec![format!(
                        "the race did not end within {MAX_DECISIONS} store calls (an actor \
                         polling for something no other actor of the race provides?)"
                    )],
                });
            }
            self.wake_lock_pollers(slots);
            let (ready, waiting, spinning) = self.held_choices(slots);
            let candidates = if !ready.is_empty() || spinning {
                // A spinning actor alone runs on: its calls succeed.
                stalled = 0;
                if ready.is_empty() {
                    waiting
                } else {
                    ready
                }
            } else if waiting.is_empty() {
                return Ok(decisions);
            } else {
                // Every actor waits for a lock (or polls): its owner may release it after its
                // reply (a close the tracer does not stop). Retry for a while, then give up.
                stalled += 1;
                if stalled > STALL_RETRIES {
                    return Err(StepError::Deadlock {
                        held: waiting
                            .iter()
                            .map(|(c, _)| format!("actor {}: {}", c.slot, c.call))
                            .collect(),
                    });
                }
                std::thread::sleep(STALL_PAUSE);
                waiting
            };
            let choices: Vec<Choice> = candidates.iter().map(|(c, _)| c.clone()).collect();
            let pick = choose(&choices).min(choices.len() - 1);
            let (slot, at) = (choices[pick].slot, candidates[pick].1);
            decisions.push(Decision {
                slot,
                call: choices[pick].call.clone(),
            });
            self.release(slot, at);
        }
    }

    /// Let every running actor of the step reach its next store call or its reply.
    fn settle(&mut self, slots: &[usize], idle: Duration) -> Result<(), StepError> {
        loop {
            self.forget_parked();
            let running: Vec<usize> = slots
                .iter()
                .copied()
                .filter(|&s| {
                    self.traced(s).is_some_and(|t| {
                        !t.replied && !t.exited && (t.held.is_empty() || t.released.is_some())
                    })
                })
                .collect();
            if running.is_empty() {
                return Ok(());
            }
            // A released thread with held siblings may park (on a lock a held sibling
            // owns) without another stop: poll for it rather than block.
            let next = if running
                .iter()
                .all(|&s| self.traced(s).is_some_and(|t| !t.held.is_empty()))
            {
                match waitpid(
                    None,
                    Some(WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD | WaitPidFlag::WNOHANG),
                ) {
                    Ok(WaitStatus::StillAlive) => {
                        std::thread::sleep(PARK_POLL);
                        if self.watchdog.fired() {
                            Err(Errno::EINTR)
                        } else {
                            continue;
                        }
                    }
                    other => other,
                }
            } else {
                wait_next()
            };
            match next {
                Ok(status) => {
                    self.handle(status);
                    if std::mem::take(&mut self.moved) {
                        self.watchdog.extend(Instant::now() + idle);
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::ECHILD) => {
                    for &s in &running {
                        if let Some(t) = self.slots.get_mut(s).and_then(Option::as_mut) {
                            t.exited = true;
                        }
                    }
                }
                Err(e) => return Err(StepError::Trace(format!("waitpid: {e}"))),
            }
            if self.watchdog.fired() {
                let waiting_for = format!(
                    "actor(s) {} to reach a store call or reply",
                    running
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return Err(self.timed_out(running[0], waiting_for));
            }
        }
    }

    /// Each actor's next held call, as a choice with its index among the actor's held
    /// threads: those that can run now, those waiting for a lock (or polling), and whether a
    /// waiting one spins (its calls succeed, so it can run on alone).
    fn held_choices(&mut self, slots: &[usize]) -> (HeldChoices, HeldChoices, bool) {
        let mut ready = Vec::new();
        let mut waiting = Vec::new();
        let mut spinning = false;
        for &slot in slots {
            let Some(traced) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            // An actor's threads: a call not waiting for a lock goes first, so a thread
            // whose lock waits on a held sibling never hides that sibling's next call.
            let Some(at) = traced
                .held
                .iter()
                .position(|h| !h.rewound)
                .or((!traced.held.is_empty()).then_some(0))
            else {
                continue;
            };
            let footprint = if !self.footprints || traced.coordination.is_some() {
                // Its writes through the shared WAL index are invisible.
                Footprint::global()
            } else {
                let held = &mut traced.held[at];
                let of = match &held.footprint {
                    Some((namespace, footprint)) if *namespace == self.namespace => {
                        footprint.clone()
                    }
                    _ => {
                        let footprint = Footprint::of(&held.call, &self.scope);
                        held.footprint = Some((self.namespace, footprint.clone()));
                        footprint
                    }
                };
                of.holding(&traced.open_files, &traced.locked)
            };
            let first = &traced.held[at];
            let choice = (
                Choice {
                    slot,
                    call: first.call.describe(&self.scope),
                    footprint,
                },
                at,
            );
            // A poller's unlock goes with the ready calls: it never blocks, and another
            // actor may wait for it (SQLite's busy loop drops its read lock there).
            let unlocks = first.call.lock.is_some_and(|l| l.mode == LockMode::Unlock);
            if first.rewound || (traced.patience.wait() != Wait::No && !unlocks) {
                // A spinner can run on alone (its calls succeed); a rewound lock cannot.
                spinning |= !first.rewound && traced.patience.wait() == Wait::Spins;
                waiting.push(choice);
            } else {
                ready.push(choice);
            }
        }
        (ready, waiting, spinning)
    }

    /// Release the `at`-th held call of the actor in `slot`: it runs until it stops again.
    fn release(&mut self, slot: usize, at: usize) {
        let Some(traced) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Some(held) = traced.held.remove(at) else {
            return;
        };
        // A call that changes no entry leaves every held call's footprint as it was.
        let keeps_names = held
            .footprint
            .as_ref()
            .is_some_and(|(namespace, f)| *namespace == self.namespace && !f.changes_names());
        if !keeps_names {
            self.namespace += 1;
        }
        // This thread runs until it stops again (or parks): the next choice waits for it.
        traced.released = (!traced.held.is_empty()).then_some(held.tid);
        if self.footprints && matches!(held.call.kind, Kind::Flock | Kind::FcntlLock) {
            if let Some(inode) = held_inode(&held.call) {
                if !traced.locked.contains(&inode) {
                    traced.locked.push(inode);
                }
            }
        }
        // Something moved: a lock it held may be free now, a polled file may exist.
        for (other, t) in self.slots.iter_mut().enumerate() {
            let Some(t) = t.as_mut() else {
                continue;
            };
            for h in &mut t.held {
                h.rewound = false;
            }
            if other != slot {
                t.patience.other_moved();
            }
        }
        self.run_on(held, slot);
    }

    /// Let a held call of the actor in `slot` run.
    fn run_on(&mut self, held: Held, slot: usize) {
        if held.rewound {
            // At its syscall instruction again: it stops at seccomp like a new call.
            let _ = ptrace::cont(held.tid, None);
        } else {
            self.resume(held.tid, held.call, slot);
        }
    }

    /// Actors of `slots` that poll for locks the kernel would now grant them (no other
    /// actor holds a conflicting lock) run again. /proc/locks is read only when one polls.
    fn wake_lock_pollers(&mut self, slots: &[usize]) {
        let mut held = None;
        for &slot in slots {
            let Some(traced) = self.traced(slot) else {
                continue;
            };
            let Some(awaited) = traced.patience.awaited_locks() else {
                continue;
            };
            let held = held.get_or_insert_with(held_locks);
            let is_poller = |pid: i32| self.tasks.get(&Pid::from_raw(pid)) == Some(&slot);
            let free = awaited
                .iter()
                .all(|(path, wanted)| lock_is_free(held, path, wanted, is_poller));
            if free {
                if let Some(traced) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                    traced.patience.forget();
                }
            }
        }
    }

    /// A released thread that sleeps in the kernel (a futex, a blocking read) or is gone will
    /// not stop by itself: stop waiting for it.
    fn forget_parked(&mut self) {
        for traced in self.slots.iter_mut().flatten() {
            if let Some(tid) = traced.released {
                // Held again (at a new call, or its lock rewound), or asleep.
                if traced.held.iter().any(|h| h.tid == tid) || stuck::parked(tid.as_raw()) {
                    traced.released = None;
                }
            }
        }
    }

    /// Serve the stops that are pending (at most [`SERVE_BATCH`]), or wait up to `wait`
    /// when none is.
    fn serve_for(&mut self, wait: Duration) {
        if !self.serve_pending() {
            std::thread::sleep(wait.min(IDLE_SLICE));
        }
    }

    /// Serve the stops that are pending (at most [`SERVE_BATCH`]); whether there was one.
    fn serve_pending(&mut self) -> bool {
        let mut served = false;
        for _ in 0..SERVE_BATCH {
            match waitpid(
                None,
                Some(WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD | WaitPidFlag::WNOHANG),
            ) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(status) => {
                    served = true;
                    self.handle(status);
                }
            }
        }
        served
    }

    /// Serve the stops that are pending while waiting for a line of `slot`; returns how long
    /// to block on its stdout next. Once it wrote its reply, the line needs no stop served to
    /// arrive, so the caller blocks on it and wakes when it comes; but only for a slice, since
    /// a line may be written in pieces (Python writes a line's end on its own).
    fn serve_for_line(&mut self, slot: usize) -> Duration {
        if self.serve_pending() {
            Duration::ZERO
        } else if self.traced(slot).is_some_and(|t| t.replied) {
            REPLY_SLICE
        } else {
            std::thread::sleep(IDLE_SLICE);
            Duration::ZERO
        }
    }

    /// Kill an actor's tree and forget it once every task is gone.
    pub fn kill(&mut self, slot: usize) {
        let Some(root) = self.traced(slot).map(|t| t.root) else {
            return;
        };
        let exited = self.traced(slot).is_some_and(|t| t.exited);
        if !exited {
            reaper::kill_tree(root.as_raw() as u32);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.tasks.values().any(|&s| s == slot) && Instant::now() < deadline {
            self.serve_for(Duration::from_millis(1));
        }
        self.tasks.retain(|_, s| *s != slot);
        if let Some(mut traced) = self.slots.get_mut(slot).and_then(Option::take) {
            if !traced.exited {
                traced.actor.reaped(false, "killed by signal 9".to_owned());
            }
        }
    }

    fn owner(&mut self, tid: Pid) -> Option<usize> {
        if let Some(&slot) = self.tasks.get(&tid) {
            return Some(slot);
        }
        // A new task whose creation event has not been seen yet: its thread group or parent.
        let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse::<i32>().ok())
                .map(Pid::from_raw)
        };
        let slot = [field("Tgid:"), field("PPid:")]
            .into_iter()
            .flatten()
            .find_map(|p| self.tasks.get(&p).copied())?;
        self.tasks.insert(tid, slot);
        Some(slot)
    }

    fn handle(&mut self, status: WaitStatus) {
        match status {
            WaitStatus::PtraceEvent(tid, _, event) if event == libc::PTRACE_EVENT_SECCOMP => {
                self.on_call(tid)
            }
            WaitStatus::PtraceEvent(tid, _, event)
                if event == libc::PTRACE_EVENT_CLONE
                    || event == libc::PTRACE_EVENT_FORK
                    || event == libc::PTRACE_EVENT_VFORK =>
            {
                if let (Ok(new), Some(slot)) = (ptrace::getevent(tid), self.owner(tid)) {
                    self.tasks.insert(Pid::from_raw(new as i32), slot);
                }
                let _ = ptrace::cont(tid, None);
            }
            WaitStatus::PtraceEvent(tid, _, event) => {
                if event == libc::PTRACE_EVENT_EXEC {
                    // An exec by a thread other than the leader: that thread now has the
                    // leader's tid, and its own tid will never report an exit.
                    if let Ok(former) = ptrace::getevent(tid) {
                        let former = Pid::from_raw(former as i32);
                        if former != tid {
                            self.tasks.remove(&former);
                            self.pending.remove(&former);
                        }
                    }
                }
                let _ = ptrace::cont(tid, None);
            }
            WaitStatus::PtraceSyscall(tid) => self.on_exit(tid),
            WaitStatus::Stopped(tid, signal) => {
                let signal = if let Some(i) = self.fresh.iter().position(|&p| p == tid) {
                    // The stop after the first exec: now the options can be set, before the
                    // adapter makes a single call.
                    self.fresh.swap_remove(i);
                    let _ = ptrace::setoptions(tid, OPTIONS);
                    None
                } else if signal == Signal::SIGSTOP {
                    // A new task's attach stop, or a kill's SIGSTOP (a SIGKILL follows).
                    self.owner(tid);
                    None
                } else {
                    Some(signal)
                };
                let _ = ptrace::cont(tid, signal);
            }
            WaitStatus::Exited(tid, code) => {
                self.on_gone(tid, code == 0, format!("exit code {code}"))
            }
            WaitStatus::Signaled(tid, signal, _) => {
                self.on_gone(tid, false, format!("killed by signal {}", signal as i32))
            }
            _ => {}
        }
    }

    fn on_gone(&mut self, tid: Pid, clean: bool, description: String) {
        self.pending.remove(&tid);
        let Some(slot) = self.tasks.remove(&tid) else {
            return;
        };
        let Some(traced) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        traced.held.retain(|h| h.tid != tid);
        if traced.released == Some(tid) {
            traced.released = None;
        }
        if tid == traced.root {
            traced.exited = true;
            traced.actor.reaped(clean, description);
        }
    }

    fn on_call(&mut self, tid: Pid) {
        let Ok(regs) = ptrace::getregs(tid) else {
            return;
        };
        self.stops += 1;
        let call = Call::decode(tid, &regs);
        let Some(slot) = self.owner(tid) else {
            let _ = ptrace::cont(tid, None);
            return;
        };
        let scope = self.scope.clone();
        let ordered = call.touches(&scope) && self.ordered(&call);
        let Some(traced) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            let _ = ptrace::cont(tid, None);
            return;
        };
        if call.kind == Kind::Write
            && matches!(call.fd, Some((_, FdTarget::Pipe(inode))) if inode == traced.stdout_pipe)
        {
            traced.replied = true;
            self.moved = true;
            if let Some(observer) = self.observer.as_mut() {
                observer.replied(slot);
            }
            let _ = ptrace::cont(tid, None);
            return;
        }
        if !call.touches(&scope) {
            let _ = ptrace::cont(tid, None);
            return;
        }
        self.moved = true;
        let wal_index = call.kind == Kind::Mmap
            && matches!(&call.fd, Some((_, FdTarget::Path(p))) if super::is_wal_index(p));
        if wal_index {
            traced
                .coordination
                .get_or_insert_with(|| call.describe(&scope));
        } else if call.kind == Kind::Mmap || call.kind == Kind::Splice {
            traced.unsupported.get_or_insert_with(|| {
                format!(
                    "{} of a store file: writes the tracer cannot see",
                    call.describe(&scope)
                )
            });
        }
        if traced.released == Some(tid) {
            traced.released = None;
        }
        if traced.controlled && ordered {
            traced.held.push_back(Held::new(tid, call, false));
            return;
        }
        if ordered {
            // An actor not controlled: what it changes is not known in advance (nor when it
            // has changed it: again at its exit, where a controlled step runs beside it).
            self.namespace += 1;
        }
        self.resume(tid, call, slot);
    }

    /// Let a stopped store call run, watched to its exit if the observer or a lock needs it.
    fn resume(&mut self, tid: Pid, call: Call, slot: usize) {
        if flushes_a_store_file(&call) && succeed_without_running(tid) {
            self.flushes_skipped += 1;
        }
        let observe = self
            .observer
            .as_mut()
            .is_some_and(|observer| observer.entry(slot, &call));
        let controlled = self.traced(slot).is_some_and(|t| t.controlled);
        let lock = if controlled {
            nonblocking(tid, &call)
        } else {
            None
        };
        let watch = controlled && (call.is_visible() || self.ordered_sync(&call));
        let unseen_change = !controlled
            && self.footprints
            && self.ordered(&call)
            && self.slots.iter().flatten().any(|t| t.controlled);
        if observe || lock.is_some() || watch || unseen_change {
            self.pending.insert(
                tid,
                Pending {
                    call,
                    slot,
                    observe,
                    watch,
                    lock,
                    unseen_change,
                },
            );
            let _ = ptrace::syscall(tid, None);
        } else {
            let _ = ptrace::cont(tid, None);
        }
    }

    fn on_exit(&mut self, tid: Pid) {
        let Some(pending) = self.pending.remove(&tid) else {
            let _ = ptrace::cont(tid, None);
            return;
        };
        let Ok(mut regs) = ptrace::getregs(tid) else {
            return;
        };
        let ret = regs.rax as i64;
        if pending.unseen_change {
            self.namespace += 1;
        }
        if let Some(original) = pending.lock {
            regs.rsi = original;
            if ret == -(libc::EWOULDBLOCK as i64) || ret == -(libc::EACCES as i64) {
                // Run the call again later: back to the syscall instruction, held as blocked.
                regs.rip -= 2;
                regs.rax = regs.orig_rax;
                let _ = ptrace::setregs(tid, regs);
                if let Some(traced) = self.slots.get_mut(pending.slot).and_then(Option::as_mut) {
                    traced.held.push_back(Held::new(tid, pending.call, true));
                    return;
                }
            }
            let _ = ptrace::setregs(tid, regs);
        }
        if pending.watch {
            let key = pending.call.describe(&self.scope);
            // Asked at every watched call: no list is built unless a wait starts.
            let others_can_run = self.others_ready(pending.slot).next().is_some();
            let footprints = self.footprints;
            if let Some(traced) = self.slots.get_mut(pending.slot).and_then(Option::as_mut) {
                if footprints && ret >= 0 && pending.call.kind == Kind::Open {
                    if let Some(inode) = descriptor_inode(tid.as_raw(), ret as i32) {
                        if !traced.open_files.contains(&inode) {
                            traced.open_files.push(inode);
                        }
                    }
                }
                let waits = traced
                    .patience
                    .returned(&pending.call, &key, ret, others_can_run);
                if let Some(wait) = waits {
                    // Worth a note only where the scheduler held another actor meanwhile.
                    let held: Vec<usize> = self.others_ready(pending.slot).collect();
                    if !held.is_empty() {
                        self.retry_loops.push(RetryLoop {
                            slot: pending.slot,
                            call: key,
                            failing: wait == Wait::Polls,
                            held,
                        });
                    }
                }
            }
        }
        if pending.observe {
            if let Some(observer) = self.observer.as_mut() {
                observer.exit(pending.slot, &pending.call, ret);
            }
        }
        let _ = ptrace::cont(tid, None);
    }
}

impl Tracer {
    /// The other actors of a controlled step that the scheduler holds at a call it could
    /// release now (not a lock attempt that failed, not an actor that waits itself).
    fn others_ready(&self, slot: usize) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(move |&(other, t)| {
                other != slot
                    && t.as_ref().is_some_and(|t| {
                        t.controlled
                            && !t.replied
                            && !t.exited
                            && t.patience.wait() == Wait::No
                            && t.held.iter().any(|h| !h.rewound)
                    })
            })
            .map(|(other, _)| other)
    }

    /// The retry loops noted since the last call: an actor repeated a failing call while
    /// the scheduler held others.
    pub fn take_retry_loops(&mut self) -> Vec<RetryLoop> {
        std::mem::take(&mut self.retry_loops)
    }
}

/// An actor repeated a call (a failing one, or else one that succeeds) while the scheduler
/// held the `held` actors.
#[derive(Debug, Clone)]
pub struct RetryLoop {
    pub slot: usize,
    pub call: String,
    pub failing: bool,
    pub held: Vec<usize>,
}

impl Drop for Tracer {
    fn drop(&mut self) {
        for slot in 0..self.slots.len() {
            self.kill(slot);
        }
    }
}

fn gone(slot: usize) -> ActorError {
    ActorError::Protocol {
        label: format!("actor {slot}"),
        when: "under the tracer".to_owned(),
        detail: "the actor is gone".to_owned(),
        stderr_tail: String::new(),
    }
}

/// The file a held descriptor call acts on.
fn held_inode(call: &Call) -> Option<Inode> {
    call.fd
        .as_ref()
        .and_then(|(fd, _)| descriptor_inode(call.tid.as_raw(), *fd))
}

impl Traced {
    /// Take stock of the files it holds open under `scope`, and of the locks it holds on
    /// them, before a controlled step: it may have opened or locked them in an earlier
    /// request, outside any race.
    fn refresh_open_files(&mut self, scope: &Path) {
        let mut open = Vec::new();
        if let Ok(entries) = std::fs::read_dir(format!("/proc/{}/fd", self.root)) {
            for entry in entries.flatten() {
                let in_scope =
                    std::fs::read_link(entry.path()).is_ok_and(|target| target.starts_with(scope));
                if !in_scope {
                    continue;
                }
                if let Some(inode) = super::footprint::path_inode(&entry.path()) {
                    if !open.contains(&inode) {
                        open.push(inode);
                    }
                }
            }
        }
        let held = locked_inodes(self.root.as_raw());
        self.locked
            .retain(|inode| open.contains(inode) || held.contains(&inode.1));
        for inode in &open {
            if held.contains(&inode.1) && !self.locked.contains(inode) {
                self.locked.push(*inode);
            }
        }
        self.open_files = open;
    }
}

/// Inode numbers of the locks process `pid` holds (or open-file-description locks, whose
/// owner /proc/locks does not name).
fn locked_inodes(pid: i32) -> Vec<u64> {
    held_locks()
        .into_iter()
        .filter(|lock| lock.owner.is_none_or(|owner| owner == pid))
        .map(|lock| lock.inode)
        .collect()
}

/// An open of a directory (to fsync it, or to walk it): it observes nothing that an
/// interleaving orders.
fn opens_directory(call: &Call) -> bool {
    call.kind == Kind::Open
        && call
            .paths
            .first()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.is_dir())
}

/// A step that keeps moving still ends after this many times its actors' timeouts.
const HARD_LIMIT_FACTOR: u32 = 10;

/// How often a released thread is checked for having parked.
const PARK_POLL: Duration = Duration::from_micros(100);

/// Released calls after which a race counts as never ending.
const MAX_DECISIONS: usize = 20_000;

/// When every held actor waits for a lock: retries, and the pause between them, before the
/// race counts as deadlocked.
const STALL_RETRIES: u32 = 100;
const STALL_PAUSE: Duration = Duration::from_millis(1);

/// Stops served per call of `serve_for`, so its caller's deadline is checked in between.
const SERVE_BATCH: usize = 256;

/// How long a wait for a reply already written blocks before serving stops again (a reply
/// written in several calls needs the tracer between them).
const REPLY_SLICE: Duration = Duration::from_micros(50);

/// How long the tracer sleeps when nothing is pending and nothing has been written.
const IDLE_SLICE: Duration = Duration::from_micros(200);

/// Polls for this long before blocking: a traced actor usually stops again within a few
/// microseconds, and a blocked waitpid pays a sleep and a wake-up per stop.
const SPIN: Duration = Duration::from_micros(50);

/// The next event of this thread's tracees: polled briefly, then waited for.
fn wait_next() -> nix::Result<WaitStatus> {
    let flags = WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD;
    let started = Instant::now();
    while started.elapsed() < SPIN {
        match waitpid(None, Some(flags | WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::hint::spin_loop(),
            other => return other,
        }
    }
    waitpid(None, Some(flags))
}

/// An `fsync` or `fdatasync` of a store file or directory: the crash states are computed
/// from the calls recorded, never read back from the disk, so the flush itself buys nothing
/// and costs a disk round trip (about 0.1 ms here, a third of a reference round's time).
/// What the descriptor refers to is looked up now, at the release, not by the name seen at
/// the stop (renamed over since, or the number reused). Anything else (a FIFO, a socket, an
/// `O_PATH` descriptor) runs for real, with its own result.
fn flushes_a_store_file(call: &Call) -> bool {
    let Some((fd, FdTarget::Path(_))) = &call.fd else {
        return false;
    };
    let open_file = format!("/proc/{}/fd/{fd}", call.tid);
    matches!(call.nr, libc::SYS_fsync | libc::SYS_fdatasync)
        && std::fs::metadata(open_file).is_ok_and(|m| m.is_file() || m.is_dir())
        && open_flags(call.tid, *fd).is_some_and(|flags| flags & libc::O_PATH == 0)
}

/// The status flags a descriptor was opened with (`/proc/<tid>/fdinfo`, in octal).
fn open_flags(tid: Pid, fd: i32) -> Option<i32> {
    let info = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
    i32::from_str_radix(flags.trim(), 8).ok()
}

/// Skip the call at its entry stop and make it return 0 (seccomp(2): a system call number
/// of -1 skips it, and the return register keeps what the tracer put there).
fn succeed_without_running(tid: Pid) -> bool {
    let Ok(mut regs) = ptrace::getregs(tid) else {
        return false;
    };
    regs.orig_rax = u64::MAX;
    regs.rax = 0;
    ptrace::setregs(tid, regs).is_ok()
}

/// A blocking lock call becomes non-blocking (so a held actor can never deadlock the run):
/// returns the original argument if the call was rewritten.
fn nonblocking(tid: Pid, call: &Call) -> Option<u64> {
    let original = call.args[1];
    let rewritten = match call.kind {
        Kind::Flock
            if original & libc::LOCK_NB as u64 == 0 && original & libc::LOCK_UN as u64 == 0 =>
        {
            original | libc::LOCK_NB as u64
        }
        Kind::FcntlLock if original == libc::F_SETLKW as u64 => libc::F_SETLK as u64,
        Kind::FcntlLock if original == libc::F_OFD_SETLKW as u64 => libc::F_OFD_SETLK as u64,
        _ => return None,
    };
    let mut regs = ptrace::getregs(tid).ok()?;
    regs.rsi = rewritten;
    ptrace::setregs(tid, regs).ok()?;
    Some(original)
}

/// A program that cannot be started fails here, with the ordinary error: under the filter
/// the child's report of a failed exec could not be written.
fn preflight(command: &Command) -> std::io::Result<()> {
    let program = Path::new(command.get_program());
    let found = if program.components().count() > 1 {
        program.is_file()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    if found {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} not found", program.display()),
        ))
    }
}

fn install_tracing(command: &mut Command, filters: Arc<Filters>) {
    use std::os::unix::process::CommandExt;
    #[allow(unsafe_code)]
    // SAFETY: between fork and exec the closure makes only the ptrace(TRACEME), prctl and
    // seccomp system calls: the filters were compiled before the fork, nothing allocates.
    // The exec that follows stops the child for the tracer, which sets its options before
    // the adapter's first instruction, so no filtered call runs untraced.
    unsafe {
        command.pre_exec(move || {
            ptrace::traceme().map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
            filters.install()
        });
    }
}

/// Kills the actors of a step that outlive its deadline, which wakes the tracer's wait. It
/// checks every [`WATCH_PERIOD`] rather than being woken, and signals through pidfds opened
/// when it was armed, so a root the tracer has reaped meanwhile is never confused with a
/// process that reused its pid.
struct Watchdog {
    state: Arc<Mutex<WatchState>>,
}

/// How late past its deadline a hung step may be killed.
const WATCH_PERIOD: Duration = Duration::from_millis(50);

/// A watched actor: its slot, root pid and a pidfd of the root.
type Watched = (usize, Pid, std::os::fd::OwnedFd);

#[derive(Default)]
struct WatchState {
    /// The deadline (pushed back while the actors move), the hard limit, the actors.
    armed: Option<(Instant, Instant, Vec<Watched>)>,
    fired: bool,
    /// Each watched actor's threads, read just before they were killed.
    snapshot: Vec<(usize, Vec<ThreadState>)>,
}

impl Watchdog {
    fn start() -> Watchdog {
        let state = Arc::new(Mutex::new(WatchState::default()));
        let shared = Arc::downgrade(&state);
        std::thread::spawn(move || loop {
            std::thread::sleep(WATCH_PERIOD);
            let Some(state) = shared.upgrade() else {
                return;
            };
            let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
            let due = guard
                .armed
                .as_ref()
                .is_some_and(|(deadline, _, _)| Instant::now() >= *deadline);
            if due {
                if let Some((_, _, roots)) = guard.armed.take() {
                    guard.fired = true;
                    // Read before the kill: afterwards there is nothing left to name.
                    guard.snapshot = roots
                        .iter()
                        .map(|(slot, root, _)| (*slot, stuck::snapshot(root.as_raw())))
                        .collect();
                    for (_, _, pidfd) in &roots {
                        let _ = rustix::process::pidfd_send_signal(
                            pidfd,
                            rustix::process::Signal::KILL,
                        );
                    }
                }
            }
        });
        Watchdog { state }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn arm(&self, deadline: Instant, hard: Instant, roots: Vec<(usize, Pid)>) {
        let watched = roots
            .into_iter()
            .filter_map(|(slot, root)| {
                let pid = rustix::process::Pid::from_raw(root.as_raw())?;
                let pidfd =
                    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
                Some((slot, root, pidfd))
            })
            .collect();
        let mut guard = self.lock();
        guard.armed = Some((deadline.min(hard), hard, watched));
        guard.fired = false;
        guard.snapshot.clear();
    }

    fn snapshot(&self) -> Vec<(usize, Vec<ThreadState>)> {
        self.lock().snapshot.clone()
    }

    /// The actors moved: the deadline is now `deadline`, never past the hard limit.
    fn extend(&self, deadline: Instant) {
        if let Some((current, hard, _)) = self.lock().armed.as_mut() {
            *current = deadline.min(*hard);
        }
    }

    fn disarm(&self) {
        self.lock().armed = None;
    }

    fn fired(&self) -> bool {
        self.lock().fired
    }
}

/// "the explorer was waiting for ...; its threads: ..." for a step that timed out.
fn stuck_summary(waiting_for: &str, threads: &[String]) -> String {
    if threads.is_empty() {
        format!("the explorer was waiting for {waiting_for}; no thread was left to inspect")
    } else {
        format!(
            "the explorer was waiting for {waiting_for}; threads: {}",
            threads.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// A lock this process holds shows in /proc/locks under its pid, by inode; released, it
    /// is gone.
    #[test]
    fn the_locks_a_process_holds_are_read_from_proc_locks() {
        let file = tempfile::tempfile().expect("temp file");
        let inode = file.metadata().expect("metadata").ino();
        let me = std::process::id() as i32;
        assert!(!locked_inodes(me).contains(&inode));
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).expect("flock");
        assert!(locked_inodes(me).contains(&inode));
        drop(file);
        assert!(!locked_inodes(me).contains(&inode));
    }
}

//! [`SimFs`]: an in-memory filesystem implementing the core's [`Fs`] trait, for the models.
//!
//! Every operation takes one lock from `keyrace_core::sync`, so under loom and shuttle every
//! operation is a scheduling point: the explorers interleave actors exactly at the steps a
//! real process would take one system call at a time. Each handle ([`SimFs::actor`]) carries the
//! name of the actor using it, which the [trace](Trace) records.
//!
//! - [`Semantics::Posix`] and [`Semantics::Windows`]: under Windows semantics a file (or a
//!   directory containing one) with an open handle cannot be removed or renamed over; the call
//!   fails with `ResourceBusy` (`BUSY`), like a sharing violation.
//! - [`Fault`]s make the k-th matching operation fail with a chosen error.
//! - [`SimFs::crash_actor_after`] makes an actor's operations fail from its k-th on (its process
//!   died there); [`SimFs::crash`] then applies a power loss as described in [`tree`]'s crash
//!   model, and any actor created afterwards sees only the durable state.

mod calls;
mod fault;
mod file;
mod setup;
#[cfg(all(test, not(any(loom, feature = "shuttle"))))]
mod tests;
mod trace;
pub mod tree;

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

use keyrace_core::sync::Mutex;

pub use fault::{Fault, FaultError};
pub use file::SimFile;
pub use trace::{CallKind, Event, Trace};
pub use tree::CrashMode;
use tree::{error, Ino, Node, Tree};

/// Which platform's file-sharing rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semantics {
    Posix,
    Windows,
}

/// The uid every SimFs object belongs to.
pub const SIM_UID: u32 = 1000;

#[derive(Debug)]
struct State {
    tree: Tree,
    semantics: Semantics,
    /// Open handles: id → inode. Cleared by a crash.
    handles: BTreeMap<u64, Ino>,
    next_handle: u64,
    /// Bumped by every crash; handles of an older generation are dead.
    generation: u64,
    faults: Vec<Fault>,
    /// Actor → (operations allowed before its process dies, operations done).
    crash_points: BTreeMap<String, (usize, usize)>,
    /// Operations done per actor (for sizing crash loops).
    op_counts: BTreeMap<String, usize>,
    /// Largest write one call performs (a short write), if limited.
    write_chunk: Option<usize>,
    /// Processes started with [`SimFs::actor`], and those that said they exited.
    started: std::collections::BTreeSet<String>,
    exited: std::collections::BTreeSet<String>,
    trace: Vec<Event>,
}

impl State {
    fn record(&mut self, actor: &str, op: CallKind, path: String, result: String) {
        let seq = self.trace.len() + 1;
        self.trace.push(Event {
            seq,
            actor: actor.to_owned(),
            op,
            path,
            result,
        });
    }

    fn has_handle_in(&self, inodes: &[Ino]) -> bool {
        self.handles.values().any(|ino| inodes.contains(ino))
    }

    /// Windows refuses to remove or replace a file (or a directory holding one) that is open.
    fn check_not_open(&self, ino: Ino, path: &Path) -> io::Result<()> {
        if self.semantics == Semantics::Windows && self.has_handle_in(&self.tree.subtree(ino)) {
            return Err(error(
                io::ErrorKind::ResourceBusy,
                path,
                "sharing violation: the file is open in another process",
            ));
        }
        Ok(())
    }

    fn open_handle(&mut self, ino: Ino) -> u64 {
        let id = self.next_handle;
        self.next_handle += 1;
        self.handles.insert(id, ino);
        id
    }
}

fn describe<T>(result: &io::Result<T>, ok: impl FnOnce(&T) -> String) -> String {
    match result {
        Ok(value) => ok(value),
        Err(e) => format!("Err({:?}: {e})", e.kind()),
    }
}

/// A simulated filesystem. Cloning gives another handle on the same filesystem.
#[derive(Debug, Clone)]
pub struct SimFs {
    // `std::sync::Arc`, not the shim's: a deliberately leaked handle (the `open-leaks-handle`
    // mutant) must not trip loom's leak check, which would hide the bug it exists to show.
    state: Arc<Mutex<State>>,
    actor: Arc<str>,
    /// The crash generation this process started in: after a crash its operations fail.
    born: u64,
}

impl SimFs {
    /// An empty filesystem (just `/`), used by the actor `setup`.
    pub fn new(semantics: Semantics) -> SimFs {
        SimFs {
            state: Arc::new(Mutex::new(State {
                tree: Tree::new(),
                semantics,
                handles: BTreeMap::new(),
                next_handle: 1,
                generation: 0,
                faults: Vec::new(),
                crash_points: BTreeMap::new(),
                op_counts: BTreeMap::new(),
                write_chunk: None,
                started: Default::default(),
                exited: Default::default(),
                trace: Vec::new(),
            })),
            actor: Arc::from("setup"),
            born: 0,
        }
    }

    /// The same filesystem, used by the process `actor` (the name shown in traces). A process
    /// started before a [crash](SimFs::crash) dies in it: its later operations fail. Start
    /// the restarted processes with new `actor` handles after the crash.
    pub fn actor(&self, actor: &str) -> SimFs {
        let born = {
            let mut state = self.lock();
            state.started.insert(actor.to_owned());
            state.generation
        };
        SimFs {
            state: Arc::clone(&self.state),
            actor: Arc::from(actor),
            born,
        }
    }

    pub fn actor_name(&self) -> &str {
        &self.actor
    }

    fn lock(&self) -> keyrace_core::sync::MutexGuard<'_, State> {
        // A poisoned lock means an actor panicked mid-operation; the model fails anyway, so
        // keep going to let it report the panic rather than a second one.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Run one operation: one scheduling point, crash point and fault checks, one trace line.
    fn op<T>(
        &self,
        op: CallKind,
        path: &Path,
        to: Option<&Path>,
        describe_ok: impl FnOnce(&T) -> String,
        body: impl FnOnce(&mut State) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut state = self.lock();
        let shown = match to {
            Some(to) => format!("{} -> {}", path.display(), to.display()),
            None => path.display().to_string(),
        };
        let result = self
            .gate(&mut state, op, &shown)
            .and_then(|()| body(&mut state));
        let text = describe(&result, describe_ok);
        state.record(&self.actor, op, shown, text);
        result
    }

    /// Crash points and faults: whether this operation may run at all.
    fn gate(&self, state: &mut State, op: CallKind, shown: &str) -> io::Result<()> {
        *state.op_counts.entry(self.actor.to_string()).or_default() += 1;
        if self.born < state.generation {
            return Err(io::Error::other(format!(
                "{} {shown}: the process died in the crash (simulated)",
                op.name()
            )));
        }
        if let Some((allowed, done)) = state.crash_points.get_mut(&*self.actor) {
            if *done >= *allowed {
                return Err(io::Error::other(format!(
                    "{} {shown}: the process crashed (simulated)",
                    op.name()
                )));
            }
            *done += 1;
        }
        let actor = self.actor.clone();
        for fault in &mut state.faults {
            if let Some(e) = fault.hit(op, shown, &actor) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// This process is done (for [`SimFs::sleep`]: nobody waits for it any more).
    pub fn exit(&self) {
        let actor = self.actor.to_string();
        self.lock().exited.insert(actor);
    }

    /// A backoff sleep: time passes, which in the model means the other processes take steps.
    /// Returns after they took `delay / 10 ms` steps (at least one) or when none is left
    /// running. Yields while waiting, so every explorer lets the others run.
    pub fn sleep(&self, delay: std::time::Duration) {
        let steps = usize::try_from(delay.as_millis() / 10)
            .unwrap_or(usize::MAX)
            .max(1);
        let others = |state: &State| -> (usize, bool) {
            let ops = state
                .op_counts
                .iter()
                .filter(|(actor, _)| **actor != *self.actor)
                .map(|(_, n)| *n)
                .sum();
            let running = state
                .started
                .iter()
                .any(|a| *a != *self.actor && !state.exited.contains(a));
            (ops, running)
        };
        let target = others(&self.lock()).0.saturating_add(steps);
        loop {
            let (ops, running) = others(&self.lock());
            if ops >= target || !running {
                return;
            }
            keyrace_core::sync::thread::yield_now();
        }
    }

    /// Make every `write` call write at most `bytes` bytes (POSIX allows short writes), so
    /// `write_all` takes several steps and a reader can see a partly written file.
    pub fn set_write_chunk(&self, bytes: usize) {
        self.lock().write_chunk = Some(bytes.max(1));
    }

    /// Inject a fault.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Let `actor` perform `ops` more operations; every later one fails as if its process died.
    pub fn crash_actor_after(&self, actor: &str, ops: usize) {
        self.lock().crash_points.insert(actor.to_owned(), (ops, 0));
    }

    /// Operations `actor` has attempted so far.
    pub fn op_count(&self, actor: &str) -> usize {
        self.lock().op_counts.get(actor).copied().unwrap_or(0)
    }

    /// Power loss: keep only durable state (see [`tree`]), drop every handle, forget crash
    /// points and faults. Actors used afterwards are the restarted processes.
    pub fn crash(&self, mode: CrashMode) {
        let mut state = self.lock();
        state.tree.crash(mode);
        state.handles.clear();
        state.generation += 1;
        state.crash_points.clear();
        state.faults.clear();
        let actor = self.actor.clone();
        state.record(&actor, CallKind::Crash, String::new(), format!("{mode:?}"));
    }

    /// Make everything written so far durable, as a clean shutdown (or the kernel's writeback
    /// long before the crash) would: for a model's setup, so that the state it starts from
    /// survives the crash whatever the code under test did to write it.
    pub fn settle(&self) {
        let mut state = self.lock();
        state.tree.settle();
        let actor = self.actor.clone();
        state.record(
            &actor,
            CallKind::Note,
            String::new(),
            "settled: everything durable".into(),
        );
    }

    /// Add a line to the trace (an actor's acknowledgement, a check's observation).
    pub fn note(&self, text: &str) {
        let mut state = self.lock();
        state.record(
            &self.actor.clone(),
            CallKind::Note,
            String::new(),
            text.to_owned(),
        );
    }

    /// The log so far.
    pub fn trace(&self) -> Trace {
        Trace(self.lock().trace.clone())
    }

    /// Handles currently open.
    pub fn open_handles(&self) -> usize {
        self.lock().handles.len()
    }

    /// Whether anything exists at `path` (no trace line, no scheduling semantics of interest).
    pub fn exists(&self, path: &Path) -> bool {
        matches!(self.lock().tree.lookup(path), Ok(Some(_)))
    }

    /// Create a symlink at `link` pointing to `target` (for planting attacks).
    pub fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        self.op(
            CallKind::Symlink,
            link,
            Some(target),
            |_| "ok".into(),
            |state| {
                let (dir, name) = state.tree.resolve_parent(link)?;
                if state.tree.lookup(link)?.is_some() {
                    return Err(error(io::ErrorKind::AlreadyExists, link, "exists"));
                }
                let ino = state.tree.alloc(Node::Symlink {
                    target: target.to_owned(),
                });
                state.tree.entries_mut(dir).insert(name, ino);
                Ok(())
            },
        )
    }
}

//! Containment of every process an adapter starts, and of the run itself on a signal.
//!
//! - Each adapter is started as a **child subreaper** of its own tree (set before `exec`, kept
//!   across it), so a helper that double-forks or calls `setsid` is reparented to the adapter,
//!   not to init: while the adapter lives, its tree by parent pid is complete (this is also the
//!   set whose descriptors failed-open-releases-handles inspects).
//! - Killing an actor stops its whole tree and process group with `SIGSTOP` until no new
//!   process appears (a stopped process cannot fork), then `SIGKILL`s all of them and reaps
//!   what becomes ours.
//! - The runner is a child subreaper too, so what an adapter leaves behind when it exits on
//!   its own is reparented to the runner; [`sweep_orphans`] kills and reaps it.
//! - SIGINT, SIGTERM and SIGHUP stop new work and kill every actor; the main thread then
//!   unwinds, removes the scratch directory and exits 128 + the signal.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, kill_process_group, waitpid, Pid, Signal, WaitOptions};

use crate::procfs;

/// The environment variable that marks a process as started for this run (its value is the
/// runner's pid), so a library caller's own children are never taken for escaped helpers.
pub const RUN_MARKER_ENV: &str = "KEYRACE_RUNNER_PID";

/// How long reaping a killed tree may take before it is reported as not reaped.
const REAP_DEADLINE: Duration = Duration::from_secs(5);

struct Registry {
    /// Pids of live actors (adapter processes started by [`spawn_registered`]).
    actors: BTreeSet<i32>,
    /// Directories to remove if a second signal forces an immediate exit.
    dirs: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    actors: BTreeSet::new(),
    dirs: Vec::new(),
});

/// Killed processes that could not be reaped within [`REAP_DEADLINE`], for the closing
/// message.
static UNREAPED: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// The signal that interrupted the run (0: none).
static SIGNALLED: AtomicI32 = AtomicI32::new(0);

/// Every child of this process that is not an actor is an escaped adapter helper (true in the
/// `keyrace` binary, which starts nothing else); otherwise only marked processes are.
static EXCLUSIVE: AtomicBool = AtomicBool::new(false);

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Declare that this process starts no children but actors, so every other child is an
/// escaped adapter helper (the `keyrace` binary).
pub fn own_every_child() {
    EXCLUSIVE.store(true, Ordering::Relaxed);
}

/// Make this process the reaper of orphans below it. Returns why not, if it cannot be.
pub fn become_subreaper() -> Result<(), String> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| format!("cannot become a child subreaper ({e})"))
}

/// Start `command` as an actor: its own process group, a subreaper of its own tree, killed if
/// the runner dies, registered atomically with respect to an interrupt (the signal handler
/// either sees the child or prevents it from being started).
pub(crate) fn spawn_registered(command: &mut Command) -> std::io::Result<Child> {
    prepare(command);
    spawn_prepared(command)
}

/// The containment half of [`spawn_registered`]: a caller may add its own `pre_exec` after it
/// (a tracer's, which must run last), then start the command with [`spawn_prepared`].
pub fn prepare(command: &mut Command) {
    command
        .process_group(0)
        .env(RUN_MARKER_ENV, std::process::id().to_string());
    #[allow(unsafe_code)]
    // SAFETY: the closure runs between fork and exec and makes only raw prctl and getpid
    // system calls: no allocation, no lock, nothing that is not async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            Ok(())
        });
    }
}

/// Start a command made ready by [`prepare`], registered atomically with respect to an
/// interrupt.
pub fn spawn_prepared(command: &mut Command) -> std::io::Result<Child> {
    let mut registry = registry();
    if interrupted().is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "the run was interrupted",
        ));
    }
    let child = command.spawn()?;
    if let Ok(pid) = i32::try_from(child.id()) {
        registry.actors.insert(pid);
    }
    Ok(child)
}

pub(crate) fn unregister_pid(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        registry().actors.remove(&pid);
    }
}

/// A directory of the run's own that a second signal (an exit at once) removes.
pub fn register_dir(dir: PathBuf) {
    registry().dirs.push(dir);
}

/// The directory is removed, or kept on purpose.
pub fn unregister_dir(dir: &std::path::Path) {
    registry().dirs.retain(|d| d != dir);
}

fn pid(raw: u32) -> Option<Pid> {
    i32::try_from(raw).ok().and_then(Pid::from_raw)
}

/// Stop `root`, its process group and every descendant until the set stops growing, then
/// SIGKILL them all. Returns the pids signalled (root included).
///
/// `root` must not have been reaped yet (a zombie keeps its pid and process group reserved).
pub fn kill_tree(root: u32) -> BTreeSet<u32> {
    // Stop the root and its group at once, before the (slower) walk of /proc: a crash
    // injected mid-write must land where the trigger fired.
    if let Some(p) = pid(root) {
        let _ = kill_process_group(p, Signal::STOP);
        let _ = kill_process(p, Signal::STOP);
    }
    let mut seen = BTreeSet::from([root]);
    for _ in 0..64 {
        let table = procfs::ProcessTable::read();
        let mut now: BTreeSet<u32> = table.descendants(root).into_iter().collect();
        now.extend(table.group_members(root));
        let fresh: Vec<u32> = now.difference(&seen).copied().collect();
        if fresh.is_empty() {
            break;
        }
        for &p in &fresh {
            if let Some(p) = pid(p) {
                let _ = kill_process(p, Signal::STOP);
            }
        }
        seen.extend(fresh);
    }
    if let Some(group) = pid(root) {
        // ESRCH: the group is gone already, which is the goal.
        let _ = kill_process_group(group, Signal::KILL);
    }
    for &p in &seen {
        if let Some(p) = pid(p) {
            let _ = kill_process(p, Signal::KILL);
        }
    }
    seen
}

/// Reap the killed processes that are (or are about to be reparented as) this process's
/// children. Each is waited for through a pidfd (woken at its exit, no polling), within a
/// shared deadline. Returns the pids still alive at the deadline.
pub(crate) fn reap(pids: &BTreeSet<u32>) -> Vec<u32> {
    let deadline = Instant::now() + REAP_DEADLINE;
    let mut left = Vec::new();
    for &raw in pids {
        if !reap_one(raw, deadline) {
            left.push(raw);
        }
    }
    left
}

/// Wait for `raw` to end and reap it if it is (or becomes) ours. False if it still runs at
/// `deadline`.
fn reap_one(raw: u32, deadline: Instant) -> bool {
    let Some(p) = pid(raw) else { return true };
    // Without a pidfd (gone already, or an old kernel) fall back to polling.
    let pidfd = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok();
    loop {
        match waitpid(Some(p), WaitOptions::NOHANG) {
            Ok(Some(_)) => return true,
            Ok(None) => {}
            // Not our child: gone, another process's zombie (its parent reaps it), or not yet
            // reparented to us.
            Err(_) if !procfs::is_running(raw) => return true,
            Err(_) => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let slice = left.min(Duration::from_millis(10));
        match &pidfd {
            Some(fd) => {
                let timeout = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: i64::from(slice.subsec_nanos()),
                };
                let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
                let _ = rustix::event::poll(&mut fds, Some(&timeout));
            }
            None => std::thread::sleep(slice.min(Duration::from_millis(1))),
        }
    }
}

/// SIGKILL process group `pgid` (its leader is dead: its tree went to the runner).
pub(crate) fn kill_group(pgid: u32) {
    if let Some(group) = pid(pgid) {
        let _ = kill_process_group(group, Signal::KILL);
    }
}

/// Remember processes that were killed but could not be reaped.
pub(crate) fn note_unreaped(pids: &[u32]) {
    UNREAPED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(pids);
}

/// The killed processes still not reaped (those reaped since are dropped).
pub fn unreaped() -> Vec<u32> {
    let mut unreaped = UNREAPED.lock().unwrap_or_else(|p| p.into_inner());
    unreaped.retain(|&pid| procfs::is_running(pid));
    unreaped.iter().copied().collect()
}

/// The roots of the trees that escaped their actor: children of this process that are not
/// live actors (every one in the `keyrace` binary, else those carrying this run's mark). Read
/// under the registry lock, so an actor being started is not one.
fn escaped_roots(table: &procfs::ProcessTable) -> Vec<u32> {
    let me = std::process::id();
    let exclusive = EXCLUSIVE.load(Ordering::Relaxed);
    let registry = registry();
    table
        .children(me)
        .into_iter()
        .filter(|&child| {
            let is_actor = i32::try_from(child).is_ok_and(|c| registry.actors.contains(&c));
            !is_actor && (exclusive || procfs::has_env(child, RUN_MARKER_ENV, &me.to_string()))
        })
        .collect()
}

/// The processes that escaped their actor ([`escaped_roots`]), with their descendants.
pub fn escaped() -> Vec<u32> {
    let table = procfs::ProcessTable::read();
    let mut escaped = BTreeSet::new();
    for root in escaped_roots(&table) {
        escaped.extend(table.descendants(root));
    }
    escaped.into_iter().collect()
}

/// Kill and reap every tree that escaped its actor ([`escaped_roots`]): helpers an adapter
/// left behind when it exited. Returns the pids that could not be reaped.
pub fn sweep_orphans() -> Vec<u32> {
    let mut survivors = Vec::new();
    for root in escaped_roots(&procfs::ProcessTable::read()) {
        let tree = kill_tree(root);
        survivors.extend(reap(&tree));
    }
    note_unreaped(&survivors);
    survivors
}

/// Kill every live actor's tree (from the signal thread). The registry stays locked
/// throughout, so no actor is reaped (and its pid reused) meanwhile: an owner unregisters its
/// actor before reaping it. Reaping is left to the owners.
fn kill_every_actor() {
    let registry = registry();
    for &actor in &registry.actors {
        kill_tree(actor as u32);
    }
}

/// The signal that interrupted the run, if one did.
pub fn interrupted() -> Option<Signal> {
    match SIGNALLED.load(Ordering::SeqCst) {
        0 => None,
        raw => Signal::from_named_raw(raw),
    }
}

/// The exit status for a run ended by `signal` (128 + its number).
pub fn exit_code(signal: Signal) -> i32 {
    128 + signal.as_raw()
}

pub fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::INT => "SIGINT",
        Signal::TERM => "SIGTERM",
        Signal::HUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Handle SIGINT, SIGTERM and SIGHUP: the first stops new work and kills every actor (the
/// main thread then unwinds, cleans up and exits 128 + the signal); a second one kills,
/// removes the scratch directories and exits at once.
pub fn install_signal_handlers() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("keyrace: cannot handle SIGINT/SIGTERM/SIGHUP ({e}); an interrupt may leave adapter processes behind");
            return;
        }
    };
    std::thread::spawn(move || {
        for raw in signals.forever() {
            let first = {
                // Under the registry lock, so no actor starts after this point.
                let _registry = registry();
                SIGNALLED
                    .compare_exchange(0, raw, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            };
            kill_every_actor();
            if !first {
                sweep_orphans();
                let dirs = std::mem::take(&mut registry().dirs);
                let mut left = Vec::new();
                for dir in dirs {
                    if std::fs::remove_dir_all(&dir).is_err() && dir.exists() {
                        left.push(dir.display().to_string());
                    }
                }
                eprintln!(
                    "keyrace: interrupted again; every adapter process was sent SIGKILL (the \
                     main thread was still reaping); {}",
                    if left.is_empty() {
                        "the scratch directory was removed".to_owned()
                    } else {
                        format!("could not remove {}", left.join(", "))
                    }
                );
                std::process::exit(128 + raw);
            }
        }
    });
}

/// "every adapter process was killed and reaped", or which were not.
pub fn containment_summary(survivors: &[u32]) -> String {
    if survivors.is_empty() {
        "every adapter process was killed and reaped".to_owned()
    } else {
        format!(
            "{} adapter process(es) could not be reaped (pids {survivors:?}); check them with ps",
            survivors.len()
        )
    }
}

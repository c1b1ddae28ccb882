//! Every live adapter process and the run's scratch directory, so that an interrupted run
//! (Ctrl-C) still kills and reaps every child and leaves nothing behind.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard};

use rustix::process::{kill_process_group, waitpid, Pid, Signal, WaitOptions};

struct Registry {
    pids: BTreeSet<i32>,
    dirs: Vec<PathBuf>,
    /// Set once by [`kill_all`]: no child is started afterwards (the main thread keeps
    /// running until the handler exits the process).
    closed: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pids: BTreeSet::new(),
    dirs: Vec::new(),
    closed: false,
});

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Start `command` and register the child, atomically with respect to [`kill_all`]: the
/// interrupt handler either sees the child or prevents it from being started.
pub(crate) fn spawn_registered(command: &mut Command) -> std::io::Result<Child> {
    let mut registry = registry();
    if registry.closed {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "the run was interrupted",
        ));
    }
    let child = command.spawn()?;
    if let Ok(pid) = i32::try_from(child.id()) {
        registry.pids.insert(pid);
    }
    Ok(child)
}

pub(crate) fn unregister_pid(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        registry().pids.remove(&pid);
    }
}

pub(crate) fn register_dir(dir: PathBuf) {
    registry().dirs.push(dir);
}

pub(crate) fn unregister_dir(dir: &std::path::Path) {
    registry().dirs.retain(|d| d != dir);
}

/// SIGKILL the process group of an adapter (it and the helpers it started).
pub(crate) fn kill_group(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // ESRCH: already gone, which is the goal.
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

/// Kill and reap every registered adapter and remove the scratch directories. Called from
/// the Ctrl-C handler; the normal path does the same through `Drop`.
pub fn kill_all() {
    let (pids, dirs) = {
        let mut registry = registry();
        registry.closed = true;
        (
            std::mem::take(&mut registry.pids),
            std::mem::take(&mut registry.dirs),
        )
    };
    for &pid in &pids {
        kill_group(pid as u32);
    }
    for &pid in &pids {
        if let Some(pid) = Pid::from_raw(pid) {
            let _ = waitpid(Some(pid), WaitOptions::empty());
        }
    }
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Whether an interrupt has started tearing the run down.
pub fn interrupted() -> bool {
    registry().closed
}

/// Called by the main thread when it finds the run interrupted: the handler kills, reaps and
/// exits with 130; the main thread must not exit first with another status.
pub fn wait_for_interrupt_handler() -> ! {
    loop {
        std::thread::park();
    }
}

/// Install the Ctrl-C handler: kill and reap every child, clean up, exit 130.
pub fn install_interrupt_handler() {
    let installed = ctrlc::set_handler(|| {
        kill_all();
        eprintln!("keyrace: interrupted; every adapter process was killed and reaped");
        std::process::exit(130);
    });
    if let Err(e) = installed {
        eprintln!("keyrace: could not install the Ctrl-C handler ({e}); an interrupt may leave adapter processes behind");
    }
}

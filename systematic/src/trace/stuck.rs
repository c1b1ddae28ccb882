//! What the threads of a hung actor are doing, read from `/proc` before the watchdog kills
//! them, so that a step that ran out of time names what it was stuck on (a futex, a sleep, a
//! pipe) instead of only "no answer".

use std::fmt;

/// One thread of a traced process tree when its step ran out of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadState {
    pub tid: i32,
    /// The thread's command name (`comm`).
    pub name: String,
    pub activity: Activity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// In a ptrace stop: held by the scheduler, or waiting for the tracer to serve it.
    StoppedByTracer,
    /// Asleep in a system call (`/proc/<tid>/syscall`), with the kernel function it waits in.
    Blocked { syscall: String, wchan: String },
    /// On a CPU or ready for one.
    Runnable,
    /// Anything else `/proc/<tid>/stat` says (a zombie, a dead thread, an unknown state).
    Other(char),
}

impl fmt::Display for ThreadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "thread {} ({}): ", self.tid, self.name)?;
        match &self.activity {
            Activity::StoppedByTracer => write!(f, "stopped by the tracer"),
            Activity::Blocked { syscall, wchan } if wchan.is_empty() || wchan == "0" => {
                write!(f, "blocked in {syscall}")
            }
            Activity::Blocked { syscall, wchan } => {
                write!(f, "blocked in {syscall} (kernel: {wchan})")
            }
            Activity::Runnable => write!(f, "runnable"),
            Activity::Other(state) => write!(f, "in state {state}"),
        }
    }
}

/// Every thread of `root` and of its descendants, most of a tree first. Threads that vanish
/// while they are read are left out: this is a diagnosis, not a check.
pub fn snapshot(root: i32) -> Vec<ThreadState> {
    let mut states = Vec::new();
    let mut pending = vec![root];
    let mut seen = std::collections::HashSet::new();
    while let Some(pid) = pending.pop() {
        if !seen.insert(pid) || seen.len() > MAX_PROCESSES {
            continue;
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        let mut tids: Vec<i32> = tasks
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect();
        tids.sort_unstable();
        for tid in tids {
            let dir = format!("/proc/{pid}/task/{tid}");
            if let Some(state) = thread(tid, &dir) {
                states.push(state);
            }
            if let Ok(children) = std::fs::read_to_string(format!("{dir}/children")) {
                pending.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<i32>().ok()),
                );
            }
        }
    }
    states
}

/// Processes of one tree read at most: a fork bomb must not make the diagnosis hang too.
const MAX_PROCESSES: usize = 64;

/// Whether thread `tid` sleeps in the kernel (a futex, a blocking read) or is gone: it will
/// not reach another system call until something else moves.
pub fn parked(tid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{tid}/stat")) {
        Ok(stat) => state_letter(&stat).is_none_or(|s| matches!(s, 'S' | 'D' | 'Z' | 'X')),
        Err(_) => true,
    }
}

/// The state letter of a `/proc/<tid>/stat` line: `pid (comm) S ...`, where comm may hold
/// spaces and parentheses, so it is split at the last ')'.
fn state_letter(stat: &str) -> Option<char> {
    let close = stat.rfind(')')?;
    stat.get(close + 1..)?.trim_start().chars().next()
}

fn thread(tid: i32, dir: &str) -> Option<ThreadState> {
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let state = state_letter(&stat)?;
    let activity = match state {
        't' | 'T' => Activity::StoppedByTracer,
        'R' => Activity::Runnable,
        'S' | 'D' => Activity::Blocked {
            syscall: std::fs::read_to_string(format!("{dir}/syscall"))
                .ok()
                .and_then(|s| s.split_whitespace().next().map(str::to_owned))
                .map_or_else(|| "a system call".to_owned(), |n| syscall_name(&n)),
            wchan: std::fs::read_to_string(format!("{dir}/wchan"))
                .unwrap_or_default()
                .trim()
                .to_owned(),
        },
        other => Activity::Other(other),
    };
    Some(ThreadState {
        tid,
        name,
        activity,
    })
}

/// The name of an x86_64 system call number as `/proc/<tid>/syscall` gives it; the calls a
/// hung store or runtime usually waits in are named, others keep their number.
fn syscall_name(number: &str) -> String {
    let name = match number.parse::<i64>() {
        Ok(0) => "read",
        Ok(1) => "write",
        Ok(7) => "poll",
        Ok(23) => "select",
        Ok(34) => "pause",
        Ok(35) => "nanosleep",
        Ok(43) => "accept",
        Ok(45) => "recvfrom",
        Ok(47) => "recvmsg",
        Ok(61) => "wait4",
        Ok(72) => "fcntl",
        Ok(73) => "flock",
        Ok(74) => "fsync",
        Ok(75) => "fdatasync",
        Ok(202) => "futex",
        Ok(230) => "clock_nanosleep",
        Ok(232) => "epoll_wait",
        Ok(247) => "waitid",
        Ok(257) => "openat",
        Ok(270) => "pselect6",
        Ok(271) => "ppoll",
        Ok(281) => "epoll_pwait",
        Ok(288) => "accept4",
        Ok(441) => "epoll_pwait2",
        Ok(n) => return format!("system call {n}"),
        // "running" (no call) or "-1" (in the kernel, not in a call).
        Err(_) => return number.to_owned(),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleeping_child_is_named_blocked_in_its_call() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let root = i32::try_from(child.id()).expect("pid");
        // The child reaches its sleep quickly, but a loaded machine may take a while to exec
        // it: poll its state up to a generous deadline instead of guessing a delay or a count.
        // It can also be caught asleep before its sleep (exec, the loader), when
        // /proc/<pid>/syscall still reads "running": wait for the sleep itself.
        let asleep = |shown: &[String]| {
            shown.iter().any(|s| {
                s.contains("(sleep): blocked in clock_nanosleep")
                    || s.contains("(sleep): blocked in nanosleep")
            })
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut shown: Vec<String> = Vec::new();
        while std::time::Instant::now() < deadline {
            shown = snapshot(root).iter().map(ToString::to_string).collect();
            if asleep(&shown) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(asleep(&shown), "{shown:?}");
    }

    #[test]
    fn a_vanished_process_gives_no_threads() {
        assert!(snapshot(i32::MAX).is_empty());
    }

    #[test]
    fn unknown_calls_keep_their_number() {
        assert_eq!(syscall_name("202"), "futex");
        assert_eq!(syscall_name("999"), "system call 999");
        assert_eq!(syscall_name("running"), "running");
    }
}

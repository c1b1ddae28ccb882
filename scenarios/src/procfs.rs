//! What `/proc` says about an adapter process and its descendants: the files they hold open
//! and how many bytes they have written.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// One line of the process table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Process {
    pid: u32,
    ppid: u32,
    pgid: u32,
    state: char,
}

/// A snapshot of every process `/proc` shows: who is whose parent, and in which group.
#[derive(Debug, Clone, Default)]
pub struct ProcessTable {
    processes: Vec<Process>,
}

impl ProcessTable {
    pub fn read() -> ProcessTable {
        let mut processes = Vec::new();
        if let Ok(entries) = fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                if let Some(process) = stat(pid) {
                    processes.push(process);
                }
            }
        }
        ProcessTable { processes }
    }

    /// `root` and every process descended from it by parent pid.
    pub fn descendants(&self, root: u32) -> Vec<u32> {
        let mut tree = BTreeSet::from([root]);
        loop {
            let before = tree.len();
            for p in &self.processes {
                if tree.contains(&p.ppid) {
                    tree.insert(p.pid);
                }
            }
            if tree.len() == before {
                return tree.into_iter().collect();
            }
        }
    }

    /// The processes of process group `pgid`.
    pub fn group_members(&self, pgid: u32) -> Vec<u32> {
        self.processes
            .iter()
            .filter(|p| p.pgid == pgid)
            .map(|p| p.pid)
            .collect()
    }

    /// The direct children of `parent`.
    pub fn children(&self, parent: u32) -> Vec<u32> {
        self.processes
            .iter()
            .filter(|p| p.ppid == parent)
            .map(|p| p.pid)
            .collect()
    }
}

/// `pid` and every process descended from it (by parent pid), as far as `/proc` shows.
pub fn process_tree(pid: u32) -> Vec<u32> {
    ProcessTable::read().descendants(pid)
}

fn stat(pid: u32) -> Option<Process> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses, so split after
    // the last ')'.
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgid = rest.next()?.parse().ok()?;
    Some(Process {
        pid,
        ppid,
        pgid,
        state,
    })
}

/// Whether `pid` exists and is not a zombie.
pub fn is_running(pid: u32) -> bool {
    stat(pid).is_some_and(|p| p.state != 'Z' && p.state != 'X')
}

/// Whether `pid` was started with `name=value` in its environment.
pub fn has_env(pid: u32, name: &str, value: &str) -> bool {
    let wanted = format!("{name}={value}");
    fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
        environ
            .split(|&b| b == 0)
            .any(|entry| entry == wanted.as_bytes())
    })
}

/// One open file descriptor that points inside a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldFile {
    pub pid: u32,
    pub fd: String,
    pub target: PathBuf,
}

/// Every descriptor of `pids` whose target is `dir` or lies inside it (deleted files count:
/// the kernel shows them as "<path> (deleted)"). `None` when `/proc/<pid>/fd` is unreadable.
pub fn files_held_inside(pids: &[u32], dir: &Path) -> Option<Vec<HeldFile>> {
    let mut held = Vec::new();
    for &pid in pids {
        let entries = match fs::read_dir(format!("/proc/{pid}/fd")) {
            Ok(entries) => entries,
            // The process exited between listing and reading: it holds nothing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => return None,
        };
        for entry in entries.flatten() {
            let Ok(target) = fs::read_link(entry.path()) else {
                continue;
            };
            if target.starts_with(dir) {
                held.push(HeldFile {
                    pid,
                    fd: entry.file_name().to_string_lossy().into_owned(),
                    target,
                });
            }
        }
    }
    Some(held)
}

/// Bytes written through `write(2)` and friends by the processes `pids` (`wchar` in
/// `/proc/<pid>/io`); `None` when unreadable.
pub fn bytes_written(pids: &[u32]) -> Option<u64> {
    WriteMeter::new(pids)?.read()
}

/// Reads the `wchar` of a set of processes repeatedly, cheaply (one `pread` per process), so
/// a poller can see a write in progress.
pub struct WriteMeter {
    files: Vec<fs::File>,
    buf: Vec<u8>,
}

impl WriteMeter {
    pub fn new(pids: &[u32]) -> Option<WriteMeter> {
        let files = pids
            .iter()
            .map(|pid| fs::File::open(format!("/proc/{pid}/io")).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(WriteMeter {
            files,
            buf: vec![0; 1024],
        })
    }

    pub fn read(&mut self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let mut total = 0;
        for file in &self.files {
            let n = file.read_at(&mut self.buf, 0).ok()?;
            let text = std::str::from_utf8(&self.buf[..n]).ok()?;
            total += text
                .lines()
                .find_map(|line| line.strip_prefix("wchar:"))?
                .trim()
                .parse::<u64>()
                .ok()?;
        }
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_its_own_open_file_and_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let me = std::process::id();
        assert!(process_tree(me).contains(&me));
        assert!(is_running(me));
        let table = ProcessTable::read();
        assert!(table
            .children(std::os::unix::process::parent_id())
            .contains(&me));
        assert!(table
            .group_members(rustix::process::getpgrp().as_raw_nonzero().get() as u32)
            .contains(&me));
        let before = files_held_inside(&[me], dir.path()).expect("readable");
        assert!(before.is_empty());
        let path = dir.path().join("f");
        let file = fs::File::create(&path).expect("create");
        let held = files_held_inside(&[me], dir.path()).expect("readable");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].target, path);
        drop(file);
        assert!(files_held_inside(&[me], dir.path())
            .expect("readable")
            .is_empty());
        let mut meter = WriteMeter::new(&[me]).expect("io readable");
        let written = meter.read().expect("io readable");
        fs::write(&path, [0u8; 1000]).expect("write");
        assert!(meter.read().expect("io readable") >= written + 1000);
        assert!(bytes_written(&[me]).expect("io readable") >= written + 1000);
    }
}

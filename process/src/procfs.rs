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
    // Bytes, not text: the name (comm) is whatever the process set, UTF-8 or not, and a
    // process must not drop out of the table by renaming itself.
    let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses, so split after
    // the last ')'.
    let after = stat.iter().rposition(|&b| b == b')')? + 1;
    let rest = std::str::from_utf8(&stat[after..]).ok()?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
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

/// What the descriptors of a set of processes show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handles {
    /// Descriptors whose target is the directory or lies inside it (deleted files count: the
    /// kernel shows them as "<path> (deleted)").
    pub held: Vec<HeldFile>,
    /// Processes whose `/proc/<pid>/fd` could not be read (not gone: hidden or forbidden).
    pub unreadable: Vec<u32>,
}

/// Every descriptor of `pids` that points at `dir` or inside it.
pub fn files_held_inside(pids: &[u32], dir: &Path) -> Handles {
    let mut handles = Handles::default();
    for &pid in pids {
        let entries = match fs::read_dir(format!("/proc/{pid}/fd")) {
            Ok(entries) => entries,
            // The process exited between listing and reading: it holds nothing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => {
                handles.unreadable.push(pid);
                continue;
            }
        };
        for entry in entries.flatten() {
            let Ok(target) = fs::read_link(entry.path()) else {
                continue;
            };
            if target.starts_with(dir) {
                handles.held.push(HeldFile {
                    pid,
                    fd: entry.file_name().to_string_lossy().into_owned(),
                    target,
                });
            }
        }
    }
    handles
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
    fn a_process_with_a_name_that_is_not_utf8_stays_in_the_table() {
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "printf '\\377\\376)( x' > /proc/self/comm; while :; do sleep 1; done",
            ])
            .spawn()
            .expect("sh");
        let pid = child.id();
        let renamed = std::time::Instant::now();
        while !fs::read(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with(b"\xff")) {
            assert!(
                renamed.elapsed() < std::time::Duration::from_secs(10),
                "not renamed"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let table = ProcessTable::read();
        let listed = table.children(std::process::id()).contains(&pid);
        let running = is_running(pid);
        let _ = child.kill();
        let _ = child.wait();
        assert!(listed && running, "listed {listed}, running {running}");
    }

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
        let before = files_held_inside(&[me], dir.path());
        assert_eq!(before, Handles::default());
        let path = dir.path().join("f");
        let file = fs::File::create(&path).expect("create");
        let held = files_held_inside(&[me], dir.path()).held;
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].target, path);
        drop(file);
        assert!(files_held_inside(&[me], dir.path()).held.is_empty());
        let mut meter = WriteMeter::new(&[me]).expect("io readable");
        let written = meter.read().expect("io readable");
        fs::write(&path, [0u8; 1000]).expect("write");
        assert!(meter.read().expect("io readable") >= written + 1000);
        assert!(bytes_written(&[me]).expect("io readable") >= written + 1000);
    }
}

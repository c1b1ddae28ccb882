//! The crash recorder: an [`Observer`] that turns one actor's traced store calls into the
//! logical ops of [`super::ops`] (with the bytes each write wrote), and the snapshot of the
//! directory before them. Paths are relative to the recorded root (the round directory, so
//! the creation of the store directory itself is recorded too).

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt as _;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, MetadataExt, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::libc;
use nix::unistd::Pid;

use super::ops::{FsOp, Ino, RelPath, Snapshot};
use crate::scratch::Area;
use crate::trace::{is_wal_index, read_memory, Call, FdTarget, Kind, Observer};

/// Largest write recorded: a 16 MiB secret as an envelope, with room.
const MAX_RECORDED_WRITE: usize = 32 * 1024 * 1024;

/// Largest file modelled (snapshot, write end, set length): the crash states hold whole trees.
const MAX_MODELLED_FILE: u64 = 64 * 1024 * 1024;

/// Most bytes recorded in one operation.
const MAX_RECORDED_TOTAL: usize = 256 * 1024 * 1024;

/// What one recording produced.
#[derive(Debug, Default)]
pub struct Recording {
    pub ops: Vec<FsOp>,
    /// Store calls the recorder could not model (they make the recording "not judged").
    pub unsupported: Vec<String>,
}

/// What was learnt at a call's entry, needed at its exit.
enum Entry {
    Open {
        path: RelPath,
        existed: bool,
        truncate: bool,
    },
    Mkdir {
        path: RelPath,
    },
    /// Known whole at entry; recorded if the call succeeds (a write keeps the bytes it wrote).
    Op(FsOp),
}

struct State {
    root: PathBuf,
    slot: usize,
    inos: HashMap<(u64, u64), Ino>,
    next_ino: Ino,
    recorded_bytes: usize,
    entries: HashMap<Pid, Entry>,
    recording: Recording,
    acked: bool,
}

/// Records the store calls of the actor in `slot` under `root`.
#[derive(Clone)]
pub struct Recorder(Arc<Mutex<State>>);

impl Recorder {
    /// Start recording: snapshot the directory `area` (whose real path is `root`, as the
    /// tracee's calls name it), assigning an id to every inode in it.
    pub fn start(area: &Area, root: &Path, slot: usize) -> std::io::Result<(Recorder, Snapshot)> {
        let mut state = State {
            root: root.to_owned(),
            slot,
            inos: HashMap::new(),
            next_ino: 0,
            recorded_bytes: 0,
            entries: HashMap::new(),
            recording: Recording::default(),
            acked: false,
        };
        let mut snapshot = Snapshot::default();
        state.snapshot(area.dir(), "", &mut snapshot)?;
        Ok((Recorder(Arc::new(Mutex::new(state))), snapshot))
    }

    /// Stop and take what was recorded.
    pub fn finish(&self) -> Recording {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut state.recording)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// Read the tree below `dir` (at `rel` from the root) through directory handles, never
    /// following a symlink: an adapter cannot make the runner read outside the round.
    fn snapshot(&mut self, dir: &Dir, rel: &str, snapshot: &mut Snapshot) -> std::io::Result<()> {
        let mut names = dir
            .entries()?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<std::io::Result<Vec<_>>>()?;
        names.sort();
        for name in names {
            let shown = name.to_string_lossy();
            let child = if rel.is_empty() {
                shown.clone().into_owned()
            } else {
                format!("{rel}/{shown}")
            };
            let meta = dir.symlink_metadata(&name)?;
            if meta.is_file() && is_wal_index(&self.root.join(&child)) {
                // Lost in every crash state, as in a reboot: SQLite rebuilds it from the WAL.
                continue;
            }
            if meta.is_dir() {
                snapshot.dirs.push((child.clone(), meta.mode() & 0o7777));
                let sub = dir.open_dir_nofollow(&name)?;
                self.snapshot(&sub, &child, snapshot)?;
            } else if meta.is_file() && meta.len() > MAX_MODELLED_FILE {
                self.recording.unsupported.push(format!(
                    "{child} is larger than the {MAX_MODELLED_FILE} bytes the crash states model"
                ));
            } else if meta.is_file() {
                let mut file = dir.open_with(
                    &name,
                    OpenOptions::new().read(true).follow(FollowSymlinks::No),
                )?;
                let mut data = Vec::new();
                file.read_to_end(&mut data)?;
                let ino = self.ino(meta.dev(), meta.ino());
                snapshot
                    .files
                    .push((child, ino, meta.mode() & 0o7777, data));
            } else {
                self.recording
                    .unsupported
                    .push(format!("{child} is neither a file nor a directory"));
            }
        }
        Ok(())
    }

    fn ino(&mut self, dev: u64, ino: u64) -> Ino {
        if let Some(&known) = self.inos.get(&(dev, ino)) {
            return known;
        }
        self.fresh_ino(dev, ino)
    }

    /// A new file or directory: a new id even if the file system reused an inode number
    /// freed earlier in the recording (ext4 does at once).
    fn fresh_ino(&mut self, dev: u64, ino: u64) -> Ino {
        let id = self.next_ino;
        self.next_ino += 1;
        self.inos.insert((dev, ino), id);
        id
    }

    fn ino_of(&mut self, path: &Path) -> Option<Ino> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(self.ino(meta.dev(), meta.ino()))
    }

    fn ino_of_fd(&mut self, tid: Pid, fd: i32) -> Option<(Ino, std::fs::Metadata)> {
        let meta = std::fs::metadata(format!("/proc/{tid}/fd/{fd}")).ok()?;
        Some((self.ino(meta.dev(), meta.ino()), meta))
    }

    fn rel(&self, path: &Path) -> Option<RelPath> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Some(parts.join("/"))
    }

    fn fd_path(&self, call: &Call) -> Option<(i32, PathBuf)> {
        match &call.fd {
            Some((fd, FdTarget::Path(path))) if path.starts_with(&self.root) => {
                Some((*fd, path.clone()))
            }
            _ => None,
        }
    }

    fn unsupported(&mut self, call: &Call, why: &str) {
        self.recording
            .unsupported
            .push(format!("{}: {why}", call.describe(&self.root)));
    }

    /// Whether the call is on a SQLite WAL index (by path or descriptor): coordination
    /// memory that no crash state keeps, so nothing of it is recorded.
    fn on_wal_index(&self, call: &Call) -> bool {
        let by_fd = matches!(&call.fd, Some((_, FdTarget::Path(p))) if is_wal_index(p));
        let by_path = matches!(call.kind, Kind::Open | Kind::Unlink | Kind::Truncate)
            && call.paths.first().is_some_and(|p| is_wal_index(p));
        by_fd || by_path
    }

    fn entry(&mut self, call: &Call) -> Option<Entry> {
        if self.on_wal_index(call) {
            return None;
        }
        let tid = call.tid;
        let path_rel = |i: usize| call.paths.get(i).and_then(|p| self.rel(p));
        match call.kind {
            Kind::Open => {
                let path = path_rel(0)?;
                let full = call.paths.first()?;
                Some(Entry::Open {
                    existed: std::fs::symlink_metadata(full).is_ok(),
                    truncate: call.open_flags & libc::O_TRUNC as u64 != 0,
                    path,
                })
            }
            Kind::Write => {
                let (fd, _) = self.fd_path(call)?;
                let (ino, meta) = self.ino_of_fd(tid, fd)?;
                // pwritev2's offset -1 (and RWF_APPEND) write at the file position.
                let explicit = match call.nr {
                    libc::SYS_pwrite64 | libc::SYS_pwritev => Some(call.args[3]),
                    libc::SYS_pwritev2
                        if call.args[3] != u64::MAX
                            && call.args[5] & libc::RWF_APPEND as u64 == 0 =>
                    {
                        Some(call.args[3])
                    }
                    _ => None,
                };
                let offset = match explicit {
                    Some(offset) => offset,
                    None if call.nr == libc::SYS_pwritev2
                        && call.args[5] & libc::RWF_APPEND as u64 != 0 =>
                    {
                        meta.len()
                    }
                    None => position(tid, fd, meta.len())?,
                };
                let data = match call.nr {
                    libc::SYS_write | libc::SYS_pwrite64 => {
                        let len = call.args[2] as usize;
                        if len > MAX_RECORDED_WRITE {
                            self.unsupported(call, "a write too large to record");
                            return None;
                        }
                        read_memory(tid, call.args[1], len)
                    }
                    _ => self.gather(call)?,
                };
                let end = offset.checked_add(data.len() as u64);
                self.recorded_bytes = self.recorded_bytes.saturating_add(data.len());
                if end.is_none_or(|end| end > MAX_MODELLED_FILE)
                    || self.recorded_bytes > MAX_RECORDED_TOTAL
                {
                    self.unsupported(call, "a write beyond what the crash states model");
                    return None;
                }
                Some(Entry::Op(FsOp::Write { ino, offset, data }))
            }
            Kind::Rename => {
                if call.nr == libc::SYS_renameat2
                    && call.args[4] & libc::RENAME_EXCHANGE as u64 != 0
                {
                    self.unsupported(call, "RENAME_EXCHANGE is not modelled");
                    return None;
                }
                match (path_rel(0), path_rel(1)) {
                    (Some(from), Some(to)) => {
                        let ino = self.ino_of(call.paths.first()?)?;
                        Some(Entry::Op(FsOp::Rename { from, to, ino }))
                    }
                    // Moved out of the store: for the store, a removal.
                    (Some(from), None) => Some(Entry::Op(FsOp::Remove { path: from })),
                    (None, Some(_)) => {
                        self.unsupported(
                            call,
                            "a file moved into the store from outside it (its writes were not recorded)",
                        );
                        None
                    }
                    (None, None) => None,
                }
            }
            Kind::Link => {
                let to = path_rel(1)?;
                // linkat(fd, "", AT_EMPTY_PATH) (an O_TMPFILE file) or a /proc/<pid>/fd link.
                let by_fd =
                    call.nr == libc::SYS_linkat && call.args[4] & libc::AT_EMPTY_PATH as u64 != 0;
                let source = call.paths.first()?;
                let ino = if by_fd {
                    self.ino_of_fd(tid, call.args[0] as i32).map(|(ino, _)| ino)
                } else if source.starts_with("/proc") {
                    let meta = std::fs::metadata(source).ok()?;
                    Some(self.ino(meta.dev(), meta.ino()))
                } else if source.starts_with(&self.root) {
                    self.ino_of(source)
                } else {
                    None
                };
                let Some(ino) = ino else {
                    self.unsupported(
                        call,
                        "a file linked into the store from outside it (its writes were not recorded)",
                    );
                    return None;
                };
                Some(Entry::Op(FsOp::Link { to, ino }))
            }
            Kind::Unlink | Kind::Rmdir => Some(Entry::Op(FsOp::Remove { path: path_rel(0)? })),
            Kind::Mkdir => Some(Entry::Mkdir { path: path_rel(0)? }),
            // sync_file_range makes nothing durable (no metadata, no barrier): not an fsync.
            Kind::Fsync if call.nr == libc::SYS_sync_file_range => None,
            Kind::Fsync => {
                let (fd, path) = self.fd_path(call)?;
                let (ino, meta) = self.ino_of_fd(tid, fd)?;
                Some(Entry::Op(if meta.is_dir() {
                    FsOp::SyncDir {
                        path: self.rel(&path)?,
                    }
                } else {
                    FsOp::SyncFile { ino }
                }))
            }
            Kind::SyncAll => Some(Entry::Op(FsOp::SyncAll)),
            Kind::Truncate | Kind::Ftruncate if call.args[1] > MAX_MODELLED_FILE => {
                self.unsupported(call, "a length beyond what the crash states model");
                None
            }
            Kind::Truncate => {
                let ino = self.ino_of(call.paths.first()?)?;
                Some(Entry::Op(FsOp::SetLen {
                    ino,
                    len: call.args[1],
                }))
            }
            Kind::Ftruncate => {
                let (fd, _) = self.fd_path(call)?;
                let (ino, _) = self.ino_of_fd(tid, fd)?;
                Some(Entry::Op(FsOp::SetLen {
                    ino,
                    len: call.args[1],
                }))
            }
            Kind::Symlink => {
                self.unsupported(call, "symlinks are not modelled");
                None
            }
            Kind::Mmap | Kind::Splice => {
                self.unsupported(call, "writes the tracer cannot see");
                None
            }
            Kind::Close
            | Kind::Flock
            | Kind::FcntlLock
            | Kind::Fallocate
            | Kind::Stat
            | Kind::List
            | Kind::Other => None,
        }
    }

    /// The bytes of a writev/pwritev: the iovec array, then each buffer.
    fn gather(&mut self, call: &Call) -> Option<Vec<u8>> {
        let count = (call.args[2] as usize).min(1024);
        let raw = read_memory(call.tid, call.args[1], count * 16);
        let mut data = Vec::new();
        for iov in raw.chunks_exact(16) {
            let base = u64::from_ne_bytes(iov[..8].try_into().ok()?);
            let len = u64::from_ne_bytes(iov[8..].try_into().ok()?) as usize;
            if data.len().saturating_add(len) > MAX_RECORDED_WRITE {
                self.unsupported(call, "a write too large to record");
                return None;
            }
            data.extend(read_memory(call.tid, base, len));
        }
        Some(data)
    }

    fn exit(&mut self, call: &Call, entry: Entry, ret: i64) {
        if ret < 0 {
            return;
        }
        let op = match entry {
            Entry::Open {
                path,
                existed,
                truncate,
            } => {
                let Ok(meta) = std::fs::metadata(format!("/proc/{}/fd/{ret}", call.tid)) else {
                    return;
                };
                if meta.is_dir() {
                    return;
                }
                if !existed {
                    let ino = self.fresh_ino(meta.dev(), meta.ino());
                    FsOp::Create {
                        path,
                        ino,
                        mode: meta.mode() & 0o7777,
                    }
                } else if truncate {
                    let ino = self.ino(meta.dev(), meta.ino());
                    FsOp::SetLen { ino, len: 0 }
                } else {
                    return;
                }
            }
            Entry::Op(FsOp::Write {
                ino,
                offset,
                mut data,
            }) => {
                data.truncate(ret as usize);
                FsOp::Write { ino, offset, data }
            }
            Entry::Mkdir { path } => {
                let Some(full) = call.paths.first() else {
                    return;
                };
                let Ok(meta) = std::fs::symlink_metadata(full) else {
                    return;
                };
                let ino = self.fresh_ino(meta.dev(), meta.ino());
                FsOp::Mkdir {
                    path,
                    ino,
                    mode: meta.mode() & 0o7777,
                }
            }
            Entry::Op(op) => op,
        };
        self.recording.ops.push(op);
    }
}

/// The file position of `fd` (the end of the file for an `O_APPEND` descriptor).
fn position(tid: Pid, fd: i32, len: u64) -> Option<u64> {
    let info = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .map(str::to_owned)
    };
    let flags = u64::from_str_radix(&field("flags:")?, 8).ok()?;
    if flags & libc::O_APPEND as u64 != 0 {
        return Some(len);
    }
    field("pos:")?.parse().ok()
}

impl Observer for Recorder {
    fn entry(&mut self, slot: usize, call: &Call) -> bool {
        let mut state = self.state();
        if slot != state.slot {
            return false;
        }
        match state.entry(call) {
            Some(entry) => {
                state.entries.insert(call.tid, entry);
                true
            }
            None => false,
        }
    }

    fn exit(&mut self, slot: usize, call: &Call, ret: i64) {
        let mut state = self.state();
        if slot != state.slot {
            return;
        }
        if let Some(entry) = state.entries.remove(&call.tid) {
            state.exit(call, entry, ret);
        }
    }

    fn replied(&mut self, slot: usize) {
        let mut state = self.state();
        if slot == state.slot && !state.acked {
            state.acked = true;
            state.recording.ops.push(FsOp::Ack);
        }
    }
}

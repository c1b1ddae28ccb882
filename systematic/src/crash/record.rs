//! The crash recorder: an [`Observer`] that turns the traced store calls of one actor, or of
//! every actor of a controlled race (whose calls the tracer releases one at a time, so their
//! order is the order they ran in), into the logical ops of [`super::ops`] (with the bytes
//! each write wrote), and the snapshot of the directory before them. Paths are relative to the recorded root (the round directory, so
//! the creation of the store directory itself is recorded too).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt as _;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, MetadataExt, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::libc;
use nix::unistd::Pid;

use super::ops::{FsOp, Ino, RelPath, Snapshot};
use crate::trace::{is_wal_index, read_memory, Call, FdTarget, Kind, Observer};
use keyrace_process::scratch::Area;

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
    /// The actor (tracer slot) of each op: `actors[i]` made `ops[i]`.
    pub actors: Vec<usize>,
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
    /// An `O_TMPFILE|O_EXCL` open: a nameless inode that can never be linked.
    Nameless,
    /// Known whole at entry; recorded if the call succeeds (a write keeps the bytes it wrote).
    Op(FsOp),
}

struct State {
    root: PathBuf,
    /// The actors recorded.
    slots: Vec<usize>,
    inos: HashMap<(u64, u64), Ino>,
    next_ino: Ino,
    recorded_bytes: usize,
    entries: HashMap<Pid, Entry>,
    /// Inodes no name can ever hold (`O_TMPFILE|O_EXCL`): what is done to them through a
    /// descriptor is in no crash state, so it is not recorded.
    nameless: HashSet<(u64, u64)>,
    recording: Recording,
    /// The actors whose reply to the current request was recorded.
    acked: Vec<usize>,
}

/// Records the store calls of the actors in `slots` under `root`.
#[derive(Clone)]
pub struct Recorder(Arc<Mutex<State>>);

impl Recorder {
    /// Start recording: snapshot the directory `area` (whose real path is `root`, as the
    /// tracee's calls name it), assigning an id to every inode in it.
    pub fn start(
        area: &Area,
        root: &Path,
        slots: &[usize],
    ) -> std::io::Result<(Recorder, Snapshot)> {
        let mut state = State {
            root: root.to_owned(),
            slots: slots.to_vec(),
            inos: HashMap::new(),
            next_ino: 0,
            recorded_bytes: 0,
            entries: HashMap::new(),
            nameless: HashSet::new(),
            recording: Recording::default(),
            acked: Vec::new(),
        };
        let mut snapshot = Snapshot::default();
        state.snapshot(area.dir(), "", &mut snapshot)?;
        Ok((Recorder(Arc::new(Mutex::new(state))), snapshot))
    }

    /// The next request (of each actor) of a recording of several begins: its reply is
    /// acknowledged again.
    pub fn next_request(&self) {
        self.state().acked.clear();
    }

    /// Stop and take what was recorded.
    pub fn finish(&self) -> Recording {
        std::mem::take(&mut self.state().recording)
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
        self.nameless.remove(&(dev, ino));
        id
    }

    fn ino_of(&mut self, path: &Path) -> Option<Ino> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(self.ino(meta.dev(), meta.ino()))
    }

    fn ino_of_fd(&mut self, tid: Pid, fd: i32) -> Option<(Ino, std::fs::Metadata)> {
        let meta = std::fs::metadata(format!("/proc/{tid}/fd/{fd}")).ok()?;
        if self.nameless.contains(&(meta.dev(), meta.ino())) {
            return None;
        }
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

    /// What `call` changes of the store, as the crash states replay it; `None` for a call
    /// that changes nothing they model (or that is recorded as unsupported).
    fn entry(&mut self, call: &Call) -> Option<Entry> {
        if self.on_wal_index(call) {
            return None;
        }
        let tid = call.tid;
        match call.kind {
            Kind::Open => self.open_entry(call),
            Kind::Write => self.write_entry(call),
            Kind::Rename => self.rename_entry(call),
            Kind::Link => self.link_entry(call),
            Kind::Unlink | Kind::Rmdir => Some(Entry::Op(FsOp::Remove {
                path: self.path_rel(call, 0)?,
            })),
            Kind::Mkdir => Some(Entry::Mkdir {
                path: self.path_rel(call, 0)?,
            }),
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

    /// The store-relative path of `call`'s `i`th path argument, if it is in the store.
    fn path_rel(&self, call: &Call, i: usize) -> Option<RelPath> {
        call.paths.get(i).and_then(|p| self.rel(p))
    }

    /// An open: whether it created the file or truncated it.
    fn open_entry(&mut self, call: &Call) -> Option<Entry> {
        let path = self.path_rel(call, 0)?;
        let tmpfile = libc::O_TMPFILE as u64;
        if call.open_flags & tmpfile == tmpfile && call.open_flags & libc::O_EXCL as u64 != 0 {
            // A nameless inode that can never be linked (O_EXCL): nothing done to it reaches
            // the store's names (filelock probes flock support with one). Its descriptor is
            // learnt at the exit, so that its writes and syncs are not recorded either.
            return Some(Entry::Nameless);
        }
        if call.open_flags & tmpfile == tmpfile {
            // A nameless inode: its writes and its later link would name an inode no
            // create introduced, and every crash state would lose the file.
            self.unsupported(call, "O_TMPFILE files are not modelled");
            return None;
        }
        let full = call.paths.first()?;
        Some(Entry::Open {
            existed: std::fs::symlink_metadata(full).is_ok(),
            truncate: call.open_flags & libc::O_TRUNC as u64 != 0,
            path,
        })
    }

    /// A write's bytes and where they land.
    fn write_entry(&mut self, call: &Call) -> Option<Entry> {
        let tid = call.tid;
        let (fd, _) = self.fd_path(call)?;
        let (ino, meta) = self.ino_of_fd(tid, fd)?;
        // pwritev2's offset -1 (and RWF_APPEND) write at the file position.
        let explicit = match call.nr {
            libc::SYS_pwrite64 | libc::SYS_pwritev => Some(call.args[3]),
            libc::SYS_pwritev2
                if call.args[3] != u64::MAX && call.args[5] & libc::RWF_APPEND as u64 == 0 =>
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
        if end.is_none_or(|end| end > MAX_MODELLED_FILE) || self.recorded_bytes > MAX_RECORDED_TOTAL
        {
            self.unsupported(call, "a write beyond what the crash states model");
            return None;
        }
        Some(Entry::Op(FsOp::Write { ino, offset, data }))
    }

    /// A rename within the store, or out of it (a removal).
    fn rename_entry(&mut self, call: &Call) -> Option<Entry> {
        if call.nr == libc::SYS_renameat2 && call.args[4] & libc::RENAME_EXCHANGE as u64 != 0 {
            self.unsupported(call, "RENAME_EXCHANGE is not modelled");
            return None;
        }
        match (self.path_rel(call, 0), self.path_rel(call, 1)) {
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

    /// A hard link into the store, of a file whose writes were recorded.
    fn link_entry(&mut self, call: &Call) -> Option<Entry> {
        let tid = call.tid;
        let to = self.path_rel(call, 1)?;
        // linkat(fd, "", AT_EMPTY_PATH) (an O_TMPFILE file) or a /proc/<pid>/fd link.
        let by_fd = call.nr == libc::SYS_linkat && call.args[4] & libc::AT_EMPTY_PATH as u64 != 0;
        let source = call.paths.first()?;
        let ino = if by_fd {
            self.ino_of_fd(tid, call.args[0] as i32).map(|(ino, _)| ino)
        } else if source.starts_with("/proc") {
            let meta = std::fs::metadata(source).ok()?;
            Some(self.ino(meta.dev(), meta.ino()))
        } else if source.starts_with(&self.root) {
            // A source that is not there fails the call: nothing to record.
            Some(self.ino_of(source)?)
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

    fn exit(&mut self, slot: usize, call: &Call, entry: Entry, ret: i64) {
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
            Entry::Nameless => {
                if let Ok(meta) = std::fs::metadata(format!("/proc/{}/fd/{ret}", call.tid)) {
                    self.nameless.insert((meta.dev(), meta.ino()));
                }
                return;
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
        self.push(slot, op);
    }

    fn push(&mut self, slot: usize, op: FsOp) {
        self.recording.ops.push(op);
        self.recording.actors.push(slot);
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
        if !state.slots.contains(&slot) {
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
        if !state.slots.contains(&slot) {
            return;
        }
        if let Some(entry) = state.entries.remove(&call.tid) {
            state.exit(slot, call, entry, ret);
        }
    }

    fn replied(&mut self, slot: usize) {
        let mut state = self.state();
        if state.slots.contains(&slot) && !state.acked.contains(&slot) {
            state.acked.push(slot);
            state.push(slot, FsOp::Ack);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyrace_process::scratch::Scratch;
    use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, CWD};
    use std::os::fd::{AsRawFd, OwnedFd};

    const SLOT: usize = 1;

    /// One call of the writer, made for real by this process. Paths are relative to the
    /// recorded root (`../outside/...` is a directory beside it); a descriptor is named by
    /// the path it was opened with.
    #[derive(Clone, Copy)]
    enum Sys {
        Open(&'static str, OFlags),
        Write(&'static str, &'static [u8]),
        Pwrite(&'static str, &'static [u8], u64),
        Pwritev(&'static str, &'static [&'static [u8]], u64),
        Ftruncate(&'static str, u64),
        Truncate(&'static str, u64),
        Renameat2(&'static str, &'static str, RenameFlags),
        Linkat(&'static str, &'static str),
        /// linkat("/proc/self/fd/N", to, AT_SYMLINK_FOLLOW) of the descriptor.
        LinkFd(&'static str, &'static str),
        Unlink(&'static str),
        Mkdir(&'static str),
        Rmdir(&'static str),
        Fsync(&'static str),
        Fdatasync(&'static str),
        SyncFileRange(&'static str),
        Syncfs(&'static str),
        Close(&'static str),
        Reply,
    }
    use Sys::*;

    struct Rig {
        _scratch: Scratch,
        root: PathBuf,
        recorder: Recorder,
        fds: HashMap<&'static str, OwnedFd>,
    }

    /// Every case starts from this store: one file, `old` (id 0), and `../outside/y`.
    const OLD: &[u8] = b"old data";

    fn rig() -> (Rig, Snapshot) {
        let scratch = Scratch::create().unwrap();
        let round = scratch.area().create("round", 0o700).unwrap();
        scratch.area().create("outside", 0o700).unwrap();
        round.write_new("old", OLD).unwrap();
        scratch.area().write_new("outside/y", b"y").unwrap();
        let root = std::fs::canonicalize(round.path()).unwrap();
        let (recorder, snapshot) = Recorder::start(&round, &root, &[SLOT]).unwrap();
        let rig = Rig {
            _scratch: scratch,
            root,
            recorder,
            fds: HashMap::new(),
        };
        (rig, snapshot)
    }

    impl Rig {
        /// Absolute and lexically normal, as the tracer names paths.
        fn abs(&self, rel: &str) -> PathBuf {
            crate::trace::normalise(&self.root.join(rel))
        }

        fn fd(&self, name: &str) -> &OwnedFd {
            &self.fds[name]
        }

        fn call(&self, nr: i64, kind: Kind, args: [u64; 6], paths: &[&str]) -> Call {
            Call {
                tid: Pid::this(),
                nr,
                kind,
                args,
                paths: paths.iter().map(|p| self.abs(p)).collect(),
                fd: None,
                open_flags: 0,
                lock: None,
            }
        }

        fn on_fd(&self, nr: i64, kind: Kind, name: &str, rest: [u64; 5]) -> Call {
            let fd = self.fd(name).as_raw_fd();
            let [a1, a2, a3, a4, a5] = rest;
            Call {
                fd: Some((fd, FdTarget::Path(self.abs(name)))),
                ..self.call(nr, kind, [fd as u64, a1, a2, a3, a4, a5], &[])
            }
        }

        fn decode(&self, sys: Sys, iovecs: &[[u64; 2]]) -> Call {
            let at = libc::AT_FDCWD as u64;
            match sys {
                Open(path, flags) => Call {
                    open_flags: u64::from(flags.bits()),
                    ..self.call(libc::SYS_openat, Kind::Open, [at, 0, 0, 0, 0, 0], &[path])
                },
                Write(name, data) => self.on_fd(
                    libc::SYS_write,
                    Kind::Write,
                    name,
                    [data.as_ptr() as u64, data.len() as u64, 0, 0, 0],
                ),
                Pwrite(name, data, offset) => self.on_fd(
                    libc::SYS_pwrite64,
                    Kind::Write,
                    name,
                    [data.as_ptr() as u64, data.len() as u64, offset, 0, 0],
                ),
                Pwritev(name, _, offset) => self.on_fd(
                    libc::SYS_pwritev,
                    Kind::Write,
                    name,
                    [iovecs.as_ptr() as u64, iovecs.len() as u64, offset, 0, 0],
                ),
                Ftruncate(name, len) => self.on_fd(
                    libc::SYS_ftruncate,
                    Kind::Ftruncate,
                    name,
                    [len, 0, 0, 0, 0],
                ),
                Truncate(path, len) => self.call(
                    libc::SYS_truncate,
                    Kind::Truncate,
                    [0, len, 0, 0, 0, 0],
                    &[path],
                ),
                Renameat2(from, to, flags) => self.call(
                    libc::SYS_renameat2,
                    Kind::Rename,
                    [at, 0, at, 0, u64::from(flags.bits()), 0],
                    &[from, to],
                ),
                Linkat(from, to) => self.call(
                    libc::SYS_linkat,
                    Kind::Link,
                    [at, 0, at, 0, 0, 0],
                    &[from, to],
                ),
                LinkFd(name, to) => {
                    let flags = libc::AT_SYMLINK_FOLLOW as u64;
                    Call {
                        paths: vec![
                            PathBuf::from(format!(
                                "/proc/{}/fd/{}",
                                Pid::this(),
                                self.fd(name).as_raw_fd()
                            )),
                            self.abs(to),
                        ],
                        ..self.call(libc::SYS_linkat, Kind::Link, [at, 0, at, 0, flags, 0], &[])
                    }
                }
                Unlink(path) => self.call(libc::SYS_unlink, Kind::Unlink, [0; 6], &[path]),
                Mkdir(path) => self.call(libc::SYS_mkdir, Kind::Mkdir, [0; 6], &[path]),
                Rmdir(path) => self.call(libc::SYS_rmdir, Kind::Rmdir, [0; 6], &[path]),
                Fsync(name) => self.on_fd(libc::SYS_fsync, Kind::Fsync, name, [0; 5]),
                Fdatasync(name) => self.on_fd(libc::SYS_fdatasync, Kind::Fsync, name, [0; 5]),
                SyncFileRange(name) => {
                    self.on_fd(libc::SYS_sync_file_range, Kind::Fsync, name, [0; 5])
                }
                Syncfs(name) => Call {
                    fd: None,
                    ..self.on_fd(libc::SYS_syncfs, Kind::SyncAll, name, [0; 5])
                },
                Close(name) => self.on_fd(libc::SYS_close, Kind::Close, name, [0; 5]),
                Reply => unreachable!("not a call"),
            }
        }

        /// The call's result, as the kernel returns it.
        fn perform(&mut self, sys: Sys) -> i64 {
            let done = |r: rustix::io::Result<()>| r.map(|()| 0);
            let result = match sys {
                Open(path, flags) => {
                    rustix::fs::openat(CWD, self.abs(path), flags, Mode::from_raw_mode(0o600)).map(
                        |fd| {
                            let raw = fd.as_raw_fd() as i64;
                            self.fds.insert(path, fd);
                            raw
                        },
                    )
                }
                Write(name, data) => rustix::io::write(self.fd(name), data).map(|n| n as i64),
                Pwrite(name, data, offset) => {
                    rustix::io::pwrite(self.fd(name), data, offset).map(|n| n as i64)
                }
                Pwritev(name, bufs, offset) => {
                    let slices: Vec<_> = bufs.iter().map(|b| std::io::IoSlice::new(b)).collect();
                    rustix::io::pwritev(self.fd(name), &slices, offset).map(|n| n as i64)
                }
                Ftruncate(name, len) => done(rustix::fs::ftruncate(self.fd(name), len)),
                Truncate(path, len) => {
                    return match std::fs::File::options().write(true).open(self.abs(path)) {
                        Ok(file) => file.set_len(len).map_or(-1, |()| 0),
                        Err(e) => -i64::from(e.raw_os_error().unwrap_or(libc::EIO)),
                    }
                }
                Renameat2(from, to, flags) => done(rustix::fs::renameat_with(
                    CWD,
                    self.abs(from),
                    CWD,
                    self.abs(to),
                    flags,
                )),
                Linkat(from, to) => done(rustix::fs::linkat(
                    CWD,
                    self.abs(from),
                    CWD,
                    self.abs(to),
                    AtFlags::empty(),
                )),
                LinkFd(name, to) => done(rustix::fs::linkat(
                    CWD,
                    format!("/proc/self/fd/{}", self.fd(name).as_raw_fd()),
                    CWD,
                    self.abs(to),
                    AtFlags::SYMLINK_FOLLOW,
                )),
                Unlink(path) => done(rustix::fs::unlinkat(CWD, self.abs(path), AtFlags::empty())),
                Mkdir(path) => done(rustix::fs::mkdirat(
                    CWD,
                    self.abs(path),
                    Mode::from_raw_mode(0o700),
                )),
                Rmdir(path) => done(rustix::fs::unlinkat(
                    CWD,
                    self.abs(path),
                    AtFlags::REMOVEDIR,
                )),
                Fsync(name) => done(rustix::fs::fsync(self.fd(name))),
                Fdatasync(name) | SyncFileRange(name) => done(rustix::fs::fdatasync(self.fd(name))),
                Syncfs(name) => done(rustix::fs::syncfs(self.fd(name))),
                Close(name) => {
                    self.fds.remove(name);
                    Ok(0)
                }
                Reply => unreachable!("not a call"),
            };
            result.unwrap_or_else(|e| -i64::from(e.raw_os_error()))
        }

        /// As the tracer does: entry, the call itself, exit if the observer asked for it.
        fn run(&mut self, sys: Sys) {
            if let Reply = sys {
                self.recorder.replied(SLOT);
                return;
            }
            let iovecs: Vec<[u64; 2]> = match sys {
                Pwritev(_, bufs, _) => bufs
                    .iter()
                    .map(|b| [b.as_ptr() as u64, b.len() as u64])
                    .collect(),
                _ => Vec::new(),
            };
            let call = self.decode(sys, &iovecs);
            let wants_exit = self.recorder.entry(SLOT, &call);
            let ret = self.perform(sys);
            if wants_exit {
                self.recorder.exit(SLOT, &call, ret);
            }
        }
    }

    fn create(path: &str, ino: Ino) -> FsOp {
        FsOp::Create {
            path: path.into(),
            ino,
            mode: 0o600,
        }
    }

    fn write(ino: Ino, offset: u64, data: &[u8]) -> FsOp {
        FsOp::Write {
            ino,
            offset,
            data: data.to_vec(),
        }
    }

    fn remove(path: &str) -> FsOp {
        FsOp::Remove { path: path.into() }
    }

    struct Case {
        name: &'static str,
        calls: Vec<Sys>,
        ops: Vec<FsOp>,
        /// Why each unsupported call was not modelled.
        unsupported: &'static [&'static str],
    }

    fn cases() -> Vec<Case> {
        let mut cases = file_and_directory_cases();
        cases.extend(link_rename_and_unmodelled_cases());
        cases
    }

    /// Files written, replaced, truncated and synced, and directories made and removed.
    fn file_and_directory_cases() -> Vec<Case> {
        let w = OFlags::WRONLY;
        let new = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL;
        let dir = OFlags::RDONLY | OFlags::DIRECTORY;
        vec![
            Case {
                name: "atomic replace: temp file, write, fsync, rename over, fsync dir, reply",
                calls: vec![
                    Open("tmp", new),
                    Write("tmp", b"new"),
                    Write("tmp", b"er"),
                    Fsync("tmp"),
                    Close("tmp"),
                    Renameat2("tmp", "old", RenameFlags::empty()),
                    Open(".", dir),
                    Fsync("."),
                    Reply,
                    Reply,
                ],
                ops: vec![
                    create("tmp", 1),
                    write(1, 0, b"new"),
                    write(1, 3, b"er"),
                    FsOp::SyncFile { ino: 1 },
                    FsOp::Rename {
                        from: "tmp".into(),
                        to: "old".into(),
                        ino: 1,
                    },
                    FsOp::SyncDir { path: "".into() },
                    FsOp::Ack,
                ],
                unsupported: &[],
            },
            Case {
                name: "O_TRUNC of an existing file, pwrite, ftruncate, truncate, fdatasync",
                calls: vec![
                    Open("old", w | OFlags::TRUNC),
                    Pwrite("old", b"abc", 5),
                    Ftruncate("old", 2),
                    Fdatasync("old"),
                    // Neither reopening an existing file nor creating one with O_TRUNC sets a
                    // length.
                    Open("old", OFlags::RDONLY),
                    Open("new", w | OFlags::CREATE | OFlags::TRUNC),
                    Truncate("new", 4),
                ],
                ops: vec![
                    FsOp::SetLen { ino: 0, len: 0 },
                    write(0, 5, b"abc"),
                    FsOp::SetLen { ino: 0, len: 2 },
                    FsOp::SyncFile { ino: 0 },
                    create("new", 1),
                    FsOp::SetLen { ino: 1, len: 4 },
                ],
                unsupported: &[],
            },
            Case {
                name: "O_APPEND writes at the end, pwritev gathers its buffers",
                calls: vec![
                    Open("old", w | OFlags::APPEND),
                    Write("old", b"+"),
                    Pwritev("old", &[b"ab", b"", b"cd"], 1),
                ],
                ops: vec![write(0, 8, b"+"), write(0, 1, b"abcd")],
                unsupported: &[],
            },
            Case {
                name: "directories: mkdir, a file in it, fsync of both, unlink, rmdir",
                calls: vec![
                    Mkdir("d"),
                    Open("d/f", new),
                    Open("d", dir),
                    Fsync("d/f"),
                    Fsync("d"),
                    Unlink("d/f"),
                    Rmdir("d"),
                    Open("old", OFlags::RDONLY),
                    SyncFileRange("old"),
                    Syncfs("old"),
                ],
                ops: vec![
                    FsOp::Mkdir {
                        path: "d".into(),
                        ino: 1,
                        mode: 0o700,
                    },
                    create("d/f", 2),
                    FsOp::SyncFile { ino: 2 },
                    FsOp::SyncDir { path: "d".into() },
                    remove("d/f"),
                    remove("d"),
                    FsOp::SyncAll,
                ],
                unsupported: &[],
            },
        ]
    }

    /// Links and renames, and the calls the crash states do not model (or that change nothing).
    fn link_rename_and_unmodelled_cases() -> Vec<Case> {
        let w = OFlags::WRONLY;
        let new = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL;
        let plain = RenameFlags::empty();
        vec![
            Case {
                name: "links by name and through /proc/self/fd; a reused inode is a new file; a \
                       link of nothing fails and is no op",
                calls: vec![
                    Linkat("missing", "nowhere"),
                    Linkat("old", "hard"),
                    Open("a", new),
                    LinkFd("a", "b"),
                    Unlink("a"),
                    Unlink("b"),
                    Close("a"),
                    Open("c", new),
                ],
                ops: vec![
                    FsOp::Link {
                        to: "hard".into(),
                        ino: 0,
                    },
                    create("a", 1),
                    FsOp::Link {
                        to: "b".into(),
                        ino: 1,
                    },
                    remove("a"),
                    remove("b"),
                    create("c", 2),
                ],
                unsupported: &[],
            },
            Case {
                name: "renameat2: NOREPLACE is a rename, EXCHANGE and moves in are not modelled",
                calls: vec![
                    Renameat2("old", "kept", RenameFlags::NOREPLACE),
                    Open("other", new),
                    Renameat2("kept", "other", RenameFlags::EXCHANGE),
                    Renameat2("../outside/y", "in", plain),
                    Linkat("../outside/in", "linked-in"),
                    Renameat2("kept", "../outside/gone", plain),
                ],
                ops: vec![
                    FsOp::Rename {
                        from: "old".into(),
                        to: "kept".into(),
                        ino: 0,
                    },
                    create("other", 1),
                    // Moved out of the store: for the store, a removal.
                    remove("kept"),
                ],
                unsupported: &[
                    "RENAME_EXCHANGE is not modelled",
                    "a file moved into the store from outside it (its writes were not recorded)",
                    "a file linked into the store from outside it (its writes were not recorded)",
                ],
            },
            Case {
                name: "an O_TMPFILE file is not modelled",
                calls: vec![Open(".", OFlags::WRONLY | OFlags::TMPFILE)],
                ops: vec![],
                unsupported: &["O_TMPFILE files are not modelled"],
            },
            Case {
                name: "an O_TMPFILE file that can never be linked changes nothing",
                calls: vec![
                    Open(".", OFlags::RDWR | OFlags::TMPFILE | OFlags::EXCL),
                    Write(".", b"probe"),
                    Ftruncate(".", 1),
                    Fsync("."),
                    Close("."),
                ],
                ops: vec![],
                unsupported: &[],
            },
            Case {
                name: "failed calls change nothing",
                calls: vec![
                    Unlink("missing"),
                    Open("old", new),
                    Mkdir("old"),
                    Open("old", OFlags::RDONLY),
                    Write("old", b"x"),
                    Renameat2("missing", "x", plain),
                ],
                ops: vec![],
                unsupported: &[],
            },
            Case {
                name: "lengths and writes past the modelled file size are not modelled",
                calls: vec![
                    Open("old", w),
                    Ftruncate("old", MAX_MODELLED_FILE + 1),
                    Pwrite("old", b"x", MAX_MODELLED_FILE),
                ],
                ops: vec![],
                unsupported: &[
                    "a length beyond what the crash states model",
                    "a write beyond what the crash states model",
                ],
            },
        ]
    }

    #[test]
    fn calls_become_logical_operations() {
        for case in cases() {
            let (mut rig, _) = rig();
            for sys in case.calls {
                rig.run(sys);
            }
            let recording = rig.recorder.finish();
            assert_eq!(recording.ops, case.ops, "{}", case.name);
            let reasons: Vec<&str> = recording
                .unsupported
                .iter()
                .map(|u| u.rsplit_once(": ").map_or(u.as_str(), |(_, why)| why))
                .collect();
            assert_eq!(reasons, case.unsupported, "{}", case.name);
        }
    }

    #[test]
    fn the_snapshot_numbers_existing_files_in_name_order() {
        let scratch = Scratch::create().unwrap();
        let round = scratch.area().create("round", 0o700).unwrap();
        round.create("d", 0o750).unwrap();
        round.write_new("d/z", b"zz").unwrap();
        round.write_new("a", b"A").unwrap();
        round.write_new("old", OLD).unwrap();
        let root = std::fs::canonicalize(round.path()).unwrap();
        let (_, snapshot) = Recorder::start(&round, &root, &[SLOT]).unwrap();
        assert_eq!(snapshot.dirs, [("d".to_owned(), 0o750)]);
        assert_eq!(
            snapshot.files,
            [
                ("a".to_owned(), 0, 0o600, b"A".to_vec()),
                ("d/z".to_owned(), 1, 0o600, b"zz".to_vec()),
                ("old".to_owned(), 2, 0o600, OLD.to_vec()),
            ]
        );
    }

    #[test]
    fn only_the_recorded_actor_is_recorded() {
        let (mut rig, _) = rig();
        let call = rig.decode(Unlink("old"), &[]);
        assert!(!rig.recorder.entry(SLOT + 1, &call));
        rig.recorder.replied(SLOT + 1);
        assert!(rig.recorder.entry(SLOT, &call));
        // Another actor's exit does not complete this actor's entry.
        rig.recorder.exit(SLOT + 1, &call, 0);
        assert!(rig.recorder.finish().ops.is_empty());
        rig.recorder.exit(SLOT, &call, 0);
        assert_eq!(rig.recorder.finish().ops, [remove("old")]);
    }
}

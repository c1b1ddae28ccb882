//! The [`Fs`] calls of [`SimFs`]: each one a single step under the filesystem's lock, traced
//! and subject to the crash gate and injected faults ([`SimFs::op`]).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use keyrace_core::{DirEntry, Fs, Metadata};

use super::tree::{error, Ino, Node};
use super::{CallKind, SimFile, SimFs, State, SIM_UID};

fn handle_desc(h: &(u64, Ino, u64)) -> String {
    format!("handle #{}", h.0)
}

/// Symlinks [`SimFs::open_truncate`] follows at the final name before giving up (`ELOOP`).
const MAX_FINAL_SYMLINK_HOPS: usize = 8;

fn open_truncate_at(state: &mut State, path: &Path, mode: u32, hops: usize) -> io::Result<Ino> {
    let Some(ino) = state.tree.lookup(path)? else {
        return create_file(state, path, mode);
    };
    match state.tree.node_mut(ino) {
        Node::File { data, .. } => {
            data.clear();
            Ok(ino)
        }
        Node::Symlink { target } if hops < MAX_FINAL_SYMLINK_HOPS => {
            let target = target.clone();
            open_truncate_at(state, &target, mode, hops + 1)
        }
        Node::Symlink { .. } => Err(error(
            io::ErrorKind::Other,
            path,
            "too many levels of symbolic links",
        )),
        Node::Dir { .. } => Err(error(io::ErrorKind::IsADirectory, path, "not a file")),
    }
}

fn create_file(state: &mut State, path: &Path, mode: u32) -> io::Result<Ino> {
    let (dir, name) = state.tree.resolve_parent(path)?;
    let ino = state.tree.alloc(Node::File {
        data: Vec::new(),
        durable: Vec::new(),
        mode,
    });
    state.tree.entries_mut(dir).insert(name, ino);
    Ok(ino)
}

impl Fs for SimFs {
    type File = SimFile;

    /// Like the real call, follows a symlink at `path` and creates a missing target.
    fn open_truncate(&self, path: &Path, mode: u32) -> io::Result<SimFile> {
        let handle = self.op(CallKind::OpenTruncate, path, None, handle_desc, |state| {
            let ino = open_truncate_at(state, path, mode, 0)?;
            Ok((state.open_handle(ino), ino, state.generation))
        })?;
        Ok(SimFile::new(self, handle, path))
    }

    fn create_new(&self, path: &Path, mode: u32) -> io::Result<SimFile> {
        let handle = self.op(CallKind::CreateNew, path, None, handle_desc, |state| {
            if state.tree.lookup(path)?.is_some() {
                return Err(error(io::ErrorKind::AlreadyExists, path, "file exists"));
            }
            let ino = create_file(state, path, mode)?;
            Ok((state.open_handle(ino), ino, state.generation))
        })?;
        Ok(SimFile::new(self, handle, path))
    }

    fn open_read(&self, path: &Path) -> io::Result<SimFile> {
        let handle = self.op(CallKind::OpenRead, path, None, handle_desc, |state| {
            let ino = state.tree.lookup_existing(path)?;
            match state.tree.node(ino) {
                Node::File { .. } => Ok((state.open_handle(ino), ino, state.generation)),
                Node::Dir { .. } => Err(error(io::ErrorKind::IsADirectory, path, "a directory")),
                // O_NOFOLLOW on a final symlink: ELOOP.
                Node::Symlink { .. } => Err(error(
                    io::ErrorKind::Other,
                    path,
                    "is a symbolic link (O_NOFOLLOW)",
                )),
            }
        })?;
        Ok(SimFile::new(self, handle, path))
    }

    fn link_noreplace(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.op(
            CallKind::Link,
            from,
            Some(to),
            |_| "ok".into(),
            |state| {
                let ino = state.tree.lookup_existing(from)?;
                if !matches!(state.tree.node(ino), Node::File { .. }) {
                    return Err(error(io::ErrorKind::PermissionDenied, from, "not a file"));
                }
                let (dir, name) = state.tree.resolve_parent(to)?;
                if state.tree.lookup(to)?.is_some() {
                    return Err(error(io::ErrorKind::AlreadyExists, to, "file exists"));
                }
                state.tree.entries_mut(dir).insert(name, ino);
                Ok(())
            },
        )
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.op(
            CallKind::Rename,
            from,
            Some(to),
            |_| "ok".into(),
            |state| {
                let ino = state.tree.lookup_existing(from)?;
                let (to_dir, to_name) = state.tree.resolve_parent(to)?;
                state.check_not_open(ino, from)?;
                if let Some(old) = state.tree.lookup(to)? {
                    if old == ino {
                        return Ok(());
                    }
                    state.check_not_open(old, to)?;
                    match (state.tree.node(ino), state.tree.node(old)) {
                        (Node::Dir { .. }, Node::Dir { entries, .. }) if !entries.is_empty() => {
                            return Err(error(io::ErrorKind::DirectoryNotEmpty, to, "not empty"))
                        }
                        (Node::Dir { .. }, Node::Dir { .. }) => {}
                        (_, Node::Dir { .. }) => {
                            return Err(error(io::ErrorKind::IsADirectory, to, "a directory"))
                        }
                        (Node::Dir { .. }, _) => {
                            return Err(error(io::ErrorKind::NotADirectory, to, "not a directory"))
                        }
                        _ => {}
                    }
                }
                let (from_dir, from_name) = state.tree.resolve_parent(from)?;
                state.tree.entries_mut(from_dir).remove(&from_name);
                state.tree.entries_mut(to_dir).insert(to_name, ino);
                Ok(())
            },
        )
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.op(
            CallKind::RemoveFile,
            path,
            None,
            |_| "ok".into(),
            |state| {
                let ino = state.tree.lookup_existing(path)?;
                if matches!(state.tree.node(ino), Node::Dir { .. }) {
                    return Err(error(io::ErrorKind::IsADirectory, path, "a directory"));
                }
                state.check_not_open(ino, path)?;
                let (dir, name) = state.tree.resolve_parent(path)?;
                state.tree.entries_mut(dir).remove(&name);
                Ok(())
            },
        )
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        self.op(
            CallKind::RemoveDir,
            path,
            None,
            |_| "ok".into(),
            |state| {
                let ino = state.tree.lookup_existing(path)?;
                match state.tree.node(ino) {
                    Node::Dir { entries, .. } if entries.is_empty() => {}
                    Node::Dir { .. } => {
                        return Err(error(io::ErrorKind::DirectoryNotEmpty, path, "not empty"))
                    }
                    _ => return Err(error(io::ErrorKind::NotADirectory, path, "not a directory")),
                }
                state.check_not_open(ino, path)?;
                let (dir, name) = state.tree.resolve_parent(path)?;
                state.tree.entries_mut(dir).remove(&name);
                Ok(())
            },
        )
    }

    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        self.op(
            CallKind::CreateDir,
            path,
            None,
            |_| "ok".into(),
            |state| {
                let (dir, name) = state.tree.resolve_parent(path)?;
                if state.tree.lookup(path)?.is_some() {
                    return Err(error(io::ErrorKind::AlreadyExists, path, "exists"));
                }
                let ino = state.tree.alloc(Node::Dir {
                    entries: BTreeMap::new(),
                    durable: BTreeMap::new(),
                    mode,
                });
                state.tree.entries_mut(dir).insert(name, ino);
                Ok(())
            },
        )
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let describe = |entries: &Vec<DirEntry>| format!("{} entries", entries.len());
        self.op(CallKind::ReadDir, path, None, describe, |state| {
            let ino = state.tree.lookup_existing(path)?;
            let Node::Dir { entries, .. } = state.tree.node(ino) else {
                return Err(error(io::ErrorKind::NotADirectory, path, "not a directory"));
            };
            Ok(entries
                .iter()
                .map(|(name, child)| DirEntry {
                    name: name.clone(),
                    kind: state.tree.node(*child).kind(),
                })
                .collect())
        })
    }

    fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata> {
        let describe = |m: &Metadata| format!("{:?}, {} bytes", m.kind, m.len);
        self.op(CallKind::Lstat, path, None, describe, |state| {
            let ino = state.tree.lookup_existing(path)?;
            Ok(state.tree.metadata(ino, SIM_UID))
        })
    }

    fn process_uid(&self) -> Option<u32> {
        Some(SIM_UID)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.op(
            CallKind::SyncDir,
            path,
            None,
            |_| "ok".into(),
            |state| {
                let ino = state.tree.lookup_existing(path)?;
                match state.tree.node_mut(ino) {
                    Node::Dir {
                        entries, durable, ..
                    } => {
                        *durable = entries.clone();
                        Ok(())
                    }
                    _ => Err(error(io::ErrorKind::NotADirectory, path, "not a directory")),
                }
            },
        )
    }
}

//! The in-memory file tree of SimFs: inodes, path resolution, and the crash model.
//!
//! # Crash model (ALICE-style, documented because the models rely on it)
//!
//! - A file has **current** content and **durable** content. `fsync` of a handle makes the
//!   current content durable.
//! - A directory has **current** entries and **durable** entries. `fsync_dir` makes the current
//!   entries durable (names created, linked, renamed or removed in it).
//! - A crash keeps only durable state: every directory's entries revert to its durable entries
//!   and every file's content to its durable content ([`CrashMode::DurableOnly`]), or, for
//!   files whose content was changed but not synced, to zero length
//!   ([`CrashMode::ZeroPending`], the ext4 "zero-length file after crash" state). Inodes no
//!   longer reachable from the root are freed; every open handle is invalidated.
//! - A new directory is itself a name in its parent: it survives only once the parent is synced.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use keyrace_core::{FileKind, Metadata};

pub type Ino = u64;

pub const ROOT: Ino = 0;

/// What a crash does to file content that was written but not synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Unsynced content reverts to the last synced content.
    DurableOnly,
    /// Unsynced content is lost entirely: the file is empty after the crash.
    ZeroPending,
}

impl CrashMode {
    pub const ALL: [CrashMode; 2] = [CrashMode::DurableOnly, CrashMode::ZeroPending];
}

#[derive(Debug, Clone)]
pub enum Node {
    File {
        data: Vec<u8>,
        durable: Vec<u8>,
        mode: u32,
    },
    Dir {
        entries: BTreeMap<OsString, Ino>,
        durable: BTreeMap<OsString, Ino>,
        mode: u32,
    },
    Symlink {
        target: PathBuf,
    },
}

impl Node {
    pub fn kind(&self) -> FileKind {
        match self {
            Node::File { .. } => FileKind::File,
            Node::Dir { .. } => FileKind::Dir,
            Node::Symlink { .. } => FileKind::Symlink,
        }
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

pub fn error(kind: io::ErrorKind, path: &Path, what: &str) -> io::Error {
    io::Error::new(kind, format!("{}: {what}", path.display()))
}

/// The file tree. Holds no locks: [`super::SimFs`] serializes access.
#[derive(Debug, Clone)]
pub struct Tree {
    pub nodes: BTreeMap<Ino, Node>,
    next: Ino,
}

/// Symlinks followed in the middle of a path before giving up (`ELOOP`).
const MAX_SYMLINK_HOPS: usize = 8;

impl Default for Tree {
    fn default() -> Tree {
        Tree::new()
    }
}

impl Tree {
    pub fn new() -> Tree {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            ROOT,
            Node::Dir {
                entries: BTreeMap::new(),
                durable: BTreeMap::new(),
                mode: 0o755,
            },
        );
        Tree { nodes, next: 1 }
    }

    pub fn alloc(&mut self, node: Node) -> Ino {
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(ino, node);
        ino
    }

    pub fn node(&self, ino: Ino) -> &Node {
        // Every inode number handed out stays in the map until a crash frees unreachable ones,
        // and handles are invalidated by the same crash.
        &self.nodes[&ino]
    }

    pub fn node_mut(&mut self, ino: Ino) -> &mut Node {
        self.nodes.get_mut(&ino).unwrap_or_else(|| unreachable!())
    }

    pub fn entries_mut(&mut self, dir: Ino) -> &mut BTreeMap<OsString, Ino> {
        match self.node_mut(dir) {
            Node::Dir { entries, .. } => entries,
            _ => unreachable!("resolve_parent only returns directories"),
        }
    }

    /// The inode of the directory `path`, following symlinks (intermediate path components).
    fn resolve_dir(&self, path: &Path, hops: usize) -> io::Result<Ino> {
        let mut ino = ROOT;
        for component in path.components() {
            let name = match component {
                Component::RootDir | Component::CurDir => continue,
                Component::Normal(name) => name,
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(error(
                        io::ErrorKind::InvalidInput,
                        path,
                        "SimFs takes absolute paths without `..`",
                    ))
                }
            };
            let Node::Dir { entries, .. } = self.node(ino) else {
                return Err(error(io::ErrorKind::NotADirectory, path, "not a directory"));
            };
            let child = *entries.get(name).ok_or_else(|| not_found(path))?;
            ino = match self.node(child) {
                Node::Symlink { target } => {
                    if hops >= MAX_SYMLINK_HOPS {
                        return Err(error(
                            io::ErrorKind::Other,
                            path,
                            "too many levels of symbolic links",
                        ));
                    }
                    self.resolve_dir(target, hops + 1)?
                }
                _ => child,
            };
        }
        match self.node(ino) {
            Node::Dir { .. } => Ok(ino),
            _ => Err(error(io::ErrorKind::NotADirectory, path, "not a directory")),
        }
    }

    /// The parent directory of `path` and the final name; the final name is not resolved.
    pub fn resolve_parent(&self, path: &Path) -> io::Result<(Ino, OsString)> {
        let name = path
            .file_name()
            .ok_or_else(|| error(io::ErrorKind::InvalidInput, path, "no file name"))?;
        let parent = path.parent().unwrap_or(Path::new("/"));
        Ok((self.resolve_dir(parent, 0)?, name.to_owned()))
    }

    /// The inode `path` names itself (a final symlink is not followed), if any.
    pub fn lookup(&self, path: &Path) -> io::Result<Option<Ino>> {
        if path.parent().is_none() {
            return Ok(Some(ROOT));
        }
        let (dir, name) = self.resolve_parent(path)?;
        match self.node(dir) {
            Node::Dir { entries, .. } => Ok(entries.get(&name).copied()),
            _ => unreachable!("resolve_parent only returns directories"),
        }
    }

    pub fn lookup_existing(&self, path: &Path) -> io::Result<Ino> {
        self.lookup(path)?.ok_or_else(|| not_found(path))
    }

    pub fn metadata(&self, ino: Ino, uid: u32) -> Metadata {
        let (len, mode) = match self.node(ino) {
            Node::File { data, mode, .. } => (data.len() as u64, Some(*mode)),
            Node::Dir { entries, mode, .. } => (entries.len() as u64, Some(*mode)),
            Node::Symlink { target } => (target.as_os_str().len() as u64, Some(0o777)),
        };
        Metadata {
            kind: self.node(ino).kind(),
            len,
            mode,
            uid: Some(uid),
        }
    }

    /// Inodes reachable from the root through current entries, `ino` itself included.
    pub fn subtree(&self, ino: Ino) -> Vec<Ino> {
        let mut out = vec![ino];
        let mut i = 0;
        while i < out.len() {
            if let Node::Dir { entries, .. } = self.node(out[i]) {
                out.extend(entries.values().copied());
            }
            i += 1;
        }
        out
    }

    /// Make every current entry and content durable: what a clean shutdown leaves.
    pub fn settle(&mut self) {
        for node in self.nodes.values_mut() {
            match node {
                Node::Dir {
                    entries, durable, ..
                } => *durable = entries.clone(),
                Node::File { data, durable, .. } => *durable = data.clone(),
                Node::Symlink { .. } => {}
            }
        }
    }

    /// Apply a crash: keep only durable state, then free what is unreachable.
    pub fn crash(&mut self, mode: CrashMode) {
        for node in self.nodes.values_mut() {
            match node {
                Node::Dir {
                    entries, durable, ..
                } => *entries = durable.clone(),
                Node::File { data, durable, .. } => {
                    if *data != *durable && mode == CrashMode::ZeroPending {
                        durable.clear();
                    }
                    *data = durable.clone();
                }
                Node::Symlink { .. } => {}
            }
        }
        let live: std::collections::BTreeSet<Ino> = self.subtree(ROOT).into_iter().collect();
        self.nodes.retain(|ino, _| live.contains(ino));
    }
}

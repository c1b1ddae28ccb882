//! The logical file-system operations a tracer recorded under a store directory.

/// A file or directory during one recording: a small id the recorder assigns per inode.
pub type Ino = u64;

/// A path relative to the store directory, components joined by '/', "" is the store directory itself.
pub type RelPath = String;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsOp {
    /// open(O_CREAT) made a new empty file named `path`.
    Create {
        path: RelPath,
        ino: Ino,
        mode: u32,
    },
    Mkdir {
        path: RelPath,
        ino: Ino,
        mode: u32,
    },
    /// `data` written at `offset` of the file (write/pwrite/writev; only the bytes the call reported written).
    Write {
        ino: Ino,
        offset: u64,
        data: Vec<u8>,
    },
    /// The file's size set to `len` (truncate, ftruncate, O_TRUNC).
    SetLen {
        ino: Ino,
        len: u64,
    },
    /// rename(from, to): `to` now names `ino` (replacing whatever it named), `from` no longer names it.
    Rename {
        from: RelPath,
        to: RelPath,
        ino: Ino,
    },
    /// link: `to` now also names `ino`.
    Link {
        to: RelPath,
        ino: Ino,
    },
    /// unlink or rmdir of `path`.
    Remove {
        path: RelPath,
    },
    /// fsync/fdatasync of a file: its data and size are durable.
    SyncFile {
        ino: Ino,
    },
    /// fsync of a directory: its entries (names created/removed/renamed in it) are durable.
    SyncDir {
        path: RelPath,
    },
    /// sync/syncfs: everything before is durable.
    SyncAll,
    /// The adapter acknowledged the operation (wrote its reply).
    Ack,
}

impl FsOp {
    /// A short human description for reports. Never includes written bytes
    /// (they may be key material), only their count.
    pub fn describe(&self) -> String {
        match self {
            FsOp::Create { path, .. } => format!("create {path}"),
            FsOp::Mkdir { path, .. } => format!("mkdir {path}"),
            FsOp::Write { ino, offset, data } => {
                format!("write #{ino} {} bytes at {offset}", data.len())
            }
            FsOp::SetLen { ino, len } => format!("set length of #{ino} to {len}"),
            FsOp::Rename { from, to, .. } => format!("rename {from} → {to}"),
            FsOp::Link { to, .. } => format!("link {to}"),
            FsOp::Remove { path } => format!("remove {path}"),
            FsOp::SyncFile { ino } => format!("fsync #{ino}"),
            // "" is the store directory; an empty name would read as a typo.
            FsOp::SyncDir { path } if path.is_empty() => "fsync dir .".to_string(),
            FsOp::SyncDir { path } => format!("fsync dir {path}"),
            FsOp::SyncAll => "sync".to_string(),
            FsOp::Ack => "ack".to_string(),
        }
    }

    /// Whether the op changes the disk (so may be lost); syncs and the ack do not.
    pub fn is_persistable(&self) -> bool {
        !matches!(
            self,
            FsOp::SyncFile { .. } | FsOp::SyncDir { .. } | FsOp::SyncAll | FsOp::Ack
        )
    }
}

/// The directory containing `path` ("" for a top-level name).
pub fn parent_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// The store directory before the operation.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Directories with their modes, not including "" (the root).
    pub dirs: Vec<(RelPath, u32)>,
    /// Files: path, inode, mode, content.
    pub files: Vec<(RelPath, Ino, u32, Vec<u8>)>,
}

/// Ops and a store for the crash modules' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{FsOp, Ino, Snapshot};

    /// A store with `secrets/aa` (inode 1) holding "old".
    pub fn store_with_aa() -> Snapshot {
        Snapshot {
            dirs: vec![("secrets".into(), 0o700)],
            files: vec![("secrets/aa".into(), 1, 0o600, b"old".to_vec())],
        }
    }

    pub fn create(path: &str, ino: Ino) -> FsOp {
        FsOp::Create {
            path: path.into(),
            ino,
            mode: 0o600,
        }
    }

    /// `data` written at offset 0.
    pub fn write(ino: Ino, data: &[u8]) -> FsOp {
        FsOp::Write {
            ino,
            offset: 0,
            data: data.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_is_short_and_hides_data() {
        let cases = [
            (
                FsOp::Create {
                    path: "secrets/.tmp-1".into(),
                    ino: 3,
                    mode: 0o600,
                },
                "create secrets/.tmp-1",
            ),
            (
                FsOp::Write {
                    ino: 3,
                    offset: 0,
                    data: b"S3CR3T-VALUE".to_vec(),
                },
                "write #3 12 bytes at 0",
            ),
            (FsOp::SetLen { ino: 3, len: 0 }, "set length of #3 to 0"),
            (
                FsOp::Rename {
                    from: "secrets/.tmp-1".into(),
                    to: "secrets/6b".into(),
                    ino: 3,
                },
                "rename secrets/.tmp-1 → secrets/6b",
            ),
            (
                FsOp::Link {
                    to: "key".into(),
                    ino: 1,
                },
                "link key",
            ),
            (FsOp::Remove { path: "x".into() }, "remove x"),
            (FsOp::SyncFile { ino: 3 }, "fsync #3"),
            (
                FsOp::SyncDir {
                    path: "secrets".into(),
                },
                "fsync dir secrets",
            ),
            (FsOp::SyncDir { path: "".into() }, "fsync dir ."),
            (FsOp::SyncAll, "sync"),
            (FsOp::Ack, "ack"),
        ];
        for (op, want) in cases {
            assert_eq!(op.describe(), want);
            assert!(!op.describe().contains("S3CR3T"));
        }
    }

    #[test]
    fn parent_of_splits_at_last_slash() {
        assert_eq!(parent_of("a/b/c"), "a/b");
        assert_eq!(parent_of("a"), "");
        assert_eq!(parent_of(""), "");
    }
}

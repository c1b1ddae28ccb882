//! The operation log of a [`SimFs`](super::SimFs): every operation in the order the scheduler
//! ran it, so a counterexample reads as "who did what to which path, and what came back".

use std::fmt;

/// The operations SimFs performs; one per `Fs` call or handle call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    CreateNew,
    OpenRead,
    OpenTruncate,
    Read,
    Write,
    SyncFile,
    Fstat,
    Close,
    Link,
    Rename,
    RemoveFile,
    RemoveDir,
    CreateDir,
    ReadDir,
    Lstat,
    SyncDir,
    Symlink,
    /// Not an operation: a power loss (see [`super::CrashMode`]).
    Crash,
    /// Not an operation: something an actor reports, such as "acknowledged put".
    Note,
}

impl CallKind {
    pub fn name(self) -> &'static str {
        match self {
            CallKind::CreateNew => "create_new",
            CallKind::OpenRead => "open_read",
            CallKind::OpenTruncate => "open_truncate",
            CallKind::Read => "read",
            CallKind::Write => "write",
            CallKind::SyncFile => "fsync",
            CallKind::Fstat => "fstat",
            CallKind::Close => "close",
            CallKind::Link => "link_noreplace",
            CallKind::Rename => "rename",
            CallKind::RemoveFile => "remove_file",
            CallKind::RemoveDir => "remove_dir",
            CallKind::CreateDir => "create_dir",
            CallKind::ReadDir => "read_dir",
            CallKind::Lstat => "lstat",
            CallKind::SyncDir => "fsync_dir",
            CallKind::Symlink => "symlink",
            CallKind::Crash => "CRASH",
            CallKind::Note => "note",
        }
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: usize,
    pub actor: String,
    pub op: CallKind,
    pub path: String,
    pub result: String,
}

/// The whole log, printable as a table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace(pub Vec<Event>);

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>4}  {:<8} {:<15} {:<48} result",
            "#", "actor", "op", "path"
        )?;
        for e in &self.0 {
            writeln!(
                f,
                "{:>4}  {:<8} {:<15} {:<48} {}",
                e.seq,
                e.actor,
                e.op.name(),
                e.path,
                e.result
            )?;
        }
        Ok(())
    }
}

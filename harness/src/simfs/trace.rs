//! The operation log of a [`SimFs`](super::SimFs): every operation in the order the scheduler
//! ran it, so a counterexample reads as "who did what to which path, and what came back".

use std::fmt;

/// The operations SimFs performs; one per `Fs` call or handle call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
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

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::CreateNew => "create_new",
            Op::OpenRead => "open_read",
            Op::OpenTruncate => "open_truncate",
            Op::Read => "read",
            Op::Write => "write",
            Op::SyncFile => "fsync",
            Op::Fstat => "fstat",
            Op::Close => "close",
            Op::Link => "link_noreplace",
            Op::Rename => "rename",
            Op::RemoveFile => "remove_file",
            Op::RemoveDir => "remove_dir",
            Op::CreateDir => "create_dir",
            Op::ReadDir => "read_dir",
            Op::Lstat => "lstat",
            Op::SyncDir => "fsync_dir",
            Op::Symlink => "symlink",
            Op::Crash => "CRASH",
            Op::Note => "note",
        }
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: usize,
    pub actor: String,
    pub op: Op,
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

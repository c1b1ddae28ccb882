//! Fault injection: make the k-th matching operation (and optionally the ones after it) fail
//! with a chosen error.

use std::io;

use super::trace::CallKind;

/// The errors a fault can inject, each with the `io::ErrorKind` the core classifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultError {
    PermissionDenied,
    Io,
    /// A Windows sharing violation or `EBUSY`.
    Busy,
}

impl FaultError {
    pub fn to_io(self, what: &str) -> io::Error {
        match self {
            FaultError::PermissionDenied => io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{what}: permission denied (injected)"),
            ),
            FaultError::Io => io::Error::other(format!("{what}: I/O error (injected)")),
            FaultError::Busy => io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!("{what}: in use by another process (injected)"),
            ),
        }
    }
}

/// Which operations a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The operation kind; `None` matches every kind.
    pub op: Option<CallKind>,
    /// Matches when the operation's (first) path contains this text.
    pub path_contains: String,
    /// Only this actor's operations; `None` matches every actor.
    pub actor: Option<String>,
    /// The first matching operation that fails, 1-based.
    pub nth: usize,
    /// How many matching operations fail from the `nth` on; `usize::MAX` for all of them.
    pub times: usize,
    pub error: FaultError,
    /// Matching operations seen so far.
    pub(super) seen: usize,
}

impl Fault {
    /// The `nth` (1-based) `op` on a path containing `path_contains` fails once with `error`.
    pub fn nth(op: CallKind, path_contains: &str, nth: usize, error: FaultError) -> Fault {
        Fault {
            op: Some(op),
            path_contains: path_contains.to_owned(),
            actor: None,
            nth,
            times: 1,
            error,
            seen: 0,
        }
    }

    /// Every `op` on a path containing `path_contains` fails with `error`.
    pub fn always(op: CallKind, path_contains: &str, error: FaultError) -> Fault {
        Fault {
            times: usize::MAX,
            ..Fault::nth(op, path_contains, 1, error)
        }
    }

    /// Restrict the fault to one actor's operations.
    pub fn for_actor(mut self, actor: &str) -> Fault {
        self.actor = Some(actor.to_owned());
        self
    }

    /// Count this operation if it matches; `Some(error)` if it must fail.
    pub(super) fn hit(&mut self, op: CallKind, path: &str, actor: &str) -> Option<io::Error> {
        let matches = self.op.is_none_or(|o| o == op)
            && path.contains(&self.path_contains)
            && self.actor.as_deref().is_none_or(|a| a == actor);
        if !matches {
            return None;
        }
        self.seen += 1;
        let first = self.nth.max(1);
        let failing = self.seen >= first && self.seen - first < self.times;
        failing.then(|| self.error.to_io(&format!("{} {path}", op.name())))
    }
}

//! Tracing adapter processes (Linux, x86_64): every file-system call of an actor stops at the
//! runner through seccomp `RET_TRACE` and ptrace, so the runner can hold each call under the
//! store directory ([`Tracer::step`], the controlled interleavings) and record them with their
//! data ([`Observer`], the crash states). Everything else runs at full speed.

mod call;
#[cfg(test)]
pub(crate) use call::normalise;
pub(crate) use call::read_memory;
mod filter;
mod footprint;
mod locks;
mod patience;
mod probe;
mod stuck;
mod tracer;
mod wal_index;

pub use call::{Call, FdTarget, Kind, Lock, LockMode};
pub use footprint::{Footprint, Inode, Object};
pub use probe::Unavailable;
pub use tracer::{Choice, Chooser, Decision, Observer, RetryLoop, StepError, Traced, Tracer};
pub use wal_index::is_wal_index;

/// Whether adapters can be traced here (`Err`: the cause and the fix).
pub fn available() -> Result<(), Unavailable> {
    probe::probe().map(|_| ())
}

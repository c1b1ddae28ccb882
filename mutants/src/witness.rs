//! The witness client (seed 002, loopctl's MCP client): its retry rule, its cold-start
//! coalescing and its head cache. Each mutant is one of the client's seams
//! (`keyrace_core::witness`: `RetryRule`, `HeadSlot`, `CacheStore`) with one diff; the
//! catalogue rows `retry-once`, `cold-start` and `sth-cache` catch them in process, the
//! runner's client scenarios across processes.

use std::io::{self, Write};

use keyrace_core::bootstrap::SignedTreeHead;
use keyrace_core::layout::FILE_MODE;
use keyrace_core::sync::Mutex;
use keyrace_core::witness::cache::encode;
use keyrace_core::witness::{
    Acquire, CacheLoad, CacheStore, FileCacheStore, HeadSlot, RetryOnce, RetryRule, WitnessError,
    WitnessResponse,
};
use keyrace_core::Fs;

/// retry-unbounded — seed 002 (before "bounded to a single attempt"): every bootstrap-412 with
/// a head is retried, however many came before. Diff: `attempt == 1` dropped.
#[derive(Debug, Default, Clone, Copy)]
pub struct RetryUnbounded;

impl RetryRule for RetryUnbounded {
    fn retry_with(
        &self,
        _attempt: u32,
        response: &WitnessResponse,
        carried: Option<SignedTreeHead>,
    ) -> Option<SignedTreeHead> {
        RetryOnce.retry_with(1, response, carried)
    }
}

/// retry-on-divergence — seed 002 (MEDIUM-4): a 409 is retried with the head it carried,
/// silently accepting a forked log. Diff: `|| status == 409`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RetryOnDivergence;

impl RetryRule for RetryOnDivergence {
    fn retry_with(
        &self,
        attempt: u32,
        response: &WitnessResponse,
        carried: Option<SignedTreeHead>,
    ) -> Option<SignedTreeHead> {
        if response.status == 409 {
            return carried;
        }
        RetryOnce.retry_with(attempt, response, carried)
    }
}

/// no-singleflight — seed 002 (loopctl PR #300 before cold-start coalescing): every caller that
/// finds no head bootstraps itself. Diff: `acquire` never waits for a leader.
#[derive(Default)]
pub struct Uncoalesced(Mutex<Option<SignedTreeHead>>);

impl HeadSlot for Uncoalesced {
    fn acquire(&self) -> Acquire<SignedTreeHead> {
        match self.get() {
            Some(head) => Acquire::Known(head),
            None => Acquire::Lead,
        }
    }
    fn finish_lead(&self, learned: Option<SignedTreeHead>) {
        if let Some(head) = learned {
            self.set(head);
        }
    }
    fn get(&self) -> Option<SignedTreeHead> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn set(&self, head: SignedTreeHead) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(head);
    }
    fn waiting(&self) -> usize {
        0
    }
}

/// witness-swallows-errors — seed 002's shape (an MCP tool that must "not surface" witness
/// trouble): a catch-all around the call turns every failure into a success, so a failing or
/// hung server looks like a passed request. Diff: `client.call()?` → any error read as done.
pub fn swallowing_errors<T: Default>(called: Result<T, WitnessError>) -> Result<T, WitnessError> {
    Ok(called.unwrap_or_default())
}

/// How a mutant cache writes the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheWrite {
    /// cache-write-in-place — seed 002 (HIGH-1's torn file): remove the cache file, create it
    /// again and write it. Diff: `write_atomic(path)` → `remove; create_new(path); write`, so
    /// a reader can find it empty or half written.
    InPlace,
    /// cache-follows-symlink — seed 002 (HIGH-1, CWE-59): `File::create(path)` and write,
    /// which opens through a symlink at the path and truncates its target.
    FollowsSymlink,
}

/// Store `head` at `cache`'s path the mutant's way.
pub fn store<F: Fs>(
    cache: &FileCacheStore<F>,
    head: &SignedTreeHead,
    write: CacheWrite,
) -> io::Result<()> {
    let fs = cache.fs();
    match write {
        CacheWrite::InPlace => {
            match fs.remove_file(cache.path()) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            fs.create_new(cache.path(), FILE_MODE)?
                .write_all(&encode(head))
        }
        CacheWrite::FollowsSymlink => fs
            .open_truncate(cache.path(), FILE_MODE)?
            .write_all(&encode(head)),
    }
}

/// The reference cache for loads, the mutant's [`store`] for stores.
#[derive(Debug)]
pub struct MutantCache<F: Fs> {
    pub inner: FileCacheStore<F>,
    pub write: CacheWrite,
}

impl<F: Fs> CacheStore for MutantCache<F> {
    fn load(&self) -> CacheLoad {
        self.inner.load()
    }
    fn store(&self, head: &SignedTreeHead) -> io::Result<()> {
        store(&self.inner, head, self.write)
    }
}

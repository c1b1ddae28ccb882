//! The witness client (seed 002, loopctl's MCP client): its retry rule, its cold-start
//! coalescing, its head cache and how a call's failures reach the caller. Each mutant is one
//! of the client's seams (`keyrace_core::witness`: `RetryRule`, `HeadSlot`, `CacheStore`) or
//! the glue around a call, with one diff; the catalogue rows `retry-once`, `cold-start` and
//! `sth-cache` catch the first ones in process, the runner's client scenarios every one across
//! processes.

use std::io::{self, Write};

use keyrace_core::bootstrap::SignedTreeHead;
use keyrace_core::layout::FILE_MODE;
use keyrace_core::sync::Mutex;
use keyrace_core::witness::cache::encode;
use keyrace_core::witness::{
    Acquire, ApiKey, CacheLoad, CacheMiss, CacheStore, FileCacheStore, HeadSlot, RetryOnce,
    RetryRule, WitnessError, WitnessResponse,
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

/// no-retry-on-412 — seed 002 (loopctl before PR #300): a 412 `BOOTSTRAP_ALREADY_CONSUMED`
/// is surfaced even when it carries the current head, so a process that starts without a head
/// fails every call. Diff: `carried` → `None`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRetry;

impl RetryRule for NoRetry {
    fn retry_with(
        &self,
        _attempt: u32,
        _response: &WitnessResponse,
        _carried: Option<SignedTreeHead>,
    ) -> Option<SignedTreeHead> {
        None
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

/// How many times retry-server-errors resends a call a server failed with a 5xx.
pub const SERVER_ERROR_RETRIES: usize = 5;

/// retry-server-errors — a client that treats every 5xx as transient: the whole call is made
/// again, [`SERVER_ERROR_RETRIES`] times, so a failing server gets six requests per call
/// (seed 002's "retry bounded to one attempt", broken the other way). Diff: `call()` →
/// `loop { call() } while 5xx, up to 5 more times`.
pub fn retrying_server_errors<T>(
    call: &dyn Fn() -> Result<T, WitnessError>,
) -> Result<T, WitnessError> {
    let mut result = call();
    for _ in 0..SERVER_ERROR_RETRIES {
        match &result {
            Err(WitnessError::Rejected { status, .. }) if *status >= 500 => result = call(),
            _ => break,
        }
    }
    result
}

/// witness-misreports-cache — an adapter's report of its call: the head sent is reported as
/// learned from the server, never as loaded from the cache, so a report cannot be trusted to
/// say why a fresh process sent what it sent. Diff: `from_cache` → `false`.
pub fn misreported_source(_from_cache: bool) -> bool {
    false
}

/// cache-keyed-by-url — seed 002 (HIGH-2 before its fix): the head cache of `server` ignores
/// the API key, so two keys on one server read each other's head (and get spurious 409s).
/// Diff: `cache_file_name(server, key)` → `cache_file_name(server, "")`.
pub fn cache_keyed_by_server<F: Fs>(
    fs: F,
    dir: &std::path::Path,
    server: &str,
) -> FileCacheStore<F> {
    FileCacheStore::new(fs, dir, server, &ApiKey::new(""))
}

/// What a forgetful cache leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forget {
    /// cache-never-loaded — seed 002 (PR #300's "persisted STH loaded on startup", missing):
    /// the head is written but a new process never reads it, so it bootstraps again into the
    /// consumed grace's 412. Diff: `load()` → a miss.
    Loads,
    /// zero-head-discarded — seed 002 (HIGH-3's client side): the zero placeholder is taken for
    /// "no head" and never persisted, so the next process bootstraps again and is refused.
    /// Diff: `store(head)` → nothing when `head.is_zero()`.
    ZeroHead,
}

/// The reference cache with one side forgotten.
#[derive(Debug)]
pub struct ForgetfulCache<F: Fs> {
    pub inner: FileCacheStore<F>,
    pub forget: Forget,
}

impl<F: Fs> CacheStore for ForgetfulCache<F> {
    fn load(&self) -> CacheLoad {
        match self.forget {
            Forget::Loads => CacheLoad::Miss(CacheMiss::Missing),
            Forget::ZeroHead => self.inner.load(),
        }
    }
    fn store(&self, head: &SignedTreeHead) -> io::Result<()> {
        if self.forget == Forget::ZeroHead && head.is_zero() {
            return Ok(());
        }
        self.inner.store(head)
    }
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

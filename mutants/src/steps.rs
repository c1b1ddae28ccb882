//! The steps a store request is made of: the reference's ([`Steps::REFERENCE`]), and the
//! wiring by which a mutant switches in its one body ([`crate::Mutant::steps`]). The reference
//! adapter runs them; the witness transport is its to give ([`WitnessCall::transport`]), so
//! that this crate needs no HTTP client.

use std::io;
use std::path::Path;

use keyrace_core::bootstrap::{BootstrapError, Consumed, FileLedger, SignedTreeHead};
use keyrace_core::witness::{
    ApiKey, CacheStore, FileCacheStore, HeadSlot, RetryOnce, RetryRule, SingleFlight, Transport,
    WitnessClient, WitnessError,
};
use keyrace_core::{
    reset_at_path, resolve_key, Identity, Key, KeySources, OsFs, Result, Store, StoreOptions,
    MASTER_KEY_ENV,
};
use zeroize::Zeroizing;

pub type Secret = Option<Zeroizing<Vec<u8>>>;

/// An open store and the master key it was opened with.
pub type Opened = (Store<OsFs>, Key);

/// One implementation of each step an op is made of.
#[derive(Clone, Copy)]
pub struct Steps {
    /// The master key of the store at this directory.
    pub resolve: fn(&Path) -> Result<Key>,
    /// Resolve the key and open (or create) the store; a failure holds no handle afterwards.
    pub open: fn(&Steps, &Path) -> Result<Opened>,
    pub put: fn(&Store<OsFs>, &Key, &str, &[u8]) -> Result<()>,
    pub get: fn(&Store<OsFs>, &str) -> Result<Secret>,
    pub delete: fn(&Store<OsFs>, &str) -> Result<bool>,
    pub reset: fn(&Steps, &Path) -> Result<()>,
    /// `Ok(true)` for "won".
    pub consume: fn(&Path, &str) -> std::result::Result<bool, ConsumeError>,
    /// Every call of the op succeeded (and, for one call, the head its first request carried
    /// and whether it came from the cache), or the first error.
    pub witness: fn(&WitnessCall<'_>) -> std::result::Result<Option<HeadUsed>, WitnessError>,
}

/// Why a consume failed: the ledger's refusal or an I/O error of a mutant's own ledger file,
/// each keeping its own code.
#[derive(Debug)]
pub enum ConsumeError {
    Store(keyrace_core::Error),
    Ledger(BootstrapError),
}

impl From<BootstrapError> for ConsumeError {
    fn from(e: BootstrapError) -> Self {
        ConsumeError::Ledger(e)
    }
}

/// The arguments of a `witness` op.
pub struct WitnessCall<'a> {
    /// How requests reach the server (the reference adapter's HTTP client).
    pub transport: &'a dyn Transport,
    pub url: &'a str,
    pub api_key: &'a str,
    pub cache_dir: &'a Path,
    pub concurrency: usize,
}

pub(crate) fn reference_cache(call: &WitnessCall<'_>) -> FileCacheStore<OsFs> {
    FileCacheStore::new(OsFs, call.cache_dir, call.url, &ApiKey::new(call.api_key))
}

/// The head a single call's first request carried (`None`: a bootstrap), and whether it came
/// from the cache. A fresh client's first request carries what the cache holds.
pub struct HeadUsed {
    pub head: Option<SignedTreeHead>,
    pub from_cache: bool,
}

/// `call.concurrency` concurrent calls of one client made of these parts.
pub(crate) fn witness_with<C: CacheStore, S: HeadSlot, R: RetryRule>(
    call: &WitnessCall<'_>,
    cache: C,
    slot: S,
    rule: R,
) -> std::result::Result<Option<HeadUsed>, WitnessError> {
    witness_made(call, cache, slot, rule, |once| once())
}

/// How one call is made of the client's `call` and what it returns (the reference: once, its
/// result as it is).
pub(crate) type Caller = fn(&dyn Fn() -> Called) -> Called;
type Called = std::result::Result<Vec<u8>, WitnessError>;

/// [`witness_with`], each call made by `caller`.
pub(crate) fn witness_made<C: CacheStore, S: HeadSlot, R: RetryRule>(
    call: &WitnessCall<'_>,
    cache: C,
    slot: S,
    rule: R,
    caller: Caller,
) -> std::result::Result<Option<HeadUsed>, WitnessError> {
    let used = (call.concurrency <= 1).then(|| {
        let head = cache.load().head();
        HeadUsed {
            head,
            from_cache: head.is_some(),
        }
    });
    let client =
        WitnessClient::with_parts(call.transport, cache, slot, rule, ApiKey::new(call.api_key));
    let results: Vec<std::result::Result<Vec<u8>, WitnessError>> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..call.concurrency.max(1))
            .map(|_| scope.spawn(|| caller(&|| client.call(b""))))
            .collect();
        calls
            .into_iter()
            .map(|c| {
                c.join().unwrap_or_else(|_| {
                    Err(WitnessError::Transport {
                        source: io::Error::other("a client thread panicked"),
                    })
                })
            })
            .collect()
    });
    match results.into_iter().find_map(std::result::Result::err) {
        Some(e) => Err(e),
        None => Ok(used),
    }
}

impl Steps {
    pub const REFERENCE: Steps = Steps {
        resolve: |dir| resolve_key(&OsFs, &KeySources::from_env(dir)).map(|r| r.key),
        open: open_store,
        put: |store, _, name, value| store.put(name, value),
        get: Store::get,
        delete: Store::delete,
        reset: |_, dir| reset_at_path(&OsFs, dir, true).map(drop),
        consume: |dir, token| Ok(FileLedger::new(OsFs, dir).try_consume(token)? == Consumed::Won),
        witness: |call| witness_with(call, reference_cache(call), SingleFlight::new(), RetryOnce),
    };
}

/// The reference's open, with `steps.resolve` for the key.
pub(crate) fn open_store(steps: &Steps, dir: &Path) -> Result<Opened> {
    let key = (steps.resolve)(dir)?;
    let options = StoreOptions {
        identity: Some(Identity::current(&OsFs)?),
    };
    let store = Store::open_or_create(OsFs, dir, &key, &options)?;
    Ok((store, key))
}

/// A key-file mutant's key, unless `KEYRACE_MASTER_KEY` is set: then the reference resolves it
/// (the key-file diff never runs).
pub(crate) fn key_file_unless_env(
    dir: &Path,
    load: fn(&OsFs, &Path) -> Result<Key>,
) -> Result<Key> {
    if std::env::var_os(MASTER_KEY_ENV).is_some() {
        return (Steps::REFERENCE.resolve)(dir);
    }
    load(&OsFs, dir)
}

pub(crate) fn ledger_io(won: io::Result<bool>) -> std::result::Result<bool, ConsumeError> {
    won.map_err(|source| {
        ConsumeError::Store(keyrace_core::Error::Fs {
            what: "consume the bootstrap grace",
            source,
        })
    })
}

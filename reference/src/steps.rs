//! The steps of a request, chosen once per adapter process: the reference's, with the one
//! step a `--mutant` replaces by its body from `keyrace-mutants`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keyrace_core::bootstrap::{Consumed, FileLedger, SignedTreeHead};
use keyrace_core::witness::{
    ApiKey, CacheStore, FileCacheStore, HeadSlot, RetryOnce, RetryRule, SingleFlight,
    WitnessClient, WitnessError,
};
use keyrace_core::{
    reset_at_path, resolve_key, Identity, Key, KeySources, OsFs, Result, Store, StoreOptions,
    MASTER_KEY_ENV,
};
use keyrace_mutants::put::InPlace;
use keyrace_mutants::{grace, keygen, memo, open, put, witness, Mutant};
use keyrace_witness::transport::HttpTransport;
use keyrace_witness::wire::Preset;
use zeroize::Zeroizing;

use super::AdapterError;

type Secret = Option<Zeroizing<Vec<u8>>>;

/// An open store and the master key it was opened with.
type Opened = (Store<OsFs>, Key);

/// One implementation of each step an op is made of.
#[derive(Clone, Copy)]
pub(super) struct Steps {
    /// The master key of the store at this directory.
    pub resolve: fn(&Path) -> Result<Key>,
    /// Resolve the key and open (or create) the store; a failure holds no handle afterwards.
    pub open: fn(&Steps, &Path) -> Result<Opened>,
    pub put: fn(&Store<OsFs>, &Key, &str, &[u8]) -> Result<()>,
    pub get: fn(&Store<OsFs>, &str) -> Result<Secret>,
    pub delete: fn(&Store<OsFs>, &str) -> Result<bool>,
    pub reset: fn(&Steps, &Path) -> Result<()>,
    /// `Ok(true)` for "won".
    pub consume: fn(&Path, &str) -> std::result::Result<bool, AdapterError>,
    /// Every call of the op succeeded (and, for one call, the head its first request carried
    /// and whether it came from the cache), or the first error.
    pub witness: fn(&WitnessCall<'_>) -> std::result::Result<Option<HeadUsed>, AdapterError>,
}

/// The arguments of a `witness` op.
pub(super) struct WitnessCall<'a> {
    pub url: &'a str,
    pub api_key: &'a str,
    /// The server's spelling of the protocol.
    pub preset: Preset,
    pub cache_dir: &'a Path,
    pub concurrency: usize,
}

/// How long one HTTP exchange of the witness client may take: well inside the runner's
/// per-request deadline, so a slow server gives a coded error, not a hung adapter.
pub const WITNESS_TIMEOUT: Duration = Duration::from_secs(3);

fn reference_cache(call: &WitnessCall<'_>) -> FileCacheStore<OsFs> {
    FileCacheStore::new(OsFs, call.cache_dir, call.url, &ApiKey::new(call.api_key))
}

/// The head a single call's first request carried (`None`: a bootstrap), and whether it came
/// from the cache. A fresh client's first request carries what the cache holds.
pub(super) struct HeadUsed {
    pub head: Option<SignedTreeHead>,
    pub from_cache: bool,
}

/// `call.concurrency` concurrent calls of one client made of these parts.
fn witness_with<C: CacheStore, S: HeadSlot, R: RetryRule>(
    call: &WitnessCall<'_>,
    cache: C,
    slot: S,
    rule: R,
) -> std::result::Result<Option<HeadUsed>, AdapterError> {
    witness_made(call, cache, slot, rule, |once| once())
}

/// How one call is made of the client's `call` and what it returns (the reference: once, its
/// result as it is).
type Caller = fn(&dyn Fn() -> Called) -> Called;
type Called = std::result::Result<Vec<u8>, WitnessError>;

/// [`witness_with`], each call made by `caller`.
fn witness_made<C: CacheStore, S: HeadSlot, R: RetryRule>(
    call: &WitnessCall<'_>,
    cache: C,
    slot: S,
    rule: R,
    caller: Caller,
) -> std::result::Result<Option<HeadUsed>, AdapterError> {
    let used = (call.concurrency <= 1).then(|| {
        let head = cache.load().head();
        HeadUsed {
            head,
            from_cache: head.is_some(),
        }
    });
    let transport = HttpTransport::new(call.url, call.preset, WITNESS_TIMEOUT);
    let client = WitnessClient::with_parts(transport, cache, slot, rule, ApiKey::new(call.api_key));
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
        Some(e) => Err(e.into()),
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

    /// The reference's steps with `mutant`'s one step switched in.
    pub fn of(mutant: Option<Mutant>) -> Steps {
        let reference = Steps::REFERENCE;
        let Some(mutant) = mutant else {
            return reference;
        };
        match mutant {
            Mutant::KeygenReadThenWrite => Steps {
                resolve: |dir| key_file_unless_env(dir, keygen::read_then_write::<OsFs>),
                ..reference
            },
            Mutant::KeygenExclThenWrite => Steps {
                resolve: |dir| key_file_unless_env(dir, keygen::excl_then_write::<OsFs>),
                ..reference
            },
            Mutant::KeygenBroadCatch => Steps {
                resolve: |dir| key_file_unless_env(dir, keygen::broad_catch::<OsFs>),
                ..reference
            },
            Mutant::KeygenNoFsync => Steps {
                resolve: |dir| key_file_unless_env(dir, keygen::no_fsync::<OsFs>),
                ..reference
            },
            Mutant::KeyPerProcess => Steps {
                resolve: |dir| key_file_unless_env(dir, |_, _| keygen::key_per_process()),
                ..reference
            },
            // The key file lives in $HOME, as in ObjectStack's provider.
            Mutant::SilentEphemeral => Steps {
                resolve: |dir| {
                    let home =
                        std::env::var_os("HOME").map_or_else(|| dir.to_owned(), PathBuf::from);
                    let sources = KeySources {
                        key_file_dir: Some(home.join(".keyrace")),
                        ..KeySources::from_env(dir)
                    };
                    open::silent_ephemeral(&OsFs, sources)
                },
                ..reference
            },
            Mutant::PutGlobalMetaRmw => Steps {
                put: |store, _, name, value| put::put_with_index(store, name, value),
                get: put::get_with_index,
                ..reference
            },
            Mutant::PutInPlace => Steps {
                put: |store, key, name, value| {
                    put::in_place(store.fs(), store.dir(), key, name, value, InPlace::Chunked)
                },
                ..reference
            },
            Mutant::PutInPlaceOneWrite => Steps {
                put: |store, key, name, value| {
                    put::in_place(store.fs(), store.dir(), key, name, value, InPlace::OneWrite)
                },
                ..reference
            },
            Mutant::PutRenameNoDirFsync => Steps {
                put: |store, key, name, value| {
                    put::rename_no_dir_fsync(store.fs(), store.dir(), key, name, value)
                },
                ..reference
            },
            Mutant::PutRenameUnsyncedData => Steps {
                put: |store, key, name, value| {
                    put::rename_unsynced_data(store.fs(), store.dir(), key, name, value)
                },
                ..reference
            },
            Mutant::GetSwallowsErrors => Steps {
                get: put::get_swallowing_errors,
                ..reference
            },
            Mutant::DeleteRewritesAll => Steps {
                delete: put::delete_by_rewrite,
                ..reference
            },
            Mutant::DeleteNoDirFsync => Steps {
                delete: put::delete_no_dir_fsync,
                ..reference
            },
            Mutant::PutPreviousUnsynced => Steps {
                put: |store, _, name, value| put::put_keeping_previous(store, name, value),
                get: put::get_restoring_previous,
                ..reference
            },
            Mutant::GetFromProcessMemory => Steps {
                put: |store, key, name, value| {
                    (Steps::REFERENCE.put)(store, key, name, value)?;
                    memo::remember(store.dir(), name, Some(value));
                    Ok(())
                },
                get: |store, name| match memo::recall(store.dir(), name) {
                    Some(value) => Ok(value),
                    None => (Steps::REFERENCE.get)(store, name),
                },
                delete: |store, name| {
                    let existed = (Steps::REFERENCE.delete)(store, name)?;
                    memo::remember(store.dir(), name, None);
                    Ok(existed)
                },
                ..reference
            },
            Mutant::OpenLeaksHandle => Steps {
                open: |steps, dir| {
                    open::leaking_a_handle_on_failure(&OsFs, dir, || open_store(steps, dir))
                },
                ..reference
            },
            Mutant::ResetNeedsOpen => Steps {
                reset: |steps, dir| {
                    open::reset_after_open(
                        || (steps.open)(steps, dir),
                        || (Steps::REFERENCE.reset)(steps, dir),
                    )
                },
                ..reference
            },
            Mutant::GraceCheckThenSet => Steps {
                consume: |dir, token| ledger_io(grace::check_then_set(&OsFs, dir, token)),
                ..reference
            },
            Mutant::ConsumeNoFsync => Steps {
                consume: |dir, token| ledger_io(grace::consume_without_fsync(&OsFs, dir, token)),
                ..reference
            },
            Mutant::ConsumeLoserUnsynced => Steps {
                consume: |dir, token| ledger_io(grace::loser_trusts_unsynced(&OsFs, dir, token)),
                ..reference
            },
            Mutant::RetryUnbounded => Steps {
                witness: |call| {
                    let cache = reference_cache(call);
                    witness_with(call, cache, SingleFlight::new(), witness::RetryUnbounded)
                },
                ..reference
            },
            Mutant::RetryOnDivergence => Steps {
                witness: |call| {
                    let cache = reference_cache(call);
                    witness_with(call, cache, SingleFlight::new(), witness::RetryOnDivergence)
                },
                ..reference
            },
            Mutant::NoSingleflight => Steps {
                witness: |call| {
                    let slot = witness::Uncoalesced::default();
                    witness_with(call, reference_cache(call), slot, RetryOnce)
                },
                ..reference
            },
            Mutant::CacheWriteInPlace => Steps {
                witness: |call| {
                    let cache = witness::MutantCache {
                        inner: reference_cache(call),
                        write: witness::CacheWrite::InPlace,
                    };
                    witness_with(call, cache, SingleFlight::new(), RetryOnce)
                },
                ..reference
            },
            Mutant::WitnessSwallowsErrors => Steps {
                witness: |call| {
                    let cache = reference_cache(call);
                    let caller: Caller = |once| witness::swallowing_errors(once());
                    witness_made(call, cache, SingleFlight::new(), RetryOnce, caller)
                },
                ..reference
            },
            Mutant::RetryServerErrors => Steps {
                witness: |call| {
                    let cache = reference_cache(call);
                    let caller: Caller = witness::retrying_server_errors;
                    witness_made(call, cache, SingleFlight::new(), RetryOnce, caller)
                },
                ..reference
            },
            Mutant::NoRetryOn412 => Steps {
                witness: |call| {
                    let cache = reference_cache(call);
                    witness_with(call, cache, SingleFlight::new(), witness::NoRetry)
                },
                ..reference
            },
            Mutant::WitnessMisreportsCache => Steps {
                witness: |call| {
                    let used = (Steps::REFERENCE.witness)(call)?;
                    Ok(used.map(|used| HeadUsed {
                        from_cache: witness::misreported_source(used.from_cache),
                        ..used
                    }))
                },
                ..reference
            },
            Mutant::CacheNeverLoaded => Steps {
                witness: |call| {
                    let cache = witness::ForgetfulCache {
                        inner: reference_cache(call),
                        forget: witness::Forget::Loads,
                    };
                    witness_with(call, cache, SingleFlight::new(), RetryOnce)
                },
                ..reference
            },
            Mutant::ZeroHeadDiscarded => Steps {
                witness: |call| {
                    let cache = witness::ForgetfulCache {
                        inner: reference_cache(call),
                        forget: witness::Forget::ZeroHead,
                    };
                    witness_with(call, cache, SingleFlight::new(), RetryOnce)
                },
                ..reference
            },
            Mutant::CacheKeyedByUrl => Steps {
                witness: |call| {
                    let cache = witness::cache_keyed_by_server(OsFs, call.cache_dir, call.url);
                    witness_with(call, cache, SingleFlight::new(), RetryOnce)
                },
                ..reference
            },
            Mutant::CacheFollowsSymlink => Steps {
                witness: |call| {
                    let cache = witness::MutantCache {
                        inner: reference_cache(call),
                        write: witness::CacheWrite::FollowsSymlink,
                    };
                    witness_with(call, cache, SingleFlight::new(), RetryOnce)
                },
                ..reference
            },
        }
    }
}

/// The reference's open, with `steps.resolve` for the key.
fn open_store(steps: &Steps, dir: &Path) -> Result<Opened> {
    let key = (steps.resolve)(dir)?;
    let options = StoreOptions {
        identity: Some(Identity::current(&OsFs)?),
    };
    let store = Store::open_or_create(OsFs, dir, &key, &options)?;
    Ok((store, key))
}

/// A key-file mutant's key, unless `KEYRACE_MASTER_KEY` is set: then the reference resolves it
/// (the key-file diff never runs).
fn key_file_unless_env(dir: &Path, load: fn(&OsFs, &Path) -> Result<Key>) -> Result<Key> {
    if std::env::var_os(MASTER_KEY_ENV).is_some() {
        return (Steps::REFERENCE.resolve)(dir);
    }
    load(&OsFs, dir)
}

fn ledger_io(won: io::Result<bool>) -> std::result::Result<bool, AdapterError> {
    won.map_err(|source| {
        keyrace_core::Error::Fs {
            what: "consume the bootstrap grace",
            source,
        }
        .into()
    })
}

//! The steps of a request, chosen once per adapter process: the reference's, with the one
//! step a `--mutant` replaces by its body from `keyrace-mutants`.

use std::io;
use std::path::{Path, PathBuf};

use keyrace_core::bootstrap::{Consumed, FileLedger};
use keyrace_core::{
    reset_at_path, resolve_key, Identity, Key, KeySources, OsFs, Result, Store, StoreOptions,
    MASTER_KEY_ENV,
};
use keyrace_mutants::put::InPlace;
use keyrace_mutants::{grace, keygen, open, put, Mutant};
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
            Mutant::GetSwallowsErrors => Steps {
                get: put::get_swallowing_errors,
                ..reference
            },
            Mutant::DeleteRewritesAll => Steps {
                delete: put::delete_by_rewrite,
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

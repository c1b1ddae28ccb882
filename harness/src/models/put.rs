//! Puts into one store: the row `put-race` (seed 000). The model takes the store under test
//! as a [`SecretStore`]; [`CoreStore`] is keyrace's own, with its put and get steps swappable
//! for a mutant's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keyrace_core::{Error, Key, Result, Store, StoreOptions};
use keyrace_mutants::put::{self as mutant, InPlace};

use super::{actor_name, require, run_actors, show};
use crate::simfs::{Semantics, SimFs};
use crate::subject::SecretStore;

/// The invariant of this model, as its violations name it.
pub const PUT_RACE: &str = "every acknowledged put is readable afterwards with its value";

/// One process's put into the open store: its master key at hand for the mutants that seal
/// their own envelopes.
pub type PutStep = fn(&Store<SimFs>, &Key, &str, &[u8]) -> Result<()>;

/// One process's get from the open store.
pub type GetStep = fn(&Store<SimFs>, &str) -> Result<Option<Vec<u8>>>;

/// keyrace's `Store` under [`master`], each call opening it afresh.
#[derive(Clone, Copy)]
pub struct CoreStore {
    pub put: PutStep,
    pub get: GetStep,
}

impl CoreStore {
    /// `Store::put` / `Store::get`: one atomically replaced file per secret.
    pub const REFERENCE: CoreStore = CoreStore {
        put: |store, _, name, value| store.put(name, value),
        get: |store, name| Ok(store.get(name)?.map(|v| v.to_vec())),
    };

    /// `put-global-meta-rmw`: every put also read-modify-writes one shared index.
    pub const GLOBAL_META_RMW: CoreStore = CoreStore {
        put: |store, _, name, value| mutant::put_with_index(store, name, value),
        get: |store, name| Ok(mutant::get_with_index(store, name)?.map(|v| v.to_vec())),
    };

    /// `put-in-place`: the envelope is written over the live secret file.
    pub const IN_PLACE: CoreStore = CoreStore {
        put: |store, key, name, value| {
            mutant::in_place(store.fs(), store.dir(), key, name, value, InPlace::Chunked)
        },
        ..CoreStore::REFERENCE
    };

    /// `put-rename-unsynced-data`: the temp file is renamed over the secret without an fsync
    /// of its data.
    pub const RENAME_UNSYNCED_DATA: CoreStore = CoreStore {
        put: |store, key, name, value| {
            mutant::rename_unsynced_data(store.fs(), store.dir(), key, name, value)
        },
        ..CoreStore::REFERENCE
    };

    fn open(fs: &SimFs, dir: &Path) -> Result<Store<SimFs>> {
        Store::open(fs.clone(), dir, &master(), &StoreOptions::default())
    }
}

impl SecretStore for CoreStore {
    type Error = Error;

    fn create(&self, fs: &SimFs, dir: &Path) -> Result<()> {
        Store::create(fs.clone(), dir, &master(), &StoreOptions::default()).map(drop)
    }

    fn put(&self, fs: &SimFs, dir: &Path, name: &str, value: &[u8]) -> Result<()> {
        (self.put)(&CoreStore::open(fs, dir)?, &master(), name, value)
    }

    fn get(&self, fs: &SimFs, dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
        (self.get)(&CoreStore::open(fs, dir)?, name)
    }
}

pub fn store_dir() -> PathBuf {
    PathBuf::from("/data/store")
}

/// A fixed master key: the models are about files and schedules, not key sources.
pub fn master() -> Key {
    Key::from_bytes([0x5a; 32])
}

/// A POSIX SimFs with `store` created, durably, at [`store_dir`].
pub fn fresh_store<S: SecretStore>(store: &S) -> SimFs {
    let fs = SimFs::new(Semantics::Posix);
    if let Err(e) = fs.mkdir_durable(Path::new("/data")) {
        super::violated(&fs, super::SETUP, &e.to_string());
    }
    let made = store.create(&fs.actor("setup"), &store_dir());
    require(&fs, made.is_ok(), super::SETUP, || show(&made));
    fs.settle();
    fs
}

/// **put-race.** Invariant: when N actors put distinct secrets into one store at once, every
/// acknowledged put is readable afterwards with its value.
pub fn put_race<S: SecretStore>(store: S, actors: usize) -> impl Fn() + Send + Sync + 'static {
    let store = Arc::new(store);
    move || {
        const INVARIANT: &str = PUT_RACE;
        let fs = fresh_store(&*store);
        let dir = store_dir();
        let results = {
            let (fs, dir, store) = (fs.clone(), dir.clone(), Arc::clone(&store));
            run_actors(actors, move |i| {
                let me = fs.actor(&actor_name(i));
                let result = store.put(&me, &dir, &format!("s{i}"), &[b'0' + i as u8]);
                me.note(&format!("put s{i} returns {}", show(&result)));
                result
            })
        };
        let checker = fs.actor("check");
        for (i, result) in results.iter().enumerate() {
            // Nothing is injected: a put that fails here is a broken store, not a race lost.
            require(
                &fs,
                result.is_ok(),
                "every put into a healthy store succeeds",
                || format!("put s{i} returned {}", show(result)),
            );
            let got = store.get(&checker, &dir, &format!("s{i}"));
            let expected = vec![b'0' + i as u8];
            require(
                &fs,
                matches!(&got, Ok(Some(v)) if *v == expected),
                INVARIANT,
                || {
                    format!(
                        "s{i} was acknowledged with {expected:?}; now get gives {}",
                        show(&got)
                    )
                },
            );
        }
    }
}

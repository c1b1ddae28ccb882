//! Puts into one store: the row `put-race` (seed 000), and the put implementations the
//! `crash-put` row restarts.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use keyrace_core::atomic::{write_atomic, FILE_MODE};
use keyrace_core::envelope;
use keyrace_core::fs::read_file;
use keyrace_core::meta::{Meta, META_FILE};
use keyrace_core::store::{secret_file_name, SECRETS_DIR};
use keyrace_core::{Error, Key, Result, Store, StoreOptions};

use super::{actor_name, require, run_actors, show};
use crate::simfs::{Semantics, SimFs};

/// The invariant of this model, as its violations name it.
pub const PUT_RACE: &str = "every acknowledged put is readable afterwards with its value";

/// A way of putting and getting secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// `Store::put` / `Store::get`: one atomically replaced file per secret.
    Reference,
    /// `put-global-meta-rmw` (seed 000): every put also re-writes one shared integrity file
    /// (an index of secret names that `get` trusts) by read-modify-write, so concurrent puts
    /// drop each other's entries.
    GlobalMetaRmw,
    /// `put-in-place` (seed 003's failure shape for data): the secret file is truncated and
    /// rewritten in place without fsync, so a crash loses the old and the new value.
    InPlace,
}

/// The shared file of [`Put::GlobalMetaRmw`].
const INDEX_FILE: &str = "index";

impl Put {
    pub fn name(self) -> &'static str {
        match self {
            Put::Reference => "reference",
            Put::GlobalMetaRmw => "put-global-meta-rmw",
            Put::InPlace => "put-in-place",
        }
    }

    pub fn put(self, fs: &SimFs, dir: &Path, master: &Key, name: &str, value: &[u8]) -> Result<()> {
        let store = Store::open(fs.clone(), dir, master, &StoreOptions::default())?;
        match self {
            Put::Reference => store.put(name, value),
            Put::GlobalMetaRmw => {
                store.put(name, value)?;
                // The diff: read the shared index, add this name, write it back.
                let index_path = dir.join(INDEX_FILE);
                let mut index = match read_file(fs, &index_path) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
                    Err(source) => {
                        return Err(Error::Fs {
                            what: "read the index",
                            source,
                        })
                    }
                };
                index.push_str(name);
                index.push('\n');
                write_atomic(fs, &index_path, index.as_bytes()).map_err(|source| Error::Fs {
                    what: "write the index",
                    source,
                })
            }
            Put::InPlace => put_in_place(fs, dir, master, name, value),
        }
    }

    pub fn get(self, fs: &SimFs, dir: &Path, master: &Key, name: &str) -> Result<Option<Vec<u8>>> {
        let store = Store::open(fs.clone(), dir, master, &StoreOptions::default())?;
        if self == Put::GlobalMetaRmw {
            // The index is the integrity authority: an unlisted secret does not exist.
            let listed = match read_file(fs, &dir.join(INDEX_FILE)) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).lines().any(|l| l == name),
                Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                Err(source) => {
                    return Err(Error::Fs {
                        what: "read the index",
                        source,
                    })
                }
            };
            if !listed {
                return Ok(None);
            }
        }
        Ok(store.get(name)?.map(|v| v.to_vec()))
    }
}

fn put_in_place(fs: &SimFs, dir: &Path, master: &Key, name: &str, value: &[u8]) -> Result<()> {
    let meta_bytes = read_file(fs, &dir.join(META_FILE)).map_err(|source| Error::Fs {
        what: "read the store metadata",
        source,
    })?;
    let meta = Meta::parse(&meta_bytes).map_err(|e| Error::MetadataCorrupted {
        path: dir.join(META_FILE),
        detail: format!("{e:?}"),
    })?;
    let keys = meta.verify(master).map_err(|e| Error::MetadataCorrupted {
        path: dir.join(META_FILE),
        detail: format!("{e:?}"),
    })?;
    let sealed = envelope::seal(&keys.enc, name, value)?;
    let path = dir.join(SECRETS_DIR).join(secret_file_name(name)?);
    // The diff: O_TRUNC on the live file, and no fsync before acknowledging.
    let mut file = fs
        .open_truncate(&path, FILE_MODE)
        .map_err(|source| Error::Fs {
            what: "open the secret",
            source,
        })?;
    file.write_all(&sealed).map_err(|source| Error::Fs {
        what: "write the secret",
        source,
    })?;
    Ok(())
}

pub fn store_dir() -> PathBuf {
    PathBuf::from("/data/store")
}

/// A fixed master key: the models are about files and schedules, not key sources.
pub fn master() -> Key {
    Key::from_bytes([0x5a; 32])
}

/// A POSIX SimFs with a durable store at [`store_dir`].
pub fn fresh_store() -> SimFs {
    let fs = SimFs::new(Semantics::Posix);
    let made = fs
        .mkdir_durable(Path::new("/data"))
        .map_err(|source| Error::Fs {
            what: "mkdir",
            source,
        })
        .and_then(|()| {
            Store::create(
                fs.clone(),
                &store_dir(),
                &master(),
                &StoreOptions::default(),
            )
        });
    require(&fs, made.is_ok(), super::SETUP, || show(&made));
    fs
}

/// **put-race.** Invariant: when N actors put distinct secrets into one store at once, every
/// acknowledged put is readable afterwards with its value.
pub fn put_race(put: Put, actors: usize) -> impl Fn() + Send + Sync + 'static {
    move || {
        const INVARIANT: &str = PUT_RACE;
        let fs = fresh_store();
        let dir = store_dir();
        let results = {
            let (fs, dir) = (fs.clone(), dir.clone());
            run_actors(actors, move |i| {
                let me = fs.actor(&actor_name(i));
                let result = put.put(&me, &dir, &master(), &format!("s{i}"), &[b'0' + i as u8]);
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
            let got = put.get(&checker, &dir, &master(), &format!("s{i}"));
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

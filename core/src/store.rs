//! The store (seed 000): a directory holding `meta.json`, an optional key file, and one
//! AES-256-GCM envelope file per secret under `secrets/`.
//!
//! Every secret is its own file, replaced atomically, so puts from many processes never
//! read-modify-write shared state: no acknowledged secret can be lost to a concurrent put, and
//! no reader sees a partial envelope. `meta.json` is written once, with the same no-clobber
//! publish as the key file, so racing creators all end up with the winner's salt.
//!
//! Opening classifies every failure with a stable code and holds no handle once it returns:
//! every handle is an RAII value scoped to the function that opened it, so a failed open can
//! be followed at once by [`destroy_at_path`](crate::destroy_at_path), also on Windows.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::envelope::{self, MIN_ENVELOPE_LEN};
use crate::error::{Error, IntegrityReason, Result};
use crate::fs::{create_dir_all, sync_parent, FileKind, Fs};
use crate::identity::Identity;
use crate::key::Key;
use crate::layout::{
    secret_file_name, secret_name_of, DIR_MODE, META_FILE, SECRETS_DIR, TEMP_PREFIX,
};
use crate::meta::{Meta, MetaParseError, MetaVerifyError, MAX_META_LEN};
use crate::publish::{publish_noclobber, write_atomic};

/// Largest secret value.
pub const MAX_VALUE_LEN: usize = 16 * 1024 * 1024;

/// How a store is bound to the machine.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// The identity to bind a new store to, and to check an existing one against. `None`
    /// creates unbound stores and skips the check (for stores shared across machines).
    pub identity: Option<Identity>,
}

/// An open store. Holds no file handle between operations.
pub struct Store<F: Fs> {
    fs: F,
    dir: PathBuf,
    secrets: PathBuf,
    enc: Key,
    key_id: String,
}

impl<F: Fs> std::fmt::Debug for Store<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn read_limited<F: Fs + ?Sized>(fs: &F, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut file = fs.open_read(path)?;
    let mut bytes = Vec::new();
    file.by_ref().take(limit + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn integrity_reason(error: MetaVerifyError) -> IntegrityReason {
    match error {
        MetaVerifyError::WrongKey => IntegrityReason::WrongKey,
        MetaVerifyError::Altered => IntegrityReason::MetadataAltered,
    }
}

enum MetaState {
    Missing,
    Present(Meta),
}

fn read_meta<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<MetaState> {
    let path = dir.join(META_FILE);
    // Look before opening: a FIFO would block the open, a directory fails it with EISDIR.
    let kind = match fs.symlink_metadata(&path) {
        Ok(meta) => meta.kind,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(MetaState::Missing),
        Err(source) => {
            return Err(Error::Fs {
                what: "look up the store metadata",
                source,
            })
        }
    };
    if kind != FileKind::File {
        return Err(Error::MetadataCorrupted {
            path,
            detail: format!("it is {}, not a regular file", kind.description()),
        });
    }
    let bytes = match read_limited(fs, &path, MAX_META_LEN) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(MetaState::Missing),
        Err(source) => {
            return Err(Error::Fs {
                what: "read the store metadata",
                source,
            })
        }
    };
    let meta = Meta::parse(&bytes).map_err(|e| match e {
        MetaParseError::Corrupted(detail) => Error::MetadataCorrupted {
            path: path.clone(),
            detail,
        },
        MetaParseError::UnsupportedVersion(found) => Error::UnsupportedVersion {
            path: path.clone(),
            found,
            supported: crate::meta::META_VERSION,
        },
    })?;
    // The metadata may have been published by a process that has not fsynced the directory
    // yet; nothing may be encrypted under it until its name is durable.
    fs.sync_dir(dir)
        .map_err(Error::fs("fsync the store directory"))?;
    Ok(MetaState::Present(meta))
}

/// The metadata of the store at `dir`, or `None` when there is no store yet.
///
/// Metadata missing while secrets exist is `METADATA_MISSING`, but only after a second read:
/// a racing creator publishes `meta.json` before anyone can put a secret, so secrets seen
/// after a first "missing" read may belong to a store whose metadata appeared in between
/// (found by the 8-process keygen race).
fn existing_meta<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<Option<Meta>> {
    if let MetaState::Present(meta) = read_meta(fs, dir)? {
        return Ok(Some(meta));
    }
    if !holds_secrets(fs, &dir.join(SECRETS_DIR))? {
        return Ok(None);
    }
    match read_meta(fs, dir)? {
        MetaState::Present(meta) => Ok(Some(meta)),
        MetaState::Missing => Err(Error::MetadataMissing {
            path: dir.join(META_FILE),
        }),
    }
}

/// Whether `secrets/` holds any secret (temp files do not count).
fn holds_secrets<F: Fs + ?Sized>(fs: &F, secrets: &Path) -> Result<bool> {
    match fs.read_dir(secrets) {
        Ok(entries) => Ok(entries.iter().any(|entry| {
            !entry
                .name
                .to_str()
                .is_some_and(|name| name.starts_with(TEMP_PREFIX))
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::Fs {
            what: "list the store's secrets",
            source,
        }),
    }
}

impl<F: Fs> Store<F> {
    /// Open an existing store.
    pub fn open(fs: F, dir: &Path, master: &Key, options: &StoreOptions) -> Result<Store<F>> {
        match existing_meta(&fs, dir)? {
            Some(meta) => Store::verified(fs, dir, master, options, &meta),
            None => Err(Error::NoStore {
                path: dir.to_owned(),
            }),
        }
    }

    /// Create a new store; an existing one is an error.
    pub fn create(fs: F, dir: &Path, master: &Key, options: &StoreOptions) -> Result<Store<F>> {
        Store::open_or_create_inner(fs, dir, master, options, true)
    }

    /// Open the store at `dir`, creating it if there is none. Safe to race from many
    /// processes: all of them end up with the same store.
    pub fn open_or_create(
        fs: F,
        dir: &Path,
        master: &Key,
        options: &StoreOptions,
    ) -> Result<Store<F>> {
        Store::open_or_create_inner(fs, dir, master, options, false)
    }

    fn open_or_create_inner(
        fs: F,
        dir: &Path,
        master: &Key,
        options: &StoreOptions,
        must_create: bool,
    ) -> Result<Store<F>> {
        let secrets = dir.join(SECRETS_DIR);
        if let Some(meta) = existing_meta(&fs, dir)? {
            if must_create {
                return Err(Error::StoreExists {
                    path: dir.to_owned(),
                });
            }
            return Store::verified(fs, dir, master, options, &meta);
        }
        create_dir_all(&fs, &secrets, DIR_MODE).map_err(Error::fs("create the store directory"))?;
        sync_parent(&fs, dir).map_err(Error::fs("fsync the store's parent directory"))?;
        let meta = Meta::new(master, options.identity.clone())?;
        match publish_noclobber(&fs, &dir.join(META_FILE), &meta.to_bytes()) {
            Ok(()) => Store::verified(fs, dir, master, options, &meta),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && !must_create => {
                // Another creator won; use its metadata (complete by construction).
                match read_meta(&fs, dir)? {
                    MetaState::Present(winner) => {
                        Store::verified(fs, dir, master, options, &winner)
                    }
                    MetaState::Missing => Err(Error::MetadataMissing {
                        path: dir.join(META_FILE),
                    }),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::StoreExists {
                path: dir.to_owned(),
            }),
            Err(source) => Err(Error::Fs {
                what: "write the store metadata",
                source,
            }),
        }
    }

    /// Bind the store at `dir` to `identity` (`None`: unbind it), keeping every secret: the
    /// way out of `IDENTITY_CHANGED` after a legitimate change (a new hostname, a disk moved to
    /// a new machine). Only the holder of `master` can do it: the metadata must verify under
    /// it first, and its HMAC is recomputed under it. `meta.json` is replaced atomically, so a
    /// concurrent open sees the old or the new binding, both valid.
    ///
    /// An operator action, not a concurrent one: the metadata is read again just before the
    /// replace and a change (a reset and re-creation in between) aborts it, but a re-creation
    /// landing inside that last window would still lose its metadata. Do not run it while
    /// another process resets the same store.
    pub fn rebind_identity(
        fs: F,
        dir: &Path,
        master: &Key,
        identity: Option<Identity>,
    ) -> Result<()> {
        let meta = existing_meta(&fs, dir)?.ok_or_else(|| Error::NoStore {
            path: dir.to_owned(),
        })?;
        let path = dir.join(META_FILE);
        let rebound = meta
            .rebound(master, identity)
            .map_err(|e| Error::IntegrityMismatch {
                path: path.clone(),
                reason: integrity_reason(e),
            })?;
        // The store must still be the one verified above: its random salt names it.
        let unchanged = matches!(
            existing_meta(&fs, dir)?,
            Some(now) if now.salt == meta.salt
        );
        if !unchanged {
            return Err(Error::IntegrityMismatch {
                path,
                reason: IntegrityReason::MetadataAltered,
            });
        }
        write_atomic(&fs, &path, &rebound.to_bytes()).map_err(Error::fs("write the store metadata"))
    }

    fn verified(
        fs: F,
        dir: &Path,
        master: &Key,
        options: &StoreOptions,
        meta: &Meta,
    ) -> Result<Store<F>> {
        let path = dir.join(META_FILE);
        let keys = meta.verify(master).map_err(|e| Error::IntegrityMismatch {
            path,
            reason: integrity_reason(e),
        })?;
        if let (Some(recorded), Some(current)) = (&meta.identity, &options.identity) {
            current.check_compatible(recorded)?;
        }
        Ok(Store {
            fs,
            dir: dir.to_owned(),
            secrets: dir.join(SECRETS_DIR),
            enc: keys.enc.clone(),
            key_id: master.id(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The filesystem the store works through.
    pub fn fs(&self) -> &F {
        &self.fs
    }

    /// The public fingerprint of the master key in use ([`Key::id`]).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Store `value` under `name`, durably: when this returns `Ok`, the secret survives a crash.
    pub fn put(&self, name: &str, value: &[u8]) -> Result<()> {
        let file = secret_file_name(name)?;
        if value.len() > MAX_VALUE_LEN {
            return Err(Error::InvalidArgument {
                detail: format!(
                    "a secret value is at most {MAX_VALUE_LEN} bytes, this one is {} bytes",
                    value.len()
                ),
            });
        }
        let sealed = envelope::seal(&self.enc, name, value)?;
        write_atomic(&self.fs, &self.secrets.join(file), &sealed)
            .map_err(Error::fs("write the secret"))
    }

    /// The value of `name`, or `None` if there is no such secret.
    pub fn get(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let path = self.secrets.join(secret_file_name(name)?);
        let limit = (MAX_VALUE_LEN + MIN_ENVELOPE_LEN) as u64;
        let sealed = match read_limited(&self.fs, &path, limit) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Fs {
                    what: "read the secret",
                    source,
                })
            }
        };
        envelope::open(&self.enc, name, &sealed)
            .map(Some)
            .map_err(|_| Error::IntegrityMismatch {
                path,
                reason: IntegrityReason::SecretAltered {
                    name: name.to_owned(),
                },
            })
    }

    /// Remove `name`; `false` if there was no such secret.
    pub fn delete(&self, name: &str) -> Result<bool> {
        let path = self.secrets.join(secret_file_name(name)?);
        match self.fs.remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(Error::Fs {
                    what: "delete the secret",
                    source,
                })
            }
        }
        self.fs
            .sync_dir(&self.secrets)
            .map_err(Error::fs("fsync the secrets directory"))?;
        Ok(true)
    }

    /// The names of all secrets, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let entries = self
            .fs
            .read_dir(&self.secrets)
            .map_err(Error::fs("list the store's secrets"))?;
        let mut names: Vec<String> = entries
            .iter()
            .filter(|entry| entry.kind == FileKind::File)
            .filter_map(|entry| entry.name.to_str().and_then(secret_name_of))
            .collect();
        names.sort();
        Ok(names)
    }
}

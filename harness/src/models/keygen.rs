//! Key-file creation: the rows `keygen-race` and `keygen-error-masking` (seeds 003, 000), and
//! the key-file implementations the `crash-keygen` row restarts.
//!
//! Each mutant is the reference `keyrace_core::keyfile::load_or_create` with one small diff,
//! reproducing a real bug.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use keyrace_core::atomic::{write_atomic, DIR_MODE, FILE_MODE};
use keyrace_core::fs::create_dir_all;
use keyrace_core::keyfile::{key_file_bytes, read_key_file, KEY_FILE};
use keyrace_core::{load_or_create, Error, ErrorCode, Fs, FsFile, Key, Result};

use super::{actor_name, require, run_actors, show};
use crate::simfs::{CallKind, Fault, FaultError, Semantics, SimFs};

/// The invariant of this model, as its violations name it.
pub const KEYGEN_RACE: &str =
    "every racing actor ends with the same complete key, and it is the key on disk";

/// The invariant of this model, as its violations name it.
pub const KEYGEN_ERROR_MASKING: &str =
    "a key read error other than NotFound propagates with its code \
                                 and the existing key is never replaced";

/// A way of loading or creating the key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keygen {
    /// `keyrace_core::load_or_create`.
    Reference,
    /// `keygen-read-then-write`: check, generate, then replace with an atomic rename (seed 003,
    /// swamp issue #391 before PR #405): the second writer silently replaces the first key.
    ReadThenWrite,
    /// `keygen-excl-then-write`: `O_EXCL` create, then write into the published file (seed 003,
    /// swamp PR #405's fix): the loser can read the winner's file while it is still empty.
    ExclThenWrite,
    /// `keygen-broad-catch`: any read error means "no key yet" (seed 003, the bare `catch`
    /// PR #405 narrowed): a permission or I/O error replaces an existing key.
    BroadCatch,
    /// `keygen-no-fsync`: create and write the key file without fsyncing the file or the
    /// directory (seed 003): a crash after the key was handed out loses it.
    NoFsync,
}

impl Keygen {
    pub fn name(self) -> &'static str {
        match self {
            Keygen::Reference => "reference",
            Keygen::ReadThenWrite => "keygen-read-then-write",
            Keygen::ExclThenWrite => "keygen-excl-then-write",
            Keygen::BroadCatch => "keygen-broad-catch",
            Keygen::NoFsync => "keygen-no-fsync",
        }
    }

    /// Load the key in `dir`, creating it if absent.
    pub fn load<F: Fs + ?Sized>(self, fs: &F, dir: &Path) -> Result<Key> {
        match self {
            Keygen::Reference => load_or_create(fs, dir).map(|loaded| loaded.key),
            Keygen::ReadThenWrite => read_then_write(fs, dir),
            Keygen::ExclThenWrite => excl_then_write(fs, dir, true),
            Keygen::BroadCatch => broad_catch(fs, dir),
            Keygen::NoFsync => excl_then_write(fs, dir, false),
        }
    }
}

fn fs_error(what: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Fs { what, source }
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Fs { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

/// The reference's first step: `Some(key)`, `None` on `NotFound`, other errors propagate.
fn read_existing<F: Fs + ?Sized>(fs: &F, path: &Path) -> Result<Option<Key>> {
    match read_key_file(fs, path) {
        Ok(key) => Ok(Some(key)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_then_write<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<Key> {
    let path = dir.join(KEY_FILE);
    if let Some(key) = read_existing(fs, &path)? {
        return Ok(key);
    }
    create_dir_all(fs, dir, DIR_MODE).map_err(fs_error("create the key directory"))?;
    let key = Key::generate()?;
    // The diff: replace instead of publish-if-absent.
    write_atomic(fs, &path, key_file_bytes(&key).as_bytes())
        .map_err(fs_error("write the key file"))?;
    Ok(key)
}

fn excl_then_write<F: Fs + ?Sized>(fs: &F, dir: &Path, fsync: bool) -> Result<Key> {
    let path = dir.join(KEY_FILE);
    if let Some(key) = read_existing(fs, &path)? {
        return Ok(key);
    }
    create_dir_all(fs, dir, DIR_MODE).map_err(fs_error("create the key directory"))?;
    let key = Key::generate()?;
    // The diff: the final name exists before its content does.
    match fs.create_new(&path, FILE_MODE) {
        Ok(mut file) => {
            file.write_all(key_file_bytes(&key).as_bytes())
                .map_err(fs_error("write the key file"))?;
            if fsync {
                file.sync_all().map_err(fs_error("fsync the key file"))?;
                drop(file);
                fs.sync_dir(dir)
                    .map_err(fs_error("fsync the key directory"))?;
            }
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_key_file(fs, &path),
        Err(e) => Err(fs_error("create the key file")(e)),
    }
}

fn broad_catch<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<Key> {
    let path = dir.join(KEY_FILE);
    // The diff: every read error, not only NotFound, leads to "generate a new key".
    if let Ok(key) = read_key_file(fs, &path) {
        return Ok(key);
    }
    create_dir_all(fs, dir, DIR_MODE).map_err(fs_error("create the key directory"))?;
    let key = Key::generate()?;
    write_atomic(fs, &path, key_file_bytes(&key).as_bytes())
        .map_err(fs_error("write the key file"))?;
    Ok(key)
}

/// The directory every keygen model creates its key in; its parent exists and is durable.
pub fn key_dir() -> PathBuf {
    PathBuf::from("/home/u/.keyrace")
}

/// A fresh POSIX SimFs holding a durable, empty `/home/u`.
pub fn fresh_home(semantics: Semantics) -> SimFs {
    let fs = SimFs::new(semantics);
    if let Err(e) = fs.mkdir_durable(Path::new("/home/u")) {
        super::violated(&fs, super::SETUP, &e.to_string());
    }
    fs
}

/// **keygen-race.** Invariant: every actor racing to create the key of a fresh directory ends
/// with the same complete key, and it is the key in the file, under POSIX and under Windows
/// semantics (where a reader's open handle blocks removing the winner's temp name, which is the
/// same file as the key). Writes are short (40 bytes), so
/// an unpublished-but-named key file can be seen empty or half written, as in seed 003.
pub fn keygen_race(
    keygen: Keygen,
    actors: usize,
    semantics: Semantics,
) -> impl Fn() + Send + Sync + 'static {
    move || {
        const INVARIANT: &str = KEYGEN_RACE;
        let fs = fresh_home(semantics);
        // A 65-byte key file is written in two steps: a loser can read it empty or partial.
        fs.set_write_chunk(40);
        let dir = key_dir();
        let results = {
            let (fs, dir) = (fs.clone(), dir.clone());
            run_actors(actors, move |i| {
                let me = fs.actor(&actor_name(i));
                let result = keygen.load(&me, &dir);
                me.note(&format!("returns {}", show(&result)));
                result
            })
        };
        let shown: Vec<String> = results.iter().map(show).collect();
        let keys: Vec<&Key> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        require(&fs, keys.len() == results.len(), INVARIANT, || {
            format!("not every actor got a key: {shown:?}")
        });
        require(
            &fs,
            keys.windows(2).all(|w| w[0] == w[1]),
            INVARIANT,
            || format!("actors got different keys: {shown:?}"),
        );
        let on_disk = read_key_file(&fs.actor("check"), &dir.join(KEY_FILE));
        require(
            &fs,
            on_disk.as_ref().ok() == keys.first().copied(),
            INVARIANT,
            || format!("key file holds {}, actors got {shown:?}", show(&on_disk)),
        );
    }
}

/// **keygen-error-masking.** Invariant: when reading an existing key file fails for a reason
/// other than `NotFound`, the error propagates with its code and the key file is never
/// replaced; every actor that does get a key gets the existing one.
///
/// Actor `A`'s first open of the key file fails (permission denied, then in a second round an
/// I/O error); the other actors read normally.
pub fn keygen_error_masking(keygen: Keygen, actors: usize) -> impl Fn() + Send + Sync + 'static {
    move || {
        const INVARIANT: &str = KEYGEN_ERROR_MASKING;
        for (error, code) in [
            (FaultError::PermissionDenied, ErrorCode::PermissionDenied),
            (FaultError::Io, ErrorCode::Io),
        ] {
            let fs = fresh_home(Semantics::Posix);
            let dir = key_dir();
            let existing = Key::from_bytes([0x5a; 32]);
            let setup = fs.mkdir_durable(&dir).and_then(|()| {
                fs.write_durable(&dir.join(KEY_FILE), key_file_bytes(&existing).as_bytes())
            });
            require(&fs, setup.is_ok(), super::SETUP, || format!("{setup:?}"));
            fs.inject(Fault::nth(CallKind::OpenRead, "/.keyrace/key", 1, error).for_actor("A"));
            let results = {
                let (fs, dir) = (fs.clone(), dir.clone());
                run_actors(actors, move |i| {
                    let me = fs.actor(&actor_name(i));
                    let result = keygen.load(&me, &dir);
                    me.note(&format!("returns {}", show(&result)));
                    result
                })
            };
            for (i, result) in results.iter().enumerate() {
                let fine = match result {
                    Ok(key) => *key == existing,
                    Err(e) => i == 0 && e.code() == code,
                };
                require(&fs, fine, INVARIANT, || {
                    format!(
                        "actor {} with injected {error:?}: {} (existing key id {})",
                        actor_name(i),
                        show(result),
                        existing.id()
                    )
                });
            }
            let on_disk = read_key_file(&fs.actor("check"), &dir.join(KEY_FILE));
            require(
                &fs,
                on_disk.as_ref().ok() == Some(&existing),
                INVARIANT,
                || format!("key file now holds {}", show(&on_disk)),
            );
        }
    }
}

//! Key-file creation (seed 003, swamp; seed 000). Each mutant is the reference
//! `keyrace_core::load_or_create` with one diff, named in its comment; the catalogue rows
//! `keygen-race`, `keygen-error-masking` and `crash-keygen` and the runner's `keygen-race`
//! and `crash-keygen` scenarios catch them.

use std::io::{self, Write};
use std::path::Path;

use keyrace_core::fs::create_dir_all;
use keyrace_core::keyfile::{key_file_bytes, read_key_file};
use keyrace_core::layout::{DIR_MODE, FILE_MODE, KEY_FILE, TEMP_PREFIX};
use keyrace_core::publish::write_atomic;
use keyrace_core::{Error, Fs, FsFile, Key, Result};

use crate::fs_error;

/// The key file in `dir`, or, when there is none yet (`NotFound`, and only that), the key
/// that `create` makes and publishes at the given path: the part where the mutants differ.
fn load_or<F: Fs + ?Sized>(
    fs: &F,
    dir: &Path,
    create: impl FnOnce(&Path, Key) -> Result<Key>,
) -> Result<Key> {
    let path = dir.join(KEY_FILE);
    match read_key_file(fs, &path) {
        Err(Error::Fs { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            create_dir_all(fs, dir, DIR_MODE).map_err(fs_error("create the key directory"))?;
            create(&path, Key::generate()?)
        }
        other => other,
    }
}

/// keygen-read-then-write — seed 003 (swamp #391, before PR #405): "no key file" → generate
/// → write with replace. Diff: `link_noclobber` → `write_atomic`, and no re-read on a lost
/// race, so a second process silently replaces the first one's key.
pub fn read_then_write<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<Key> {
    load_or(fs, dir, |path, key| {
        write_atomic(fs, path, key_file_bytes(&key).as_bytes())
            .map_err(fs_error("write the key file"))?;
        Ok(key)
    })
}

/// keygen-excl-then-write — seed 003 (swamp PR #405's fix): `O_EXCL` create, then write into
/// the file that already has its final name. Diff: temp file + fsync + no-clobber link →
/// `create_new(path)` + `write_all`; a loser that reads in between gets an empty or partial key.
pub fn excl_then_write<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<Key> {
    load_or(fs, dir, |path, key| match fs.create_new(path, FILE_MODE) {
        Ok(mut file) => {
            file.write_all(key_file_bytes(&key).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(fs_error("write the key file"))?;
            drop(file);
            fs.sync_dir(dir)
                .map_err(fs_error("fsync the key directory"))?;
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_key_file(fs, path),
        Err(e) => Err(fs_error("create the key file")(e)),
    })
}

/// keygen-broad-catch — seed 003 (the bare `catch` swamp PR #405 narrowed): any read error
/// means "no key yet", so a permission or I/O error replaces an existing key. Diff: the
/// `NotFound` guard of the first step → any error.
pub fn broad_catch<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<Key> {
    let path = dir.join(KEY_FILE);
    if let Ok(key) = read_key_file(fs, &path) {
        return Ok(key);
    }
    create_dir_all(fs, dir, DIR_MODE).map_err(fs_error("create the key directory"))?;
    let key = Key::generate()?;
    write_atomic(fs, &path, key_file_bytes(&key).as_bytes())
        .map_err(fs_error("write the key file"))?;
    Ok(key)
}

/// keygen-no-fsync — seeds 003 / 000 (the key that a power loss empties): the key is written
/// to a temp file and linked to its name without a single fsync, of the file or of the
/// directory. Every process sees a complete key at once, so no SIGKILL shows anything; after a
/// power loss the name can survive (a later directory fsync persists it) while the data does
/// not, and every secret encrypted under the key is lost. Diff: `link_noclobber` + the
/// directory fsyncs → temp write + link, no fsync.
pub fn no_fsync<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<Key> {
    load_or(fs, dir, |path, key| {
        let suffix = keyrace_core::random::temp_suffix();
        let temp = dir.join(format!("{TEMP_PREFIX}key-{suffix:016x}"));
        let published = fs
            .create_new(&temp, FILE_MODE)
            .and_then(|mut file| file.write_all(key_file_bytes(&key).as_bytes()))
            .and_then(|()| fs.link_noreplace(&temp, path));
        // Best effort, as the reference's temp file: the data lives on under `path`.
        let _ = fs.remove_file(&temp);
        match published {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_key_file(fs, path),
            Err(e) => Err(fs_error("write the key file")(e)),
        }
    })
}

/// key-per-process — seed 001 (the key that does not survive a restart): a key is generated
/// the first time a process needs one and kept only in that process's memory, so everything
/// it encrypted is unreadable after a restart. Diff: the key file → a process-wide `OnceLock`.
pub fn key_per_process() -> Result<Key> {
    static KEY: std::sync::OnceLock<Key> = std::sync::OnceLock::new();
    if let Some(key) = KEY.get() {
        return Ok(key.clone());
    }
    let fresh = Key::generate()?;
    Ok(KEY.get_or_init(|| fresh).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyrace_core::OsFs;

    #[test]
    fn alone_each_mutant_creates_and_then_loads_one_key() {
        // Alone they all look right (which is why they ship): only a race, a fault or a crash
        // shows the bug.
        for load in [read_then_write, excl_then_write, broad_catch, no_fsync] {
            let dir = tempfile::tempdir().expect("tempdir");
            let keys = dir.path().join("k");
            let first = load(&OsFs, &keys).expect("create");
            assert_eq!(load(&OsFs, &keys).expect("load"), first);
            assert_eq!(
                keyrace_core::load_or_create(&OsFs, &keys)
                    .expect("reference")
                    .key,
                first
            );
        }
    }
}

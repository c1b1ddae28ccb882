//! Writing, reading and deleting secrets (seeds 000 and 003). Each mutant replaces one step
//! of `keyrace_core::Store`; the catalogue rows `put-race` and `crash-put` and the runner's
//! `put-race`, `crash-put`, `crash-states`, `recover-corrupt` and `delete-reset` scenarios
//! catch them.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use keyrace_core::envelope;
use keyrace_core::fs::{create_dir_all, read_file, sync_parent, try_symlink_metadata};
use keyrace_core::layout::{
    secret_file_name, DIR_MODE, FILE_MODE, META_FILE, SECRETS_DIR, TEMP_PREFIX,
};
use keyrace_core::meta::{Meta, StoreKeys};
use keyrace_core::{Error, Fs, FsFile, IntegrityReason, Key, Result, Store};
use zeroize::Zeroizing;

use crate::fs_error;

/// The size of one write of [`InPlace::Chunked`]: a stream writer's buffer.
pub const CHUNK: usize = 4 * 1024;

/// The envelope a put into the store at `dir` writes, sealed as the reference seals it (for
/// the mutants that write it their own way).
pub fn seal<F: Fs + ?Sized>(
    fs: &F,
    dir: &Path,
    master: &Key,
    name: &str,
    value: &[u8],
) -> Result<Vec<u8>> {
    let meta_bytes =
        read_file(fs, &dir.join(META_FILE)).map_err(fs_error("read the store metadata"))?;
    let meta = Meta::parse(&meta_bytes).map_err(|e| Error::MetadataCorrupted {
        path: dir.join(META_FILE),
        detail: format!("{e:?}"),
    })?;
    envelope::seal(&StoreKeys::derive(master, &meta.salt).enc, name, value)
}

/// How [`in_place`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InPlace {
    /// put-in-place — seeds 003 / 000: through a [`CHUNK`]-byte buffer, then fsync. A crash
    /// (or a SIGKILL) between the truncate and the last write leaves a torn envelope where the
    /// old, acknowledged value was.
    Chunked,
    /// put-in-place-one-write — seeds 003 / 000, the commonest bug of all: `fs::write(path,
    /// envelope)`, one write(2), no fsync. A SIGKILL lands before or after that call, never
    /// inside it; only a power loss shows the truncated or torn file.
    OneWrite,
}

/// put-in-place and put-in-place-one-write: the envelope is written straight over the
/// secret's file. Diff: `write_atomic(path)` → `open_truncate(path)` + `write` (+ fsync for
/// [`InPlace::Chunked`]).
pub fn in_place<F: Fs + ?Sized>(
    fs: &F,
    dir: &Path,
    master: &Key,
    name: &str,
    value: &[u8],
    style: InPlace,
) -> Result<()> {
    let sealed = seal(fs, dir, master, name, value)?;
    let path = dir.join(SECRETS_DIR).join(secret_file_name(name)?);
    let write = || -> io::Result<()> {
        let mut file = fs.open_truncate(&path, FILE_MODE)?;
        match style {
            InPlace::Chunked => {
                for chunk in sealed.chunks(CHUNK) {
                    file.write_all(chunk)?;
                }
                file.sync_all()
            }
            InPlace::OneWrite => file.write_all(&sealed),
        }
    };
    write().map_err(fs_error("write the secret"))
}

/// put-rename-no-dir-fsync — seed 000: temp file, fsync, rename, but no fsync of the
/// directory, so an acknowledged put can vanish with the rename after a power loss. Diff:
/// `write_atomic` without its final `sync_dir`.
pub fn rename_no_dir_fsync<F: Fs + ?Sized>(
    fs: &F,
    dir: &Path,
    master: &Key,
    name: &str,
    value: &[u8],
) -> Result<()> {
    rename_flawed(fs, dir, master, name, value, RenameFlaw::UnsyncedDirectory)
}

/// put-rename-unsynced-data — seed 000: temp file, rename, fsync of the directory, but no
/// fsync of the file's data, so after a power loss the new name can point at a file whose
/// data never reached the disk (ext4's zero-length files after a crash). Diff: `write_atomic`
/// without the temp file's `sync_all`.
pub fn rename_unsynced_data<F: Fs + ?Sized>(
    fs: &F,
    dir: &Path,
    master: &Key,
    name: &str,
    value: &[u8],
) -> Result<()> {
    rename_flawed(fs, dir, master, name, value, RenameFlaw::UnsyncedData)
}

/// put-shared-temp — seed 000: the secret is written to a temp file named after it (truncated
/// if it is there) and renamed over it, as a store does that derives its temp name from the
/// target. Two processes putting one name write the same temp file: one truncates what the
/// other wrote, and the second rename finds no temp file. Diff: `write_atomic` with that fixed
/// name, opened with truncate, instead of a fresh random one created exclusively.
pub fn shared_temp<F: Fs + ?Sized>(
    fs: &F,
    dir: &Path,
    master: &Key,
    name: &str,
    value: &[u8],
) -> Result<()> {
    rename_flawed(fs, dir, master, name, value, RenameFlaw::SharedTemp)
}

/// What a rename mutant gets wrong of `write_atomic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RenameFlaw {
    /// No fsync of the temp file's data before the rename.
    UnsyncedData,
    /// No fsync of the directory after the rename.
    UnsyncedDirectory,
    /// One temp file per secret name (under the temp prefix, so that destroy still recognizes
    /// a leftover), opened with truncate: puts of one name share it.
    SharedTemp,
}

/// `write_atomic` of the sealed secret, with `flaw`.
fn rename_flawed<F: Fs + ?Sized>(
    fs: &F,
    dir: &Path,
    master: &Key,
    name: &str,
    value: &[u8],
    flaw: RenameFlaw,
) -> Result<()> {
    let sealed = seal(fs, dir, master, name, value)?;
    let secrets = dir.join(SECRETS_DIR);
    let file_name = secret_file_name(name)?;
    let path = secrets.join(&file_name);
    let temp = match flaw {
        RenameFlaw::SharedTemp => secrets.join(format!("{TEMP_PREFIX}{file_name}")),
        _ => {
            let suffix = keyrace_core::random::temp_suffix();
            secrets.join(format!("{TEMP_PREFIX}{suffix:016x}"))
        }
    };
    let write = || -> io::Result<()> {
        let mut file = match flaw {
            RenameFlaw::SharedTemp => fs.open_truncate(&temp, FILE_MODE)?,
            _ => fs.create_new(&temp, FILE_MODE)?,
        };
        file.write_all(&sealed)?;
        if flaw != RenameFlaw::UnsyncedData {
            file.sync_all()?;
        }
        drop(file);
        fs.rename(&temp, &path)?;
        if flaw != RenameFlaw::UnsyncedDirectory {
            fs.sync_dir(&secrets)?;
        }
        Ok(())
    };
    write().map_err(fs_error("write the secret"))
}

/// The shared integrity file of put-global-meta-rmw, one secret name per line. Named like a
/// temp file so that `destroy_at_path` still recognizes the store; the bug is the
/// read-modify-write, not the name.
pub fn index_path(dir: &Path) -> PathBuf {
    dir.join(format!("{TEMP_PREFIX}index"))
}

fn read_index<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<Vec<String>> {
    match read_file(fs, &index_path(dir)) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(fs_error("read the integrity index")(e)),
    }
}

/// put-global-meta-rmw — seed 000 (secrets-engine #3): every put also re-writes one shared
/// integrity file by read-modify-write, so concurrent puts lose each other's entries and the
/// store then reports INTEGRITY_MISMATCH for acknowledged secrets ([`check_index`]). Diff:
/// after `store.put`, `index = read(index); index.push(name); write(index)`.
pub fn put_with_index<F: Fs>(store: &Store<F>, name: &str, value: &[u8]) -> Result<()> {
    store.put(name, value)?;
    let mut index = read_index(store.fs(), store.dir())?;
    if !index.iter().any(|n| n == name) {
        index.push(name.to_owned());
    }
    let mut bytes = index.join("\n");
    bytes.push('\n');
    keyrace_core::publish::write_atomic(store.fs(), &index_path(store.dir()), bytes.as_bytes())
        .map_err(fs_error("write the integrity index"))
}

/// put-global-meta-rmw's read side: a secret whose file exists but is missing from the index
/// counts as tampered.
pub fn check_index<F: Fs>(store: &Store<F>, name: &str) -> Result<()> {
    let file = store.dir().join(SECRETS_DIR).join(secret_file_name(name)?);
    let has_file = keyrace_core::fs::try_symlink_metadata(store.fs(), &file)
        .map_err(fs_error("look for the secret"))?
        .is_some();
    if has_file
        && !read_index(store.fs(), store.dir())?
            .iter()
            .any(|n| n == name)
    {
        return Err(Error::IntegrityMismatch {
            path: index_path(store.dir()),
            reason: IntegrityReason::SecretAltered {
                name: name.to_owned(),
            },
        });
    }
    Ok(())
}

/// put-global-meta-rmw's `get`: [`check_index`], then the reference's.
pub fn get_with_index<F: Fs>(store: &Store<F>, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
    check_index(store, name)?;
    store.get(name)
}

/// get-swallows-errors — seed 000 (a damaged store gives the true value or a coded error): a
/// catch-all around reading and decrypting a secret turns every failure into an empty value,
/// as config stores that "clear invalid config" do. Diff: `get(name)?` → any error read as
/// an empty value.
pub fn get_swallowing_errors<F: Fs>(
    store: &Store<F>,
    name: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    Ok(store
        .get(name)
        .unwrap_or_else(|_| Some(Zeroizing::default())))
}

/// delete-rewrites-all — seed 000's shape (a whole-store read-modify-write): delete loads
/// every other secret and writes the store back without the deleted one, as a single-file
/// JSON store does. Diff: `remove_file(secret)` → snapshot all, rewrite all but `name`, then
/// remove; a put that lands between the snapshot and the rewrite is silently reverted.
pub fn delete_by_rewrite<F: Fs>(store: &Store<F>, name: &str) -> Result<bool> {
    let mut snapshot = Vec::new();
    for other in store.list()?.into_iter().filter(|other| other != name) {
        if let Some(value) = store.get(&other)? {
            snapshot.push((other, value));
        }
    }
    for (other, value) in &snapshot {
        store.put(other, value)?;
    }
    store.delete(name)
}

/// delete-no-dir-fsync — seed 000: the secret's file is unlinked but its directory is never
/// synced, so an acknowledged delete can be undone by a power loss and the secret comes back.
/// Diff: `Store::delete` without its `sync_dir`.
pub fn delete_no_dir_fsync<F: Fs>(store: &Store<F>, name: &str) -> Result<bool> {
    let path = store.dir().join(SECRETS_DIR).join(secret_file_name(name)?);
    match store.fs().remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(fs_error("delete the secret")(e)),
    }
}

/// Where [`put_keeping_previous`] keeps a secret's previous version: `<store>.prev/<hex name>`,
/// beside the store (a directory inside it would not be recognized by `reset`).
pub fn previous_path(dir: &Path, name: &str) -> Result<PathBuf> {
    let mut beside = dir.as_os_str().to_owned();
    beside.push(".prev");
    Ok(PathBuf::from(beside).join(secret_file_name(name)?))
}

/// put-previous-unsynced — seed 000 (a writer that keeps a backup): before replacing a
/// secret, the writer links its file as the previous version (durably), replaces it as the
/// reference does, and unlinks the previous version; a reader that finds no file but a
/// previous version falls back to it and puts it back. Each operation is right after any one
/// crash. Diff: the unlink of the previous version is never made durable (no fsync of its
/// directory), so after a put *and then a delete* of the same name (both acknowledged) a power
/// loss can keep the previous version while the delete's removal persists, and the next read
/// brings back a value two operations old: only a mix of operations reaches it.
pub fn put_keeping_previous<F: Fs>(store: &Store<F>, name: &str, value: &[u8]) -> Result<()> {
    let fs = store.fs();
    let current = store.dir().join(SECRETS_DIR).join(secret_file_name(name)?);
    let previous = previous_path(store.dir(), name)?;
    let keep = || -> io::Result<()> {
        let beside = keyrace_core::fs::parent_dir(&previous)?;
        create_dir_all(fs, beside, DIR_MODE)?;
        sync_parent(fs, beside)?;
        match fs.remove_file(&previous) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        fs.link_noreplace(&current, &previous)?;
        fs.sync_dir(beside)
    };
    match keep() {
        Ok(()) => {}
        // The first put of the name: there is nothing to keep.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(fs_error("keep the previous version")(e)),
    }
    store.put(name, value)?;
    match fs.remove_file(&previous) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fs_error("remove the previous version")(e)),
    }
}

/// The get of put-previous-unsynced: a missing secret with a previous version falls back to
/// it (renamed back, durably) before the reference get.
pub fn get_restoring_previous<F: Fs>(
    store: &Store<F>,
    name: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let fs = store.fs();
    let secrets = store.dir().join(SECRETS_DIR);
    let current = secrets.join(secret_file_name(name)?);
    let previous = previous_path(store.dir(), name)?;
    let fall_back = try_symlink_metadata(fs, &current)
        .and_then(|now| Ok(now.is_none() && try_symlink_metadata(fs, &previous)?.is_some()))
        .map_err(fs_error("look for the previous version"))?;
    if fall_back {
        fs.rename(&previous, &current)
            .and_then(|()| fs.sync_dir(&secrets))
            .map_err(fs_error("put the previous version back"))?;
    }
    store.get(name)
}

//! Known-bad variants of the reference adapter's steps, one per real-world bug, so the runner
//! can be shown to catch each (`keyrace-reference-adapter --mutant NAME`). Each is a small diff against
//! the reference step it replaces; the comment names the seed (`docs/seeds.md`) and the diff.
//! The harness crate keeps its own in-process copies for the models; these run across real
//! processes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use keyrace_core::atomic::{write_atomic, TEMP_PREFIX};
use keyrace_core::envelope;
use keyrace_core::fs::create_dir_all;
use keyrace_core::keyfile::{key_file_bytes, read_key_file, KEY_FILE};
use keyrace_core::meta::{Meta, StoreKeys, META_FILE};
use keyrace_core::store::{secret_file_name, SECRETS_DIR};
use keyrace_core::{
    resolve_key, Error, Fs, FsFile, IntegrityReason, Key, KeyMode, KeySources, OsFs, Store,
    MASTER_KEY_ENV,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutant {
    KeygenReadThenWrite,
    KeygenExclThenWrite,
    PutGlobalMetaRmw,
    PutInPlace,
    GraceCheckThenSet,
    OpenLeaksHandle,
    SilentEphemeral,
    ResetNeedsOpen,
    DeleteRewritesAll,
    GetSwallowsErrors,
    KeyPerProcess,
    PutInPlaceOneWrite,
    KeygenNoFsync,
    PutRenameNoDirFsync,
    ConsumeNoFsync,
}

impl Mutant {
    pub const ALL: [Mutant; 15] = [
        Mutant::KeygenReadThenWrite,
        Mutant::KeygenExclThenWrite,
        Mutant::PutGlobalMetaRmw,
        Mutant::PutInPlace,
        Mutant::GraceCheckThenSet,
        Mutant::OpenLeaksHandle,
        Mutant::SilentEphemeral,
        Mutant::ResetNeedsOpen,
        Mutant::DeleteRewritesAll,
        Mutant::GetSwallowsErrors,
        Mutant::KeyPerProcess,
        Mutant::PutInPlaceOneWrite,
        Mutant::KeygenNoFsync,
        Mutant::PutRenameNoDirFsync,
        Mutant::ConsumeNoFsync,
    ];

    pub const NAMES: [&'static str; 15] = [
        "keygen-read-then-write",
        "keygen-excl-then-write",
        "put-global-meta-rmw",
        "put-in-place",
        "grace-check-then-set",
        "open-leaks-handle",
        "silent-ephemeral",
        "reset-needs-open",
        "delete-rewrites-all",
        "get-swallows-errors",
        "key-per-process",
        "put-in-place-one-write",
        "keygen-no-fsync",
        "put-rename-no-dir-fsync",
        "consume-no-fsync",
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mutant::KeygenReadThenWrite => "keygen-read-then-write",
            Mutant::KeygenExclThenWrite => "keygen-excl-then-write",
            Mutant::PutGlobalMetaRmw => "put-global-meta-rmw",
            Mutant::PutInPlace => "put-in-place",
            Mutant::GraceCheckThenSet => "grace-check-then-set",
            Mutant::OpenLeaksHandle => "open-leaks-handle",
            Mutant::SilentEphemeral => "silent-ephemeral",
            Mutant::ResetNeedsOpen => "reset-needs-open",
            Mutant::DeleteRewritesAll => "delete-rewrites-all",
            Mutant::GetSwallowsErrors => "get-swallows-errors",
            Mutant::KeyPerProcess => "key-per-process",
            Mutant::PutInPlaceOneWrite => "put-in-place-one-write",
            Mutant::KeygenNoFsync => "keygen-no-fsync",
            Mutant::PutRenameNoDirFsync => "put-rename-no-dir-fsync",
            Mutant::ConsumeNoFsync => "consume-no-fsync",
        }
    }

    /// The scenario expected to catch this mutant.
    pub fn caught_by(self) -> &'static str {
        match self {
            Mutant::KeygenReadThenWrite | Mutant::KeygenExclThenWrite => "keygen-race",
            Mutant::PutGlobalMetaRmw => "put-race",
            Mutant::PutInPlace => "crash-put",
            Mutant::GraceCheckThenSet => "double-bootstrap",
            Mutant::OpenLeaksHandle => "failed-open-releases-handles",
            Mutant::SilentEphemeral => "no-stable-key",
            Mutant::ResetNeedsOpen | Mutant::DeleteRewritesAll => "delete-reset",
            Mutant::GetSwallowsErrors => "recover-corrupt",
            Mutant::KeyPerProcess => "restart-durability",
            Mutant::PutInPlaceOneWrite | Mutant::PutRenameNoDirFsync => "crash-states",
            Mutant::KeygenNoFsync => "crash-keygen",
            Mutant::ConsumeNoFsync => "crash-consume",
        }
    }

    /// Only the systematic mode (`--explore`) can catch it: a SIGKILL never tears one
    /// write(2) nor loses the page cache.
    pub fn needs_explore(self) -> bool {
        matches!(
            self,
            Mutant::PutInPlaceOneWrite
                | Mutant::KeygenNoFsync
                | Mutant::PutRenameNoDirFsync
                | Mutant::ConsumeNoFsync
        )
    }
}

impl std::str::FromStr for Mutant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mutant::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown mutant {s:?}; one of {}", Mutant::NAMES.join(", ")))
    }
}

/// The key-resolution step of a mutant, or `None` for the reference
/// (`resolve_key(&OsFs, &KeySources::from_env(dir))`).
pub(crate) fn resolve(dir: &Path, mutant: Option<Mutant>) -> Option<keyrace_core::Result<Key>> {
    let key_file_mutant = std::env::var_os(MASTER_KEY_ENV).is_none();
    match mutant? {
        Mutant::KeygenReadThenWrite if key_file_mutant => Some(keygen_read_then_write(dir)),
        Mutant::KeygenExclThenWrite if key_file_mutant => Some(keygen_excl_then_write(dir)),
        Mutant::SilentEphemeral => Some(silent_ephemeral(dir)),
        Mutant::KeyPerProcess if key_file_mutant => Some(key_per_process()),
        Mutant::KeygenNoFsync if key_file_mutant => Some(keygen_no_fsync(dir)),
        _ => None,
    }
}

/// key-per-process — seed 001 (the key that does not survive a restart): a key is generated
/// the first time a process needs one and kept only in that process's memory, so everything
/// it encrypted is unreadable after a restart. Diff: the key file → a process-wide `OnceLock`.
fn key_per_process() -> keyrace_core::Result<Key> {
    static KEY: std::sync::OnceLock<Key> = std::sync::OnceLock::new();
    if let Some(key) = KEY.get() {
        return Ok(key.clone());
    }
    let fresh = Key::generate()?;
    Ok(KEY.get_or_init(|| fresh).clone())
}

/// The key file at `dir`, or, when there is none yet, the key that `create` makes and
/// publishes at `path` (the part where the keygen mutants differ from the reference).
fn load_or(
    dir: &Path,
    create: impl FnOnce(&Path, Key) -> keyrace_core::Result<Key>,
) -> keyrace_core::Result<Key> {
    let path = dir.join(KEY_FILE);
    match read_key_file(&OsFs, &path) {
        Err(Error::Fs { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            create_dir_all(&OsFs, dir, 0o700).map_err(fs_error("create the key directory"))?;
            create(&path, Key::generate()?)
        }
        other => other,
    }
}

/// keygen-read-then-write — seed 003 (swamp #391, before PR #405): "no key file" → generate →
/// write with replace. Diff: `publish_noclobber` → `write_atomic`, and no re-read on a lost
/// race, so a second process silently replaces the first one's key.
fn keygen_read_then_write(dir: &Path) -> keyrace_core::Result<Key> {
    load_or(dir, |path, key| {
        write_atomic(&OsFs, path, key_file_bytes(&key).as_bytes())
            .map_err(fs_error("write the key file"))?;
        Ok(key)
    })
}

/// keygen-excl-then-write — seed 003 (swamp PR #405's fix): `O_EXCL` create, then write into
/// the file that already has its final name. Diff: temp file + fsync + no-clobber link →
/// `create_new(path)` + `write_all`; a loser that reads in between gets an empty or partial key.
fn keygen_excl_then_write(dir: &Path) -> keyrace_core::Result<Key> {
    load_or(dir, |path, key| match OsFs.create_new(path, 0o600) {
        Ok(mut file) => {
            file.write_all(key_file_bytes(&key).as_bytes())
                .and_then(|()| file.sync_all())
                .and_then(|()| OsFs.sync_dir(dir))
                .map_err(fs_error("write the key file"))?;
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_key_file(&OsFs, path),
        Err(e) => Err(fs_error("create the key file")(e)),
    })
}

/// keygen-no-fsync — seed 003 / 000 (the key that a power loss empties): the key is written to
/// a temp file and linked to its name without a single fsync, of the file or of the
/// directory. Every process sees a complete key at once, so no SIGKILL shows anything; after a
/// power loss the name can survive (a later directory fsync persists it) while the data does
/// not, and every secret encrypted under the key is lost. Diff: `link_noclobber` + `durable`
/// → temp write + link, no fsync.
fn keygen_no_fsync(dir: &Path) -> keyrace_core::Result<Key> {
    load_or(dir, |path, key| {
        let temp = dir.join(format!("{TEMP_PREFIX}key-{}", std::process::id()));
        let published = OsFs
            .create_new(&temp, 0o600)
            .and_then(|mut file| file.write_all(key_file_bytes(&key).as_bytes()))
            .and_then(|()| OsFs.link_noreplace(&temp, path));
        let _ = std::fs::remove_file(&temp);
        match published {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_key_file(&OsFs, path),
            Err(e) => Err(fs_error("write the key file")(e)),
        }
    })
}

/// silent-ephemeral — seed 001 (ObjectStack #1507): the key file lives in `$HOME`, and when it
/// can be neither read nor created a random per-process key is used without a word. Diff:
/// `KeySources::from_env(dir)` → `{ key_file_dir: $HOME/.keyrace, mode: DevEphemeral }`.
fn silent_ephemeral(dir: &Path) -> keyrace_core::Result<Key> {
    let home = std::env::var_os("HOME").map_or_else(|| dir.to_owned(), PathBuf::from);
    let sources = KeySources {
        key_file_dir: Some(home.join(".keyrace")),
        mode: KeyMode::DevEphemeral,
        ..KeySources::from_env(dir)
    };
    resolve_key(&OsFs, &sources).map(|resolved| resolved.key)
}

/// put-in-place — seed 003 / 000: the envelope is written straight over the secret's file
/// (streamed through a 4 KiB buffer, as most stream writers do), so a crash mid-write leaves a torn envelope where
/// the old, acknowledged value was. Diff: `write_atomic(path)` → `truncate(path)` + `write`.
pub(crate) fn put_in_place(
    dir: &Path,
    master: &Key,
    name: &str,
    value: &str,
    style: InPlace,
) -> keyrace_core::Result<()> {
    let sealed = seal(dir, master, name, value)?;
    let path = dir.join(SECRETS_DIR).join(secret_file_name(name)?);
    let write = || -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        match style {
            InPlace::Chunked => {
                for chunk in sealed.chunks(4 * 1024) {
                    file.write_all(chunk)?;
                }
                file.sync_all()
            }
            InPlace::OneWrite => file.write_all(&sealed),
        }
    };
    write().map_err(fs_error("write the secret"))
}

/// The envelope a put of the store at `dir` writes, sealed as the reference does (for the
/// mutants that write it their own way).
fn seal(dir: &Path, master: &Key, name: &str, value: &str) -> keyrace_core::Result<Vec<u8>> {
    let meta_bytes = keyrace_core::fs::read_file(&OsFs, &dir.join(META_FILE))
        .map_err(fs_error("read the store metadata"))?;
    let meta = Meta::parse(&meta_bytes).map_err(|_| Error::MetadataCorrupted {
        path: dir.join(META_FILE),
        detail: "changed while a put ran".to_owned(),
    })?;
    envelope::seal(
        &StoreKeys::derive(master, &meta.salt).enc,
        name,
        value.as_bytes(),
    )
}

/// How put-in-place writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InPlace {
    /// Through a 4 KiB buffer, then fsync (caught by a SIGKILL mid-write).
    Chunked,
    /// put-in-place-one-write — seed 003 / 000, the commonest bug of all: `fs::write(path,
    /// envelope)`, one write(2), no fsync. A SIGKILL lands before or after that call, never
    /// inside it; only a power loss shows the truncated or torn file.
    OneWrite,
}

/// put-rename-no-dir-fsync — seed 000: temp file, fsync, rename, but no fsync of the
/// directory, so an acknowledged put can vanish with the rename after a power loss. Diff:
/// `write_atomic` without its final `sync_dir`.
pub(crate) fn put_rename_no_dir_fsync(
    dir: &Path,
    master: &Key,
    name: &str,
    value: &str,
) -> keyrace_core::Result<()> {
    let sealed = seal(dir, master, name, value)?;
    let secrets = dir.join(SECRETS_DIR);
    let path = secrets.join(secret_file_name(name)?);
    let temp = secrets.join(format!("{TEMP_PREFIX}{}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut file = OsFs.create_new(&temp, 0o600)?;
        file.write_all(&sealed)?;
        file.sync_all()?;
        drop(file);
        OsFs.rename(&temp, &path)
    };
    write().map_err(fs_error("write the secret"))
}

/// The shared integrity file of put-global-meta-rmw. Named like a temp file so that
/// `destroy_at_path` still recognizes the store; the bug is the read-modify-write, not the name.
fn index_path(store: &Store<OsFs>) -> PathBuf {
    store.dir().join(format!("{TEMP_PREFIX}index"))
}

fn read_index(store: &Store<OsFs>) -> keyrace_core::Result<Vec<String>> {
    match keyrace_core::fs::read_file(&OsFs, &index_path(store)) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(fs_error("read the integrity index")(e)),
    }
}

/// put-global-meta-rmw — seed 000 (secrets-engine #3): every put also re-writes one shared
/// integrity file by read-modify-write, so concurrent puts lose each other's entries and the
/// store then reports INTEGRITY_MISMATCH for acknowledged secrets. Diff: after `store.put`,
/// `index = read(index); index.push(name); write(index)`.
pub(crate) fn put_with_index(
    store: &Store<OsFs>,
    name: &str,
    value: &str,
) -> keyrace_core::Result<()> {
    store.put(name, value.as_bytes())?;
    let mut index = read_index(store)?;
    if !index.iter().any(|n| n == name) {
        index.push(name.to_owned());
    }
    let bytes = serde_json::to_vec(&index).unwrap_or_else(|_| unreachable!("strings serialize"));
    write_atomic(&OsFs, &index_path(store), &bytes).map_err(fs_error("write the integrity index"))
}

/// put-global-meta-rmw's read side: a secret missing from the index counts as tampered.
pub(crate) fn check_index(store: &Store<OsFs>, name: &str) -> keyrace_core::Result<()> {
    let has_file = store
        .dir()
        .join(SECRETS_DIR)
        .join(secret_file_name(name)?)
        .exists();
    if has_file && !read_index(store)?.iter().any(|n| n == name) {
        return Err(Error::IntegrityMismatch {
            path: index_path(store),
            reason: IntegrityReason::SecretAltered {
                name: name.to_owned(),
            },
        });
    }
    Ok(())
}

/// grace-check-then-set — seed 002 (loopctl PR #300, before the atomic conditional UPDATE):
/// look whether the grace was used, then mark it used. Diff: `create_new(marker)` →
/// `if !exists(marker) { create(marker) }`, so racing consumers can all win.
/// consume-no-fsync — seed 002: the grace's marker is created with `O_EXCL` (so racing
/// consumers are right) but never fsynced, nor its directory: after a power loss the marker
/// of an acknowledged win can vanish and the grace is granted again. Diff: `FileLedger`'s
/// create + fsync + directory fsync → create.
pub(crate) fn consume_without_fsync(dir: &Path, token: &str) -> io::Result<bool> {
    create_dir_all(&OsFs, dir, 0o700)?;
    let path = keyrace_core::bootstrap::FileLedger::new(OsFs, dir).marker_path(token);
    match OsFs.create_new(&path, 0o600) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn consume_check_then_set(dir: &Path, token: &str) -> io::Result<bool> {
    create_dir_all(&OsFs, dir, 0o700)?;
    let path = keyrace_core::bootstrap::FileLedger::new(OsFs, dir).marker_path(token);
    if path.exists() {
        return Ok(false);
    }
    let file = File::create(&path)?;
    file.sync_all()?;
    OsFs.sync_dir(dir)?;
    Ok(true)
}

static LEAKED: Mutex<Vec<File>> = Mutex::new(Vec::new());

/// open-leaks-handle — seed 000 (secrets-engine #3: a failed open keeps SQLite handles, so
/// Windows cannot delete the store). Diff: on the error path, a handle to a store file is kept
/// alive (here: pushed into a static) instead of being dropped.
pub(crate) fn leak_a_handle(dir: &Path) {
    let file = File::open(dir.join(META_FILE)).or_else(|_| File::open(dir));
    if let Ok(file) = file {
        LEAKED.lock().unwrap_or_else(|p| p.into_inner()).push(file);
    }
}

fn fs_error(what: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Fs { what, source }
}

/// delete-rewrites-all — seed 000's shape (a whole-store read-modify-write): delete loads every
/// other secret and writes the store back without the deleted one, as a single-file JSON store
/// does. Diff: `remove_file(secret)` → snapshot all, rewrite all but `name`, then remove; a put
/// that lands between the snapshot and the rewrite is silently reverted.
pub(crate) fn delete_by_rewrite(store: &Store<OsFs>, name: &str) -> keyrace_core::Result<bool> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(Mutant::ALL.map(Mutant::name), Mutant::NAMES);
        for mutant in Mutant::ALL {
            assert_eq!(mutant.name().parse::<Mutant>(), Ok(mutant));
        }
        assert!("nope".parse::<Mutant>().is_err());
    }

    #[test]
    fn check_then_set_is_right_when_consumers_do_not_overlap() {
        // Alone, the mutant looks right (which is why the bug ships): only a race shows it.
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(consume_check_then_set(dir.path(), "t").expect("first"));
        assert!(!consume_check_then_set(dir.path(), "t").expect("second"));
    }
}

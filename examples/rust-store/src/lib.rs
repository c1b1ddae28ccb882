//! A small file store of named secrets, checked by keyrace both ways: its own `cargo test`
//! runs the catalogue's models on this code (`tests/models.rs`), and the runner races real
//! processes of its adapter binary (`tests/runner.rs`).
//!
//! ```text
//! <store>/store.json        {"format": 1}
//! <store>/key               the store's 32-byte key, 64 hex digits and a newline
//! <store>/secrets/<hex>     {"name", "value", "mac"}: HMAC-SHA256 under the key
//! <ledger>/<sha256(token)>  one marker per consumed one-time token
//! ```
//!
//! Every file is published whole: a private temp file, fsynced, then renamed (or linked, for
//! the key, so that a second creator never replaces the first one's key), then the directory
//! fsynced. The feature `planted-bugs` swaps two steps for real-world bugs (see
//! [`publish_key`] and [`write_secret`]); `planted-key-reader` a third, which only the racing
//! crash form reaches (see `settle_found_key`). The file calls go through `keyrace_fs::StdFs`, so
//! the same code runs on the real filesystem and on keyrace's simulated one.

use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use keyrace_fs::{Fs, FsFile, StdFs};
use keyrace_protocol::{ErrorCode, Failure};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const META: &str = "store.json";
const KEY: &str = "key";
const SECRETS: &str = "secrets";
const TEMP: &str = ".tmp-";

/// A failed store call, with the keyrace code an adapter reports for it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {what}: {source}")]
    Io {
        what: &'static str,
        source: io::Error,
    },
    #[error("{} is missing but the store has secrets; destroy the store to start over", .0.display())]
    MetadataMissing(PathBuf),
    #[error("{} is corrupted ({detail}); destroy the store to start over", path.display())]
    MetadataCorrupted { path: PathBuf, detail: String },
    #[error("{} has format {found}, this build reads format 1", path.display())]
    UnsupportedVersion { path: PathBuf, found: String },
    #[error("the key file {} is damaged; restore it from a backup, or destroy the store", .0.display())]
    KeyCorrupted(PathBuf),
    #[error("{} is damaged or was not written with this store's key; put the secret again", .0.display())]
    IntegrityMismatch(PathBuf),
    #[error("{} does not look like a store; refusing to delete it", .0.display())]
    NotAStore(PathBuf),
}

impl StoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Io { source, .. } => ErrorCode::from_io(source),
            StoreError::MetadataMissing(_) => ErrorCode::MetadataMissing,
            StoreError::MetadataCorrupted { .. } => ErrorCode::MetadataCorrupted,
            StoreError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            StoreError::KeyCorrupted(_) => ErrorCode::KeyCorrupted,
            StoreError::IntegrityMismatch(_) => ErrorCode::IntegrityMismatch,
            StoreError::NotAStore(_) => ErrorCode::InvalidArgument,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::new(e.code(), e.to_string())
    }
}

fn io_error(what: &'static str) -> impl FnOnce(io::Error) -> StoreError {
    move |source| StoreError::Io { what, source }
}

type Result<T> = std::result::Result<T, StoreError>;

/// The store's key. Compared in constant time; shown only by its id.
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; 32]>);

impl Key {
    /// A public fingerprint: the first 8 bytes of its SHA-256, in hex.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(*self.0)[..8])
    }

    fn mac(&self, name: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&*self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(name.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.0.ct_eq(&*other.0).into()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.id())
    }
}

fn parent(path: &Path) -> io::Result<&Path> {
    match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Ok(Path::new(".")),
        Some(p) => Ok(p),
        None => Err(io::Error::new(
            ErrorKind::InvalidInput,
            "a path without a parent",
        )),
    }
}

/// A fresh temp file name beside `path`.
fn temp_beside(path: &Path) -> io::Result<PathBuf> {
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| io::Error::other(e.to_string()))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    Ok(parent(path)?.join(format!("{name}{TEMP}{}", hex::encode(suffix))))
}

/// Write `bytes` to a private temp file beside `path` and fsync it.
fn write_temp<F: Fs + ?Sized>(fs: &F, path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let temp = temp_beside(path)?;
    let mut file = fs.create_new(&temp, 0o600)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written {
        let _ = fs.remove_file(&temp);
        return Err(e);
    }
    Ok(temp)
}

/// Replace `path` with `bytes`: temp, fsync, rename, fsync the directory.
fn write_atomic<F: Fs + ?Sized>(fs: &F, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = write_temp(fs, path, bytes)?;
    if let Err(e) = fs.rename(&temp, path) {
        let _ = fs.remove_file(&temp);
        return Err(e);
    }
    fs.sync_dir(parent(path)?)
}

/// `mkdir -p dir`, and fsync the parent so that the new directory survives a crash.
fn create_dir_durably<F: Fs + ?Sized>(fs: &F, dir: &Path) -> io::Result<()> {
    let std = StdFs::new(fs);
    if std.try_exists(dir)? {
        return Ok(());
    }
    std.create_dir_all(dir)?;
    std.sync_dir(parent(dir)?)
}

/// Publish a new key file at `path`, unless one exists already (`AlreadyExists` then).
#[cfg(not(feature = "planted-bugs"))]
pub fn publish_key<F: Fs + ?Sized>(fs: &F, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = write_temp(fs, path, bytes)?;
    // A hard link never replaces: a second creator gets AlreadyExists and reads the first
    // one's complete key.
    let linked = fs.link_noreplace(&temp, path);
    let _ = fs.remove_file(&temp);
    linked?;
    fs.sync_dir(parent(path)?)
}

/// Planted bug 1 (seed 003, swamp PR #405's fix): the key file is created under its final name
/// (`O_EXCL`, so no creator replaces another) and then written. A second process that reads
/// it in between finds it empty or half written.
#[cfg(feature = "planted-bugs")]
pub fn publish_key<F: Fs + ?Sized>(fs: &F, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs.create_new(path, 0o600)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs.sync_dir(parent(path)?)
}

fn read_key<F: Fs + ?Sized>(fs: &F, path: &Path) -> Result<Option<Key>> {
    let text = match StdFs::new(fs).read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("read the key file")(e)),
    };
    let text = Zeroizing::new(text);
    let digits = text.strip_suffix(b"\n").unwrap_or(&text);
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(digits, &mut *key)
        .map_err(|_| StoreError::KeyCorrupted(path.to_owned()))?;
    Ok(Some(Key(key)))
}

/// The key in `dir/key`, created (with `dir`) when there is none: every process racing to
/// create it ends up with the same key.
pub fn load_or_create_key<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<Key> {
    let path = dir.join(KEY);
    if let Some(key) = read_key(fs, &path)? {
        settle_found_key(fs, dir)?;
        return Ok(key);
    }
    create_dir_durably(fs, dir).map_err(io_error("create the key directory"))?;
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *bytes)
        .map_err(|e| io_error("generate a key")(io::Error::other(e.to_string())))?;
    let key = Key(bytes);
    let text = Zeroizing::new(format!("{}\n", hex::encode(*key.0)));
    match publish_key(fs, &path, text.as_bytes()) {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let key = read_key(fs, &path)?.ok_or_else(|| StoreError::KeyCorrupted(path.clone()))?;
            settle_found_key(fs, dir)?;
            Ok(key)
        }
        Err(e) => Err(io_error("write the key file")(e)),
    }
}

/// A key found on disk (read, or a lost race to publish one) may be a racing creator's that it
/// has not fsynced the directory for yet: nothing may be encrypted under a key whose name a
/// power loss can take back (found by the runner's crash-history-race, two preemptions deep).
#[cfg(not(feature = "planted-key-reader"))]
fn settle_found_key<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<()> {
    fs.sync_dir(dir)
        .map_err(io_error("fsync the key directory"))
}

/// Planted bug 3 (seed 003's loser, process-level): a key found on disk is used at once. Every
/// process sees the same complete key, so no kill shows anything; a power loss before the
/// creator's directory fsync takes the key's name back, with this process's secrets already
/// acknowledged under it.
#[cfg(feature = "planted-key-reader")]
fn settle_found_key<F: Fs + ?Sized>(_fs: &F, _dir: &Path) -> Result<()> {
    Ok(())
}

/// Open the store at `dir`, creating it if absent: its key and its secrets directory.
pub fn open<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<(Key, PathBuf)> {
    let std = StdFs::new(fs);
    let (meta, secrets) = (dir.join(META), dir.join(SECRETS));
    match std.read(&meta) {
        Ok(text) => {
            let format = serde_json::from_slice::<serde_json::Value>(&text)
                .map_err(|e| StoreError::MetadataCorrupted {
                    path: meta.clone(),
                    detail: e.to_string(),
                })?
                .get("format")
                .cloned();
            if format != Some(serde_json::json!(1)) {
                let found = format.map_or_else(|| "none".to_owned(), |f| f.to_string());
                return Err(StoreError::UnsupportedVersion { path: meta, found });
            }
            // A racing creator may not have made the metadata durable yet.
            fs.sync_dir(dir).map_err(io_error("fsync the store"))?;
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let has_secrets = std.read_dir(&secrets).is_ok_and(|d| !d.is_empty());
            // A racing creator publishes store.json before any secret: look again first.
            if has_secrets
                && !std
                    .try_exists(&meta)
                    .map_err(io_error("look for the metadata"))?
            {
                return Err(StoreError::MetadataMissing(meta));
            }
            if !has_secrets {
                create_dir_durably(fs, &secrets).map_err(io_error("create the store"))?;
                write_atomic(fs, &meta, br#"{"format": 1}"#)
                    .map_err(io_error("write the metadata"))?;
            }
        }
        Err(e) => return Err(io_error("read the metadata")(e)),
    }
    Ok((load_or_create_key(fs, dir)?, secrets))
}

fn secret_path(secrets: &Path, name: &str) -> PathBuf {
    secrets.join(hex::encode(name))
}

/// Write a secret's record: replace the file whole.
#[cfg(not(feature = "planted-bugs"))]
pub fn write_secret<F: Fs + ?Sized>(fs: &F, path: &Path, record: &[u8]) -> io::Result<()> {
    write_atomic(fs, path, record)
}

/// Planted bug 2 (seeds 003 and 000, the commonest of all): `fs::write(path, record)`, the
/// file truncated and rewritten in place with one write and no fsync. A crash (a power loss,
/// not a SIGKILL: one write(2) is never torn by a kill) leaves the old value gone.
#[cfg(feature = "planted-bugs")]
pub fn write_secret<F: Fs + ?Sized>(fs: &F, path: &Path, record: &[u8]) -> io::Result<()> {
    StdFs::new(fs).write(path, record)
}

/// Put `name = value`; returns the key's id.
pub fn put<F: Fs + ?Sized>(fs: &F, dir: &Path, name: &str, value: &str) -> Result<String> {
    let (key, secrets) = open(fs, dir)?;
    let record = serde_json::json!({"name": name, "value": value, "mac": key.mac(name, value)});
    write_secret(
        fs,
        &secret_path(&secrets, name),
        record.to_string().as_bytes(),
    )
    .map_err(io_error("write the secret"))?;
    Ok(key.id())
}

/// The value of `name` (`None` if there is no such secret), and the key's id.
pub fn get<F: Fs + ?Sized>(fs: &F, dir: &Path, name: &str) -> Result<(Option<String>, String)> {
    let (key, secrets) = open(fs, dir)?;
    let path = secret_path(&secrets, name);
    let bytes = match StdFs::new(fs).read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((None, key.id())),
        Err(e) => return Err(io_error("read the secret")(e)),
    };
    let record: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let value = record.as_ref().and_then(|r| {
        let value = r.get("value")?.as_str()?;
        let mac = r.get("mac")?.as_str()?;
        let intact = r.get("name")?.as_str()? == name
            && bool::from(mac.as_bytes().ct_eq(key.mac(name, value).as_bytes()));
        intact.then(|| value.to_owned())
    });
    match value {
        Some(value) => Ok((Some(value), key.id())),
        None => Err(StoreError::IntegrityMismatch(path)),
    }
}

/// Delete `name` (nothing to do if absent); returns the key's id.
pub fn delete<F: Fs + ?Sized>(fs: &F, dir: &Path, name: &str) -> Result<String> {
    let (key, secrets) = open(fs, dir)?;
    match fs.remove_file(&secret_path(&secrets, name)) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(io_error("delete the secret")(e)),
        _ => {}
    }
    fs.sync_dir(&secrets)
        .map_err(io_error("fsync the secrets directory"))?;
    Ok(key.id())
}

/// Empty the store at `dir` without opening it (it may be damaged), and remove the directory
/// too when `remove_dir`. Refuses anything that is not one of its files.
pub fn clear<F: Fs + ?Sized>(fs: &F, dir: &Path, remove_dir: bool) -> Result<()> {
    let std = StdFs::new(fs);
    let entries = match std.read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("list the store")(e)),
    };
    let secrets = dir.join(SECRETS);
    let ours = |name: &str| {
        name.split(TEMP)
            .next()
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let secret_files = std.read_dir(&secrets).unwrap_or_default();
    let fine = entries.iter().all(|e| {
        let name = e.name.to_string_lossy();
        name == META
            || name == KEY
            || name.starts_with(&format!("{META}{TEMP}"))
            || name.starts_with(&format!("{KEY}{TEMP}"))
            || (name == SECRETS && secret_files.iter().all(|s| ours(&s.name.to_string_lossy())))
    });
    if !fine {
        return Err(StoreError::NotAStore(dir.to_owned()));
    }
    for file in &secret_files {
        std.remove_file(secrets.join(&file.name))
            .map_err(io_error("delete a secret"))?;
    }
    for entry in &entries {
        let path = dir.join(&entry.name);
        if entry.name == SECRETS {
            std.remove_dir(path)
        } else {
            std.remove_file(path)
        }
        .map_err(io_error("delete a store file"))?;
    }
    if remove_dir {
        std.remove_dir(dir)
            .map_err(io_error("delete the store directory"))?;
        std.sync_dir(parent(dir).map_err(io_error("find the store's parent"))?)
    } else {
        std.sync_dir(dir)
    }
    .map_err(io_error("fsync after deleting"))
}

/// Consume the one-time token `token` of the ledger at `dir`: `true` for the one caller that
/// wins it, `false` for every other, ever.
pub fn consume<F: Fs + ?Sized>(fs: &F, dir: &Path, token: &str) -> Result<bool> {
    create_dir_durably(fs, dir).map_err(io_error("create the ledger"))?;
    let marker = dir.join(hex::encode(Sha256::digest(token.as_bytes())));
    let mut file = match fs.create_new(&marker, 0o600) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            // The winner may not have made its marker durable yet: a refusal answered from it
            // would not survive the power loss that takes the marker.
            fs.sync_dir(dir).map_err(io_error("fsync the ledger"))?;
            return Ok(false);
        }
        Err(e) => return Err(io_error("create the token's marker")(e)),
    };
    file.sync_all()
        .map_err(io_error("fsync the token's marker"))?;
    drop(file);
    fs.sync_dir(dir).map_err(io_error("fsync the ledger"))?;
    Ok(true)
}

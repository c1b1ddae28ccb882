//! The client's persisted head cache (seed 002, client side).
//!
//! One small JSON file per (server, key): `keyrace-sth-<hash>.json`, where the hash covers the
//! server and the key, so the key never touches disk and two keys against one server never
//! share a file. Writes are atomic and never follow a symlink: a private temp file
//! (exclusive create, 0600), fsync, then rename over the name (which replaces a planted
//! symlink instead of writing through it). Loads `lstat` first and refuse a symlink, a
//! non-file and a file owned by another user, then open without following symlinks.
//!
//! Anything wrong with the cache (missing, corrupt, wrong shape, unreadable, unwritable)
//! degrades to "no cache": the client bootstraps and retries, it never fails because of it.
//!
//! Residual window: between the `lstat` and the open, another process of the *same* user could
//! swap the file; the open still refuses a symlink, and the directory is the user's own.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::bootstrap::SignedTreeHead;
use crate::fs::{create_dir_all, FileKind, Fs};
use crate::layout::DIR_MODE;
use crate::publish::write_atomic;
use crate::witness::transport::ApiKey;

/// Largest cache file read; a valid one is under 100 bytes.
pub const MAX_CACHE_FILE: u64 = 4096;

/// Format version written into every cache file.
pub const CACHE_VERSION: u32 = 1;

/// What a load found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheLoad {
    Hit(SignedTreeHead),
    Miss(CacheMiss),
}

impl CacheLoad {
    pub fn head(self) -> Option<SignedTreeHead> {
        match self {
            CacheLoad::Hit(head) => Some(head),
            CacheLoad::Miss(_) => None,
        }
    }
}

/// Why a load found no usable head. The client treats them all as "no cache".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMiss {
    Missing,
    /// A symlink sits at the cache path: never followed.
    Symlink,
    /// The file belongs to another user: never trusted.
    ForeignOwner,
    /// A directory or special file sits at the cache path.
    NotAFile,
    /// Not a cache file of this format (garbage, truncated, wrong shape, too large).
    Corrupt,
    /// The file could not be read (permissions, I/O).
    Unreadable,
}

/// Where the client keeps its last known head across processes.
///
/// Seam for mutants: `cache-write-in-place` and `cache-follows-symlink` are a `CacheStore`
/// whose `store` writes the path directly (or through the link); build them from
/// [`encode`]/[`decode`] and [`FileCacheStore::path`].
pub trait CacheStore: Send + Sync {
    fn load(&self) -> CacheLoad;
    /// Persist `head`. The client ignores the error (an unwritable cache is no cache); it is
    /// returned for tests and reports.
    fn store(&self, head: &SignedTreeHead) -> io::Result<()>;
}

impl<C: CacheStore + ?Sized> CacheStore for &C {
    fn load(&self) -> CacheLoad {
        (**self).load()
    }
    fn store(&self, head: &SignedTreeHead) -> io::Result<()> {
        (**self).store(head)
    }
}

/// No persistence at all: every new client bootstraps.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCache;

impl CacheStore for NoCache {
    fn load(&self) -> CacheLoad {
        CacheLoad::Miss(CacheMiss::Missing)
    }
    fn store(&self, _head: &SignedTreeHead) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    version: u32,
    head: String,
}

/// The cache file's bytes for `head`: `{"version":1,"head":"<head>"}` and a newline. A head's
/// text is digits, a colon and base64url, so it needs no JSON escaping.
pub fn encode(head: &SignedTreeHead) -> Vec<u8> {
    format!("{{\"version\":{CACHE_VERSION},\"head\":\"{head}\"}}\n").into_bytes()
}

/// The head in cache file bytes, or `None` for anything but a well-formed cache file.
pub fn decode(bytes: &[u8]) -> Option<SignedTreeHead> {
    let file: CacheFile = serde_json::from_slice(bytes).ok()?;
    if file.version != CACHE_VERSION {
        return None;
    }
    SignedTreeHead::parse(&file.head).ok()
}

/// `keyrace-sth-<32 hex>.json`: a hash of the server and the key, length-prefixed so that no
/// two (server, key) pairs share a name.
pub fn cache_file_name(server: &str, key: &ApiKey) -> String {
    let digest = Sha256::new()
        .chain_update(b"keyrace/sth-cache/v1\0")
        .chain_update((server.len() as u64).to_be_bytes())
        .chain_update(server.as_bytes())
        .chain_update(key.expose().as_bytes())
        .finalize();
    format!("keyrace-sth-{}.json", hex::encode(&digest[..16]))
}

/// The file-backed cache of one (server, key).
#[derive(Debug)]
pub struct FileCacheStore<F: Fs> {
    fs: F,
    dir: PathBuf,
    path: PathBuf,
    owner: Option<u32>,
}

impl<F: Fs> FileCacheStore<F> {
    /// The cache of (`server`, `key`) in `dir`, trusting files of the process's user.
    pub fn new(fs: F, dir: impl Into<PathBuf>, server: &str, key: &ApiKey) -> FileCacheStore<F> {
        let dir = dir.into();
        let path = dir.join(cache_file_name(server, key));
        let owner = fs.process_uid();
        FileCacheStore {
            fs,
            dir,
            path,
            owner,
        }
    }

    /// The cache in the OS temp directory (the seed's default).
    pub fn in_temp_dir(fs: F, server: &str, key: &ApiKey) -> FileCacheStore<F> {
        FileCacheStore::new(fs, std::env::temp_dir(), server, key)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fs(&self) -> &F {
        &self.fs
    }

    fn read(&self) -> Result<SignedTreeHead, CacheMiss> {
        let meta = match self.fs.symlink_metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(CacheMiss::Missing),
            Err(_) => return Err(CacheMiss::Unreadable),
        };
        match meta.kind {
            FileKind::File => {}
            FileKind::Symlink => return Err(CacheMiss::Symlink),
            FileKind::Dir | FileKind::Other => return Err(CacheMiss::NotAFile),
        }
        if let (Some(owner), Some(uid)) = (self.owner, meta.uid) {
            if owner != uid {
                return Err(CacheMiss::ForeignOwner);
            }
        }
        if meta.len > MAX_CACHE_FILE {
            return Err(CacheMiss::Corrupt);
        }
        // open_read never follows a final symlink, so a swap after the lstat fails here.
        let mut file = self
            .fs
            .open_read(&self.path)
            .map_err(|_| CacheMiss::Unreadable)?;
        let mut bytes = Vec::new();
        file.by_ref()
            .take(MAX_CACHE_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| CacheMiss::Unreadable)?;
        drop(file);
        decode(&bytes).ok_or(CacheMiss::Corrupt)
    }
}

impl<F: Fs> CacheStore for FileCacheStore<F> {
    fn load(&self) -> CacheLoad {
        match self.read() {
            Ok(head) => CacheLoad::Hit(head),
            Err(miss) => CacheLoad::Miss(miss),
        }
    }

    fn store(&self, head: &SignedTreeHead) -> io::Result<()> {
        create_dir_all(&self.fs, &self.dir, DIR_MODE)?;
        write_atomic(&self.fs, &self.path, &encode(head))
    }
}

//! The one-time bootstrap grace: a [`GraceLedger`] consumes it atomically, once per key id.
//!
//! Exactly one of any number of concurrent consumers of one key id gets [`Consumed::Won`]. A
//! consume that fails is an error, never `Won`: the caller must not let a request through on a
//! grace it could not record.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::bootstrap::BootstrapError;
use crate::fs::{create_dir_all, Fs, FsFile};
use crate::layout::{DIR_MODE, FILE_MODE};
use crate::sync::Mutex;

/// Longest key id (or adapter token) accepted, in bytes.
pub const MAX_KEY_ID: usize = 1024;

/// The outcome of a consume that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// This caller consumed the grace; nobody else ever will.
    Won,
    /// The grace was consumed before (by another caller, or by this one earlier).
    AlreadyConsumed,
}

impl Consumed {
    pub fn won(self) -> bool {
        self == Consumed::Won
    }
}

/// Records which key ids have used their one-time bootstrap grace.
///
/// `try_consume` must be one atomic compare-and-set: "check, then set" as two steps lets two
/// racing consumers both win (the `grace-check-then-set` mutant, seed 002 / custody-03).
pub trait GraceLedger: Send + Sync {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError>;
}

impl<L: GraceLedger + ?Sized> GraceLedger for &L {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        (**self).try_consume(key_id)
    }
}

impl<L: GraceLedger + ?Sized> GraceLedger for Box<L> {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        (**self).try_consume(key_id)
    }
}

impl<L: GraceLedger + ?Sized> GraceLedger for crate::sync::Arc<L> {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        (**self).try_consume(key_id)
    }
}

/// Key ids are untrusted: refuse the empty one and absurdly long ones before touching state.
pub fn validate_key_id(key_id: &str) -> Result<(), BootstrapError> {
    if key_id.is_empty() {
        return Err(BootstrapError::InvalidKeyId {
            detail: "it is empty".to_owned(),
        });
    }
    if key_id.len() > MAX_KEY_ID {
        return Err(BootstrapError::InvalidKeyId {
            detail: format!(
                "it has {} bytes, at most {MAX_KEY_ID} are allowed",
                key_id.len()
            ),
        });
    }
    Ok(())
}

/// An in-memory ledger: one mutex around the set makes check-and-set one step.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    consumed: Mutex<HashSet<String>>,
}

impl MemoryLedger {
    pub fn new() -> MemoryLedger {
        MemoryLedger::default()
    }

    /// Whether `key_id`'s grace is gone. A separate read: using it to decide a consume is the
    /// `grace-check-then-set` bug. Exposed so the harness can write that mutant in two lines.
    pub fn is_consumed(&self, key_id: &str) -> bool {
        self.lock().contains(key_id)
    }

    /// Mark `key_id` consumed unconditionally; returns whether it was new. The mutant's "set".
    pub fn mark(&self, key_id: &str) -> bool {
        self.lock().insert(key_id.to_owned())
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, HashSet<String>> {
        // A panic while holding the lock cannot leave the set half-updated (insert is one step).
        match self.consumed.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl GraceLedger for MemoryLedger {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        validate_key_id(key_id)?;
        Ok(if self.mark(key_id) {
            Consumed::Won
        } else {
            Consumed::AlreadyConsumed
        })
    }
}

/// A file-backed ledger: one empty marker file per key id in `dir`, created exclusively.
///
/// The marker's name is `grace-` and the SHA-256 of the key id in hex, so an untrusted id
/// (`../x`, `/etc/passwd`, NUL bytes) can never name a path outside `dir`, and the directory
/// listing does not reveal the ids.
///
/// Durability and crashes. `try_consume` is: exclusive create (`O_CREAT|O_EXCL`), fsync the
/// marker, fsync `dir`, and only then `Won`. The exclusive create is the compare-and-set: the
/// kernel lets exactly one creator succeed, every other one gets `AlreadyExists`, i.e.
/// `AlreadyConsumed`.
/// - A crash before the directory fsync may drop the marker. Nobody was told `Won` (that comes
///   after the fsync), so after restart at most one consumer can win: still exactly-once for
///   `Won`. A concurrent consumer that saw the not-yet-durable marker was refused
///   (`AlreadyConsumed`), which is always safe: the gate's 412 carries the head to resync.
/// - A crash that persists the marker but not the caller's answer burns the grace without a
///   winner. That fails closed: clients resync through the 412's head.
/// - If fsync fails, the marker is removed again (best effort) and the consume is an error:
///   the grace stays unburned, and nobody was told `Won`.
#[derive(Debug)]
pub struct FileLedger<F: Fs> {
    fs: F,
    dir: PathBuf,
}

/// Prefix of every marker file name.
pub const MARKER_PREFIX: &str = "grace-";

impl<F: Fs> FileLedger<F> {
    /// A ledger in `dir`; the directory is created (0700) on the first consume if needed.
    pub fn new(fs: F, dir: impl Into<PathBuf>) -> FileLedger<F> {
        FileLedger {
            fs,
            dir: dir.into(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn fs(&self) -> &F {
        &self.fs
    }

    /// Where the marker of `key_id` lives (always directly inside [`dir`](Self::dir)).
    pub fn marker_path(&self, key_id: &str) -> PathBuf {
        self.dir.join(marker_name(key_id))
    }

    /// Consume `key_id`'s grace (the same as [`GraceLedger::try_consume`], without the import):
    /// the `consume` op of the adapter protocol.
    pub fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        validate_key_id(key_id)?;
        create_dir_all(&self.fs, &self.dir, DIR_MODE)
            .map_err(BootstrapError::ledger("create the grace ledger directory"))?;
        let path = self.marker_path(key_id);
        match self.publish_marker(&path) {
            Ok(()) => Ok(Consumed::Won),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // The winner may not have fsynced the directory yet: a refusal answered from a
                // marker that a power loss can take back would be undone with the win it
                // reports (found by the runner's crash-history-race).
                self.fs
                    .sync_dir(&self.dir)
                    .map_err(BootstrapError::ledger("fsync the grace ledger directory"))?;
                Ok(Consumed::AlreadyConsumed)
            }
            Err(e) => Err(BootstrapError::Ledger {
                what: "record the consumed grace",
                source: e,
            }),
        }
    }

    fn publish_marker(&self, path: &Path) -> io::Result<()> {
        let mut file = self.fs.create_new(path, FILE_MODE)?;
        let synced = file.sync_all();
        drop(file); // closed before a possible removal: Windows cannot remove an open file
        let durable = synced.and_then(|()| self.fs.sync_dir(&self.dir));
        if let Err(e) = durable {
            // Not durable, so not won: un-burn the grace. If this removal fails too, the grace
            // stays burned with no winner, which fails closed.
            let _ = self.fs.remove_file(path);
            return Err(e);
        }
        Ok(())
    }
}

/// The marker file name of `key_id`: `grace-<sha256 hex>`.
pub fn marker_name(key_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"keyrace/grace/v1\0")
        .chain_update(key_id.as_bytes())
        .finalize();
    format!("{MARKER_PREFIX}{}", hex::encode(digest))
}

impl<F: Fs> GraceLedger for FileLedger<F> {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        FileLedger::try_consume(self, key_id)
    }
}

//! The `consume` op's one-time grace ledger: one marker file per token, created exclusively.
//!
//! Stand-in for `keyrace_core::bootstrap::FileLedger::try_consume` until that lands; the
//! integrator swaps the body of [`try_consume`] for it. Exactly one of any number of racing
//! processes creates the marker (`O_CREAT | O_EXCL` is atomic in the kernel); the winner makes
//! it durable before it answers, so a crash after `won: true` cannot hand the grace out again.

use std::io;
use std::path::{Path, PathBuf};

use keyrace_core::{Fs, FsFile, OsFs};
use sha2::{Digest, Sha256};

/// The marker file of `token` in `dir`: named by a hash, so any token is a valid file name
/// and the token itself is not written to disk.
pub fn marker_path(dir: &Path, token: &str) -> PathBuf {
    let digest = Sha256::new()
        .chain_update(b"keyrace/grace/v1\0")
        .chain_update(token.as_bytes())
        .finalize();
    dir.join(format!("grace-{}", hex::encode(digest)))
}

/// Consume the grace of `token` in the ledger directory `dir` (created if missing):
/// `Ok(true)` for the one caller that consumed it, `Ok(false)` for everyone after.
pub fn try_consume(dir: &Path, token: &str) -> io::Result<bool> {
    keyrace_core::fs::create_dir_all(&OsFs, dir, 0o700)?;
    let path = marker_path(dir, token);
    match OsFs.create_new(&path, 0o600) {
        Ok(mut file) => {
            file.sync_all()?;
            drop(file);
            OsFs.sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_of_many_threads_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = dir.path().join("ledger");
        let wins: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| try_consume(&ledger, "tok").expect("consume")))
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().expect("thread")))
                .sum()
        });
        assert_eq!(wins, 1);
        assert!(!try_consume(&ledger, "tok").expect("again"));
        assert!(try_consume(&ledger, "other").expect("another token"));
    }
}

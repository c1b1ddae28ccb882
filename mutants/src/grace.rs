//! Consuming the one-time bootstrap grace (seed 002, loopctl). Each mutant replaces
//! `keyrace_core::bootstrap::FileLedger::try_consume`; the catalogue row `double-bootstrap`
//! and the runner's `double-bootstrap` and `crash-consume` scenarios catch them. Both answer
//! `Ok(true)` for "won".

use std::io;
use std::path::Path;

use keyrace_core::bootstrap::FileLedger;
use keyrace_core::fs::{create_dir_all, try_symlink_metadata};
use keyrace_core::layout::{DIR_MODE, FILE_MODE};
use keyrace_core::{Fs, FsFile};

/// grace-check-then-set — seed 002 (loopctl PR #300, before the atomic conditional UPDATE):
/// look whether the grace was used, then mark it used. Diff: `create_new(marker)` →
/// `if !exists(marker) { create(marker) }`, so racing consumers can all win.
pub fn check_then_set<F: Fs + ?Sized>(fs: &F, dir: &Path, token: &str) -> io::Result<bool> {
    create_dir_all(fs, dir, DIR_MODE)?;
    let marker = FileLedger::new(fs, dir).marker_path(token);
    if try_symlink_metadata(fs, &marker)?.is_some() {
        return Ok(false);
    }
    let mut file = fs.open_truncate(&marker, FILE_MODE)?;
    file.sync_all()?;
    drop(file);
    fs.sync_dir(dir)?;
    Ok(true)
}

/// consume-no-fsync — seed 002: the grace's marker is created with `O_EXCL` (so racing
/// consumers are right) but never fsynced, nor its directory: after a power loss the marker
/// of an acknowledged win can vanish and the grace is granted again. Diff: `FileLedger`'s
/// create + fsync + directory fsync → create.
pub fn consume_without_fsync<F: Fs + ?Sized>(fs: &F, dir: &Path, token: &str) -> io::Result<bool> {
    create_dir_all(fs, dir, DIR_MODE)?;
    let marker = FileLedger::new(fs, dir).marker_path(token);
    match fs.create_new(&marker, FILE_MODE) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// consume-loser-unsynced — the pattern of seed 003's loser, in the ledger (and the reference
/// `FileLedger` until the runner's `crash-history-race` found it): a consumer that finds the
/// marker answers "already consumed" at once, while the winner may not have fsynced the
/// directory yet. After a power loss the marker can be gone with the unacknowledged win, and
/// the refusal it answered is explained by no order. Diff: the loser's directory fsync before
/// `Consumed::AlreadyConsumed` → none.
pub fn loser_trusts_unsynced<F: Fs + ?Sized>(fs: &F, dir: &Path, token: &str) -> io::Result<bool> {
    create_dir_all(fs, dir, DIR_MODE)?;
    let marker = FileLedger::new(fs, dir).marker_path(token);
    match fs.create_new(&marker, FILE_MODE) {
        Ok(mut file) => {
            let synced = file.sync_all();
            drop(file);
            if let Err(e) = synced.and_then(|()| fs.sync_dir(dir)) {
                let _ = fs.remove_file(&marker);
                return Err(e);
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyrace_core::OsFs;

    #[test]
    fn alone_each_mutant_grants_the_grace_once() {
        // Alone they look right (which is why they ship): only a race or a power loss shows it.
        for consume in [
            check_then_set::<OsFs>,
            consume_without_fsync::<OsFs>,
            loser_trusts_unsynced::<OsFs>,
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            assert!(consume(&OsFs, dir.path(), "t").expect("first"));
            assert!(!consume(&OsFs, dir.path(), "t").expect("second"));
        }
    }
}

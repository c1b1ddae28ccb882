//! What would have avoided a crash state, as ALICE reports it: the missing fsync of a
//! directory or a file after a lost operation the store had acknowledged, or an in-place update
//! of a live file that a power loss left half done. Each fix names the operation it follows.

use std::collections::{BTreeMap, BTreeSet};

use super::ops::{parent_of, FsOp, Ino, Snapshot};
use super::states::{CrashState, RenameHalf};

/// The smallest changes that would have avoided `state`'s losses, one line each.
pub fn fixes(state: &CrashState, ops: &[FsOp], snapshot: &Snapshot) -> Vec<String> {
    let issued = state.crash_after.min(ops.len());
    let (mut fixes, half_done) = half_done_updates(state, ops, snapshot, issued);
    // What the store acknowledged and lost: for each directory or file with a lost op, an
    // fsync after its last op before the acknowledgement, unless one is there.
    if let Some(ack) = ops[..issued].iter().position(|op| *op == FsOp::Ack) {
        fixes.extend(missing_fsyncs(state, ops, snapshot, ack, &half_done));
    }
    fixes
}

/// Whether op `i` is lost in `state`, wholly or torn.
fn lost_in(state: &CrashState, i: usize) -> bool {
    state.lost.contains(&i) || state.torn.map(|(t, _)| t) == Some(i)
}

/// The in-place updates of live files that `state` leaves half done (a fix each), and those
/// files, whose fsyncs would not have helped.
fn half_done_updates(
    state: &CrashState,
    ops: &[FsOp],
    snapshot: &Snapshot,
    issued: usize,
) -> (Vec<String>, BTreeSet<Ino>) {
    let torn = state.torn.map(|(i, _)| i);
    let lost = |i: usize| lost_in(state, i);
    let mut fixes = Vec::new();
    // The operation's changes: up to its acknowledgement, or all that were recorded.
    let end = ops
        .iter()
        .position(|op| *op == FsOp::Ack)
        .unwrap_or(ops.len());
    // A live file (named before the operation, and not a leftover later renamed over another)
    // whose existing bytes the operation changed (an overwrite or a truncation, not an
    // append: a log such as SQLite's WAL grows by appends, and wants an fsync, not a rename),
    // partly kept: the update was not atomic, whatever was synced.
    let renamed = |ino: Ino| {
        ops[..end]
            .iter()
            .any(|op| matches!(op, FsOp::Rename { ino: r, .. } if *r == ino))
    };
    let live_len = |ino: Ino| {
        snapshot
            .files
            .iter()
            .find(|(_, live, ..)| *live == ino)
            .map(|(.., data)| data.len() as u64)
    };
    let overwrites = |op: &FsOp, len: u64| match op {
        FsOp::Write { offset, .. } => *offset < len,
        FsOp::SetLen { len: to, .. } => *to < len,
        _ => false,
    };
    let mut in_place: BTreeMap<Ino, usize> = BTreeMap::new();
    for (i, op) in ops[..end].iter().enumerate() {
        if let Some(ino) = data_ino(op) {
            if live_len(ino).is_some() && !renamed(ino) {
                in_place.entry(ino).or_insert(i);
            }
        }
    }
    in_place.retain(|&ino, _| {
        let len = live_len(ino).unwrap_or(0);
        ops[..end]
            .iter()
            .any(|op| data_ino(op) == Some(ino) && overwrites(op, len))
    });
    let mut half_done = BTreeSet::new();
    for (&ino, &first) in &in_place {
        let data: Vec<usize> = (first..end)
            .filter(|&i| data_ino(&ops[i]) == Some(ino))
            .collect();
        // Some of its changes on disk (a torn write counts) and some not (lost, torn, or not
        // yet issued): a version of the file nobody wrote.
        let applied = |i: usize| i < issued && (!lost(i) || torn == Some(i));
        let missing = |i: usize| i >= issued || lost(i);
        if data.iter().any(|&i| applied(i)) && data.iter().any(|&i| missing(i)) {
            half_done.insert(ino);
            fixes.push(format!(
                "fix: op {first} ({}) changes the live file {} in place, and a power loss left \
                 it half done: write a temp file, fsync it and rename it over",
                ops[first].describe(),
                shown(&name_of(ino, first, ops, snapshot))
            ));
        }
    }
    (fixes, half_done)
}

/// The fsyncs missing between the acknowledged and lost ops and the acknowledgement (op
/// `ack`), leaving out the files of `half_done`.
fn missing_fsyncs(
    state: &CrashState,
    ops: &[FsOp],
    snapshot: &Snapshot,
    ack: usize,
    half_done: &BTreeSet<Ino>,
) -> Vec<String> {
    let lost = |i: usize| lost_in(state, i);
    let mut fixes = Vec::new();
    let mut dirs: BTreeMap<String, (usize, bool)> = BTreeMap::new();
    let mut files: BTreeMap<Ino, (usize, bool)> = BTreeMap::new();
    for (i, op) in ops[..ack].iter().enumerate() {
        let touch = |last: &mut (usize, bool), lost: bool| *last = (i, last.1 || lost);
        match op {
            FsOp::Create { path, .. }
            | FsOp::Mkdir { path, .. }
            | FsOp::Link { to: path, .. }
            | FsOp::Remove { path } => {
                touch(dirs.entry(parent_of(path).to_owned()).or_default(), lost(i));
            }
            FsOp::Rename { from, to, .. } => {
                // A rename split in two lost one half: the old name's removal, or the new name.
                let half = state.rename_halves.iter().find(|(j, _)| *j == i);
                let (from_lost, to_lost) = match half.map(|(_, h)| h) {
                    Some(RenameHalf::NewNameOnly) => (true, false),
                    Some(RenameHalf::OldNameRemovedOnly) => (false, true),
                    None => (lost(i), lost(i)),
                };
                touch(
                    dirs.entry(parent_of(from).to_owned()).or_default(),
                    from_lost,
                );
                touch(dirs.entry(parent_of(to).to_owned()).or_default(), to_lost);
            }
            FsOp::Write { ino, .. } | FsOp::SetLen { ino, .. } if !half_done.contains(ino) => {
                touch(files.entry(*ino).or_default(), lost(i));
            }
            _ => {}
        }
    }
    let dirs = dirs.into_iter().filter(|(_, (_, lost))| *lost);
    let files = files.into_iter().filter(|(_, (_, lost))| *lost);
    for (dir, (i, _)) in dirs {
        if !synced_after(
            ops,
            i,
            ack,
            |op| matches!(op, FsOp::SyncDir { path } if *path == dir),
        ) {
            fixes.push(format!(
                "fix: fsync the directory {} after op {i} ({}), before the acknowledgement \
                 (op {ack})",
                shown(&dir),
                ops[i].describe()
            ));
        }
    }
    for (ino, (i, _)) in files {
        if !synced_after(
            ops,
            i,
            ack,
            |op| matches!(op, FsOp::SyncFile { ino: s } if *s == ino),
        ) {
            fixes.push(format!(
                "fix: fsync the file {} after op {i} ({}), before the acknowledgement (op {ack})",
                shown(&name_of(ino, i, ops, snapshot)),
                ops[i].describe()
            ));
        }
    }
    fixes
}

/// The file whose data `op` changes.
fn data_ino(op: &FsOp) -> Option<Ino> {
    match op {
        FsOp::Write { ino, .. } | FsOp::SetLen { ino, .. } => Some(*ino),
        _ => None,
    }
}

/// A sync matching `covers`, or a full sync, among `ops[after+1..before]`.
fn synced_after(ops: &[FsOp], after: usize, before: usize, covers: impl Fn(&FsOp) -> bool) -> bool {
    ops[after + 1..before]
        .iter()
        .any(|op| *op == FsOp::SyncAll || covers(op))
}

/// The name `ino` had when op `at` ran: its last create, rename or link before, else its name
/// in the snapshot, else its number.
fn name_of(ino: Ino, at: usize, ops: &[FsOp], snapshot: &Snapshot) -> String {
    ops[..at]
        .iter()
        .rev()
        .find_map(|op| match op {
            FsOp::Create { path, ino: i, .. } | FsOp::Link { to: path, ino: i } if *i == ino => {
                Some(path.clone())
            }
            FsOp::Rename { to, ino: i, .. } if *i == ino => Some(to.clone()),
            _ => None,
        })
        .or_else(|| {
            snapshot
                .files
                .iter()
                .find(|(_, i, ..)| *i == ino)
                .map(|(path, ..)| path.clone())
        })
        .unwrap_or_else(|| format!("#{ino}"))
}

/// A relative path for a sentence ("" is the recorded directory itself).
fn shown(path: &str) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        path.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::ops::fixtures::{create, store_with_aa, write};
    use crate::crash::states::{enumerate, Limits, Profile};

    /// Every fix line of every state of `ops` under the portable profile.
    fn all_fixes(ops: &[FsOp]) -> Vec<String> {
        let snapshot = store_with_aa();
        let states = enumerate(&snapshot, ops, Profile::Portable, &Limits::default()).states;
        let mut all: Vec<String> = states
            .iter()
            .flat_map(|s| fixes(s, ops, &snapshot))
            .collect();
        all.sort();
        all.dedup();
        all
    }

    #[test]
    fn an_atomic_durable_replace_needs_no_fix() {
        let ops = [
            create("secrets/.tmp", 2),
            write(2, b"new"),
            FsOp::SyncFile { ino: 2 },
            FsOp::Rename {
                from: "secrets/.tmp".into(),
                to: "secrets/aa".into(),
                ino: 2,
            },
            FsOp::SyncDir {
                path: "secrets".into(),
            },
            FsOp::Ack,
        ];
        assert_eq!(all_fixes(&ops), Vec::<String>::new());
    }

    #[test]
    fn a_rename_without_a_directory_fsync_names_that_fsync() {
        let ops = [
            create("secrets/.tmp", 2),
            write(2, b"new"),
            FsOp::SyncFile { ino: 2 },
            FsOp::Rename {
                from: "secrets/.tmp".into(),
                to: "secrets/aa".into(),
                ino: 2,
            },
            FsOp::Ack,
        ];
        assert_eq!(
            all_fixes(&ops),
            [
                "fix: fsync the directory secrets after op 3 (rename secrets/.tmp → secrets/aa), \
              before the acknowledgement (op 4)"
            ]
        );
    }

    #[test]
    fn a_delete_without_a_directory_fsync_names_that_fsync() {
        let ops = [
            FsOp::Remove {
                path: "secrets/aa".into(),
            },
            FsOp::Ack,
        ];
        assert_eq!(
            all_fixes(&ops),
            [
                "fix: fsync the directory secrets after op 0 (remove secrets/aa), before the \
              acknowledgement (op 1)"
            ]
        );
    }

    #[test]
    fn an_unsynced_write_of_a_new_file_names_the_file_fsync() {
        let ops = [
            create("key", 2),
            write(2, b"k"),
            FsOp::SyncDir { path: "".into() },
            FsOp::Ack,
        ];
        assert_eq!(
            all_fixes(&ops),
            [
                "fix: fsync the file key after op 1 (write #2 1 bytes at 0), before the \
              acknowledgement (op 3)"
            ]
        );
    }

    #[test]
    fn an_in_place_overwrite_is_named_not_atomic() {
        let ops = [
            FsOp::SetLen { ino: 1, len: 0 },
            write(1, b"newer"),
            FsOp::SyncFile { ino: 1 },
            FsOp::Ack,
        ];
        let fixes = all_fixes(&ops);
        assert_eq!(
            fixes,
            ["fix: op 0 (set length of #1 to 0) changes the live file secrets/aa in place, and a \
              power loss left it half done: write a temp file, fsync it and rename it over"]
        );
    }

    /// A log appended to (SQLite's WAL grows by frames past its end): an append that a power
    /// loss kept in part wants the file's fsync, not a temp file and a rename.
    #[test]
    fn an_unsynced_append_to_a_live_file_names_only_its_fsync() {
        let snapshot = store_with_aa();
        let len = snapshot
            .files
            .iter()
            .find(|(_, ino, ..)| *ino == 1)
            .map(|(.., data)| data.len() as u64)
            .expect("secrets/aa");
        let append = |at: u64| FsOp::Write {
            ino: 1,
            offset: at,
            data: b"frame".to_vec(),
        };
        let ops = [append(len), append(len + 5), FsOp::Ack];
        assert_eq!(
            all_fixes(&ops),
            [format!(
                "fix: fsync the file secrets/aa after op 1 (write #1 5 bytes at {}), before the \
                 acknowledgement (op 2)",
                len + 5
            )]
        );
    }

    /// An acknowledged in-place overwrite with no fsync: a state that kept part of it is
    /// half done, and the state that lost all of it lacked the file's fsync.
    #[test]
    fn an_unsynced_in_place_overwrite_names_both_fixes() {
        let ops = [
            FsOp::SetLen { ino: 1, len: 0 },
            write(1, b"newer"),
            FsOp::Ack,
        ];
        assert_eq!(
            all_fixes(&ops),
            [
                "fix: fsync the file secrets/aa after op 1 (write #1 5 bytes at 0), before the \
                 acknowledgement (op 2)",
                "fix: op 0 (set length of #1 to 0) changes the live file secrets/aa in place, and \
                 a power loss left it half done: write a temp file, fsync it and rename it over",
            ]
        );
    }
}

//! The one-time grace: exactly one consumer wins, in memory and on disk; failures never win.
// Real threads and std primitives: the loom build runs only the loom models (witness_loom).
#![cfg(not(loom))]

mod bootstrap_support;

use std::sync::atomic::Ordering;
use std::sync::Barrier;
use std::thread;

use bootstrap_support::{fast_tempdir, names_in, FaultFs};
use keyrace_core::bootstrap::ledger::{marker_name, MARKER_PREFIX, MAX_KEY_ID};
use keyrace_core::bootstrap::{BootstrapError, Consumed, FileLedger, GraceLedger, MemoryLedger};
use keyrace_core::fs::try_symlink_metadata;
use keyrace_core::publish::write_atomic;
use keyrace_core::{ErrorCode, OsFs};

const ROUNDS: usize = 1000;
const THREADS: usize = 8;

/// Start `threads` consumers of `key_id` at once; their answers.
fn race<L: GraceLedger>(ledger: &L, key_id: &str, threads: usize) -> Vec<Consumed> {
    let start = Barrier::new(threads);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    ledger.try_consume(key_id).expect("consume")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("consumer thread"))
            .collect()
    })
}

/// The double-bootstrap invariant: exactly one `Won` among the answers.
fn exactly_one_winner(answers: &[Consumed]) -> Result<(), String> {
    match answers.iter().filter(|a| a.won()).count() {
        1 => Ok(()),
        n => Err(format!("{n} winners among {} consumers", answers.len())),
    }
}

#[test]
fn memory_ledger_many_threads_one_winner_1000_rounds() {
    let ledger = MemoryLedger::new();
    for round in 0..ROUNDS {
        let answers = race(&ledger, &format!("key-{round}"), THREADS);
        exactly_one_winner(&answers).unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
}

#[test]
fn file_ledger_many_threads_one_winner_1000_rounds() {
    let dir = fast_tempdir();
    let ledger = FileLedger::new(OsFs, dir.path().join("ledger"));
    for round in 0..ROUNDS {
        let answers = race(&ledger, &format!("key-{round}"), THREADS);
        exactly_one_winner(&answers).unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    assert_eq!(names_in(&dir.path().join("ledger")).len(), ROUNDS);
}

/// `grace-check-then-set` (seed 002, custody-03): check, then set, in two steps. The gap is
/// widened with a barrier so both consumers check before either sets: the checker must see
/// two winners.
struct CheckThenSet<'a, L> {
    ledger: &'a L,
    gap: Barrier,
}

impl GraceLedger for CheckThenSet<'_, MemoryLedger> {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        let consumed = self.ledger.is_consumed(key_id);
        self.gap.wait();
        if consumed {
            return Ok(Consumed::AlreadyConsumed);
        }
        self.ledger.mark(key_id);
        Ok(Consumed::Won)
    }
}

impl<F: keyrace_core::Fs> GraceLedger for CheckThenSet<'_, FileLedger<F>> {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        let path = self.ledger.marker_path(key_id);
        let exists = try_symlink_metadata(self.ledger.fs(), &path)
            .expect("lstat")
            .is_some();
        self.gap.wait();
        if exists {
            return Ok(Consumed::AlreadyConsumed);
        }
        write_atomic(self.ledger.fs(), &path, b"").expect("write marker");
        Ok(Consumed::Won)
    }
}

#[test]
fn checker_catches_memory_check_then_set() {
    let inner = MemoryLedger::new();
    let mutant = CheckThenSet {
        ledger: &inner,
        gap: Barrier::new(2),
    };
    let answers = race(&mutant, "key", 2);
    assert_eq!(
        exactly_one_winner(&answers),
        Err("2 winners among 2 consumers".to_owned())
    );
}

#[test]
fn checker_catches_file_check_then_set() {
    let dir = fast_tempdir();
    let inner = FileLedger::new(OsFs, dir.path());
    let mutant = CheckThenSet {
        ledger: &inner,
        gap: Barrier::new(2),
    };
    let answers = race(&mutant, "key", 2);
    assert!(exactly_one_winner(&answers).is_err());
}

#[test]
fn memory_ledger_first_wins_then_consumed_per_key() {
    let ledger = MemoryLedger::new();
    assert_eq!(ledger.try_consume("a").expect("a"), Consumed::Won);
    assert_eq!(
        ledger.try_consume("a").expect("a"),
        Consumed::AlreadyConsumed
    );
    assert_eq!(ledger.try_consume("b").expect("b"), Consumed::Won);
    assert!(ledger.is_consumed("a") && !ledger.is_consumed("c"));
}

#[test]
fn invalid_key_ids_are_invalid_arguments_and_consume_nothing() {
    let dir = fast_tempdir();
    let file = FileLedger::new(OsFs, dir.path().join("ledger"));
    let memory = MemoryLedger::new();
    let long = "k".repeat(MAX_KEY_ID + 1);
    for bad in ["", long.as_str()] {
        for result in [file.try_consume(bad), memory.try_consume(bad)] {
            let e = result.expect_err("invalid id");
            assert_eq!(e.code(), ErrorCode::InvalidArgument);
            assert!(matches!(e, BootstrapError::InvalidKeyId { .. }));
        }
    }
    assert!(!dir.path().join("ledger").exists());
    assert!(file
        .try_consume(&"k".repeat(MAX_KEY_ID))
        .expect("max")
        .won());
}

#[test]
fn file_ledger_survives_a_restart() {
    let dir = fast_tempdir();
    let path = dir.path().join("nested").join("ledger");
    assert!(FileLedger::new(OsFs, &path)
        .try_consume("k")
        .expect("first")
        .won());
    let restarted = FileLedger::new(OsFs, &path);
    assert_eq!(
        restarted.try_consume("k").expect("second"),
        Consumed::AlreadyConsumed
    );
}

#[test]
fn hostile_tokens_never_escape_the_ledger_directory() {
    let dir = fast_tempdir();
    let ledger_dir = dir.path().join("ledger");
    let ledger = FileLedger::new(OsFs, &ledger_dir);
    let tokens = [
        "../escape",
        "..",
        ".",
        "/etc/passwd",
        "a/b",
        "a\0b",
        "grace-x",
        "\u{202e}x",
    ];
    for token in tokens {
        assert!(ledger.try_consume(token).expect(token).won(), "{token:?}");
        assert_eq!(
            ledger.marker_path(token).parent(),
            Some(ledger_dir.as_path())
        );
    }
    assert_eq!(
        names_in(dir.path()),
        vec![std::path::PathBuf::from("ledger")]
    );
    let names = names_in(&ledger_dir);
    assert_eq!(names.len(), tokens.len());
    for name in names {
        let name = name.to_str().expect("utf-8").to_owned();
        let hash = name.strip_prefix(MARKER_PREFIX).expect("prefix");
        assert!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{name}"
        );
    }
    assert_ne!(marker_name("a"), marker_name("b"));
}

#[test]
fn failed_create_is_an_error_and_leaves_the_grace_unburned() {
    let dir = fast_tempdir();
    let fs = FaultFs::new();
    let ledger = FileLedger::new(&fs, dir.path());
    FaultFs::set(&fs.fail_create, true);
    let e = ledger.try_consume("k").expect_err("create fails");
    assert!(matches!(e, BootstrapError::Ledger { .. }));
    assert_eq!(e.code(), ErrorCode::Io);
    FaultFs::set(&fs.fail_create, false);
    assert!(ledger.try_consume("k").expect("retry").won());
}

#[test]
fn failed_file_fsync_is_never_won_and_unburns_the_grace() {
    let dir = fast_tempdir();
    let fs = FaultFs::new();
    let ledger = FileLedger::new(&fs, dir.path());
    FaultFs::set(&fs.fail_file_sync, true);
    assert!(
        matches!(ledger.try_consume("k"), Err(BootstrapError::Ledger { .. })),
        "an fsync failure is a ledger error"
    );
    assert!(!ledger.marker_path("k").exists(), "marker removed again");
    FaultFs::set(&fs.fail_file_sync, false);
    assert!(ledger.try_consume("k").expect("retry").won());
}

#[test]
fn failed_dir_fsync_is_never_won_and_unburns_the_grace() {
    let dir = fast_tempdir();
    let fs = FaultFs::new();
    let ledger = FileLedger::new(&fs, dir.path());
    FaultFs::set(&fs.fail_dir_sync, true);
    assert!(
        matches!(ledger.try_consume("k"), Err(BootstrapError::Ledger { .. })),
        "an fsync failure is a ledger error"
    );
    assert!(!ledger.marker_path("k").exists());
    FaultFs::set(&fs.fail_dir_sync, false);
    assert!(ledger.try_consume("k").expect("retry").won());
}

#[test]
fn failed_fsync_and_failed_cleanup_fail_closed() {
    let dir = fast_tempdir();
    let fs = FaultFs::new();
    let ledger = FileLedger::new(&fs, dir.path());
    FaultFs::set(&fs.fail_dir_sync, true);
    FaultFs::set(&fs.fail_remove, true);
    assert!(
        matches!(ledger.try_consume("k"), Err(BootstrapError::Ledger { .. })),
        "an fsync failure is a ledger error"
    );
    FaultFs::set(&fs.fail_dir_sync, false);
    FaultFs::set(&fs.fail_remove, false);
    // The grace is burned with no winner: nobody can win it twice.
    assert_eq!(
        ledger.try_consume("k").expect("later"),
        Consumed::AlreadyConsumed
    );
    assert_eq!(fs.creates.load(Ordering::SeqCst), 1);
}

#[cfg(unix)]
#[test]
fn a_planted_symlink_at_the_marker_is_not_followed() {
    let dir = fast_tempdir();
    let ledger = FileLedger::new(OsFs, dir.path().join("ledger"));
    std::fs::create_dir(dir.path().join("ledger")).expect("dir");
    let target = dir.path().join("target");
    std::os::unix::fs::symlink(&target, ledger.marker_path("k")).expect("symlink");
    assert_eq!(
        ledger.try_consume("k").expect("consume"),
        Consumed::AlreadyConsumed
    );
    assert!(!target.exists(), "the link's target was never created");
}

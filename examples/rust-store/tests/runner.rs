//! The example store checked by the runner from its own `cargo test`, as a store's authors
//! would do it: the runner's builder, this package's adapter binary, real processes.
//!
//! With `planted-bugs`, the default (full) check catches both bugs across processes: the key
//! file read between its creation and its write (`keygen-race`, under controlled
//! interleavings), and the secret rewritten in place, whose power-loss states lose the old
//! value (`crash-states`). With `planted-key-reader`, the racing crash form catches a process
//! that encrypts under a racer's key file before that file's name is durable.

use keyrace_runner::report::Status;
use keyrace_runner::Check;

const ADAPTER: &str = env!("CARGO_BIN_EXE_keyrace-example-store-adapter");

#[test]
#[cfg(not(feature = "planted-key-reader"))]
fn the_full_check_passes_the_store_or_catches_both_planted_bugs() {
    let report = Check::adapter([ADAPTER])
        .require_systematic()
        .run()
        .expect("keyrace ran");
    if !cfg!(feature = "planted-bugs") {
        assert!(report.passed(), "{}", report.to_text());
        // Skipped only where the store takes no part: it has no witness client.
        for s in &report.scenarios {
            assert!(
                s.status == Status::Passed
                    || s.skipped_reason.as_deref().is_some_and(
                        |why| why == format!("{}witness", keyrace_runner::report::LACKS_OP)
                    ),
                "{}",
                report.to_text()
            );
        }
        return;
    }
    let failed = |id: &str| {
        report
            .scenarios
            .iter()
            .any(|s| s.id == id && s.status == Status::Failed)
    };
    assert!(failed("keygen-race"), "{}", report.to_text());
    assert!(failed("crash-states"), "{}", report.to_text());
}

/// Two preemptions deep: the creator stops after linking the key, the other process finds it,
/// puts under it and is acknowledged before any fsync of the store's directory (the default
/// check's 80 schedules stop at one preemption; DFS reaches this one at schedule 236).
#[test]
#[cfg(feature = "planted-key-reader")]
fn the_racing_crash_form_catches_a_reader_of_a_racers_unsynced_key_file() {
    use keyrace_runner::catalogue::{
        CRASH_HISTORY_RACE_INVARIANT as INVARIANT, CRASH_HISTORY_RACE_READS as READS,
    };
    let report = Check::adapter([ADAPTER])
        .scenario("crash-history-race")
        .rounds(400)
        .fail_fast()
        .require_systematic()
        .run()
        .expect("keyrace ran");
    let text = report.to_text();
    let failed = report
        .scenarios
        .iter()
        .any(|s| s.id == "crash-history-race" && s.status == Status::Failed);
    assert!(failed, "{text}");
    // A secret is lost (its read refused or answered with nothing) ...
    assert!(
        text.contains(READS.as_str()) || text.contains(INVARIANT.as_str()),
        "{text}"
    );
    // ... because its put was answered under the racer's key file, whose name the power loss
    // took back.
    assert!(
        text.contains("(link store/key), which the power loss took back"),
        "{text}"
    );
}

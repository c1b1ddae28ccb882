//! The plain build (std primitives): the reference passes every model under std-thread stress,
//! and every mutant whose failure does not depend on a rare interleaving is caught even there.
//! The loom and shuttle suites (`loom_models.rs`, `shuttle_models.rs`) cover the interleavings.
#![cfg(not(any(loom, feature = "shuttle")))]

use keyrace_harness::catalogue::catalogue;
use keyrace_harness::explore::Backend;
use keyrace_harness::report::{run_case, Verdict};

#[test]
fn reference_passes_and_deterministic_mutants_are_caught_under_std_threads() {
    let explorer = Backend::Stress { iterations: 3 };
    // These mutants fail without any particular interleaving when they run alone: faults,
    // crashes, leaked handles, silent fallback, identity drift, unbounded or misplaced retries.
    let deterministic = [
        "keygen-broad-catch",
        "keygen-no-fsync",
        "put-in-place",
        "put-rename-unsynced-data",
        "open-leaks-handle",
        "silent-ephemeral",
        "identity-first-mac",
        "retry-unbounded",
        "retry-on-divergence",
    ];
    // And these whatever the other threads do: the first write goes through the planted link.
    let deterministic_with_threads = ["cache-follows-symlink"];
    let mut problems = Vec::new();
    for case in catalogue() {
        // Racing models (power loss as a thread, concurrent puts) need an explorer.
        let sequential = case.actors == 1;
        let runs_here = deterministic_with_threads.contains(&case.variant)
            || (sequential && deterministic.contains(&case.variant));
        if case.is_mutant() && !runs_here {
            continue;
        }
        let row = run_case(&case, explorer);
        println!(
            "{:<50} {:<12} {:>6} {}",
            row.case, row.explorer, row.executions, row.verdict
        );
        let expected = if case.is_mutant() {
            Verdict::Caught
        } else {
            Verdict::Pass
        };
        if row.verdict != expected {
            problems.push(format!(
                "{}: {} (expected {expected})\n{}",
                row.case,
                row.verdict,
                row.failure.map(|f| f.message).unwrap_or_default()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_catalogue_has_every_row_and_mutant_of_the_design() {
    let rows = [
        "keygen-race",
        "keygen-error-masking",
        "put-race",
        "crash-keygen",
        "crash-put",
        "double-bootstrap",
        "cold-start",
        "retry-once",
        "sth-cache",
        "release-before-delete",
        "ephemeral-fallback",
        "identity-drift",
    ];
    let mutants = [
        "keygen-read-then-write",
        "keygen-excl-then-write",
        "keygen-broad-catch",
        "keygen-no-fsync",
        "put-global-meta-rmw",
        "put-in-place",
        "put-rename-unsynced-data",
        "grace-check-then-set",
        "no-singleflight",
        "retry-unbounded",
        "retry-on-divergence",
        "cache-write-in-place",
        "cache-follows-symlink",
        "open-leaks-handle",
        "silent-ephemeral",
        "identity-first-mac",
    ];
    let cases = catalogue();
    let missing: Vec<&str> = rows
        .iter()
        .filter(|row| {
            !cases
                .iter()
                .any(|c| c.row.name() == **row && !c.is_mutant())
        })
        .chain(
            mutants
                .iter()
                .filter(|m| !cases.iter().any(|c| c.variant == **m)),
        )
        .copied()
        .collect();
    assert!(missing.is_empty(), "not in the catalogue: {missing:?}");
}

/// A race that held on plain std threads proves little: `assert_holds` fails and says what to
/// enable; a sequential model (one actor) still passes.
#[test]
fn assert_holds_refuses_a_race_checked_only_on_plain_threads() {
    let refused = std::panic::catch_unwind(|| {
        keyrace_harness::check::assert_holds("a race", 2, || {});
    })
    .expect_err("a 2-actor model on std threads must not pass");
    let message = refused
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("only under plain std threads")
            && message.contains("--features keyrace-harness/shuttle"),
        "{message}"
    );
    keyrace_harness::check::assert_holds("sequential", 1, || {});
}

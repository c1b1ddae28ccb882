//! Every catalogue model under shuttle: PCT at depth 2 and 3, and the random scheduler, each
//! with `explore::SHUTTLE_ITERATIONS` schedules. The reference must pass every model and every
//! mutant must be caught by every shuttle explorer.
//!
//! `cargo test -p keyrace-harness --release --features shuttle --test shuttle_models -- --nocapture`
#![cfg(all(feature = "shuttle", not(loom)))]

use keyrace_harness::catalogue::{catalogue, find, Body};
use keyrace_harness::explore::{explore, replay, Explorer, Replay, SHUTTLE_ITERATIONS};
use keyrace_harness::report::Report;

#[test]
fn reference_passes_and_every_mutant_is_caught_under_shuttle() {
    let report = Report::run(&catalogue(), &Explorer::for_build());
    println!("{report}");
    // `.ci/models.sh` prints this file: the test's own output is captured to keep out the
    // explorers' failure chatter for the mutants, which are meant to fail.
    let table =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("keyrace-models-shuttle.txt");
    std::fs::write(&table, report.to_string()).expect("write the report table");
    assert!(
        report.unexpected().is_empty(),
        "{}",
        report.explain_unexpected()
    );
}

#[test]
fn a_shuttle_counterexample_replays_to_the_same_failure() {
    let case = find("keygen-race/keygen-excl-then-write/2").expect("catalogued");
    let Body::Model(model) = &case.body else {
        panic!("a model")
    };
    let explorer = Explorer::ShuttlePct {
        iterations: SHUTTLE_ITERATIONS,
        depth: 2,
    };
    let outcome = explore(explorer, "replay-test", model);
    let failure = outcome.failure.expect("the mutant is caught");
    let Replay::Shuttle(schedule) = &failure.replay else {
        panic!("no schedule in {:?}", failure.replay)
    };
    assert!(!schedule.is_empty());
    let again = replay(&failure.replay, model).expect_err("the replay fails too");
    assert!(
        again.contains(failure.invariant()),
        "replay broke something else:\n{again}\nexpected: {}",
        failure.invariant()
    );
}

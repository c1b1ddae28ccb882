//! Every catalogue model under shuttle: PCT at depth 2 and 3, and the random scheduler, each
//! with `explore::SHUTTLE_ITERATIONS` schedules. The reference must pass every model and every
//! mutant must be caught by every shuttle explorer.
//!
//! `cargo test -p keyrace-harness --release --features shuttle --test shuttle_models -- --nocapture`
#![cfg(all(feature = "shuttle", not(loom)))]

use keyrace_harness::catalogue::{find, Body};
use keyrace_harness::explore::{replay, Backend, Counterexample, Replay, SHUTTLE_ITERATIONS};
mod support;

use support::{check_catalogue, check_replay_reproduces};

#[test]
fn reference_passes_and_every_mutant_is_caught_under_shuttle() {
    check_catalogue(
        &std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("keyrace-models-shuttle.txt"),
    );
}

#[test]
fn a_shuttle_counterexample_replays_to_the_same_failure() {
    let explorer = Backend::ShuttlePct {
        iterations: SHUTTLE_ITERATIONS,
        depth: 2,
    };
    let replay = check_replay_reproduces("keygen-race/keygen-excl-then-write/2", explorer);
    let Replay::Shuttle(schedule) = &replay else {
        panic!("no schedule in {replay:?}")
    };
    assert!(!schedule.is_empty());
}

#[test]
fn a_mangled_schedule_is_refused_not_reported_as_reproduced() {
    let Some(case) = find("keygen-race/keygen-excl-then-write/2") else {
        panic!("the case is in the catalogue")
    };
    let Body::Model(model) = &case.body else {
        panic!("a model")
    };
    let outcome = replay(&Replay::Shuttle("not a schedule".to_owned()), model);
    let message = outcome.expect_err("a mangled schedule cannot run");
    assert!(!Counterexample::is_violation(&message), "{message}");
    assert!(message.contains("not a shuttle schedule"), "{message}");
}

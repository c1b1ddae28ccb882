//! Every catalogue model under loom: exhaustive within the preemption bound
//! (`LOOM_MAX_PREEMPTIONS`, default `explore::LOOM_PREEMPTION_BOUND`). The reference must pass
//! every model and every mutant must be caught.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p keyrace-harness --release --target-dir target-loom --test loom_models -- --nocapture`
#![cfg(loom)]

use keyrace_harness::catalogue::{catalogue, find, Body};
use keyrace_harness::explore::{explore, replay, Explorer, Replay};
use keyrace_harness::report::Report;

#[test]
fn reference_passes_and_every_mutant_is_caught_under_loom() {
    let report = Report::run(&catalogue(), &Explorer::for_build());
    println!("{report}");
    // `.ci/models.sh` prints this file: the test's own output is captured to keep out the
    // explorers' failure chatter for the mutants, which are meant to fail.
    let table = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("keyrace-models-loom.txt");
    std::fs::write(&table, report.to_string()).expect("write the report table");
    assert!(
        report.unexpected().is_empty(),
        "{}",
        report.explain_unexpected()
    );
}

#[test]
fn a_loom_counterexample_replays_to_the_same_failure() {
    let case = find("keygen-race/keygen-read-then-write/2").expect("catalogued");
    let Body::Model(model) = &case.body else {
        panic!("a model")
    };
    let explorer = Explorer::for_build()[0];
    let outcome = explore(explorer, "replay-test", model);
    let failure = outcome.failure.expect("the mutant is caught");
    assert!(
        matches!(failure.replay, Replay::Loom(_)),
        "{:?}",
        failure.replay
    );
    let again = replay(&failure.replay, model).expect_err("the replay fails too");
    assert!(
        again.contains(failure.invariant()),
        "replay broke something else:\n{again}\nexpected: {}",
        failure.invariant()
    );
}

//! Every catalogue model under loom: exhaustive within the preemption bound
//! (`LOOM_MAX_PREEMPTIONS`, default `explore::LOOM_PREEMPTION_BOUND`). The reference must pass
//! every model and every mutant must be caught.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p keyrace-harness --release --target-dir target-loom --test loom_models -- --nocapture`
#![cfg(loom)]

use keyrace_harness::explore::{Backend, Replay};
mod support;

use support::{check_catalogue, check_replay_reproduces};

#[test]
fn reference_passes_and_every_mutant_is_caught_under_loom() {
    check_catalogue(
        &std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("keyrace-models-loom.txt"),
    );
}

#[test]
fn a_loom_counterexample_replays_to_the_same_failure() {
    let replay = check_replay_reproduces(
        "keygen-race/keygen-read-then-write/2",
        Backend::for_build()[0],
    );
    assert!(matches!(replay, Replay::Loom(_)), "{replay:?}");
}

//! What the explorer suites (`loom_models.rs`, `shuttle_models.rs`) share: run the whole
//! catalogue and check a replay.

use keyrace_harness::catalogue::Body;
use keyrace_harness::explore::{explore, Backend, Replay};
use keyrace_harness::report::Report;

/// The body of every explorer suite: run the whole catalogue under this build's explorers,
/// write the table to `table` (`.ci/models.sh` prints it; the test's own output stays captured
/// to keep out the explorers' chatter about mutants, which are meant to fail), and fail on any
/// unexpected row.
pub fn check_catalogue(table: &std::path::Path) -> Report {
    let report = Report::run(
        &keyrace_harness::catalogue::catalogue(),
        &Backend::for_build(),
    );
    println!("{report}");
    if let Err(e) = std::fs::write(table, report.to_string()) {
        panic!("cannot write the report table {}: {e}", table.display());
    }
    assert!(
        report.unexpected().is_empty(),
        "{}",
        report.explain_unexpected()
    );
    report
}

/// Catch mutant case `name` with `explorer`, replay its counterexample, and check that the
/// replay breaks the same invariant; returns the replay handle for explorer-specific checks.
pub fn check_replay_reproduces(name: &str, explorer: Backend) -> Replay {
    let case = keyrace_harness::catalogue::find(name)
        .unwrap_or_else(|| panic!("{name} is not in the catalogue"));
    let Body::Model(model) = &case.body else {
        panic!("{name} is a property, not a model")
    };
    let outcome = explore(explorer, "replay-test", model);
    let failure = outcome
        .failure
        .unwrap_or_else(|| panic!("{name} must be caught by {explorer:?}"));
    let again = keyrace_harness::explore::replay(&failure.replay, model)
        .expect_err("the replay must fail too");
    assert!(
        again.contains(failure.invariant()),
        "replay broke something else:\n{again}\nexpected: {}",
        failure.invariant()
    );
    failure.replay
}

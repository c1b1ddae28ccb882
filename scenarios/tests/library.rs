//! The runner from Rust, as a dependent's `cargo test` would use it (README, "From cargo
//! test"): the builder runs the check and returns the report.

mod common;

use common::{python3, repo_root, ADAPTER};
use keyrace_scenarios::explore::Strategy;
use keyrace_scenarios::report::Status;
use keyrace_scenarios::Check;

#[test]
fn the_builder_runs_a_check_and_returns_its_report() {
    let script = repo_root().join("examples/adapter.py");
    let report = Check::adapter([python3(), script.display().to_string()])
        .scenario("keygen-race")
        .scenario("double-bootstrap")
        .rounds(3)
        .seed(9)
        .run()
        .expect("keyrace ran");
    assert!(report.passed(), "{}", report.to_text());
    assert_eq!(report.actors, 4);
    assert_eq!(report.scenarios.len(), 2);
    assert!(report.scenarios.iter().all(|s| s.rounds == 3));
}

#[test]
fn the_builder_reports_a_violation_and_explores() {
    let report = Check::adapter([ADAPTER, "--mutant", "keygen-excl-then-write"])
        .scenario("keygen-race")
        .explore(Strategy::Dfs { preemptions: 1 })
        .run()
        .expect("keyrace ran");
    assert!(!report.passed(), "{}", report.to_text());
    assert_eq!(report.actors, 2, "2 actors by default under explore");
    assert_eq!(report.scenarios[0].status, Status::Failed);
}

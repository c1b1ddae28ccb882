//! The runner from Rust, as a dependent's `cargo test` would use it (README, "From cargo
//! test"): the builder runs the check and returns the report.

mod common;

use common::{python3, repo_root, ADAPTER};
use keyrace_runner::coverage::{Coverage, Form};
use keyrace_runner::explore::Strategy;
use keyrace_runner::report::Status;
use keyrace_runner::{Check, RunMode};

#[test]
fn the_builder_runs_a_check_and_returns_its_report() {
    let script = repo_root().join("examples/adapter.py");
    let report = Check::adapter([python3(), script.display().to_string()])
        .scenario("keygen-race")
        .scenario("double-bootstrap")
        .mode(RunMode::Chance)
        .rounds(3)
        .seed(9)
        .run()
        .expect("keyrace ran");
    assert!(report.passed_without_skips(), "{}", report.to_text());
    assert_eq!(report.scenarios.len(), 2);
    for s in &report.scenarios {
        assert_eq!((s.rounds, s.actors, s.form), (3, 4, Some(Form::Chance)));
        assert_eq!(
            s.coverage,
            Some(Coverage::Chance {
                rounds: 3,
                actors: 4
            })
        );
    }
}

#[test]
fn the_builder_reports_a_violation_and_explores() {
    let report = Check::adapter([ADAPTER, "--mutant", "keygen-excl-then-write"])
        .scenario("keygen-race")
        .explore(Strategy::Dfs {
            preemptions: 1,
            reduction: true,
        })
        .run()
        .expect("keyrace ran");
    assert!(!report.passed(), "{}", report.to_text());
    let scenario = &report.scenarios[0];
    assert_eq!(scenario.status, Status::Failed);
    assert_eq!(
        scenario.actors, 2,
        "2 actors by default in a controlled race"
    );
    assert_eq!(scenario.form, Some(Form::Controlled));
    assert!(
        matches!(
            scenario.coverage,
            Some(Coverage::Dfs { preemptions: 1, .. })
        ),
        "{:?}",
        scenario.coverage
    );
}

/// Under the default budget a crash form stops once its time is spent, between rounds and not
/// before its second (a SQLite store's rounds take minutes each): here after its second round,
/// with a note saying how many of its default rounds ran. A budget of rounds is not cut.
#[test]
fn a_crash_form_stops_at_the_default_budgets_time_and_says_so() {
    let check = Check::adapter([ADAPTER])
        .scenario("crash-history")
        .require_systematic()
        .seed(1)
        .crash_time(std::time::Duration::ZERO);
    let report = check.clone().run().expect("keyrace ran");
    let s = &report.scenarios[0];
    assert_eq!(
        (s.status, s.rounds),
        (Status::Passed, 2),
        "{}",
        report.to_text()
    );
    assert!(
        s.notes
            .iter()
            .any(|n| n.starts_with("stopped after 2 of its 16 default rounds")),
        "{}",
        report.to_text()
    );
    let report = check.rounds(3).run().expect("keyrace ran");
    let s = &report.scenarios[0];
    assert_eq!(s.rounds, 3, "{}", report.to_text());
    assert!(
        !s.notes.iter().any(|n| n.starts_with("stopped after")),
        "{}",
        report.to_text()
    );
}

/// A scenario id the catalogue lacks is refused before any adapter starts, naming every id.
#[test]
fn the_builder_refuses_an_unknown_scenario_listing_the_ids() {
    let refused = Check::adapter([ADAPTER])
        .scenario("keygen_race")
        .run()
        .expect_err("no scenario is called keygen_race");
    assert_eq!(
        refused.code(),
        keyrace_runner::protocol::ErrorCode::InvalidArgument
    );
    let message = refused.to_string();
    assert!(
        message
            .contains("unknown scenario \"keygen_race\"; the scenarios are: keygen-race, put-race"),
        "{message}"
    );
}

//! The server check against the reference server (SQLite, and PostgreSQL where one is
//! configured) passes, and catches every server mutant.

mod support;

use keyrace_witness::check::{run, ServerCheck, ServerReport};
use keyrace_witness::mutants::ServerMutant;
use keyrace_witness::wire::Preset;
use support::{postgres, start};

fn check(url: &str, rounds: u32) -> ServerReport {
    run(&ServerCheck {
        rounds,
        ..ServerCheck::new(url)
    })
}

fn failed(report: &ServerReport, id: &str) -> bool {
    report.results.iter().any(|r| r.id == id && !r.passed())
}

#[test]
fn the_reference_server_on_sqlite_passes_every_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&support::sqlite(&dir), None, 0);
    let report = check(&server.url(), 20);
    assert!(report.passed_without_skips(), "{report}");
    assert_eq!(report.results.len(), keyrace_witness::check::CHECKS.len());
}

#[test]
#[cfg_attr(
    not(keyrace_postgres),
    ignore = "needs PostgreSQL: set KEYRACE_POSTGRES (see README.md)"
)]
fn the_reference_server_on_postgres_passes_every_check() {
    let server = start(&postgres(), None, 0);
    let report = check(&server.url(), 20);
    assert!(report.passed_without_skips(), "{report}");
}

/// A server speaking loopctl's wire (header names, nested `witness_*` refusal bodies) passes
/// the check in that spelling, and its refusals are unreadable in the other one: the preset is
/// what the check reads, not decoration.
#[test]
fn a_loopctl_server_passes_the_check_in_its_own_spelling_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = keyrace_witness::mutants::ledger_for(
        &support::sqlite(&dir),
        keyrace_witness::server::DEFAULT_THREADS,
        None,
    )
    .expect("open the ledger");
    let config = keyrace_witness::server::ServerConfig {
        preset: Preset::Loopctl,
        ..Default::default()
    };
    let server = keyrace_witness::server::WitnessServer::start(
        "127.0.0.1:0",
        ledger,
        config,
        keyrace_witness::server::DEFAULT_THREADS,
    )
    .expect("start");
    let in_loopctl = run(&ServerCheck {
        rounds: 10,
        preset: Preset::Loopctl,
        ..ServerCheck::new(&server.url())
    });
    assert!(in_loopctl.passed_without_skips(), "{in_loopctl}");
    let in_keyrace = check(&server.url(), 10);
    assert!(failed(&in_keyrace, "bootstrap-race"), "{in_keyrace}");
}

#[test]
fn a_server_with_sealed_heads_refuses_the_zero_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&support::sqlite(&dir), None, 2);
    let report = check(&server.url(), 2);
    assert!(report.passed_without_skips(), "{report}");
}

#[test]
fn every_server_mutant_is_caught_by_its_check() {
    for check in keyrace_witness::check::CHECKS {
        assert!(
            ServerMutant::ALL.iter().any(|m| m.caught_by() == check),
            "the check {check} has no mutant it must catch"
        );
    }
    for mutant in ServerMutant::ALL {
        let caught_by = mutant.caught_by();
        let dir = tempfile::tempdir().expect("tempdir");
        let server = start(&support::sqlite(&dir), Some(mutant), 0);
        let report = check(&server.url(), 50);
        assert!(
            failed(&report, caught_by),
            "{mutant} not caught by {caught_by}:\n{report}"
        );
        assert!(
            report.to_string().contains(&format!("--check {caught_by}")),
            "{report}"
        );
    }
}

#[test]
#[cfg_attr(
    not(keyrace_postgres),
    ignore = "needs PostgreSQL: set KEYRACE_POSTGRES (see README.md)"
)]
fn the_check_then_set_ledger_is_caught_on_postgres_too() {
    let server = start(&postgres(), Some(ServerMutant::LedgerCheckThenSet), 0);
    let report = check(&server.url(), 50);
    assert!(failed(&report, "bootstrap-race"), "{report}");
}

/// docs/design.md's table of server checks and the mutants each must catch is the registry's.
#[test]
fn the_design_table_of_server_checks_is_the_registry() {
    let design = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/design.md"),
    )
    .expect("docs/design.md");
    let header = "| check | server mutants it must catch |";
    let table = design
        .split_once(header)
        .unwrap_or_else(|| panic!("docs/design.md has no table headed {header}"))
        .1;
    let documented: Vec<(String, String)> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .flat_map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
            let check = cells[0].trim_matches('`').to_owned();
            cells[1]
                .split(", ")
                .map(|m| (check.clone(), m.trim_matches('`').to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut registry: Vec<(String, String)> = ServerMutant::ALL
        .iter()
        .map(|m| (m.caught_by().to_owned(), m.name().to_owned()))
        .collect();
    let mut sorted = documented.clone();
    sorted.sort();
    registry.sort();
    assert_eq!(sorted, registry);
    let checks: Vec<&str> = documented.iter().map(|(c, _)| c.as_str()).collect();
    for check in keyrace_witness::check::CHECKS {
        assert!(checks.contains(&check), "{check} is not in the table");
    }
}

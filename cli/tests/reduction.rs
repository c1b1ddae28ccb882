//! The partial-order reduction loses no verdict: every racing mutant is caught, and the
//! reference and the Python example pass, with the reduction and without it; a correct store
//! exhausts its bound both ways, in no more schedules with the reduction.

mod common;

use common::{check_json, python3, repo_root, scenario, ADAPTER};
use keyrace_reference::{caught_by, Mutant};
use keyrace_runner::catalogue::{find, Mode};

const RACES: [&str; 4] = [
    "keygen-race",
    "put-race",
    "double-bootstrap",
    "delete-reset",
];

/// One controlled run of `id`: its status and coverage.
fn run(id: &str, reduction: bool, extra: &[&str], adapter: &[&str]) -> serde_json::Value {
    let mut args = vec!["--scenario", id, "--seed", "5", "--require-systematic"];
    if !reduction {
        args.push("--no-reduction");
    }
    args.extend_from_slice(extra);
    args.push("--adapter");
    args.extend_from_slice(adapter);
    let (code, report, parsed) = check_json(&args);
    assert!(
        matches!(code, Some(0 | 1)),
        "{id} did not run (exit {code:?}):\n{report}"
    );
    scenario(&parsed, id).clone()
}

#[test]
fn every_racing_mutant_is_caught_with_and_without_the_reduction() {
    let racing: Vec<(Mutant, &str)> = Mutant::ALL
        .iter()
        .filter_map(|&m| Some((m, caught_by(m)?.as_str())))
        .filter(|(_, id)| find(id).is_some_and(|def| def.mode == Mode::Race))
        .collect();
    assert!(racing.len() >= 6, "{racing:?}");
    for (mutant, id) in racing {
        for reduction in [true, false] {
            let adapter = [ADAPTER, "--mutant", mutant.name()];
            let row = run(id, reduction, &["--fail-fast"], &adapter);
            assert_eq!(
                row["status"],
                "failed",
                "{} not caught by {id} (reduction {reduction}): {row}",
                mutant.name()
            );
        }
    }
}

/// Correct stores in two languages: passed both ways, each bound exhausted, and the reduced
/// search runs no more schedules than the full one (fewer on every scenario but one whose calls
/// all touch one file).
#[test]
fn correct_stores_pass_with_and_without_the_reduction_in_fewer_schedules() {
    let script = repo_root().join("examples/adapter.py");
    let python = python3();
    let script = script.to_str().expect("utf-8 path");
    let reference = [ADAPTER];
    let example = [python.as_str(), script];
    for adapter in [&reference[..], &example[..]] {
        let mut fewer = 0;
        for id in RACES {
            let [reduced, full] = [true, false].map(|reduction| run(id, reduction, &[], adapter));
            for row in [&reduced, &full] {
                assert_eq!(row["status"], "passed", "{id} with {adapter:?}: {row}");
                assert_eq!(row["coverage"]["bound_exhausted"], true, "{id}: {row}");
            }
            assert_eq!(reduced["coverage"]["reduction"], true);
            assert_eq!(full["coverage"]["reduction"], false);
            let schedules = |row: &serde_json::Value| row["coverage"]["schedules"].as_u64();
            let (reduced, full) = (schedules(&reduced), schedules(&full));
            assert!(reduced <= full, "{id}: {reduced:?} > {full:?} schedules");
            fewer += usize::from(reduced < full);
        }
        assert!(
            fewer >= 3,
            "the reduction saved schedules on only {fewer} scenarios"
        );
    }
}

/// A Node vault that resolves and checks every path before using it, as real vaults do
/// (realpath's lstat of each component, existsSync, a stat of the key file): the checks
/// commute with the other actor's calls. With the reduction the 2-actor bound is exhausted
/// within the default budget; without it, the same number of schedules does not exhaust it.
/// The same vault with seed 003's bug (key file created empty, then written) is caught.
#[test]
fn a_noisy_node_vault_exhausts_its_bound_and_its_bug_is_caught() {
    let script = repo_root().join("cli/tests/adapters/noisy_vault.mjs");
    let script = script.to_str().expect("utf-8 path");
    let reduced = run("keygen-race", true, &[], &["node", script]);
    assert_eq!(reduced["status"], "passed", "{reduced}");
    assert_eq!(reduced["coverage"]["bound_exhausted"], true, "{reduced}");
    let schedules = reduced["coverage"]["schedules"]
        .as_u64()
        .expect("schedules")
        .to_string();
    let full = run(
        "keygen-race",
        false,
        &["--rounds", &schedules],
        &["node", script],
    );
    assert_eq!(full["status"], "passed", "{full}");
    assert_eq!(full["coverage"]["bound_exhausted"], false, "{full}");
    let broken = run(
        "keygen-race",
        true,
        &["--fail-fast"],
        &["node", script, "excl-then-write"],
    );
    assert_eq!(broken["status"], "failed", "{broken}");
}

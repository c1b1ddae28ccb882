//! Every mutant of the reference adapter is caught by its scenario within the default budget
//! (stopping at the first violation, to keep the test fast), with a re-run command.

mod common;

use common::{keyrace, text, ADAPTER};
use keyrace_scenarios::adapter::Mutant;

fn assert_caught(mutant: Mutant) {
    let scenario = mutant.caught_by();
    let output = keyrace(&[
        "check",
        "--scenario",
        scenario,
        "--fail-fast",
        "--adapter",
        ADAPTER,
        "--mutant",
        mutant.name(),
    ]);
    let report = text(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{} not caught:\n{report}",
        mutant.name()
    );
    assert!(report.contains(&format!("{scenario} round")), "{report}");
    assert!(report.contains("VIOLATION"), "{report}");
    let repro = format!("--scenario {scenario} --seed ");
    assert!(report.contains(&repro), "no re-run command: {report}");
    assert!(
        report.contains(&format!("--mutant {}", mutant.name())),
        "{report}"
    );
}

#[test]
fn keygen_read_then_write_is_caught() {
    assert_caught(Mutant::KeygenReadThenWrite);
}

#[test]
fn keygen_excl_then_write_is_caught() {
    assert_caught(Mutant::KeygenExclThenWrite);
}

#[test]
fn put_global_meta_rmw_is_caught() {
    assert_caught(Mutant::PutGlobalMetaRmw);
}

#[test]
fn put_in_place_is_caught() {
    assert_caught(Mutant::PutInPlace);
}

#[test]
fn grace_check_then_set_is_caught() {
    assert_caught(Mutant::GraceCheckThenSet);
}

#[test]
fn open_leaks_handle_is_caught() {
    assert_caught(Mutant::OpenLeaksHandle);
}

#[test]
fn silent_ephemeral_is_caught() {
    assert_caught(Mutant::SilentEphemeral);
}

#[test]
fn reset_needs_open_is_caught() {
    assert_caught(Mutant::ResetNeedsOpen);
}

#[test]
fn delete_rewrites_all_is_caught() {
    assert_caught(Mutant::DeleteRewritesAll);
}

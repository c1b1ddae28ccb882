//! `--preset loopctl`: the client scenarios' scripted server speaks seed 002's wire (its
//! header names, its nested `witness_*` refusal bodies, its bootstrap marker), so a client
//! written for loopctl is checked unchanged. A Node client that speaks only that wire passes;
//! its memory-only variant (the bug seed 002 fixed) and a reference mutant are caught.

mod common;

use common::{check_json, repo_root, scenario, ADAPTER};
use keyrace_runner::catalogue::CATALOGUE;
use keyrace_runner::protocol::OpName;

/// The client scenarios: every one that needs the `witness` op.
fn client_scenarios() -> Vec<&'static str> {
    CATALOGUE
        .iter()
        .filter(|def| def.needs.contains(&OpName::Witness))
        .map(|def| def.id.as_str())
        .collect()
}

fn loopctl_client() -> String {
    repo_root()
        .join("cli/tests/adapters/loopctl_client.mjs")
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

/// `keyrace check --scenario ID... --rounds 5 EXTRA --adapter ADAPTER...`.
fn run_clients(
    ids: &[&str],
    extra: &[&str],
    adapter: &[&str],
) -> (Option<i32>, String, serde_json::Value) {
    let mut args = Vec::new();
    for id in ids {
        args.extend(["--scenario", id]);
    }
    args.extend(["--rounds", "5", "--seed", "11"]);
    args.extend_from_slice(extra);
    args.push("--adapter");
    args.extend_from_slice(adapter);
    check_json(&args)
}

#[test]
fn a_client_speaking_only_loopctl_passes_every_client_scenario_under_the_preset() {
    let ids = client_scenarios();
    assert_eq!(ids.len(), 10, "a new client scenario belongs here");
    let client = loopctl_client();
    let (code, text, report) = run_clients(&ids, &["--preset", "loopctl"], &["node", &client]);
    assert_eq!(code, Some(0), "{text}");
    for id in &ids {
        assert_eq!(scenario(&report, id)["status"], "passed", "{id}: {text}");
    }
    // Under keyrace's own spelling the same client reads no refusal and no head: the preset
    // is what made it pass.
    let (code, text, report) = run_clients(&["retry-once"], &[], &["node", &client]);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(
        scenario(&report, "retry-once")["status"],
        "failed",
        "{text}"
    );
}

#[test]
fn loopctl_speaking_mutants_are_caught_under_the_preset() {
    // The bug seed 002 fixed: the head is kept in memory only.
    let client = loopctl_client();
    let (code, text, report) = run_clients(
        &["head-persists"],
        &["--preset", "loopctl"],
        &["node", &client, "memory-only"],
    );
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(
        scenario(&report, "head-persists")["status"],
        "failed",
        "{text}"
    );
    assert!(
        text.contains("--preset loopctl"),
        "the re-run line keeps the preset: {text}"
    );
    // The reference client, told the server's spelling, with its retry unbounded.
    let (code, text, report) = run_clients(
        &["retry-bounded"],
        &["--preset", "loopctl"],
        &[ADAPTER, "--mutant", "retry-unbounded"],
    );
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(
        scenario(&report, "retry-bounded")["status"],
        "failed",
        "{text}"
    );
}

//! The `history` scenario: a store that answers a get from its memory of its own writes passes
//! every other store scenario and is caught by `history` in both modes, with a shrunk timeline
//! and, with `--html`, a page; correct stores in other languages pass it in both modes.

mod common;

use common::{keyrace, repo_root, text, ADAPTER};
use keyrace_scenarios::protocol::OpName;
use keyrace_scenarios::scenario::CATALOGUE;

const MUTANT: &str = "get-from-process-memory";

#[test]
fn a_writers_memory_passes_every_other_store_scenario() {
    let mut args = vec!["check", "--seed", "1", "--require-systematic"];
    for def in CATALOGUE {
        // The store scenarios: the client ones never call get.
        if def.id != "history" && !def.needs.contains(&OpName::Witness) {
            args.extend(["--scenario", def.id]);
        }
    }
    args.extend(["--adapter", ADAPTER, "--mutant", MUTANT]);
    let output = keyrace(&args);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert!(
        report.contains("keygen-race") && report.contains("crash-states"),
        "{report}"
    );
}

#[test]
fn a_writers_memory_is_caught_by_history_in_both_modes_with_a_timeline_page() {
    for mode in ["full", "chance"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let page = dir.path().join("timeline.html");
        let page_arg = page.to_str().expect("utf-8 temp path");
        let output = keyrace(&[
            "check",
            "--scenario",
            "history",
            "--seed",
            "1",
            "--mode",
            mode,
            "--html",
            page_arg,
            "--adapter",
            ADAPTER,
            "--mutant",
            MUTANT,
        ]);
        let report = text(&output);
        assert_eq!(output.status.code(), Some(1), "{mode}: {report}");
        assert!(
            report.contains("every answer fits one order of the operations"),
            "{mode}: {report}"
        );
        assert!(report.contains("✗ cannot be placed"), "{mode}: {report}");
        assert!(
            report.contains("were shown not to matter"),
            "{mode}: {report}"
        );
        let html = std::fs::read_to_string(&page).expect("the timeline page was written");
        assert!(
            html.contains("<svg") && html.contains("cannot be placed"),
            "{html}"
        );
        assert!(html.contains("--scenario history --seed 1"), "{html}");
        assert!(
            report.contains("timeline was written to"),
            "{mode}: {report}"
        );
    }
}

#[test]
fn correct_stores_in_python_and_javascript_pass_history_in_both_modes() {
    let root = repo_root();
    for (interpreter, script) in [
        ("python3", "examples/adapter.py"),
        ("node", "examples/adapter.mjs"),
    ] {
        let script = root.join(script);
        let script = script.to_str().expect("utf-8 repository path");
        for mode in ["full", "chance"] {
            let output = keyrace(&[
                "check",
                "--scenario",
                "history",
                "--mode",
                mode,
                "--require-systematic",
                "--adapter",
                interpreter,
                script,
            ]);
            let report = text(&output);
            assert_eq!(output.status.code(), Some(0), "{script} {mode}: {report}");
            assert!(report.contains("history  "), "{report}");
        }
    }
}

/// The workload of docs/protocol.md, as written there.
fn documented_workload() -> String {
    let doc = std::fs::read_to_string(repo_root().join("docs/protocol.md")).expect("protocol.md");
    let section = doc
        .split_once("### Workloads of your own")
        .expect("the workload section")
        .1;
    section
        .split_once("```json\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a JSON example")
        .0
        .to_owned()
}

#[test]
fn the_documented_workload_runs_as_written_and_catches_a_writers_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("workload.json");
    std::fs::write(&file, documented_workload()).expect("write the workload");
    let file = file.to_str().expect("utf-8 temp path");
    for mode in ["full", "chance"] {
        let output = keyrace(&[
            "check",
            "--workload",
            file,
            "--mode",
            mode,
            "--rounds",
            "20",
            "--seed",
            "3",
        ]);
        let report = text(&output);
        assert_eq!(output.status.code(), Some(0), "{mode}: {report}");
        let row = report
            .lines()
            .find(|l| l.starts_with("history "))
            .expect("a history row");
        assert!(row.contains("passed") && row.contains(" 3 "), "{row}");
    }
    let output = keyrace(&[
        "check",
        "--workload",
        file,
        "--mode",
        "chance",
        "--seed",
        "3",
        "--adapter",
        ADAPTER,
        "--mutant",
        MUTANT,
    ]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.contains(&format!("--workload {file}")), "{report}");
    assert!(
        report.contains("api-token") || report.contains("db-password"),
        "{report}"
    );
}

#[test]
fn a_bad_workload_is_a_usage_error_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("workload.json");
    std::fs::write(&file, r#"{"steps":2,"names":["a"],"mix":{"get":1}}"#).expect("write");
    let file = file.to_str().expect("utf-8 temp path");
    let output = keyrace(&["check", "--workload", file]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("has no write"), "{}", text(&output));
    std::fs::write(dir.path().join("workload.json"), documented_workload()).expect("write");
    let output = keyrace(&["check", "--workload", file, "--scenario", "put-race"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output).contains("drop the other --scenario"),
        "{}",
        text(&output)
    );
}

/// A get racing an in-place overwrite reads a torn file and answers an error, which the
/// history forgives and the scenario does not: the explorer puts the read inside the write.
#[test]
fn a_read_racing_an_in_place_overwrite_errs_and_is_caught() {
    let output = keyrace(&[
        "check",
        "--scenario",
        "history",
        "--seed",
        "1",
        "--require-systematic",
        "--adapter",
        ADAPTER,
        "--mutant",
        "put-in-place-one-write",
    ]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        report.contains("racing reads and writes never answer an error"),
        "{report}"
    );
}

/// The racing crash form: correct stores in other languages pass every schedule with one
/// preemption (80 rounds exhaust that bound), each judged in all its crash states. Before
/// their readers fsynced what a racer had published, both failed it.
#[test]
fn correct_stores_in_python_and_javascript_pass_the_racing_crash_form() {
    let root = repo_root();
    for (interpreter, script) in [
        ("python3", "examples/adapter.py"),
        ("node", "examples/adapter.mjs"),
    ] {
        let script = root.join(script);
        let script = script.to_str().expect("utf-8 repository path");
        let output = keyrace(&[
            "check",
            "--scenario",
            "crash-history-race",
            "--rounds",
            "80",
            "--require-systematic",
            "--adapter",
            interpreter,
            script,
        ]);
        let report = text(&output);
        assert_eq!(output.status.code(), Some(0), "{script}: {report}");
        assert!(
            report.contains("every schedule with at most 1 preemption(s) ran"),
            "{script}: {report}"
        );
        assert!(
            report.contains("(0 broke an invariant)") && report.contains("distinct crash states"),
            "{script}: {report}"
        );
    }
}

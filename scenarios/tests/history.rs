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

//! The `history` scenario: a store that answers a get from its memory of its own writes passes
//! every other store scenario and is caught by `history` in both modes, with a shrunk timeline
//! and, with `--html`, a page; correct stores in other languages pass it in both modes.

mod common;

use common::{keyrace, repo_root, text, ADAPTER};
use keyrace_runner::catalogue::CATALOGUE;
use keyrace_runner::protocol::OpName;

const MUTANT: &str = "get-from-process-memory";

/// `mutant` passes every store scenario but those of `but` (the client ones never call get),
/// in the default mode with seed 1.
fn passes_every_store_scenario_but(mutant: &str, but: &[&str]) {
    let mut args = vec!["check", "--seed", "1", "--require-systematic"];
    for def in CATALOGUE {
        if !but.contains(&def.id.as_str()) && !def.needs.contains(&OpName::Witness) {
            args.extend(["--scenario", def.id.as_str()]);
        }
    }
    args.extend(["--adapter", ADAPTER, "--mutant", mutant]);
    let output = keyrace(&args);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(0), "{mutant}: {report}");
    assert!(
        report.contains("keygen-race") && report.contains("crash-states"),
        "{report}"
    );
}

#[test]
fn a_writers_memory_passes_every_other_store_scenario() {
    passes_every_store_scenario_but(MUTANT, &["history"]);
}

/// A resurrection only a put and then a delete reach: every catalogue scenario passes it
/// (each records or races one operation of a name), `crash-history` catches it (`history`
/// may, by chance, in the window of a racing put).
#[test]
fn a_previous_version_restored_after_a_delete_passes_the_catalogue_and_crash_history_catches_it() {
    let mutant = "put-previous-unsynced";
    passes_every_store_scenario_but(mutant, &["crash-history", "history"]);
    let output = keyrace(&[
        "check",
        "--scenario",
        "crash-history",
        "--seed",
        "1",
        "--require-systematic",
        "--adapter",
        ADAPTER,
        "--mutant",
        mutant,
    ]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.contains("no deleted secret back"), "{report}");
    assert!(report.contains("✗ cannot be placed"), "{report}");
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

/// The correct stores in other languages: each interpreter and its example's path.
fn examples() -> [(&'static str, String); 2] {
    [
        ("python3", "examples/adapter.py"),
        ("node", "examples/adapter.mjs"),
    ]
    .map(|(interpreter, script)| {
        let path = repo_root().join(script);
        let path = path.to_str().expect("utf-8 repository path").to_owned();
        (interpreter, path)
    })
}

#[test]
fn correct_stores_in_python_and_javascript_pass_history_in_both_modes() {
    for (interpreter, script) in examples() {
        let script = script.as_str();
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
        let mut args = vec![
            "check",
            "--workload",
            file,
            "--mode",
            mode,
            "--rounds",
            "20",
            "--seed",
            "3",
        ];
        // The crash form needs the tracer: where it cannot run, a weaker run is exit 2.
        if mode == "full" {
            args.push("--require-systematic");
        }
        let output = keyrace(&args);
        let report = text(&output);
        assert_eq!(output.status.code(), Some(0), "{mode}: {report}");
        let row = report
            .lines()
            .find(|l| l.starts_with("history "))
            .expect("a history row");
        assert!(row.contains("passed") && row.contains(" 3 "), "{row}");
        // Its "crash": true runs the crash form where crash states can be built.
        let crash = report
            .lines()
            .find(|l| l.starts_with("crash-history "))
            .expect("a crash-history row");
        let form = if mode == "full" { "passed" } else { "skipped" };
        assert!(crash.contains(form), "{mode}: {report}");
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

/// A crash workload's mix of puts and deletes over its own name, one writer, power loss at every
/// point: a delete that does not fsync its directory comes back, shown on the workload's name.
#[test]
fn a_crash_workload_finds_a_resurrected_delete_on_its_own_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("workload.json");
    std::fs::write(
        &file,
        r#"{"steps": 3, "names": ["api-token"], "mix": {"put": 1, "delete": 1}, "crash": true}"#,
    )
    .expect("write the workload");
    let file = file.to_str().expect("utf-8 temp path");
    let run = |mutant: Option<&str>| {
        let mut args = vec![
            "check",
            "--workload",
            file,
            "--scenario",
            "crash-history",
            "--seed",
            "1",
            "--require-systematic",
            "--adapter",
            ADAPTER,
        ];
        args.extend(mutant.iter().flat_map(|m| ["--mutant", m]));
        keyrace(&args)
    };
    let output = run(None);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let output = run(Some("delete-no-dir-fsync"));
    let report = text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    use keyrace_runner::catalogue::CRASH_HISTORY_INVARIANT as INVARIANT;
    assert!(report.contains(INVARIANT.as_str()), "{report}");
    assert!(
        report.contains("delete \"api-token\" → ok") && report.contains("get \"api-token\" → \"h-"),
        "{report}"
    );
    assert!(report.contains(&format!("--workload {file}")), "{report}");
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
    std::fs::write(
        dir.path().join("workload.json"),
        r#"{"steps":2,"names":["a"],"mix":{"put":1}}"#,
    )
    .expect("write");
    let output = keyrace(&["check", "--workload", file, "--scenario", "crash-history"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output).contains("with \"crash\": true"),
        "{}",
        text(&output)
    );
    let output = keyrace(&[
        "check",
        "--workload",
        file,
        "--scenario",
        "crash-history",
        "--mode",
        "chance",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output).contains("drop --mode chance"),
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

/// A store whose reader trusts a racer's metadata file: the Python example with the one line
/// that fsyncs the store directory after reading `store.json` taken out. A racer's secret put
/// under metadata another racer had not yet made durable is acknowledged; after the power
/// loss it is gone, or the store refuses every read. The racing crash form catches it (one
/// preemption).
#[test]
fn a_reader_trusting_a_racers_unsynced_metadata_is_caught_by_the_racing_crash_form() {
    let source = std::fs::read_to_string(repo_root().join("examples/adapter.py"))
        .expect("read the Python example");
    let fsync_after_read =
        "    fsync_dir(store)  # a racing creator may not have made store.json durable yet";
    let lines: Vec<&str> = source.lines().collect();
    let kept: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| !line.starts_with(fsync_after_read))
        .collect();
    assert_eq!(
        kept.len() + 1,
        lines.len(),
        "the example's fsync after reading store.json"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let trusting = dir.path().join("trusting.py");
    std::fs::write(&trusting, kept.join("\n") + "\n").expect("write the trusting store");
    let output = keyrace(&[
        "check",
        "--scenario",
        "crash-history-race",
        "--seed",
        "1",
        "--fail-fast",
        "--require-systematic",
        "--adapter",
        "python3",
        trusting.to_str().expect("utf-8 temp path"),
    ]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    // A secret is lost (read back as nothing, or behind a refusal), never the token.
    use keyrace_runner::catalogue::{
        CRASH_HISTORY_RACE_INVARIANT as INVARIANT, CRASH_HISTORY_RACE_READS as READS,
    };
    let lost = (report.contains(INVARIANT.as_str()) && report.contains("name \"h"))
        || (report.contains(READS.as_str()) && report.contains("METADATA_MISSING"));
    assert!(lost, "{report}");
    assert!(!report.contains("token \"grace\""), "{report}");
    // The answer that rested on the racer's file is named.
    assert!(
        report.contains("which the power loss took back"),
        "{report}"
    );
}

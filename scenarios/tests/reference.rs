//! `keyrace check` passes the reference adapter and the Python example, and writes JSON and
//! JUnit reports that agree with the table.

mod common;

use common::{keyrace, python3, repo_root, text};
use keyrace_scenarios::protocol::OpName;

#[test]
fn reference_adapter_passes_every_scenario() {
    let output = keyrace(&["check", "--rounds", "20", "--seed", "7"]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert_every_row_passed(&report, false);
    // What chance bought, for each racing scenario: (1 - 1/10)^20 = 12.2%.
    assert!(
        report.contains("keygen-race covered: 20 rounds of 4 actors at once: a race that shows in 1 round in 10 is missed with probability 12.2%"),
        "{report}"
    );
}

/// Every scenario of the catalogue has a row, and it passed: a skipped one checked nothing.
/// Only the scenarios of the other mode are skipped (and say why).
fn assert_every_row_passed(report: &str, explore: bool) {
    assert_every_row_passed_but(report, explore, &[]);
}

/// [`assert_every_row_passed`] for an adapter that does not implement the ops `lacking`: the
/// scenarios needing them are skipped, saying so.
fn assert_every_row_passed_but(report: &str, explore: bool, lacking: &[OpName]) {
    use keyrace_scenarios::scenario::Mode;
    for def in keyrace_scenarios::scenario::CATALOGUE {
        let row = report
            .lines()
            .find(|line| line.starts_with(def.id))
            .unwrap_or_else(|| panic!("no row for {}: {report}", def.id));
        let runs = match def.mode {
            Mode::Race => true,
            Mode::Stochastic => !explore,
            Mode::Traced => explore,
        };
        if let Some(op) = def.needs.iter().find(|op| lacking.contains(op)) {
            assert!(row.contains("skipped"), "{row}\n{report}");
            if runs {
                assert!(
                    report.contains(&format!("the adapter does not implement {op}")),
                    "{report}"
                );
            }
            continue;
        }
        if runs {
            assert!(row.contains("passed"), "{row}\n{report}");
        } else {
            assert!(row.contains("skipped"), "{row}\n{report}");
            let why = if explore {
                "without --explore"
            } else {
                "only under --explore"
            };
            assert!(
                report.contains(&format!("{} skipped: ", def.id)) && report.contains(why),
                "{report}"
            );
        }
    }
}

#[test]
fn reference_adapter_passes_every_scenario_under_explore() {
    let output = keyrace(&["check", "--explore", "--seed", "7"]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert_every_row_passed(&report, true);
    assert!(report.contains("exhaustive within the bound"), "{report}");
    assert!(
        report.contains("distinct crash states judged (0 broke"),
        "{report}"
    );
}

/// The JavaScript example (Node's standard library), in both modes.
#[test]
fn javascript_example_adapter_passes_every_scenario_in_both_modes() {
    let script = repo_root().join("examples/adapter.mjs");
    let script = script.to_str().expect("utf-8 path");
    for explore in [false, true] {
        let mut args = vec!["check", "--rounds", "2"];
        if explore {
            args = vec!["check", "--explore"];
        }
        args.extend(["--adapter", "node", script]);
        let output = keyrace(&args);
        let report = text(&output);
        assert_eq!(output.status.code(), Some(0), "{report}");
        assert!(report.contains("javascript example file store"), "{report}");
        // The JavaScript example has no witness client (the Python one does).
        assert_every_row_passed_but(&report, explore, &[OpName::Witness]);
    }
}

#[test]
fn python_example_adapter_passes_every_scenario_under_explore() {
    let script = repo_root().join("examples/adapter.py");
    let python = python3();
    let script = script.to_str().expect("utf-8 path");
    let output = keyrace(&["check", "--explore", "--adapter", &python, script]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert_every_row_passed(&report, true);
}

#[test]
fn python_example_adapter_passes_every_scenario() {
    let script = repo_root().join("examples/adapter.py");
    let python = python3();
    let script = script.to_str().expect("utf-8 path");
    let output = keyrace(&["check", "--rounds", "2", "--adapter", &python, script]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert!(report.contains("python example file store"), "{report}");
    assert_every_row_passed(&report, false);
}

#[test]
fn json_and_junit_reports_match_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("r.json");
    let junit = dir.path().join("r.xml");
    let output = keyrace(&[
        "check",
        "--scenario",
        "double-bootstrap",
        "--scenario",
        "restart-durability",
        "--rounds",
        "1",
        "--json",
        json.to_str().expect("utf-8"),
        "--junit",
        junit.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("valid json");
    assert_eq!(report["exit_code"], 0);
    assert_eq!(report["protocol"], "keyrace-adapter/1");
    let ids: Vec<&str> = report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["double-bootstrap", "restart-durability"]);
    assert_eq!(report["scenarios"][0]["rounds"], 1);
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(
        xml.contains("tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"0\""),
        "{xml}"
    );
    assert!(xml.contains("name=\"double-bootstrap\""), "{xml}");
}

#[test]
fn list_names_every_scenario_and_usage_errors_exit_2() {
    let output = keyrace(&["list"]);
    assert_eq!(output.status.code(), Some(0));
    let listing = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        listing.lines().count(),
        keyrace_scenarios::scenario::CATALOGUE.len()
    );
    let unknown = keyrace(&["check", "--scenario", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown).contains("the scenarios are: keygen-race, put-race"),
        "{}",
        text(&unknown)
    );
    let mutant = keyrace(&["adapter", "--mutant", "nope"]);
    assert_eq!(mutant.status.code(), Some(2));
    assert!(text(&mutant).contains("put-in-place"), "{}", text(&mutant));
    assert_eq!(keyrace(&["check", "--bogus"]).status.code(), Some(2));
    assert_eq!(keyrace(&["check", "--adapter"]).status.code(), Some(2));
    for (args, says) in [
        (&["check", "--schedule", "0.x"][..], "is not a schedule"),
        (&["check", "--explore", "bfs"][..], "invalid value"),
        (
            &["check", "--explore", "--schedule", "01"][..],
            "cannot be used with",
        ),
        (
            &["check", "--explore", "--preemptions", "99"][..],
            "not in 0..=8",
        ),
    ] {
        let output = keyrace(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(text(&output).contains(says), "{args:?}: {}", text(&output));
    }
    assert!(listing.contains("[--explore only]"), "{listing}");
}

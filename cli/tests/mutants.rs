//! Every mutant of the reference adapter is caught by its check in the default (full) mode,
//! within the default budget (stopping at the first violation, to keep the test fast), with a
//! re-run command; every scenario and crash-state branch has a mutant it must catch; and the
//! design's table of them is the registry's.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{repo_root, text, ADAPTER};
use keyrace_reference::{also_caught, catch, caught_by, Catch, Mutant};
use keyrace_runner::catalogue::{find, Mode, ScenarioId, CATALOGUE};
use keyrace_runner::protocol::OpName;

/// The mutants only the models catch, each with its reason: a mutant whose catch is lost
/// cannot drop out of the runner's tests silently.
#[test]
fn only_keygen_broad_catch_is_left_to_the_models() {
    let models_only: Vec<Mutant> = Mutant::ALL
        .iter()
        .copied()
        .filter(|&m| matches!(catch(m), Catch::ModelsOnly { .. }))
        .collect();
    assert_eq!(models_only, [Mutant::KeygenBroadCatch]);
    for &mutant in Mutant::ALL {
        if let Some(scenario) = caught_by(mutant) {
            assert!(
                find(scenario.as_str()).is_some(),
                "{mutant}: no scenario {scenario}"
            );
        }
    }
}

/// Every runner scenario has a mutant it must catch, and crash-states one for each of its
/// branches (an overwrite's lost write or rename, a delete's lost remove).
#[test]
fn every_scenario_and_crash_state_branch_has_a_mutant() {
    for def in CATALOGUE {
        assert!(
            Mutant::ALL.iter().any(|&m| caught_by(m) == Some(def.id)
                || also_caught(m).iter().any(|c| c.scenario() == Some(def.id))),
            "scenario {} has no mutant it must catch",
            def.id
        );
    }
    let crash_branches: BTreeSet<&str> = Mutant::ALL
        .iter()
        .filter_map(|&m| match catch(m) {
            Catch::Runner {
                scenario: ScenarioId::CrashStates,
                check,
            } => Some(check),
            _ => None,
        })
        .collect();
    assert_eq!(
        crash_branches,
        BTreeSet::from(["(write #", "(rename ", "(remove "])
    );
}

/// The violations of `scenario` in a JSON report, each as one text: its invariant, then each
/// violating round's number and evidence.
fn violations(report: &serde_json::Value, scenario: &str) -> Vec<String> {
    let row = common::scenario(report, scenario);
    row["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let mut all = v["invariant"].as_str().unwrap_or_default().to_owned();
            for trace in v["traces"].as_array().into_iter().flatten() {
                all.push_str(&format!("\nround {}:", trace["round"]));
                for line in trace["replies"].as_array().into_iter().flatten() {
                    all.push_str(&format!("\n  {}", line.as_str().unwrap_or_default()));
                }
            }
            all
        })
        .collect()
}

/// Every mutant the runner must catch, each run against its scenario with the default
/// command (no mode flag) and `--require-systematic`, so a racing mutant is judged under
/// controlled interleavings, never by chance: racing mutants, crash-state mutants and fault
/// and client mutants alike. Each must break its own check (the registry's phrase). Two runs
/// at a time, so a 2-core machine is not oversubscribed; a pinned seed, so the random choices
/// of a failing run can be replayed.
#[test]
fn every_runner_mutant_is_caught_by_its_check_in_the_default_mode_with_a_rerun_command() {
    let runs: Vec<(Mutant, &str, &str)> = Mutant::ALL
        .iter()
        .filter_map(|&mutant| match catch(mutant) {
            Catch::Runner { scenario, check } => Some((mutant, scenario.as_str(), check)),
            Catch::ModelsOnly { .. } => None,
        })
        .collect();
    for pair in runs.chunks(2) {
        let children: Vec<_> = pair
            .iter()
            .map(|&(mutant, scenario, check)| {
                let dir = tempfile::tempdir().expect("tempdir");
                let json = dir.path().join("report.json");
                let child = common::keyrace_command()
                    .args(["check", "--scenario", scenario, "--seed", "1"])
                    .args(["--fail-fast", "--require-systematic", "--json"])
                    .arg(&json)
                    .args(["--adapter", ADAPTER, "--mutant", mutant.name()])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("start keyrace");
                (mutant, scenario, check, dir, json, child)
            })
            .collect();
        for (mutant, scenario, check, _dir, json, child) in children {
            let output = child.wait_with_output().expect("keyrace ran");
            let report = text(&output);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{mutant} not caught:\n{report}"
            );
            let parsed: serde_json::Value = std::fs::read(&json)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_else(|| panic!("no JSON report:\n{report}"));
            assert_eq!(common::scenario(&parsed, scenario)["status"], "failed");
            let found = violations(&parsed, scenario);
            assert!(
                found.iter().any(|v| v.contains(check)),
                "{mutant} broke {scenario}, but not its check {check:?}: {found:#?}"
            );
            let repro = format!("--scenario {scenario} --seed 1");
            assert!(report.contains(&repro), "no re-run command: {report}");
            assert!(report.contains(&format!("--mutant {mutant}")), "{report}");
        }
    }
}

/// In the full mode, DFS explores every schedule within its bound: each racing mutant is
/// caught in every run, and the printed re-run command (its schedule word) reproduces it.
#[test]
fn racing_mutants_are_caught_under_explore_and_their_schedule_replays() {
    let racing: Vec<(Mutant, &str)> = Mutant::ALL
        .iter()
        .filter_map(|&m| Some((m, caught_by(m)?.as_str())))
        .filter(|(_, scenario)| {
            find(scenario).is_some_and(|def| matches!(def.mode, Mode::Race | Mode::TracedRace))
        })
        .collect();
    // Written out: a mutant whose catch moves out of the racing scenarios (or out of the
    // catalogue) must not drop out of this test silently.
    let names: Vec<&str> = racing.iter().map(|(m, _)| m.name()).collect();
    assert_eq!(
        names,
        [
            "keygen-read-then-write",
            "keygen-excl-then-write",
            "put-global-meta-rmw",
            "put-shared-temp",
            "delete-rewrites-all",
            "get-from-process-memory",
            "reset-needs-open",
            "grace-check-then-set",
            "consume-loser-unsynced",
            "cache-write-in-place",
        ]
    );
    for (mutant, scenario) in racing {
        let (code, report) = check_mutant(scenario, mutant, &["--fail-fast"]);
        assert_eq!(code, Some(1), "{} not caught:\n{report}", mutant.name());
        let invariant = report
            .lines()
            .find_map(|l| l.split_once(": VIOLATION in ").map(|(_, rest)| rest))
            .and_then(|rest| rest.split_once(": ").map(|(_, inv)| inv.to_owned()))
            .expect("a violation line");
        let rerun = report
            .lines()
            .find_map(|l| l.trim().strip_prefix("re-run: keyrace "))
            .expect("a re-run command");
        assert!(rerun.contains("--schedule "), "{rerun}");
        for _ in 0..3 {
            let replay = common::keyrace_command()
                .args(rerun.split_whitespace())
                .output()
                .expect("replay");
            let replayed = text(&replay);
            assert_eq!(replay.status.code(), Some(1), "replay passed:\n{replayed}");
            assert!(replayed.contains(&invariant), "{invariant}\n{replayed}");
            assert!(replayed.contains("one replayed schedule"), "{replayed}");
        }
    }
}

/// `keyrace check --scenario SCENARIO --seed 1 --require-systematic EXTRA...` of the reference
/// adapter with `mutant`: its exit code and report.
fn check_mutant(scenario: &str, mutant: Mutant, extra: &[&str]) -> (Option<i32>, String) {
    let output = common::keyrace_command()
        .args(["check", "--scenario", scenario, "--require-systematic"])
        .args(["--seed", "1"])
        .args(extra)
        .args(["--adapter", ADAPTER, "--mutant", mutant.name()])
        .output()
        .expect("run keyrace");
    (output.status.code(), text(&output))
}

/// Every secondary catch (`also_caught`) holds in the default mode: the general scenarios catch
/// what the catalogue's hand-written races were made for.
#[test]
fn every_secondary_catch_holds_in_the_default_mode() {
    let runs: Vec<(Mutant, &str, &str)> = Mutant::ALL
        .iter()
        .flat_map(|&m| also_caught(m).iter().map(move |c| (m, *c)))
        .filter_map(|(m, c)| match c {
            Catch::Runner { scenario, check } => Some((m, scenario.as_str(), check)),
            Catch::ModelsOnly { .. } => None,
        })
        .collect();
    assert!(runs.len() >= 3, "{runs:?}");
    for (mutant, scenario, check) in runs {
        let (code, report) = check_mutant(scenario, mutant, &[]);
        assert_eq!(
            code,
            Some(1),
            "{mutant} not caught by {scenario}:\n{report}"
        );
        assert!(
            report.contains(check),
            "{mutant} broke {scenario}, not {check:?}:\n{report}"
        );
    }
}

/// The witness client's mutants are caught by a single round of their scenario, whatever the
/// seed: 20 runs, one at a time, 20 catches (their scenarios script the server, and cold-start's
/// server holds the first bootstrap until a second request arrives: nothing is left to chance).
/// cache-write-in-place is left to the controlled mode (its scenario is a race).
#[test]
fn client_mutants_are_caught_in_20_of_20_single_round_runs() {
    let client: Vec<(Mutant, &str)> = Mutant::ALL
        .iter()
        .filter_map(|&m| Some((m, caught_by(m)?.as_str())))
        .filter(|(_, scenario)| {
            find(scenario).is_some_and(|def| {
                def.needs.contains(&OpName::Witness) && def.mode == Mode::Stochastic
            })
        })
        .collect();
    assert_eq!(client.len(), 11, "{client:?}");
    for (mutant, scenario) in client {
        let caught = (1..=20)
            .filter(|seed| {
                let output = common::keyrace_command()
                    .args(["check", "--scenario", scenario, "--rounds", "1"])
                    .args(["--seed", &seed.to_string()])
                    .args(["--adapter", ADAPTER, "--mutant", mutant.name()])
                    .output()
                    .expect("run keyrace");
                output.status.code() == Some(1) && text(&output).contains("VIOLATION")
            })
            .count();
        assert_eq!(caught, 20, "{mutant} caught in {caught} of 20 runs");
    }
}

/// docs/design.md's table of scenarios and the mutants each must catch is the registry's,
/// row for row.
#[test]
fn the_design_table_of_scenarios_and_mutants_is_the_registry() {
    let design = std::fs::read_to_string(repo_root().join("docs/design.md")).expect("design.md");
    let header = "| scenario | seed | model row(s) it mirrors | mutants it must catch | caught when the violation names |";
    let table = design
        .split_once(header)
        .unwrap_or_else(|| panic!("docs/design.md has no table headed {header}"))
        .1;
    let mut documented: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for row in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        let [scenario, _seed, _rows, mutants, checks] = cells[..] else {
            panic!("a row of five cells: {row}");
        };
        let mutants: Vec<&str> = mutants.split(", ").collect();
        let checks: Vec<&str> = checks.split("; ").collect();
        assert_eq!(mutants.len(), checks.len(), "{row}");
        documented
            .entry(scenario.trim_matches('`').to_owned())
            .or_default()
            .extend(mutants.iter().zip(&checks).map(|(m, c)| {
                (
                    m.trim_matches('`').to_owned(),
                    c.trim_matches('`').to_owned(),
                )
            }));
    }
    let mut registry: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for &mutant in Mutant::ALL {
        for catch in std::iter::once(catch(mutant)).chain(also_caught(mutant).iter().copied()) {
            if let Catch::Runner { scenario, check } = catch {
                registry
                    .entry(scenario.to_string())
                    .or_default()
                    .insert((mutant.name().to_owned(), check.to_owned()));
            }
        }
    }
    assert_eq!(documented, registry);
}

/// Each crash-state mutant's violations name the change that would have avoided them: the
/// missing fsync of a file or a directory, or the in-place write that should have been a temp
/// file and a rename (`crash/fix.rs`'s unit tests hold a correct replace to no fix at all).
#[test]
fn crash_state_findings_name_their_fix() {
    let cases = [
        (Mutant::KeygenNoFsync, "fix: fsync the file store/"),
        (Mutant::PutRenameNoDirFsync, "fix: fsync the directory store/secrets after op"),
        (Mutant::DeleteNoDirFsync, "fix: fsync the directory store/secrets after op"),
        (Mutant::ConsumeNoFsync, "fix: fsync the directory store after op"),
        (
            Mutant::PutInPlaceOneWrite,
            "in place, and a power loss left it half done: write a temp file, fsync it and rename it over",
        ),
    ];
    for (mutant, fix) in cases {
        let scenario = caught_by(mutant)
            .expect("a crash-state mutant has its scenario")
            .as_str();
        let output = common::keyrace_command()
            .args(["check", "--scenario", scenario, "--seed", "1"])
            .args(["--require-systematic"])
            .args(["--adapter", ADAPTER, "--mutant", mutant.name()])
            .output()
            .expect("run keyrace");
        let report = text(&output);
        assert_eq!(output.status.code(), Some(1), "{mutant}: {report}");
        assert!(report.contains(fix), "{mutant}: no {fix:?} in\n{report}");
    }
}

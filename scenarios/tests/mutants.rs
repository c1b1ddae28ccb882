//! Every mutant of the reference adapter is caught by its scenario in the default (full) mode
//! within the default budget (stopping at the first violation, to keep the test fast), with a
//! re-run command.

mod common;

use common::{text, ADAPTER};
use keyrace_scenarios::adapter::{caught_by, Mutant};

/// Every mutant the adapter knows that the runner can catch, each run against its scenario
/// with the default command (no mode flag): racing mutants under controlled interleavings,
/// crash-state mutants (keygen-no-fsync) and fault-scenario mutants (open-leaks-handle,
/// silent-ephemeral) alike. Two runs at a time, so a 2-core machine is not oversubscribed; a
/// pinned seed, so the random choices of a failing run can be replayed.
#[test]
fn every_mutant_is_caught_by_its_scenario_in_the_default_mode_with_a_rerun_command() {
    let runs: Vec<(Mutant, &str)> = Mutant::ALL
        .into_iter()
        .filter_map(|mutant| Some((mutant, caught_by(mutant)?)))
        .collect();
    // Every mutant but the one only the models catch (an injected read error).
    assert_eq!(runs.len(), Mutant::ALL.len() - 1, "{runs:?}");
    for pair in runs.chunks(2) {
        let children: Vec<_> = pair
            .iter()
            .map(|&(mutant, scenario)| {
                let child = std::process::Command::new(common::keyrace_bin())
                    .args([
                        "check",
                        "--scenario",
                        scenario,
                        "--seed",
                        "1",
                        "--fail-fast",
                    ])
                    .args(["--adapter", ADAPTER, "--mutant", mutant.name()])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("start keyrace");
                (mutant, scenario, child)
            })
            .collect();
        for (mutant, scenario, child) in children {
            let output = child.wait_with_output().expect("keyrace ran");
            let report = text(&output);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{} not caught:\n{report}",
                mutant.name()
            );
            assert!(report.contains(&format!("{scenario} round")), "{report}");
            assert!(report.contains("VIOLATION"), "{report}");
            let repro = format!("--scenario {scenario} --seed 1");
            assert!(report.contains(&repro), "no re-run command: {report}");
            assert!(
                report.contains(&format!("--mutant {}", mutant.name())),
                "{report}"
            );
        }
    }
}

/// In the full mode, DFS explores every schedule within its bound: each racing mutant is
/// caught in every run, and the printed re-run command (its schedule word) reproduces it.
#[test]
fn racing_mutants_are_caught_under_explore_and_their_schedule_replays() {
    let racing: Vec<(Mutant, &str)> = Mutant::ALL
        .into_iter()
        .filter_map(|m| Some((m, caught_by(m)?)))
        .filter(|(_, scenario)| {
            keyrace_scenarios::scenario::find(scenario)
                .is_some_and(|def| def.mode == keyrace_scenarios::scenario::Mode::Race)
        })
        .collect();
    // keygen ×2, put-global-meta-rmw, grace-check-then-set, delete-reset ×2, cache-write-in-place.
    assert_eq!(racing.len(), 7, "{racing:?}");
    for (mutant, scenario) in racing {
        let output = std::process::Command::new(common::keyrace_bin())
            .args(["check", "--scenario", scenario])
            .args(["--seed", "1", "--fail-fast"])
            .args(["--adapter", ADAPTER, "--mutant", mutant.name()])
            .output()
            .expect("run keyrace");
        let report = text(&output);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{} not caught:\n{report}",
            mutant.name()
        );
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
            let replay = std::process::Command::new(common::keyrace_bin())
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

/// The witness client's mutants are caught by a single round of their scenario, whatever the
/// seed: 20 runs, 20 catches (their scenarios script the server; nothing is left to chance).
#[test]
fn client_mutants_are_caught_in_20_of_20_single_round_runs() {
    let client = [
        Mutant::RetryUnbounded,
        Mutant::RetryOnDivergence,
        Mutant::NoSingleflight,
        Mutant::CacheFollowsSymlink,
        Mutant::WitnessSwallowsErrors,
    ];
    for mutant in client {
        let scenario = caught_by(mutant).expect("a client mutant has its scenario");
        let caught = (1..=20)
            .filter(|seed| {
                let output = std::process::Command::new(common::keyrace_bin())
                    .args(["check", "--scenario", scenario, "--rounds", "1"])
                    .args(["--seed", &seed.to_string()])
                    .args(["--adapter", ADAPTER, "--mutant", mutant.name()])
                    .output()
                    .expect("run keyrace");
                output.status.code() == Some(1) && text(&output).contains("VIOLATION")
            })
            .count();
        assert_eq!(
            caught,
            20,
            "{} caught in {caught} of 20 runs",
            mutant.name()
        );
    }
}

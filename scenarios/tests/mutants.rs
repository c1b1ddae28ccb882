//! Every mutant of the reference adapter is caught by its scenario within the default budget
//! (stopping at the first violation, to keep the test fast), with a re-run command.

mod common;

use common::{text, ADAPTER};
use keyrace_scenarios::adapter::Mutant;

/// Every mutant the adapter knows, each run against its scenario at once (in parallel), with a
/// pinned seed so the random choices of a failing run can be replayed.
#[test]
fn every_mutant_is_caught_by_its_scenario_with_a_rerun_command() {
    let runs: Vec<(Mutant, std::process::Child)> = Mutant::ALL
        .into_iter()
        .map(|mutant| {
            let child = std::process::Command::new(common::keyrace_bin())
                .args([
                    "check",
                    "--scenario",
                    mutant.caught_by(),
                    "--seed",
                    "1",
                    "--fail-fast",
                ])
                .args(["--adapter", ADAPTER, "--mutant", mutant.name()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start keyrace");
            (mutant, child)
        })
        .collect();
    for (mutant, child) in runs {
        let output = child.wait_with_output().expect("keyrace ran");
        let report = text(&output);
        let scenario = mutant.caught_by();
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

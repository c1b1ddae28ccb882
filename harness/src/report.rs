//! Run the catalogue under explorers and report: model, explorer, executions, time, verdict.

use std::fmt;
use std::time::{Duration, Instant};

use crate::catalogue::{Body, Case, PROPERTY_CASES};
use crate::explore::{explore, Backend, Counterexample, Replay};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The reference held its invariant within the budget.
    Pass,
    /// The mutant broke the invariant.
    Caught,
    /// The reference broke its invariant: a bug in the core or the model.
    ReferenceFailed,
    /// The mutant survived the budget.
    Missed,
    /// The model failed without breaking its invariant (a panic elsewhere, an explorer error).
    Error,
    /// A mutant not caught by plain std threads, which cannot force an interleaving: only
    /// loom and shuttle are held to catching it.
    NotReached,
}

impl Verdict {
    pub fn is_expected(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::Caught | Verdict::NotReached)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Caught => "caught",
            Verdict::ReferenceFailed => "REFERENCE FAILED",
            Verdict::Missed => "MISSED",
            Verdict::Error => "ERROR",
            Verdict::NotReached => "not reached (std threads)",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub case: String,
    pub explorer: String,
    /// Executions explored; for a caught mutant, the executions up to the first failure.
    pub executions: usize,
    pub elapsed: Duration,
    pub verdict: Verdict,
    pub failure: Option<Counterexample>,
}

impl Row {
    /// The command that replays this row's failure, if it has one.
    pub fn replay_command(&self) -> Option<String> {
        let failure = self.failure.as_ref()?;
        let bin = "--bin keyrace-models -- replay";
        match &failure.replay {
            Replay::Shuttle(schedule) => Some(format!(
                "cargo run -p keyrace-harness --release --features shuttle {bin} {} --shuttle '{schedule}'",
                self.case
            )),
            Replay::Loom(path) => Some(format!(
                "RUSTFLAGS=\"--cfg loom\" cargo run -p keyrace-harness --release --target-dir target-loom {bin} {} --loom {}",
                self.case,
                path.display()
            )),
            Replay::None => None,
        }
    }
}

/// Run one case under one explorer (a property runs under proptest whatever the explorer).
pub fn run_case(case: &Case, explorer: Backend) -> Row {
    let (explorer_name, executions, elapsed, failure) = match &case.body {
        Body::Model(model) => {
            let outcome = explore(explorer, &format!("{}-{explorer}", case.name()), model);
            (
                explorer.to_string(),
                outcome.executions,
                outcome.elapsed,
                outcome.failure,
            )
        }
        Body::Property(property) => {
            let start = Instant::now();
            let outcome = property(PROPERTY_CASES);
            let failure = outcome.failure.map(|message| Counterexample {
                message,
                replay: Replay::None,
            });
            (
                "proptest".to_owned(),
                outcome.cases,
                start.elapsed(),
                failure,
            )
        }
    };
    // Only an invariant of the case's row counts: a broken model setup, a sanity check or
    // another row's invariant is an error of the model, never a catch.
    let violation = failure.as_ref().map(|f| {
        f.broken_invariant()
            .is_some_and(|broken| case.invariants.contains(&broken))
    });
    let verdict = match (case.is_mutant(), violation) {
        (_, Some(false)) => Verdict::Error,
        (false, None) => Verdict::Pass,
        (false, Some(true)) => Verdict::ReferenceFailed,
        (true, Some(true)) => Verdict::Caught,
        (true, None) if matches!(explorer, Backend::Stress { .. }) => Verdict::NotReached,
        (true, None) => Verdict::Missed,
    };
    Row {
        case: case.name(),
        explorer: explorer_name,
        executions,
        elapsed,
        verdict,
        failure,
    }
}

/// Rows of a whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub rows: Vec<Row>,
}

impl Report {
    /// Run every case under every explorer that applies (properties once; PCT only where
    /// two actors can run at once, since it has nothing to prioritize otherwise).
    pub fn run(cases: &[Case], explorers: &[Backend]) -> Report {
        let mut rows = Vec::new();
        for case in cases {
            match case.body {
                Body::Property(_) => rows.extend(explorers.first().map(|e| run_case(case, *e))),
                Body::Model(_) => {
                    for explorer in explorers.iter().filter(|e| e.applies_to(case.actors)) {
                        rows.push(run_case(case, explorer.for_model(case.actors)));
                    }
                }
            }
        }
        Report { rows }
    }

    /// Rows that fail the suite: a reference that broke its invariant, a model that errored,
    /// or a mutant that no explorer of this run caught. (A mutant missed by one explorer and
    /// caught by another is reported in the table, not failed: the issue asks for at least one.)
    /// Every failing row's counterexample: case, explorer, verdict, the message (invariant,
    /// trace) and its replay command.
    pub fn counterexamples(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            let Some(failure) = &row.failure else {
                continue;
            };
            out.push_str(&format!(
                "\n=== {} under {}: {}\n{}\n",
                row.case, row.explorer, row.verdict, failure.message
            ));
            match row.replay_command() {
                Some(cmd) => out.push_str(&format!("replay: {cmd}\n")),
                None => out.push_str("replay: run the same command again (deterministic)\n"),
            }
        }
        out
    }

    pub fn unexpected(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| match r.verdict {
                Verdict::Missed => !self.caught(&r.case),
                verdict => !verdict.is_expected(),
            })
            .collect()
    }

    fn caught(&self, case: &str) -> bool {
        self.rows
            .iter()
            .any(|r| r.case == case && r.verdict == Verdict::Caught)
    }

    /// Every explorer that caught each mutant case, in table order.
    pub fn caught_by(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for row in self.rows.iter().filter(|r| r.verdict == Verdict::Caught) {
            match out.iter_mut().find(|(case, _)| *case == row.case) {
                Some((_, explorers)) => explorers.push(row.explorer.clone()),
                None => out.push((row.case.clone(), vec![row.explorer.clone()])),
            }
        }
        out
    }

    /// A failure report for the unexpected rows: message, trace and replay command.
    pub fn explain_unexpected(&self) -> String {
        let mut out = String::new();
        for row in self.unexpected() {
            out.push_str(&format!(
                "\n=== {} under {}: {}\n",
                row.case, row.explorer, row.verdict
            ));
            if let Some(failure) = &row.failure {
                out.push_str(&failure.message);
                out.push('\n');
            }
            if let Some(cmd) = row.replay_command() {
                out.push_str(&format!("replay: {cmd}\n"));
            }
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<50} {:<20} {:>12} {:>10}  verdict",
            "model", "explorer", "executions", "time"
        )?;
        for row in &self.rows {
            writeln!(
                f,
                "{:<50} {:<20} {:>12} {:>9.2}s  {}",
                row.case,
                row.explorer,
                row.executions,
                row.elapsed.as_secs_f64(),
                row.verdict
            )?;
        }
        for (case, explorers) in self.caught_by() {
            writeln!(f, "mutant {case:<46} caught by {}", explorers.join(", "))?;
        }
        let total: Duration = self.rows.iter().map(|r| r.elapsed).sum();
        writeln!(
            f,
            "{} rows, {} unexpected, {:.1}s explored (for a caught mutant, executions = executions to the first failure)",
            self.rows.len(),
            self.unexpected().len(),
            total.as_secs_f64()
        )?;
        if cfg!(feature = "shuttle") {
            writeln!(
                f,
                "shuttle seed {} (set KEYRACE_SHUTTLE_SEED to explore other schedules)",
                crate::explore::shuttle_seed()
            )?;
        }
        Ok(())
    }
}

#[cfg(all(test, not(any(loom, feature = "shuttle"))))]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalogue::{Body, CatalogueRow};
    use crate::models::VIOLATION_PREFIX;

    fn case(variant: &'static str, body: impl Fn() + Send + Sync + 'static) -> Case {
        Case {
            row: CatalogueRow::PutRace,
            variant,
            actors: 2,
            body: Body::Model(Arc::new(body)),
            invariants: &["something"],
        }
    }

    fn verdict(case: &Case) -> Verdict {
        run_case(case, Backend::Stress { iterations: 2 }).verdict
    }

    #[test]
    fn verdicts_distinguish_violations_from_other_panics() {
        let violating = || panic!("{VIOLATION_PREFIX}something");
        assert_eq!(verdict(&case("reference", || {})), Verdict::Pass);
        assert_eq!(
            verdict(&case("reference", violating)),
            Verdict::ReferenceFailed
        );
        assert_eq!(verdict(&case("some-mutant", violating)), Verdict::Caught);
        assert_eq!(verdict(&case("some-mutant", || {})), Verdict::NotReached);
        assert_eq!(
            verdict(&case("some-mutant", || panic!("boom"))),
            Verdict::Error
        );
        let broken_setup = || {
            panic!(
                "{VIOLATION_PREFIX}{}\nobserved: no disk",
                crate::models::SETUP
            )
        };
        assert_eq!(verdict(&case("some-mutant", broken_setup)), Verdict::Error);
        assert_eq!(verdict(&case("reference", broken_setup)), Verdict::Error);
    }

    #[test]
    fn a_mutant_missed_by_every_explorer_fails_the_report() {
        let row = |explorer: &str, verdict| Row {
            case: "c".into(),
            explorer: explorer.into(),
            executions: 1,
            elapsed: Duration::ZERO,
            verdict,
            failure: None,
        };
        let caught_once = Report {
            rows: vec![row("a", Verdict::Missed), row("b", Verdict::Caught)],
        };
        assert!(caught_once.unexpected().is_empty());
        let never = Report {
            rows: vec![row("a", Verdict::Missed), row("b", Verdict::Missed)],
        };
        assert_eq!(never.unexpected().len(), 2);
    }
}

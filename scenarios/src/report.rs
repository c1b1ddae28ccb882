//! One [`Report`] value per run, rendered three ways from the same data so they never disagree:
//! a human table, JSON, and JUnit XML.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::actor::FaultKind;
use crate::config::{RunMode, Shard};
use crate::coverage::{Coverage, Form};
use crate::finding::Finding;
/// The invariant a broken-invariant entry names: its sentence, compared with `==` to a `&str`.
pub use crate::finding::Invariant;

/// Exit codes of `keyrace check` (documented in `docs/protocol.md` and `--help`).
pub const EXIT_PASS: i32 = 0;
pub const EXIT_VIOLATION: i32 = 1;
pub const EXIT_FAULT: i32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
    /// The adapter broke the protocol, crashed or hung: the scenario could not be judged.
    Fault,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
            Status::Fault => "ADAPTER FAULT",
        }
    }
}

/// One round that broke an invariant: what happened, in order, and how to replay it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub round: u32,
    /// The requests, replies and runner actions involved, one line each, in the order they
    /// happened.
    pub replies: Vec<String>,
    /// Checks of the round that were not made because it stopped at this violation.
    pub not_reached: Vec<String>,
    pub repro: String,
}

/// One invariant a scenario broke: in how many rounds, and the first traces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenInvariant {
    pub invariant: Invariant,
    /// Rounds that broke it.
    pub rounds: u32,
    /// The first [`TRACES_KEPT`] of them in full.
    pub traces: Vec<Violation>,
}

/// Traces kept per broken invariant (all of them go to JSON and JUnit).
pub const TRACES_KEPT: usize = 10;

/// Traces printed per broken invariant in the text report.
const TRACES_PRINTED: usize = 2;

/// The adapter failed (exited, garbage, wrong id, no answer) during a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The round it happened in; `None` when the adapter failed before any round (its start).
    pub round: Option<u32>,
    pub kind: FaultKind,
    pub message: String,
    pub stderr_tail: String,
    pub repro: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub id: String,
    pub status: Status,
    pub rounds: u32,
    /// Rounds that broke at least one invariant.
    pub violating_rounds: u32,
    /// Every distinct invariant broken, in the order first seen.
    pub violations: Vec<BrokenInvariant>,
    pub skipped_reason: Option<String>,
    pub fault: Option<Fault>,
    pub seconds: f64,
    pub rounds_per_second: f64,
    /// How it ran (`None`: it did not run).
    pub form: Option<Form>,
    /// Racing actors it started.
    pub actors: usize,
    /// What the budget bought: schedules and their bound, crash states and whether their
    /// enumeration was exhaustive, or the odds of missing a race by chance.
    pub coverage: Option<Coverage>,
    /// What the run allowed that a reader should know (a WAL index's shared memory).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The part of the scenario's schedules it ran, in a sharded run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<Part>,
}

/// A part of a controlled scenario's schedules: those that run the `index`-th (from 0) of
/// the `of` racing actors able to run at the first decision where more than one can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub index: usize,
    pub of: usize,
    /// No schedule of the scenario runs that actor there.
    pub empty: bool,
}

impl Part {
    /// `part 1 of 2`: counted from 1, as shards are.
    pub fn label(&self) -> String {
        format!("part {} of {}", self.index + 1, self.of)
    }
}

impl ScenarioReport {
    /// What a scenario's row cannot hold: its coverage and notes, why it was skipped or cut
    /// short, each broken invariant with its first traces, and an adapter fault.
    fn details_text(&self) -> String {
        let mut out = String::new();
        if let Some(coverage) = &self.coverage {
            let _ = writeln!(
                out,
                "\n{} covered: {}",
                self.id,
                printable(&coverage.to_string())
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "\n{} note: {}", self.id, printable(note));
        }
        if let Some(reason) = self
            .skipped_reason
            .as_deref()
            .filter(|reason| self.status != Status::Skipped || !is_grouped_skip(reason))
        {
            // A scenario that ran and was cut short by a signal is not a skip.
            let (label, reason) = match reason.strip_prefix(NOT_RUN) {
                Some(why) => ("not run", why),
                None if self.status != Status::Skipped && reason.starts_with(INTERRUPTED_BY) => {
                    ("cut short", reason)
                }
                None => ("skipped", reason),
            };
            let _ = writeln!(out, "\n{} {label}: {}", self.id, printable(reason));
        }
        for broken in &self.violations {
            let _ = writeln!(
                out,
                "\n{}: VIOLATION in {} of {} rounds: {}",
                self.id,
                broken.rounds,
                self.rounds,
                printable(broken.invariant.as_str())
            );
            for v in broken.traces.iter().take(TRACES_PRINTED) {
                let _ = writeln!(out, "  {} round {}:", self.id, v.round);
                for line in &v.replies {
                    let _ = writeln!(out, "    {}", printable(line));
                }
                for check in &v.not_reached {
                    let _ = writeln!(
                        out,
                        "    (round stopped here; not checked: {})",
                        printable(check)
                    );
                }
                let _ = writeln!(out, "  re-run: {}", printable(&v.repro));
            }
            let shown: std::collections::BTreeSet<u32> = broken
                .traces
                .iter()
                .take(TRACES_PRINTED)
                .map(|v| v.round)
                .collect();
            let unshown = (broken.rounds as usize).saturating_sub(shown.len());
            if unshown > 0 {
                let _ = writeln!(
                    out,
                    "  ({unshown} more rounds broke it; --json keeps up to {TRACES_KEPT} traces per invariant)"
                );
            }
        }
        if let Some(f) = &self.fault {
            let when = match f.round {
                Some(round) => format!("round {round}"),
                None => "before its first round".to_owned(),
            };
            let _ = writeln!(
                out,
                "\n{} {when}: ADAPTER FAULT: {}",
                self.id,
                printable(&f.message)
            );
            if f.stderr_tail.is_empty() {
                let _ = writeln!(out, "  (the adapter wrote nothing to stderr)");
            } else {
                let _ = writeln!(out, "  adapter stderr (last lines):");
                for line in f.stderr_tail.split('\n') {
                    let _ = writeln!(out, "    | {}", printable(line));
                }
            }
            let _ = writeln!(out, "  re-run: {}", printable(&f.repro));
        }
        out
    }

    /// A report of a scenario that has not run yet.
    pub fn new(id: &str) -> ScenarioReport {
        ScenarioReport {
            id: id.to_owned(),
            status: Status::Passed,
            rounds: 0,
            violating_rounds: 0,
            violations: Vec::new(),
            skipped_reason: None,
            fault: None,
            seconds: 0.0,
            rounds_per_second: 0.0,
            form: None,
            actors: 0,
            coverage: None,
            notes: Vec::new(),
            part: None,
        }
    }

    /// Add the violations of one round, grouped by invariant.
    pub fn record(
        &mut self,
        round: u32,
        violations: Vec<Finding>,
        not_reached: &[String],
        repro: &str,
    ) {
        if violations.is_empty() {
            return;
        }
        self.violating_rounds += 1;
        let mut seen_this_round: Vec<Invariant> = Vec::new();
        for Finding {
            invariant,
            evidence: replies,
        } in violations
        {
            let index = match self
                .violations
                .iter()
                .position(|b| b.invariant == invariant)
            {
                Some(index) => index,
                None => {
                    self.violations.push(BrokenInvariant {
                        invariant: invariant.clone(),
                        rounds: 0,
                        traces: Vec::new(),
                    });
                    self.violations.len() - 1
                }
            };
            let broken = &mut self.violations[index];
            if !seen_this_round.contains(&invariant) {
                broken.rounds += 1;
                seen_this_round.push(invariant);
            }
            if broken.traces.len() < TRACES_KEPT {
                broken.traces.push(Violation {
                    round,
                    replies,
                    not_reached: not_reached.to_vec(),
                    repro: repro.to_owned(),
                });
            }
        }
    }

    /// The status its findings give it: a violation is the headline, whatever else happened.
    pub fn settle(&mut self) {
        self.status = if self.violating_rounds > 0 {
            Status::Failed
        } else if self.fault.is_some() {
            Status::Fault
        } else if self.skipped_reason.is_some() {
            Status::Skipped
        } else {
            Status::Passed
        };
    }
}

/// A signal that cut a run short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interrupted {
    /// `SIGTERM`
    pub signal: String,
    /// 128 + n, unless an invariant broke (then 1).
    pub exit_code: i32,
    /// "every adapter process was killed and reaped; the scratch directory was removed", or
    /// what was left behind.
    pub cleanup: String,
}

/// A full-mode run that could not trace: what it did instead (read back by `keyrace merge`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weaker {
    /// Why tracing is unavailable.
    pub cause: String,
    /// The setting, capability or flag that makes it available.
    pub fix: String,
    /// Racing scenarios that ran by chance instead of as controlled interleavings.
    pub by_chance: Vec<String>,
    /// Crash-state scenarios that did not run.
    pub not_run: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The runner's version.
    pub version: String,
    pub protocol: String,
    pub adapter: Vec<String>,
    pub adapter_name: Option<String>,
    pub seed: u64,
    pub mode: RunMode,
    /// `default`, `rounds N` or `time Ss`.
    pub budget: String,
    /// How controlled races were explored, as `Strategy::describe` puts it.
    pub strategy: String,
    /// The part of the whole run this report is (`--shard K/N`); `keyrace merge` joins them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// In a sharded run, the parts of the whole run (every shard's report says the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<usize>,
    /// The shards `keyrace merge` joined into this report (`None`: one run's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
    /// Set when a full-mode run could not trace: it was weaker than full.
    pub weaker: Option<Weaker>,
    /// `--require-systematic`: a weaker run is not a pass.
    pub require_systematic: bool,
    pub scenarios: Vec<ScenarioReport>,
    pub seconds: f64,
    pub exit_code: i32,
    /// The signal that cut the run short (`SIGTERM`), when one did: the scenarios are those
    /// that ran until then, the last one partly.
    pub interrupted: Option<Interrupted>,
    /// Things the run could not do for itself (a scratch directory it could not remove,
    /// processes it could not reap).
    pub warnings: Vec<String>,
}

/// The verdict when every scenario was skipped.
pub const NOTHING_CHECKED: &str = "nothing was checked: every scenario was skipped (reasons above); the adapter must implement the ops these scenarios need";

impl Report {
    /// Every scenario that ran passed, and something was checked (exit code 0).
    pub fn passed(&self) -> bool {
        self.exit_code == EXIT_PASS
    }

    /// Passed, and no scenario was skipped: for a test where a skip is not a pass.
    pub fn passed_without_skips(&self) -> bool {
        self.passed() && self.scenarios.iter().all(|s| s.status == Status::Passed)
    }

    /// 1 if any invariant broke (faults are listed beside it), else 128 + n if signal n
    /// interrupted the run, else 2 if the adapter failed anywhere, nothing was checked at
    /// all, or a run required to be systematic was weaker; else 0.
    pub fn compute_exit_code(&self) -> i32 {
        let scenarios = &self.scenarios;
        if scenarios.iter().any(|s| s.violating_rounds > 0) {
            EXIT_VIOLATION
        } else if let Some(interrupted) = &self.interrupted {
            interrupted.exit_code
        } else if scenarios.iter().any(|s| s.fault.is_some())
            || (!scenarios.is_empty() && scenarios.iter().all(|s| s.status == Status::Skipped))
            || (self.require_systematic && self.weaker.is_some())
        {
            EXIT_FAULT
        } else {
            EXIT_PASS
        }
    }

    /// The human form: a table, then every broken invariant and fault in detail. Everything
    /// an adapter wrote is shown escaped, so it can neither draw on the terminal nor start a
    /// line that looks like the runner's.
    pub fn to_text(&self) -> String {
        let mut out = self.table_text();
        out.push_str(&self.skips_text());
        for s in &self.scenarios {
            out.push_str(&s.details_text());
        }
        out.push_str(&self.verdict_text());
        out
    }

    /// The run's first line and one row per scenario.
    fn table_text(&self) -> String {
        let mut out = String::new();
        let name = self
            .adapter_name
            .as_deref()
            .map_or_else(|| "(no hello)".to_owned(), printable);
        let _ = writeln!(
            out,
            "keyrace check ({} mode): seed {}, adapter {name}{}",
            self.mode.as_str(),
            self.seed,
            match (self.shard, self.shards) {
                (Some(shard), _) => {
                    format!(", shard {shard} (join the shards' JSON with keyrace merge)")
                }
                (None, Some(shards)) => format!(", {shards} shards merged"),
                (None, None) => String::new(),
            }
        );
        let _ = writeln!(
            out,
            "{:<30} {:<14} {:<12} {:>6} {:>7} {:>10} {:>9}",
            "scenario", "result", "form", "actors", "rounds", "violations", "rounds/s"
        );
        for s in &self.scenarios {
            let id = match s.part {
                Some(part) => format!("{} [{}]", s.id, part.label()),
                None => s.id.clone(),
            };
            let _ = writeln!(
                out,
                "{:<30} {:<14} {:<12} {:>6} {:>7} {:>10} {:>9}",
                id,
                s.status.as_str(),
                s.form.map_or("-", Form::as_str),
                if s.form.is_some() {
                    s.actors.to_string()
                } else {
                    "-".to_owned()
                },
                s.rounds,
                s.violating_rounds,
                rate(s.rounds_per_second)
            );
        }
        out
    }

    /// Warnings, the verdict with the exit code, an interruption, and a weaker mode's notice.
    fn verdict_text(&self) -> String {
        let mut out = String::new();
        for warning in &self.warnings {
            let _ = writeln!(out, "\nwarning: {}", printable(warning));
        }
        let faults = self.scenarios.iter().filter(|s| s.fault.is_some()).count();
        let verdict = match self.exit_code {
            EXIT_PASS => "all scenarios passed".to_owned(),
            EXIT_VIOLATION if faults > 0 => format!(
                "invariants were violated (and the adapter failed in {faults} scenario(s), see above)"
            ),
            EXIT_VIOLATION => "invariants were violated".to_owned(),
            _ if faults > 0 => "the adapter failed; fix it and re-run".to_owned(),
            _ if self.interrupted.is_some() => {
                "interrupted: nothing that ran broke an invariant".to_owned()
            }
            _ => NOTHING_CHECKED.to_owned(),
        };
        if let Some(interrupted) = &self.interrupted {
            let _ = writeln!(
                out,
                "\nINTERRUPTED by {}: the report shows what ran until then ({} only in \
                 part); {}",
                interrupted.signal,
                match self.shards {
                    Some(_) => "each shard's last scenario",
                    None => "the last scenario",
                },
                printable(&interrupted.cleanup)
            );
        }
        let _ = writeln!(
            out,
            "\n{verdict} ({:.1} s, exit {})",
            self.seconds, self.exit_code
        );
        if let Some(weaker) = &self.weaker {
            out.push_str(&weaker_text(weaker, self.require_systematic));
        }
        out
    }

    /// Scenarios skipped because the adapter lacks an op they need: one line per missing
    /// set of ops, not one per scenario.
    fn skips_text(&self) -> String {
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for s in &self.scenarios {
            let Some(reason) = s.skipped_reason.as_deref() else {
                continue;
            };
            if s.status != Status::Skipped || !is_grouped_skip(reason) {
                continue;
            }
            match groups.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, ids)) => ids.push(&s.id),
                None => groups.push((reason, vec![&s.id])),
            }
        }
        let mut out = String::new();
        for (reason, ids) in groups {
            let _ = writeln!(out, "\nskipped, {}: {}", printable(reason), ids.join(", "));
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| unreachable!("plain data"))
    }

    /// JUnit XML: one test case per scenario; violations are failures, adapter faults errors.
    pub fn to_junit(&self) -> String {
        let count = |status| self.scenarios.iter().filter(|s| s.status == status).count();
        let mut out = junit_head(
            [
                self.scenarios.len(),
                count(Status::Failed),
                count(Status::Fault),
                count(Status::Skipped),
            ],
            self.seconds,
        );
        let adapter = xml_escape(self.adapter_name.as_deref().unwrap_or("adapter"));
        let mode = self.mode.as_str();
        // Shards of one run are distinct suites, and each race's part a distinct case.
        let shard = self
            .shard
            .map(|shard| format!(" --shard {shard}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  <testsuite name=\"keyrace check --mode {mode}{shard}: {adapter}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            self.scenarios.len(),
            count(Status::Failed),
            count(Status::Fault),
            count(Status::Skipped),
            self.seconds
        );
        let _ = writeln!(
            out,
            "    <properties><property name=\"seed\" value=\"{}\"/><property name=\"mode\" value=\"{mode}\"/><property name=\"version\" value=\"{}\"/><property name=\"weaker\" value=\"{}\"/></properties>",
            self.seed,
            self.version,
            self.weaker.is_some()
        );
        for s in &self.scenarios {
            let _ = write!(
                out,
                "    <testcase classname=\"keyrace.{mode}.{}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(&junit_class(self.adapter_name.as_deref())),
                xml_escape(&match s.part {
                    Some(part) => format!("{} [{}]", s.id, part.label()),
                    None => s.id.clone(),
                }),
                s.seconds
            );
            if s.status == Status::Passed {
                let _ = writeln!(out, "/>");
                continue;
            }
            let _ = writeln!(out, ">");
            if let Some(reason) = s
                .skipped_reason
                .as_deref()
                .filter(|_| s.status == Status::Skipped)
            {
                let _ = writeln!(out, "      <skipped message=\"{}\"/>", xml_escape(reason));
            }
            if s.status == Status::Failed {
                let message = s
                    .violations
                    .iter()
                    .map(|b| format!("{} ({} rounds)", b.invariant, b.rounds))
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut body = String::new();
                for broken in &s.violations {
                    let _ = writeln!(
                        body,
                        "{} ({} of {} rounds)",
                        broken.invariant, broken.rounds, s.rounds
                    );
                    for v in &broken.traces {
                        let _ = writeln!(body, "  round {}:", v.round);
                        for line in &v.replies {
                            let _ = writeln!(body, "    {line}");
                        }
                        for check in &v.not_reached {
                            let _ = writeln!(body, "    (not checked: {check})");
                        }
                        let _ = writeln!(body, "  re-run: {}", v.repro);
                    }
                }
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\" type=\"violation\">{}</failure>",
                    xml_escape(&message),
                    xml_escape(&body)
                );
            }
            if let Some(f) = &s.fault {
                let body = format!(
                    "{}\nstderr:\n{}\nre-run: {}",
                    f.message, f.stderr_tail, f.repro
                );
                let _ = writeln!(
                    out,
                    "      <error message=\"{}\" type=\"adapter-fault\">{}</error>",
                    xml_escape(&f.message),
                    xml_escape(&body)
                );
            }
            let _ = writeln!(out, "    </testcase>");
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

/// Write a report file whole or not at all (a partial file beside it, renamed over it): a
/// reader never sees half of one, as `keyrace merge` would of a worker killed while writing.
/// A name that is not a regular file (`/dev/stdout`, a FIFO, a symlink the user points
/// somewhere) is written through, as it is.
pub(crate) fn write_whole(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let regular_or_new = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta.file_type().is_file(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    if !regular_or_new {
        return std::fs::write(path, text);
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })
}

/// A JUnit class name part for the adapter: letters, digits and dashes.
fn junit_class(name: Option<&str>) -> String {
    name.unwrap_or("adapter")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The prefix of a scenario's skip reason when it never started (an interrupt or a hung
/// adapter before it): shown as `<id> not run: <why>`.
pub const NOT_RUN: &str = "not run: ";

/// The start of the reason of a scenario a signal cut short.
pub const INTERRUPTED_BY: &str = "interrupted by ";

/// The prefix of a skip that says the adapter does not take part (an op it lacks).
pub const LACKS_OP: &str = "the adapter does not implement ";

fn is_grouped_skip(reason: &str) -> bool {
    reason.starts_with(LACKS_OP)
}

/// The closing lines of a full-mode run that could not trace: impossible to miss.
pub fn weaker_text(weaker: &Weaker, required: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n!! WEAKER THAN FULL: tracing is unavailable here, so this run was not the full check."
    );
    let _ = writeln!(out, "!!   cause: {}", printable(&weaker.cause));
    if !weaker.by_chance.is_empty() {
        let _ = writeln!(
            out,
            "!!   ran by chance instead of as controlled interleavings: {}",
            weaker.by_chance.join(", ")
        );
    }
    if !weaker.not_run.is_empty() {
        let _ = writeln!(
            out,
            "!!   crash-state scenarios NOT RUN: {}",
            weaker.not_run.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "!!   to run the full check: {}",
        printable(&weaker.fix)
    );
    if required {
        let _ = writeln!(out, "!!   --require-systematic: exit 2");
    } else {
        let _ = writeln!(
            out,
            "!!   pass --require-systematic to make a weaker run fail (exit 2), as CI should"
        );
    }
    out
}

/// Rounds per second as the table shows them: one decimal, or three below 0.1 (a store whose
/// rounds take minutes, a SQLite store's crash states, must not read as "0.0": no progress).
fn rate(per_second: f64) -> String {
    if per_second > 0.0 && per_second < 0.1 {
        format!("{per_second:.3}")
    } else {
        format!("{per_second:.1}")
    }
}

/// `text` made safe for a terminal: control characters (escape sequences, carriage returns,
/// newlines), bidirectional overrides and line separators are shown escaped (`\u{1b}`, `\n`),
/// everything else as it is.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let unsafe_char = c.is_control()
            || matches!(c, '\u{200E}' | '\u{200F}' | '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        if unsafe_char {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Escape text for XML attributes and content (the JUnit report), the same as the history
/// timeline's HTML: characters XML 1.0 cannot carry become U+FFFD.
pub use keyrace_history::timeline::escape as xml_escape;

/// The XML declaration and `<testsuites>` opening of a JUnit document: `counts` are tests,
/// failures, errors and skipped.
fn junit_head(counts: [usize; 4], seconds: f64) -> String {
    let [tests, failures, errors, skipped] = counts;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"keyrace\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{seconds:.3}\">\n"
    )
}

/// JUnit documents written by [`Report::to_junit`] (one per worker of a run) as one: their
/// suites under one `<testsuites>` whose counts add up theirs, and whose time is the longest
/// one's (the workers ran at once).
pub fn join_junit<S: AsRef<str>>(documents: &[S]) -> String {
    let mut suites = String::new();
    let mut counts = [0usize; 4];
    let mut seconds = 0f64;
    for document in documents {
        let mut inside = false;
        for line in document.as_ref().lines() {
            if let Some(head) = line.strip_prefix("<testsuites ") {
                for (count, name) in counts
                    .iter_mut()
                    .zip(["tests", "failures", "errors", "skipped"])
                {
                    *count += attribute(head, name)
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                }
                let time = attribute(head, "time").and_then(|v| v.parse::<f64>().ok());
                seconds = seconds.max(time.unwrap_or(0.0));
                inside = true;
            } else if line.starts_with("</testsuites>") {
                inside = false;
            } else if inside {
                suites.push_str(line);
                suites.push('\n');
            }
        }
    }
    let mut out = junit_head(counts, seconds);
    out.push_str(&suites);
    out.push_str("</testsuites>\n");
    out
}

/// The value of `name="…"` among an element's attributes, as [`junit_head`] writes them.
fn attribute<'a>(attributes: &'a str, name: &str) -> Option<&'a str> {
    let start = attributes.find(&format!(" {name}=\""))? + name.len() + 3;
    let rest = &attributes[start..];
    rest.find('"').map(|end| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_scenarios_rate_is_not_shown_as_zero() {
        assert_eq!(rate(3.0 / 221.0), "0.014");
        assert_eq!(rate(0.0), "0.0");
        assert_eq!(rate(41.63), "41.6");
    }

    fn scenario(id: &str, status: Status) -> ScenarioReport {
        let mut s = ScenarioReport::new(id);
        s.rounds = 3;
        if status == Status::Failed {
            s.record(
                1,
                vec![Finding::new(
                    "exactly one <winner> & \"more\"",
                    vec!["actor 0: consume → won true".to_owned()],
                )],
                &[],
                "keyrace check --scenario x --seed 1",
            );
        }
        s.skipped_reason = (status == Status::Skipped).then(|| "no consume".to_owned());
        s.fault = (status == Status::Fault).then(|| Fault {
            round: Some(0),
            kind: FaultKind::Exited,
            message: "exited".to_owned(),
            stderr_tail: "boom\u{1}".to_owned(),
            repro: "keyrace check".to_owned(),
        });
        s.settle();
        s
    }

    fn report(scenarios: Vec<ScenarioReport>) -> Report {
        let mut report = Report {
            version: "0".to_owned(),
            protocol: crate::protocol::PROTOCOL.to_owned(),
            adapter: vec!["a".into()],
            adapter_name: Some("x".into()),
            seed: 1,
            mode: RunMode::Full,
            budget: "default".into(),
            strategy: "dfs".into(),
            shard: None,
            parts: None,
            shards: None,
            weaker: None,
            require_systematic: false,
            exit_code: 0,
            scenarios,
            seconds: 1.0,
            interrupted: None,
            warnings: Vec::new(),
        };
        report.exit_code = report.compute_exit_code();
        report
    }

    fn of(statuses: &[Status]) -> Report {
        report(
            statuses
                .iter()
                .enumerate()
                .map(|(i, &s)| scenario(&format!("s{i}"), s))
                .collect(),
        )
    }

    #[test]
    fn a_violation_is_the_headline_then_a_fault_then_nothing_checked() {
        assert_eq!(of(&[Status::Passed, Status::Skipped]).exit_code, EXIT_PASS);
        assert_eq!(
            of(&[Status::Passed, Status::Failed]).exit_code,
            EXIT_VIOLATION
        );
        assert_eq!(
            of(&[Status::Failed, Status::Fault]).exit_code,
            EXIT_VIOLATION
        );
        assert_eq!(of(&[Status::Passed, Status::Fault]).exit_code, EXIT_FAULT);
        let skipped = of(&[Status::Skipped, Status::Skipped]);
        assert_eq!(skipped.exit_code, EXIT_FAULT);
        assert!(skipped.to_text().contains(NOTHING_CHECKED));

        // A scenario that broke an invariant and then faulted is failed, with the fault beside.
        let mut both = scenario("both", Status::Failed);
        both.fault = scenario("f", Status::Fault).fault;
        both.settle();
        assert_eq!(both.status, Status::Failed);
        let text = report(vec![both]).to_text();
        assert!(text.contains("ADAPTER FAULT"), "{text}");
        assert!(
            text.contains("invariants were violated (and the adapter failed in 1 scenario(s)"),
            "{text}"
        );
    }

    #[test]
    fn violations_are_grouped_by_invariant_with_their_own_counts() {
        let mut s = ScenarioReport::new("keygen-race");
        for round in 0..30 {
            let mut violations = vec![Finding::new("lost update", vec![format!("r{round}")])];
            if round % 10 == 3 {
                violations.push(Finding::new("same key", vec![format!("k{round}")]));
            }
            // Two traces of one invariant in one round count one round.
            violations.push(Finding::new("lost update", vec![format!("r{round}b")]));
            s.record(round, violations, &["later check".to_owned()], "re-run");
        }
        s.rounds = 30;
        s.settle();
        assert_eq!(s.violating_rounds, 30);
        let counts: Vec<(&str, u32)> = s
            .violations
            .iter()
            .map(|b| (b.invariant.as_str(), b.rounds))
            .collect();
        assert_eq!(counts, [("lost update", 30), ("same key", 3)]);
        assert_eq!(s.violations[0].traces.len(), TRACES_KEPT);
        assert_eq!(s.violations[1].traces[0].replies, ["k3"]);
        let text = report(vec![s]).to_text();
        assert!(
            text.contains("VIOLATION in 3 of 30 rounds: same key"),
            "{text}"
        );
        assert!(text.contains("not checked: later check"), "{text}");
        assert!(text.contains("29 more rounds broke it"), "{text}");
    }

    /// `keyrace merge` reads shards' JSON back into reports and renders them with `to_text`.
    #[test]
    fn the_json_report_reads_back_as_the_same_report() {
        let mut r = of(&[
            Status::Passed,
            Status::Failed,
            Status::Skipped,
            Status::Fault,
        ]);
        r.scenarios[0].form = Some(Form::Controlled);
        r.scenarios[0].coverage = Some(Coverage::Dfs {
            schedules: 80,
            preemptions: 2,
            reduction: true,
            bound_exhausted: true,
            exact: true,
            longest: 37,
            exhausted_within: Some(2),
            recalled: 20,
        });
        r.scenarios[0].notes = vec!["a note".to_owned()];
        r.scenarios[0].part = Some(Part {
            index: 1,
            of: 2,
            empty: false,
        });
        r.scenarios[1].form = Some(Form::CrashStates);
        r.scenarios[1].coverage = Some(Coverage::CrashStates {
            recordings: 2,
            states: 8,
            states_violating: 1,
            profiles: vec!["portable".to_owned()],
            enumeration_exhaustive: false,
            cut_short: vec!["budget".to_owned()],
        });
        r.scenarios[2].coverage = Some(Coverage::Chance {
            rounds: 3,
            actors: 4,
        });
        r.scenarios[3].coverage = Some(Coverage::Pct {
            schedules: 3,
            depth: 2,
            actors: 2,
            longest: 40,
            bound: 1.0 / 80.0,
        });
        if let Some(fault) = r.scenarios[3].fault.as_mut() {
            fault.round = None;
        }
        let mut replayed = scenario("replayed", Status::Passed);
        replayed.coverage = Some(Coverage::Replay {
            schedule: "0.1.1".to_owned(),
        });
        r.scenarios.push(replayed);
        r.shard = Some(Shard { index: 2, count: 3 });
        r.parts = Some(7);
        r.shards = Some(3);
        r.weaker = Some(Weaker {
            cause: "ptrace refused".to_owned(),
            fix: "allow ptrace".to_owned(),
            by_chance: vec!["keygen-race".to_owned()],
            not_run: vec!["crash-consume".to_owned()],
        });
        r.interrupted = Some(Interrupted {
            signal: "SIGTERM".to_owned(),
            exit_code: 143,
            cleanup: "done".to_owned(),
        });
        r.warnings = vec!["a warning".to_owned()];
        let back: Report = serde_json::from_str(&r.to_json()).expect("reads back");
        assert_eq!(back, r);
    }

    #[test]
    fn renderings_agree_and_escape() {
        let r = of(&[
            Status::Passed,
            Status::Failed,
            Status::Skipped,
            Status::Fault,
        ]);
        let text = r.to_text();
        assert!(text.contains("VIOLATION in 1 of 3 rounds: exactly one <winner>"));
        assert!(text.contains("re-run: keyrace check --scenario x --seed 1"));
        assert!(text.contains("| boom\\u{1}"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
        assert_eq!(json["scenarios"][1]["status"], "failed");
        assert_eq!(json["scenarios"][1]["violations"][0]["rounds"], 1);
        assert_eq!(json["exit_code"], EXIT_VIOLATION);
        let xml = r.to_junit();
        assert!(xml.contains("tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\""));
        assert!(xml.contains("exactly one &lt;winner&gt; &amp; &quot;more&quot;"));
        assert!(!xml.contains('\u{1}'));
    }

    #[test]
    fn a_report_file_is_written_whole_and_a_link_is_written_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (file, target, link) = (
            dir.path().join("r.json"),
            dir.path().join("target.json"),
            dir.path().join("link.json"),
        );
        write_whole(&file, "one").expect("new");
        write_whole(&file, "two").expect("over");
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "two");
        std::fs::write(&target, "old").expect("write");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        write_whole(&link, "three").expect("through the link");
        assert!(std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "three");
        // Nothing partial left; a directory it cannot write into leaves nothing either.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".partial")), "{names:?}");
        assert!(write_whole(&dir.path().join("missing/r.json"), "x").is_err());
    }

    #[test]
    fn joined_junit_adds_up_the_documents_and_keeps_every_suite() {
        let mut first = of(&[Status::Passed, Status::Failed]);
        first.seconds = 2.5;
        let mut second = of(&[Status::Skipped, Status::Fault, Status::Passed]);
        second.seconds = 4.0;
        let joined = join_junit(&[first.to_junit(), second.to_junit()]);
        assert!(
            joined.contains(
                "<testsuites name=\"keyrace\" tests=\"5\" failures=\"1\" errors=\"1\" skipped=\"1\" time=\"4.000\">"
            ),
            "{joined}"
        );
        assert_eq!(joined.matches("<testsuite ").count(), 2, "{joined}");
        assert_eq!(joined.matches("<testcase ").count(), 5, "{joined}");
        assert_eq!(joined.matches("<?xml").count(), 1, "{joined}");
        assert!(joined.trim_end().ends_with("</testsuites>"), "{joined}");
    }

    #[test]
    fn adapter_text_cannot_forge_lines_or_draw_on_the_terminal() {
        let forged = "x\nall scenarios passed (0.1 s, exit 0)\r\u{1b}[2J\u{202e}";
        let shown = printable(forged);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert_eq!(shown.lines().count(), 1);
        assert!(shown.contains("\\n") && shown.contains("\\u{1b}") && shown.contains("\\u{202e}"));
        assert_eq!(printable("plain ünïcode"), "plain ünïcode");

        let mut s = scenario("s", Status::Fault);
        if let Some(f) = s.fault.as_mut() {
            f.message = forged.to_owned();
            f.stderr_tail = format!("line one\n{forged}");
        }
        let mut r = report(vec![s]);
        r.adapter_name = Some(forged.to_owned());
        let text = r.to_text();
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert!(
            !text
                .lines()
                .any(|line| line.starts_with("all scenarios passed")),
            "{text}"
        );
    }
}

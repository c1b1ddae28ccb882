//! One [`Report`] value per run, rendered three ways from the same data so they never disagree:
//! a human table, JSON, and JUnit XML.

use std::fmt::Write as _;

use serde::Serialize;

/// Exit codes of `keyrace check` (documented in `docs/protocol.md` and `--help`).
pub const EXIT_PASS: i32 = 0;
pub const EXIT_VIOLATION: i32 = 1;
pub const EXIT_FAULT: i32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// One broken invariant, with what the adapter answered and how to replay it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub round: u32,
    pub invariant: String,
    /// The requests and replies involved, one line each.
    pub replies: Vec<String>,
    pub repro: String,
}

/// The adapter failed (exited, garbage, wrong id, no answer) during a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fault {
    pub round: u32,
    pub message: String,
    pub stderr_tail: String,
    pub repro: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    pub id: String,
    pub status: Status,
    pub rounds: u32,
    /// Rounds that broke at least one invariant.
    pub violating_rounds: u32,
    /// The first few violations in full.
    pub violations: Vec<Violation>,
    pub skipped_reason: Option<String>,
    pub fault: Option<Fault>,
    pub seconds: f64,
    pub rounds_per_second: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub protocol: &'static str,
    pub adapter: Vec<String>,
    pub adapter_name: Option<String>,
    pub seed: u64,
    pub actors: usize,
    pub scenarios: Vec<ScenarioReport>,
    pub seconds: f64,
    pub exit_code: i32,
}

impl Report {
    /// 2 if the adapter failed anywhere (the run cannot be trusted), else 1 if any invariant
    /// broke, else 0.
    pub fn compute_exit_code(scenarios: &[ScenarioReport]) -> i32 {
        if scenarios.iter().any(|s| s.status == Status::Fault) {
            EXIT_FAULT
        } else if scenarios.iter().any(|s| s.status == Status::Failed) {
            EXIT_VIOLATION
        } else {
            EXIT_PASS
        }
    }

    /// The human form: a table, then every violation and fault in detail.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let name = self.adapter_name.as_deref().unwrap_or("(no hello)");
        let _ = writeln!(
            out,
            "keyrace check: {} actors, seed {}, adapter {name}",
            self.actors, self.seed
        );
        let _ = writeln!(
            out,
            "{:<30} {:<14} {:>7} {:>10} {:>9} {:>9}",
            "scenario", "result", "rounds", "violations", "skipped", "rounds/s"
        );
        for s in &self.scenarios {
            let _ = writeln!(
                out,
                "{:<30} {:<14} {:>7} {:>10} {:>9} {:>9.1}",
                s.id,
                s.status.as_str(),
                s.rounds,
                s.violating_rounds,
                if s.status == Status::Skipped {
                    "yes"
                } else {
                    "no"
                },
                s.rounds_per_second
            );
        }
        for s in &self.scenarios {
            if let Some(reason) = &s.skipped_reason {
                let _ = writeln!(out, "\n{} skipped: {reason}", s.id);
            }
            for v in &s.violations {
                let _ = writeln!(
                    out,
                    "\n{} round {}: VIOLATION: {}",
                    s.id, v.round, v.invariant
                );
                for line in &v.replies {
                    let _ = writeln!(out, "    {line}");
                }
                let _ = writeln!(out, "  re-run: {}", v.repro);
            }
            if s.violating_rounds as usize > s.violations.len() {
                let _ = writeln!(
                    out,
                    "  ({} more violating rounds not shown)",
                    s.violating_rounds as usize - s.violations.len()
                );
            }
            if let Some(f) = &s.fault {
                let _ = writeln!(
                    out,
                    "\n{} round {}: ADAPTER FAULT: {}",
                    s.id, f.round, f.message
                );
                if f.stderr_tail.is_empty() {
                    let _ = writeln!(out, "  (the adapter wrote nothing to stderr)");
                } else {
                    let _ = writeln!(out, "  adapter stderr (last lines):");
                    for line in f.stderr_tail.lines() {
                        let _ = writeln!(out, "    | {line}");
                    }
                }
                let _ = writeln!(out, "  re-run: {}", f.repro);
            }
        }
        let verdict = match self.exit_code {
            EXIT_PASS => "all scenarios passed",
            EXIT_VIOLATION => "invariants were violated",
            _ => "the adapter failed; fix it and re-run",
        };
        let _ = writeln!(
            out,
            "\n{verdict} ({:.1} s, exit {})",
            self.seconds, self.exit_code
        );
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| unreachable!("plain data"))
    }

    /// JUnit XML: one test case per scenario; violations are failures, adapter faults errors.
    pub fn to_junit(&self) -> String {
        let count = |status| self.scenarios.iter().filter(|s| s.status == status).count();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"keyrace\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            self.scenarios.len(),
            count(Status::Failed),
            count(Status::Fault),
            count(Status::Skipped),
            self.seconds
        );
        let suite = xml_escape(self.adapter_name.as_deref().unwrap_or("adapter"));
        let _ = writeln!(
            out,
            "  <testsuite name=\"keyrace check: {suite}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            self.scenarios.len(),
            count(Status::Failed),
            count(Status::Fault),
            count(Status::Skipped),
            self.seconds
        );
        let _ = writeln!(
            out,
            "    <properties><property name=\"seed\" value=\"{}\"/><property name=\"actors\" value=\"{}\"/></properties>",
            self.seed, self.actors
        );
        for s in &self.scenarios {
            let _ = write!(
                out,
                "    <testcase classname=\"keyrace\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(&s.id),
                s.seconds
            );
            match s.status {
                Status::Passed => {
                    let _ = writeln!(out, "/>");
                    continue;
                }
                _ => {
                    let _ = writeln!(out, ">");
                }
            }
            match s.status {
                Status::Skipped => {
                    let reason = s.skipped_reason.as_deref().unwrap_or("");
                    let _ = writeln!(out, "      <skipped message=\"{}\"/>", xml_escape(reason));
                }
                Status::Failed => {
                    let first = s.violations.first().map_or("", |v| v.invariant.as_str());
                    let mut body = String::new();
                    for v in &s.violations {
                        let _ = writeln!(body, "round {}: {}", v.round, v.invariant);
                        for line in &v.replies {
                            let _ = writeln!(body, "    {line}");
                        }
                        let _ = writeln!(body, "  re-run: {}", v.repro);
                    }
                    let _ = writeln!(
                        out,
                        "      <failure message=\"{}\" type=\"violation\">{}</failure>",
                        xml_escape(first),
                        xml_escape(&body)
                    );
                }
                Status::Fault => {
                    let (message, body) = s.fault.as_ref().map_or_else(
                        || (String::new(), String::new()),
                        |f| {
                            (
                                f.message.clone(),
                                format!(
                                    "{}\nstderr:\n{}\nre-run: {}",
                                    f.message, f.stderr_tail, f.repro
                                ),
                            )
                        },
                    );
                    let _ = writeln!(
                        out,
                        "      <error message=\"{}\" type=\"adapter-fault\">{}</error>",
                        xml_escape(&message),
                        xml_escape(&body)
                    );
                }
                Status::Passed => {}
            }
            let _ = writeln!(out, "    </testcase>");
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

/// Escape text for XML attributes and content; characters XML 1.0 cannot carry at all
/// (most control characters, from an adapter's stderr) become U+FFFD.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(id: &str, status: Status) -> ScenarioReport {
        ScenarioReport {
            id: id.to_owned(),
            status,
            rounds: 3,
            violating_rounds: u32::from(status == Status::Failed),
            violations: if status == Status::Failed {
                vec![Violation {
                    round: 1,
                    invariant: "exactly one <winner> & \"more\"".to_owned(),
                    replies: vec!["actor 0: consume → won true".to_owned()],
                    repro: "keyrace check --scenario x --seed 1".to_owned(),
                }]
            } else {
                Vec::new()
            },
            skipped_reason: (status == Status::Skipped).then(|| "no consume".to_owned()),
            fault: (status == Status::Fault).then(|| Fault {
                round: 0,
                message: "exited".to_owned(),
                stderr_tail: "boom\u{1}".to_owned(),
                repro: "keyrace check".to_owned(),
            }),
            seconds: 0.5,
            rounds_per_second: 6.0,
        }
    }

    fn report(statuses: &[Status]) -> Report {
        let scenarios: Vec<_> = statuses
            .iter()
            .enumerate()
            .map(|(i, &s)| scenario(&format!("s{i}"), s))
            .collect();
        Report {
            protocol: crate::protocol::PROTOCOL,
            adapter: vec!["a".into()],
            adapter_name: Some("x".into()),
            seed: 1,
            actors: 4,
            exit_code: Report::compute_exit_code(&scenarios),
            scenarios,
            seconds: 1.0,
        }
    }

    #[test]
    fn exit_code_prefers_fault_then_violation() {
        assert_eq!(
            report(&[Status::Passed, Status::Skipped]).exit_code,
            EXIT_PASS
        );
        assert_eq!(
            report(&[Status::Passed, Status::Failed]).exit_code,
            EXIT_VIOLATION
        );
        assert_eq!(
            report(&[Status::Failed, Status::Fault]).exit_code,
            EXIT_FAULT
        );
    }

    #[test]
    fn renderings_agree_and_escape() {
        let r = report(&[
            Status::Passed,
            Status::Failed,
            Status::Skipped,
            Status::Fault,
        ]);
        let text = r.to_text();
        assert!(text.contains("VIOLATION: exactly one <winner>"));
        assert!(text.contains("re-run: keyrace check --scenario x --seed 1"));
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
        assert_eq!(json["scenarios"][1]["status"], "failed");
        assert_eq!(json["exit_code"], 2);
        let xml = r.to_junit();
        assert!(xml.contains("tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\""));
        assert!(xml.contains("exactly one &lt;winner&gt; &amp; &quot;more&quot;"));
        assert!(!xml.contains('\u{1}'));
    }
}

//! `keyrace merge`: the JSON reports of a sharded run (`keyrace check --shard K/N`, one per
//! CI job) joined into the report of the whole run. Shards of one run only: the same runner
//! version, adapter, seed, mode, budget and exploration, and every shard exactly once. A
//! controlled race split across shards by the actor run at its first choice is joined back
//! into one row: rounds and schedules add up, the bound is exhausted when every part's is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use keyrace_runner::protocol::PROTOCOL;
use keyrace_runner::report::{Part, Report, Weaker, EXIT_FAULT, EXIT_PASS, EXIT_VIOLATION};

/// Traces kept per broken invariant, as a single run keeps them.
const TRACES_KEPT: usize = 10;

/// Why the reports do not merge. Every case is a usage error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a keyrace check --json report ({why}); is it truncated?")]
    NotAReport { path: PathBuf, why: String },
    #[error(
        "{path} is not a shard: run each job with keyrace check --shard K/N --json FILE, then \
         merge those files"
    )]
    NotAShard { path: PathBuf },
    #[error(
        "{first} and {other} are of different runs: {field} is {a} in one and {b} in the other; \
         merge the shards of one run"
    )]
    Differ {
        field: &'static str,
        first: PathBuf,
        other: PathBuf,
        a: String,
        b: String,
    },
    #[error(
        "{path} was written by keyrace {theirs}; this is keyrace {ours}: the report format and \
         the schedules may differ between versions, so merge the shards with the keyrace that \
         wrote them, or run them again with this one"
    )]
    OtherRunner {
        path: PathBuf,
        /// Its version and protocol, as the report says them.
        theirs: String,
        ours: String,
    },
    #[error("the shards do not make up the run: {0}")]
    Incomplete(String),
    /// Each shard reads as a report, but not what they add up to (a count past its type's
    /// range): a limit of keyrace's, not the shards' fault.
    #[error("the shards' reports read, but their sum does not make a report ({0}); report this to keyrace's authors, and read the shards' reports one by one meanwhile")]
    Unjoinable(String),
}

impl MergeError {
    /// The exit code: a merge that cannot be done is a usage error.
    pub fn exit_code(&self) -> i32 {
        EXIT_FAULT
    }
}

/// The fields that must be equal in every shard of one run (`parts`: how many parts the
/// whole run has, which also differs when the scenarios, the actors or what could be traced
/// differ).
const SAME: [&str; 9] = [
    "version",
    "protocol",
    "adapter",
    "seed",
    "mode",
    "budget",
    "strategy",
    "require_systematic",
    "parts",
];

/// The whole run's report, its text and its exit code.
#[derive(Debug)]
pub struct Merged {
    pub report: Value,
    pub text: String,
    pub exit_code: i32,
}

impl Merged {
    /// The report as `--json` writes it.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(&self.report).unwrap_or_default()
    }
}

/// Merge the shard reports at `paths`.
pub fn merge(paths: &[PathBuf]) -> Result<Merged, MergeError> {
    merge_as(paths, None)
}

/// Merge the reports of a `--jobs` run's workers, stopped when a signal reached the run: the
/// whole run is reported as interrupted by that signal (`signal`, its `exit_code`), whatever
/// the workers were stopped with.
pub fn merge_stopped(
    paths: &[PathBuf],
    signal: &str,
    exit_code: i32,
) -> Result<Merged, MergeError> {
    merge_as(paths, Some((signal, exit_code)))
}

fn merge_as(paths: &[PathBuf], stopped: Option<(&str, i32)>) -> Result<Merged, MergeError> {
    let mut reports = Vec::new();
    for path in paths {
        reports.push((path.clone(), read(path)?));
    }
    let Some((first_path, first)) = reports.first() else {
        return Err(MergeError::Incomplete("no report given".to_owned()));
    };
    for (path, report) in &reports[1..] {
        for field in SAME {
            if report[field] != first[field] {
                return Err(MergeError::Differ {
                    field,
                    first: first_path.clone(),
                    other: path.clone(),
                    a: first[field].to_string(),
                    b: report[field].to_string(),
                });
            }
        }
    }
    check_shards(&reports)?;
    let mut by_id: Vec<(String, Vec<&Value>)> = Vec::new();
    for scenario in in_run_order(&reports) {
        let id = scenario["id"].as_str().unwrap_or_default().to_owned();
        match by_id.iter_mut().find(|(seen, _)| *seen == id) {
            Some((_, parts)) => parts.push(scenario),
            None => by_id.push((id, vec![scenario])),
        }
    }
    let mut scenarios = Vec::new();
    for (id, parts) in by_id {
        scenarios.push(join(&id, &parts)?);
    }
    let held: u64 = scenarios
        .iter()
        .map(|s| s["parts"].as_u64().unwrap_or(1))
        .sum();
    let whole = first["parts"].as_u64().unwrap_or(0);
    if held != whole {
        return Err(MergeError::Incomplete(format!(
            "they hold {held} of the run's {whole} parts: a shard's report was edited, or its run \
             was killed before it wrote all of it; re-run that shard"
        )));
    }
    let mut report = first.clone();
    let object = report
        .as_object_mut()
        .ok_or_else(|| MergeError::NotAReport {
            path: first_path.clone(),
            why: "not a JSON object".to_owned(),
        })?;
    object.remove("shard");
    let seconds = reports
        .iter()
        .filter_map(|(_, r)| r["seconds"].as_f64())
        .fold(0.0, f64::max);
    let warnings: Vec<Value> = reports
        .iter()
        .flat_map(|(_, r)| {
            let shard = r["shard"]["index"].clone();
            r["warnings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |w| json!(format!("shard {shard}: {}", w.as_str().unwrap_or(""))))
        })
        .collect();
    let interrupted = interrupted(&reports, stopped);
    let exit_code = exit_code(&reports, &scenarios, interrupted.as_ref());
    if let Some(found) = interrupted {
        object.insert("interrupted".to_owned(), found);
    }
    if let Some(weaker) = weaker(&reports) {
        object.insert("weaker".to_owned(), weaker);
    }
    object.insert("scenarios".to_owned(), Value::Array(scenarios));
    object.insert("seconds".to_owned(), json!(seconds));
    object.insert("shards".to_owned(), json!(reports.len()));
    object.insert("warnings".to_owned(), Value::Array(warnings));
    object.insert("exit_code".to_owned(), json!(exit_code));
    // Shown as one run's report is: each failure's replies and re-run, a fault's stderr tail.
    let text = serde_json::from_value::<Report>(report.clone())
        .map_err(|e| MergeError::Unjoinable(e.to_string()))?
        .to_text();
    Ok(Merged {
        report,
        text,
        exit_code,
    })
}

fn read(path: &Path) -> Result<Value, MergeError> {
    let bytes = std::fs::read(path).map_err(|source| MergeError::Read {
        path: path.to_owned(),
        source,
    })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| MergeError::NotAReport {
        path: path.to_owned(),
        why: format!("not JSON: {e}"),
    })?;
    let missing = ["scenarios", "exit_code", "seconds"]
        .iter()
        .chain(SAME.iter().filter(|field| **field != "parts"))
        .find(|field| value.get(**field).is_none());
    if let Some(field) = missing {
        return Err(MergeError::NotAReport {
            path: path.to_owned(),
            why: format!("it has no {field:?}"),
        });
    }
    let version = |report_version: &str, protocol: &str| format!("{report_version} ({protocol})");
    let ours = version(env!("CARGO_PKG_VERSION"), PROTOCOL);
    let theirs = version(
        value["version"].as_str().unwrap_or("?"),
        value["protocol"].as_str().unwrap_or("?"),
    );
    if theirs != ours {
        return Err(MergeError::OtherRunner {
            path: path.to_owned(),
            theirs,
            ours,
        });
    }
    // Every field as the runner writes it: the merged report is rendered from these types.
    // Read from the bytes, so that the error names the field (`scenarios[0].rounds`) and
    // where it is.
    let mut fields = serde_json::Deserializer::from_slice(&bytes);
    if let Err(e) = serde_path_to_error::deserialize::<_, Report>(&mut fields) {
        return Err(MergeError::NotAReport {
            path: path.to_owned(),
            why: format!("at {}: {}", e.path(), e.inner()),
        });
    }
    if value["shard"]["count"].as_u64().is_none()
        || value["shard"]["index"].as_u64().is_none()
        || value["parts"].as_u64().is_none()
    {
        return Err(MergeError::NotAShard {
            path: path.to_owned(),
        });
    }
    Ok(value)
}

/// The shards' rows in the order of the run's parts, as one run lists them: part `u` is shard
/// `u mod N + 1`'s, and each shard lists its parts in order (every part it owns, run or not),
/// so the rows are dealt back out shard by shard.
fn in_run_order(reports: &[(PathBuf, Value)]) -> Vec<&Value> {
    let mut shards: Vec<(u64, &Vec<Value>)> = reports
        .iter()
        .filter_map(|(_, r)| Some((r["shard"]["index"].as_u64()?, r["scenarios"].as_array()?)))
        .collect();
    shards.sort_by_key(|(index, _)| *index);
    let longest = shards.iter().map(|(_, rows)| rows.len()).max().unwrap_or(0);
    (0..longest)
        .flat_map(|k| shards.iter().filter_map(move |(_, rows)| rows.get(k)))
        .collect()
}

/// Every shard of one count, each once.
fn check_shards(reports: &[(PathBuf, Value)]) -> Result<(), MergeError> {
    let count = reports[0].1["shard"]["count"].as_u64().unwrap_or(0);
    let mut seen: BTreeMap<u64, &Path> = BTreeMap::new();
    for (path, report) in reports {
        let (index, of) = (
            report["shard"]["index"].as_u64().unwrap_or(0),
            report["shard"]["count"].as_u64().unwrap_or(0),
        );
        if of != count {
            return Err(MergeError::Differ {
                field: "the shard count",
                first: reports[0].0.clone(),
                other: path.clone(),
                a: count.to_string(),
                b: of.to_string(),
            });
        }
        if let Some(before) = seen.insert(index, path) {
            return Err(MergeError::Incomplete(format!(
                "shard {index}/{count} is given twice ({} and {})",
                before.display(),
                path.display()
            )));
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|k| !seen.contains_key(k))
        .map(|k| format!("{k}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Incomplete(format!(
            "shard(s) {} missing",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// One scenario's row from its shards' rows: the one row, or its parts joined.
fn join(id: &str, rows: &[&Value]) -> Result<Value, MergeError> {
    let parts: Vec<&Value> = rows
        .iter()
        .copied()
        .filter(|r| r["part"].is_object())
        .collect();
    if parts.is_empty() {
        return match rows {
            [row] => Ok((*row).clone()),
            _ => Err(MergeError::Incomplete(format!(
                "scenario {id} ran whole in {} shards",
                rows.len()
            ))),
        };
    }
    if parts.len() != rows.len() {
        return Err(MergeError::Incomplete(format!(
            "scenario {id} ran both whole and in parts"
        )));
    }
    let of = parts[0]["part"]["of"].as_u64().unwrap_or(0);
    let mut actors: Vec<u64> = parts
        .iter()
        .map(|p| p["part"]["index"].as_u64().unwrap_or(u64::MAX))
        .collect();
    actors.sort_unstable();
    if actors != (0..of).collect::<Vec<_>>() {
        // Counted from 1, as the reports' rows say `part 1 of 2`.
        let shown: Vec<String> = actors
            .iter()
            .map(|&a| a.checked_add(1).map_or("?".to_owned(), |n| n.to_string()))
            .collect();
        return Err(MergeError::Incomplete(format!(
            "scenario {id} has parts {} of {of}, not each of 1 to {of} once",
            shown.join(", ")
        )));
    }
    let ran: Vec<&Value> = parts
        .iter()
        .copied()
        .filter(|p| p["part"]["empty"] != true)
        .collect();
    let sum = |field: &str| -> u64 { ran.iter().filter_map(|p| p[field].as_u64()).sum() };
    let seconds: f64 = ran.iter().filter_map(|p| p["seconds"].as_f64()).sum();
    let rounds = sum("rounds");
    let violating = sum("violating_rounds");
    let fault = ran.iter().map(|p| &p["fault"]).find(|f| !f.is_null());
    let skipped = ran
        .iter()
        .map(|p| &p["skipped_reason"])
        .find(|s| !s.is_null());
    let mut row = Map::new();
    row.insert("id".to_owned(), json!(id));
    let status = if violating > 0 {
        "failed"
    } else if fault.is_some() {
        "fault"
    } else if skipped.is_some() {
        "skipped"
    } else {
        "passed"
    };
    row.insert("status".to_owned(), json!(status));
    row.insert("rounds".to_owned(), json!(rounds));
    row.insert("violating_rounds".to_owned(), json!(violating));
    row.insert("violations".to_owned(), violations(&ran));
    row.insert(
        "skipped_reason".to_owned(),
        skipped.cloned().unwrap_or(Value::Null),
    );
    row.insert("fault".to_owned(), fault.cloned().unwrap_or(Value::Null));
    row.insert("seconds".to_owned(), json!(seconds));
    row.insert(
        "rounds_per_second".to_owned(),
        json!(if seconds > 0.0 {
            rounds as f64 / seconds
        } else {
            0.0
        }),
    );
    row.insert("form".to_owned(), parts[0]["form"].clone());
    row.insert("actors".to_owned(), parts[0]["actors"].clone());
    row.insert("coverage".to_owned(), coverage(&ran));
    let notes = notes(&ran);
    if !notes.is_empty() {
        row.insert("notes".to_owned(), Value::Array(notes));
    }
    row.insert("parts".to_owned(), json!(of));
    Ok(Value::Object(row))
}

/// The run's interruption: the signal of the first shard (by index) cut short, or the one
/// that stopped the workers (`stopped`: name and exit code), and how each shard cut short
/// cleaned up (its own actors and scratch directory): said once when every shard was cut and
/// all alike, else shard by shard.
fn interrupted(reports: &[(PathBuf, Value)], stopped: Option<(&str, i32)>) -> Option<Value> {
    let mut cut: Vec<&(PathBuf, Value)> = reports
        .iter()
        .filter(|(_, r)| !r["interrupted"].is_null())
        .collect();
    cut.sort_by_key(|(_, r)| r["shard"]["index"].as_u64());
    let cleanups: Vec<(String, &str)> = cut
        .iter()
        .map(|(_, r)| {
            (
                format!("shard {}", r["shard"]["index"]),
                r["interrupted"]["cleanup"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    let cleanup = match cleanups.as_slice() {
        [] => "every worker had finished".to_owned(),
        [(_, first), rest @ ..]
            if cut.len() == reports.len() && rest.iter().all(|(_, c)| c == first) =>
        {
            (*first).to_owned()
        }
        all => all
            .iter()
            .map(|(shard, cleanup)| format!("{shard}: {cleanup}"))
            .collect::<Vec<_>>()
            .join("; "),
    };
    let (signal, exit_code) = match stopped {
        Some((signal, code)) => (json!(signal), json!(code)),
        None => {
            let (_, first) = cut.first()?;
            (
                first["interrupted"]["signal"].clone(),
                first["interrupted"]["exit_code"].clone(),
            )
        }
    };
    Some(json!({"signal": signal, "exit_code": exit_code, "cleanup": cleanup}))
}

/// The notes of the parts that ran, each said of the parts it is true of: a note every part
/// made alike once (`each of its 2 parts: …`: a count in it is a part's), any other with its
/// part's label.
fn notes(parts: &[&Value]) -> Vec<Value> {
    let of = |part: &Value| -> Vec<Value> { part["notes"].as_array().cloned().unwrap_or_default() };
    let Some(first) = parts.first() else {
        return Vec::new();
    };
    let common: Vec<Value> = of(first)
        .into_iter()
        .filter(|note| parts.iter().all(|p| of(p).contains(note)))
        .collect();
    // An empty part (no schedule starts with its actor) did not run, and made no notes.
    let whole = first["part"]["of"].as_u64() == Some(parts.len() as u64);
    let mut notes: Vec<Value> = common
        .iter()
        .map(|note| {
            let note = note.as_str().unwrap_or_default();
            json!(match parts.len() {
                1 => note.to_owned(),
                n if whole => format!("each of its {n} parts: {note}"),
                n => format!("each of the {n} parts that ran: {note}"),
            })
        })
        .collect();
    for part in parts {
        // Every part's row has read as a report's (`read`), `part` included.
        let label = serde_json::from_value::<Part>(part["part"].clone())
            .map_or_else(|_| "a part".to_owned(), |p| p.label());
        for note in of(part).into_iter().filter(|n| !common.contains(n)) {
            notes.push(json!(format!(
                "{label}: {}",
                note.as_str().unwrap_or_default()
            )));
        }
    }
    notes
}

/// The parts' broken invariants, each once: rounds added, traces up to the usual number.
fn violations(parts: &[&Value]) -> Value {
    let mut joined: Vec<Value> = Vec::new();
    for violation in parts
        .iter()
        .flat_map(|p| p["violations"].as_array().cloned().unwrap_or_default())
        .filter(|v| v["invariant"].is_string())
    {
        let invariant = violation["invariant"].clone();
        let Some(into) = joined
            .iter_mut()
            .find(|v| v["invariant"] == invariant)
            .and_then(Value::as_object_mut)
        else {
            joined.push(violation);
            continue;
        };
        let rounds = into.get("rounds").and_then(Value::as_u64).unwrap_or(0)
            + violation["rounds"].as_u64().unwrap_or(0);
        into.insert("rounds".to_owned(), json!(rounds));
        if let (Some(traces), Some(more)) = (
            into.get_mut("traces").and_then(Value::as_array_mut),
            violation["traces"].as_array(),
        ) {
            for trace in more {
                if traces.len() < TRACES_KEPT {
                    traces.push(trace.clone());
                }
            }
        }
    }
    Value::Array(joined)
}

/// The parts' DFS coverage joined: schedules (and those recalled) add up; exhausted and exact when every part is
/// (a part that covered nothing, because it did not run, leaves the bound not exhausted).
fn coverage(parts: &[&Value]) -> Value {
    let all: Vec<&Value> = parts.iter().map(|p| &p["coverage"]).collect();
    let Some(mut joined) = all.iter().find_map(|c| c.as_object().cloned()) else {
        return Value::Null;
    };
    let every = |field: &str| all.iter().all(|c| c[field] == true);
    let schedules: u64 = all.iter().filter_map(|c| c["schedules"].as_u64()).sum();
    let recalled: u64 = all.iter().filter_map(|c| c["recalled"].as_u64()).sum();
    let longest = all.iter().filter_map(|c| c["longest"].as_u64()).max();
    joined.insert("schedules".to_owned(), json!(schedules));
    if joined.contains_key("recalled") {
        joined.insert("recalled".to_owned(), json!(recalled));
    }
    joined.insert(
        "bound_exhausted".to_owned(),
        json!(every("bound_exhausted")),
    );
    joined.insert("exact".to_owned(), json!(every("exact")));
    // A bound every part exhausted (the smallest of theirs; none if one part has none).
    let within = all
        .iter()
        .map(|c| c["exhausted_within"].as_u64())
        .collect::<Option<Vec<u64>>>()
        .and_then(|bounds| bounds.into_iter().min());
    joined.insert("exhausted_within".to_owned(), json!(within));
    joined.insert("longest".to_owned(), json!(longest.unwrap_or(0)));
    Value::Object(joined)
}

/// As one run's: 1 if any invariant broke; else the interruption's code; else 2 if a
/// scenario faulted, every scenario was skipped, or a run required to be systematic was
/// weaker; else 0.
fn exit_code(
    reports: &[(PathBuf, Value)],
    scenarios: &[Value],
    interrupted: Option<&Value>,
) -> i32 {
    let interrupted = interrupted.and_then(|i| i["exit_code"].as_i64());
    let weaker = reports
        .iter()
        .any(|(_, r)| r["require_systematic"] == true && !r["weaker"].is_null());
    if scenarios.iter().any(|s| s["status"] == "failed")
        || reports.iter().any(|(_, r)| r["exit_code"] == 1)
    {
        EXIT_VIOLATION
    } else if let Some(code) = interrupted {
        i32::try_from(code).unwrap_or(EXIT_FAULT)
    } else if scenarios.iter().any(|s| s["status"] == "fault")
        || (!scenarios.is_empty() && scenarios.iter().all(|s| s["status"] == "skipped"))
        || weaker
    {
        EXIT_FAULT
    } else {
        EXIT_PASS
    }
}

/// The shards' notices of a run weaker than full as one: the first's cause and fix, every
/// shard's scenarios run by chance or not run (each shard names only its own parts').
fn weaker(reports: &[(PathBuf, Value)]) -> Option<Value> {
    let mut notices = reports
        .iter()
        .filter_map(|(_, r)| serde_json::from_value::<Weaker>(r["weaker"].clone()).ok());
    let mut joined = notices.next()?;
    for notice in notices {
        for (all, more) in [
            (&mut joined.by_chance, notice.by_chance),
            (&mut joined.not_run, notice.not_run),
        ] {
            for id in more {
                if !all.contains(&id) {
                    all.push(id);
                }
            }
        }
    }
    serde_json::to_value(joined).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_said_of_the_parts_it_is_true_of() {
        let part = |index: u64, notes: &[&str]| json!({"part": {"index": index, "of": 2, "empty": false}, "notes": notes});
        let (a, b) = (
            part(0, &["shared memory", "3 states of 80 recordings"]),
            part(
                1,
                &[
                    "shared memory",
                    "3 states of 80 recordings",
                    "stopped after 5 rounds",
                ],
            ),
        );
        assert_eq!(
            notes(&[&a, &b]),
            [
                "each of its 2 parts: shared memory",
                "each of its 2 parts: 3 states of 80 recordings",
                "part 2 of 2: stopped after 5 rounds",
            ]
        );
        assert_eq!(
            notes(&[&b]),
            [
                "shared memory",
                "3 states of 80 recordings",
                "stopped after 5 rounds"
            ]
        );
        // Of three parts, the second empty.
        let (a, c) = (
            json!({"part": {"index": 0, "of": 3, "empty": false}, "notes": ["shared memory"]}),
            json!({"part": {"index": 2, "of": 3, "empty": false}, "notes": ["shared memory"]}),
        );
        assert_eq!(
            notes(&[&a, &c]),
            ["each of the 2 parts that ran: shared memory"]
        );
    }

    #[test]
    fn an_interruption_names_each_shard_cut_short_by_index() {
        let shard = |index: u64, cut: Option<(&str, &str)>| {
            let interrupted = cut.map_or(
                Value::Null,
                |(signal, cleanup)| json!({"signal": signal, "exit_code": 143, "cleanup": cleanup}),
            );
            (
                PathBuf::from(format!("shard-{index}.json")),
                json!({"shard": {"index": index, "count": 2}, "interrupted": interrupted}),
            )
        };
        let both = [
            shard(2, Some(("SIGTERM", "left /tmp/x"))),
            shard(1, Some(("SIGINT", "all clean"))),
        ];
        let joined = interrupted(&both, None).expect("interrupted");
        assert_eq!(joined["signal"], "SIGINT");
        assert_eq!(
            joined["cleanup"],
            "shard 1: all clean; shard 2: left /tmp/x"
        );
        let one = [shard(1, None), shard(2, Some(("SIGTERM", "all clean")))];
        assert_eq!(
            interrupted(&one, None).expect("interrupted")["cleanup"],
            "shard 2: all clean"
        );
        let alike = [
            shard(1, Some(("SIGTERM", "all clean"))),
            shard(2, Some(("SIGTERM", "all clean"))),
        ];
        let stopped = interrupted(&alike, Some(("SIGHUP", 129))).expect("interrupted");
        assert_eq!(
            (
                &stopped["signal"],
                &stopped["exit_code"],
                &stopped["cleanup"]
            ),
            (&json!("SIGHUP"), &json!(129), &json!("all clean"))
        );
        assert!(interrupted(&[shard(1, None), shard(2, None)], None).is_none());
    }
}

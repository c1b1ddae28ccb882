//! `keyrace merge`: the JSON reports of a sharded run (`keyrace check --shard K/N`, one per
//! CI job) joined into the report of the whole run. Shards of one run only: the same runner
//! version, adapter, seed, mode, budget and exploration, and every shard exactly once. A
//! controlled race split across shards by the actor run at its first choice is joined back
//! into one row: rounds and schedules add up, the bound is exhausted when every part's is.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use keyrace_runner::catalogue::CATALOGUE;
use keyrace_runner::protocol::PROTOCOL;
use keyrace_runner::report::{
    printable, weaker_text, Weaker, EXIT_FAULT, EXIT_PASS, EXIT_VIOLATION,
};

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

/// Merge the shard reports at `paths`.
pub fn merge(paths: &[PathBuf]) -> Result<Merged, MergeError> {
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
    let mut by_id: BTreeMap<(usize, String), Vec<&Value>> = BTreeMap::new();
    for (_, report) in &reports {
        for scenario in report["scenarios"].as_array().into_iter().flatten() {
            let id = scenario["id"].as_str().unwrap_or_default().to_owned();
            let order = CATALOGUE
                .iter()
                .position(|def| def.id.as_str() == id)
                .unwrap_or(usize::MAX);
            by_id.entry((order, id)).or_default().push(scenario);
        }
    }
    let mut scenarios = Vec::new();
    for ((_, id), parts) in by_id {
        scenarios.push(join(&id, &parts)?);
    }
    let held: u64 = scenarios
        .iter()
        .map(|s| s["parts"].as_u64().unwrap_or(1))
        .sum();
    let whole = first["parts"].as_u64().unwrap_or(0);
    if held != whole {
        return Err(MergeError::Incomplete(format!(
            "they hold {held} of the run's {whole} parts: a shard was interrupted, or did not \
             finish; re-run it"
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
    let exit_code = exit_code(&reports, &scenarios);
    if let Some(found) = reports
        .iter()
        .map(|(_, r)| &r["interrupted"])
        .find(|v| !v.is_null())
    {
        object.insert("interrupted".to_owned(), found.clone());
    }
    if let Some(weaker) = weaker(&reports) {
        object.insert("weaker".to_owned(), weaker);
    }
    object.insert("scenarios".to_owned(), Value::Array(scenarios));
    object.insert("seconds".to_owned(), json!(seconds));
    object.insert("shards".to_owned(), json!(reports.len()));
    object.insert("warnings".to_owned(), Value::Array(warnings));
    object.insert("exit_code".to_owned(), json!(exit_code));
    let text = text(&report);
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
    if !value["scenarios"].is_array() {
        return Err(MergeError::NotAReport {
            path: path.to_owned(),
            why: "its \"scenarios\" is not a list".to_owned(),
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
    let notes: Vec<Value> = ran
        .iter()
        .flat_map(|p| p["notes"].as_array().cloned().unwrap_or_default())
        .fold(Vec::new(), |mut all, note| {
            if !all.contains(&note) {
                all.push(note);
            }
            all
        });
    if !notes.is_empty() {
        row.insert("notes".to_owned(), Value::Array(notes));
    }
    row.insert("parts".to_owned(), json!(of));
    Ok(Value::Object(row))
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

/// As one run's: 1 if any invariant broke; else the first interruption's code; else 2 if a
/// scenario faulted, every scenario was skipped, or a run required to be systematic was
/// weaker; else 0.
fn exit_code(reports: &[(PathBuf, Value)], scenarios: &[Value]) -> i32 {
    let interrupted = reports
        .iter()
        .find_map(|(_, r)| r["interrupted"]["exit_code"].as_i64());
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

/// The merged report in text: a table, then each broken invariant with its first re-run
/// command, the shards' warnings, the verdict and, last, a weaker run's notice, as one run
/// prints them.
fn text(report: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "keyrace merge: {} shards of one {} run, seed {}, adapter {}",
        report["shards"],
        report["mode"].as_str().unwrap_or("?"),
        report["seed"],
        printable(report["adapter_name"].as_str().unwrap_or("(no hello)"))
    );
    let _ = writeln!(
        out,
        "{:<30} {:<10} {:>7} {:>10}  coverage",
        "scenario", "result", "rounds", "violations"
    );
    let scenarios = report["scenarios"].as_array().cloned().unwrap_or_default();
    for s in &scenarios {
        let c = &s["coverage"];
        let covered = match c["strategy"].as_str() {
            Some("dfs") => format!(
                "{} schedules, bound {}",
                c["schedules"],
                if c["bound_exhausted"] == true {
                    "exhausted"
                } else {
                    "NOT exhausted"
                }
            ),
            Some(other) => other.to_owned(),
            None => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<30} {:<10} {:>7} {:>10}  {covered}",
            s["id"].as_str().unwrap_or("?"),
            s["status"].as_str().unwrap_or("?"),
            s["rounds"].to_string(),
            s["violating_rounds"].to_string(),
        );
    }
    for s in &scenarios {
        for v in s["violations"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "\n{}: VIOLATION in {} rounds: {}",
                s["id"].as_str().unwrap_or("?"),
                v["rounds"],
                v["invariant"].as_str().unwrap_or("?")
            );
            if let Some(repro) = v["traces"][0]["repro"].as_str() {
                let _ = writeln!(out, "  re-run: {}", printable(repro));
            }
        }
        if let Some(reason) = s["skipped_reason"].as_str() {
            let _ = writeln!(
                out,
                "\n{} skipped: {}",
                s["id"].as_str().unwrap_or("?"),
                printable(reason)
            );
        }
        if let Some(fault) = s["fault"]["message"].as_str() {
            let _ = writeln!(
                out,
                "\n{} FAULT: {}",
                s["id"].as_str().unwrap_or("?"),
                printable(fault)
            );
        }
    }
    for warning in report["warnings"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "\nwarning: {}",
            printable(warning.as_str().unwrap_or_default())
        );
    }
    let verdict = match report["exit_code"].as_i64() {
        Some(0) => "every scenario passed",
        Some(1) => "invariants were violated",
        _ => "something could not be judged (see above and each shard's report)",
    };
    let _ = writeln!(out, "\n{verdict} (exit {})", report["exit_code"]);
    if let Ok(weaker) = serde_json::from_value::<Weaker>(report["weaker"].clone()) {
        out.push_str(&weaker_text(&weaker, report["require_systematic"] == true));
    }
    out
}

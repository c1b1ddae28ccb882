//! Sharded runs (`--shard K/N` and `keyrace merge`) and worker processes (`--jobs N`): the
//! same schedules and verdicts as one job, and every bad input a usage error (exit 2).

mod common;

use common::{check_json, keyrace, scenario, text, ADAPTER};

const SCENARIOS: [&str; 8] = [
    "--scenario",
    "keygen-race",
    "--scenario",
    "put-race",
    "--scenario",
    "double-bootstrap",
    "--scenario",
    "crash-consume",
];

/// `keyrace check SCENARIOS --seed 5 EXTRA --json FILE --adapter ADAPTER [ADAPTER_ARGS]`.
fn run(extra: &[&str], adapter_args: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let mut args = SCENARIOS.to_vec();
    args.extend_from_slice(&["--seed", "5"]);
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--adapter", ADAPTER]);
    args.extend_from_slice(adapter_args);
    check_json(&args)
}

/// (status, schedules or crash states, schedules recalled) per scenario.
fn verdicts(report: &serde_json::Value) -> Vec<(String, String, u64, u64)> {
    [
        "keygen-race",
        "put-race",
        "double-bootstrap",
        "crash-consume",
    ]
    .iter()
    .map(|id| {
        let row = scenario(report, id);
        let coverage = &row["coverage"];
        let count = coverage["schedules"]
            .as_u64()
            .or_else(|| coverage["states"].as_u64())
            .unwrap_or(0);
        (
            id.to_string(),
            row["status"].as_str().unwrap_or("").to_owned(),
            count,
            coverage["recalled"].as_u64().unwrap_or(0),
        )
    })
    .collect()
}

fn merge(files: &[&std::path::Path]) -> (Option<i32>, String, Option<serde_json::Value>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("merged.json");
    let mut args = vec!["merge", "--json", out.to_str().expect("utf-8")];
    args.extend(files.iter().map(|f| f.to_str().expect("utf-8")));
    let output = keyrace(&args);
    let merged = std::fs::read(&out)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    (output.status.code(), text(&output), merged)
}

/// Writes each shard's JSON report to `dir`; returns the paths.
fn shards(n: u32, adapter_args: &[&str], dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    (1..=n)
        .map(|k| {
            let (code, report, json) = run(&["--shard", &format!("{k}/{n}")], adapter_args);
            assert!(matches!(code, Some(0 | 1)), "shard {k}/{n}:\n{report}");
            let path = dir.join(format!("shard-{k}.json"));
            std::fs::write(&path, json.to_string()).expect("write");
            path
        })
        .collect()
}

#[test]
fn shards_merged_give_the_schedules_and_verdicts_of_one_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    for adapter_args in [&[][..], &["--mutant", "grace-check-then-set"][..]] {
        let (code, report, whole) = run(&[], adapter_args);
        assert!(
            verdicts(&whole).iter().any(|v| v.3 > 0),
            "no schedule of a smaller bound recalled:\n{report}"
        );
        for n in [2, 3] {
            let paths = shards(n, adapter_args, dir.path());
            let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
            let (merged_code, merged_text, merged) = merge(&refs);
            let merged = merged.unwrap_or_else(|| panic!("no merged report:\n{merged_text}"));
            assert_eq!(merged_code, code, "{merged_text}\n---\n{report}");
            assert_eq!(
                verdicts(&merged),
                verdicts(&whole),
                "{n} shards:\n{merged_text}"
            );
        }
    }
}

/// cache-torn's verifier starts before the racers and holds the first tracer slot: the parts
/// are the racers able to run at the first choice, whatever their slots, and none is empty.
#[test]
fn a_race_whose_verifier_starts_first_divides_among_its_racers() {
    let args = [
        "--scenario",
        "cache-torn",
        "--preemptions",
        "1",
        "--seed",
        "5",
    ];
    let with = |extra: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(extra);
        all.extend_from_slice(&["--adapter", ADAPTER]);
        check_json(&all)
    };
    let (_, report, whole) = with(&[]);
    let whole = scenario(&whole, "cache-torn")["coverage"]["schedules"].clone();
    assert!(whole.as_u64().is_some_and(|n| n > 2), "{report}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for k in 1..=2 {
        let (code, report, json) = with(&["--shard", &format!("{k}/2")]);
        assert_eq!(code, Some(0), "{report}");
        let row = scenario(&json, "cache-torn");
        assert_eq!(row["part"]["empty"], false, "{report}");
        let path = dir.path().join(format!("{k}.json"));
        std::fs::write(&path, json.to_string()).expect("write");
        paths.push(path);
    }
    let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    let (code, said, merged) = merge(&refs);
    assert_eq!(code, Some(0), "{said}");
    let merged = merged.expect("merged report");
    assert_eq!(
        scenario(&merged, "cache-torn")["coverage"]["schedules"],
        whole,
        "{said}"
    );
}

#[test]
fn two_jobs_give_the_schedules_and_verdicts_of_one() {
    let (code, report, whole) = run(&[], &["--mutant", "keygen-excl-then-write"]);
    let (jobs_code, jobs_report, jobs) =
        run(&["--jobs", "2"], &["--mutant", "keygen-excl-then-write"]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(jobs_code, code, "{jobs_report}");
    assert_eq!(verdicts(&jobs), verdicts(&whole), "{jobs_report}");
    assert!(jobs_report.contains(", 2 shards merged"), "{jobs_report}");
    // The first failure, shown as one run shows it (its part runs first in both): the
    // round's replies and calls, its schedule, its re-run line.
    let first_failure = |report: &str| -> Vec<String> {
        let mut trace = Vec::new();
        let lines = report
            .lines()
            .skip_while(|l| !l.starts_with("keygen-race: VIOLATION in "))
            .skip(1);
        for line in lines {
            trace.push(line.to_owned());
            if line.starts_with("  re-run: ") {
                break;
            }
        }
        trace
    };
    let shown = first_failure(&jobs_report);
    assert!(
        shown.iter().any(|l| l.starts_with("    schedule "))
            && shown.iter().any(|l| l.starts_with("    actor "))
            && shown.iter().any(|l| {
                l.starts_with("  re-run: keyrace check --scenario keygen-race --seed 5 --schedule ")
            }),
        "{jobs_report}"
    );
    // Its round's number, values and paths may differ; its schedule and re-run may not.
    let identity = |trace: Vec<String>| -> Vec<String> {
        trace
            .into_iter()
            .filter(|l| l.starts_with("    schedule ") || l.starts_with("  re-run: "))
            .collect()
    };
    assert_eq!(
        identity(shown),
        identity(first_failure(&report)),
        "{jobs_report}"
    );
    // Each worker's progress and verdicts, as they come, named by worker.
    for worker in ["1/2", "2/2"] {
        let said = format!("keyrace [worker {worker}]: ");
        assert!(
            jobs_report
                .lines()
                .any(|l| l.starts_with(&said) && l.contains(" rounds")),
            "nothing relayed from worker {worker}:\n{jobs_report}"
        );
    }
}

#[test]
fn merge_refuses_what_is_not_the_shards_of_one_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = shards(2, &[], dir.path());
    let (code, said, _) = merge(&[&paths[0]]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("shard(s) 2/2 missing"), "{said}");
    let (code, said, _) = merge(&[&paths[0], &paths[0]]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("given twice"), "{said}");
    // Another seed: a different run.
    let mut other: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&paths[1]).expect("read")).expect("json");
    other["seed"] = serde_json::json!(6);
    let foreign = dir.path().join("foreign.json");
    std::fs::write(&foreign, other.to_string()).expect("write");
    let (code, said, _) = merge(&[&paths[0], &foreign]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("seed is 5 in one and 6 in the other"),
        "{said}"
    );
    // Shards written by another keyrace: refused, with the reason, even when they agree.
    let mut older = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let mut report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json");
        report["version"] = serde_json::json!("0.0.1");
        let old = dir.path().join(format!("old-{i}.json"));
        std::fs::write(&old, report.to_string()).expect("write");
        older.push(old);
    }
    let (code, said, _) = merge(&[&older[0], &older[1]]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("was written by keyrace 0.0.1 (keyrace-adapter/1); this is keyrace"),
        "{said}"
    );
    // A shard that lost its last scenario (interrupted before it: crash-consume, whole in
    // shard 1), or one part of a race: the parts do not add up.
    for (shard, scenario) in [(0, "crash-consume"), (1, "double-bootstrap")] {
        let mut short: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&paths[shard]).expect("read")).expect("json");
        if let Some(rows) = short["scenarios"].as_array_mut() {
            rows.retain(|row| row["id"] != scenario);
        }
        let cut = dir.path().join("short.json");
        std::fs::write(&cut, short.to_string()).expect("write");
        let (code, said, _) = match shard {
            0 => merge(&[&cut, &paths[1]]),
            _ => merge(&[&paths[0], &cut]),
        };
        assert_eq!(code, Some(2), "{said}");
        assert!(said.contains("the shards do not make up the run"), "{said}");
    }
    // A truncated report, and JSON that is not a report.
    let bytes = std::fs::read(&paths[1]).expect("read");
    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let (code, said, _) = merge(&[&paths[0], &truncated]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("is not a keyrace check --json report"),
        "{said}"
    );
    let stranger = dir.path().join("stranger.json");
    std::fs::write(&stranger, "{\"scenarios\": []}").expect("write");
    let (code, said, _) = merge(&[&paths[0], &stranger]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("is not a keyrace check --json report"),
        "{said}"
    );
    // A report edited by hand: a field that is not what the runner writes, named.
    let mut edited: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    edited["scenarios"][0]["rounds"] = serde_json::json!("many");
    let edited_path = dir.path().join("edited.json");
    std::fs::write(&edited_path, edited.to_string()).expect("write");
    let (code, said, _) = merge(&[&paths[0], &edited_path]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains(
            "is not a keyrace check --json report (at scenarios[0].rounds: invalid type: string \"many\""
        ),
        "{said}"
    );
    // An unsharded report.
    let (_, _, whole) = run(&[], &[]);
    let unsharded = dir.path().join("whole.json");
    std::fs::write(&unsharded, whole.to_string()).expect("write");
    let (code, said, _) = merge(&[&unsharded]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("is not a shard"), "{said}");
}

#[test]
fn bad_shards_and_jobs_are_usage_errors() {
    for (args, says) in [
        (&["check", "--shard", "0/2"][..], "not a shard"),
        (&["check", "--shard", "3/2"][..], "not a shard"),
        (&["check", "--shard", "x"][..], "not a shard"),
        (&["check", "--jobs", "0"][..], "--jobs"),
        (
            &["check", "--jobs", "2", "--shard", "1/2"][..],
            "cannot be used with",
        ),
        (&["merge"][..], "REPORT.json"),
    ] {
        let output = keyrace(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        assert!(text(&output).contains(says), "{args:?}: {}", text(&output));
    }
}

/// `keyrace check --scenario put-race --seed 5 EXTRA --adapter ADAPTER` with `KEYRACE_JOBS`
/// set to `jobs` (removed at `None`).
fn put_race_with(jobs: Option<&str>, extra: &[&str]) -> std::process::Output {
    let mut command = common::keyrace_command();
    match jobs {
        Some(value) => command.env("KEYRACE_JOBS", value),
        None => command.env_remove("KEYRACE_JOBS"),
    };
    command
        .args(["check", "--scenario", "put-race", "--seed", "5"])
        .args(extra)
        .args(["--adapter", ADAPTER])
        .output()
        .expect("run keyrace")
}

/// Without `--jobs`, the workers are `KEYRACE_JOBS` (empty: unset), else the cores up to 8;
/// a shard or a replay is one worker whatever `KEYRACE_JOBS` says; a bad `KEYRACE_JOBS` is a
/// usage error naming what it may be.
#[test]
fn the_default_workers_are_keyrace_jobs_or_the_cores() {
    let workers = |output: &std::process::Output| {
        let said = text(output);
        assert_eq!(output.status.code(), Some(0), "{said}");
        said.lines()
            .find_map(|l| l.strip_prefix("keyrace: running "))
            .and_then(|rest| rest.split(' ').next())
            .map_or(1, |n| n.parse::<usize>().expect("a number of workers"))
    };
    assert_eq!(workers(&put_race_with(Some("2"), &[])), 2);
    assert_eq!(workers(&put_race_with(Some("1"), &[])), 1);
    assert_eq!(workers(&put_race_with(Some("2"), &["--shard", "1/2"])), 1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    assert_eq!(workers(&put_race_with(None, &[])), cores);
    assert_eq!(workers(&put_race_with(Some(""), &[])), cores);
    assert_eq!(workers(&put_race_with(None, &["--schedule", "0"])), 1);
    for bad in ["0", "two", "65"] {
        let output = put_race_with(Some(bad), &[]);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {}", text(&output));
        assert!(
            text(&output).contains("KEYRACE_JOBS must be a number of workers from 1 to 64"),
            "{bad:?}: {}",
            text(&output)
        );
    }
}

/// A scenario named twice runs once, where first named, with one worker or two alike (the
/// shards of a run number its parts once).
#[test]
fn a_scenario_named_twice_runs_once() {
    for jobs in ["1", "2"] {
        let (code, report, json) = check_json(&[
            "--scenario",
            "put-race",
            "--scenario",
            "delete-reset",
            "--scenario",
            "put-race",
            "--seed",
            "5",
            "--jobs",
            jobs,
            "--adapter",
            ADAPTER,
        ]);
        assert_eq!(code, Some(0), "--jobs {jobs}: {report}");
        let ids: Vec<&str> = json["scenarios"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str())
            .collect();
        assert_eq!(ids, ["put-race", "delete-reset"], "--jobs {jobs}: {report}");
    }
}

/// `--jobs` with `--junit` and `--html`: one JUnit file holding each worker's suite, counts
/// added up, and the first timeline page of a history that does not linearize.
#[test]
fn two_jobs_write_one_junit_file_and_the_first_timeline_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junit = dir.path().join("report.xml");
    let page = dir.path().join("timeline.html");
    let output = keyrace(&[
        "check",
        "--scenario",
        "history",
        "--scenario",
        "put-race",
        "--seed",
        "1",
        "--jobs",
        "2",
        "--junit",
        junit.to_str().expect("utf-8"),
        "--html",
        page.to_str().expect("utf-8"),
        "--adapter",
        ADAPTER,
        "--mutant",
        "get-from-process-memory",
    ]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file was written");
    let suites: Vec<&str> = xml
        .lines()
        .filter(|l| l.trim_start().starts_with("<testsuite "))
        .collect();
    assert_eq!(suites.len(), 2, "{xml}");
    assert!(suites[0].contains("--shard 1/2") && suites[1].contains("--shard 2/2"));
    let cases = xml.matches("<testcase ").count();
    assert!(
        xml.contains(&format!(
            "<testsuites name=\"keyrace\" tests=\"{cases}\" failures=\""
        )),
        "{xml}"
    );
    assert!(xml.contains("type=\"violation\""), "{xml}");
    assert_eq!(xml.matches("</testsuites>").count(), 1, "{xml}");
    let html = std::fs::read_to_string(&page).expect("the timeline page was written");
    assert!(
        html.contains("<svg") && html.contains("cannot be placed"),
        "{html}"
    );
}

//! The full mode's traced side: the tracer, the controlled interleavings and the crash states,
//! checked against small stores in Python (cli/tests/adapters/traced.py) and the
//! reference adapter's mutants.

mod common;

use common::{keyrace, python3, repo_root, text, ADAPTER};

fn traced(mode: &str, args: &[&str]) -> (Option<i32>, String) {
    let script = repo_root().join("cli/tests/adapters/traced.py");
    let script = script.to_str().expect("utf-8 path");
    let python = python3();
    let mut all = vec!["check", "--explore", "--seed", "3"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--adapter", &python, script, mode]);
    let output = keyrace(&all);
    (output.status.code(), text(&output))
}

fn row<'a>(report: &'a str, id: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("no row for {id}: {report}"))
}

/// No false alarm from a correct store in another language that serialises its puts with a
/// blocking flock (held actors never deadlock: the tracer makes the lock non-blocking and
/// retries it), and the same store without the lock is caught losing updates, every run.
#[test]
fn a_locked_python_store_passes_and_the_unlocked_one_is_caught() {
    let scenarios = [
        "--scenario",
        "keygen-race",
        "--scenario",
        "put-race",
        "--scenario",
        "crash-keygen",
        "--scenario",
        "crash-states",
    ];
    let (code, report) = traced("locked", &scenarios);
    assert_eq!(code, Some(0), "{report}");
    for id in ["keygen-race", "put-race", "crash-keygen", "crash-states"] {
        assert!(row(&report, id).contains("passed"), "{report}");
    }
    let (code, report) = traced("unlocked", &["--scenario", "put-race"]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains("every acknowledged secret reads back exactly after concurrent puts"),
        "{report}"
    );
    assert!(report.contains("schedule "), "{report}");
}

/// A store that polls for its lock (an O_EXCL lock file, or flock with LOCK_NB, retried
/// after a sleep) neither hangs the exploration nor is reported: an actor that repeats a
/// failing call waits until another actor moves.
#[test]
fn polling_locks_neither_hang_nor_fail_the_exploration() {
    for mode in ["polled", "nbflock"] {
        let (code, report) = traced(mode, &["--scenario", "put-race", "--timeout", "20"]);
        assert_eq!(code, Some(0), "{mode}: {report}");
        assert!(row(&report, "put-race").contains("passed"), "{report}");
        assert!(report.contains("exhaustive within the bound"), "{report}");
    }
}

/// A store that gives up on its lock after two attempts fails a put whenever the holder is
/// preempted that long, and the violation says the scheduler held the holder through the
/// retries: the store's bounded patience, not a race lost under any timing.
#[test]
fn a_retry_loop_before_a_failure_is_named() {
    let (code, report) = traced("impatient", &["--scenario", "put-race", "--timeout", "20"]);
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("→ BUSY"), "{report}");
    let note = report
        .lines()
        .find(|l| l.trim_start().starts_with("note: actor"))
        .unwrap_or_else(|| panic!("no retry note: {report}"));
    assert!(
        note.contains("repeated the failing call `flock round-")
            && note.contains("/store/.lock exclusive` while the scheduler held actor"),
        "{report}"
    );
}

/// A put that replaces one file and then creates another: ext4 hands the new file the inode
/// number just freed, which must not merge the two files in the crash states (a false alarm
/// before the recorder gave every new file its own identity).
#[test]
fn a_reused_inode_number_is_a_new_file() {
    let (code, report) = traced("indexed", &["--scenario", "crash-states"]);
    assert_eq!(code, Some(0), "{report}");
    assert!(row(&report, "crash-states").contains("passed"), "{report}");
}

/// A put of more unsynced operations than the crash states try every subset of: the
/// enumeration falls back to ALICE's heuristics, and the report says so per scenario in text
/// and JSON; a cut-short search never reads as complete.
#[test]
fn a_cut_short_crash_enumeration_is_reported_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("r.json");
    let (code, report) = traced(
        "chunked",
        &[
            "--scenario",
            "crash-states",
            "--rounds",
            "1",
            "--json",
            json.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(code, Some(0), "{report}");
    assert!(
        report.contains("the enumeration was NOT exhaustive: ")
            && report.contains("operations could each be lost at one crash point"),
        "{report}"
    );
    let parsed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("json");
    let coverage = &parsed["scenarios"][0]["coverage"];
    assert_eq!(coverage["strategy"], "crash-states", "{parsed}");
    assert_eq!(coverage["enumeration_exhaustive"], false, "{parsed}");
    assert!(coverage["states"].as_u64() > Some(0), "{parsed}");
    assert!(
        coverage["cut_short"][0]
            .as_str()
            .is_some_and(|why| why.contains("prefix and omit-one heuristics")),
        "{parsed}"
    );
    // The same store with one write per file is enumerated exhaustively.
    let (code, report) = traced("locked", &["--scenario", "crash-states", "--rounds", "1"]);
    assert_eq!(code, Some(0), "{report}");
    assert!(
        report.contains("the enumeration was exhaustive"),
        "{report}"
    );
}

/// Writes through a shared writable mapping bypass every system call: such a run is
/// reported as not judged, never as passed.
#[test]
fn writes_through_a_shared_mapping_are_not_judged() {
    let (code, report) = traced(
        "mmap",
        &["--scenario", "put-race", "--scenario", "crash-keygen"],
    );
    // Nothing was judged: exit 2, never a pass.
    assert_eq!(code, Some(2), "{report}");
    for id in ["put-race", "crash-keygen"] {
        assert!(row(&report, id).contains("skipped"), "{report}");
        assert!(
            report.contains(&format!("{id} skipped: unsupported, not judged")),
            "{report}"
        );
    }
}

/// io_uring_setup fails with ENOSYS under the tracer, so a store that would write through
/// io_uring falls back to calls the tracer sees, and is judged.
#[test]
fn io_uring_is_denied_so_a_store_falls_back_and_is_judged() {
    let (code, report) = traced("uring", &["--scenario", "crash-keygen"]);
    assert_eq!(code, Some(0), "{report}");
    assert!(row(&report, "crash-keygen").contains("passed"), "{report}");
}

/// A crash-state violation names the state (what persisted, what was lost or torn), the
/// profile, the recorded calls, and a re-run command that finds it again.
#[test]
fn a_crash_state_violation_names_its_state_and_reruns() {
    let output = keyrace(&[
        "check",
        "--explore",
        "--scenario",
        "crash-states",
        "--seed",
        "5",
        "--adapter",
        ADAPTER,
        "--mutant",
        "put-in-place-one-write",
    ]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.contains("state: power loss after op"), "{report}");
    assert!(report.contains("profile"), "{report}");
    assert!(report.contains("the writer's recorded calls:"), "{report}");
    assert!(report.contains("set length of"), "{report}");
    let rerun = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("re-run: keyrace "))
        .expect("a re-run command");
    let again = common::keyrace_command()
        .args(rerun.split_whitespace())
        .output()
        .expect("re-run");
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("state: power loss after op"));
}

/// `keyrace ARGS` under a seccomp policy that refuses ptrace to the runner, as a container
/// runtime's default profile does.
/// The last lines of a run's stdout, which must be the notice of a run weaker than full.
fn weaker_notice(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut tail: Vec<&str> = stdout.lines().rev().take(6).collect();
    tail.reverse();
    let tail = tail.join("\n");
    assert!(tail.contains("!! WEAKER THAN FULL"), "{stdout}");
    tail
}

fn keyrace_where_ptrace_is_refused(args: &[&str]) -> std::process::Output {
    use std::collections::BTreeMap;
    use std::os::unix::process::CommandExt;

    let filter: seccompiler::BpfProgram = seccompiler::SeccompFilter::new(
        BTreeMap::from([(nix::libc::SYS_ptrace, Vec::new())]),
        seccompiler::SeccompAction::Allow,
        seccompiler::SeccompAction::Errno(nix::libc::EPERM as u32),
        std::env::consts::ARCH
            .try_into()
            .expect("a seccomp architecture"),
    )
    .and_then(TryInto::try_into)
    .expect("filter");
    let mut command = common::keyrace_command();
    command.args(args);
    #[allow(unsafe_code)]
    // SAFETY: the closure only installs a prebuilt filter (prctl and seccomp calls).
    unsafe {
        command.pre_exec(move || {
            seccompiler::apply_filter(&filter).map_err(|_| std::io::Error::other("seccomp"))
        });
    }
    command.output().expect("run keyrace")
}

/// Where ptrace is refused, the default command falls back loudly: racing scenarios run by
/// chance, crash-state scenarios are reported as not run with the cause and the fix, the
/// fault scenarios run as always, and the last lines say the run was weaker than full.
/// `--require-systematic` turns that into exit 2; a weaker run never pretends to be full.
#[test]
fn where_ptrace_is_refused_the_full_mode_falls_back_loudly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("r.json");
    let json_arg = json.to_str().expect("utf-8 path");
    let scenarios = [
        "--scenario",
        "keygen-race",
        "--scenario",
        "crash-keygen",
        "--scenario",
        "no-stable-key",
        "--rounds",
        "3",
    ];
    let mut args = vec!["check"];
    args.extend_from_slice(&scenarios);
    args.extend_from_slice(&["--json", json_arg]);
    let output = keyrace_where_ptrace_is_refused(&args);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert!(row(&report, "keygen-race").contains("chance"), "{report}");
    assert!(row(&report, "no-stable-key").contains("passed"), "{report}");
    assert!(row(&report, "crash-keygen").contains("skipped"), "{report}");
    assert!(
        report.contains("crash-keygen skipped: NOT RUN: crash states need the tracer"),
        "{report}"
    );
    let tail = weaker_notice(&output);
    assert!(tail.contains("seccomp policy that denies ptrace"), "{tail}");
    assert!(tail.contains("--cap-add SYS_PTRACE"), "{tail}");
    assert!(
        tail.contains("crash-state scenarios NOT RUN: crash-keygen"),
        "{tail}"
    );
    assert!(tail.contains("ran by chance instead"), "{tail}");
    let parsed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("json");
    assert_eq!(parsed["weaker"]["not_run"][0], "crash-keygen", "{parsed}");
    assert_eq!(parsed["weaker"]["by_chance"][0], "keygen-race", "{parsed}");

    // Two workers' merged report closes with the same notice, its lists joined from both
    // shards (keygen-race and crash-keygen fall in different ones).
    let mut jobs = args.clone();
    jobs.extend_from_slice(&["--jobs", "2"]);
    let output = keyrace_where_ptrace_is_refused(&jobs);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let tail = weaker_notice(&output);
    assert!(
        tail.contains("crash-state scenarios NOT RUN: crash-keygen"),
        "{tail}"
    );
    assert!(
        tail.contains("ran by chance instead of as controlled interleavings: keygen-race"),
        "{tail}"
    );

    args.push("--require-systematic");
    let output = keyrace_where_ptrace_is_refused(&args);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(2), "{report}");
    assert!(report.contains("--require-systematic: exit 2"), "{report}");

    // A violation stays the headline of a weaker run.
    let mut args = vec![
        "check",
        "--scenario",
        "no-stable-key",
        "--require-systematic",
    ];
    args.extend_from_slice(&["--adapter", ADAPTER, "--mutant", "silent-ephemeral"]);
    let output = keyrace_where_ptrace_is_refused(&args);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
}

/// Threads inside one actor (a store whose puts run on two threads, each taking the flock
/// through its own descriptor): when one thread's lock waits on a sibling the scheduler holds,
/// the explorer releases the sibling (a call not waiting for a lock goes first, and a released
/// thread is waited for until it stops again or parks). Before, such schedules ended as a
/// false "every actor waits for a lock" within the first few hundred.
#[test]
fn threads_of_one_actor_waiting_on_each_other_are_explored_without_deadlock() {
    let (code, report) = traced(
        "threaded",
        &[
            "--scenario",
            "put-race",
            "--rounds",
            "300",
            "--no-reduction",
            "--timeout",
            "20",
        ],
    );
    assert_eq!(code, Some(0), "{report}");
    assert!(row(&report, "put-race").contains("passed"), "{report}");
    assert!(report.contains("300 schedules"), "{report}");
    assert!(!report.contains("waits for a lock"), "{report}");
}

/// The secrets-engine "hang", reproduced without Bun: a store whose every request is slow
/// makes judging one recording's crash states take minutes, silently. The judging now stops
/// when the scenario's time (`--time`) is spent, and says so.
#[test]
fn judging_crash_states_stops_with_the_time_budget() {
    let script = repo_root().join("cli/tests/adapters/traced.py");
    let script = script.to_str().expect("utf-8 path");
    let python = python3();
    let (code, text, report) = common::check_json(&[
        "--explore",
        "--seed",
        "3",
        "--scenario",
        "crash-states",
        "--time",
        "3",
        "--adapter",
        &python,
        script,
        "slow",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("the time budget ran out after"), "{text}");
    let crash = common::scenario(&report, "crash-states");
    assert_eq!(crash["coverage"]["enumeration_exhaustive"], false, "{text}");
    // Within its budget plus the default --timeout (10 s). Every state judged costs six
    // requests of at least 300 ms: judged in full, this took about 20 s.
    let seconds = crash["seconds"].as_f64().expect("seconds");
    assert!(seconds < 3.0 + 10.0, "{seconds} s: {text}");
}

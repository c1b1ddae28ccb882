//! A broken adapter is an adapter fault (exit 2) with its stderr tail, never a hang or a
//! panic, and every process it started is gone afterwards; a missing op means "skipped".

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{keyrace, text};

const HELLO: &str =
    r#"{"protocol":"keyrace-adapter/1","name":"broken","ops":["open","put","get"]}"#;

/// `keyrace check` of a shell-script adapter, with a short reply deadline.
fn check_script(script: &str, scenario: &str) -> (Option<i32>, String, Duration) {
    check_script_with(&[], script, scenario)
}

/// [`check_script`] with `extra` arguments before `--adapter`.
fn check_script_with(
    extra: &[&str],
    script: &str,
    scenario: &str,
) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut args = vec![
        "check",
        "--scenario",
        scenario,
        "--rounds",
        "1",
        "--timeout",
        "1",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--adapter", "sh", "-c", script]);
    let output = keyrace(&args);
    (output.status.code(), text(&output), started.elapsed())
}

/// Every helper pid the adapters appended to `pid_file` (one line each: a scenario starts one
/// adapter per actor, so they must append, not truncate each other's lines) is not running.
fn assert_gone(pid_file: &Path) {
    let pids = std::fs::read_to_string(pid_file).expect("the adapters wrote their helpers' pids");
    let pids: Vec<&str> = pids.lines().map(str::trim).collect();
    assert!(!pids.is_empty(), "no helper pid written");
    for pid in pids {
        assert!(
            !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()),
            "not a pid: {pid:?}"
        );
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        // Gone, or a zombie waiting for a reaper that is not ours: either way, not running.
        if let Ok(stat) = stat {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            assert_eq!(state, Some("Z"), "helper {pid} still running: {stat}");
        }
    }
}

/// In one run and in the merged report of two workers alike.
#[test]
fn adapter_that_exits_at_once_is_a_fault_with_its_stderr() {
    for extra in [&[][..], &["--jobs", "2"]] {
        let (code, report, _) = check_script_with(
            extra,
            "echo 'cannot find my store library' >&2; exit 3",
            "put-race",
        );
        assert_eq!(code, Some(2), "{extra:?}: {report}");
        // It failed at its start, not in a round.
        assert!(
            report.contains("put-race before its first round: ADAPTER FAULT"),
            "{extra:?}: {report}"
        );
        assert!(report.contains("exit code 3"), "{extra:?}: {report}");
        // The report's own lines (stdout), not a worker's relayed stderr.
        assert!(
            report.contains("\n    | cannot find my store library"),
            "{extra:?}: {report}"
        );
    }
}

#[test]
fn adapter_that_prints_garbage_is_a_fault() {
    let script = format!("echo '{HELLO}'; read line; echo 'this is not json'; echo 'garbage follows' >&2; cat >/dev/null");
    let (code, report, _) = check_script(&script, "put-race");
    assert_eq!(code, Some(2), "{report}");
    assert!(report.contains("broke the protocol"), "{report}");
    assert!(report.contains("garbage follows"), "{report}");
}

#[test]
fn adapter_that_answers_with_the_wrong_id_is_a_fault() {
    let script =
        format!(r#"echo '{HELLO}'; while read line; do echo '{{"id":999,"ok":true}}'; done"#);
    let (code, report, _) = check_script(&script, "put-race");
    assert_eq!(code, Some(2), "{report}");
    assert!(report.contains("carries id 999"), "{report}");
}

#[test]
fn adapter_that_never_answers_times_out_and_is_killed_with_its_children() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    let script = format!(
        "sleep 300 & echo $! >> {}; echo '{HELLO}'; echo 'thinking...' >&2; wait",
        pid_file.display()
    );
    let (code, report, took) = check_script(&script, "put-race");
    assert_eq!(code, Some(2), "{report}");
    assert!(report.contains("no answer"), "{report}");
    assert!(report.contains("thinking..."), "{report}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_gone(&pid_file);
}

#[test]
fn adapter_without_hello_times_out() {
    let (code, report, took) = check_script("exec sleep 300", "put-race");
    assert_eq!(code, Some(2), "{report}");
    assert!(report.contains("before its hello line"), "{report}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn scenario_needing_a_missing_op_is_skipped_not_passed_and_nothing_checked_is_exit_2() {
    let script = format!("echo '{HELLO}'; cat >/dev/null");
    let (code, report, _) = check_script(&script, "double-bootstrap");
    assert_eq!(code, Some(2), "{report}");
    assert!(
        report.contains(keyrace_runner::report::NOTHING_CHECKED),
        "{report}"
    );
    let row = report
        .lines()
        .find(|line| line.starts_with("double-bootstrap"))
        .expect("row");
    assert!(row.contains("skipped"), "{row}");
    assert!(report.contains("does not implement consume"), "{report}");
}

#[test]
fn ctrl_c_kills_and_reaps_every_adapter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    let script = format!(
        "sleep 300 & echo $! >> {}; echo '{HELLO}'; wait",
        pid_file.display()
    );
    let mut child = common::keyrace_command()
        .args([
            "check",
            "--scenario",
            "put-race",
            "--timeout",
            "300",
            "--adapter",
            "sh",
            "-c",
            &script,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start keyrace");
    // Wait until the adapter is up (it writes the pid file before its hello).
    let started = Instant::now();
    while std::fs::read_to_string(&pid_file).map_or(true, |s| !s.ends_with('\n')) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "adapter never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let status = child.wait().expect("keyrace exits");
    assert_eq!(status.code(), Some(130));
    assert_gone(&pid_file);
}

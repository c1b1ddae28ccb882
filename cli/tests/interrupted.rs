//! A run cut short by SIGTERM (a CI job's timeout) or SIGINT keeps what it found: the report
//! of what ran so far is printed and written, with each violation's re-run line, and the exit
//! code stays 1 when an invariant broke (else 128 + n).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use common::ADAPTER;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

struct Interrupted {
    code: Option<i32>,
    stdout: String,
    json: serde_json::Value,
    junit: String,
}

/// Start a long run, wait until its progress line reports `violating` violating rounds so far
/// (any number when `None`), then send `signal`. With `close_stderr`, the runner's stderr is
/// closed before the signal (a log collector gone): the report must not depend on it.
fn interrupt_when(
    mutant: Option<&str>,
    violating: Option<u32>,
    signal: Signal,
    close_stderr: bool,
) -> Interrupted {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("r.json");
    let junit = dir.path().join("r.xml");
    let mut command = common::keyrace_command();
    command
        .args(["check", "--mode", "chance", "--scenario", "no-stable-key"])
        // Never reached: listed as not run.
        .args(["--scenario", "put-race"])
        .args(["--rounds", "1000000", "--seed", "4"])
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .args(["--adapter", ADAPTER]);
    if let Some(mutant) = mutant {
        command.args(["--mutant", mutant]);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keyrace");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    for line in stderr.by_ref() {
        let line = line.expect("stderr line");
        seen.push(line.clone());
        // keyrace: no-stable-key: round 57/1000000, 57 violating rounds so far
        let count = line
            .strip_prefix("keyrace: no-stable-key: round ")
            .and_then(|rest| rest.split(", ").nth(1))
            .and_then(|v| v.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(count) = count {
            if violating.is_none_or(|want| count >= want) {
                kill(Pid::from_raw(child.id() as i32), signal).expect("signal keyrace");
                break;
            }
        }
    }
    if close_stderr {
        drop(stderr);
    } else {
        seen.extend(stderr.map_while(Result::ok));
    }
    let status = child.wait().expect("keyrace ended");
    let stdout = reader.join().expect("stdout reader");
    assert!(
        status.code().is_some(),
        "keyrace died of the signal instead of reporting: {seen:?}"
    );
    Interrupted {
        code: status.code(),
        json: serde_json::from_slice(&std::fs::read(&json).expect("json written on interrupt"))
            .expect("valid json"),
        junit: std::fs::read_to_string(&junit).expect("junit written on interrupt"),
        stdout,
    }
}

#[test]
fn a_sigterm_mid_run_keeps_the_findings_and_exit_1() {
    let run = interrupt_when(Some("silent-ephemeral"), Some(3), Signal::SIGTERM, false);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        run.stdout.contains("no-stable-key: VIOLATION in"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("re-run: keyrace check --scenario no-stable-key --seed 4"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("INTERRUPTED by SIGTERM"),
        "{}",
        run.stdout
    );
    let scenario = &run.json["scenarios"][0];
    assert_eq!(scenario["status"], "failed");
    assert!(
        scenario["violating_rounds"].as_u64() >= Some(3),
        "{}",
        run.json
    );
    // The scenario the signal cut ran (and failed): cut short, not skipped. The one after it
    // is listed as not run.
    assert!(
        run.stdout
            .contains("no-stable-key cut short: interrupted by SIGTERM after"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("put-race not run: the run was interrupted (SIGTERM) before it started"),
        "{}",
        run.stdout
    );
    assert_eq!(run.json["scenarios"][1]["id"], "put-race", "{}", run.json);
    assert_eq!(
        run.json["scenarios"][1]["status"], "skipped",
        "{}",
        run.json
    );
    assert_eq!(run.json["interrupted"]["signal"], "SIGTERM");
    assert_eq!(run.json["exit_code"], 1);
    assert!(run.junit.contains("type=\"violation\""), "{}", run.junit);
}

#[test]
fn a_sigint_without_findings_reports_what_ran_and_exits_130_with_its_stderr_closed() {
    let run = interrupt_when(None, None, Signal::SIGINT, true);
    assert_eq!(run.code, Some(130), "{}", run.stdout);
    assert!(
        run.stdout.contains("INTERRUPTED by SIGINT"),
        "{}",
        run.stdout
    );
    assert!(
        run.json["scenarios"][0]["rounds"].as_u64() > Some(0),
        "{}",
        run.json
    );
    assert_eq!(run.json["exit_code"], 130);
}

//! A run cut short by SIGTERM (a CI job's timeout) or SIGINT keeps what it found: the report
//! of what ran so far is printed and written, with each violation's re-run line, and the exit
//! code stays 1 when an invariant broke (else 128 + n).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use common::ADAPTER;
use std::os::unix::process::CommandExt;

use nix::sys::signal::{kill, killpg, Signal};
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
    interrupt_in(&[], mutant, violating, (signal, To::Keyrace), close_stderr)
}

/// Whom the signal is sent to.
#[derive(Clone, Copy, PartialEq)]
enum To {
    /// keyrace's process alone.
    Keyrace,
    /// keyrace's process group, as a terminal's Ctrl-C or GNU timeout sends it (keyrace is
    /// started in a group of its own).
    Group,
}

/// [`interrupt_when`], with `extra` arguments (`--jobs 2`), the signal sent as `to` says.
fn interrupt_in(
    extra: &[&str],
    mutant: Option<&str>,
    violating: Option<u32>,
    (signal, to): (Signal, To),
    close_stderr: bool,
) -> Interrupted {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("r.json");
    let junit = dir.path().join("r.xml");
    let mut command = common::keyrace_command();
    command
        .args(["check", "--mode", "chance", "--scenario", "no-stable-key"])
        // One run never reaches it (listed as not run); the second of two workers runs it.
        .args(["--scenario", "put-race"])
        .args(["--rounds", "1000000", "--seed", "4"])
        .args(extra)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .args(["--adapter", ADAPTER]);
    if let Some(mutant) = mutant {
        command.args(["--mutant", mutant]);
    }
    let mut child = command
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keyrace");
    let watchdog = Watchdog::new(child.id());
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
        // keyrace: no-stable-key: round 57/1000000, 57 violating rounds so far (a worker's:
        // keyrace [worker 1/2]: no-stable-key: …)
        let count = line
            .strip_prefix("keyrace")
            .and_then(|rest| rest.split_once(": no-stable-key: round "))
            .and_then(|(_, rest)| rest.split(", ").nth(1))
            .and_then(|v| v.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(count) = count {
            if violating.is_none_or(|want| count >= want) {
                let pid = Pid::from_raw(child.id() as i32);
                match to {
                    To::Keyrace => kill(pid, signal),
                    To::Group => killpg(pid, signal),
                }
                .expect("signal keyrace");
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
    watchdog.disarm();
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

/// A `--jobs` run's workers, stopped by the signal, each report what they ran; the merged
/// report keeps the findings with their re-run lines, and says the run's own signal.
#[test]
fn two_workers_stopped_by_a_signal_report_what_they_ran() {
    let jobs = ["--jobs", "2"];
    // Ctrl-C at a terminal: SIGINT to the whole group. Each worker must hear it once, from
    // the parent, or it exits at once without its report.
    let run = interrupt_in(
        &jobs,
        Some("silent-ephemeral"),
        Some(3),
        (Signal::SIGINT, To::Group),
        false,
    );
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    for said in [
        ", 2 shards merged",
        "no-stable-key: VIOLATION in",
        "re-run: keyrace check --scenario no-stable-key --seed 4",
        "INTERRUPTED by SIGINT",
    ] {
        assert!(run.stdout.contains(said), "{said}: {}", run.stdout);
    }
    // Rows in the run's order, as one run lists them.
    let ids: Vec<&str> = run.json["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, ["no-stable-key", "put-race"], "{}", run.json);
    let found = common::scenario(&run.json, "no-stable-key");
    assert_eq!(found["status"], "failed", "{}", run.json);
    assert_eq!(run.json["interrupted"]["signal"], "SIGINT");
    assert_eq!(run.json["exit_code"], 1);
    assert!(run.junit.contains("type=\"violation\""), "{}", run.junit);

    // SIGHUP to the parent alone, its stderr closed: it stops its workers with SIGTERM, and
    // the run reports the SIGHUP it got, with its exit code.
    let run = interrupt_in(&jobs, None, None, (Signal::SIGHUP, To::Keyrace), true);
    assert_eq!(run.code, Some(129), "{}", run.stdout);
    assert!(
        run.stdout.contains("INTERRUPTED by SIGHUP"),
        "{}",
        run.stdout
    );
    assert_eq!(run.json["interrupted"]["signal"], "SIGHUP", "{}", run.json);
    assert_eq!(run.json["exit_code"], 129);
    assert!(
        common::scenario(&run.json, "no-stable-key")["rounds"].as_u64() > Some(0),
        "{}",
        run.json
    );
}

/// A `--jobs` run's workers are each the leader of a process group of their own (so that a
/// signal to keyrace's group reaches only keyrace, which stops each worker once), and end
/// with keyrace, their actors with them, even when it is killed outright.
#[test]
fn workers_run_in_groups_of_their_own_and_end_with_their_parent() {
    let mut child = common::keyrace_command()
        .args(["check", "--mode", "chance", "--scenario", "no-stable-key"])
        .args([
            "--scenario",
            "put-race",
            "--rounds",
            "1000000",
            "--jobs",
            "2",
        ])
        .args(["--adapter", ADAPTER])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keyrace");
    let pid = child.id();
    let watchdog = Watchdog::new(pid);
    let mut groups = KillOnDrop(Vec::new());
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    // Both workers have started once each has said something.
    let mut heard = std::collections::BTreeSet::new();
    for line in stderr.by_ref() {
        let line = line.expect("stderr line");
        for worker in ["1/2", "2/2"] {
            if line.starts_with(&format!("keyrace [worker {worker}]: ")) {
                heard.insert(worker);
            }
        }
        if heard.len() == 2 {
            break;
        }
    }
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .expect("the children of keyrace's main thread");
    let workers: Vec<i32> = children
        .split_whitespace()
        .map(|p| p.parse().expect("a pid"))
        .collect();
    assert_eq!(workers.len(), 2, "{children}");
    groups.0.extend(&workers);
    for &worker in &workers {
        assert_eq!(
            nix::unistd::getpgid(Some(Pid::from_raw(worker))),
            Ok(Pid::from_raw(worker)),
            "worker {worker} leads no group of its own"
        );
    }
    // Their actors: they end with their worker.
    let actors: Vec<i32> = workers
        .iter()
        .flat_map(|w| {
            std::fs::read_to_string(format!("/proc/{w}/task/{w}/children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill keyrace");
    child.wait().expect("keyrace reaped");
    // Its pid is free now, for any process to take.
    watchdog.disarm();
    // The workers are SIGTERMed by the kernel when their parent dies; each stops its actors.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for process in workers.iter().chain(&actors) {
        while running(*process) {
            assert!(
                std::time::Instant::now() < deadline,
                "{process} (of workers {workers:?}, actors {actors:?}) outlived keyrace"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    // Gone: their pids are free too.
    groups.0.clear();
}

/// keyrace's process group, killed when the test has waited `LIMIT` for it (a line it waits
/// for never came) or ends without disarming it (it failed): a failure neither hangs nor
/// leaves a run behind.
struct Watchdog {
    group: i32,
    disarm: Option<std::sync::mpsc::Sender<()>>,
}

impl Watchdog {
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

    fn new(group: u32) -> Watchdog {
        let group = group as i32;
        let (disarm, disarmed) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if disarmed.recv_timeout(Watchdog::LIMIT)
                == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
            {
                let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
            }
        });
        Watchdog {
            group,
            disarm: Some(disarm),
        }
    }

    /// keyrace has been reaped: its group's id is free, for any process to take.
    fn disarm(mut self) {
        if let Some(disarm) = self.disarm.take() {
            let _ = disarm.send(());
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(disarm) = self.disarm.take() {
            let _ = killpg(Pid::from_raw(self.group), Signal::SIGKILL);
            let _ = disarm.send(());
        }
    }
}

/// Process groups killed when a test ends, failed or not, so that a failure leaves no run behind.
struct KillOnDrop(Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &group in &self.0 {
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
    }
}

/// Whether `pid` is a process that has not exited (a zombie has).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            != Some("Z")
    })
}

//! The runner against hostile and broken adapters (`tests/adapters/hostile.py`, one mode per
//! misbehaviour): every run is bounded in time and memory, exits with the right code, leaves
//! no process and no scratch directory behind, and never touches a file outside its scratch
//! directory.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{keyrace_bin, python3, repo_root};

/// A peak resident set the runner must stay under, whatever the adapter prints.
const RSS_LIMIT_KB: u64 = 100 * 1024;

struct Outcome {
    code: Option<i32>,
    report: String,
    took: Duration,
    peak_rss_kb: u64,
}

/// One test's world: a private TMPDIR (so leftover scratch directories are visible), the
/// adapter's state directory, and victim files outside the scratch directory.
struct World {
    root: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let world = World {
            root: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir_all(world.tmpdir()).expect("tmpdir");
        std::fs::create_dir_all(world.victim()).expect("victim dir");
        for name in ["a", "b"] {
            std::fs::write(world.victim().join(name), b"precious").expect("victim file");
        }
        world
    }

    fn tmpdir(&self) -> PathBuf {
        self.root.path().join("tmp")
    }

    fn state(&self) -> &Path {
        self.root.path()
    }

    fn victim(&self) -> PathBuf {
        self.root.path().join("victim")
    }

    fn command(&self, mode: &str, args: &[&str]) -> Command {
        let script = repo_root().join("scenarios/tests/adapters/hostile.py");
        let mut command = Command::new(keyrace_bin());
        command
            .args(args)
            .arg("--adapter")
            .arg(python3())
            .arg(script)
            .arg(mode)
            .arg(self.state())
            .env("TMPDIR", self.tmpdir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Run `keyrace ARGS --adapter hostile.py MODE STATE`, measuring its peak RSS.
    fn run(&self, mode: &str, args: &[&str]) -> Outcome {
        self.run_then(mode, args, |_| {})
    }

    /// Like [`World::run`], calling `during(pid)` once the runner is up.
    fn run_then(&self, mode: &str, args: &[&str], during: impl FnOnce(u32)) -> Outcome {
        let started = Instant::now();
        let mut child = self.command(mode, args).spawn().expect("start keyrace");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let out = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let pid = child.id();
        during(pid);
        let mut peak_rss_kb = 0;
        let status = loop {
            peak_rss_kb = peak_rss_kb.max(high_water_mark_kb(pid).unwrap_or(0));
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("keyrace hung for 120 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let report = format!(
            "{}{}",
            out.join().expect("stdout reader"),
            err.join().expect("stderr reader")
        );
        Outcome {
            code: status.code(),
            report,
            took: started.elapsed(),
            peak_rss_kb,
        }
    }

    /// No helper the adapter recorded is still running, no scratch directory is left, the
    /// victim files are intact.
    fn assert_contained(&self, outcome: &Outcome) {
        let report = &outcome.report;
        assert!(
            outcome.peak_rss_kb < RSS_LIMIT_KB,
            "peak RSS {} KiB: {report}",
            outcome.peak_rss_kb
        );
        let pids = std::fs::read_to_string(self.state().join("pids")).unwrap_or_default();
        for pid in pids.lines() {
            assert!(!running(pid), "helper {pid} survived the run: {report}");
        }
        let left: Vec<_> = std::fs::read_dir(self.tmpdir())
            .expect("tmpdir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "left behind in TMPDIR: {left:?}\n{report}");
        let mut victims: Vec<_> = std::fs::read_dir(self.victim())
            .expect("victim dir survives")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name == "a" || name == "b")
            .collect();
        victims.sort();
        assert_eq!(victims, ["a", "b"], "{report}");
        for name in ["a", "b"] {
            assert_eq!(
                std::fs::read(self.victim().join(name)).expect("victim readable"),
                b"precious",
                "victim {name} was changed: {report}"
            );
        }
    }
}

/// Peak resident set of `pid` (VmHWM), while it runs.
fn high_water_mark_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Running, and not a zombie waiting for some reaper.
fn running(pid: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) else {
        return false;
    };
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().next());
    state != Some("Z")
}

fn assert_bounded(outcome: &Outcome, limit: Duration) {
    assert!(
        outcome.took < limit,
        "took {:?} (limit {limit:?}): {}",
        outcome.took,
        outcome.report
    );
}

#[test]
fn an_adapter_that_never_reads_its_requests_cannot_hang_the_runner() {
    let world = World::new();
    let outcome = world.run(
        "no-read",
        &[
            "check",
            "--scenario",
            "keygen-race",
            "--actors",
            "1",
            "--rounds",
            "100000",
            "--timeout",
            "5",
        ],
    );
    assert!(matches!(outcome.code, Some(1 | 2)), "{}", outcome.report);
    assert!(
        outcome.report.contains("before reading all of it"),
        "{}",
        outcome.report
    );
    assert_bounded(&outcome, Duration::from_secs(60));
    world.assert_contained(&outcome);
}

#[test]
fn a_flood_of_output_is_a_fault_with_bounded_memory() {
    let world = World::new();
    let outcome = world.run(
        "flood",
        &[
            "check",
            "--scenario",
            "keygen-race",
            "--rounds",
            "3",
            "--timeout",
            "5",
        ],
    );
    assert_eq!(outcome.code, Some(2), "{}", outcome.report);
    // The limit, or the first junk line if the runner read before the limit was reached.
    assert!(
        outcome
            .report
            .contains("bytes to stdout that no request asked for")
            || outcome.report.contains("EOF while parsing"),
        "{}",
        outcome.report
    );
    assert_bounded(&outcome, Duration::from_secs(60));
    world.assert_contained(&outcome);

    // Output nobody reads (the runner waits for the exit after EOF) must not pile up either.
    let outcome = world.run(
        "flood-at-eof",
        &[
            "check",
            "--scenario",
            "restart-durability",
            "--rounds",
            "1",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(outcome.code, Some(2), "{}", outcome.report);
    assert!(
        outcome.report.contains("did not exit"),
        "{}",
        outcome.report
    );
    assert_bounded(&outcome, Duration::from_secs(60));
    world.assert_contained(&outcome);
}

#[test]
fn a_store_replaced_by_a_symlink_is_a_violation_and_its_target_is_untouched() {
    let world = World::new();
    for scenario in [
        "failed-open-releases-handles",
        "recover-corrupt",
        "delete-reset",
    ] {
        let outcome = world.run(
            "symlink-store",
            &[
                "check",
                "--scenario",
                scenario,
                "--rounds",
                "3",
                "--timeout",
                "5",
            ],
        );
        assert_eq!(outcome.code, Some(1), "{scenario}: {}", outcome.report);
        assert!(
            outcome.report.contains("was replaced by a symlink"),
            "{scenario}: {}",
            outcome.report
        );
        world.assert_contained(&outcome);
    }
}

#[test]
fn a_hard_link_to_an_outside_file_is_never_written_through() {
    let world = World::new();
    for scenario in ["failed-open-releases-handles", "recover-corrupt"] {
        let outcome = world.run(
            "hardlink",
            &[
                "check",
                "--scenario",
                scenario,
                "--rounds",
                "10",
                "--timeout",
                "5",
            ],
        );
        assert_eq!(outcome.code, Some(1), "{scenario}: {}", outcome.report);
        assert!(
            outcome.report.contains("hard links"),
            "{scenario}: {}",
            outcome.report
        );
        world.assert_contained(&outcome);
    }
}

#[test]
fn helpers_that_leave_the_process_group_are_killed_after_a_passing_run() {
    let world = World::new();
    let outcome = world.run(
        "escape",
        &[
            "check",
            "--scenario",
            "restart-durability",
            "--scenario",
            "keygen-race",
            "--rounds",
            "2",
        ],
    );
    assert_eq!(outcome.code, Some(0), "{}", outcome.report);
    let helpers = std::fs::read_to_string(world.state().join("pids")).unwrap_or_default();
    assert!(
        helpers.lines().count() >= 2,
        "the adapter started no helper"
    );
    world.assert_contained(&outcome);
}

#[test]
fn sigint_sigterm_and_sighup_kill_everything_clean_up_and_exit_128_plus_the_signal() {
    use rustix::process::Signal;
    for (signal, code) in [(Signal::INT, 130), (Signal::TERM, 143), (Signal::HUP, 129)] {
        for _ in 0..3 {
            let world = World::new();
            let pids = world.state().join("pids");
            let outcome = world.run_then(
                "escape",
                &["check", "--scenario", "keygen-race", "--rounds", "100000"],
                |pid| {
                    // Wait until the adapters have started their helpers (mid-run).
                    let started = Instant::now();
                    while std::fs::read_to_string(&pids).map_or(0, |s| s.lines().count()) < 4 {
                        assert!(started.elapsed() < Duration::from_secs(60), "no helpers");
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    let pid = rustix::process::Pid::from_raw(pid as i32).expect("pid");
                    rustix::process::kill_process(pid, signal).expect("signal");
                },
            );
            assert_eq!(outcome.code, Some(code), "{signal:?}: {}", outcome.report);
            assert!(
                outcome
                    .report
                    .contains("every adapter process was killed and reaped; the scratch directory was removed"),
                "{}",
                outcome.report
            );
            assert_bounded(&outcome, Duration::from_secs(60));
            world.assert_contained(&outcome);
        }
    }
}

#[test]
fn a_grandchild_holding_a_store_file_fails_failed_open_releases_handles() {
    let world = World::new();
    let outcome = world.run(
        "grandchild-holds",
        &[
            "check",
            "--scenario",
            "failed-open-releases-handles",
            "--rounds",
            "2",
            "--timeout",
            "5",
        ],
    );
    assert_eq!(outcome.code, Some(1), "{}", outcome.report);
    assert!(
        outcome
            .report
            .contains("a failed open releases every handle inside the store"),
        "{}",
        outcome.report
    );
    world.assert_contained(&outcome);
}

#[test]
fn a_store_that_keeps_secrets_only_in_memory_fails_recover_corrupt() {
    let world = World::new();
    let outcome = world.run(
        "memory-only",
        &[
            "check",
            "--scenario",
            "recover-corrupt",
            "--rounds",
            "3",
            "--timeout",
            "5",
        ],
    );
    assert_eq!(outcome.code, Some(1), "{}", outcome.report);
    assert!(
        outcome.report.contains("never a wrong value"),
        "{}",
        outcome.report
    );
    world.assert_contained(&outcome);
}

#[test]
fn an_adapter_that_implements_no_op_checked_nothing_and_exits_2() {
    let world = World::new();
    let outcome = world.run("no-ops", &["check", "--rounds", "1"]);
    assert_eq!(outcome.code, Some(2), "{}", outcome.report);
    assert!(
        outcome
            .report
            .contains(keyrace_scenarios::report::NOTHING_CHECKED),
        "{}",
        outcome.report
    );
    world.assert_contained(&outcome);
}

#[test]
fn adapter_text_is_escaped_and_cannot_forge_report_lines() {
    let world = World::new();
    let outcome = world.run(
        "inject",
        &[
            "check",
            "--scenario",
            "keygen-race",
            "--rounds",
            "2",
            "--timeout",
            "5",
        ],
    );
    assert_eq!(outcome.code, Some(1), "{}", outcome.report);
    assert!(!outcome.report.contains('\u{1b}'), "{:?}", outcome.report);
    assert!(!outcome.report.contains('\u{7}'), "{:?}", outcome.report);
    for line in outcome.report.lines() {
        let line = line.trim_start();
        assert!(!line.starts_with("re-run: rm"), "forged line: {line}");
        assert!(
            !line.starts_with("all scenarios passed"),
            "forged line: {line}"
        );
    }
    assert!(
        outcome.report.contains("disk on fire\\nre-run: rm -rf ~"),
        "{}",
        outcome.report
    );
    world.assert_contained(&outcome);
}

#[test]
fn an_uncoded_error_is_a_violation_and_does_not_hide_a_lost_update() {
    let world = World::new();
    let outcome = world.run(
        "uncoded",
        &[
            "check",
            "--scenario",
            "keygen-race",
            "--rounds",
            "3",
            "--timeout",
            "5",
        ],
    );
    assert_eq!(outcome.code, Some(1), "{}", outcome.report);
    assert!(
        outcome
            .report
            .contains("every acknowledged secret reads back exactly"),
        "{}",
        outcome.report
    );
    assert!(
        outcome
            .report
            .contains("every error reply carries a stable code"),
        "{}",
        outcome.report
    );
    assert!(
        outcome.report.contains("NOPE_NOT_A_CODE"),
        "{}",
        outcome.report
    );
    world.assert_contained(&outcome);
}

#[test]
fn a_keyless_store_skips_the_key_source_scenario_and_nothing_else_changes() {
    let world = World::new();
    let outcome = world.run(
        "keyless",
        &[
            "check",
            "--scenario",
            "no-stable-key",
            "--scenario",
            "restart-durability",
            "--rounds",
            "1",
        ],
    );
    assert_eq!(outcome.code, Some(0), "{}", outcome.report);
    assert!(
        outcome
            .report
            .contains("no-stable-key skipped: the adapter's hello declares the store keyless"),
        "{}",
        outcome.report
    );
    let row = outcome
        .report
        .lines()
        .find(|line| line.starts_with("restart-durability"))
        .expect("row");
    assert!(row.contains("passed"), "{row}");
    world.assert_contained(&outcome);
}

#[test]
fn an_adapter_that_exits_while_a_child_holds_its_stdout_is_reported_as_exited_at_once() {
    let world = World::new();
    let outcome = world.run(
        "exit-with-child",
        &[
            "check",
            "--scenario",
            "keygen-race",
            "--rounds",
            "1",
            "--timeout",
            "30",
        ],
    );
    assert_eq!(outcome.code, Some(2), "{}", outcome.report);
    assert!(
        outcome.report.contains("exited (exit code 1)"),
        "{}",
        outcome.report
    );
    assert!(outcome.report.contains("giving up"), "{}", outcome.report);
    assert_bounded(&outcome, Duration::from_secs(20));
    world.assert_contained(&outcome);
}

#[test]
fn a_hung_adapter_costs_one_timeout_not_one_per_scenario() {
    let world = World::new();
    let outcome = world.run("hang", &["check", "--timeout", "2"]);
    assert_eq!(outcome.code, Some(2), "{}", outcome.report);
    assert!(outcome.report.contains("no answer"), "{}", outcome.report);
    assert!(
        outcome
            .report
            .contains("not run: the adapter stopped answering in keygen-race"),
        "{}",
        outcome.report
    );
    // One deadline (plus start-up), not nine.
    assert_bounded(&outcome, Duration::from_secs(12));
    world.assert_contained(&outcome);
}

#[test]
fn out_of_range_numbers_are_usage_errors() {
    let world = World::new();
    for args in [
        ["check", "--timeout", "1e19"],
        ["check", "--timeout", "0"],
        ["check", "--time", "-1"],
        ["check", "--time", "1e19"],
        ["check", "--rounds", "0"],
    ] {
        let outcome = world.run("no-ops", &args);
        assert_eq!(outcome.code, Some(2), "{args:?}: {}", outcome.report);
        assert!(!outcome.report.contains("panicked"), "{}", outcome.report);
    }
}

//! The runner against hostile and broken adapters (`tests/adapters/hostile.py`, one mode per
//! misbehaviour): every run is bounded in time and memory, exits with the right code, leaves
//! no process and no scratch directory behind, and never touches a file outside its scratch
//! directory.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{keyrace_command, python3, repo_root};

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
        let script = repo_root().join("cli/tests/adapters/hostile.py");
        let mut command = keyrace_command();
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

    /// Run `keyrace ARGS` (space-separated) against `mode`, and assert its exit code, that the
    /// report says each of `says`, and that the run was contained.
    fn expect(&self, mode: &str, args: &str, code: i32, says: &[&str]) -> Outcome {
        let args: Vec<&str> = args.split(' ').collect();
        let outcome = self.run(mode, &args);
        assert_eq!(
            outcome.code,
            Some(code),
            "{mode} {args:?}: {}",
            outcome.report
        );
        for text in says {
            assert!(
                outcome.report.contains(text),
                "{mode} {args:?}: no {text:?} in\n{}",
                outcome.report
            );
        }
        self.assert_contained(&outcome);
        outcome
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
            "--mode",
            "chance",
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
    let outcome = world.expect(
        "flood-at-eof",
        "check --scenario restart-durability --rounds 1 --timeout 1",
        2,
        &["did not exit"],
    );
    assert_bounded(&outcome, Duration::from_secs(60));
}

#[test]
fn a_store_replaced_by_a_symlink_is_a_violation_and_its_target_is_untouched() {
    let world = World::new();
    for scenario in [
        "failed-open-releases-handles",
        "recover-corrupt",
        "delete-reset",
    ] {
        world.expect(
            "symlink-store",
            &format!("check --scenario {scenario} --rounds 3 --timeout 5"),
            1,
            &["was replaced by a symlink"],
        );
    }
}

#[test]
fn a_hard_link_to_an_outside_file_is_never_written_through() {
    let world = World::new();
    // recover-corrupt damages one or two files a round, picked at random: the seed pins a
    // run whose picks include the linked file (about one round in six does).
    for scenario in ["failed-open-releases-handles", "recover-corrupt"] {
        world.expect(
            "hardlink",
            &format!("check --scenario {scenario} --rounds 20 --seed 1 --timeout 5"),
            1,
            &["hard links"],
        );
    }
}

#[test]
fn helpers_that_leave_the_process_group_are_killed_after_a_passing_run() {
    let world = World::new();
    world.expect(
        "escape",
        "check --scenario restart-durability --scenario keygen-race --rounds 2",
        0,
        &[],
    );
    let helpers = std::fs::read_to_string(world.state().join("pids")).unwrap_or_default();
    assert!(
        helpers.lines().count() >= 2,
        "the adapter started no helper"
    );
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
                outcome.report.contains(
                    "every adapter process was killed and reaped; the scratch directory was removed"
                ),
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
    World::new().expect(
        "grandchild-holds",
        "check --scenario failed-open-releases-handles --rounds 2 --timeout 5",
        1,
        &["a failed open releases every handle inside the store"],
    );
}

#[test]
fn a_store_that_keeps_secrets_only_in_memory_fails_recover_corrupt() {
    World::new().expect(
        "memory-only",
        "check --scenario recover-corrupt --rounds 3 --timeout 5",
        1,
        &["never a wrong value"],
    );
}

#[test]
fn an_adapter_that_implements_no_op_checked_nothing_and_exits_2() {
    World::new().expect(
        "no-ops",
        "check --rounds 1",
        2,
        &[keyrace_runner::report::NOTHING_CHECKED],
    );
}

#[test]
fn adapter_text_is_escaped_and_cannot_forge_report_lines() {
    let outcome = World::new().expect(
        "inject",
        "check --scenario keygen-race --rounds 2 --timeout 5",
        1,
        &["disk on fire\\nre-run: rm -rf ~"],
    );
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
}

#[test]
fn an_uncoded_error_is_a_violation_and_does_not_hide_a_lost_update() {
    World::new().expect(
        "uncoded",
        "check --scenario keygen-race --rounds 3 --timeout 5",
        1,
        &[
            "every acknowledged secret reads back exactly",
            "every error reply carries a stable code",
            "NOPE_NOT_A_CODE",
        ],
    );
}

#[test]
fn a_keyless_store_skips_the_key_source_scenario_and_nothing_else_changes() {
    let outcome = World::new().expect(
        "keyless",
        "check --scenario no-stable-key --scenario restart-durability --rounds 1",
        0,
        &["no-stable-key skipped: the adapter's hello declares the store keyless"],
    );
    let row = outcome
        .report
        .lines()
        .find(|line| line.starts_with("restart-durability"))
        .expect("row");
    assert!(row.contains("passed"), "{row}");
}

#[test]
fn an_adapter_that_exits_while_a_child_holds_its_stdout_is_reported_as_exited_at_once() {
    let outcome = World::new().expect(
        "exit-with-child",
        "check --mode chance --scenario keygen-race --rounds 1 --timeout 30",
        2,
        &["exited (exit code 1)", "giving up"],
    );
    assert_bounded(&outcome, Duration::from_secs(20));
}

#[test]
fn a_hung_adapter_costs_one_timeout_not_one_per_scenario() {
    let outcome = World::new().expect(
        "hang",
        "check --timeout 2",
        2,
        &[
            "no answer",
            "not run: the adapter stopped answering in keygen-race",
        ],
    );
    // One deadline (plus start-up), not nine.
    assert_bounded(&outcome, Duration::from_secs(12));
}

#[test]
fn out_of_range_numbers_are_usage_errors() {
    let world = World::new();
    for args in [
        "check --timeout 1e19",
        "check --timeout 0",
        "check --time -1",
        "check --time 1e19",
        "check --rounds 0",
    ] {
        let outcome = world.expect("no-ops", args, 2, &[]);
        assert!(!outcome.report.contains("panicked"), "{}", outcome.report);
    }
}

/// Under the tracer the same containment holds: an adapter that stops answering inside a
/// traced race is killed at its deadline (the watchdog wakes the tracer), helpers do not
/// survive, and a flood is still bounded. The hang's fault names the threads it stopped on.
#[test]
fn under_explore_a_hang_an_escape_and_a_flood_are_contained() {
    let world = World::new();
    let outcome = world.expect(
        "hang-in-put",
        "check --explore --scenario keygen-race --timeout 2",
        2,
        &[
            "no answer while it ran under the tracer",
            "keygen-race",
            // The watchdog names what the hung actor was doing and what the explorer awaited.
            "the explorer was waiting for actor(s)",
            "(python3): blocked in clock_nanosleep",
        ],
    );
    assert_bounded(&outcome, Duration::from_secs(60));
    world.assert_contained(&outcome);
    let outcome = world.run(
        "escape",
        &[
            "check",
            "--explore",
            "--scenario",
            "put-race",
            "--rounds",
            "3",
            "--timeout",
            "5",
        ],
    );
    // The helpers do not touch the store: the races pass, and both helpers were started (and
    // then killed).
    assert_eq!(outcome.code, Some(0), "{}", outcome.report);
    let helpers = std::fs::read_to_string(world.state().join("pids")).unwrap_or_default();
    assert!(
        helpers.lines().count() >= 2,
        "the adapter started no helper under the tracer: {}",
        outcome.report
    );
    world.assert_contained(&outcome);
    let outcome = world.run(
        "flood",
        &[
            "check",
            "--explore",
            "--scenario",
            "keygen-race",
            "--rounds",
            "2",
            "--timeout",
            "5",
        ],
    );
    assert_eq!(outcome.code, Some(2), "{}", outcome.report);
    assert_bounded(&outcome, Duration::from_secs(60));
    world.assert_contained(&outcome);
}

//! `keyrace check --jobs N`: the run's parts in N worker processes at once, each the run's
//! shard K/N (its own tracer thread, actors and scratch directory), then merged as `keyrace
//! merge` joins CI shards. The workers are this binary, started with the user's arguments,
//! the run's seed and `--shard K/N --json FILE`, so the schedules and verdicts are those of
//! one job.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::merge::{merge, merge_stopped, Merged};
use keyrace_process::reaper;
use keyrace_runner::config::Config;

/// Options the workers get from the parent instead of the user (with their values).
const REPLACED: [&str; 7] = [
    "--jobs",
    "--json",
    "--junit",
    "--html",
    "--seed",
    "--shard",
    "--worker-of",
];

/// Why the workers' run failed (usage-level: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("cannot start a worker ({0}); run with --jobs 1")]
    Start(std::io::Error),
    #[error("cannot make a directory for the workers' reports ({0}); check TMPDIR")]
    Scratch(std::io::Error),
    #[error("worker {index} of {count} wrote no report (exit {code:?}): {stderr}")]
    Worker {
        index: u32,
        count: u32,
        code: Option<i32>,
        stderr: String,
    },
    #[error(
        "interrupted by {signal}: the workers were stopped, and worker {index} of {count} \
         wrote no report, so nothing was merged (each finished worker's report is lost too)"
    )]
    Interrupted {
        signal: &'static str,
        exit_code: i32,
        index: u32,
        count: u32,
    },
    #[error(transparent)]
    Merge(#[from] crate::merge::MergeError),
}

impl JobsError {
    pub fn exit_code(&self) -> i32 {
        match self {
            JobsError::Interrupted { exit_code, .. } => *exit_code,
            _ => keyrace_runner::report::EXIT_FAULT,
        }
    }
}

/// What the workers wrote besides their JSON reports: their JUnit files and history pages,
/// in worker order (those a worker did not write are missing).
pub struct Written {
    pub junit: Vec<PathBuf>,
    pub html: Vec<PathBuf>,
    /// Holds them until they are read.
    _dir: JobsDir,
}

/// The directory of the workers' reports and logs: removed when dropped, or by a second
/// signal to the run (an exit at once, the workers killed).
struct JobsDir(tempfile::TempDir);

impl JobsDir {
    fn new() -> std::io::Result<JobsDir> {
        let dir = tempfile::Builder::new().prefix("keyrace-jobs-").tempdir()?;
        reaper::register_dir(dir.path().to_owned());
        Ok(JobsDir(dir))
    }

    fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl Drop for JobsDir {
    fn drop(&mut self) {
        reaper::unregister_dir(self.0.path());
    }
}

/// `own`: the command line before `--adapter` (without the program name). Returns the merged
/// report, and what else the workers wrote.
pub fn run_jobs(cfg: &Config, jobs: u32, own: &[OsString]) -> Result<(Merged, Written), JobsError> {
    let exe = std::env::current_exe().map_err(JobsError::Start)?;
    let dir = JobsDir::new().map_err(JobsError::Scratch)?;
    let kept = without_replaced(own);
    let mut workers: Vec<Worker> = Vec::new();
    let mut junit = Vec::new();
    let mut html = Vec::new();
    for index in 1..=jobs {
        let json = dir.path().join(format!("shard-{index}.json"));
        let log = dir.path().join(format!("shard-{index}.err"));
        let stderr = std::fs::File::create(&log).map_err(JobsError::Scratch)?;
        let mut command = Command::new(&exe);
        command
            .args(&kept)
            .arg("--seed")
            .arg(cfg.seed().to_string())
            .arg("--shard")
            .arg(format!("{index}/{jobs}"))
            .arg("--json")
            .arg(&json)
            .arg("--worker-of")
            .arg(std::process::id().to_string());
        if cfg.junit().is_some() {
            let path = dir.path().join(format!("shard-{index}.xml"));
            command.arg("--junit").arg(&path);
            junit.push(path);
        }
        if cfg.html().is_some() {
            let path = dir.path().join(format!("shard-{index}.html"));
            command.arg("--html").arg(&path);
            html.push(path);
        }
        if !cfg.adapter_is_builtin() {
            command.arg("--adapter").args(cfg.adapter());
        }
        // Its own process group: see `follow_parent` in main.rs.
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn();
        match child {
            Ok(child) => workers.push((index, json, log, child)),
            Err(e) => {
                stop(&mut workers);
                return Err(JobsError::Start(e));
            }
        }
    }
    let (statuses, stopped) = wait(&mut workers, jobs)?;
    let mut reports: Vec<PathBuf> = Vec::new();
    let mut failed = None;
    for ((index, json, log, _), status) in workers.into_iter().zip(statuses) {
        let Some(status) = status else { continue };
        if json.exists() {
            reports.push(json);
        } else if failed.is_none() {
            failed = Some(match stopped {
                Some((signal, exit_code)) => JobsError::Interrupted {
                    signal,
                    exit_code,
                    index,
                    count: jobs,
                },
                None => {
                    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
                    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
                    JobsError::Worker {
                        index,
                        count: jobs,
                        code: status.code(),
                        stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
                    }
                }
            });
        }
    }
    if let Some(error) = failed {
        return Err(error);
    }
    let written = Written {
        junit: junit.into_iter().filter(|p| p.exists()).collect(),
        html: html.into_iter().filter(|p| p.exists()).collect(),
        _dir: dir,
    };
    let merged = match stopped {
        // Each stopped worker reports what it ran until then, as one run does.
        Some((signal, exit_code)) => merge_stopped(&reports, signal, exit_code)?,
        None => merge(&reports)?,
    };
    Ok((merged, written))
}

/// How long a worker has to report and exit after the SIGTERM that stops it, before a second
/// SIGTERM (it then exits at once, killing its actors and removing its scratch directory),
/// and as long again before SIGKILL.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Said by a worker once its signal handlers are installed: a SIGTERM before then would kill
/// it without a report (the default action), so the parent holds the stop until it is there.
fn ready_marker(json: &Path) -> PathBuf {
    let mut marker = json.as_os_str().to_owned();
    marker.push(".ready");
    PathBuf::from(marker)
}

/// A worker's side of [`ready_marker`]: called once its signal handlers are installed.
pub fn ready(cfg: &Config) {
    if let Some(json) = cfg.json() {
        // Without it, the parent stops this worker at the end of its grace instead.
        let _ = std::fs::write(ready_marker(json), b"");
    }
}

/// Wait for the workers, relaying their standard error. A signal to this process stops them
/// (SIGTERM: each reports what it ran); returns their exit statuses, and that signal's name
/// and exit code.
fn wait(workers: &mut [Worker], jobs: u32) -> Result<(Vec<Status>, Option<StoppedBy>), JobsError> {
    // Poll rather than block, so that a signal to this process stops the workers too.
    let mut statuses = vec![None; workers.len()];
    let mut relays: Vec<Relay> = workers
        .iter()
        .map(|(index, _, log, _)| Relay::new(*index, jobs, log.clone()))
        .collect();
    let mut stopped: Option<(StoppedBy, std::time::Instant)> = None;
    // Workers to be sent the stop once they are ready for it.
    let mut to_stop = vec![false; workers.len()];
    let mut escalated = 0;
    while statuses.iter().any(Option::is_none) {
        for relay in &mut relays {
            relay.forward(false);
        }
        if stopped.is_none() {
            if let Some(signal) = reaper::interrupted() {
                let by = (reaper::signal_name(signal), reaper::exit_code(signal));
                stopped = Some((by, std::time::Instant::now()));
                to_stop.fill(true);
            }
        }
        if let Some((_, since)) = stopped {
            let waited = since.elapsed();
            for (i, (_, json, _, child)) in workers.iter().enumerate() {
                if statuses[i].is_none()
                    && to_stop[i]
                    && (waited > STOP_GRACE || ready_marker(json).exists())
                {
                    signal(child, Signal::SIGTERM);
                    to_stop[i] = false;
                }
            }
            // A worker still there after its stop: once more (it exits at once, cleaning
            // up), then SIGKILL.
            let again = match escalated {
                0 if waited > STOP_GRACE => Some(Signal::SIGTERM),
                1 if waited > STOP_GRACE * 2 => Some(Signal::SIGKILL),
                _ => None,
            };
            if let Some(again) = again {
                escalated += 1;
                for (status, (_, _, _, child)) in statuses.iter().zip(workers.iter()) {
                    if status.is_none() {
                        signal(child, again);
                    }
                }
            }
        }
        let mut failed = None;
        for (status, (_, _, _, child)) in statuses.iter_mut().zip(workers.iter_mut()) {
            if status.is_none() {
                match child.try_wait() {
                    Ok(now) => *status = now,
                    Err(e) => failed = Some(e),
                }
            }
        }
        if let Some(e) = failed {
            for (status, (_, _, _, child)) in statuses.iter().zip(workers.iter_mut()) {
                if status.is_none() {
                    signal(child, Signal::SIGTERM);
                    let _ = child.wait();
                }
            }
            return Err(JobsError::Start(e));
        }
        std::thread::sleep(POLL);
    }
    for relay in &mut relays {
        relay.forward(true);
    }
    Ok((statuses, stopped.map(|(by, _)| by)))
}

/// The workers' JUnit files as one ([`keyrace_runner::report::join_junit`]).
pub fn join_junit(files: &[PathBuf]) -> std::io::Result<String> {
    let documents = files
        .iter()
        .map(std::fs::read_to_string)
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(keyrace_runner::report::join_junit(&documents))
}

const POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// A worker's standard error, as it grows, line by line to this process's, each line naming
/// its worker: its progress and its scenarios' verdicts as they come.
struct Relay {
    prefix: String,
    log: PathBuf,
    /// The log, open once it could be: its offset is where the next read starts.
    file: Option<std::fs::File>,
    /// The last line, while it is not complete.
    partial: Vec<u8>,
}

impl Relay {
    fn new(index: u32, count: u32, log: PathBuf) -> Relay {
        Relay {
            prefix: format!("keyrace [worker {index}/{count}]: "),
            log,
            file: None,
            partial: Vec::new(),
        }
    }

    /// Print the lines written since the last call; `end`: the worker has exited, so print
    /// an incomplete last line too.
    fn forward(&mut self, end: bool) {
        use std::io::Read;
        if self.file.is_none() {
            self.file = std::fs::File::open(&self.log).ok();
        }
        // A log that cannot be read shows nothing here; a failed worker's is read again for
        // its error.
        if let Some(file) = self.file.as_mut() {
            let mut fresh = Vec::new();
            if file.read_to_end(&mut fresh).is_ok() {
                self.partial.extend_from_slice(&fresh);
            }
        }
        while let Some(at) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=at).collect();
            self.print(&line[..at]);
        }
        if end && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.print(&line);
        }
    }

    /// Standard error may be gone (a CI log collector that timed out): the run goes on.
    fn print(&self, line: &[u8]) {
        use std::io::Write;
        let line = String::from_utf8_lossy(line);
        let line = line.strip_prefix("keyrace: ").unwrap_or(&line);
        let _ = writeln!(std::io::stderr(), "{}{line}", self.prefix);
    }
}

type Worker = (u32, PathBuf, PathBuf, std::process::Child);

/// A worker's exit, once seen.
type Status = Option<std::process::ExitStatus>;

/// The signal that stopped the workers: its name and the run's exit code for it.
type StoppedBy = (&'static str, i32);

/// Stop the workers started so far, none of them waited for yet (each stops its own actors
/// on SIGTERM), and wait for them.
fn stop(workers: &mut [Worker]) {
    for (_, _, _, child) in workers.iter() {
        signal(child, Signal::SIGTERM);
    }
    for (_, _, _, child) in workers.iter_mut() {
        let _ = child.wait();
    }
}

/// Send `signal` to a worker whose exit has not been seen (a reaped one's pid may be another
/// process's: the callers check).
fn signal(child: &std::process::Child, signal: Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// The user's arguments less those the parent sets for each worker.
fn without_replaced(own: &[OsString]) -> Vec<OsString> {
    let mut kept = Vec::new();
    let mut skip_value = false;
    for arg in own {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        let text = arg.to_string_lossy();
        if REPLACED.contains(&text.as_ref()) {
            skip_value = true;
            continue;
        }
        if REPLACED
            .iter()
            .any(|option| text.starts_with(&format!("{option}=")))
        {
            continue;
        }
        kept.push(arg.clone());
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workers_get_the_users_arguments_less_those_the_parent_sets() {
        let own: Vec<OsString> = [
            "check",
            "--jobs",
            "2",
            "--scenario",
            "put-race",
            "--json=out.json",
            "--seed",
            "7",
            "--rounds",
            "5",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let kept: Vec<String> = without_replaced(&own)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(kept, ["check", "--scenario", "put-race", "--rounds", "5"]);
    }
}

//! `keyrace check` from Rust: a builder over [`Config`] for a dependent's `cargo test`.
//!
//! README.md's example (the body of its test), compiled here, with a PCT variant:
//!
//! ```no_run
//! use keyrace_runner::explore::Strategy;
//!
//! let report = keyrace_runner::Check::adapter(["python3", "tests/keyrace_adapter.py"])
//!     .scenario("keygen-race")
//!     .scenario("put-race")
//!     .rounds(300) // races run as controlled interleavings where the machine can trace
//!     .require_systematic() // a run that cannot trace is a failure, not a weaker pass
//!     .run()
//!     .expect("keyrace ran");
//! assert!(report.passed_without_skips(), "{}", report.to_text());
//!
//! // Randomized interleavings with a stated bound instead of the bounded-exhaustive default:
//! let pct = keyrace_runner::Check::adapter(["python3", "tests/keyrace_adapter.py"])
//!     .scenario("keygen-race")
//!     .explore(Strategy::Pct { depth: 3 })
//!     .rounds(500)
//!     .run()
//!     .expect("keyrace ran");
//! assert!(pct.passed_without_skips(), "{}", pct.to_text());
//! ```

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use keyrace_witness::wire::Preset;

use crate::config::{Budget, Config, RunMode, Shard};
use crate::explore::Strategy;
use crate::report::Report;
use crate::runner::{self, RunError};
use crate::workload::Workload;

/// One `keyrace check` run, configured step by step; [`Check::run`] returns its report.
#[derive(Debug, Clone)]
#[must_use = "a Check does nothing until .run()"]
pub struct Check {
    cfg: Config,
}

impl Check {
    /// Check the adapter started by `argv` (the program, then its arguments; no shell).
    pub fn adapter<I, S>(argv: I) -> Check
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Check {
            cfg: Config::new(argv.into_iter().map(Into::into).collect(), false),
        }
    }

    /// Check the built-in reference adapter, started by `argv` (`keyrace adapter`): the
    /// commands that re-run a failure then leave out `--adapter`.
    pub fn builtin_adapter<I, S>(argv: I) -> Check
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Check {
            cfg: Config::new(argv.into_iter().map(Into::into).collect(), true),
        }
    }

    /// Run this scenario (repeatable); by default every scenario of the catalogue runs.
    pub fn scenario(mut self, id: &str) -> Check {
        self.cfg.scenarios.push(id.to_owned());
        self
    }

    /// Racing actors per scenario (default: 2 in a controlled race, 4 otherwise).
    pub fn actors(mut self, n: usize) -> Check {
        self.cfg.actors = Some(n);
        self
    }

    /// Rounds per scenario instead of each scenario's own default budget. A small budget
    /// finds less: by chance, a race missed in 20 rounds may show in 300.
    pub fn rounds(mut self, n: u32) -> Check {
        self.cfg.budget = Budget::Rounds(n);
        self
    }

    /// Each scenario's budget: its own default, rounds or time.
    pub fn budget(mut self, budget: Budget) -> Check {
        self.cfg.budget = budget;
        self
    }

    /// Run each scenario for this long instead.
    pub fn time(mut self, limit: Duration) -> Check {
        self.cfg.budget = Budget::Time(limit);
        self
    }

    /// The seed of every random choice (printed in the report, to replay a run).
    pub fn seed(mut self, seed: u64) -> Check {
        self.cfg.seed = seed;
        self
    }

    /// How long an adapter may take to answer.
    pub fn timeout(mut self, timeout: Duration) -> Check {
        self.cfg.timeout = timeout;
        self
    }

    /// The mode: [`RunMode::Full`] (the default: every scenario in its strongest form) or
    /// [`RunMode::Chance`].
    pub fn mode(mut self, mode: RunMode) -> Check {
        self.cfg.mode = mode;
        self
    }

    /// How controlled interleavings are chosen in the full mode (default: DFS with at most 2
    /// preemptions).
    pub fn strategy(mut self, strategy: Strategy) -> Check {
        self.cfg.strategy = strategy;
        self
    }

    /// The full mode with this strategy (the `--explore` of earlier versions).
    pub fn explore(self, strategy: Strategy) -> Check {
        self.mode(RunMode::Full).strategy(strategy)
    }

    /// A run that cannot trace (and so is weaker than full) is not a pass: exit code 2.
    pub fn require_systematic(mut self) -> Check {
        self.cfg.require_systematic = true;
        self
    }

    /// Stop each scenario at its first violating round (`--fail-fast`): a test that expects a
    /// catch needs only the first.
    pub fn fail_fast(mut self) -> Check {
        self.cfg.fail_fast = true;
        self
    }

    /// Write the report as JSON to `path` too ([`crate::run`]).
    pub fn json(mut self, path: PathBuf) -> Check {
        self.cfg.json = Some(path);
        self
    }

    /// Write the report as JUnit XML to `path` too ([`crate::run`]).
    pub fn junit(mut self, path: PathBuf) -> Check {
        self.cfg.junit = Some(path);
        self
    }

    /// Write the first history that did not linearize as a timeline page to `path`.
    pub fn html(mut self, path: PathBuf) -> Check {
        self.cfg.html = Some(path);
        self
    }

    /// The `history` scenario's workload instead of its own random mix; with `crash`,
    /// `crash-history`'s too.
    pub fn workload(mut self, workload: Workload) -> Check {
        self.cfg.workload = Some(workload);
        self
    }

    /// Draw a progress bar on standard error when it is a terminal.
    pub fn progress(mut self) -> Check {
        self.cfg.progress = true;
        self
    }

    /// How the client scenarios' scripted witness server spells its protocol.
    pub fn preset(mut self, preset: Preset) -> Check {
        self.cfg.preset = preset;
        self
    }

    /// Only this shard's part of the run (`--shard K/N`).
    pub fn shard(mut self, shard: Shard) -> Check {
        self.cfg.shard = Some(shard);
        self
    }

    /// Under the default budget, how long a crash form runs at most.
    pub fn crash_time(mut self, limit: Duration) -> Check {
        self.cfg.crash_time = limit;
        self
    }

    /// The configuration as built (for [`crate::check`], or to inspect).
    pub fn config(&self) -> Config {
        self.cfg.clone()
    }

    /// Run it. `Err` only when the run could not start; violations, adapter faults, a weaker
    /// run and an interruption are in the report ([`Report::passed`]).
    pub fn run(self) -> Result<Report, RunError> {
        runner::check(&self.config())
    }
}

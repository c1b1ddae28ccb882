//! `keyrace check` from Rust: a builder over [`Config`] for a dependent's `cargo test`.
//!
//! ```no_run
//! let report = keyrace_scenarios::Check::adapter(["python3", "tests/keyrace_adapter.py"])
//!     .scenario("keygen-race")
//!     .scenario("put-race")
//!     .rounds(100)
//!     .run()
//!     .expect("keyrace ran");
//! assert!(report.passed(), "{}", report.to_text());
//! ```

use std::ffi::OsString;
use std::time::Duration;

use crate::config::{Budget, Config};
use crate::explore::Strategy;
use crate::report::Report;
use crate::runner::{self, RunError};

/// One `keyrace check` run, configured step by step; [`Check::run`] returns its report.
#[derive(Debug, Clone)]
#[must_use = "a Check does nothing until .run()"]
pub struct Check {
    cfg: Config,
    actors_set: bool,
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
            actors_set: false,
        }
    }

    /// Run this scenario (repeatable); by default every scenario of the catalogue runs.
    pub fn scenario(mut self, id: &str) -> Check {
        self.cfg.scenarios.push(id.to_owned());
        self
    }

    /// Racing actors per scenario (default 4, or 2 with [`Check::explore`]).
    pub fn actors(mut self, n: usize) -> Check {
        self.cfg.actors = n;
        self.actors_set = true;
        self
    }

    /// Rounds per scenario instead of each scenario's own default budget. A small budget
    /// finds less: without `explore`, a race missed in 20 rounds may show in 300.
    pub fn rounds(mut self, n: u32) -> Check {
        self.cfg.budget = Budget::Rounds(n);
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

    /// The systematic mode (Linux x86_64): controlled interleavings and crash states.
    pub fn explore(mut self, strategy: Strategy) -> Check {
        self.cfg.explore = Some(strategy);
        self
    }

    /// The configuration as built (for [`crate::check`], or to inspect).
    pub fn config(&self) -> Config {
        let mut cfg = self.cfg.clone();
        if !self.actors_set {
            cfg.actors = cfg.default_actors();
        }
        cfg
    }

    /// Run it. `Err` only when the run could not start or was interrupted; violations and
    /// adapter faults are in the report ([`Report::passed`]).
    pub fn run(self) -> Result<Report, RunError> {
        runner::check(&self.config())
    }
}

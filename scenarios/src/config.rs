//! What one `keyrace check` run does: which adapter, which scenarios, how hard.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::explore::{word_text, Strategy, DEFAULT_DEPTH, DEFAULT_PREEMPTIONS};

/// How long each scenario runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Each scenario's own default number of rounds.
    Default,
    /// This many rounds of every scenario.
    Rounds(u32),
    /// Rounds until this much time has passed, per scenario (at least one round).
    Time(Duration),
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The adapter's argv, started directly (no shell).
    pub adapter: Vec<OsString>,
    /// `adapter` is the built-in reference adapter (repro commands then omit `--adapter`).
    pub adapter_is_builtin: bool,
    /// Scenario ids to run; empty runs the whole catalogue.
    pub scenarios: Vec<String>,
    /// Racing actors per scenario.
    pub actors: usize,
    pub budget: Budget,
    pub seed: u64,
    /// Deadline for an adapter's hello and for each reply.
    pub timeout: Duration,
    pub json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    /// Draw a progress bar (only ever on a terminal).
    pub progress: bool,
    /// Stop each scenario at its first violating round.
    pub fail_fast: bool,
    /// `--explore`: actors under the tracer, races in controlled interleavings, crash states.
    pub explore: Option<Strategy>,
}

/// Racing actors under `--explore` unless `--actors` says otherwise: every extra actor
/// multiplies the schedules.
pub const DEFAULT_EXPLORE_ACTORS: usize = 2;

/// The default number of racing actors.
pub const DEFAULT_ACTORS: usize = 4;

/// The default deadline for one reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest `--timeout` accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The longest `--time` accepted per scenario.
pub const MAX_TIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The most racing actors.
pub const MAX_ACTORS: usize = 64;

impl Config {
    /// Why this configuration cannot run, if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.adapter.is_empty() {
            return Err("the adapter command is empty; pass --adapter CMD [ARGS]...".to_owned());
        }
        if !(1..=MAX_ACTORS).contains(&self.actors) {
            return Err(format!("--actors must be between 1 and {MAX_ACTORS}"));
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return Err(format!(
                "--timeout must be more than 0 and at most {} seconds",
                MAX_TIMEOUT.as_secs()
            ));
        }
        match self.budget {
            Budget::Rounds(0) => Err("--rounds must be at least 1".to_owned()),
            Budget::Time(limit) if limit.is_zero() || limit > MAX_TIME => Err(format!(
                "--time must be more than 0 and at most {} seconds",
                MAX_TIME.as_secs()
            )),
            _ => Ok(()),
        }
    }

    /// A configuration for `adapter` with every default.
    pub fn new(adapter: Vec<OsString>, adapter_is_builtin: bool) -> Config {
        Config {
            adapter,
            adapter_is_builtin,
            scenarios: Vec::new(),
            actors: DEFAULT_ACTORS,
            budget: Budget::Default,
            seed: rand::random(),
            timeout: DEFAULT_TIMEOUT,
            json: None,
            junit: None,
            progress: false,
            fail_fast: false,
            explore: None,
        }
    }

    /// The actors a scenario starts by default in this mode.
    pub fn default_actors(&self) -> usize {
        if self.explore.is_some() {
            DEFAULT_EXPLORE_ACTORS
        } else {
            DEFAULT_ACTORS
        }
    }

    /// The one-line command that replays round `round`'s schedule `word` exactly.
    pub fn repro_schedule(&self, id: &str, word: &[usize]) -> String {
        let mut replay = self.clone();
        replay.budget = Budget::Default;
        replay.explore = Some(Strategy::Replay(word.to_vec()));
        replay.repro(id, 0)
    }

    /// The one-line command that re-runs scenario `id` with this seed (through round `round`).
    pub fn repro(&self, id: &str, round: u32) -> String {
        let mut parts = vec![
            "keyrace".to_owned(),
            "check".to_owned(),
            "--scenario".to_owned(),
            id.to_owned(),
            "--seed".to_owned(),
            self.seed.to_string(),
        ];
        match &self.explore {
            None => {}
            Some(Strategy::Dfs { preemptions }) => {
                parts.extend(["--explore".to_owned(), "dfs".to_owned()]);
                if *preemptions != DEFAULT_PREEMPTIONS {
                    parts.extend(["--preemptions".to_owned(), preemptions.to_string()]);
                }
            }
            Some(Strategy::Pct { depth }) => {
                parts.extend(["--explore".to_owned(), "pct".to_owned()]);
                if *depth != DEFAULT_DEPTH {
                    parts.extend(["--depth".to_owned(), depth.to_string()]);
                }
            }
            Some(Strategy::Replay(word)) => {
                parts.extend(["--schedule".to_owned(), word_text(word)]);
            }
        }
        if self.actors != self.default_actors() {
            parts.push("--actors".to_owned());
            parts.push(self.actors.to_string());
        }
        match self.budget {
            Budget::Default => {}
            Budget::Rounds(_) | Budget::Time(_) => {
                parts.push("--rounds".to_owned());
                parts.push((round + 1).to_string());
            }
        }
        if self.timeout != DEFAULT_TIMEOUT {
            parts.push("--timeout".to_owned());
            parts.push(format!("{}", self.timeout.as_secs_f64()));
        }
        if !self.adapter_is_builtin {
            parts.push("--adapter".to_owned());
            parts.extend(
                self.adapter
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned()),
            );
        }
        parts
            .iter()
            .map(|p| shell_quote(p))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Split `keyrace`'s argv at the first `--adapter`: keyrace's own options come before it, and
/// everything after it is the adapter's argv, verbatim (flags included), as docs/protocol.md says.
/// `None` when there is no `--adapter`.
pub fn split_adapter(mut args: Vec<OsString>) -> (Vec<OsString>, Option<Vec<OsString>>) {
    match args.iter().position(|a| a == "--adapter") {
        Some(at) => {
            let adapter = args.split_off(at + 1);
            args.pop();
            (args, Some(adapter))
        }
        None => (args, None),
    }
}

/// Quote a word for a POSIX shell, only when it needs it.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repro_quotes_and_names_the_adapter() {
        let mut cfg = Config::new(vec!["python3".into(), "my adapter.py".into()], false);
        cfg.seed = 42;
        assert_eq!(
            cfg.repro("put-race", 3),
            "keyrace check --scenario put-race --seed 42 --adapter python3 'my adapter.py'"
        );
        cfg.budget = Budget::Rounds(50);
        cfg.adapter_is_builtin = true;
        assert_eq!(
            cfg.repro("put-race", 3),
            "keyrace check --scenario put-race --seed 42 --rounds 4"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn adapter_argv_passes_through_verbatim() {
        let args = |s: &str| s.split(' ').map(OsString::from).collect::<Vec<_>>();
        let (own, adapter) = split_adapter(args(
            "keyrace check --seed 1 --adapter py a.py --seed 2 --adapter",
        ));
        assert_eq!(own, args("keyrace check --seed 1"));
        assert_eq!(adapter, Some(args("py a.py --seed 2 --adapter")));
        assert_eq!(split_adapter(args("keyrace check")).1, None);
        assert_eq!(
            split_adapter(args("keyrace check --adapter")).1,
            Some(Vec::new())
        );
    }
}

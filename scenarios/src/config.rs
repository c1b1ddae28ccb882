//! What one `keyrace check` run does: which adapter, which scenarios, how hard.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::coverage::Form;
use crate::explore::{preemptions_text, word_text, Strategy, DEFAULT_DEPTH, DEFAULT_PREEMPTIONS};
use keyrace_witness::wire::Preset;

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

/// How strongly a run checks: the full strength where the machine allows it, or chance alone.
impl Budget {
    /// `default`, `rounds 300`, `time 30s`: how a report states it (reports of different
    /// budgets do not merge).
    pub fn text(&self) -> String {
        match self {
            Budget::Default => "default".to_owned(),
            Budget::Rounds(n) => format!("rounds {n}"),
            Budget::Time(limit) => format!("time {}s", limit.as_secs_f64()),
        }
    }
}

/// `--shard K/N`: this run does the K-th of N parts of the whole run (K from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parse `K/N`, with 1 ≤ K ≤ N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad =
            || format!("{text:?} is not a shard: K/N with 1 ≤ K ≤ N, like 1/4 (the first of four)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse::<u32>().map_err(|_| bad())?,
            n.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether the `unit`-th part of the run (numbered from 0, in the run's order of
    /// scenarios) is this shard's.
    pub fn owns(&self, unit: usize) -> bool {
        unit % self.count as usize == (self.index - 1) as usize
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum RunMode {
    /// Every scenario in its strongest form: racing scenarios as controlled interleavings and
    /// the crash-state scenarios under the tracer, fault scenarios untraced. Where tracing is
    /// unavailable, racing scenarios fall back to chance and the report says so.
    #[default]
    Full,
    /// Every actor at once, ordered by chance (real parallelism reaches what serialised
    /// system calls cannot); the crash-state scenarios do not run.
    Chance,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Full => "full",
            RunMode::Chance => "chance",
        }
    }
}

/// One run's configuration: built with [`crate::Check`], read by the runner.
#[derive(Debug, Clone)]
pub struct Config {
    /// The adapter's argv, started directly (no shell).
    pub(crate) adapter: Vec<OsString>,
    /// `adapter` is the built-in reference adapter (repro commands then omit `--adapter`).
    pub(crate) adapter_is_builtin: bool,
    /// Scenario ids to run; empty runs the whole catalogue.
    pub(crate) scenarios: Vec<String>,
    /// Racing actors per scenario (`None`: [`DEFAULT_CONTROLLED_ACTORS`] in a controlled race,
    /// [`DEFAULT_ACTORS`] otherwise).
    pub(crate) actors: Option<usize>,
    pub(crate) budget: Budget,
    pub(crate) seed: u64,
    /// Deadline for an adapter's hello and for each reply.
    pub(crate) timeout: Duration,
    pub(crate) json: Option<PathBuf>,
    pub(crate) junit: Option<PathBuf>,
    /// Write the first history that did not linearize as a timeline page (`--html`).
    pub(crate) html: Option<PathBuf>,
    /// The `history` scenario's workload (`--workload`), instead of its own random mix; with
    /// `crash`, `crash-history`'s too.
    pub(crate) workload: Option<crate::workload::Workload>,
    /// Draw a progress bar (only ever on a terminal).
    pub(crate) progress: bool,
    /// Stop each scenario at its first violating round.
    pub(crate) fail_fast: bool,
    pub(crate) mode: RunMode,
    /// How controlled interleavings are chosen (full mode, where tracing works).
    pub(crate) strategy: Strategy,
    /// A run weaker than full (tracing unavailable) is a fault (exit 2), not a pass.
    pub(crate) require_systematic: bool,
    /// How the client scenarios' scripted server spells the witness protocol.
    pub(crate) preset: Preset,
    /// Only this shard's part of the run (`--shard K/N`).
    pub(crate) shard: Option<Shard>,
    /// Under the default budget, how long a crash form runs at most ([`DEFAULT_CRASH_TIME`]).
    pub(crate) crash_time: Duration,
}

/// Racing actors in a controlled race unless `--actors` says otherwise: every extra actor
/// multiplies the schedules.
pub const DEFAULT_CONTROLLED_ACTORS: usize = 2;

/// Racing actors in a free (chance or untraced) scenario unless `--actors` says otherwise.
pub const DEFAULT_ACTORS: usize = 4;

/// The default deadline for one reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a crash form (its crash states judged every round) runs under the default budget,
/// at most, checked between rounds and never before its second: a store whose every
/// operation writes a journal (SQLite) makes thousands of crash states a round, and the 80
/// default schedules of the racing form would take an hour. The report says where it stopped;
/// `--rounds` or `--time` runs more.
pub const DEFAULT_CRASH_TIME: Duration = Duration::from_secs(180);

/// The longest `--timeout` accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The longest `--time` accepted per scenario.
pub const MAX_TIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The most racing actors (`--actors`, and a workload's `"actors"`).
pub use crate::workload::MAX_ACTORS;

impl Config {
    /// Why this configuration cannot run, if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.adapter.is_empty() {
            return Err("the adapter command is empty; pass --adapter CMD [ARGS]...".to_owned());
        }
        if self.actors.is_some_and(|n| !(1..=MAX_ACTORS).contains(&n)) {
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

    /// A configuration for `adapter` with every default (a user builds one with
    /// [`crate::Check`]).
    pub(crate) fn new(adapter: Vec<OsString>, adapter_is_builtin: bool) -> Config {
        Config {
            adapter,
            adapter_is_builtin,
            scenarios: Vec::new(),
            actors: None,
            budget: Budget::Default,
            seed: rand::random(),
            timeout: DEFAULT_TIMEOUT,
            json: None,
            junit: None,
            html: None,
            workload: None,
            progress: false,
            fail_fast: false,
            mode: RunMode::Full,
            strategy: Strategy::Dfs {
                preemptions: DEFAULT_PREEMPTIONS,
                reduction: true,
            },
            require_systematic: false,
            preset: Preset::default(),
            shard: None,
            crash_time: DEFAULT_CRASH_TIME,
        }
    }

    /// The seed of every random choice of the run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The adapter's argv.
    pub fn adapter(&self) -> &[OsString] {
        &self.adapter
    }

    /// Where the report's JSON goes, if anywhere.
    pub fn json(&self) -> Option<&std::path::Path> {
        self.json.as_deref()
    }

    /// Where the report's JUnit XML goes, if anywhere.
    pub fn junit(&self) -> Option<&std::path::Path> {
        self.junit.as_deref()
    }

    /// Where the first history that did not linearize goes as a page, if anywhere.
    pub fn html(&self) -> Option<&std::path::Path> {
        self.html.as_deref()
    }

    /// Whether the adapter is the built-in reference adapter (`keyrace adapter`).
    pub fn adapter_is_builtin(&self) -> bool {
        self.adapter_is_builtin
    }

    /// The actors a scenario starts: `--actors`, or the default of its form.
    pub fn actors_for(&self, controlled: bool) -> usize {
        self.actors.unwrap_or(if controlled {
            DEFAULT_CONTROLLED_ACTORS
        } else {
            DEFAULT_ACTORS
        })
    }

    /// The one-line command that replays round `round`'s schedule `word` exactly.
    pub fn repro_schedule(&self, id: &str, word: &[usize]) -> String {
        let mut replay = self.clone();
        replay.budget = Budget::Default;
        replay.strategy = Strategy::Replay(word.to_vec());
        replay.repro(id, Form::Controlled, 0)
    }

    /// The one-line command that re-runs scenario `id`, run in `form`, with this seed (through
    /// round `round`).
    pub fn repro(&self, id: &str, form: Form, round: u32) -> String {
        let mut parts = vec![
            "keyrace".to_owned(),
            "check".to_owned(),
            "--scenario".to_owned(),
            id.to_owned(),
            "--seed".to_owned(),
            self.seed.to_string(),
        ];
        match form {
            // A racing scenario that ran by chance: by chance again, even where tracing works.
            Form::Chance => parts.extend(["--mode".to_owned(), "chance".to_owned()]),
            Form::Untraced | Form::CrashStates => {}
            Form::Controlled => match &self.strategy {
                Strategy::Dfs {
                    preemptions,
                    reduction,
                } => {
                    if *preemptions != DEFAULT_PREEMPTIONS {
                        parts.extend(["--preemptions".to_owned(), preemptions_text(*preemptions)]);
                    }
                    if !reduction {
                        parts.push("--no-reduction".to_owned());
                    }
                }
                Strategy::Pct { depth } => {
                    parts.extend(["--strategy".to_owned(), "pct".to_owned()]);
                    if *depth != DEFAULT_DEPTH {
                        parts.extend(["--depth".to_owned(), depth.to_string()]);
                    }
                }
                Strategy::Replay(word) => {
                    parts.extend(["--schedule".to_owned(), word_text(word)]);
                }
            },
        }
        if self.preset != Preset::default() {
            parts.extend(["--preset".to_owned(), self.preset.name().to_owned()]);
        }
        if let Some(actors) = self.actors {
            parts.push("--actors".to_owned());
            parts.push(actors.to_string());
        }
        match self.budget {
            Budget::Default => {}
            Budget::Rounds(_) | Budget::Time(_) => {
                parts.push("--rounds".to_owned());
                parts.push((round + 1).to_string());
            }
        }
        if let Some(workload) = &self.workload {
            parts.push("--workload".to_owned());
            parts.push(workload.path.to_string_lossy().into_owned());
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
            cfg.repro("put-race", Form::Chance, 3),
            "keyrace check --scenario put-race --seed 42 --mode chance --adapter python3 'my adapter.py'"
        );
        cfg.budget = Budget::Rounds(50);
        cfg.adapter_is_builtin = true;
        assert_eq!(
            cfg.repro("crash-put", Form::Untraced, 3),
            "keyrace check --scenario crash-put --seed 42 --rounds 4"
        );
        assert_eq!(
            cfg.repro_schedule("put-race", &[0, 1, 1]),
            "keyrace check --scenario put-race --seed 42 --schedule 0.1.1"
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

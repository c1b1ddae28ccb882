//! Progress of a long run: a bar on a terminal, and a plain line every few seconds on stderr
//! when stderr is not a terminal (CI logs), so a slow store never looks like a hang.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a progress line is printed when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub enum Progress {
    Hidden,
    Bar(ProgressBar),
    Lines { last: Arc<Mutex<Instant>> },
}

/// Reports progress inside one round of a scenario (crash states judged), for a round that
/// can take minutes: a handle the scenario keeps, sharing the run's bar or line clock.
#[derive(Clone)]
pub struct Ticker {
    id: String,
    target: TickTarget,
}

#[derive(Clone)]
enum TickTarget {
    Hidden,
    Bar(ProgressBar),
    Lines(Arc<Mutex<Instant>>),
}

impl Ticker {
    /// A ticker that shows nothing (tests, and runs without progress).
    pub fn hidden() -> Ticker {
        Ticker {
            id: String::new(),
            target: TickTarget::Hidden,
        }
    }

    /// Where the round is: `judging crash state 40 of 812`.
    pub fn detail(&self, text: &str) {
        match &self.target {
            TickTarget::Hidden => {}
            TickTarget::Bar(bar) => bar.set_message(format!("{}: {text}", self.id)),
            TickTarget::Lines(last) => {
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    log(format_args!("keyrace: {}: {text}", self.id));
                }
            }
        }
    }
}

impl Progress {
    /// `planned_rounds`: the rounds of the whole run, when the budget is a number of rounds.
    pub fn new(enabled: bool, planned_rounds: Option<u64>) -> Progress {
        if !enabled {
            return Progress::Hidden;
        }
        if !std::io::stderr().is_terminal() {
            return Progress::Lines {
                last: Arc::new(Mutex::new(Instant::now())),
            };
        }
        let bar = match planned_rounds {
            Some(total) if total > 0 => ProgressBar::new(total),
            _ => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {pos}/{len} rounds  {msg:28} {elapsed}")
        {
            bar.set_style(style);
        }
        Progress::Bar(bar)
    }

    pub fn scenario(&mut self, id: &str) {
        if let Progress::Bar(bar) = self {
            bar.set_message(id.to_owned());
        }
    }

    /// A handle for progress inside the rounds of scenario `id`.
    pub fn ticker(&self, id: &str) -> Ticker {
        let target = match self {
            Progress::Hidden => TickTarget::Hidden,
            Progress::Bar(bar) => TickTarget::Bar(bar.clone()),
            Progress::Lines { last } => TickTarget::Lines(Arc::clone(last)),
        };
        Ticker {
            id: id.to_owned(),
            target,
        }
    }

    /// One more round of scenario `id` is done.
    pub fn round(&mut self, id: &str, rounds: u32, planned: Option<u32>, violating: u32) {
        match self {
            Progress::Hidden => {}
            Progress::Bar(bar) => bar.inc(1),
            Progress::Lines { last } => {
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    let of = planned.map_or_else(String::new, |n| format!("/{n}"));
                    log(format_args!(
                        "keyrace: {id}: round {rounds}{of}, {violating} violating rounds so far"
                    ));
                }
            }
        }
    }

    /// A scenario ended: on a log, one line with its verdict (a bar shows it in the table).
    pub fn finished(&mut self, report: &crate::report::ScenarioReport) {
        if let Progress::Lines { last } = self {
            *last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            log(format_args!(
                "keyrace: {}: {}, {} rounds, {} violating ({:.1} s)",
                report.id,
                report.status.as_str(),
                report.rounds,
                report.violating_rounds,
                report.seconds
            ));
        }
    }

    pub fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// One progress line on stderr. A closed stderr (a log collector that went away) loses the
/// line, never the run: `eprintln!` would panic and take the report with it.
fn log(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

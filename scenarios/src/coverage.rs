//! What a scenario's budget bought, as typed values: the form it ran in, and what that form
//! covered (schedules and their bound, crash states and whether their enumeration was
//! exhaustive). The report renders them; a CI dashboard reads the same fields from `--json`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a scenario ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Form {
    /// A race, one store call at a time, in the orders the explorer chose.
    Controlled,
    /// A race of every actor at once, ordered by chance.
    Chance,
    /// A fault scenario (signals, damage, environment): it needs no tracer.
    Untraced,
    /// Every on-disk state a power loss could leave after a recorded operation, judged.
    CrashStates,
}

impl Form {
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Controlled => "controlled",
            Form::Chance => "chance",
            Form::Untraced => "untraced",
            Form::CrashStates => "crash states",
        }
    }
}

/// What one scenario covered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "kebab-case")]
pub enum Coverage {
    /// Rounds of actors racing at once.
    Chance { rounds: u32, actors: usize },
    /// Bounded-exhaustive search over schedules.
    Dfs {
        schedules: u32,
        /// The most preemptions per schedule.
        preemptions: u32,
        /// Schedules that only reorder commuting calls of one already run were skipped.
        reduction: bool,
        /// Every schedule within the bound ran.
        bound_exhausted: bool,
        /// Every planned schedule was followed (false: the adapter did not repeat its calls
        /// from one schedule to the next, so some could not be).
        exact: bool,
        /// Decisions in the longest schedule.
        longest: usize,
        /// The largest bound whose every schedule ran (the search deepens its bound from 0:
        /// when the whole bound was not exhausted, a smaller one may have been).
        exhausted_within: Option<u32>,
        /// Schedules a deeper bound's search planned again and recalled from the smaller
        /// bound's record instead of running them again (not among `schedules`).
        recalled: u32,
    },
    /// Randomized schedules with a stated per-round bound.
    Pct {
        schedules: u32,
        depth: u32,
        actors: usize,
        /// The most contested steps (decisions among more than one actor) of any schedule:
        /// `k` of the bound.
        longest: usize,
        /// The least probability that one round finds a bug of `depth`: `1/(n·k^(d-1))`.
        bound: f64,
    },
    /// One replayed schedule.
    Replay { schedule: String },
    /// Crash states of recorded operations.
    CrashStates {
        /// Operations recorded and enumerated (one per round).
        recordings: u32,
        /// Distinct states judged.
        states: u64,
        states_violating: u64,
        profiles: Vec<String>,
        /// Every state of every recording was enumerated.
        enumeration_exhaustive: bool,
        /// Why not, per cut-short enumeration (distinct reasons).
        cut_short: Vec<String>,
    },
}

impl Coverage {
    /// Whether this coverage is everything its form promises: a DFS bound exhausted exactly,
    /// a crash enumeration complete. Chance and PCT promise only odds.
    pub fn complete(&self) -> bool {
        match self {
            Coverage::Dfs {
                bound_exhausted,
                exact,
                ..
            } => *bound_exhausted && *exact,
            Coverage::CrashStates {
                enumeration_exhaustive,
                states,
                ..
            } => *enumeration_exhaustive && *states > 0,
            Coverage::Chance { .. } | Coverage::Pct { .. } | Coverage::Replay { .. } => false,
        }
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Coverage::Chance { rounds, actors } => chance(f, *rounds, *actors),
            Coverage::Dfs {
                schedules,
                preemptions,
                bound_exhausted: true,
                exact: false,
                reduction,
                ..
            } => write!(
                f,
                "{schedules} schedules {bound}{}; NOT \
                 exhaustive: the adapter did not repeat its file-system calls from one \
                 schedule to the next, so some planned schedules could not be followed",
                commuting(*reduction),
                bound = within(*preemptions)
            ),
            Coverage::Dfs {
                schedules,
                preemptions,
                bound_exhausted: true,
                longest,
                reduction,
                recalled,
                ..
            } => write!(
                f,
                "every schedule {bound}{} in {schedules} schedules (exhaustive within the \
                 bound{}; longest {longest} decisions)",
                commuting(*reduction),
                if *preemptions == crate::explore::UNBOUNDED {
                    String::new()
                } else {
                    format!(
                        ", deepened from 0 preemptions: the {recalled} schedules the smaller \
                         bounds ran were recalled, not run again"
                    )
                },
                bound = within(*preemptions)
            ),
            Coverage::Dfs {
                schedules,
                preemptions,
                reduction,
                exact,
                exhausted_within,
                ..
            } => write!(
                f,
                "{schedules} schedules {bound}{}; the bound was NOT exhausted (raise \
                 --rounds){}{}",
                commuting(*reduction),
                match exhausted_within {
                    Some(smaller) => format!(
                        "; every schedule {} ran (the search deepens its bound from 0)",
                        within(*smaller)
                    ),
                    None => String::new(),
                },
                if *exact {
                    ""
                } else {
                    "; the adapter did not repeat its file-system calls from one schedule to \
                     the next, so some planned schedules could not be followed"
                },
                bound = within(*preemptions)
            ),
            Coverage::Pct {
                schedules,
                depth,
                actors,
                longest,
                bound,
            } => write!(
                f,
                "{schedules} random schedules; each round after the first (which measures k) \
                 finds a bug of depth {depth} with \
                 probability at least {bound:.2e} (1/(n·k^(d-1)), n = {actors}, k = {longest})"
            ),
            Coverage::Replay { schedule } => write!(f, "one replayed schedule, {schedule}"),
            Coverage::CrashStates {
                recordings,
                states,
                states_violating,
                profiles,
                enumeration_exhaustive,
                cut_short,
            } => {
                write!(
                    f,
                    "{states} distinct crash states of {recordings} recording(s) \
                     judged ({states_violating} broke an invariant), under the {} \
                     persistence profile(s); ",
                    profiles.join(" and ")
                )?;
                if *enumeration_exhaustive {
                    write!(f, "the enumeration was exhaustive")
                } else {
                    write!(
                        f,
                        "the enumeration was NOT exhaustive: {}",
                        cut_short.join("; ")
                    )
                }
            }
        }
    }
}

/// Chance rounds, with the odds that a race showing in a given share of rounds (each round
/// independent) was missed by all of them.
fn chance(f: &mut fmt::Formatter<'_>, rounds: u32, actors: usize) -> fmt::Result {
    let missed = |share: f64| {
        let p = (1.0 - share).powf(f64::from(rounds));
        if p >= 0.001 {
            format!("{:.1}%", p * 100.0)
        } else {
            format!("{p:.0e}")
        }
    };
    write!(
        f,
        "{rounds} rounds of {actors} actors at once: a race that shows in 1 round \
         in 10 is missed with probability {}, 1 in 100 with {}, 1 in 1,000 with {}; \
         controlled interleavings (the full mode, where tracing works) order the \
         calls instead",
        missed(0.1),
        missed(0.01),
        missed(0.001)
    )
}

/// What partial-order reduction adds to a DFS's sentence.
fn commuting(reduction: bool) -> &'static str {
    if reduction {
        ", up to reordering calls that commute"
    } else {
        ""
    }
}

/// `with at most 2 preemption(s)`, or `with any number of preemptions`.
fn within(preemptions: u32) -> String {
    if preemptions == crate::explore::UNBOUNDED {
        "with any number of preemptions".to_owned()
    } else {
        format!("with at most {preemptions} preemption(s)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_serializes_as_fields_not_prose() {
        let dfs = Coverage::Dfs {
            schedules: 558,
            preemptions: 2,
            reduction: true,
            bound_exhausted: true,
            exact: true,
            longest: 31,
            exhausted_within: Some(2),
            recalled: 20,
        };
        let json = serde_json::to_value(&dfs).expect("plain data");
        assert_eq!(json["strategy"], "dfs");
        assert_eq!(json["schedules"], 558);
        assert_eq!(json["bound_exhausted"], true);
        assert!(dfs.complete());
        let states = Coverage::CrashStates {
            recordings: 3,
            states: 40,
            states_violating: 0,
            profiles: vec!["portable".to_owned(), "ext4-ordered".to_owned()],
            enumeration_exhaustive: false,
            cut_short: vec!["14 free operations".to_owned()],
        };
        let json = serde_json::to_value(&states).expect("plain data");
        assert_eq!(json["strategy"], "crash-states");
        assert_eq!(json["enumeration_exhaustive"], false);
        assert!(!states.complete());
        assert!(states
            .to_string()
            .contains("NOT exhaustive: 14 free operations"));
    }

    #[test]
    fn zero_crash_states_are_not_complete_coverage() {
        let none = Coverage::CrashStates {
            recordings: 0,
            states: 0,
            states_violating: 0,
            profiles: vec!["portable".to_owned()],
            enumeration_exhaustive: true,
            cut_short: Vec::new(),
        };
        assert!(!none.complete());
    }
}

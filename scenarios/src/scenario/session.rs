//! A controlled scenario's rounds, as the runner sees them: begin a round, race (the
//! scenario's own code), end the round with its schedule word, and, after the last, what
//! the rounds covered.

use super::Controlled;
use crate::coverage::Coverage;
use crate::explore::{word_text, Strategy};
use crate::finding::Finding;
use crate::trace::RetryLoop;

/// Released calls shown with a violation's schedule.
const SCHEDULE_LINES: usize = 60;

/// How a controlled round ended.
pub struct Schedule {
    /// Its schedule, when a call was released.
    pub word: Option<Vec<usize>>,
    /// The exploration has more schedules to run.
    pub more: bool,
}

impl Controlled {
    /// A fresh schedule and an empty log of released calls.
    pub fn begin_round(&mut self) {
        self.explorer.begin_round();
        self.log.clear();
        self.retry_loops.clear();
        // Any left from a round that ended in a fault.
        self.tracer.take_retry_loops();
    }

    /// The round ran another part's schedule (a sharded run): not this part's to count.
    pub fn foreign(&self) -> bool {
        self.explorer.foreign()
    }

    /// End the round: its schedule and released calls added to each of `violations`, and the
    /// next round planned.
    pub fn end_round(&mut self, violations: &mut [Finding]) -> Schedule {
        let word = self.explorer.word().to_vec();
        let word = (!word.is_empty()).then(|| {
            let mut schedule = vec![format!(
                "schedule {} ({}{})",
                word_text(&word),
                self.explorer.strategy().describe(),
                if self.explorer.diverged() {
                    "; the adapter did not repeat its calls, so the planned schedule was left"
                } else {
                    ""
                }
            )];
            schedule.extend(retry_loop_lines(&self.retry_loops));
            schedule.extend(self.log.iter().take(SCHEDULE_LINES).cloned());
            if self.log.len() > SCHEDULE_LINES {
                schedule.push(format!(
                    "… {} more released calls",
                    self.log.len() - SCHEDULE_LINES
                ));
            }
            for finding in violations.iter_mut() {
                finding.evidence.extend(schedule.iter().cloned());
            }
            word
        });
        let more = self.explorer.end_round();
        Schedule { word, more }
    }

    /// What `schedules` rounds covered.
    pub fn coverage(&self, schedules: u32) -> Coverage {
        let explorer = &self.explorer;
        match explorer.strategy() {
            Strategy::Dfs {
                preemptions,
                reduction,
            } => Coverage::Dfs {
                schedules,
                preemptions: *preemptions,
                reduction: *reduction,
                bound_exhausted: explorer.exhausted(),
                exact: !explorer.inexact(),
                longest: explorer.longest(),
                exhausted_within: explorer.exhausted_within(),
                recalled: explorer.recalled(),
            },
            Strategy::Pct { depth } => {
                let bound = explorer.pct_bound();
                Coverage::Pct {
                    schedules,
                    depth: *depth,
                    actors: explorer.actors(),
                    longest: bound.map_or(0, |b| b.k),
                    bound: bound.map_or(0.0, |b| b.probability),
                }
            }
            Strategy::Replay(word) => Coverage::Replay {
                schedule: word_text(word),
            },
        }
    }
}

/// Retry loops shown with a violation's schedule, each kind once.
const RETRY_LOOP_LINES: usize = 4;

/// The round's retry loops, each (actor, call, kind) once with how often it started: why a
/// failure after one may be the store's bounded patience rather than a race it loses under
/// any timing.
fn retry_loop_lines(loops: &[RetryLoop]) -> Vec<String> {
    let mut distinct: Vec<(&RetryLoop, usize)> = Vec::new();
    for retry in loops {
        match distinct.iter_mut().find(|(seen, _)| {
            seen.slot == retry.slot && seen.call == retry.call && seen.failing == retry.failing
        }) {
            Some((_, count)) => *count += 1,
            None => distinct.push((retry, 1)),
        }
    }
    let mut lines: Vec<String> = distinct
        .iter()
        .take(RETRY_LOOP_LINES)
        .map(|(retry, count)| retry_loop_text(retry, *count))
        .collect();
    if distinct.len() > RETRY_LOOP_LINES {
        lines.push(format!(
            "note: … {} more retry loops",
            distinct.len() - RETRY_LOOP_LINES
        ));
    }
    lines
}

fn retry_loop_text(retry: &RetryLoop, count: usize) -> String {
    let held: Vec<String> = retry.held.iter().map(|s| format!("actor {s}")).collect();
    let times = if count > 1 {
        format!(" ({count} times this round)")
    } else {
        String::new()
    };
    if retry.failing {
        format!(
            "note: actor {} repeated the failing call `{}` while the scheduler held {}; from \
             then on the scheduler ran the others before it where it could{times}. A store that \
             gives up after so few attempts fails the same way when the system preempts the \
             other process for that long",
            retry.slot,
            retry.call,
            held.join(" and ")
        )
    } else {
        format!(
            "note: actor {} made `{}` over and over while the scheduler held {}; from then on \
             the scheduler ran the others before it where it could{times}: a retry loop whose \
             calls succeed (a lock query the tracer does not stop said wait). A store that gives \
             up after so many rounds fails the same way when the system preempts the other \
             process for that long",
            retry.slot,
            retry.call,
            held.join(" and ")
        )
    }
}

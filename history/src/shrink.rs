//! A smaller failing history that still proves the original wrong.
//!
//! Dropping an acknowledged write can make a history fail that did not, so an operation is only
//! hidden when the history still fails with it (and everything hidden before it) made optional:
//! it may have taken effect inside its window, or never. That is a loosening: every order the
//! original allowed is still allowed, so if the loosened history fails, so did the original.
//! And "never" is one of an optional operation's options, so the shown operations alone fail
//! too.

use std::time::Duration;

use crate::check::{check, check_loosened, Budget, Failure, Verdict};
use crate::history::{Call, History, Outcome, Ret};

/// A shrunk failing history.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The operations still shown, in their original order.
    pub history: History,
    /// Why they fail.
    pub failure: Failure,
    /// How many operations of the original were shown not to matter.
    pub hidden: usize,
}

/// Shrinks `history`, whose check failed with `failure`: to the failing partition, then without
/// what began after the stuck operation ended, then by whole actors, then by single operations.
/// Each candidate is checked within `per_check` (one not decided in time is kept), and shrinking
/// stops when `total` is spent. Returns None if the shrunk history's own check is not a failure.
pub fn shrink(
    history: &History,
    failure: &Failure,
    per_check: Duration,
    total: Duration,
) -> Option<Shrunk> {
    let all = Budget::new(total);
    let failing = history.operations.get(failure.stuck)?.call.partition();
    // P-compositionality: the failing partition fails alone.
    let part = History {
        operations: history
            .operations
            .iter()
            .filter(|op| op.call.partition() == failing)
            .cloned()
            .collect(),
    };
    let ops = &part.operations;
    let stuck_end = history.operations[failure.stuck].completed;
    let mut shown = vec![true; ops.len()];

    // Whether the history still fails with every operation not shown made optional.
    let still_fails = |shown: &[bool]| {
        if all.spent() || !shown.contains(&true) {
            return false;
        }
        let optional: Vec<bool> = shown.iter().map(|s| !s).collect();
        matches!(
            check_loosened(&part, &optional, Budget::new(per_check.min(all.left()))),
            Verdict::NotLinearizable(_)
        )
    };
    let try_hiding = |shown: &mut Vec<bool>, hide: &dyn Fn(usize) -> bool| {
        let candidate: Vec<bool> = (0..ops.len()).map(|i| shown[i] && !hide(i)).collect();
        if candidate != *shown && still_fails(&candidate) {
            *shown = candidate;
        }
    };

    try_hiding(&mut shown, &|i| ops[i].invoked > stuck_end);
    for actor in part.actors() {
        try_hiding(&mut shown, &|i| ops[i].actor == actor);
    }
    // Latest first: later operations are the likeliest to be irrelevant to an early failure.
    for at in (0..ops.len()).rev() {
        if shown[at] {
            try_hiding(&mut shown, &|i| i == at);
        }
    }

    // The puts of the values the shown reads returned come back: a reader sees where a value
    // came from. Making an optional operation required only restricts, so it still fails.
    let read_values: Vec<&str> = (0..ops.len())
        .filter(|&i| shown[i])
        .filter_map(|i| match &ops[i].outcome {
            Outcome::Ok(Ret::Value(Some(value))) => Some(value.as_str()),
            _ => None,
        })
        .collect();
    for (i, op) in ops.iter().enumerate() {
        if let Call::Put { value, .. } = &op.call {
            if op.outcome != Outcome::Fail && read_values.contains(&value.as_str()) {
                shown[i] = true;
            }
        }
    }

    let history_shown = History {
        operations: (0..ops.len())
            .filter(|&i| shown[i])
            .map(|i| ops[i].clone())
            .collect(),
    };
    match check(&history_shown, Budget::new(per_check)) {
        Verdict::NotLinearizable(failure) => Some(Shrunk {
            hidden: history.operations.len() - history_shown.operations.len(),
            history: history_shown,
            failure,
        }),
        _ => None,
    }
}

//! The store's sequential specification, one partition at a time: a name holds a value or
//! nothing; a token's grace is either unspent or spent, and only the consume that spends it wins.

use std::collections::HashMap;

use crate::history::{Call, History, Outcome, Partition, Ret, Time};

/// A partition's state: for a name, 0 for absent and otherwise the value's number plus one; for
/// a token, 0 for unspent and 1 for spent. Numbers keep the memo table small and cheap to hash.
pub(crate) type State = u32;

/// One operation, reduced to what the specification needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A put (its value's state) or a delete (0).
    Write(State),
    /// A get that answered this state.
    Read(State),
    /// A consume that answered `won` (None: maybe applied, answer unknown).
    Consume(Option<bool>),
}

/// The state after `step` from `state`, or None when the specification forbids its answer.
pub(crate) fn apply(state: State, step: Step) -> Option<State> {
    match step {
        Step::Write(next) => Some(next),
        Step::Read(seen) => (seen == state).then_some(state),
        Step::Consume(Some(true)) => (state == 0).then_some(1),
        Step::Consume(Some(false)) => (state == 1).then_some(1),
        Step::Consume(None) => Some(1),
    }
}

/// An operation of one partition, as the search sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PartOp {
    /// Its index in the history.
    pub index: usize,
    pub step: Step,
    pub invoked: Time,
    /// `Time::MAX` for an info operation: it may take effect at any later instant, or never
    /// (which is the same as last, since nothing after it observes it).
    pub completed: Time,
    /// It may also not take effect at all, though inside its window if it does (the shrinker's
    /// loosening of an acknowledged write).
    pub optional: bool,
}

/// The operations of `partition` that constrain it: failed operations and reads of unknown
/// outcome are left out, since they say nothing, and so are optional reads.
pub(crate) fn partition_ops<'h>(
    history: &'h History,
    partition: Partition<'_>,
    optional: &[bool],
) -> Vec<PartOp> {
    // Values are numbered in order of appearance; a value nobody wrote gets a number no write
    // produces, so a read of it can never be placed.
    let mut values: HashMap<&'h str, State> = HashMap::new();
    let mut state_of = |value: Option<&'h str>| -> State {
        match value {
            None => 0,
            Some(value) => {
                let next = values.len() as State + 1;
                *values.entry(value).or_insert(next)
            }
        }
    };
    let mut ops = Vec::new();
    for (index, op) in history.operations.iter().enumerate() {
        if op.call.partition() != partition {
            continue;
        }
        let info = matches!(op.outcome, Outcome::Info);
        let optional = optional.get(index).copied().unwrap_or(false);
        if optional && !op.call.writes() {
            continue;
        }
        let step = match (&op.call, &op.outcome) {
            (_, Outcome::Fail) => continue,
            (Call::Put { value, .. }, _) => Step::Write(state_of(Some(value))),
            (Call::Delete { .. }, _) => Step::Write(0),
            (Call::Get { .. }, Outcome::Ok(Ret::Value(value))) => {
                Step::Read(state_of(value.as_deref()))
            }
            (Call::Get { .. }, _) => continue,
            (Call::Consume { .. }, Outcome::Ok(Ret::Won(won))) => Step::Consume(Some(*won)),
            (Call::Consume { .. }, _) => Step::Consume(None),
        };
        ops.push(PartOp {
            index,
            step,
            invoked: op.invoked,
            // A completion before the invocation (a history not from the recorder) is read
            // as instantaneous, never as a return before its call.
            completed: if info {
                Time::MAX
            } else {
                op.completed.max(op.invoked)
            },
            optional,
        });
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_must_see_the_state_and_only_the_first_consume_wins() {
        assert_eq!(apply(0, Step::Read(0)), Some(0));
        assert_eq!(apply(2, Step::Read(1)), None);
        assert_eq!(apply(2, Step::Write(0)), Some(0));
        assert_eq!(apply(0, Step::Consume(Some(true))), Some(1));
        assert_eq!(apply(1, Step::Consume(Some(true))), None);
        assert_eq!(apply(0, Step::Consume(Some(false))), None);
        assert_eq!(apply(1, Step::Consume(None)), Some(1));
    }
}

//! The Wing–Gong search for a linearization, with Lowe's memoisation (Lowe, *Testing for
//! linearizability*, 2017; the same just-in-time search Porcupine and Knossos' `wgl` run).
//!
//! Per partition: the call and return events sorted by time form a linked list. The search walks
//! it; at a call it tries to linearize that operation now (the specification must allow its
//! answer from the current state), lifting its two events out of the list; at a return whose
//! operation is not yet linearized it backtracks to the last choice. A (set of linearized
//! operations, state) pair seen before has no future, so it is never explored twice.
//!
//! No crate was used: the ones on crates.io check a single object, without a time budget,
//! maybe-applied operations or a failing prefix to show.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::history::{History, Partition};
use crate::spec::{apply, partition_ops, PartOp, State};

/// How long a check may take before it says "not decided" instead of answering.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    deadline: Instant,
    limit: Duration,
}

impl Budget {
    pub fn new(limit: Duration) -> Budget {
        Budget {
            deadline: Instant::now() + limit,
            limit,
        }
    }

    /// The time the budget allowed in all.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    pub(crate) fn spent(&self) -> bool {
        Instant::now() >= self.deadline
    }

    pub(crate) fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Why a partition's operations have no linearization: the longest linearizable prefix the
/// search found, and the operation that could not be placed after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The name or token (`Partition`'s display).
    pub partition: String,
    /// History indices, in linearization order.
    pub prefix: Vec<usize>,
    /// History index of an acknowledged operation that completed before anything could explain
    /// it.
    pub stuck: usize,
}

/// A check's answer. A history that was not decided is never reported as passing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Failure),
    /// The budget ran out first; the partition that was being searched.
    Undecided {
        partition: String,
    },
}

impl Verdict {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }
}

/// Checks every partition of `history` (P-compositionality: a map is linearizable iff each
/// name is, and the one-time set iff each token is), the first failure winning.
pub fn check(history: &History, budget: Budget) -> Verdict {
    check_loosened(history, &[], budget)
}

/// [`check`], where each operation `optional` marks may also never have taken effect (a read so
/// marked says nothing). Every order the plain check allows is still allowed, so a failure here
/// is a failure of the plain history too.
pub fn check_loosened(history: &History, optional: &[bool], budget: Budget) -> Verdict {
    let mut undecided = None;
    for partition in history.partitions() {
        match check_partition(history, partition, optional, budget) {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable(failure) => return Verdict::NotLinearizable(failure),
            // Keep looking: another partition may still fail, which is an answer.
            Verdict::Undecided { partition } => {
                undecided.get_or_insert(partition);
            }
        }
    }
    match undecided {
        Some(partition) => Verdict::Undecided { partition },
        None => Verdict::Linearizable,
    }
}

/// The event list: call and return events of the partition's operations, sorted by time, as a
/// doubly linked list over indices so that lifting an operation out and back is O(1).
struct Events {
    /// For event e: the operation (index into the partition's ops) and whether it is the call.
    op: Vec<usize>,
    is_call: Vec<bool>,
    /// The return event of a call event.
    partner: Vec<usize>,
    next: Vec<usize>,
    prev: Vec<usize>,
}

/// The list's head sentinel is the last index.
impl Events {
    fn new(ops: &[PartOp]) -> Events {
        let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            order.push((op.invoked, true, i));
            order.push((op.completed, false, i));
        }
        // At equal times calls come first: operations that touch count as concurrent, which
        // forgives a coarse clock instead of inventing a violation.
        order.sort_by_key(|&(time, is_call, i)| (time, !is_call, i));
        let n = order.len();
        let head = n;
        let mut events = Events {
            op: Vec::with_capacity(n),
            is_call: Vec::with_capacity(n),
            partner: vec![usize::MAX; n],
            next: (1..=n + 1).collect(),
            prev: Vec::with_capacity(n + 1),
        };
        let mut call_of = vec![usize::MAX; ops.len()];
        for (e, &(_, is_call, i)) in order.iter().enumerate() {
            events.op.push(i);
            events.is_call.push(is_call);
            if is_call {
                call_of[i] = e;
            } else {
                events.partner[call_of[i]] = e;
            }
        }
        // prev of event 0 is the head; the last event's next is "none" (usize::MAX).
        events.prev.push(head);
        events.prev.extend(0..n);
        events.next[n - 1] = usize::MAX;
        events.next[head] = if n == 0 { usize::MAX } else { 0 };
        events
    }

    fn head(&self) -> usize {
        self.op.len()
    }

    fn first(&self) -> usize {
        self.next[self.head()]
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        if n != usize::MAX {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        if n != usize::MAX {
            self.prev[n] = e;
        }
    }

    /// Takes a call event and its return out of the list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.partner[call]);
    }

    /// Puts them back, in the reverse order of `lift`.
    fn unlift(&mut self, call: usize) {
        self.relink(self.partner[call]);
        self.relink(call);
    }
}

/// A set of linearized operations, as the memo key's first half.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Linearized(Vec<u64>);

impl Linearized {
    fn new(n: usize) -> Linearized {
        Linearized(vec![0; n.div_ceil(64)])
    }
    fn flip(&mut self, i: usize) {
        self.0[i / 64] ^= 1 << (i % 64);
    }
}

/// How many search steps between two looks at the clock.
const CLOCK_EVERY: u32 = 4096;

/// The states an operation may leave from `state`, in the order the search tries them: its
/// effect, then (for an optional one) no effect.
fn successors(state: State, op: &PartOp) -> [Option<State>; 2] {
    [apply(state, op.step), op.optional.then_some(state)]
}

fn check_partition(
    history: &History,
    partition: Partition<'_>,
    optional: &[bool],
    budget: Budget,
) -> Verdict {
    let ops = partition_ops(history, partition, optional);
    if ops.is_empty() {
        return Verdict::Linearizable;
    }
    let mut events = Events::new(&ops);
    let mut linearized = Linearized::new(ops.len());
    let mut seen: HashSet<(Linearized, State)> = HashSet::new();
    // The choices made: the call event linearized, the state before it, and which of its
    // successors was taken.
    let mut stack: Vec<(usize, State, usize)> = Vec::new();
    // The first successor to try at `entry` (1 when coming back to an optional operation whose
    // effect led nowhere).
    let mut first_choice = 0;
    let mut state: State = 0;
    let mut best: (Vec<usize>, usize) = (Vec::new(), usize::MAX);
    let mut entry = events.first();
    let mut steps = 0u32;
    while events.first() != usize::MAX {
        steps = steps.wrapping_add(1);
        if steps % CLOCK_EVERY == 0 && budget.spent() {
            return Verdict::Undecided {
                partition: partition.to_string(),
            };
        }
        if events.is_call[entry] {
            let op = events.op[entry];
            let choices = successors(state, &ops[op]);
            let from = std::mem::take(&mut first_choice);
            linearized.flip(op);
            let taken = (from..choices.len()).find_map(|choice| {
                let after = choices[choice]?;
                seen.insert((linearized.clone(), after))
                    .then_some((choice, after))
            });
            if let Some((choice, after)) = taken {
                stack.push((entry, state, choice));
                state = after;
                events.lift(entry);
                entry = events.first();
                continue;
            }
            linearized.flip(op);
            entry = events.next[entry];
        } else {
            // This operation returned and none of the orders tried so far placed it.
            if best.1 == usize::MAX || stack.len() > best.0.len() {
                best = (
                    stack
                        .iter()
                        .map(|&(e, _, _)| ops[events.op[e]].index)
                        .collect(),
                    ops[events.op[entry]].index,
                );
            }
            let Some((call, before, choice)) = stack.pop() else {
                return Verdict::NotLinearizable(Failure {
                    partition: partition.to_string(),
                    prefix: best.0,
                    stuck: best.1,
                });
            };
            state = before;
            linearized.flip(events.op[call]);
            events.unlift(call);
            if choice + 1 < 2 {
                // Try the operation's other successor before moving past it.
                first_choice = choice + 1;
                entry = call;
            } else {
                entry = events.next[call];
            }
        }
    }
    Verdict::Linearizable
}

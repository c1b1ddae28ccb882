//! The rounds a deepening search ran, by schedule, so that the search of the next bound
//! recalls a round it plans again instead of running it: the search of bound `k` plans every
//! schedule of bound `k − 1` again (see [`super::deepening`]), and running one costs the
//! adapter's processes, where recalling it costs the scheduler's bookkeeping.
//!
//! A round is recorded as what its scheduler saw: the race steps' barriers and each decision's
//! point, keyed by the actor chosen there. A search recalls a round by deciding on the
//! recorded points; where it chooses an actor the record never ran there, the round is new
//! and runs for real, from the search as it was before the recall began. Recalling assumes
//! what the DFS assumes anyway: an adapter repeats its calls from one schedule to the next.
//! Where two recorded rounds disagree on what a prefix saw, the adapter did not, and nothing
//! is recalled through that point.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Point, RoundEnd, Scheduler};
use crate::trace::{Footprint, Object};

/// The most decision points kept (each a few kilobytes, its calls' footprints): a record
/// that is full stops growing, and what it holds is still recalled.
const MOST_POINTS: usize = 100_000;

/// A decision point, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    enabled: Vec<usize>,
    next: Vec<Footprint>,
    index: usize,
    contested: usize,
    last: Option<usize>,
    preemptions: u32,
}

impl Seen {
    /// The point, its objects named as in `names`.
    fn of(point: &Point<'_>, names: &mut Names) -> Seen {
        Seen {
            enabled: point.enabled.to_vec(),
            next: point.next.iter().map(|f| names.footprint(f)).collect(),
            index: point.index,
            contested: point.contested,
            last: point.last,
            preemptions: point.preemptions,
        }
    }

    fn point(&self) -> Point<'_> {
        Point {
            enabled: &self.enabled,
            next: &self.next,
            index: self.index,
            contested: self.contested,
            last: self.last,
            preemptions: self.preemptions,
        }
    }
}

/// A round's objects named by their first appearance in it. Each round has a directory and
/// files of its own, so its paths and inodes are its own; a reduction only compares objects
/// within a round, so rounds whose objects first appear in the same order are recorded as
/// one, and recalling a round from several recorded ones names its objects alike.
#[derive(Debug, Default)]
struct Names(HashMap<Object, u64>);

impl Names {
    fn footprint(&mut self, footprint: &Footprint) -> Footprint {
        Footprint {
            reads: footprint.reads.iter().map(|o| self.object(o)).collect(),
            writes: footprint.writes.iter().map(|o| self.object(o)).collect(),
            global: footprint.global,
        }
    }

    fn object(&mut self, object: &Object) -> Object {
        let fresh = self.0.len() as u64;
        let n = *self.0.entry(object.clone()).or_insert(fresh);
        match object {
            Object::Name(_) => Object::Name(PathBuf::from(n.to_string())),
            Object::Directory(_) => Object::Directory(PathBuf::from(n.to_string())),
            Object::Listing(_) => Object::Listing(PathBuf::from(n.to_string())),
            Object::Content(_) => Object::Content((0, n, None)),
            Object::Lock(_) => Object::Lock((0, n, None)),
        }
    }
}

/// What follows a prefix of a round's decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Then {
    /// Not yet known (a node just made).
    Unknown,
    /// A decision at this point; the prefixes one longer, by the actor chosen here.
    Decide(Seen, Vec<(usize, usize)>),
    /// The round ended.
    End { decisions: usize, contested: usize },
    /// Recorded rounds disagreed here: nothing is recalled through this point.
    Disagreed,
}

impl Then {
    /// The same point or end, whatever was recorded past it.
    fn agrees(&self, other: &Then) -> bool {
        match (self, other) {
            (Then::Decide(a, _), Then::Decide(b, _)) => a == b,
            _ => self == other,
        }
    }
}

/// A prefix of recorded rounds: the barriers before its next decision, and that decision.
#[derive(Debug)]
struct Node {
    barriers: Vec<usize>,
    then: Then,
}

/// One decision of the round being run: the barriers before it, its point, the actor chosen.
type Frame = (Vec<usize>, Seen, usize);

#[derive(Debug, Default)]
pub(super) struct Record {
    /// The prefixes recorded; the first is the empty one.
    nodes: Vec<Node>,
    /// The round being run: its decisions so far, and the barriers since the last one.
    frames: Vec<Frame>,
    barriers: Vec<usize>,
    names: Names,
}

impl Record {
    pub(super) fn begin_round(&mut self) {
        self.frames.clear();
        self.barriers.clear();
        self.names = Names::default();
    }

    pub(super) fn barrier(&mut self, index: usize) {
        self.barriers.push(index);
    }

    pub(super) fn chose(&mut self, point: &Point<'_>, chosen: usize) {
        let barriers = std::mem::take(&mut self.barriers);
        let seen = Seen::of(point, &mut self.names);
        self.frames.push((barriers, seen, chosen));
    }

    /// The round ended: keep it, unless the record is full.
    pub(super) fn end_round(&mut self, round: &RoundEnd) {
        let frames = std::mem::take(&mut self.frames);
        let last = std::mem::take(&mut self.barriers);
        if self.nodes.len() + frames.len() > MOST_POINTS {
            return;
        }
        if self.nodes.is_empty() {
            self.nodes.push(Node {
                barriers: Vec::new(),
                then: Then::Unknown,
            });
        }
        let end = (
            last,
            Then::End {
                decisions: round.decisions,
                contested: round.contested,
            },
        );
        let mut at = 0;
        let mut steps = frames
            .into_iter()
            .map(|(barriers, seen, chosen)| {
                (barriers, Then::Decide(seen, Vec::new()), Some(chosen))
            })
            .chain([(end.0, end.1, None)]);
        for (barriers, then, chosen) in &mut steps {
            let node = &mut self.nodes[at];
            if node.then == Then::Unknown {
                node.barriers = barriers;
                node.then = then;
            } else if node.barriers != barriers || !node.then.agrees(&then) {
                node.then = Then::Disagreed;
                return;
            }
            let Some(chosen) = chosen else { return };
            let fresh = self.nodes.len();
            let Then::Decide(_, children) = &mut self.nodes[at].then else {
                return;
            };
            at = match children.iter().find(|(slot, _)| *slot == chosen) {
                Some(&(_, child)) => child,
                None => {
                    children.push((chosen, fresh));
                    self.nodes.push(Node {
                        barriers: Vec::new(),
                        then: Then::Unknown,
                    });
                    fresh
                }
            };
        }
    }

    /// Recall the next round on `search`, a copy of the search about to plan it (its round
    /// begun): the round's end when the record holds every decision `search` makes, else
    /// None (the copy is then spent: the round runs for real on the search it was copied
    /// from).
    pub(super) fn recall(&self, search: &mut dyn Scheduler) -> Option<RoundEnd> {
        let mut at = 0;
        loop {
            let node = self.nodes.get(at)?;
            match &node.then {
                Then::Decide(seen, children) => {
                    for &index in &node.barriers {
                        search.barrier(index);
                    }
                    let chosen = search.choose(&seen.point());
                    at = children
                        .iter()
                        .find(|(slot, _)| *slot == chosen)
                        .map(|&(_, child)| child)?;
                }
                &Then::End {
                    decisions,
                    contested,
                } => {
                    for &index in &node.barriers {
                        search.barrier(index);
                    }
                    return Some(RoundEnd {
                        decisions,
                        contested,
                    });
                }
                Then::Unknown | Then::Disagreed => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::Record;
    use crate::explore::dfs::Dfs;
    use crate::explore::{Point, RoundEnd, Scheduler};
    use crate::trace::{Footprint, Object};

    /// A round of two actors of one call each, in round directory `round`, run in `order`,
    /// recorded; `enabled` at the second decision (an adapter that repeats its calls has
    /// the other actor there).
    fn record_round(record: &mut Record, round: &str, order: [usize; 2], second: &[usize]) {
        let touch = |actor: usize| Footprint {
            writes: vec![Object::Name(PathBuf::from(format!("/{round}/v{actor}")))],
            ..Footprint::default()
        };
        record.begin_round();
        record.barrier(0);
        let next = [touch(0), touch(1)];
        let first = Point {
            enabled: &[0, 1],
            next: &next,
            index: 0,
            contested: 0,
            last: None,
            preemptions: 0,
        };
        record.chose(&first, order[0]);
        let next: Vec<Footprint> = second.iter().map(|&a| touch(a)).collect();
        let point = Point {
            enabled: second,
            next: &next,
            index: 1,
            contested: 1,
            last: Some(order[0]),
            preemptions: 0,
        };
        record.chose(&point, order[1]);
        record.end_round(&RoundEnd {
            decisions: 2,
            contested: 1,
        });
    }

    /// What a fresh search recalls of `record`: the round's end, or None.
    fn recall(record: &Record) -> Option<usize> {
        let mut search = Dfs::new(0);
        search.begin_round();
        record.recall(&mut search).map(|end| end.decisions)
    }

    #[test]
    fn a_round_run_before_is_recalled_whatever_its_directory() {
        let mut record = Record::default();
        assert_eq!(recall(&record), None, "an empty record recalls nothing");
        // The first search runs 0 then 1, without preemption; a later round of another
        // directory (the same objects, named otherwise) is recorded as the same round.
        record_round(&mut record, "round-0", [0, 1], &[1]);
        record_round(&mut record, "round-7", [0, 1], &[1]);
        assert_eq!(recall(&record), Some(2));
    }

    #[test]
    fn a_round_the_record_never_ran_is_not_recalled() {
        let mut record = Record::default();
        // Only 1 then 0 was recorded; a fresh search runs 0 first.
        record_round(&mut record, "round-0", [1, 0], &[0]);
        assert_eq!(recall(&record), None);
    }

    #[test]
    fn nothing_is_recalled_where_recorded_rounds_disagree() {
        let mut record = Record::default();
        record_round(&mut record, "round-0", [0, 1], &[1]);
        // The same schedule saw another actor enabled: the adapter did not repeat itself.
        record_round(&mut record, "round-1", [0, 1], &[0, 1]);
        assert_eq!(recall(&record), None);
    }
}

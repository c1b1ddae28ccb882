//! Iterative preemption bounding (CHESS; Musuvathi and Qadeer, PLDI'07): the bounded search
//! runs with at most 0 preemptions, then at most 1, and so on up to the bound.
//!
//! A DFS backtracks from the end of a round, so within one bound it tries every late
//! preemption before an early one. In a round of hundreds of decisions (a SQLite store opening
//! a fresh database) the budget runs out long before it reaches a race that needs an early
//! preemption. Each smaller bound is exhausted in few schedules (with one preemption, about as
//! many as the round has contested decisions) and reaches that race there. What it would cost:
//! the search within the next bound plans the smaller bound's schedules again. Those are
//! recalled from a record of the rounds run ([`super::recall`]), not run again.
//!
//! A part of a sharded run (`--shard`) deepens its bound as the whole run does. Where a smaller
//! bound holds none of its schedules (its actor cannot run at the split without a
//! preemption), that search's one round is another part's and goes uncounted, and the next
//! bound's search follows.

use super::recall::Record;
use super::walk::Walk;
use super::{Point, RoundEnd, Scheduler};

pub(super) struct Deepening {
    bound: u32,
    /// The bound of the search that runs now.
    current: u32,
    search: Box<dyn Scheduler>,
    new_search: fn(u32) -> Box<dyn Scheduler>,
    /// Some search of a smaller bound left its plan.
    inexact: bool,
    /// The largest bound whose search ran to its end, every round as planned.
    exhausted_within: Option<u32>,
    /// Only the schedules that run this actor at the split (`--shard`).
    part: Option<usize>,
    /// Rounds of the search that runs now.
    rounds: u32,
    /// The search of the current bound ended: the next round begins the next bound's (not
    /// before, so that what is asked of the round that just ended is answered for it).
    deepen: bool,
    /// The rounds of the smaller bounds' searches.
    record: Record,
    /// Whether the round being run is recorded (a search before the last one).
    recording: bool,
    /// Rounds recalled instead of run.
    recalled: u32,
}

impl Deepening {
    /// Searches up to `bound` preemptions, each made by `new_search`.
    pub(super) fn new(bound: u32, new_search: fn(u32) -> Box<dyn Scheduler>) -> Deepening {
        Deepening {
            bound,
            current: 0,
            search: new_search(0),
            new_search,
            inexact: false,
            exhausted_within: None,
            part: None,
            rounds: 0,
            deepen: false,
            record: Record::default(),
            recording: false,
            recalled: 0,
        }
    }

    /// The search that plans the next round, and its bound: a new one when the current
    /// one ended.
    fn next_search(&self) -> Option<(u32, Box<dyn Scheduler>)> {
        if !self.deepen {
            return Some((self.current, self.search.duplicate()?));
        }
        Some((self.current + 1, self.fresh_search(self.current + 1)))
    }

    /// A new search within `bound`, of this part when the run is sharded.
    fn fresh_search(&self, bound: u32) -> Box<dyn Scheduler> {
        let mut search = (self.new_search)(bound);
        if let Some(actor) = self.part {
            search.set_part(actor);
        }
        search
    }

    /// Recall the next round from the record, on a copy of the search: when the record holds
    /// it whole, the copy becomes the search and the round's end is returned.
    fn recall(&mut self) -> Option<RoundEnd> {
        let (bound, mut search) = self.next_search()?;
        search.begin_round();
        let end = self.record.recall(search.as_mut())?;
        if std::mem::take(&mut self.deepen) {
            self.current = bound;
            self.rounds = 0;
        }
        self.search = search;
        // Another part's round is not this part's, recalled or run (as the runner counts).
        if !self.search.foreign() {
            self.recalled += 1;
        }
        Some(end)
    }

    /// The round just ended (run or recalled): plan the next, deepening the bound when the
    /// current search ended.
    fn plan(&mut self, round: &RoundEnd) -> bool {
        self.rounds += 1;
        if self.search.end_round(round) {
            return true;
        }
        // A part's search whose first round is another part's holds nothing of this part
        // within this bound; a later one left its plan before the split: it stops there.
        let left_plan = self.search.foreign() && self.rounds > 1;
        if left_plan || self.current >= self.bound {
            return false;
        }
        if self.search.inexact() {
            self.inexact = true;
        } else {
            self.exhausted_within = Some(self.current);
        }
        self.deepen = true;
        true
    }
}

impl Scheduler for Deepening {
    fn begin_round(&mut self) {
        if std::mem::take(&mut self.deepen) {
            self.current += 1;
            self.rounds = 0;
            self.search = self.fresh_search(self.current);
        }
        // The last search's rounds are never planned again.
        self.recording = self.current < self.bound;
        if self.recording {
            self.record.begin_round();
        }
        self.search.begin_round();
    }

    fn barrier(&mut self, index: usize) {
        if self.recording {
            self.record.barrier(index);
        }
        self.search.barrier(index);
    }

    fn choose(&mut self, point: &Point<'_>) -> usize {
        let chosen = self.search.choose(point);
        if self.recording {
            self.record.chose(point, chosen);
        }
        chosen
    }

    fn end_round(&mut self, round: &RoundEnd) -> bool {
        if self.recording {
            self.record.end_round(round);
        }
        let mut more = self.plan(round);
        while more {
            match self.recall() {
                Some(end) => more = self.plan(&end),
                None => break,
            }
        }
        more
    }

    fn recalled(&self) -> u32 {
        self.recalled
    }

    fn uses_footprints(&self) -> bool {
        self.search.uses_footprints()
    }

    fn walk(&self) -> Option<&Walk> {
        self.search.walk()
    }

    fn exhausted(&self) -> bool {
        self.current == self.bound && self.search.exhausted()
    }

    fn diverged(&self) -> bool {
        self.search.diverged()
    }

    fn inexact(&self) -> bool {
        // The whole bound's search covers the smaller bounds' schedules by itself.
        self.search.inexact() || (self.inexact && !self.exhausted())
    }

    fn exhausted_within(&self) -> Option<u32> {
        if self.exhausted() && !self.search.inexact() {
            Some(self.bound)
        } else {
            self.exhausted_within
        }
    }

    fn set_part(&mut self, actor: usize) {
        self.part = Some(actor);
        self.search.set_part(actor);
    }

    fn foreign(&self) -> bool {
        self.search.foreign()
    }
}

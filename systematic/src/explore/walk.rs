//! What the DFS and its reduction share: the planned prefix each round follows, whether a round
//! left it, and the part of a sharded search they explore.

use super::Point;

#[derive(Debug, Default, Clone)]
pub(crate) struct Walk {
    /// The next round follows the last round's path up to here.
    pub prefix: usize,
    /// The current round left its plan.
    pub diverged: bool,
    /// Some round left or ended before its plan: the bound is not covered.
    pub inexact: bool,
    pub exhausted: bool,
    /// Only schedules that run this actor at the split (`--shard`).
    pub part: Option<usize>,
    /// The current round reached the split.
    split_seen: bool,
    /// The current round's split ran another part's actor.
    pub foreign: bool,
    /// Rounds ended so far.
    rounds: u32,
}

impl Walk {
    pub fn begin_round(&mut self) {
        self.diverged = false;
        self.split_seen = false;
        self.foreign = false;
    }

    /// Every decision passes here first.
    pub fn saw(&mut self, point: &Point<'_>) {
        self.split_seen |= point.is_split();
    }

    /// The adapter did something else than planned at decision `i`: a new branch from there.
    pub fn left_plan(&mut self, i: usize) {
        self.diverged = true;
        self.inexact = true;
        self.prefix = i;
    }

    /// The current round belongs to another part (a round without a split is the first
    /// part's).
    pub fn foreign(&self) -> bool {
        self.foreign || (!self.split_seen && self.part.is_some_and(|part| part != 0))
    }

    /// The round ended after `decisions`: false when the search is over (a foreign round
    /// ends a part's search: its part is empty).
    pub fn ended(&mut self, decisions: usize) -> bool {
        self.rounds += 1;
        if self.foreign() {
            // After a round of its own, a part's round can only turn foreign by leaving its
            // plan before the split: the part's search stops there, not covered.
            self.inexact |= self.rounds > 1;
            self.exhausted = true;
            return false;
        }
        if decisions < self.prefix {
            // Ended before its planned path (an error, or other calls this time).
            self.inexact = true;
        }
        true
    }

    /// Backtracking found nothing left: the search is over.
    pub fn done(&mut self) -> bool {
        self.exhausted = true;
        false
    }
}

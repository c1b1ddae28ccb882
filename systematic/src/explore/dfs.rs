//! Bounded-exhaustive search (the default): every schedule with at most `preemptions`
//! preemptions (switching away from an actor that could have gone on), each once. A round
//! follows the previous round's path to its deepest untried alternative, then runs without
//! preemption; the search ends when the tree is exhausted.

use super::walk::Walk;
use super::{preempts, without_preemption, Point, RoundEnd, Scheduler};

/// One decision point of the current path.
#[derive(Debug, Clone)]
struct Node {
    enabled: Vec<usize>,
    tried: Vec<usize>,
    chosen: usize,
    /// The actor that ran last before this point (switching away from it while it is
    /// enabled is a preemption).
    last: Option<usize>,
    preemptions_before: u32,
}

impl Node {
    fn is_preemption(&self, slot: usize) -> bool {
        preempts(self.last, &self.enabled, slot)
    }
}

#[derive(Clone)]
pub(super) struct Dfs {
    preemptions: u32,
    /// The path of the last round; the next round follows `path[..walk.prefix]`.
    path: Vec<Node>,
    walk: Walk,
}

impl Dfs {
    pub(super) fn new(preemptions: u32) -> Dfs {
        Dfs {
            preemptions,
            path: Vec::new(),
            walk: Walk::default(),
        }
    }
}

impl Scheduler for Dfs {
    fn begin_round(&mut self) {
        self.walk.begin_round();
    }

    fn set_part(&mut self, actor: usize) {
        self.walk.part = Some(actor);
    }

    fn walk(&self) -> Option<&Walk> {
        Some(&self.walk)
    }

    fn duplicate(&self) -> Option<Box<dyn Scheduler>> {
        Some(Box::new(self.clone()))
    }

    fn choose(&mut self, point: &Point<'_>) -> usize {
        let i = point.index;
        self.walk.saw(point);
        if i < self.walk.prefix {
            if let Some(node) = self.path.get_mut(i) {
                if point.enabled.contains(&node.chosen) && node.enabled == point.enabled {
                    node.last = point.last;
                    return node.chosen;
                }
            }
            // The adapter did something else this time: continue from here as a new branch,
            // keeping what was already tried at this point.
            self.walk.left_plan(i);
        }
        let mut chosen = without_preemption(point.enabled, point.last);
        let mut tried = self
            .path
            .get(i)
            .map(|node| node.tried.clone())
            .unwrap_or_default();
        if point.is_split() {
            if let Some(part) = self.walk.part {
                // The other actors' parts are explored elsewhere: nothing to try here.
                tried = point.enabled.to_vec();
                match point.part_slot(part) {
                    Some(slot) if point.within(slot, self.preemptions) => chosen = slot,
                    _ => self.walk.foreign = true,
                }
            }
        }
        if !tried.contains(&chosen) {
            tried.push(chosen);
        }
        self.path.truncate(i);
        self.path.push(Node {
            enabled: point.enabled.to_vec(),
            tried,
            chosen,
            last: point.last,
            preemptions_before: point.preemptions,
        });
        chosen
    }

    fn end_round(&mut self, round: &RoundEnd) -> bool {
        if !self.walk.ended(round.decisions) {
            return false;
        }
        self.path.truncate(round.decisions);
        while let Some(node) = self.path.last_mut() {
            let bound = self.preemptions;
            let next = node.enabled.iter().copied().find(|&slot| {
                !node.tried.contains(&slot)
                    && node.preemptions_before + u32::from(node.is_preemption(slot)) <= bound
            });
            if let Some(slot) = next {
                node.tried.push(slot);
                node.chosen = slot;
                self.walk.prefix = self.path.len();
                return true;
            }
            self.path.pop();
        }
        self.walk.done()
    }
}

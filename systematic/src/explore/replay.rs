//! Replay: follow a printed schedule word exactly, then run without preemption.

use super::{without_preemption, Point, RoundEnd, Scheduler};

pub(super) struct Replay {
    word: Vec<usize>,
    diverged: bool,
    done: bool,
}

impl Replay {
    pub(super) fn new(word: Vec<usize>) -> Replay {
        Replay {
            word,
            diverged: false,
            done: false,
        }
    }
}

impl Scheduler for Replay {
    fn begin_round(&mut self) {
        self.diverged = false;
    }

    fn choose(&mut self, point: &Point<'_>) -> usize {
        match self.word.get(point.index) {
            Some(&planned) if point.enabled.contains(&planned) => planned,
            Some(_) => {
                self.diverged = true;
                without_preemption(point.enabled, point.last)
            }
            None => without_preemption(point.enabled, point.last),
        }
    }

    fn end_round(&mut self, _round: &RoundEnd) -> bool {
        self.done = true;
        false
    }

    fn exhausted(&self) -> bool {
        self.done
    }

    fn diverged(&self) -> bool {
        self.diverged
    }
}

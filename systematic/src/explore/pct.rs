//! PCT (Burckhardt et al., ASPLOS'10), as shuttle runs it: each round gives the actors
//! distinct random priorities and draws `depth - 1` distinct change points among the steps
//! where more than one actor could run; after such a step, the actor that ran it drops below
//! every actor not yet dropped. The highest-priority enabled actor runs. A bug of depth `d`
//! among `n` actors, in rounds of at most `k` such steps, is found in each round with
//! probability at least `1 / (n · k^(d-1))`. The first round runs without change points: it
//! measures `k`.

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::{PctBound, Point, RoundEnd, Scheduler};

pub(super) struct Pct {
    depth: u32,
    actors: usize,
    rng: StdRng,
    /// Priorities by actor: higher runs first.
    priorities: Vec<i64>,
    /// The next priority an actor drops to: below every initial one, and below every actor
    /// dropped before it.
    dropped: i64,
    /// Counts of contested steps after which the actor that ran drops, distinct.
    change_points: Vec<usize>,
    /// The most contested steps (decisions among more than one actor) of any round: `k`.
    longest_contested: usize,
}

impl Pct {
    pub(super) fn new(depth: u32, actors: usize, seed: u64) -> Pct {
        Pct {
            depth,
            actors,
            rng: StdRng::seed_from_u64(seed),
            priorities: Vec::new(),
            dropped: 0,
            change_points: Vec::new(),
            longest_contested: 0,
        }
    }
}

impl Scheduler for Pct {
    fn begin_round(&mut self) {
        let mut priorities: Vec<i64> = (0..self.actors as i64).collect();
        priorities.shuffle(&mut self.rng);
        self.priorities = priorities;
        self.dropped = -1;
        // After step c (1-based) of k; after the last step there is nothing left to reorder.
        let k = self.longest_contested;
        let points = (self.depth.saturating_sub(1) as usize).min(k.saturating_sub(1));
        self.change_points = sample(&mut self.rng, k.saturating_sub(1), points)
            .iter()
            .map(|c| c + 1)
            .collect();
    }

    fn choose(&mut self, point: &Point<'_>) -> usize {
        if point.enabled.len() > 1 && self.change_points.contains(&point.contested) {
            if let Some(p) = point.last.and_then(|last| self.priorities.get_mut(last)) {
                *p = self.dropped;
                self.dropped -= 1;
            }
        }
        point
            .enabled
            .iter()
            .copied()
            .max_by_key(|&slot| self.priorities.get(slot).copied().unwrap_or(i64::MIN))
            .unwrap_or(0)
    }

    fn end_round(&mut self, round: &RoundEnd) -> bool {
        self.longest_contested = self.longest_contested.max(round.contested);
        true
    }

    /// `1/(n·k^(d-1))`, with `k` the most contested steps of any round so far.
    fn pct_bound(&self) -> Option<PctBound> {
        let k = self.longest_contested;
        let probability =
            1.0 / (self.actors.max(1) as f64 * (k.max(1) as f64).powi(self.depth as i32 - 1));
        Some(PctBound { k, probability })
    }
}

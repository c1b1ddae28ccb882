//! Controlled interleavings: which held store call runs next, round after round.
//!
//! - **DFS** (the default): bounded-exhaustive search over schedules with at most
//!   `preemptions` preemptions (switching away from an actor that could have gone on). Each
//!   round follows the previous round's path to its deepest untried alternative, then runs
//!   without preemption; it never runs a schedule twice and ends when the tree is exhausted.
//! - **PCT** (Burckhardt et al., ASPLOS'10): random priorities and `depth - 1` random
//!   priority change points per round; a bug of depth `d` among `n` actors and `k` steps is
//!   found in each round with probability at least `1 / (n · k^(d-1))`.
//! - **Replay**: follow a printed schedule word exactly (then run without preemption).
//!
//! A schedule is a word over actor indices, one letter per released store call.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::trace::Choice;

/// How the explorer picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    Dfs { preemptions: u32 },
    Pct { depth: u32 },
    Replay(Vec<usize>),
}

pub const DEFAULT_PREEMPTIONS: u32 = 2;
pub const DEFAULT_DEPTH: u32 = 3;

impl Strategy {
    /// Parse `dfs`, `pct`, or a schedule word for replay.
    pub fn describe(&self) -> String {
        match self {
            Strategy::Dfs { preemptions } => {
                format!("dfs, at most {preemptions} preemption(s) per schedule")
            }
            Strategy::Pct { depth } => format!("pct, depth {depth}"),
            Strategy::Replay(word) => format!("replay of schedule {}", word_text(word)),
        }
    }
}

/// `0.1.1.0`
pub fn word_text(word: &[usize]) -> String {
    word.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Parse `0.1.1.0` (or `0110` when every actor index is one digit).
pub fn parse_word(text: &str) -> Result<Vec<usize>, String> {
    let bad =
        || format!("{text:?} is not a schedule: actor indices separated by dots, like 0.1.1.0");
    if text.is_empty() {
        return Err(bad());
    }
    if text.contains('.') {
        text.split('.')
            .map(|part| part.parse().map_err(|_| bad()))
            .collect()
    } else {
        text.chars()
            .map(|c| c.to_digit(10).map(|d| d as usize).ok_or_else(bad))
            .collect()
    }
}

/// One decision point of the current DFS path.
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
        self.last
            .is_some_and(|last| last != slot && self.enabled.contains(&last))
    }
}

/// The schedule chooser across rounds.
pub struct Explorer {
    strategy: Strategy,
    /// DFS: the path of the last round; the next round follows `path[..prefix]`.
    path: Vec<Node>,
    prefix: usize,
    /// The current round.
    point: usize,
    last: Option<usize>,
    preemptions: u32,
    word: Vec<usize>,
    /// The round did not follow its planned prefix (the adapter is not deterministic).
    pub diverged: bool,
    /// Some round diverged or ended before its planned prefix: DFS cannot claim to have
    /// covered its bound.
    pub inexact: bool,
    exhausted: bool,
    /// PCT: priorities (higher runs first), change points, the longest round seen.
    rng: StdRng,
    priorities: Vec<i64>,
    change_points: Vec<usize>,
    pub longest: usize,
    actors: usize,
}

impl Explorer {
    pub fn new(strategy: Strategy, actors: usize, seed: u64) -> Explorer {
        Explorer {
            strategy,
            path: Vec::new(),
            prefix: 0,
            point: 0,
            last: None,
            preemptions: 0,
            word: Vec::new(),
            diverged: false,
            inexact: false,
            exhausted: false,
            rng: StdRng::seed_from_u64(seed),
            priorities: Vec::new(),
            change_points: Vec::new(),
            longest: 0,
            actors,
        }
    }

    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// DFS has explored every schedule within its bound (or a replay has run).
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Start a round (a fresh store, a new schedule).
    pub fn begin_round(&mut self) {
        self.point = 0;
        self.last = None;
        self.preemptions = 0;
        self.word.clear();
        self.diverged = false;
        if let Strategy::Pct { depth } = self.strategy {
            // Priorities depth..depth+n-1 in random order; change points lower to 1..depth-1.
            let mut priorities: Vec<i64> = (0..self.actors as i64)
                .map(|p| p + i64::from(depth))
                .collect();
            priorities.shuffle(&mut self.rng);
            self.priorities = priorities;
            let steps = self.longest.max(8);
            self.change_points = (1..depth)
                .map(|_| self.rng.random_range(1..=steps))
                .collect();
        }
    }

    /// The schedule of the current round so far.
    pub fn word(&self) -> &[usize] {
        &self.word
    }

    /// Pick among `choices` (the held calls, one per enabled actor).
    pub fn choose(&mut self, choices: &[Choice]) -> usize {
        let enabled: Vec<usize> = choices.iter().map(|c| c.slot).collect();
        let slot = match self.strategy.clone() {
            Strategy::Dfs { .. } => self.choose_dfs(&enabled),
            Strategy::Replay(word) => match word.get(self.point) {
                Some(&planned) if enabled.contains(&planned) => planned,
                Some(_) => {
                    self.diverged = true;
                    self.default_choice(&enabled)
                }
                None => self.default_choice(&enabled),
            },
            Strategy::Pct { .. } => self.choose_pct(&enabled),
        };
        if self
            .last
            .is_some_and(|last| last != slot && enabled.contains(&last))
        {
            self.preemptions += 1;
        }
        self.last = Some(slot);
        self.point += 1;
        self.word.push(slot);
        choices.iter().position(|c| c.slot == slot).unwrap_or(0)
    }

    /// Without preemption: the actor that ran last if it can go on, else the lowest.
    fn default_choice(&self, enabled: &[usize]) -> usize {
        match self.last {
            Some(last) if enabled.contains(&last) => last,
            _ => enabled.iter().copied().min().unwrap_or(0),
        }
    }

    fn choose_dfs(&mut self, enabled: &[usize]) -> usize {
        let i = self.point;
        if i < self.prefix {
            if let Some(node) = self.path.get_mut(i) {
                if enabled.contains(&node.chosen) && node.enabled == enabled {
                    node.last = self.last;
                    return node.chosen;
                }
            }
            // The adapter did something else this time: continue from here as a new branch,
            // keeping what was already tried at this point.
            self.diverged = true;
            self.inexact = true;
            self.prefix = i;
        }
        let chosen = self.default_choice(enabled);
        let mut tried = self
            .path
            .get(i)
            .map(|node| node.tried.clone())
            .unwrap_or_default();
        if !tried.contains(&chosen) {
            tried.push(chosen);
        }
        self.path.truncate(i);
        self.path.push(Node {
            enabled: enabled.to_vec(),
            tried,
            chosen,
            last: self.last,
            preemptions_before: self.preemptions,
        });
        chosen
    }

    fn choose_pct(&mut self, enabled: &[usize]) -> usize {
        let step = self.point + 1;
        let best = |priorities: &[i64]| {
            enabled
                .iter()
                .copied()
                .max_by_key(|&s| priorities.get(s).copied().unwrap_or(0))
                .unwrap_or(0)
        };
        let mut slot = best(&self.priorities);
        if let Some(j) = self.change_points.iter().position(|&c| c == step) {
            if let Some(p) = self.priorities.get_mut(slot) {
                *p = j as i64 + 1 - i64::from(u32::MAX);
            }
            slot = best(&self.priorities);
        }
        slot
    }

    /// End the round; plan the next. False when there is nothing left to explore.
    pub fn end_round(&mut self) -> bool {
        self.longest = self.longest.max(self.point);
        match self.strategy {
            Strategy::Replay(_) => {
                self.exhausted = true;
                false
            }
            Strategy::Pct { .. } => true,
            Strategy::Dfs { preemptions } => {
                if self.point < self.prefix {
                    // Ended before its planned path (an error, or other calls this time).
                    self.inexact = true;
                }
                self.path.truncate(self.point);
                while let Some(node) = self.path.last_mut() {
                    let next = node.enabled.iter().copied().find(|&slot| {
                        !node.tried.contains(&slot)
                            && node.preemptions_before + u32::from(node.is_preemption(slot))
                                <= preemptions
                    });
                    if let Some(slot) = next {
                        node.tried.push(slot);
                        node.chosen = slot;
                        self.prefix = self.path.len();
                        return true;
                    }
                    self.path.pop();
                }
                self.exhausted = true;
                false
            }
        }
    }

    /// PCT's guarantee per round: the least probability `1/(n·k^(d-1))` that one round finds
    /// a bug of its depth, with `k` the longest round seen.
    pub fn pct_bound(&self) -> Option<f64> {
        let Strategy::Pct { depth } = self.strategy else {
            return None;
        };
        let k = self.longest.max(1) as f64;
        Some(1.0 / (self.actors.max(1) as f64 * k.powi(depth as i32 - 1)))
    }

    /// The actors it schedules.
    pub fn actors(&self) -> usize {
        self.actors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choices(slots: &[usize]) -> Vec<Choice> {
        slots
            .iter()
            .map(|&slot| Choice {
                slot,
                call: String::new(),
            })
            .collect()
    }

    /// Two actors of `a` and `b` steps each; every schedule DFS runs, as words.
    fn explore(a: usize, b: usize, preemptions: u32) -> Vec<Vec<usize>> {
        let mut explorer = Explorer::new(Strategy::Dfs { preemptions }, 2, 1);
        let mut words = Vec::new();
        for _ in 0..1000 {
            explorer.begin_round();
            let mut left = [a, b];
            while left.iter().any(|&n| n > 0) {
                let enabled: Vec<usize> = (0..2).filter(|&s| left[s] > 0).collect();
                let pick = explorer.choose(&choices(&enabled));
                left[enabled[pick]] -= 1;
            }
            words.push(explorer.word().to_vec());
            if !explorer.end_round() {
                return words;
            }
        }
        panic!("DFS did not end");
    }

    #[test]
    fn dfs_without_preemption_runs_each_actor_first_once() {
        assert_eq!(explore(2, 2, 0), vec![vec![0, 0, 1, 1], vec![1, 1, 0, 0]]);
    }

    #[test]
    fn dfs_runs_every_schedule_within_the_bound_once() {
        let words = explore(3, 3, 1);
        let mut unique = words.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), words.len(), "no schedule twice");
        // With one preemption: the first actor runs 1..=3 steps, the other all of its
        // steps, then the rest: for each first actor, the switch point 1, 2 or 3 (3 is no
        // preemption): 2 × 3 = 6 schedules.
        assert_eq!(words.len(), 6, "{words:?}");
        // Unbounded, every interleaving of 3+3 steps: C(6,3) = 20.
        assert_eq!(explore(3, 3, 10).len(), 20);
    }

    #[test]
    fn replay_follows_the_word() {
        let mut explorer = Explorer::new(Strategy::Replay(vec![1, 0, 1]), 2, 1);
        explorer.begin_round();
        for _ in 0..3 {
            explorer.choose(&choices(&[0, 1]));
        }
        assert_eq!(explorer.word(), &[1, 0, 1]);
        assert!(!explorer.diverged);
        assert!(!explorer.end_round());
    }

    #[test]
    fn words_round_trip() {
        assert_eq!(parse_word("0.1.10"), Ok(vec![0, 1, 10]));
        assert_eq!(parse_word("0110"), Ok(vec![0, 1, 1, 0]));
        assert_eq!(word_text(&[0, 1, 10]), "0.1.10");
        assert!(parse_word("0.x").is_err());
        assert!(parse_word("").is_err());
    }

    #[test]
    fn pct_picks_the_highest_priority_and_states_its_bound() {
        let mut explorer = Explorer::new(Strategy::Pct { depth: 1 }, 2, 7);
        explorer.begin_round();
        let first = explorer.choose(&choices(&[0, 1]));
        // Depth 1 has no change point: the same actor runs while it is enabled.
        for _ in 0..5 {
            assert_eq!(explorer.choose(&choices(&[0, 1])), first);
        }
        assert!(explorer.end_round());
        // Depth 1: one in n.
        assert_eq!(explorer.pct_bound(), Some(0.5));
    }
}

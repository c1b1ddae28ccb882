//! Controlled interleavings: which held store call runs next, round after round. One
//! [`Scheduler`] per strategy, each in its own file:
//!
//! - **DFS with partial-order reduction** ([`dpor`], the default): every schedule within a
//!   preemption bound, up to reordering calls that commute, once.
//! - **DFS** ([`dfs`], `--no-reduction`): every schedule within a preemption bound, once.
//! - **PCT** ([`pct`]): random priorities and change points, with a stated per-round bound.
//! - **Replay** ([`replay`]): a printed schedule word, exactly.
//!
//! [`Explorer`] does what is common to all: the schedule word, the actor that ran last, the
//! preemptions and the steps counted so far. A schedule is a word over actor indices, one
//! letter per released store call.

mod deepening;
mod dfs;
mod dpor;
mod pct;
mod recall;
mod replay;
mod walk;

use crate::trace::{Choice, Footprint};

/// How the explorer picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// `reduction`: skip schedules that only reorder commuting calls of one already run.
    Dfs {
        preemptions: u32,
        reduction: bool,
    },
    Pct {
        depth: u32,
    },
    Replay(Vec<usize>),
}

pub const DEFAULT_PREEMPTIONS: u32 = 2;
pub use dpor::UNBOUNDED;

/// `--preemptions`: a number up to 8, or `unbounded`.
pub fn parse_preemptions(text: &str) -> Result<u32, String> {
    if text == "unbounded" {
        return Ok(UNBOUNDED);
    }
    match text.parse::<u32>() {
        Ok(n) if n <= 8 => Ok(n),
        _ => Err(format!(
            "{text:?} is not a preemption bound: a number from 0 to 8, or `unbounded`"
        )),
    }
}

/// A preemption bound as the user writes it.
pub fn preemptions_text(preemptions: u32) -> String {
    if preemptions == UNBOUNDED {
        "unbounded".to_owned()
    } else {
        preemptions.to_string()
    }
}
pub const DEFAULT_DEPTH: u32 = 3;

impl Strategy {
    /// Parse `dfs`, `pct`, or a schedule word for replay.
    pub fn describe(&self) -> String {
        match self {
            Strategy::Dfs {
                preemptions,
                reduction,
            } if *preemptions == UNBOUNDED => format!(
                "dfs, any number of preemptions{}",
                if *reduction {
                    ""
                } else {
                    ", without partial-order reduction"
                }
            ),
            Strategy::Dfs {
                preemptions,
                reduction,
            } => format!(
                "dfs, at most {preemptions} preemption(s) per schedule{}",
                if *reduction {
                    ""
                } else {
                    ", without partial-order reduction"
                }
            ),
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

/// A decision of the current round, as a scheduler sees it.
pub(crate) struct Point<'a> {
    /// The actors that can run, ascending.
    pub enabled: &'a [usize],
    /// What the next call of each would touch (aligned with `enabled`).
    pub next: &'a [Footprint],
    /// Decisions before this one in the round.
    pub index: usize,
    /// Decisions before this one where more than one actor could run.
    pub contested: usize,
    /// The actor that ran last.
    pub last: Option<usize>,
    /// Preemptions so far in the round.
    pub preemptions: u32,
}

impl Point<'_> {
    /// The first decision of the round where more than one actor can run: where a
    /// scenario's schedules divide into parts, one per actor run there (`--shard`).
    pub fn is_split(&self) -> bool {
        self.contested == 0 && self.enabled.len() > 1
    }

    /// Running `slot` here keeps the round within `bound` preemptions.
    pub fn within(&self, slot: usize, bound: u32) -> bool {
        self.preemptions + u32::from(preempts(self.last, self.enabled, slot)) <= bound
    }

    /// The actor of part `part` at the split: the `part`-th that can run there, by index
    /// (actors are tracer slots, which need not start at 0: a verifier may hold slot 0).
    pub fn part_slot(&self, part: usize) -> Option<usize> {
        self.enabled.get(part).copied()
    }

    /// The order the actors are tried in at the split: the one run without preemption first,
    /// then the others ascending, each within `bound`.
    pub fn split_order(&self, bound: u32) -> Vec<usize> {
        let first = without_preemption(self.enabled, self.last);
        std::iter::once(first)
            .chain(self.enabled.iter().copied().filter(|&s| s != first))
            .filter(|&s| self.within(s, bound))
            .collect()
    }
}

/// A finished round, as a scheduler sees it.
pub(crate) struct RoundEnd {
    pub decisions: usize,
    pub contested: usize,
}

/// PCT's stated guarantee: each round after the first (which measures `k`, with no change
/// point) finds a bug of its depth with at least `probability`,
/// for rounds of at most `k` contested steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PctBound {
    pub k: usize,
    pub probability: f64,
}

/// One strategy: which enabled actor runs at each decision, and what the next round tries.
pub(crate) trait Scheduler: Send {
    fn begin_round(&mut self);
    /// A new race step starts at decision `index`: every call before it is ordered before
    /// every call after it (the runner waited for all replies).
    fn barrier(&mut self, _index: usize) {}
    /// One of `point.enabled`.
    fn choose(&mut self, point: &Point<'_>) -> usize;
    /// Plan the next round; false when there is nothing left to explore.
    fn end_round(&mut self, round: &RoundEnd) -> bool;
    /// Whether it reads the choices' footprints (only a reduction does: computing them costs
    /// path lookups at every decision).
    fn uses_footprints(&self) -> bool {
        false
    }
    /// The DFS bookkeeping, for the searches that have it.
    fn walk(&self) -> Option<&walk::Walk> {
        None
    }
    /// Every schedule of the strategy ran (DFS: within its bound; a replay: once).
    fn exhausted(&self) -> bool {
        self.walk().is_some_and(|w| w.exhausted)
    }
    /// The current round left its plan (the adapter did not repeat its calls).
    fn diverged(&self) -> bool {
        self.walk().is_some_and(|w| w.diverged)
    }
    /// Some round left or ended before its plan: DFS cannot claim to have covered its bound.
    fn inexact(&self) -> bool {
        self.walk().is_some_and(|w| w.inexact)
    }
    fn pct_bound(&self) -> Option<PctBound> {
        None
    }
    /// The largest preemption bound whose every schedule ran as planned (a bounded search
    /// that deepens its bound).
    fn exhausted_within(&self) -> Option<u32> {
        None
    }
    /// Explore only the schedules that run `actor` at the split ([`Point::is_split`]).
    fn set_part(&mut self, _actor: usize) {}
    /// A copy, as it stands (a search whose rounds can be recalled: [`recall`]).
    fn duplicate(&self) -> Option<Box<dyn Scheduler>> {
        None
    }
    /// Rounds recalled from a record instead of run again.
    fn recalled(&self) -> u32 {
        0
    }
    /// The round just ended belongs to another part (its split ran another actor, or it had
    /// no split and this part is not the first).
    fn foreign(&self) -> bool {
        self.walk().is_some_and(walk::Walk::foreign)
    }
}

/// Whether running `slot` switches away from `last` while it could go on.
fn preempts(last: Option<usize>, enabled: &[usize], slot: usize) -> bool {
    last.is_some_and(|last| last != slot && enabled.contains(&last))
}

/// Without preemption: the actor that ran last if it can go on, else the lowest.
fn without_preemption(enabled: &[usize], last: Option<usize>) -> usize {
    match last {
        Some(last) if enabled.contains(&last) => last,
        _ => enabled.iter().copied().min().unwrap_or(0),
    }
}

/// The schedule chooser across rounds.
pub struct Explorer {
    strategy: Strategy,
    scheduler: Box<dyn Scheduler>,
    actors: usize,
    /// The current round.
    word: Vec<usize>,
    contested: usize,
    last: Option<usize>,
    preemptions: u32,
    /// Decisions in the longest round so far.
    longest: usize,
}

impl Explorer {
    pub fn new(strategy: Strategy, actors: usize, seed: u64) -> Explorer {
        let scheduler: Box<dyn Scheduler> = match &strategy {
            Strategy::Dfs {
                preemptions: UNBOUNDED,
                reduction: true,
            } => Box::new(dpor::Dpor::new(UNBOUNDED)),
            Strategy::Dfs {
                preemptions: UNBOUNDED,
                reduction: false,
            } => Box::new(dfs::Dfs::new(UNBOUNDED)),
            Strategy::Dfs {
                preemptions,
                reduction: true,
            } => Box::new(deepening::Deepening::new(*preemptions, |bound| {
                Box::new(dpor::Dpor::new(bound))
            })),
            Strategy::Dfs {
                preemptions,
                reduction: false,
            } => Box::new(deepening::Deepening::new(*preemptions, |bound| {
                Box::new(dfs::Dfs::new(bound))
            })),
            Strategy::Pct { depth } => Box::new(pct::Pct::new(*depth, actors, seed)),
            Strategy::Replay(word) => Box::new(replay::Replay::new(word.clone())),
        };
        Explorer {
            strategy,
            scheduler,
            actors,
            word: Vec::new(),
            contested: 0,
            last: None,
            preemptions: 0,
            longest: 0,
        }
    }

    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// Explore only part `part` of the schedules: those that run the `part`-th actor that can
    /// run at the split. The parts are disjoint and together make up the whole search.
    pub fn part(mut self, part: usize) -> Explorer {
        self.scheduler.set_part(part);
        self
    }

    /// Whether choices must carry their calls' footprints.
    pub fn uses_footprints(&self) -> bool {
        self.scheduler.uses_footprints()
    }

    /// The round just ended belongs to another part: not counted, and the part is empty.
    pub fn foreign(&self) -> bool {
        self.scheduler.foreign()
    }

    /// DFS has explored every schedule within its bound (or a replay has run).
    pub fn exhausted(&self) -> bool {
        self.scheduler.exhausted()
    }

    /// The current round did not follow its planned schedule.
    pub fn diverged(&self) -> bool {
        self.scheduler.diverged()
    }

    /// Some round did not follow its plan: a DFS cannot claim its bound.
    pub fn inexact(&self) -> bool {
        self.scheduler.inexact()
    }

    /// The largest preemption bound whose every schedule ran as planned: the whole bound when
    /// it was exhausted, else a smaller one the search deepened through.
    pub fn exhausted_within(&self) -> Option<u32> {
        self.scheduler.exhausted_within()
    }

    /// Schedules a deepening search planned again and recalled from what it recorded when
    /// they first ran, instead of running them again.
    pub fn recalled(&self) -> u32 {
        self.scheduler.recalled()
    }

    /// Decisions in the longest round so far.
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// Start a round (a fresh store, a new schedule).
    pub fn begin_round(&mut self) {
        self.word.clear();
        self.contested = 0;
        self.last = None;
        self.preemptions = 0;
        self.scheduler.begin_round();
    }

    /// A race step starts: the calls before it are ordered before those after it.
    pub fn barrier(&mut self) {
        self.scheduler.barrier(self.word.len());
    }

    /// The schedule of the current round so far.
    pub fn word(&self) -> &[usize] {
        &self.word
    }

    /// Pick among `choices` (the held calls, one per enabled actor).
    pub fn choose(&mut self, choices: &[Choice]) -> usize {
        let mut sorted: Vec<&Choice> = choices.iter().collect();
        sorted.sort_unstable_by_key(|c| c.slot);
        let enabled: Vec<usize> = sorted.iter().map(|c| c.slot).collect();
        let next: Vec<Footprint> = sorted.iter().map(|c| c.footprint.clone()).collect();
        let point = Point {
            enabled: &enabled,
            next: &next,
            index: self.word.len(),
            contested: self.contested,
            last: self.last,
            preemptions: self.preemptions,
        };
        let slot = self.scheduler.choose(&point);
        if enabled.len() > 1 {
            self.contested += 1;
        }
        if self
            .last
            .is_some_and(|last| last != slot && enabled.contains(&last))
        {
            self.preemptions += 1;
        }
        self.last = Some(slot);
        self.word.push(slot);
        choices.iter().position(|c| c.slot == slot).unwrap_or(0)
    }

    /// End the round; plan the next. False when there is nothing left to explore.
    pub fn end_round(&mut self) -> bool {
        self.longest = self.longest.max(self.word.len());
        self.scheduler.end_round(&RoundEnd {
            decisions: self.word.len(),
            contested: self.contested,
        })
    }

    /// PCT's guarantee per round, with the most contested steps seen as `k`.
    pub fn pct_bound(&self) -> Option<PctBound> {
        self.scheduler.pct_bound()
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
                footprint: Footprint::global(),
            })
            .collect()
    }

    /// Two actors of `a` and `b` steps each; every schedule DFS runs, as words.
    fn explore(a: usize, b: usize, preemptions: u32) -> Vec<Vec<usize>> {
        explore_recalling(a, b, preemptions).0
    }

    /// The same, and the schedules the search recalled instead of running.
    fn explore_recalling(a: usize, b: usize, preemptions: u32) -> (Vec<Vec<usize>>, u32) {
        let strategy = Strategy::Dfs {
            preemptions,
            reduction: false,
        };
        let mut explorer = Explorer::new(strategy, 2, 1);
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
                return (words, explorer.recalled());
            }
        }
        panic!("DFS did not end");
    }

    #[test]
    fn dfs_without_preemption_runs_each_actor_first_once() {
        assert_eq!(explore(2, 2, 0), vec![vec![0, 0, 1, 1], vec![1, 1, 0, 0]]);
    }

    /// The bound deepens: every schedule without preemption, then every one with at most 1,
    /// those two recalled from the first search's record rather than run again.
    #[test]
    fn dfs_runs_every_schedule_within_each_bound_once() {
        let (words, recalled) = explore_recalling(3, 3, 1);
        let (first, second) = words.split_at(2);
        assert_eq!(first, [vec![0, 0, 0, 1, 1, 1], vec![1, 1, 1, 0, 0, 0]]);
        let mut unique = words.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), words.len(), "no schedule twice: {words:?}");
        // With one preemption: the first actor runs 1..=3 steps, the other all of its
        // steps, then the rest: for each first actor, the switch point 1, 2 or 3 (3 is no
        // preemption): 2 × 3 = 6 schedules, of which the 2 without preemption are recalled.
        assert_eq!((second.len(), recalled), (4, 2), "{words:?}");
        // Unbounded (no deepening), every interleaving of 3+3 steps: C(6,3) = 20.
        assert_eq!(explore(3, 3, UNBOUNDED).len(), 20);
    }

    #[test]
    fn replay_follows_the_word() {
        let mut explorer = Explorer::new(Strategy::Replay(vec![1, 0, 1]), 2, 1);
        explorer.begin_round();
        for _ in 0..3 {
            explorer.choose(&choices(&[0, 1]));
        }
        assert_eq!(explorer.word(), &[1, 0, 1]);
        assert!(!explorer.diverged());
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
        // Depth 1: one in n, whatever k.
        let bound = explorer.pct_bound().expect("pct");
        assert_eq!((bound.k, bound.probability), (6, 0.5));
    }

    /// A program of actors, each a list of steps: labels, unique across actors. One round
    /// under `explorer`: the order the steps ran in.
    fn run(explorer: &mut Explorer, program: &[&[&'static str]]) -> Vec<&'static str> {
        explorer.begin_round();
        let mut next = vec![0; program.len()];
        let mut ran = Vec::new();
        loop {
            let enabled: Vec<usize> = (0..program.len())
                .filter(|&a| next[a] < program[a].len())
                .collect();
            if enabled.is_empty() {
                break;
            }
            let actor = enabled[explorer.choose(&choices(&enabled))];
            ran.push(program[actor][next[actor]]);
            next[actor] += 1;
        }
        explorer.end_round();
        ran
    }

    /// The fraction of `rounds` PCT rounds of depth `depth` in which `bug` holds of the order
    /// of steps, and the bound PCT states for them (the first round, which measures `k`,
    /// left out).
    fn pct_catch_rate(
        depth: u32,
        program: &[&[&'static str]],
        bug: impl Fn(&[&str]) -> bool,
        rounds: u32,
    ) -> (f64, f64) {
        let mut explorer = Explorer::new(Strategy::Pct { depth }, program.len(), 11);
        run(&mut explorer, program);
        let caught = (0..rounds)
            .filter(|_| bug(&run(&mut explorer, program)))
            .count();
        let bound = explorer.pct_bound().expect("pct").probability;
        (caught as f64 / f64::from(rounds), bound)
    }

    fn before(order: &[&str], a: &str, b: &str) -> bool {
        let at = |s: &str| order.iter().position(|x| *x == s);
        matches!((at(a), at(b)), (Some(a), Some(b)) if a < b)
    }

    /// Depth 2 (an atomicity violation): actor 1's `y` between actor 0's `x` and `z`, with
    /// steps around them that any schedule may interleave. The measured rate is at least the
    /// printed bound (less three standard deviations of the measurement).
    #[test]
    fn pct_finds_a_depth_2_bug_at_least_as_often_as_its_bound() {
        let program: &[&[&str]] = &[&["a0", "x", "z", "a1", "a2"], &["b0", "b1", "y", "b2"]];
        let bug = |o: &[&str]| before(o, "x", "y") && before(o, "y", "z");
        assert_rate_at_least_bound(pct_catch_rate(2, program, bug, 4000), 4000);
    }

    /// Depth 3 (three ordering constraints): `x` before `y`, `y` before `z`, `z` before `v`,
    /// where actor 0 runs `x` then `z` and actor 1 `y` then `v`, among steps any schedule
    /// may interleave.
    #[test]
    fn pct_finds_a_depth_3_bug_at_least_as_often_as_its_bound() {
        let program: &[&[&str]] = &[&["a0", "x", "a1", "z", "a2"], &["b0", "y", "b1", "v"]];
        let bug = |o: &[&str]| before(o, "x", "y") && before(o, "y", "z") && before(o, "z", "v");
        assert_rate_at_least_bound(pct_catch_rate(3, program, bug, 4000), 4000);
    }

    fn assert_rate_at_least_bound((rate, bound): (f64, f64), rounds: u32) {
        let sigma = (bound * (1.0 - bound) / f64::from(rounds)).sqrt();
        assert!(bound > 0.0, "a bound of 0 states nothing");
        assert!(
            rate >= bound - 3.0 * sigma,
            "caught in {rate:.4} of rounds, below the stated bound {bound:.4}"
        );
    }

    /// Change points are distinct and fall on contested steps only: with depth 2, two actors
    /// of one contested step each, the change point is certain and every round switches.
    #[test]
    fn pct_change_points_count_only_contested_steps() {
        // Actor 0 runs alone for 20 steps (uncontested), then both race for two steps.
        let mut explorer = Explorer::new(Strategy::Pct { depth: 2 }, 2, 3);
        let round = |explorer: &mut Explorer| {
            explorer.begin_round();
            let mut word = Vec::new();
            for _ in 0..20 {
                explorer.choose(&choices(&[0]));
            }
            for _ in 0..2 {
                let enabled = [0, 1];
                word.push(enabled[explorer.choose(&choices(&enabled))]);
            }
            explorer.end_round();
            word
        };
        round(&mut explorer);
        assert_eq!(explorer.pct_bound().expect("pct").k, 2);
        for _ in 0..50 {
            let word = round(&mut explorer);
            // The one change point is after contested step 1: the actor that ran it drops.
            assert_ne!(word[0], word[1], "{word:?}");
        }
    }
}

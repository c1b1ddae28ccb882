//! Bounded partial-order reduction (the default): the DFS over schedules within the preemption
//! bound, but a schedule that only reorders commuting calls of a schedule already run is not
//! run again.
//!
//! - **Races.** Each round's calls are analysed with vector clocks: a call dependent on an
//!   earlier call of another actor, and not already ordered after it through other calls, is a
//!   race. Some schedule must run them the other way round: an actor that can start that
//!   order (one whose first call among those after the earlier call that do not depend on it,
//!   then the later call, depends on none of them) is tried at the earlier call's point, as
//!   source-set DPOR does (Abdulla et al., POPL'14). Where none of them can run there, every
//!   actor that can is tried (Flanagan and Godefroid, POPL'05).
//! - **The preemption bound** stays a second limit: an actor is only tried where the schedule
//!   stays within it. The bound makes commuting calls dependent (only the cheaper order may
//!   be within it), so, as BPOR does (Coons, Musuvathi and McKinley, OOPSLA'13), each race
//!   also tries its later actor at the start of the earlier call's run of one actor and of
//!   the run before, where switching costs no preemption more than the schedule did (where
//!   that actor sleeps, the actors that can start the reversed order from there); and every
//!   starting actor within the bound is tried, not one, since which of them reaches the
//!   reversed order within the bound depends on what follows.
//! - **Sleep sets**: an actor explored at a point sleeps in the later branches until a call
//!   dependent on its next call runs. Under a bound, an actor `p` falls asleep at a point in
//!   the branch of `q` only where `c(p) + e(p) ≤ c(q)`: `c` is 1 where running the actor at
//!   the point is a preemption, `e(p)` is 0 where `p`'s call there ended its run (`p` could
//!   not run right after it, as `p`'s branch showed) and 1 otherwise. A schedule the sleep
//!   set skips, `q u p v` (`p`'s call commuting with every call of `q u`), has the equivalent
//!   `p q u v` in `p`'s branch, and that one costs no preemption more: at the point it pays
//!   `c(p)` for `c(q)`, then at most `e(p)` for the switch from `p` to `q`, and at the
//!   junction of `u` and `v` at most what `q u p v` pays for leaving `u`'s last actor
//!   (commuting calls neither block nor release an actor, so each switch meets the same
//!   runnable actors in both). So `p` sleeps where it ran last before the point and `q`
//!   preempts it (`0 + 1 ≤ 1`), and where its call ended its run and `c(p) ≤ c(q)`. Any
//!   other actor could lose schedules whose only equivalent lies beyond the bound (the
//!   property tests below found such programs). At the split of a sharded search no actor
//!   counts as ending its run there, in the whole search as in each part: a part does not
//!   run the actors before its own. A round whose every runnable actor sleeps is run to its
//!   end (its actors cannot be stopped midway) but adds nothing to explore.
//! - **Deferred actors**: an actor explored before the branch's where running it costs no
//!   more (`c(p) ≤ c(q)`) may make the rest of a branch redundant once it has run a block of
//!   calls that commute with the branch's ([`Deferred`]); this matters where the sleep rule
//!   keeps it awake.
//! - **Steps.** The runner waits for every reply of a race before the next one, so calls of
//!   different races are ordered: races are looked for within a race step only
//!   ([`Scheduler::barrier`]).
//!
//! Evidence, in the tests below: on generated programs of 2–4 actors reading and writing
//! shared variables, the unbounded reduction reaches exactly the outcomes of the full search,
//! and the bounded one (bounds 0–2) every outcome of the bounded full search.
//!
//! Footprints are of this round: nothing is compared across rounds but actor indices, so
//! fresh inodes and directories per round do not matter.

use std::collections::HashMap;

use super::walk::Walk;
use super::{preempts, without_preemption, Point, RoundEnd, Scheduler};
use crate::trace::{Footprint, Object};

/// No preemption bound: plain source-set DPOR with sleep sets.
pub const UNBOUNDED: u32 = u32::MAX;

/// One decision point of the current path.
#[derive(Debug, Clone)]
struct Node {
    enabled: Vec<usize>,
    /// The next call of each enabled actor, as this round saw it (aligned with `enabled`).
    next: Vec<Footprint>,
    chosen: usize,
    last: Option<usize>,
    preemptions_before: u32,
    /// Actors some race wants run here.
    backtrack: Vec<usize>,
    /// Actors run here, in this round or an earlier one.
    done: Vec<usize>,
    /// Those of `done` whose call here ended their run: they could not run right after it.
    ended: Vec<usize>,
    /// Actors whose next call need not run here (this round's sleep set).
    sleep: Vec<usize>,
    /// Actors explored ahead of another where that cost no more, whose calls since commute
    /// with that branch's.
    deferred: Vec<Deferred>,
    /// The split of a part (`--shard`): the other actors are explored elsewhere.
    closed: bool,
    /// The split of the search into parts (in a part or in the whole).
    split: bool,
}

impl Node {
    fn is_preemption(&self, slot: usize) -> bool {
        preempts(self.last, &self.enabled, slot)
    }

    fn within(&self, slot: usize, bound: u32) -> bool {
        self.preemptions_before + u32::from(self.is_preemption(slot)) <= bound
    }

    /// The chosen actor's call ended its run.
    fn end_run(&mut self) {
        if !self.ended.contains(&self.chosen) {
            self.ended.push(self.chosen);
        }
    }

    /// `slot` need not run here: it sleeps, or a deferred actor's block ran and can run on
    /// (leaving it where it cannot may cost less than it did: a lock `u` took may block it).
    /// Only the sleep set passes on to the next point.
    fn asleep(&self, slot: usize) -> bool {
        self.sleep.contains(&slot)
            || self
                .deferred
                .iter()
                .any(|d| d.running && d.actor != slot && self.enabled.contains(&d.actor))
    }

    fn next_of(&self, slot: usize) -> Option<&Footprint> {
        self.enabled
            .iter()
            .position(|&s| s == slot)
            .and_then(|i| self.next.get(i))
    }
}

/// An actor `p` explored at point `from` before the actor `q` of this branch, where running
/// `p` there cost no more (`c(p) ≤ c(q)`): where the sleep rule keeps it awake (its call may
/// not end its run), this still prunes. While its next call commutes with every call since `from`, it waits;
/// once the branch preempts another actor to run it, its calls since are its block, while
/// they commute with every other actor's call since `from`. A branch `q u p…p x` whose block
/// is such stands for `p…p q u x`, in `p`'s branch, which costs no preemption more: at `from`
/// it pays `c(p)` for `c(q)`; the switches within `q u` are the same; the switch from `u`'s
/// last actor to `x` costs at most the preemption the switch to `p` cost; and where `p` can run on after its block, leaving it
/// costs a preemption in both orders. So where the block ran and `p` can run on, no other
/// actor need run. Where `p` cannot, nothing is concluded: `u` may be what stops it (a lock it
/// took), and `p…p q u` would then pay for leaving `p`. As for the sleep rule, commuting calls
/// are assumed to neither block nor release an actor.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Deferred {
    actor: usize,
    from: usize,
    /// Its block began: the last call ran was its own.
    running: bool,
}

/// A released call of this round, for race analysis.
#[derive(Clone)]
struct Event {
    actor: usize,
    /// Calls of each actor ordered before or at this one.
    clock: Vec<u32>,
    /// Its place among its actor's calls, from 1.
    position: u32,
}

/// This round's calls, indexed for race analysis.
#[derive(Default, Clone)]
struct Round {
    events: Vec<Event>,
    by_object: HashMap<Object, Vec<(usize, bool)>>,
    global: Vec<usize>,
    /// Each actor's clock after its latest call.
    clocks: Vec<Vec<u32>>,
    /// The first call of the current race step.
    step_start: usize,
    /// The point from which every runnable actor slept: nothing after it is analysed.
    redundant_from: Option<usize>,
}

impl Round {
    /// Earlier calls of this step by other actors that `footprint` is dependent on, latest
    /// first.
    fn dependent_on(&self, actor: usize, footprint: &Footprint) -> Vec<usize> {
        let mut found: Vec<usize> = if footprint.global {
            (self.step_start..self.events.len()).collect()
        } else {
            let mut found = self.global.clone();
            for (object, writes) in footprint.objects() {
                for &(at, wrote) in self.by_object.get(object).into_iter().flatten() {
                    if object.conflict(writes, wrote) {
                        found.push(at);
                    }
                }
            }
            found
        };
        found.retain(|&at| at >= self.step_start && self.events[at].actor != actor);
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.dedup();
        found
    }
}

#[derive(Clone)]
pub(super) struct Dpor {
    preemptions: u32,
    /// The path of the last round; the next round follows `path[..walk.prefix]`.
    path: Vec<Node>,
    walk: Walk,
    round: Round,
}

impl Dpor {
    pub(super) fn new(preemptions: u32) -> Dpor {
        Dpor {
            preemptions,
            path: Vec::new(),
            walk: Walk::default(),
            round: Round::default(),
        }
    }

    /// The sleep set at point `i`, from the point before it: actors asleep there or explored
    /// there before, whose next call commutes with the call that ran.
    fn sleep_at(&self, i: usize, enabled: &[usize]) -> Vec<usize> {
        if i == 0 || i <= self.round.step_start {
            return Vec::new();
        }
        let Some(before) = self.path.get(i - 1) else {
            return Vec::new();
        };
        let Some(ran) = before.next_of(before.chosen) else {
            return Vec::new();
        };
        let bounded = self.preemptions != UNBOUNDED;
        // Under a bound, an actor falls asleep only where moving its call back to this point
        // never costs a preemption more (see the module's doc): running it here, then
        // leaving it, costs no more than running the chosen one here did.
        let cost = |q: usize| u32::from(before.is_preemption(q));
        // At the split a part has not run the actors before its own (see `choose`): none of
        // them is known to end its run there, in the whole search as in each part.
        let leaving = |q: usize| u32::from(before.split || !before.ended.contains(&q));
        let falls_asleep = |q: usize| !bounded || cost(q) + leaving(q) <= cost(before.chosen);
        before
            .sleep
            .iter()
            .copied()
            .chain(before.done.iter().copied().filter(|&q| falls_asleep(q)))
            .filter(|&q| q != before.chosen && enabled.contains(&q))
            .filter(|&q| before.next_of(q).is_some_and(|next| !next.dependent(ran)))
            .fold(Vec::new(), |mut set, q| {
                if !set.contains(&q) {
                    set.push(q);
                }
                set
            })
    }

    /// The deferred actors at point `i` (see [`Deferred`]), from the point before it. Under a
    /// bound only: without one, every actor explored before sleeps.
    fn deferred_at(&self, i: usize, enabled: &[usize]) -> Vec<Deferred> {
        if self.preemptions == UNBOUNDED || i == 0 || i <= self.round.step_start {
            return Vec::new();
        }
        let Some(before) = self.path.get(i - 1) else {
            return Vec::new();
        };
        let Some(ran) = before.next_of(before.chosen) else {
            return Vec::new();
        };
        let commutes_with_ran =
            |q: usize| before.next_of(q).is_some_and(|next| !next.dependent(ran));
        let mut deferred = Vec::new();
        for d in &before.deferred {
            if before.chosen == d.actor {
                // Its call that ran joins the block while it commutes with every other
                // actor's call since `from`. The block begins with a preemption: `q u`'s
                // last actor could run on, so leaving it for `x` costs no more.
                let begun = d.running || before.is_preemption(d.actor);
                let commutes = begun
                    && (d.from..i - 1).all(|k| {
                        let node = &self.path[k];
                        node.chosen == d.actor
                            || node
                                .next_of(node.chosen)
                                .is_some_and(|call| !call.dependent(ran))
                    });
                if commutes {
                    deferred.push(Deferred {
                        running: true,
                        ..d.clone()
                    });
                }
            } else if !d.running && enabled.contains(&d.actor) && commutes_with_ran(d.actor) {
                deferred.push(d.clone());
            }
        }
        let cost = |q: usize| before.is_preemption(q);
        for &q in &before.done {
            let fresh = !deferred.iter().any(|d| d.actor == q);
            if fresh
                && q != before.chosen
                && cost(q) <= cost(before.chosen)
                && enabled.contains(&q)
                && commutes_with_ran(q)
            {
                deferred.push(Deferred {
                    actor: q,
                    from: i - 1,
                    running: false,
                });
            }
        }
        deferred
    }

    /// The sleep set at point `i` and its deferred actors.
    fn asleep_at(&self, i: usize, enabled: &[usize]) -> (Vec<usize>, Vec<Deferred>) {
        (self.sleep_at(i, enabled), self.deferred_at(i, enabled))
    }

    /// The call at point `i` by `actor` ran: find its races, and index it.
    fn analyse(&mut self, i: usize, actor: usize) {
        if self.round.redundant_from.is_some_and(|from| i >= from) || i != self.round.events.len() {
            return;
        }
        let Some(footprint) = self.path.get(i).and_then(|n| n.next_of(actor)).cloned() else {
            return;
        };
        if self.round.clocks.len() <= actor {
            self.round.clocks.resize(actor + 1, Vec::new());
        }
        let mut clock = self.round.clocks[actor].clone();
        let position = clock.get(actor).copied().unwrap_or(0) + 1;
        // Latest first: an earlier call already ordered before this one through a later
        // dependent call is no race.
        let mut races = Vec::new();
        for at in self.round.dependent_on(actor, &footprint) {
            let event = &self.round.events[at];
            if clock.get(event.actor).copied().unwrap_or(0) >= event.position {
                continue;
            }
            races.push(at);
            let other = event.clock.clone();
            join(&mut clock, &other);
        }
        if clock.len() <= actor {
            clock.resize(actor + 1, 0);
        }
        clock[actor] = position;
        let index = self.round.events.len();
        if footprint.global {
            self.round.global.push(index);
        }
        for (object, writes) in footprint.objects() {
            self.round
                .by_object
                .entry(object.clone())
                .or_default()
                .push((index, writes));
        }
        self.round.clocks[actor] = clock.clone();
        self.round.events.push(Event {
            actor,
            clock,
            position,
        });
        for at in races {
            self.race(at, index);
        }
    }

    /// Calls `at` and `later` race: some schedule must run `later` before `at`. As source-set
    /// DPOR (Abdulla et al., POPL'14) does, it is enough that one actor that can start the
    /// reversed order is tried at `at`: one whose first call among those after `at` that do
    /// not depend on it (then `later`) depends on none of them. Also try `later`'s actor at
    /// the latest context switch before `at` (BPOR's conservative point).
    fn race(&mut self, at: usize, later: usize) {
        let events = &self.round.events;
        let ordered_after = |k: usize, before: usize| {
            let (b, e) = (&events[before], &events[k]);
            e.clock.get(b.actor).copied().unwrap_or(0) >= b.position
        };
        // The actors that can start, at point `from`, an order of the calls from there on
        // that runs `later` before `at`.
        let initials_from = |from: usize| {
            let reversed: Vec<usize> = (from..later)
                .filter(|&k| k != at && !ordered_after(k, at))
                .chain([later])
                .collect();
            let mut initials = Vec::new();
            for (n, &k) in reversed.iter().enumerate() {
                let first = !reversed[..n].iter().any(|&m| ordered_after(k, m));
                if first && !initials.contains(&events[k].actor) {
                    initials.push(events[k].actor);
                }
            }
            initials
        };
        let mut tries = vec![(at, initials_from(at + 1))];
        if self.preemptions != UNBOUNDED {
            // The start of `at`'s run of one actor, and of the run before: switching to
            // `later`'s actor there costs no more preemptions than the switch the schedule
            // made there. Where that actor sleeps, its order is another branch's: any actor
            // that can start the reversed order from there stands in for it.
            let actor = events[later].actor;
            let start = self.round.step_start;
            let switches = (start..=at)
                .rev()
                .filter(|&k| k == start || self.path[k].chosen != self.path[k - 1].chosen)
                .take(2);
            for switch in switches {
                if self.path[switch].asleep(actor) {
                    tries.push((switch, initials_from(switch)));
                } else {
                    tries.push((switch, vec![actor]));
                }
            }
        }
        for (point, actors) in tries {
            self.try_one_of(point, &actors);
        }
    }

    /// Make sure one of `actors` is tried at point `at`; when none of them can run there,
    /// every actor that can. Under a bound, every one of them that keeps the schedule in the
    /// bound: which one reaches the reversed order within the bound depends on what follows.
    fn try_one_of(&mut self, at: usize, actors: &[usize]) {
        let bound = self.preemptions;
        let Some(node) = self.path.get_mut(at).filter(|node| !node.closed) else {
            return;
        };
        let all = bound != UNBOUNDED;
        if !all && actors.iter().any(|a| node.backtrack.contains(a)) {
            return;
        }
        let runnable: Vec<usize> = actors
            .iter()
            .copied()
            .filter(|a| node.enabled.contains(a))
            .collect();
        if runnable.is_empty() {
            for slot in node.enabled.clone() {
                if node.within(slot, bound) && !node.backtrack.contains(&slot) {
                    node.backtrack.push(slot);
                }
            }
        } else if all {
            for slot in runnable {
                if node.within(slot, bound) && !node.backtrack.contains(&slot) {
                    node.backtrack.push(slot);
                }
            }
        } else if let Some(slot) = runnable.into_iter().find(|&a| node.within(a, bound)) {
            node.backtrack.push(slot);
        }
    }
}

fn join(clock: &mut Vec<u32>, other: &[u32]) {
    if clock.len() < other.len() {
        clock.resize(other.len(), 0);
    }
    for (mine, theirs) in clock.iter_mut().zip(other) {
        *mine = (*mine).max(*theirs);
    }
}

impl Scheduler for Dpor {
    fn uses_footprints(&self) -> bool {
        true
    }

    fn begin_round(&mut self) {
        self.walk.begin_round();
        self.round = Round::default();
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

    fn barrier(&mut self, index: usize) {
        self.round.step_start = index;
    }

    fn choose(&mut self, point: &Point<'_>) -> usize {
        let i = point.index;
        self.walk.saw(point);
        if let Some(before) = i.checked_sub(1).and_then(|b| self.path.get_mut(b)) {
            if !point.enabled.contains(&before.chosen) {
                before.end_run();
            }
        }
        if i < self.walk.prefix {
            let (sleep, deferred) = self.asleep_at(i, point.enabled);
            if let Some(node) = self.path.get_mut(i) {
                if point.enabled.contains(&node.chosen) && node.enabled == point.enabled {
                    node.next = point.next.to_vec();
                    node.last = point.last;
                    node.sleep = sleep;
                    node.deferred = deferred;
                    let chosen = node.chosen;
                    self.analyse(i, chosen);
                    return chosen;
                }
            }
            // The adapter did something else this time: continue from here as a new branch,
            // keeping what was already explored at this point.
            self.walk.left_plan(i);
        }
        let (sleep, deferred) = self.asleep_at(i, point.enabled);
        let bound = self.preemptions;
        let mut node = Node {
            enabled: point.enabled.to_vec(),
            next: point.next.to_vec(),
            chosen: 0,
            last: point.last,
            preemptions_before: point.preemptions,
            backtrack: Vec::new(),
            done: Vec::new(),
            ended: Vec::new(),
            sleep,
            deferred,
            closed: false,
            split: point.is_split(),
        };
        if let Some(old) = self.path.get(i) {
            let among = |set: &[usize], of: &[usize]| -> Vec<usize> {
                set.iter().copied().filter(|s| of.contains(s)).collect()
            };
            node.done = among(&old.done, point.enabled);
            node.ended = among(&old.ended, &node.done);
            node.backtrack = among(&old.backtrack, point.enabled);
        }
        let awake: Vec<usize> = point
            .enabled
            .iter()
            .copied()
            .filter(|&s| !node.asleep(s) && node.within(s, bound))
            .collect();
        let mut chosen = if awake.is_empty() {
            if self.round.redundant_from.is_none() {
                self.round.redundant_from = Some(i);
            }
            without_preemption(point.enabled, point.last)
        } else {
            without_preemption(&awake, point.last)
        };
        if point.is_split() {
            // Every actor is tried at the split, in a fixed order, so that the parts of a
            // sharded run are disjoint and their sleep sets equal the whole run's.
            let order = point.split_order(bound);
            match self.walk.part {
                None => {
                    for slot in order {
                        if !node.backtrack.contains(&slot) {
                            node.backtrack.push(slot);
                        }
                    }
                }
                Some(part) => {
                    node.closed = true;
                    let slot = point.part_slot(part);
                    match order.iter().position(|&s| Some(s) == slot) {
                        Some(at) => {
                            chosen = order[at];
                            for &before in &order[..at] {
                                if !node.done.contains(&before) {
                                    node.done.push(before);
                                }
                            }
                        }
                        None => self.walk.foreign = true,
                    }
                }
            }
        }
        node.chosen = chosen;
        for set in [&mut node.done, &mut node.backtrack] {
            if !set.contains(&chosen) {
                set.push(chosen);
            }
        }
        self.path.truncate(i);
        self.path.push(node);
        self.analyse(i, chosen);
        chosen
    }

    fn end_round(&mut self, round: &RoundEnd) -> bool {
        if !self.walk.ended(round.decisions) {
            return false;
        }
        let keep = self
            .round
            .redundant_from
            .map_or(round.decisions, |from| from.min(round.decisions));
        self.path.truncate(keep);
        if keep == round.decisions {
            if let Some(last) = self.path.last_mut() {
                last.end_run();
            }
        }
        let bound = self.preemptions;
        while let Some(node) = self.path.last_mut() {
            let next = node.backtrack.iter().copied().find(|&slot| {
                !node.closed
                    && !node.done.contains(&slot)
                    && !node.asleep(slot)
                    && node.enabled.contains(&slot)
                    && node.within(slot, bound)
            });
            if let Some(slot) = next {
                node.done.push(slot);
                node.chosen = slot;
                self.walk.prefix = self.path.len();
                return true;
            }
            self.path.pop();
        }
        self.walk.done()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use proptest::prelude::*;

    use super::{Dpor, UNBOUNDED};
    use crate::explore::{Explorer, Scheduler, Strategy as Search};
    use crate::trace::{Choice, Footprint, Object};

    /// A step of a simulated actor: read or write one of a few shared variables.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        Read(usize),
        Write(usize),
    }

    fn footprint(step: Step) -> Footprint {
        let name = |v| Object::Name(PathBuf::from(format!("/v{v}")));
        match step {
            Step::Read(v) => Footprint {
                reads: vec![name(v)],
                ..Footprint::default()
            },
            Step::Write(v) => Footprint {
                writes: vec![name(v)],
                ..Footprint::default()
            },
        }
    }

    /// What a round ends with: the variables, and what each actor read, in order.
    type Outcome = (Vec<u32>, Vec<Vec<u32>>);

    /// Every outcome `strategy` reaches on `program`, and the rounds it took.
    fn explore(program: &[Vec<Step>], strategy: Search) -> (BTreeSet<Outcome>, u32) {
        let (outcomes, words) = explore_part(program, strategy, None);
        (outcomes, words.len() as u32)
    }

    /// The outcomes and the schedules of `part` of the search (all of it: `None`).
    fn explore_part(
        program: &[Vec<Step>],
        strategy: Search,
        part: Option<usize>,
    ) -> (BTreeSet<Outcome>, Vec<Vec<usize>>) {
        explore_slots(program, strategy, part, 0, false)
    }

    /// The search of `strategy`'s bound alone, as a part's is (no deepening from 0).
    fn direct(strategy: &Search) -> Box<dyn Scheduler> {
        match *strategy {
            Search::Dfs {
                preemptions,
                reduction: true,
            } => Box::new(Dpor::new(preemptions)),
            Search::Dfs { preemptions, .. } => Box::new(super::super::dfs::Dfs::new(preemptions)),
            _ => unreachable!("a DFS"),
        }
    }

    /// The same, with actor `a` in tracer slot `a + first` (a verifier may hold slot 0), the
    /// bound searched `direct`ly or deepened from 0.
    fn explore_slots(
        program: &[Vec<Step>],
        strategy: Search,
        part: Option<usize>,
        first: usize,
        direct_search: bool,
    ) -> (BTreeSet<Outcome>, Vec<Vec<usize>>) {
        let search = direct(&strategy);
        let mut explorer = Explorer::new(strategy, program.len(), 1);
        if direct_search {
            explorer.scheduler = search;
        }
        if let Some(actor) = part {
            explorer = explorer.part(actor);
        }
        let mut outcomes = BTreeSet::new();
        let mut words = Vec::new();
        for rounds in 1..=100_000u32 {
            explorer.begin_round();
            explorer.barrier();
            let mut vars = vec![0u32; 3];
            let mut seen = vec![Vec::new(); program.len()];
            let mut next = vec![0; program.len()];
            loop {
                let choices: Vec<Choice> = (0..program.len())
                    .filter(|&a| next[a] < program[a].len())
                    .map(|a| Choice {
                        slot: a + first,
                        call: String::new(),
                        footprint: footprint(program[a][next[a]]),
                    })
                    .collect();
                if choices.is_empty() {
                    break;
                }
                let actor = choices[explorer.choose(&choices)].slot - first;
                match program[actor][next[actor]] {
                    Step::Read(v) => seen[actor].push(vars[v]),
                    // Unique values: which write a read saw tells the orders apart.
                    Step::Write(v) => vars[v] = (actor * 100 + next[actor] + 1) as u32,
                }
                next[actor] += 1;
            }
            let more = explorer.end_round();
            if !explorer.foreign() {
                outcomes.insert((vars, seen));
                words.push(explorer.word().to_vec());
            }
            if !more {
                assert!(explorer.exhausted() || rounds == 1);
                return (outcomes, words);
            }
        }
        panic!("the search did not end");
    }

    fn dfs(preemptions: u32, reduction: bool) -> Search {
        Search::Dfs {
            preemptions,
            reduction,
        }
    }

    /// 2 to `actors` − 1 actors of 1 to `steps` − 1 steps.
    fn program(actors: usize, steps: usize) -> impl Strategy<Value = Vec<Vec<Step>>> {
        let step = prop_oneof![
            (0..3usize).prop_map(Step::Read),
            (0..3usize).prop_map(Step::Write)
        ];
        prop::collection::vec(prop::collection::vec(step, 1..steps), 2..actors)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Without a bound, the reduction reaches exactly the outcomes of the full search.
        #[test]
        fn unbounded_reduction_reaches_every_outcome(program in program(4, 5)) {
            let (full, _) = explore(&program, dfs(UNBOUNDED, false));
            let (reduced, _) = explore(&program, dfs(UNBOUNDED, true));
            prop_assert_eq!(reduced, full);
        }

        /// Within a preemption bound, it reaches every outcome the bounded search reaches.
        #[test]
        fn bounded_reduction_reaches_every_outcome_within_the_bound(
            program in program(5, 6),
            bound in 0..3u32,
        ) {
            reaches_every_bounded_outcome(&program, bound)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// The deferred actors prune only where a block and the switch out of it fit in the
        /// bound, from 2 preemptions up: there, with longer actors (and fewer) than above.
        #[test]
        fn bounded_reduction_reaches_every_outcome_within_a_larger_bound(
            program in program(4, 7),
            bound in 2..4u32,
        ) {
            reaches_every_bounded_outcome(&program, bound)?;
        }
    }

    /// The reduced search within `bound` reaches every outcome the full one within it does.
    fn reaches_every_bounded_outcome(
        program: &[Vec<Step>],
        bound: u32,
    ) -> Result<(), TestCaseError> {
        let (full, _) = explore(program, dfs(bound, false));
        let (reduced, _) = explore(program, dfs(bound, true));
        let missed: Vec<_> = full.difference(&reduced).collect();
        prop_assert!(missed.is_empty(), "missed {:?}", missed);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        /// The parts of a sharded search (one per actor run at the split) are disjoint, and
        /// together they run exactly the schedules of the whole search, with or without the
        /// reduction, bounded (deepened from 0 alike) or not.
        #[test]
        fn the_parts_of_a_search_make_up_the_whole(
            program in program(4, 5),
            bound in prop_oneof![Just(0u32), Just(1), Just(2), Just(UNBOUNDED)],
            reduction in any::<bool>(),
            first in 0..2usize,
        ) {
            let search = || dfs(bound, reduction);
            let (_, mut whole) = explore_slots(&program, search(), None, first, false);
            let mut parts = Vec::new();
            for part in 0..program.len() {
                parts.extend(explore_slots(&program, search(), Some(part), first, false).1);
            }
            whole.sort();
            parts.sort();
            prop_assert_eq!(parts, whole);
        }

        /// The deepening search runs the search of each bound from 0 to its own, in turn,
        /// each to its end, but for the schedules an earlier bound's search ran: those it
        /// recalls, and runs no schedule twice.
        #[test]
        fn a_deepening_search_runs_each_smaller_bound_in_turn(
            program in program(4, 5),
            bound in 0..3u32,
            reduction in any::<bool>(),
        ) {
            let (_, deepened) = explore_slots(&program, dfs(bound, reduction), None, 0, false);
            let mut each: Vec<Vec<usize>> = Vec::new();
            for smaller in 0..=bound {
                for word in explore_slots(&program, dfs(smaller, reduction), None, 0, true).1 {
                    if !each.contains(&word) {
                        each.push(word);
                    }
                }
            }
            prop_assert_eq!(deepened, each);
        }
    }

    /// Calls on different variables commute: one schedule for actors that share nothing,
    /// where the full search runs every interleaving.
    #[test]
    fn independent_actors_need_one_schedule() {
        let program = vec![
            vec![Step::Write(0), Step::Read(0), Step::Write(0)],
            vec![Step::Write(1), Step::Read(1), Step::Write(1)],
        ];
        let (_, reduced) = explore(&program, dfs(UNBOUNDED, true));
        let (_, full) = explore(&program, dfs(UNBOUNDED, false));
        // One per actor run first: every actor is tried at the first choice, so that the
        // parts of a sharded run are fixed in advance.
        assert_eq!((reduced, full), (2, 20));
        // Within a bound, the reduction gives up sleep sets (see the module's doc): still
        // fewer schedules than the bounded search.
        let (_, reduced) = explore(&program, dfs(2, true));
        let (_, full) = explore(&program, dfs(2, false));
        assert!(
            reduced < full,
            "{reduced} schedules, {full} without reduction"
        );
    }

    /// Two writers of one variable: both orders of the writes, and one more round: the
    /// other actor first, which is tried at the first choice whatever the races, and which
    /// its sleep set shows redundant.
    #[test]
    fn a_write_write_race_runs_both_orders() {
        let program = vec![
            vec![Step::Write(1), Step::Write(0)],
            vec![Step::Write(2), Step::Write(0)],
        ];
        let (outcomes, rounds) = explore(&program, dfs(UNBOUNDED, true));
        assert_eq!(rounds, 3);
        let finals: BTreeSet<u32> = outcomes.iter().map(|(vars, _)| vars[0]).collect();
        assert_eq!(finals, BTreeSet::from([2, 102]));
    }

    /// After A's call (the end of A's run), B and C are tried. B's call ends B's run and
    /// commutes with C's first, so B sleeps in C's branch: running B first costs no
    /// preemption more (`0 1 2 2` stands for `0 2 1 2`). The rule that only an actor the
    /// branch preempts falls asleep ran 8 schedules here.
    #[test]
    fn an_actor_whose_call_ended_its_run_sleeps_where_running_it_costs_no_more() {
        use Step::{Read, Write};
        let program = vec![vec![Write(2)], vec![Read(1)], vec![Write(2), Write(1)]];
        let (full, _) = explore(&program, dfs(1, false));
        let (reduced, schedules) = explore(&program, dfs(1, true));
        assert_eq!(reduced, full);
        assert_eq!(schedules, 7);
    }

    /// A was run first, then B. In B's branch A's first write commutes with B's, and A
    /// preempts B there: `B A B …` (A's block left where A could run on) stands for
    /// `A B B …`, which costs a preemption less and lies in A's branch, so B need not run
    /// after A's block. Without the deferred actors, 8 schedules.
    #[test]
    fn an_actor_run_first_holds_what_its_commuting_block_would_run_later() {
        use Step::{Read, Write};
        let program = vec![
            vec![Write(0), Read(2), Write(2)],
            vec![Write(1), Read(2), Write(2)],
        ];
        let (full, _) = explore(&program, dfs(2, false));
        let (reduced, schedules) = explore(&program, dfs(2, true));
        assert_eq!(reduced, full);
        assert_eq!(schedules, 7);
    }

    /// Found by the property test when sleep sets were first used under a bound: the race of
    /// A's second read with D's last write is reversed at the start of A's run, where D
    /// sleeps (C preempted it there); B, which can start the reversed order, stands in for D.
    #[test]
    fn a_sleeping_actor_s_race_is_reversed_by_one_that_can_start_it() {
        use Step::{Read, Write};
        let program = vec![
            vec![Read(1), Read(2)],
            vec![Write(0)],
            vec![Read(0)],
            vec![Write(0), Read(0), Write(2)],
        ];
        let (full, _) = explore(&program, dfs(1, false));
        let (reduced, _) = explore(&program, dfs(1, true));
        assert_eq!(reduced, full);
    }
}

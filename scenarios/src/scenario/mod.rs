//! The scenario catalogue and what every scenario works with: the actors of a run ([`Env`]),
//! one round's directory, randomness and findings ([`Round`]), and the racing helpers.
//!
//! A scenario reads as a specification: its file states the invariant in one sentence, then
//! the actors and the check. A scenario returns `Err` only when the adapter itself failed
//! (exited, garbage, no answer); a broken invariant is a [`Round::violation`].

pub mod cache_keyed;
pub mod cache_symlink;
pub mod cache_torn;
pub mod cold_start;
pub mod crash;
pub mod crash_consume;
pub mod crash_history;
pub mod crash_history_race;
pub mod crash_keygen;
pub mod crash_put;
pub mod crash_states;
pub mod delete_reset;
pub mod double_bootstrap;
mod driver;
pub mod failed_open_releases_handles;
pub mod head_persists;
pub mod history;
pub mod keygen_race;
pub mod no_retry_on_divergence;
pub mod no_stable_key;
pub mod put_race;
pub mod recover_corrupt;
pub mod restart_durability;
pub mod retry_bounded;
pub mod retry_once;
pub mod server_faults;
pub mod session;
#[cfg(test)]
mod summaries;
pub mod support;
pub mod zero_head;

use std::path::PathBuf;
use std::time::Instant;

use rand::distr::{Alphanumeric, SampleString};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::actor::{Actor, ActorError, ActorSpec};
use crate::config::Config;
use crate::explore::Explorer;
use crate::finding::{Finding, Findings, Invariant};
use crate::progress::Ticker;
pub use crate::protocol::ScenarioId;
use crate::protocol::{Op, OpName, Reply, Summary};
use crate::scratch::{Area, Refusal, StoreDir};
use crate::trace::{Tracer, Unavailable};
use driver::{Driver, Free, Spawn};

/// One scenario of the catalogue.
pub struct ScenarioDef {
    pub id: ScenarioId,
    /// One line for `keyrace list`.
    pub summary: &'static str,
    /// Ops the adapter must announce; otherwise the scenario is skipped.
    pub needs: &'static [OpName],
    /// The scenario checks where the store's key comes from: skipped for a store whose hello
    /// declares it `keyless`.
    pub needs_key: bool,
    /// Rounds of the default budget: small enough for a quick `keyrace check`, large enough
    /// that every mutant is caught in at least 19 of 20 runs.
    pub default_rounds: u32,
    /// How it runs in each mode.
    pub mode: Mode,
    pub run_round: fn(&mut Env<'_>, &mut Round) -> Result<(), ActorError>,
}

/// Which forms a scenario has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Untraced in every mode (its faults are signals and damage, not interleavings).
    Stochastic,
    /// In the full mode where tracing works, one store call at a time in explored orders (at
    /// most `EXPLORE_ROUNDS` schedules by default); otherwise every actor at once.
    Race,
    /// Needs the tracer (crash states): runs in the full mode where tracing works.
    Traced,
    /// Needs the tracer: a controlled race whose every explored schedule is recorded and
    /// judged in its crash states (at most the scenario's `default_rounds` schedules by
    /// default).
    TracedRace,
}

impl Mode {
    /// Whether the scenario runs only under the tracer (its crash states need it).
    pub fn needs_tracer(self) -> bool {
        matches!(self, Mode::Traced | Mode::TracedRace)
    }
}

/// The default cap on schedules per controlled race (DFS usually ends sooner; PCT runs them
/// all).
pub const EXPLORE_ROUNDS: u32 = 1000;

/// Every scenario, in the order `keyrace check` runs them: one definition per [`ScenarioId`],
/// in its order (a test holds the two together).
pub const CATALOGUE: [&ScenarioDef; ScenarioId::ALL.len()] = [
    &keygen_race::DEF,
    &put_race::DEF,
    &double_bootstrap::DEF,
    &crash_put::DEF,
    &failed_open_releases_handles::DEF,
    &recover_corrupt::DEF,
    &delete_reset::DEF,
    &history::DEF,
    &no_stable_key::DEF,
    &restart_durability::DEF,
    &crash_keygen::DEF,
    &crash_states::DEF,
    &crash_consume::DEF,
    &crash_history::DEF,
    &crash_history_race::DEF,
    &retry_once::DEF,
    &retry_bounded::DEF,
    &no_retry_on_divergence::DEF,
    &cold_start::DEF,
    &head_persists::DEF,
    &zero_head::DEF,
    &cache_keyed::DEF,
    &cache_symlink::DEF,
    &cache_torn::DEF,
    &server_faults::DEF,
];

/// The scenario whose id is `id` (as a user spells it), if any.
pub fn find(id: &str) -> Option<&'static ScenarioDef> {
    ScenarioId::parse(id).map(def)
}

/// The definition of scenario `id`. The index is in bounds by construction (the catalogue has
/// one entry per id, and ids number from 0 in declaration order); a test holds the catalogue's
/// order to the ids'.
pub fn def(id: ScenarioId) -> &'static ScenarioDef {
    CATALOGUE[id as usize]
}

/// The actors and directories of one scenario run.
pub struct Env<'a> {
    pub cfg: &'a Config,
    /// `HOME` of ordinary actors: private to the run, shared by its actors.
    pub home: PathBuf,
    /// The actors outside the tracer (every actor, outside the full mode).
    free: Free,
    /// Racing actors of this scenario (`--actors`, or the default of its form).
    pub actors: usize,
    /// What the actors noticed while talking (uncoded errors), collected after each round.
    pub findings: Findings,
    /// Under `--explore`: the actors run under the tracer, races under the explorer.
    pub controlled: Option<Controlled>,
    /// Progress inside a long round (crash states judged).
    pub ticker: Ticker,
    /// When the scenario's time budget (`--time`) runs out: a long round stops there too.
    pub deadline: Option<Instant>,
    /// `--html`'s page was written (by this scenario's first failing history).
    pub wrote_html: bool,
}

/// The traced side of an [`Env`]: actor slots in the tracer, and the schedule chooser.
pub struct Controlled {
    pub tracer: Tracer,
    pub explorer: Explorer,
    racers: Vec<usize>,
    verifier: Option<usize>,
    /// Start the verifier with the racers (every racing scenario verifies what they did; one
    /// that verifies before its first race starts it alone, as before).
    pub verifier_with_racers: bool,
    /// The released calls of this round's races: `actor 0: openat store/key O_CREAT`.
    pub log: Vec<String>,
    /// This round's retry loops: an actor repeated a failing call while others were held.
    retry_loops: Vec<crate::trace::RetryLoop>,
    /// What the crash-state scenarios judged so far.
    pub crash: CrashTally,
}

impl Controlled {
    /// The run's racers' slots, started together on first use (with the verifier, where
    /// the scenario races: an interpreter's start-up is paid once, side by side).
    fn racer_slots(&mut self, spawn: &Spawn<'_>) -> Result<Vec<usize>, ActorError> {
        let mut missing: Vec<_> = (self.racers.len()..spawn.racers)
            .map(|n| spawn.spec(&format!("actor {n}")))
            .collect();
        if missing.is_empty() {
            return Ok(self.racers.clone());
        }
        let with_verifier = self.verifier_with_racers && self.verifier.is_none();
        if with_verifier {
            missing.push(spawn.spec("verifier"));
        }
        let mut slots = self.tracer.spawn_all(&missing)?;
        if with_verifier {
            self.verifier = slots.pop();
        }
        self.racers.extend(slots);
        Ok(self.racers.clone())
    }

    /// The verifier's slot, started on first use.
    fn verifier_slot(&mut self, spawn: &Spawn<'_>) -> Result<usize, ActorError> {
        if let Some(slot) = self.verifier {
            return Ok(slot);
        }
        let slot = self.tracer.spawn(&spawn.spec("verifier"))?;
        self.verifier = Some(slot);
        Ok(slot)
    }

    /// The race of `ops[i]` by `slots[i]`, one store call at a time in the explorer's order.
    fn race_slots(&mut self, slots: &[usize], ops: Vec<Op>) -> Result<Vec<Exchange>, ActorError> {
        let mut ids = Vec::new();
        for (&slot, op) in slots.iter().zip(&ops) {
            ids.push(self.tracer.send(slot, op)?);
        }
        let Controlled {
            tracer, explorer, ..
        } = self;
        explorer.barrier();
        let mut choose = |choices: &[crate::trace::Choice]| explorer.choose(choices);
        let stepped = tracer.step(slots, Some(&mut choose));
        // Kept whether or not the step ended well: a retry loop explains a failed one best.
        self.retry_loops.extend(self.tracer.take_retry_loops());
        let decisions = match stepped {
            Ok(decisions) => decisions,
            Err(error) => return Err(self.tracer.step_error(slots[0], error)),
        };
        for decision in decisions {
            self.log
                .push(format!("actor {}: {}", decision.slot, decision.call));
        }
        let mut exchanges = Vec::new();
        for ((&slot, op), id) in slots.iter().zip(ops).zip(ids) {
            let reply = self.tracer.recv(slot, id, op.name())?;
            exchanges.push(Exchange {
                actor: format!("actor {slot}"),
                op,
                reply,
            });
        }
        Ok(exchanges)
    }

    /// One request by the actor in `slot`, alone.
    fn call(&mut self, slot: usize, op: Op) -> Result<Exchange, ActorError> {
        let reply = self.tracer.call(slot, &op)?;
        let actor = self
            .tracer
            .traced(slot)
            .map_or_else(|| format!("actor {slot}"), |t| t.actor.label().to_owned());
        Ok(Exchange { actor, op, reply })
    }
}

/// Crash states judged over a scenario's rounds.
#[derive(Debug, Clone, Default)]
pub struct CrashTally {
    /// Operations recorded and enumerated.
    pub recordings: u32,
    pub states_judged: u64,
    /// States that broke an invariant.
    pub states_violating: u64,
    /// Why some enumeration was not exhaustive (distinct reasons).
    pub cut_short: Vec<String>,
}

impl<'a> Env<'a> {
    pub fn new(cfg: &'a Config, home: PathBuf, actors: usize) -> Env<'a> {
        Env {
            cfg,
            home,
            actors,
            free: Free::default(),
            findings: Findings::default(),
            controlled: None,
            ticker: Ticker::hidden(),
            deadline: None,
            wrote_html: false,
        }
    }

    /// An environment whose actors run under a tracer scoped to `scope`, with races chosen
    /// by `explorer`. Fails where tracing is not available.
    pub fn controlled(
        cfg: &'a Config,
        home: PathBuf,
        actors: usize,
        scope: &std::path::Path,
        explorer: Explorer,
    ) -> Result<Env<'a>, Unavailable> {
        let mut tracer = Tracer::new(scope)?;
        tracer.track_footprints(explorer.uses_footprints());
        let mut env = Env::new(cfg, home, actors);
        env.controlled = Some(Controlled {
            tracer,
            explorer,
            racers: Vec::new(),
            verifier: None,
            verifier_with_racers: false,
            log: Vec::new(),
            retry_loops: Vec::new(),
            crash: CrashTally::default(),
        });
        Ok(env)
    }

    /// What starting an actor of this run takes, beside the actors outside the tracer.
    fn free(&mut self) -> (&mut Free, Spawn<'_>) {
        let spawn = Spawn::new(self.cfg, &self.home, &self.findings, self.actors);
        (&mut self.free, spawn)
    }

    /// The traced side of the run, with what starting an actor takes (`None` outside the
    /// full mode).
    fn traced(&mut self) -> Option<(&mut Controlled, Spawn<'_>)> {
        let spawn = Spawn::new(self.cfg, &self.home, &self.findings, self.actors);
        self.controlled
            .as_mut()
            .map(|controlled| (controlled, spawn))
    }

    /// The driver of this run's actors: traced in the full mode, free otherwise.
    fn drive<T>(&mut self, run: impl FnOnce(&mut dyn Driver, &Spawn<'_>) -> T) -> T {
        let spawn = Spawn::new(self.cfg, &self.home, &self.findings, self.actors);
        match &mut self.controlled {
            Some(controlled) => run(controlled, &spawn),
            None => run(&mut self.free, &spawn),
        }
    }

    /// The race of `ops[i]` by racer `i`: at the same moment (stochastic), or one store call
    /// at a time in the order the explorer picks (controlled).
    pub fn race(&mut self, ops: Vec<Op>, rng: &mut StdRng) -> Result<Vec<Exchange>, ActorError> {
        self.drive(|driver, spawn| driver.race(spawn, ops, rng))
    }

    /// One request by racer `i`, outside any race.
    pub fn racer_call(&mut self, i: usize, op: Op) -> Result<Exchange, ActorError> {
        self.drive(|driver, spawn| driver.racer_call(spawn, i, op))
    }

    /// Racer 0 creates the store at `store`; a failure is the round's violation (and `false`).
    pub fn create_store(
        &mut self,
        round: &mut Round,
        store: &std::path::Path,
    ) -> Result<bool, ActorError> {
        let created = self.racer_call(
            0,
            Op::Open {
                store: store.to_owned(),
            },
        )?;
        if !created.ok() {
            round.violation("a fresh store can be created", vec![created.describe()]);
        }
        Ok(created.ok())
    }

    /// Whether the racers' adapter announced `op` in its hello.
    pub fn supports(&mut self, op: OpName) -> Result<bool, ActorError> {
        self.drive(|driver, spawn| driver.supports(spawn, op))
    }

    /// One request by the verifier.
    pub fn verify(&mut self, op: Op) -> Result<Exchange, ActorError> {
        self.drive(|driver, spawn| driver.verify(spawn, op))
    }

    /// The racers' slots in the tracer, started on first use (none outside the full mode).
    pub fn racer_slots(&mut self) -> Result<Vec<usize>, ActorError> {
        let Some((controlled, spawn)) = self.traced() else {
            return Ok(Vec::new());
        };
        controlled.racer_slots(&spawn)
    }

    /// The verifier's slot in the tracer, started on first use (`None` outside the full mode).
    pub fn verifier_slot(&mut self) -> Result<Option<usize>, ActorError> {
        let Some((controlled, spawn)) = self.traced() else {
            return Ok(None);
        };
        controlled.verifier_slot(&spawn).map(Some)
    }

    /// Kill the traced verifier; the next [`Env::verifier_slot`] starts a new one.
    pub fn restart_verifier_slot(&mut self) {
        if let Some(controlled) = self.controlled.as_mut() {
            if let Some(slot) = controlled.verifier.take() {
                controlled.tracer.kill(slot);
            }
        }
    }

    /// The ordinary way to start an actor: the adapter command, the run's `HOME`, no master key.
    pub fn spec(&self, label: &str) -> ActorSpec {
        Spawn::new(self.cfg, &self.home, &self.findings, self.actors).spec(label)
    }

    /// The run's persistent untraced racing actors ([`Env::actors`] of them), started on first
    /// use; all of them have sent their hello, so a race starts only when every actor is ready.
    pub fn racers(&mut self) -> Result<&mut [Actor], ActorError> {
        let (free, spawn) = self.free();
        free.racers(&spawn)
    }

    /// A persistent untraced actor that takes part in no race: it reads what the racers left
    /// behind.
    pub fn verifier(&mut self) -> Result<&mut Actor, ActorError> {
        let (free, spawn) = self.free();
        free.verifier(&spawn)
    }

    /// Kill the racers; the next [`Env::racers`] starts new ones.
    pub fn restart_racers(&mut self) {
        self.free.restart_racers();
    }

    /// Kill the verifier; the next [`Env::verifier`] starts a new one.
    pub fn restart_verifier(&mut self) {
        self.free.restart_verifier();
    }
}

/// One round: its directory (fresh, removed afterwards), its randomness (from the seed and
/// the round number, so `--seed` replays the same choices), its violations, and the checks
/// it stopped before reaching.
pub struct Round {
    pub index: u32,
    pub dir: PathBuf,
    /// The runner's handle on `dir`: all its own file work in the round goes through it.
    pub area: Area,
    pub rng: StdRng,
    pub violations: Vec<Finding>,
    pub not_reached: Vec<String>,
    /// Set by a scenario that finds it cannot run here (with the reason).
    pub skip: Option<String>,
    /// A history that did not linearize, shrunk, for `--html`.
    pub timeline: Option<(keyrace_history::History, keyrace_history::Failure)>,
}

impl Round {
    pub fn violation(&mut self, invariant: impl Into<Invariant>, replies: Vec<String>) {
        self.violations.push(Finding::new(invariant, replies));
    }

    /// The round stops early: these checks were not made.
    pub fn stop_before(&mut self, checks: &[&str]) {
        self.not_reached
            .extend(checks.iter().map(|check| (*check).to_owned()));
    }

    /// The store at `name` in the round directory, as the runner may act on it. A store shape
    /// the runner refuses to touch (a symlinked store directory, a hard-linked file) is a
    /// violation; an OS refusal makes the scenario skip. `None` in both cases.
    pub fn store(&mut self, name: &str) -> Option<StoreDir> {
        match self.area.store(name) {
            Ok(store) => Some(store),
            Err(refusal) => {
                self.refused(refusal);
                None
            }
        }
    }

    /// Report what the runner refused to do: a store shape is a violation, an OS error a skip.
    pub fn refused(&mut self, refusal: Refusal) {
        match refusal {
            Refusal::Shape(shape) => self.violation(
                "the store keeps its files as plain files in its own directory (the runner \
                 never follows a symlink out of it or writes through a hard link)",
                vec![format!("runner: {shape}")],
            ),
            Refusal::Io(reason) => self.skip = Some(reason),
        }
    }

    /// A fresh random secret value, tagged for readable reports.
    pub fn value(&mut self, tag: &str) -> String {
        format!("{tag}-{}", Alphanumeric.sample_string(&mut self.rng, 12))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// One request and its reply, for checks and reports.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub actor: String,
    pub op: Op,
    pub reply: Reply,
}

impl Exchange {
    /// `actor 1: put "k" = "v" → ok, key_id 1a2b`
    pub fn describe(&self) -> String {
        format!(
            "{}: {} → {}",
            self.actor,
            self.op.summary(),
            self.reply.summary()
        )
    }

    pub fn ok(&self) -> bool {
        self.reply.outcome.is_ok()
    }

    pub fn key_id(&self) -> Option<&str> {
        self.reply.outcome.as_ref().ok()?.key_id.as_deref()
    }

    /// The `value` of a successful get: `Some(None)` for null.
    pub fn value(&self) -> Option<Option<&str>> {
        let success = self.reply.outcome.as_ref().ok()?;
        success.value.as_ref().map(Option::as_deref)
    }

    pub fn won(&self) -> Option<bool> {
        self.reply.outcome.as_ref().ok()?.won
    }
}

/// Send one request and wait for its reply.
pub fn call(actor: &mut Actor, op: Op) -> Result<Exchange, ActorError> {
    let reply = actor.call(&op)?;
    Ok(Exchange {
        actor: actor.label().to_owned(),
        op,
        reply,
    })
}

/// The race: `ops[i]` goes to `actors[i]`; every request is sent (in a random order) before
/// any reply is read, so the adapters run the op at the same moment.
pub fn race(
    actors: &mut [Actor],
    ops: Vec<Op>,
    rng: &mut StdRng,
) -> Result<Vec<Exchange>, ActorError> {
    let mut order: Vec<usize> = (0..ops.len().min(actors.len())).collect();
    order.shuffle(rng);
    let mut ids = vec![0; order.len()];
    for &i in &order {
        ids[i] = actors[i].send(&ops[i])?;
    }
    let mut exchanges = Vec::with_capacity(order.len());
    for (i, op) in ops.into_iter().enumerate().take(order.len()) {
        let reply = actors[i].recv(ids[i], op.name())?;
        exchanges.push(Exchange {
            actor: actors[i].label().to_owned(),
            op,
            reply,
        });
    }
    Ok(exchanges)
}

pub fn describe_all(exchanges: &[Exchange]) -> Vec<String> {
    exchanges.iter().map(Exchange::describe).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `keyrace check` runs the scenarios in [`ScenarioId::ALL`]'s order, and every id finds
    /// its own definition.
    #[test]
    fn the_catalogue_holds_one_definition_per_id_in_its_order() {
        let ids: Vec<ScenarioId> = CATALOGUE.iter().map(|def| def.id).collect();
        assert_eq!(ids, ScenarioId::ALL);
        for &id in ScenarioId::ALL {
            assert_eq!(def(id).id, id);
            assert_eq!(find(id.as_str()).map(|def| def.id), Some(id));
        }
        assert!(find("no-such-scenario").is_none());
    }
}

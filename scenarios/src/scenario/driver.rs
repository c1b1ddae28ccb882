//! How a scenario's requests reach its actors: free processes that race at the same moment
//! ([`Free`]), or traced ones released one store call at a time in the explorer's order
//! ([`Controlled`]). A scenario asks [`Env`](super::Env) and never knows which.

use rand::rngs::StdRng;

use super::{call, race, Controlled, Exchange};
use crate::actor::{Actor, ActorError, ActorSpec};
use crate::config::Config;
use crate::finding::Findings;
use crate::protocol::{Op, OpName};

/// What starting an actor takes: the adapter command, the run's `HOME`, where its uncoded
/// errors go, and how many racers the run has.
pub(crate) struct Spawn<'e> {
    cfg: &'e Config,
    home: &'e std::path::Path,
    findings: &'e Findings,
    pub racers: usize,
}

impl<'e> Spawn<'e> {
    pub fn new(
        cfg: &'e Config,
        home: &'e std::path::Path,
        findings: &'e Findings,
        racers: usize,
    ) -> Spawn<'e> {
        Spawn {
            cfg,
            home,
            findings,
            racers,
        }
    }

    /// The ordinary way to start an actor: the adapter command, the run's `HOME`, no master
    /// key.
    pub fn spec(&self, label: &str) -> ActorSpec {
        ActorSpec {
            argv: self.cfg.adapter.clone(),
            home: self.home.to_owned(),
            master_key: None,
            run_as: None,
            timeout: self.cfg.timeout,
            label: label.to_owned(),
            findings: self.findings.clone(),
        }
    }
}

/// The requests every scenario makes, whichever way its actors run. Each starts the actors
/// it needs on first use.
pub(crate) trait Driver {
    /// The race of `ops[i]` by racer `i`.
    fn race(
        &mut self,
        spawn: &Spawn<'_>,
        ops: Vec<Op>,
        rng: &mut StdRng,
    ) -> Result<Vec<Exchange>, ActorError>;

    /// One request by racer `i`, outside any race.
    fn racer_call(&mut self, spawn: &Spawn<'_>, i: usize, op: Op) -> Result<Exchange, ActorError>;

    /// Whether the racers' adapter announced `op` in its hello.
    fn supports(&mut self, spawn: &Spawn<'_>, op: OpName) -> Result<bool, ActorError>;

    /// One request by the verifier, an actor that takes part in no race.
    fn verify(&mut self, spawn: &Spawn<'_>, op: Op) -> Result<Exchange, ActorError>;
}

/// Untraced actors: persistent processes that race at the same moment.
#[derive(Default)]
pub struct Free {
    racers: Vec<Actor>,
    verifier: Option<Actor>,
}

impl Free {
    /// The racers, started on first use; all of them have sent their hello, so a race starts
    /// only when every actor is ready.
    pub(crate) fn racers(&mut self, spawn: &Spawn<'_>) -> Result<&mut [Actor], ActorError> {
        while self.racers.len() < spawn.racers {
            let spec = spawn.spec(&format!("actor {}", self.racers.len()));
            self.racers.push(Actor::spawn(&spec)?);
        }
        Ok(&mut self.racers)
    }

    /// The verifier, started on first use.
    pub(crate) fn verifier(&mut self, spawn: &Spawn<'_>) -> Result<&mut Actor, ActorError> {
        let verifier = match self.verifier.take() {
            Some(verifier) => verifier,
            None => Actor::spawn(&spawn.spec("verifier"))?,
        };
        Ok(self.verifier.insert(verifier))
    }

    /// Kill the racers (dropping an actor kills and reaps it).
    pub(crate) fn restart_racers(&mut self) {
        self.racers.clear();
    }

    /// Kill the verifier.
    pub(crate) fn restart_verifier(&mut self) {
        self.verifier = None;
    }
}

impl Driver for Free {
    fn race(
        &mut self,
        spawn: &Spawn<'_>,
        ops: Vec<Op>,
        rng: &mut StdRng,
    ) -> Result<Vec<Exchange>, ActorError> {
        race(self.racers(spawn)?, ops, rng)
    }

    fn racer_call(&mut self, spawn: &Spawn<'_>, i: usize, op: Op) -> Result<Exchange, ActorError> {
        call(&mut self.racers(spawn)?[i], op)
    }

    fn supports(&mut self, spawn: &Spawn<'_>, op: OpName) -> Result<bool, ActorError> {
        Ok(self.racers(spawn)?.first().is_some_and(|a| a.supports(op)))
    }

    fn verify(&mut self, spawn: &Spawn<'_>, op: Op) -> Result<Exchange, ActorError> {
        call(self.verifier(spawn)?, op)
    }
}

impl Driver for Controlled {
    fn race(
        &mut self,
        spawn: &Spawn<'_>,
        ops: Vec<Op>,
        _rng: &mut StdRng,
    ) -> Result<Vec<Exchange>, ActorError> {
        let slots = self.racer_slots(spawn)?;
        self.race_slots(&slots[..ops.len().min(slots.len())], ops)
    }

    fn racer_call(&mut self, spawn: &Spawn<'_>, i: usize, op: Op) -> Result<Exchange, ActorError> {
        let slot = self.racer_slots(spawn)?[i];
        self.call(slot, op)
    }

    fn supports(&mut self, spawn: &Spawn<'_>, op: OpName) -> Result<bool, ActorError> {
        let slot = self.racer_slots(spawn)?[0];
        Ok(self
            .tracer
            .traced(slot)
            .is_some_and(|t| t.actor.supports(op)))
    }

    fn verify(&mut self, spawn: &Spawn<'_>, op: Op) -> Result<Exchange, ActorError> {
        let slot = self.verifier_slot(spawn)?;
        self.call(slot, op)
    }
}

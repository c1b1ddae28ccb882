//! history: beyond the catalogue's hand-written races, N actors run random mixes of put, get,
//! delete and consume over two names and a token, and every answer must fit one order of the
//! operations (linearizability): no stale read after an acknowledged put, no lost or
//! resurrected write, no grace granted twice. Every call must also succeed.
//!
//! Actors: one racer creates the store; then, step by step, every racer makes one call at once
//! (a random one by chance; under the explorer, a seeded mix contesting one name, in the
//! explorer's orders); the verifier reads every name last. A failure is shrunk to the few
//! operations that prove it and drawn as a timeline (and, with `--html FILE`, as a page).

use std::path::Path;
use std::time::{Duration, Instant};

use keyrace_history::shrink::shrink;
use keyrace_history::{check, timeline, Budget, Call, History, Operation, Outcome, Ret, Verdict};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Env, Exchange, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::finding::Invariant;
use crate::protocol::{Op, OpName};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::History,
    summary: "N actors make random puts, gets, deletes and consumes over two names: every answer fits one order of the operations (linearizable)",
    needs: &[OpName::Open, OpName::Put, OpName::Get],
    needs_key: false,
    default_rounds: 40,
    mode: Mode::Race,
    run_round,
};

pub const INVARIANT: Invariant = Invariant::new(
    "every answer fits one order of the operations (linearizability): no \
     stale read after an acknowledged put, no lost or resurrected write, no grace granted twice",
);

/// Names the actors collide on, and the token they consume, unless a workload names others.
const NAMES: [&str; 2] = ["h0", "h1"];
const TOKEN: &str = "grace";

/// Steps of every racer at once: fewer under the explorer, whose schedules multiply with each.
const FREE_STEPS: usize = 5;
const CONTROLLED_STEPS: usize = 4;

/// How long one history's check may take; past it the round is "not decided", never a pass.
pub const CHECK_BUDGET: Duration = Duration::from_secs(5);

/// How long shrinking a failing history may take in all.
const SHRINK_BUDGET: Duration = Duration::from_secs(5);

/// The default mix's weights: put, get, delete, consume.
const WEIGHTS: [u32; 4] = [35, 40, 15, 10];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Put,
    Get,
    Delete,
    Consume,
}

const KINDS: [Kind; 4] = [Kind::Put, Kind::Get, Kind::Delete, Kind::Consume];

/// What a round's calls are drawn from: the default mix, or the user's workload.
pub(super) struct Mix {
    pub(super) names: Vec<String>,
    pub(super) tokens: Vec<String>,
    /// Put, get, delete, consume.
    pub(super) weights: [u32; 4],
    pub(super) steps: usize,
    value_bytes: Option<usize>,
    /// One name is contested: the first step puts it from every racer, the middle ones
    /// overwrite it, then delete it (if the adapter can), from racer 0 while the others read
    /// it, the last reads it back from every racer. Whichever orders the explorer gives them, a read races a write, and a
    /// writer reads after another writer's put (the default mix under the explorer, which
    /// draws one mix per search).
    shaped: bool,
}

impl Mix {
    /// The mix of this run, without the ops the adapter lacks; or why it cannot run (a
    /// workload that needs an op the adapter lacks).
    pub(super) fn of(env: &mut Env<'_>) -> Result<Result<Mix, String>, ActorError> {
        let deletes = env.supports(OpName::Delete)?;
        let consumes = env.supports(OpName::Consume)?;
        let controlled = env.controlled.is_some();
        let Some(workload) = &env.cfg.workload else {
            let mut weights = WEIGHTS;
            weights[2] *= u32::from(deletes);
            weights[3] *= u32::from(consumes);
            return Ok(Ok(Mix {
                names: NAMES.map(str::to_owned).to_vec(),
                tokens: vec![TOKEN.to_owned()],
                weights,
                steps: if controlled {
                    CONTROLLED_STEPS
                } else {
                    FREE_STEPS
                },
                value_bytes: None,
                shaped: controlled,
            }));
        };
        // A workload built in code (the library's `Config`) has not been through `load`.
        if let Err(why) = workload.validate() {
            return Ok(Err(format!("the workload is not valid: {why}")));
        }
        let mix = &workload.mix;
        for (weight, has, op) in [
            (mix.delete, deletes, "delete"),
            (mix.consume, consumes, "consume"),
        ] {
            if weight > 0 && !has {
                return Ok(Err(format!(
                    "the workload {} has {op}s, which the adapter does not implement",
                    workload.path.display()
                )));
            }
        }
        Ok(Ok(Mix {
            names: workload.names.clone(),
            tokens: workload.tokens.clone(),
            weights: [mix.put, mix.get, mix.delete, mix.consume],
            steps: workload.steps,
            value_bytes: workload.value_bytes,
            shaped: false,
        }))
    }

    /// Each step's call per racer: what, and on which name (or token).
    pub(super) fn plan(&self, rng: &mut StdRng, actors: usize) -> Vec<Vec<(Kind, usize)>> {
        let total: u32 = self.weights.iter().sum();
        let contested = rng.random_range(0..self.names.len());
        (0..self.steps)
            .map(|step| {
                (0..actors)
                    .map(|actor| {
                        if self.shaped {
                            let kind = if step == 0 {
                                Kind::Put
                            } else if step + 1 == self.steps || actor > 0 {
                                Kind::Get
                            } else if step % 2 == 0 && self.weights[2] > 0 {
                                Kind::Delete
                            } else {
                                Kind::Put
                            };
                            return (kind, contested);
                        }
                        let mut pick = rng.random_range(0..total.max(1));
                        let mut kind = Kind::Put;
                        for (k, &weight) in KINDS.iter().zip(&self.weights) {
                            if pick < weight {
                                kind = *k;
                                break;
                            }
                            pick -= weight;
                        }
                        let among = if kind == Kind::Consume {
                            self.tokens.len()
                        } else {
                            self.names.len()
                        };
                        (kind, rng.random_range(0..among.max(1)))
                    })
                    .collect()
            })
            .collect()
    }

    /// The call `(kind, i)` of a plan on `store`, consuming in `ledger`.
    pub(super) fn op(
        &self,
        (kind, i): (Kind, usize),
        store: &Path,
        ledger: &Path,
        round: &mut Round,
    ) -> Op {
        let store = store.to_owned();
        let name = || self.names[i].clone();
        match kind {
            Kind::Consume => Op::Consume {
                store: ledger.to_owned(),
                token: self.tokens[i].clone(),
            },
            Kind::Get => Op::Get {
                store,
                name: name(),
            },
            Kind::Delete => Op::Delete {
                store,
                name: name(),
            },
            Kind::Put => Op::Put {
                store,
                name: name(),
                value: self.value(round),
            },
        }
    }

    /// A fresh value: unique (tagged with random letters), padded to the workload's size if it
    /// sets one (at least 16 bytes, longer than the 14-byte unique part).
    pub(super) fn value(&self, round: &mut Round) -> String {
        let mut value = round.value("h");
        if let Some(bytes) = self.value_bytes {
            while value.len() < bytes {
                value.push('.');
            }
        }
        value
    }
}

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let store = round.path("store");
    let ledger = round.path("ledger");
    let mix = match Mix::of(env)? {
        Ok(mix) => mix,
        Err(reason) => {
            round.skip = Some(reason);
            return Ok(());
        }
    };
    if !env.create_store(round, &store)? {
        return Ok(());
    }
    // Under the explorer every round is one schedule of the same calls, so the mix is drawn
    // once from the seed; by chance every round draws its own.
    let plan = if env.controlled.is_some() {
        mix.plan(&mut StdRng::seed_from_u64(env.cfg.seed), env.actors)
    } else {
        mix.plan(&mut round.rng, env.actors)
    };
    let started = Instant::now();
    let since = |at: Instant| at.duration_since(started).as_nanos() as u64;
    let mut history = History::default();
    for step in plan {
        let ops: Vec<Op> = step
            .into_iter()
            .map(|call| mix.op(call, &store, &ledger, round))
            .collect();
        // Every call of a step is invoked before the first is sent and completes by the time
        // the last answer is read: wider than the truth, so never a false alarm.
        let invoked = since(Instant::now());
        let exchanges = env.race(ops, &mut round.rng)?;
        let completed = since(Instant::now());
        for (actor, exchange) in exchanges.iter().enumerate() {
            if !exchange.ok() {
                // The history forgives it (a failed read says nothing, a failed write may have
                // happened), a caller does not: a get that errs while a secret is overwritten
                // is a secret reported lost or corrupt.
                round.violation(
                    "every call of the mix succeeds: racing reads and writes never answer an error",
                    vec![exchange.describe()],
                );
            }
            if let Some(op) = operation(actor, exchange, invoked, completed) {
                history.operations.push(op);
            }
        }
    }
    let verifier = env.actors;
    for name in &mix.names {
        let invoked = since(Instant::now());
        let get = env.verify(Op::Get {
            store: store.clone(),
            name: name.clone(),
        })?;
        let completed = since(Instant::now());
        if !get.ok() {
            // With every racer done, an error is no race: the mix left the store unreadable,
            // which the history alone would forgive (a failed read says nothing).
            round.violation(
                "after the mix, with no other actor running, every name reads without an error",
                vec![get.describe()],
            );
        }
        if let Some(op) = operation(verifier, &get, invoked, completed) {
            history.operations.push(op);
        }
    }
    judge(env, round, &history);
    Ok(())
}

/// The verifier's call `op`, added to `history` at the clock's `*at` (the verifier runs
/// alone: its call takes one tick), and the clock moved past it.
pub(super) fn verify_into(
    env: &mut Env<'_>,
    history: &mut History,
    verifier: usize,
    op: Op,
    at: &mut u64,
) -> Result<Exchange, ActorError> {
    let exchange = env.verify(op)?;
    history
        .operations
        .extend(operation(verifier, &exchange, *at, *at + 1));
    *at += 2;
    Ok(exchange)
}

/// The recorded operation of one exchange: a coded failure of a write may have taken effect
/// (info); a failed read says nothing (fail).
pub(super) fn operation(
    actor: usize,
    exchange: &Exchange,
    invoked: u64,
    completed: u64,
) -> Option<Operation> {
    let call = match &exchange.op {
        Op::Put { name, value, .. } => Call::Put {
            name: name.clone(),
            value: value.clone(),
        },
        Op::Get { name, .. } => Call::Get { name: name.clone() },
        Op::Delete { name, .. } => Call::Delete { name: name.clone() },
        Op::Consume { token, .. } => Call::Consume {
            token: token.clone(),
        },
        _ => return None,
    };
    let outcome = if !exchange.ok() {
        if call.writes() {
            Outcome::Info
        } else {
            Outcome::Fail
        }
    } else {
        match &call {
            Call::Get { .. } => match exchange.value() {
                Some(value) => Outcome::Ok(Ret::Value(value.map(str::to_owned))),
                // An answer without its value broke the protocol; the actor reports that.
                None => Outcome::Fail,
            },
            Call::Consume { .. } => match exchange.won() {
                Some(won) => Outcome::Ok(Ret::Won(won)),
                None => Outcome::Info,
            },
            _ => Outcome::Ok(Ret::Done),
        }
    };
    Some(Operation {
        actor,
        call,
        outcome,
        invoked,
        completed,
    })
}

/// What a history's check says, ready for a report.
pub(super) enum Explained {
    Linearizable,
    /// Not decided within [`CHECK_BUDGET`]: the reason, for a skip (never a pass).
    Undecided(String),
    /// The shrunk timeline as report lines, and the shrunk history for `--html`.
    Fails {
        lines: Vec<String>,
        shown: History,
        failure: keyrace_history::Failure,
    },
}

/// Checks `history` and, if it fails, shrinks it and draws it. `verifier` names the actor
/// number of the verifier's reads.
pub(super) fn explain(history: &History, verifier: usize) -> Explained {
    match check(history, Budget::new(CHECK_BUDGET)) {
        Verdict::Linearizable => Explained::Linearizable,
        Verdict::Undecided { partition } => Explained::Undecided(format!(
            "a history of {} operations ({partition}) was not decided within {} s: not judged",
            history.operations.len(),
            CHECK_BUDGET.as_secs()
        )),
        Verdict::NotLinearizable(failure) => {
            let (shown, failure, hidden) =
                match shrink(history, &failure, CHECK_BUDGET, SHRINK_BUDGET) {
                    Some(shrunk) => (shrunk.history, shrunk.failure, shrunk.hidden),
                    None => (history.clone(), failure, 0),
                };
            let mut lines: Vec<String> = timeline::text(&shown, &failure)
                .lines()
                .map(str::to_owned)
                .collect();
            lines.push(format!(
                "actor {verifier} is the verifier; {hidden} more of the {} operations recorded \
                 were shown not to matter",
                history.operations.len()
            ));
            Explained::Fails {
                lines,
                shown,
                failure,
            }
        }
    }
}

/// Checks `history`; a failure becomes a violation whose evidence is the shrunk timeline (kept
/// on the round for `--html`, which the runner writes once it knows the re-run command).
pub fn judge(env: &Env<'_>, round: &mut Round, history: &History) {
    match explain(history, env.actors) {
        Explained::Linearizable => {}
        Explained::Undecided(reason) => {
            round.skip = Some(format!("round {}: {reason}", round.index));
        }
        Explained::Fails {
            lines,
            shown,
            failure,
        } => {
            round.timeline = Some((shown, failure));
            round.violation(INVARIANT, lines);
        }
    }
}

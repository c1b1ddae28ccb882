//! crash-history: durable linearizability (Izraelevitz, Mendes and Scott, DISC'16). A writer
//! makes a random mix of puts and deletes over two names while its calls are recorded; after
//! a power loss at any point, what the store holds must be the state of one order of the
//! operations containing every acknowledged one (the one in flight included or not): no
//! acknowledged write lost, no deleted secret back, no value from nowhere.
//!
//! With a workload whose `"crash"` is true (`--workload FILE`), the names, the tokens, the mix
//! (one writer, `steps` calls) and the value size are the workload's.
//!
//! Actors: the writer (traced) puts every name (acknowledged before the recording), then makes
//! the recorded mix; each crash state is written to a directory of its own and the verifier
//! reads every name there. Those reads end the history that is checked. Runs only in the full
//! mode (crash states need the tracer).

use std::path::Path;

use rand::Rng;

use keyrace_history::{History, Outcome};

use super::history::{explain, operation, verify_into, Explained, Mix};
use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::finding::{Finding, Invariant};
use crate::protocol::{Op, OpName};
use crate::scenario::crash::judge::{judge_states, Broken};
use crate::scenario::crash::recording::record_all;

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::CrashHistory,
    summary: "power loss during a random mix of puts and deletes: in every crash state the reads fit one order holding every acknowledged operation (durable linearizability)",
    needs: &[OpName::Open, OpName::Put, OpName::Get],
    needs_key: false,
    // A mix reaches a put and then a delete of one name in about 3 rounds of 10.
    default_rounds: 16,
    mode: Mode::Traced,
    run_round,
};

pub const INVARIANT: Invariant = Invariant::new(
    "after a power loss, the store holds the state of one order of the \
     operations that contains every acknowledged one (durable linearizability): no acknowledged \
     write lost, no deleted secret back",
);

const NAMES: [&str; 2] = ["h0", "h1"];

/// Operations recorded per round: each multiplies the crash points.
const RECORDED: usize = 3;

/// Actor numbers in the history: the writer, then the verifier.
const WRITER: usize = 0;
const VERIFIER: usize = 1;

/// What a round writes and then reads back in every crash state: two names and a random
/// mix of puts and deletes, or a workload's (`"crash": true`) names, tokens and mix.
struct Plan {
    names: Vec<String>,
    /// The tokens the verifier consumes in every crash state (those the mix consumes).
    tokens: Vec<String>,
    /// The workload's mix, or `None` for the default one.
    mix: Option<Mix>,
    deletes: bool,
}

impl Plan {
    /// This run's plan, or why it cannot run (a workload's op the adapter lacks).
    fn of(env: &mut Env<'_>) -> Result<Result<Plan, String>, ActorError> {
        let deletes = env.supports(OpName::Delete)?;
        if !env.cfg.workload.as_ref().is_some_and(|w| w.crash) {
            return Ok(Ok(Plan {
                names: NAMES.map(str::to_owned).to_vec(),
                tokens: Vec::new(),
                mix: None,
                deletes,
            }));
        }
        Ok(Mix::of(env)?.map(|mix| Plan {
            names: mix.names.clone(),
            tokens: if mix.weights[3] > 0 {
                mix.tokens.clone()
            } else {
                Vec::new()
            },
            mix: Some(mix),
            deletes,
        }))
    }

    /// A fresh value: the workload's size, or the default's (drawn as before: same RNG order).
    fn value(&self, round: &mut Round) -> String {
        match &self.mix {
            Some(mix) => mix.value(round),
            None => round.value("c"),
        }
    }

    /// The writer's recorded operations of this round, drawn from the round's randomness.
    fn recorded(&self, round: &mut Round, store: &Path) -> Vec<Op> {
        if let Some(mix) = &self.mix {
            // One writer; a crash state holds the recorded area only, so the ledger of the
            // consumes lives in the store.
            return mix
                .plan(&mut round.rng, 1)
                .into_iter()
                .flatten()
                .map(|call| mix.op(call, store, store, round))
                .collect();
        }
        (0..RECORDED)
            .map(|_| {
                let name = NAMES[round.rng.random_range(0..NAMES.len())].to_owned();
                let store = store.to_owned();
                if self.deletes && round.rng.random_bool(0.4) {
                    Op::Delete { store, name }
                } else {
                    Op::Put {
                        store,
                        name,
                        value: round.value("c"),
                    }
                }
            })
            .collect()
    }
}

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let store = round.path("store");
    let plan = match Plan::of(env)? {
        Ok(plan) => plan,
        Err(reason) => {
            round.skip = Some(reason);
            return Ok(());
        }
    };
    // The history's clock: the writer's operations one after the other, then the reads.
    let mut history = History::default();
    let mut tick = 0u64;
    let mut stamp = || {
        tick += 2;
        (tick - 2, tick - 1)
    };
    for name in &plan.names {
        let put = env.racer_call(
            0,
            Op::Put {
                store: store.clone(),
                name: name.clone(),
                value: plan.value(round),
            },
        )?;
        if !put.ok() {
            round.violation("puts into a healthy store succeed", vec![put.describe()]);
            return Ok(());
        }
        let (invoked, completed) = stamp();
        history
            .operations
            .extend(operation(WRITER, &put, invoked, completed));
    }
    let mix = plan.recorded(round, &store);
    let planned = mix.len();
    let Some(recorded) = record_all(env, round, mix)? else {
        return Ok(());
    };
    let healthy = if plan.mix.is_some() {
        "the writer's calls into a healthy store succeed"
    } else {
        "puts and deletes into a healthy store succeed"
    };
    if !recorded.succeeded(round, healthy) {
        return Ok(());
    }
    let times: Vec<(u64, u64)> = recorded.replies.iter().map(|_| stamp()).collect();
    let reads_from = tick;
    let mut undecided = None;
    let mut judge = |env: &mut Env<'_>,
                     dir: &std::path::Path,
                     state: &crate::crash::states::CrashState|
     -> Result<Broken, ActorError> {
        // Acknowledged operations took effect; the one in flight may have; later ones were
        // never made.
        let mut seen = history.clone();
        for (i, (reply, &(invoked, completed))) in recorded.replies.iter().zip(&times).enumerate() {
            if i > state.acks {
                break;
            }
            if let Some(mut op) = operation(WRITER, reply, invoked, completed) {
                if i == state.acks {
                    op.outcome = Outcome::Info;
                }
                seen.operations.push(op);
            }
        }
        let mut at = reads_from;
        let store = dir.to_owned();
        let reads = plan.names.iter().map(|name| Op::Get {
            store: store.clone(),
            name: name.clone(),
        });
        let consumes = plan.tokens.iter().map(|token| Op::Consume {
            store: store.clone(),
            token: token.clone(),
        });
        for op in reads.chain(consumes) {
            verify_into(env, &mut seen, VERIFIER, op, &mut at)?;
        }
        Ok(match explain(&seen, VERIFIER) {
            Explained::Linearizable => Vec::new(),
            Explained::Undecided(reason) => {
                undecided.get_or_insert(reason);
                Vec::new()
            }
            Explained::Fails { mut lines, .. } => {
                lines.push(format!(
                    "actor {WRITER} is the writer; {} of its {planned} recorded operations were \
                     acknowledged before the power loss",
                    state.acks.min(planned)
                ));
                vec![Finding::new(INVARIANT, lines)]
            }
        })
    };
    judge_states(env, round, "store", &recorded, &mut judge)?;
    if let Some(reason) = undecided {
        round.skip = Some(format!("round {}: {reason}", round.index));
    }
    Ok(())
}

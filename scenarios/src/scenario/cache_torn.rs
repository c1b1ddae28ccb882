//! cache-torn (seed 002, HIGH-1's torn file): processes that read and rewrite one head cache
//! at once only ever load a complete head: once a head is cached, no process sends a request
//! without one (a torn or half-written cache file would read as no head, and the call would
//! bootstrap again), and every head sent is one the server handed out.
//!
//! Actors: the verifier bootstraps once; then the N racers call at once, three times per
//! round, with the same server, key and cache directory. The server passes every request and
//! hands out a new head each time, so every call rewrites the cache while others read it.

use std::sync::atomic::{AtomicU64, Ordering};

use super::support::witness_call::ClientRound;
use super::{describe_all, Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::finding::Invariant;
use crate::protocol::OpName;
use crate::scripted_witness::{head, Answer, Seen};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::CacheTorn,
    summary: "processes rewriting and reading one head cache at once only load complete heads",
    needs: &[OpName::Witness],
    needs_key: false,
    default_rounds: 60,
    mode: Mode::Race,
    run_round,
};

const INVARIANT: Invariant = Invariant::new(
    "once a head is cached, every request carries a complete head the server handed out",
);

/// Races per round.
const RACES: usize = 3;

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let next = AtomicU64::new(1);
    let script =
        Box::new(move |_: usize, _: &Seen| Answer::Pass(head(next.fetch_add(1, Ordering::SeqCst))));
    let Some(client) = ClientRound::start(env.cfg.preset, round, script) else {
        return Ok(());
    };
    let first = env.verify(client.op(1))?;
    let mut exchanges = vec![first];
    for _ in 0..RACES {
        let ops = (0..env.actors).map(|_| client.op(1)).collect();
        exchanges.extend(env.race(ops, &mut round.rng)?);
    }
    let seen = client.server.seen();
    let handed_out = seen.len() as u64;
    let bad: Vec<String> = seen
        .iter()
        .skip(1)
        .filter(|s| match &s.head {
            None => true,
            Some(sent) => !(1..=handed_out).any(|p| head(p).to_string() == *sent),
        })
        .map(|s| s.describe())
        .collect();
    if !bad.is_empty() {
        let mut lines = describe_all(&exchanges);
        lines.extend(bad);
        round.violation(INVARIANT, lines);
    }
    Ok(())
}

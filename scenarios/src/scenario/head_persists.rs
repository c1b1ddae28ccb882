//! head-persists (seed 002, loopctl PR #300): the head a client learned survives its process:
//! a fresh process's first request carries it, so it never trips the one-time grace's 412.
//!
//! Actors: the verifier bootstraps (the server passes and hands out its head); the verifier
//! is restarted (a new process) and calls again with the same server, key and cache
//! directory.

use super::support::witness_call::ClientRound;
use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::finding::Invariant;
use crate::protocol::OpName;
use crate::scripted_witness::{head, Answer, Seen};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::HeadPersists,
    summary: "a fresh process's first request carries the head an earlier process learned",
    needs: &[OpName::Witness],
    needs_key: false,
    default_rounds: 10,
    mode: Mode::Stochastic,
    run_round,
};

const INVARIANT: Invariant = Invariant::new("a fresh process's first request carries the head the last process learned (no second bootstrap)");

const REPORT: Invariant =
    Invariant::new("the head an adapter reports its call sent, and whether it came from the cache, are what the server saw");

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let current = head(31);
    let script = Box::new(move |n: usize, seen: &Seen| match &seen.head {
        None if n == 0 => Answer::Pass(current),
        None => Answer::Consumed(current),
        Some(_) => Answer::Pass(current),
    });
    let Some(client) = ClientRound::start(env.cfg.preset, round, script) else {
        return Ok(());
    };
    let first = env.verify(client.op(1))?;
    env.restart_verifier();
    let second = env.verify(client.op(1))?;
    let seen = client.server.seen();
    let carried = seen.get(1).and_then(|s| s.head.as_deref()) == Some(current.to_string().as_str());
    if !first.ok() || !carried {
        round.violation(INVARIANT, client.evidence(&[&first, &second]));
    }
    // An adapter may say which head its call used and whether it came from the cache: then
    // what it says must be what the server saw.
    if let Ok(success) = &second.reply.outcome {
        let sent = seen.get(1).map(|s| s.head.clone());
        let said_head = success.head.clone();
        let agrees = said_head.is_none_or(|said| Some(said.clone()) == sent)
            && success
                .from_cache
                .is_none_or(|from| from == success.head.clone().flatten().is_some());
        if !agrees {
            round.violation(REPORT, client.evidence(&[&first, &second]));
        }
    }
    Ok(())
}

//! zero-head (seed 002): before the first seal a server hands out the zero placeholder
//! `0:AAAAAAAAAAAAAAAAAAAAAA`; a client keeps and sends it like any head (it is what passes
//! until the first seal), instead of treating it as "no head" and bootstrapping again into a
//! 412, or looping.
//!
//! Actors: the verifier bootstraps (200 with the zero head); a restarted verifier calls again.

use keyrace_protocol::head::SignedTreeHead;

use super::support::witness_call::ClientRound;
use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::finding::Invariant;
use crate::protocol::OpName;
use crate::scripted_witness::{Answer, Seen};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::ZeroHead,
    summary: "the zero placeholder head is kept and sent back like any head; the call passes",
    needs: &[OpName::Witness],
    needs_key: false,
    default_rounds: 10,
    mode: Mode::Stochastic,
    run_round,
};

const INVARIANT: Invariant =
    Invariant::new("the zero placeholder a server handed out is sent back by the next process, and its call passes");

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let zero = SignedTreeHead::ZERO;
    let script = Box::new(move |n: usize, seen: &Seen| match &seen.head {
        None if n == 0 => Answer::Pass(zero),
        None => Answer::Consumed(zero),
        Some(_) => Answer::Pass(zero),
    });
    let Some(client) = ClientRound::start(env.cfg.preset, round, script) else {
        return Ok(());
    };
    let first = env.verify(client.op(1))?;
    env.restart_verifier();
    let second = env.verify(client.op(1))?;
    let seen = client.server.seen();
    let sent_zero = seen.get(1).and_then(|s| s.head.as_deref()) == Some(zero.to_string().as_str());
    if !first.ok() || !second.ok() || !sent_zero || seen.len() != 2 {
        round.violation(INVARIANT, client.evidence(&[&first, &second]));
    }
    Ok(())
}

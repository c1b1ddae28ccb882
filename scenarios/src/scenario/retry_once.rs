//! retry-once (seed 002): a bootstrap refused with 412 `BOOTSTRAP_ALREADY_CONSUMED` and a
//! current head is retried exactly once, carrying that head, and the call succeeds.
//!
//! Actors: the verifier makes one call on a cold cache against a scripted server whose grace
//! for the key is already consumed: it refuses any request without its head, and passes the
//! head it handed out.

use super::support::witness_call::ClientRound;
use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::finding::Invariant;
use crate::protocol::OpName;
use crate::scripted_witness::{head, Answer};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::RetryOnce,
    summary: "a bootstrap-412 with a head is retried exactly once with that head, and succeeds",
    needs: &[OpName::Witness],
    needs_key: false,
    default_rounds: 10,
    mode: Mode::Stochastic,
    run_round,
};

const INVARIANT: Invariant =
    Invariant::new("a 412 BOOTSTRAP_ALREADY_CONSUMED with a head is retried exactly once, with that head, and the call succeeds");

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let current = head(7);
    let script = Box::new(move |_: usize, seen: &crate::scripted_witness::Seen| {
        if seen.head.as_deref() == Some(current.to_string().as_str()) {
            Answer::Pass(current)
        } else {
            Answer::Consumed(current)
        }
    });
    let Some(client) = ClientRound::start(env.cfg.preset, round, script) else {
        return Ok(());
    };
    let call = env.verify(client.op(1))?;
    let seen = client.server.seen();
    let fine = call.ok()
        && seen.len() == 2
        && seen[0].head.is_none()
        && seen[1].head.as_deref() == Some(current.to_string().as_str());
    if !fine {
        round.violation(INVARIANT, client.evidence(&[&call]));
    }
    Ok(())
}

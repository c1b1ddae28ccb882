//! retry-bounded (seed 002): against a server that answers every request with 412
//! `BOOTSTRAP_ALREADY_CONSUMED` and a head, a call sends exactly two requests (the bootstrap
//! and one retry), then fails with `BOOTSTRAP_ALREADY_CONSUMED`: never a retry loop.
//!
//! Actors: the verifier makes one call on a cold cache.

use super::support::witness_call::{code, ClientRound};
use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::finding::Invariant;
use crate::protocol::{ErrorCode, OpName};
use crate::scripted_witness::{head, Answer};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::RetryBounded,
    summary:
        "against endless 412s a call sends exactly two requests, then BOOTSTRAP_ALREADY_CONSUMED",
    needs: &[OpName::Witness],
    needs_key: false,
    default_rounds: 10,
    mode: Mode::Stochastic,
    run_round,
};

pub(crate) const INVARIANT: Invariant =
    Invariant::new("against endless 412s a call sends exactly two requests and fails with BOOTSTRAP_ALREADY_CONSUMED");

/// Requests a call may send against endless 412s: the bootstrap and its one retry.
pub const REQUESTS: usize = 2;

/// Refusals before the scripted server gives in: a client that retries without bound still
/// ends, with its extra requests counted.
const REFUSALS: usize = 5;

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let current = head(9);
    let script = Box::new(move |n: usize, _: &crate::scripted_witness::Seen| {
        if n < REFUSALS {
            Answer::Consumed(current)
        } else {
            Answer::Pass(current)
        }
    });
    let Some(client) = ClientRound::start(env.cfg.preset, round, script) else {
        return Ok(());
    };
    let call = env.verify(client.op(1))?;
    let fine = client.server.seen().len() == REQUESTS
        && code(&call) == Some(ErrorCode::BootstrapAlreadyConsumed);
    if !fine {
        round.violation(INVARIANT, client.evidence(&[&call]));
    }
    Ok(())
}

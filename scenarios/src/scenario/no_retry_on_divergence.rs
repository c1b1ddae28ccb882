//! no-retry-on-divergence (seed 002): a 409 `DIVERGENCE` is surfaced after one request and
//! never retried, even though it carries a head the client could resend: retrying would
//! silently accept a forked or rolled-back log.
//!
//! Actors: the verifier makes one call against a server that answers 409 with a head (and,
//! after a few, 200, so a client that retries 409s still ends).

use super::support::witness_call::{code, ClientRound};
use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::finding::Invariant;
use crate::protocol::{ErrorCode, OpName};
use crate::scripted_witness::{head, Answer};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::NoRetryOnDivergence,
    summary: "a 409 is surfaced as DIVERGENCE after exactly one request, never retried",
    needs: &[OpName::Witness],
    needs_key: false,
    default_rounds: 10,
    mode: Mode::Stochastic,
    run_round,
};

pub(crate) const INVARIANT: Invariant =
    Invariant::new("a 409 is surfaced as DIVERGENCE after exactly one request");

/// Requests a call may send when its first is answered 409.
pub const REQUESTS: usize = 1;

const REFUSALS: usize = 3;

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let current = head(13);
    let script = Box::new(move |n: usize, _: &crate::scripted_witness::Seen| {
        if n < REFUSALS {
            Answer::Diverged(current)
        } else {
            Answer::Pass(current)
        }
    });
    let Some(client) = ClientRound::start(env.cfg.preset, round, script) else {
        return Ok(());
    };
    let call = env.verify(client.op(1))?;
    let fine = client.server.seen().len() == REQUESTS && code(&call) == Some(ErrorCode::Divergence);
    if !fine {
        round.violation(INVARIANT, client.evidence(&[&call]));
    }
    Ok(())
}

//! server-faults (seed 002): a server that fails (500, 503 without a head, a 404 from a wrong
//! endpoint) gets exactly one request per call, and the call fails with a keyrace error code:
//! no retry loop, no success invented, no crash.
//!
//! Actors: the verifier calls once per fault.

use super::witness_call::{api_key, code, evidence, op, server};
use super::{Env, Mode, Round, ScenarioDef};
use crate::actor::ActorError;
use crate::protocol::OpName;
use crate::scripted::{Answer, Seen};

pub const DEF: ScenarioDef = ScenarioDef {
    id: "server-faults",
    summary: "a failing server gets one request per call and a coded error back, never a loop",
    needs: &[OpName::Witness],
    needs_key: false,
    default_rounds: 3,
    mode: Mode::Stochastic,
    run_round,
};

const INVARIANT: &str =
    "a server failure is answered after exactly one request with a keyrace error code";

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    for status in [500u16, 503, 404] {
        let script = Box::new(move |_: usize, _: &Seen| Answer::Status(status));
        let Some(server) = server(round, script) else {
            return Ok(());
        };
        let key = api_key(round);
        let call = env.verify(op(
            server.url(),
            &key,
            &round.path(&format!("cache-{status}")),
            1,
        ))?;
        if server.seen().len() != 1 || call.ok() || code(&call).is_none() {
            let mut lines = evidence(&[&call], &server);
            lines.insert(
                0,
                format!("runner: the server answers every request with {status}"),
            );
            round.violation(INVARIANT, lines);
        }
    }
    Ok(())
}

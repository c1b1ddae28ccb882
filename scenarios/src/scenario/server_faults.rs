//! server-faults (seed 002): a server that fails (500, 503 without a head, a 404 from a wrong
//! endpoint, no answer for longer than a client should wait, or a connection that dies
//! mid-answer) gets a bounded number of requests per call (at most [`MAX_REQUESTS`]: a few
//! retries of a failing server are a policy, a loop is the bug), and the call fails with a
//! keyrace error code: no success invented, no hang, no crash.
//!
//! Actors: the verifier calls once per fault (the hung and the cut server only in the second
//! round: they cost [`HANG`] and a client timeout each time).

use std::time::Duration;

use super::support::witness_call::{api_key, code, evidence, op, server};
use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::finding::Invariant;
use crate::protocol::OpName;
use crate::scripted_witness::{Answer, Seen};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::ServerFaults,
    summary:
        "a failing, hung or cut-off server gets at most four requests per call and a coded error back, never a loop",
    needs: &[OpName::Witness],
    needs_key: false,
    default_rounds: 3,
    mode: Mode::Stochastic,
    run_round,
};

pub(crate) const INVARIANT: Invariant = Invariant::new(
    "a server failure is answered after at most four requests with a keyrace error code",
);

/// Requests one call may send to a failing server: the first and up to three retries.
pub const MAX_REQUESTS: usize = 4;

/// How long the hung server stays silent: past the reference client's 3 s timeout, well inside
/// the runner's 10 s per-request deadline (a client with no timeout at all hangs its adapter,
/// which the runner reports as a fault).
pub const HANG: Duration = Duration::from_secs(4);

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let mut faults = vec![
        Answer::Status(500),
        Answer::Status(503),
        Answer::Status(404),
    ];
    if round.index == 1 {
        faults.extend([Answer::Slow(HANG), Answer::Cut]);
    }
    for (i, fault) in faults.into_iter().enumerate() {
        let shown = match &fault {
            Answer::Slow(delay) => format!("no answer for {delay:?}, then 503"),
            Answer::Status(status) => format!("{status}"),
            Answer::Cut => "a 200 cut off mid-body".to_owned(),
            other => format!("{other:?}"),
        };
        let script = Box::new(move |_: usize, _: &Seen| fault.clone());
        let Some(server) = server(env.cfg.preset, round, script) else {
            return Ok(());
        };
        let key = api_key(round);
        let cache = round.path(&format!("cache-{i}"));
        let call = env.verify(op(&server, &key, &cache, 1))?;
        let sent = server.seen().len();
        if sent == 0 || sent > MAX_REQUESTS || call.ok() || code(&call).is_none() {
            let mut lines = evidence(&[&call], &server);
            lines.insert(
                0,
                format!("runner: the server answers every request with {shown}"),
            );
            round.violation(INVARIANT, lines);
        }
    }
    Ok(())
}

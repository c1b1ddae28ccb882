//! cold-start (seed 002): k concurrent first calls of one client in one process, on a cold
//! cache, send exactly one request without a head: one bootstrap spends the one-time grace,
//! the other calls wait for the head it learns.
//!
//! Actors: the verifier makes one `witness` op with `concurrency: 8`. The server passes the
//! first bootstrap after [`SLOW_BOOTSTRAP`] (a server slower than a process starting its
//! threads, so every call is under way before any head is known), refuses any later one with
//! 412 and its head (the grace is spent), and passes its head.

use super::witness_call::{api_key, cache_dir, evidence, op, server};
use super::{Env, Mode, Round, ScenarioDef};
use crate::actor::ActorError;
use crate::protocol::OpName;
use crate::scripted::{head, Answer, Seen};

pub const DEF: ScenarioDef = ScenarioDef {
    id: "cold-start",
    summary: "eight concurrent first calls in one process send exactly one bootstrap (no head), and all succeed",
    needs: &[OpName::Witness],
    needs_key: false,
    default_rounds: 20,
    mode: Mode::Stochastic,
    run_round,
};

pub(crate) const INVARIANT: &str =
    "concurrent first calls of one client send exactly one request without a head, and all succeed";

/// Concurrent calls per round.
pub const CONCURRENCY: u32 = 8;

/// How long the server takes to answer the first bootstrap.
pub const SLOW_BOOTSTRAP: std::time::Duration = std::time::Duration::from_millis(100);

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let current = head(21);
    let bootstraps = std::sync::atomic::AtomicUsize::new(0);
    let script = Box::new(move |_: usize, seen: &Seen| match &seen.head {
        None if bootstraps.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 => {
            Answer::After(SLOW_BOOTSTRAP, Box::new(Answer::Pass(current)))
        }
        None => Answer::Consumed(current),
        Some(_) => Answer::Pass(current),
    });
    let Some(server) = server(env.cfg.preset, round, script) else {
        return Ok(());
    };
    let key = api_key(round);
    let Some(cache) = cache_dir(round) else {
        return Ok(());
    };
    let call = env.verify(op(&server, &key, &cache, CONCURRENCY))?;
    let without_head = server.seen().iter().filter(|s| s.head.is_none()).count();
    if !call.ok() || without_head != 1 {
        let mut lines = evidence(&[&call], &server);
        lines.push(format!("runner: {without_head} requests without a head"));
        round.violation(INVARIANT, lines);
    }
    Ok(())
}

//! cold-start (seed 002): k concurrent first calls of one client in one process, on a cold
//! cache, send exactly one request without a head: one bootstrap spends the one-time grace,
//! the other calls wait for the head it learns.
//!
//! Actors: the verifier makes one `witness` op with `concurrency: 8`. The server holds its
//! answer to the first bootstrap until a second request arrives, or for [`HOLD`] when none
//! does: a client that does not coalesce sends its second bootstrap while the first is held,
//! on every run, however loaded the machine; a coalescing client's calls all wait for the
//! leader, so the server hears nothing more and answers after [`HOLD`]. It refuses any later
//! bootstrap with 412 and its head (the grace is spent), and passes its head.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::support::witness_call::ClientRound;
use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::finding::Invariant;
use crate::protocol::OpName;
use crate::scripted_witness::{head, Answer, Seen};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::ColdStart,
    summary: "eight concurrent first calls in one process send exactly one bootstrap (no head), and all succeed",
    needs: &[OpName::Witness],
    needs_key: false,
    default_rounds: 5,
    mode: Mode::Stochastic,
    run_round,
};

pub(crate) const INVARIANT: Invariant = Invariant::new(
    "concurrent first calls of one client send exactly one request without a head, and all succeed",
);

/// Concurrent calls per round.
pub const CONCURRENCY: u32 = 8;

/// The longest the server holds the first bootstrap's answer waiting for a second request:
/// far longer than a process takes to start its threads' requests.
pub const HOLD: Duration = Duration::from_millis(500);

/// Counts the server's requests; the first bootstrap waits on it for a second one.
#[derive(Default)]
struct Arrivals {
    count: Mutex<usize>,
    arrived: Condvar,
}

impl Arrivals {
    fn arrive(&self) {
        *self.count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.arrived.notify_all();
    }

    /// Wait until `n` requests have arrived, or `hold` has passed.
    fn wait_for(&self, n: usize, hold: Duration) {
        let count = self.count.lock().unwrap_or_else(|p| p.into_inner());
        drop(
            self.arrived
                .wait_timeout_while(count, hold, |count| *count < n)
                .unwrap_or_else(|p| p.into_inner()),
        );
    }
}

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let current = head(21);
    let bootstraps = AtomicUsize::new(0);
    let arrivals = Arrivals::default();
    let script = Box::new(move |_: usize, seen: &Seen| {
        arrivals.arrive();
        match &seen.head {
            None if bootstraps.fetch_add(1, Ordering::SeqCst) == 0 => {
                arrivals.wait_for(2, HOLD);
                Answer::Pass(current)
            }
            None => Answer::Consumed(current),
            Some(_) => Answer::Pass(current),
        }
    });
    let Some(client) = ClientRound::start(env.cfg.preset, round, script) else {
        return Ok(());
    };
    let call = env.verify(client.op(CONCURRENCY))?;
    let without_head = client
        .server
        .seen()
        .iter()
        .filter(|s| s.head.is_none())
        .count();
    if !call.ok() || without_head != 1 {
        let mut lines = client.evidence(&[&call]);
        lines.push(format!("runner: {without_head} requests without a head"));
        round.violation(INVARIANT, lines);
    }
    Ok(())
}

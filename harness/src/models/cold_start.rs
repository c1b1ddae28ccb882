//! **cold-start** (seed 002): N concurrent first calls of one witness client, with no cached
//! head, against the in-process gate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use keyrace_core::bootstrap::{MemoryHeadLog, MemoryLedger, WitnessGate};
use keyrace_core::witness::{
    ApiKey, HeadSlot, InProcessTransport, NoCache, RetryOnce, Transport, WitnessClient,
    WitnessRequest, WitnessResponse,
};

use super::{require, run_actors};
use crate::simfs::{Semantics, SimFs};

/// The invariant of this model, as its violations name it.
pub const COLD_START: &str =
    "every concurrent first call succeeds and exactly one bootstrap request reaches the gate";

/// The gate, counting the requests that carry no head (bootstrap requests).
struct CountingTransport<T> {
    inner: T,
    bootstraps: AtomicUsize,
}

impl<T: Transport> Transport for CountingTransport<T> {
    fn send(&self, request: &WitnessRequest<'_>) -> std::io::Result<WitnessResponse> {
        if request.last_known_head.is_none() {
            self.bootstraps.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.send(request)
    }
}

/// Run `actors` first calls at once; each call's outcome and the bootstrap requests sent.
fn race<S: HeadSlot + 'static>(slot: S, actors: usize) -> (Vec<Result<Vec<u8>, String>>, usize) {
    let log = MemoryHeadLog::new();
    let sealed = log.seal([7; 16]).map(|_| ());
    let gate = WitnessGate::new(MemoryLedger::new(), log);
    let transport = CountingTransport {
        inner: InProcessTransport::new(gate, |body: &[u8]| body.to_vec()),
        bootstraps: AtomicUsize::new(0),
    };
    let client = Arc::new(WitnessClient::with_parts(
        transport,
        NoCache,
        slot,
        RetryOnce,
        ApiKey::new("lk_model_key"),
    ));
    let outcomes = {
        let client = Arc::clone(&client);
        run_actors(actors, move |i| {
            let body = format!("request {i}");
            client
                .call(body.as_bytes())
                .map_err(|e| format!("{}: {e}", e.code()))
        })
    };
    let outcomes = match sealed {
        Ok(()) => outcomes,
        Err(e) => vec![Err(format!("the model's setup failed: {e}"))],
    };
    (
        outcomes,
        client.transport().bootstraps.load(Ordering::SeqCst),
    )
}

/// Invariant: concurrent cold-start calls of one client all succeed, and exactly one
/// bootstrap request (no last-known head) reaches the gate: the one-time grace is spent once.
pub fn cold_start<S: HeadSlot + 'static>(
    slot: fn() -> S,
    actors: usize,
) -> impl Fn() + Send + Sync + 'static {
    move || {
        const INVARIANT: &str = COLD_START;
        let (outcomes, bootstraps) = race(slot(), actors);
        // No filesystem in this model: an empty SimFs carries the observations as its trace.
        let trace = SimFs::new(Semantics::Posix);
        for (i, outcome) in outcomes.iter().enumerate() {
            trace.note(&format!("call {i} returns {outcome:?}"));
        }
        let all_ok = outcomes.iter().all(Result::is_ok);
        require(&trace, all_ok && bootstraps == 1, INVARIANT, || {
            format!("{bootstraps} bootstrap requests; outcomes {outcomes:?}")
        });
    }
}

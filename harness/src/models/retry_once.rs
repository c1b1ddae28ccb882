//! **retry-once** (seed 002): the client retries a bootstrap-412 that carries a head exactly
//! once, and never retries a 409 divergence.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use keyrace_core::bootstrap::{
    GraceLedger, MemoryHeadLog, MemoryLedger, SignedTreeHead, WitnessGate,
};
use keyrace_core::witness::{
    ApiKey, InProcessTransport, NoCache, RetryRule, SingleFlight, Transport, WitnessClient,
    WitnessError, WitnessRequest, WitnessResponse,
};
use keyrace_core::ErrorCode;

use super::{require, run_actors};
use crate::simfs::{Semantics, SimFs};

/// The invariants of this model, as its violations name them.
pub const RETRIED_ONCE: &str =
    "a bootstrap-412 that carries a head is retried once and the call succeeds";
pub const AT_MOST_ONCE: &str = "a call retries at most once";
pub const DIVERGENCE_SURFACED: &str = "a 409 is surfaced as DIVERGENCE and never retried";

/// A server that refuses the first `refusals` requests the same way and then answers 200, so a
/// client that retries without bound still terminates, with its extra requests counted.
struct Refusing {
    status: u16,
    code: ErrorCode,
    refusals: usize,
    requests: AtomicUsize,
}

impl Refusing {
    fn new(status: u16, code: ErrorCode, actors: usize) -> Refusing {
        Refusing {
            status,
            code,
            // More than the reference could ever send (two per call).
            refusals: 2 * actors + 1,
            requests: AtomicUsize::new(0),
        }
    }
}

impl Transport for Refusing {
    fn send(&self, _request: &WitnessRequest<'_>) -> std::io::Result<WitnessResponse> {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        let head = SignedTreeHead::new(5, [9; 16]).to_string();
        if n >= self.refusals {
            return Ok(WitnessResponse::ok(Some(head), Vec::new()));
        }
        Ok(WitnessResponse::refusal(
            self.status,
            Some(self.code.as_str()),
            Some(head),
            "refused (model)",
        ))
    }
}

type Outcomes = Vec<Result<Vec<u8>, WitnessError>>;
type Client<T, R> = WitnessClient<T, NoCache, SingleFlight<SignedTreeHead>, R>;

/// `actors` concurrent calls of one client with `rule` over `transport`.
fn calls<T: Transport + 'static, R: RetryRule + 'static>(
    transport: T,
    rule: R,
    actors: usize,
) -> (Outcomes, Arc<Client<T, R>>) {
    let client = Arc::new(WitnessClient::with_parts(
        transport,
        NoCache,
        SingleFlight::new(),
        rule,
        ApiKey::new("lk_model_key"),
    ));
    let outcomes = {
        let client = Arc::clone(&client);
        run_actors(actors, move |i| {
            client.call(format!("request {i}").as_bytes())
        })
    };
    (outcomes, client)
}

/// Invariant: a call whose bootstrap is refused with 412 and a head is retried once and then
/// succeeds; a call that keeps getting 412s sends at most two requests; a 409 is surfaced as
/// `DIVERGENCE` after one request and never retried.
pub fn retry_once<R: RetryRule + Copy + 'static>(
    rule: R,
    actors: usize,
) -> impl Fn() + Send + Sync + 'static {
    move || {
        let trace = SimFs::new(Semantics::Posix);

        // 412 then success: the key's grace is already consumed at the real gate.
        let ledger = MemoryLedger::new();
        let log = MemoryHeadLog::new();
        let setup = ledger
            .try_consume(&ApiKey::new("lk_model_key").key_id())
            .map(|_| ())
            .and_then(|()| log.seal([3; 16]).map(|_| ()));
        require(&trace, setup.is_ok(), super::SETUP, || format!("{setup:?}"));
        let gate = InProcessTransport::new(WitnessGate::new(ledger, log), |b: &[u8]| b.to_vec());
        let (outcomes, _) = calls(gate, rule, actors);
        trace.note(&format!("after a consumed grace: {outcomes:?}"));
        require(
            &trace,
            outcomes.iter().all(Result::is_ok),
            RETRIED_ONCE,
            || format!("{outcomes:?}"),
        );

        // A server that keeps answering 412: at most two requests per call.
        let refusing = Refusing::new(412, ErrorCode::BootstrapAlreadyConsumed, actors);
        let (outcomes, client) = calls(refusing, rule, actors);
        let sent = client.transport().requests.load(Ordering::SeqCst);
        trace.note(&format!(
            "against endless 412s: {sent} requests, {outcomes:?}"
        ));
        require(
            &trace,
            sent <= 2 * actors
                && outcomes.iter().all(|outcome| {
                    matches!(outcome, Err(e) if e.code() == ErrorCode::BootstrapAlreadyConsumed)
                }),
            AT_MOST_ONCE,
            || format!("{actors} calls sent {sent} requests"),
        );

        // A 409: surfaced after one request per call, never retried.
        let diverging = Refusing::new(409, ErrorCode::Divergence, actors);
        let (outcomes, client) = calls(diverging, rule, actors);
        let sent = client.transport().requests.load(Ordering::SeqCst);
        trace.note(&format!("against a 409: {sent} requests, {outcomes:?}"));
        let surfaced = outcomes
            .iter()
            .all(|o| matches!(o, Err(WitnessError::Divergence { .. })));
        require(
            &trace,
            surfaced && sent == actors,
            DIVERGENCE_SURFACED,
            || format!("{actors} calls sent {sent} requests: {outcomes:?}"),
        );
    }
}

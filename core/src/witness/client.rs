//! [`WitnessClient`]: sends the last known head, retries a bootstrap-412 exactly once, never
//! retries a 409, and coalesces concurrent cold starts (seed 002, client side).
//!
//! A call:
//! 1. takes the in-memory head; on a cold start one leader loads the [`CacheStore`] and, if it
//!    holds nothing, sends the request without a head (the bootstrap marker) while concurrent
//!    callers wait for the head it learns ([`HeadSlot`]);
//! 2. learns every valid head a 200, 409 or 412 carries (memory and cache file);
//! 3. asks the [`RetryRule`] whether to resend the same request with a learned head: the
//!    reference [`RetryOnce`] does so only after a first attempt that got a 412
//!    `BOOTSTRAP_ALREADY_CONSUMED` carrying a valid head. That is safe because the gate refuses
//!    before the guarded operation runs, so the refused request had no effect.

use crate::bootstrap::{SignedTreeHead, Status};
use crate::code::ErrorCode;
use crate::witness::cache::CacheStore;
use crate::witness::singleflight::{Acquire, HeadSlot, LeadGuard, SingleFlight};
use crate::witness::transport::{ApiKey, Transport, WitnessRequest, WitnessResponse};
use crate::witness::WitnessError;

/// Longest server message kept in an error; the rest is cut (it is untrusted input).
const MAX_MESSAGE: usize = 200;

/// Decides whether a response is retried, and with which head.
///
/// Seam for mutants: `retry-unbounded` ignores `attempt`; `retry-on-divergence` also retries a
/// 409 with the head it carries.
pub trait RetryRule: Send + Sync {
    /// After attempt `attempt` (1-based) got `response`, whose valid current head is `carried`:
    /// the head to resend the same request with, or `None` to stop.
    fn retry_with(
        &self,
        attempt: u32,
        response: &WitnessResponse,
        carried: Option<SignedTreeHead>,
    ) -> Option<SignedTreeHead>;
}

/// The reference rule: one retry, only for a 412 `BOOTSTRAP_ALREADY_CONSUMED` with a head.
#[derive(Debug, Default, Clone, Copy)]
pub struct RetryOnce;

impl RetryRule for RetryOnce {
    fn retry_with(
        &self,
        attempt: u32,
        response: &WitnessResponse,
        carried: Option<SignedTreeHead>,
    ) -> Option<SignedTreeHead> {
        let consumed_grace = response.status == Status::PreconditionFailed.as_u16()
            && response.code.as_deref() == Some(ErrorCode::BootstrapAlreadyConsumed.as_str());
        if attempt == 1 && consumed_grace {
            carried
        } else {
            None
        }
    }
}

/// A client of one server with one key.
#[derive(Debug)]
pub struct WitnessClient<T, C, S = SingleFlight<SignedTreeHead>, R = RetryOnce> {
    transport: T,
    cache: C,
    slot: S,
    retry: R,
    key: ApiKey,
}

impl<T: Transport, C: CacheStore> WitnessClient<T, C> {
    /// The reference client: singleflight cold starts, retry once.
    pub fn new(transport: T, cache: C, key: ApiKey) -> Self {
        WitnessClient::with_parts(transport, cache, SingleFlight::new(), RetryOnce, key)
    }
}

impl<T: Transport, C: CacheStore, S: HeadSlot, R: RetryRule> WitnessClient<T, C, S, R> {
    /// A client with its head slot and retry rule chosen (the harness's mutant seams).
    pub fn with_parts(transport: T, cache: C, slot: S, retry: R, key: ApiKey) -> Self {
        WitnessClient {
            transport,
            cache,
            slot,
            retry,
            key,
        }
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn cache(&self) -> &C {
        &self.cache
    }

    pub fn slot(&self) -> &S {
        &self.slot
    }

    /// The head this client would send now, if it knows one.
    pub fn known_head(&self) -> Option<SignedTreeHead> {
        self.slot.get()
    }

    /// Send `body` through the gate; `Ok` is the guarded operation's result.
    pub fn call(&self, body: &[u8]) -> Result<Vec<u8>, WitnessError> {
        match self.slot.acquire() {
            Acquire::Known(head) => self.exchange(body, Some(head), None),
            Acquire::Lead => {
                let lead = LeadGuard::new(&self.slot);
                match self.cache.load().head() {
                    Some(head) => {
                        lead.finish(Some(head));
                        self.exchange(body, Some(head), None)
                    }
                    None => self.exchange(body, None, Some(lead)),
                }
            }
            Acquire::LeaderFailed => self.exchange(body, None, None),
        }
    }

    /// Send with `head` (or the bootstrap marker), learn what comes back, retry as the rule
    /// says. A leader's flight ends as soon as the first response is in, before any retry.
    fn exchange(
        &self,
        body: &[u8],
        mut head: Option<SignedTreeHead>,
        mut lead: Option<LeadGuard<'_, S>>,
    ) -> Result<Vec<u8>, WitnessError> {
        let mut attempt = 1;
        loop {
            let request = WitnessRequest {
                key: &self.key,
                last_known_head: head.map(|h| h.to_string()),
                body,
            };
            // On a transport error `lead` drops here and releases the followers.
            let response = self
                .transport
                .send(&request)
                .map_err(|source| WitnessError::Transport { source })?;
            let carried = carried_head(&response);
            if let Some(learned) = carried {
                self.learn(learned);
            }
            if let Some(lead) = lead.take() {
                lead.finish(carried);
            }
            match self.retry.retry_with(attempt, &response, carried) {
                Some(next) => {
                    head = Some(next);
                    attempt = attempt.saturating_add(1);
                }
                None => return outcome(response, carried),
            }
        }
    }

    /// Keep `head` in memory and, if it is new, in the cache file (failures there are ignored:
    /// an unwritable cache is no cache).
    fn learn(&self, head: SignedTreeHead) {
        if self.slot.get() != Some(head) {
            self.slot.set(head);
            let _ = self.cache.store(&head);
        }
    }
}

/// The valid head a 200, 409 or 412 carries; a malformed one counts as none.
fn carried_head(response: &WitnessResponse) -> Option<SignedTreeHead> {
    let carries = [Status::Ok, Status::Conflict, Status::PreconditionFailed]
        .iter()
        .any(|s| s.as_u16() == response.status);
    if !carries {
        return None;
    }
    SignedTreeHead::parse(response.current_head.as_deref()?).ok()
}

fn outcome(
    response: WitnessResponse,
    carried: Option<SignedTreeHead>,
) -> Result<Vec<u8>, WitnessError> {
    let code = response
        .code
        .as_deref()
        .and_then(|c| c.parse::<ErrorCode>().ok());
    if response.status == Status::Ok.as_u16() {
        return Ok(response.body);
    }
    if response.status == Status::Conflict.as_u16() {
        return Err(WitnessError::Divergence {
            current_head: carried,
        });
    }
    if response.status == Status::PreconditionFailed.as_u16()
        && code == Some(ErrorCode::BootstrapAlreadyConsumed)
    {
        return Err(WitnessError::AlreadyConsumed {
            current_head: carried,
        });
    }
    let mut message: String = response
        .message
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE)
        .collect();
    if message.is_empty() {
        message.push_str("(no message)");
    }
    Err(WitnessError::Rejected {
        status: response.status,
        code,
        message,
    })
}

//! The witness gate: classify one request by its last-known-head header (seed 002, server side).
//!
//! | header | condition | verdict |
//! |---|---|---|
//! | absent | the key's grace is unconsumed | consume it, pass, hand back the current head |
//! | absent | the grace is gone | 412 `BOOTSTRAP_ALREADY_CONSUMED`, always with the current head |
//! | a head | the log has held it (now or ever) | pass |
//! | the zero placeholder | nothing is sealed yet | pass |
//! | the zero placeholder | a real head exists | 409 `DIVERGENCE` |
//! | a head | beyond the newest position, or a prefix the log never held | 409 `DIVERGENCE` |
//! | malformed | | 400 `INVALID_ARGUMENT` |
//!
//! The current head is read exactly once per request, before the grace is consumed: a failed
//! read then never burns a grace, and the 412 reuses that same head (no second read that could
//! fail and turn the 412 into a 500 without a head). Every refusal happens before the guarded
//! operation runs, so a refused request had no side effect and is safe to retry.

use crate::bootstrap::ledger::{Consumed, GraceLedger};
use crate::bootstrap::sth::{HeadLog, SignedTreeHead};
use crate::bootstrap::BootstrapError;

/// The HTTP-like status of a gate answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 200: the request passes the gate.
    Ok,
    /// 400: the header is malformed.
    BadRequest,
    /// 409: the client's head is not in this server's history.
    Conflict,
    /// 412: no header, and the bootstrap grace is gone.
    PreconditionFailed,
    /// 503: the ledger or the head log failed; retry later.
    Unavailable,
}

impl Status {
    pub const fn as_u16(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::Conflict => 409,
            Status::PreconditionFailed => 412,
            Status::Unavailable => 503,
        }
    }
}

/// A request that passed the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// The current head (the zero placeholder while nothing is sealed), for the client to keep.
    pub current_head: SignedTreeHead,
    /// Whether this request consumed the key's bootstrap grace.
    pub bootstrapped: bool,
}

/// The gate over a grace ledger and a head log.
///
/// Seams for the harness: the ledger ([`GraceLedger`]) and the log ([`HeadLog`]) are type
/// parameters, so a mutant ledger (`grace-check-then-set`) or a read-counting log plugs in
/// without touching the classification.
#[derive(Debug)]
pub struct WitnessGate<L, H> {
    ledger: L,
    log: H,
}

impl<L: GraceLedger, H: HeadLog> WitnessGate<L, H> {
    pub fn new(ledger: L, log: H) -> WitnessGate<L, H> {
        WitnessGate { ledger, log }
    }

    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    pub fn log(&self) -> &H {
        &self.log
    }

    /// Classify a request of key `key_id` whose last-known-head header is `header`
    /// (`None`: the header is absent, i.e. the client asks for its bootstrap).
    pub fn check(&self, key_id: &str, header: Option<&str>) -> Result<Pass, BootstrapError> {
        let claimed = header
            .map(SignedTreeHead::parse)
            .transpose()
            .map_err(|reason| BootstrapError::MalformedHead { reason })?;
        // The one read of the current head for this request.
        let sealed = self.log.current()?;
        let current_head = sealed.unwrap_or(SignedTreeHead::ZERO);
        let pass = |bootstrapped| {
            Ok(Pass {
                current_head,
                bootstrapped,
            })
        };
        let diverged = || Err(BootstrapError::Divergence { current_head });
        match (claimed, sealed) {
            (None, _) => match self.ledger.try_consume(key_id)? {
                Consumed::Won => pass(true),
                Consumed::AlreadyConsumed => Err(BootstrapError::AlreadyConsumed { current_head }),
            },
            // Before the first seal the placeholder is all a bootstrapped client can know.
            (Some(head), None) if head.is_zero() => pass(false),
            (Some(_), None) => diverged(),
            (Some(head), Some(newest)) if head == newest => pass(false),
            (Some(head), Some(newest)) if head.position > newest.position => diverged(),
            (Some(head), Some(_)) => {
                if self.log.has_held(&head)? {
                    pass(false)
                } else {
                    diverged()
                }
            }
        }
    }
}

//! The retry-once client's two retry checkers, each against the reference rule (passes) and
//! against the mutant it was written for (caught): `retry-unbounded` and
//! `retry-on-divergence`, the bodies the reference adapter runs under `--mutant`.

// The core's test doubles (a scripted, recording transport), shared rather than copied.
#[path = "../../core/tests/bootstrap_support/mod.rs"]
mod bootstrap_support;

use std::io;

use bootstrap_support::{consumed_412, divergence_409, head, ok_with, Recording, Scripted};
use keyrace_core::bootstrap::SignedTreeHead;
use keyrace_core::witness::{
    ApiKey, NoCache, RetryOnce, RetryRule, SingleFlight, WitnessClient, WitnessError,
    WitnessResponse,
};
use keyrace_mutants::witness::{RetryOnDivergence, RetryUnbounded};

type Client<R> = WitnessClient<Recording<Scripted>, NoCache, SingleFlight<SignedTreeHead>, R>;

fn client<R: RetryRule>(replies: Vec<io::Result<WitnessResponse>>, rule: R) -> Client<R> {
    WitnessClient::with_parts(
        Recording::new(Scripted::new(replies)),
        NoCache,
        SingleFlight::new(),
        rule,
        ApiKey::new("lk_live_0123456789_secret"),
    )
}

/// Checker: against a server that always answers a bootstrap-412 with a head, one call sends
/// at most two requests.
fn retry_is_bounded<R: RetryRule>(rule: R) -> Result<(), String> {
    let h = head(1, 1).to_string();
    let client = client((0..10).map(|_| consumed_412(Some(&h))).collect(), rule);
    let _ = client.call(b"op");
    match client.transport().sent().len() {
        n if n <= 2 => Ok(()),
        n => Err(format!("one call sent {n} requests")),
    }
}

/// Checker: a 409 is surfaced as DIVERGENCE after exactly one request.
fn divergence_is_surfaced<R: RetryRule>(rule: R) -> Result<(), String> {
    let h = head(2, 2).to_string();
    let client = client(vec![divergence_409(Some(&h)), ok_with(Some(&h), b"")], rule);
    let result = client.call(b"op");
    let sent = client.transport().sent().len();
    match result {
        Err(WitnessError::Divergence { .. }) if sent == 1 => Ok(()),
        other => Err(format!("409 became {other:?} after {sent} requests")),
    }
}

#[test]
fn retry_checkers_pass_the_reference() {
    assert_eq!(retry_is_bounded(RetryOnce), Ok(()));
    assert_eq!(divergence_is_surfaced(RetryOnce), Ok(()));
}

#[test]
fn checker_catches_retry_unbounded() {
    assert_eq!(
        retry_is_bounded(RetryUnbounded),
        Err("one call sent 11 requests".to_owned())
    );
}

#[test]
fn checker_catches_retry_on_divergence() {
    let verdict = divergence_is_surfaced(RetryOnDivergence);
    assert!(
        matches!(&verdict, Err(m) if m.starts_with("409 became") && !m.ends_with("after 1 requests")),
        "{verdict:?}"
    );
}

//! The witness gate, one test per branch of its table (see `bootstrap::gate`).
// Real threads and std primitives: the loom build runs only the loom models (witness_loom).
#![cfg(not(loom))]

mod bootstrap_support;

use std::sync::atomic::Ordering;

use bootstrap_support::{fast_tempdir, head, CountingLedger, CountingLog};
use keyrace_core::bootstrap::{
    BootstrapError, FileLedger, MemoryHeadLog, MemoryLedger, Pass, SignedTreeHead, Status,
    WitnessGate,
};
use keyrace_core::{ErrorCode, OsFs};
use proptest::prelude::*;

fn gate() -> WitnessGate<CountingLedger, CountingLog> {
    WitnessGate::new(CountingLedger::default(), CountingLog::new())
}

fn sealed_gate(heads: &[SignedTreeHead]) -> WitnessGate<CountingLedger, CountingLog> {
    let gate = gate();
    for h in heads {
        gate.log().inner.append(*h).expect("append");
    }
    gate
}

fn text(h: SignedTreeHead) -> String {
    h.to_string()
}

#[test]
fn first_bootstrap_passes_and_hands_back_the_current_head() {
    let newest = head(3, 3);
    let gate = sealed_gate(&[head(1, 1), newest]);
    let pass = gate.check("k", None).expect("first bootstrap");
    assert_eq!(
        pass,
        Pass {
            current_head: newest,
            bootstrapped: true
        }
    );
    assert_eq!(gate.ledger().consumes(), 1);
}

#[test]
fn first_bootstrap_before_any_seal_hands_back_the_zero_placeholder() {
    let gate = gate();
    let pass = gate.check("k", None).expect("first bootstrap");
    assert_eq!(pass.current_head, SignedTreeHead::ZERO);
    assert!(pass.bootstrapped);
}

#[test]
fn second_bootstrap_is_412_carrying_the_current_head() {
    let newest = head(2, 2);
    let gate = sealed_gate(&[newest]);
    gate.check("k", None).expect("first");
    let e = gate.check("k", None).expect_err("second");
    assert!(
        matches!(e, BootstrapError::AlreadyConsumed { current_head } if current_head == newest)
    );
    assert_eq!(e.code(), ErrorCode::BootstrapAlreadyConsumed);
    assert_eq!(e.status(), Status::PreconditionFailed);
    assert_eq!(e.status().as_u16(), 412);
    assert_eq!(e.current_head(), Some(newest));
}

#[test]
fn the_412_before_any_seal_carries_the_zero_placeholder() {
    let gate = gate();
    gate.check("k", None).expect("first");
    let e = gate.check("k", None).expect_err("second");
    assert_eq!(e.current_head(), Some(SignedTreeHead::ZERO));
}

#[test]
fn the_412_reads_the_current_head_exactly_once() {
    let gate = sealed_gate(&[head(1, 1)]);
    gate.check("k", None).expect("first");
    let before = gate.log().reads();
    gate.check("k", None).expect_err("412");
    assert_eq!(gate.log().reads() - before, 1, "one head read per request");
    assert_eq!(gate.log().held_reads.load(Ordering::SeqCst), 0);
}

#[test]
fn every_request_reads_the_current_head_once() {
    let gate = sealed_gate(&[head(1, 1), head(2, 2)]);
    for header in [
        None,
        Some(text(head(1, 1))),
        Some(text(head(2, 2))),
        Some(text(head(9, 9))),
    ] {
        let before = gate.log().reads();
        let _ = gate.check("k", header.as_deref());
        assert_eq!(gate.log().reads() - before, 1, "{header:?}");
    }
}

#[test]
fn graces_are_per_key() {
    let gate = gate();
    assert!(gate.check("a", None).expect("a").bootstrapped);
    assert!(gate.check("b", None).expect("b").bootstrapped);
    assert!(matches!(
        gate.check("a", None),
        Err(BootstrapError::AlreadyConsumed { .. })
    ));
}

#[test]
fn the_newest_head_passes_without_consuming() {
    let newest = head(2, 2);
    let gate = sealed_gate(&[head(1, 1), newest]);
    let pass = gate.check("k", Some(&text(newest))).expect("newest");
    assert_eq!(
        pass,
        Pass {
            current_head: newest,
            bootstrapped: false
        }
    );
    assert_eq!(gate.ledger().consumes(), 0);
    // The grace is still there for a real bootstrap.
    assert!(gate.check("k", None).expect("bootstrap").bootstrapped);
}

#[test]
fn any_head_the_log_ever_held_passes() {
    let old = head(1, 1);
    let gate = sealed_gate(&[old, head(2, 2), head(7, 7)]);
    let pass = gate.check("k", Some(&text(old))).expect("stale but held");
    assert_eq!(pass.current_head, head(7, 7));
}

#[test]
fn zero_placeholder_passes_while_nothing_is_sealed() {
    let gate = gate();
    let pass = gate
        .check("k", Some("0:AAAAAAAAAAAAAAAAAAAAAA"))
        .expect("pre-seal placeholder");
    assert_eq!(pass.current_head, SignedTreeHead::ZERO);
    assert!(!pass.bootstrapped);
}

#[test]
fn zero_placeholder_diverges_once_a_real_head_exists() {
    let gate = gate();
    gate.check("k", Some("0:AAAAAAAAAAAAAAAAAAAAAA"))
        .expect("pre-seal");
    let sealed = gate.log().inner.seal([4; 16]).expect("seal");
    let e = gate
        .check("k", Some("0:AAAAAAAAAAAAAAAAAAAAAA"))
        .expect_err("post-seal placeholder");
    assert!(matches!(e, BootstrapError::Divergence { current_head } if current_head == sealed));
}

#[test]
fn a_non_zero_head_before_any_seal_diverges() {
    let gate = gate();
    for claimed in [head(1, 1), SignedTreeHead::new(0, [1; 16])] {
        let e = gate
            .check("k", Some(&text(claimed)))
            .expect_err("nothing sealed");
        assert_eq!(e.code(), ErrorCode::Divergence);
        assert_eq!(e.current_head(), Some(SignedTreeHead::ZERO));
    }
}

#[test]
fn a_position_beyond_the_newest_head_is_409_with_the_current_head() {
    let newest = head(2, 2);
    let gate = sealed_gate(&[head(1, 1), newest]);
    let e = gate
        .check("k", Some(&text(head(3, 2))))
        .expect_err("future");
    assert_eq!(e.code(), ErrorCode::Divergence);
    assert_eq!(e.status().as_u16(), 409);
    assert_eq!(e.current_head(), Some(newest));
    assert_eq!(
        gate.log().held_reads.load(Ordering::SeqCst),
        0,
        "decided by position alone"
    );
}

#[test]
fn an_unknown_prefix_at_a_held_position_is_409() {
    let gate = sealed_gate(&[head(1, 1), head(2, 2)]);
    for forked in [head(1, 9), head(2, 9)] {
        let e = gate.check("k", Some(&text(forked))).expect_err("forked");
        assert!(matches!(e, BootstrapError::Divergence { .. }), "{forked}");
    }
}

#[test]
fn a_position_the_log_skipped_is_409() {
    let gate = sealed_gate(&[head(1, 1), head(5, 5)]);
    let e = gate.check("k", Some(&text(head(3, 1)))).expect_err("gap");
    assert_eq!(e.code(), ErrorCode::Divergence);
}

#[test]
fn a_malformed_header_is_a_distinct_400_that_touches_nothing() {
    let gate = sealed_gate(&[head(1, 1)]);
    for bad in [
        "",
        "garbage",
        "1:short",
        "01:AAAAAAAAAAAAAAAAAAAAAA",
        "1:AAAAAAAAAAAAAAAAAAAAAB",
    ] {
        let e = gate.check("k", Some(bad)).expect_err(bad);
        assert!(matches!(e, BootstrapError::MalformedHead { .. }), "{bad:?}");
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
        assert_eq!(e.status(), Status::BadRequest);
        assert_eq!(e.current_head(), None);
    }
    assert_eq!(gate.log().reads(), 0);
    assert_eq!(gate.ledger().consumes(), 0);
}

#[test]
fn a_failed_head_read_is_an_error_and_never_burns_the_grace() {
    let gate = gate();
    gate.log().fail.store(true, Ordering::SeqCst);
    let e = gate.check("k", None).expect_err("log down");
    assert!(matches!(e, BootstrapError::HeadLog { .. }));
    assert_eq!(e.status(), Status::Unavailable);
    assert_eq!(e.code(), ErrorCode::Io);
    assert_eq!(
        gate.ledger().consumes(),
        0,
        "consume only after the head is in hand"
    );
    gate.log().fail.store(false, Ordering::SeqCst);
    assert!(gate.check("k", None).expect("recovered").bootstrapped);
}

#[test]
fn a_failed_consume_is_an_error_never_a_pass() {
    let gate = gate();
    gate.ledger().fail.store(true, Ordering::SeqCst);
    let e = gate.check("k", None).expect_err("ledger down");
    assert!(matches!(e, BootstrapError::Ledger { .. }));
    assert_eq!(e.status().as_u16(), 503);
    gate.ledger().fail.store(false, Ordering::SeqCst);
    assert!(gate.check("k", None).expect("recovered").bootstrapped);
}

#[test]
fn a_file_ledger_gate_keeps_the_grace_across_restarts() {
    let dir = fast_tempdir();
    let log = MemoryHeadLog::new();
    let newest = log.seal([6; 16]).expect("seal");
    {
        let gate = WitnessGate::new(FileLedger::new(OsFs, dir.path()), &log);
        assert!(gate.check("k", None).expect("first").bootstrapped);
    }
    let restarted = WitnessGate::new(FileLedger::new(OsFs, dir.path()), &log);
    let e = restarted.check("k", None).expect_err("restarted");
    assert_eq!(e.current_head(), Some(newest));
}

#[test]
fn an_invalid_key_id_is_400() {
    let gate = WitnessGate::new(MemoryLedger::new(), MemoryHeadLog::new());
    let e = gate.check("", None).expect_err("empty key id");
    assert_eq!(e.status(), Status::BadRequest);
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
}

#[test]
fn refusal_messages_say_what_to_do() {
    let gate = sealed_gate(&[head(1, 1)]);
    gate.check("k", None).expect("first");
    let consumed = gate.check("k", None).expect_err("412").to_string();
    assert!(
        consumed.contains("retry the request once") && consumed.contains("1:"),
        "{consumed}"
    );
    let diverged = gate
        .check("k", Some(&text(head(1, 2))))
        .expect_err("409")
        .to_string();
    assert!(diverged.contains("investigate"), "{diverged}");
}

proptest! {
    /// Any header text: a coded answer, never a panic; and only the two pass rules let it in.
    #[test]
    fn arbitrary_headers_never_panic(header in "\\PC{0,40}|[0-9]{1,3}:[A-Za-z0-9_-]{22}") {
        let gate = sealed_gate(&[head(1, 1), head(2, 2)]);
        match gate.check("k", Some(&header)) {
            Ok(pass) => {
                let claimed = SignedTreeHead::parse(&header).expect("a pass parsed");
                prop_assert!(claimed == head(1, 1) || claimed == head(2, 2));
                prop_assert!(!pass.bootstrapped);
            }
            Err(e) => prop_assert!(matches!(
                e.code(),
                ErrorCode::InvalidArgument | ErrorCode::Divergence
            )),
        }
    }
}

//! Loom models of the in-memory pieces of seed 002: the grace ledger and cold-start
//! coalescing. Run: `RUSTFLAGS="--cfg loom" cargo test -p keyrace-core --release --test witness_loom`
//! (in its own target dir), with `LOOM_MAX_PREEMPTIONS` set as for the other loom models.
#![cfg(loom)]

use keyrace_core::bootstrap::{GraceLedger, MemoryLedger, SignedTreeHead};
use keyrace_core::sync::{thread, Arc};
use keyrace_core::witness::{Acquire, SingleFlight};

/// double-bootstrap: two consumers of one grace, exactly one wins in every interleaving.
#[test]
fn loom_memory_ledger_one_winner() {
    loom::model(|| {
        let ledger = Arc::new(MemoryLedger::new());
        let other = {
            let ledger = ledger.clone();
            thread::spawn(move || ledger.try_consume("k").expect("consume").won())
        };
        let mine = ledger.try_consume("k").expect("consume").won();
        let theirs = other.join().expect("join");
        assert!(mine ^ theirs, "exactly one winner");
    });
}

/// The same model catches `grace-check-then-set`: some interleaving has two winners.
#[test]
fn loom_catches_grace_check_then_set() {
    fn check_then_set(ledger: &MemoryLedger) -> bool {
        if ledger.is_consumed("k") {
            return false;
        }
        ledger.mark("k");
        true
    }
    let caught = std::panic::catch_unwind(|| {
        loom::model(|| {
            let ledger = Arc::new(MemoryLedger::new());
            let other = {
                let ledger = ledger.clone();
                thread::spawn(move || check_then_set(&ledger))
            };
            let mine = check_then_set(&ledger);
            let theirs = other.join().expect("join");
            assert!(mine ^ theirs, "exactly one winner");
        })
    });
    let payload = caught.expect_err("loom must find the two-winner interleaving");
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(
        message.contains("exactly one winner"),
        "loom failed for another reason: {message}"
    );
}

/// cold-start: two first callers; in every interleaving exactly one leads, and the other
/// ends up with the leader's head (waiting for it, or arriving after it).
#[test]
fn loom_singleflight_one_leader() {
    const HEAD: SignedTreeHead = SignedTreeHead::new(1, [1; 16]);
    fn caller(slot: &SingleFlight<SignedTreeHead>) -> bool {
        match slot.acquire() {
            Acquire::Lead => {
                slot.finish_lead(Some(HEAD));
                true
            }
            Acquire::Known(head) => {
                assert_eq!(head, HEAD);
                false
            }
            Acquire::LeaderFailed => panic!("the leader did not fail"),
        }
    }
    loom::model(|| {
        let slot = Arc::new(SingleFlight::new());
        let other = {
            let slot = slot.clone();
            thread::spawn(move || caller(&slot))
        };
        let led = caller(&slot);
        let other_led = other.join().expect("join");
        assert!(led ^ other_led, "exactly one leader");
        assert_eq!(slot.get(), Some(HEAD));
    });
}

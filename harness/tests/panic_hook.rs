//! The explorers keep their expected panics quiet without taking anybody else's: a test that
//! fails on another thread while a model is being explored still reaches the hook that was
//! installed before (libtest runs tests on parallel threads; a swapped process-wide hook
//! would swallow that message).
#![cfg(not(any(loom, feature = "shuttle")))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use keyrace_harness::check::check;
use keyrace_harness::models::violated;
use keyrace_harness::simfs::{Semantics, SimFs};

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn a_panic_beside_an_exploration_reaches_the_previous_hook() {
    std::panic::set_hook(Box::new(|info| {
        SEEN.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(text(info.payload()));
    }));
    let barrier = Arc::new(Barrier::new(2));
    let first = Arc::new(AtomicBool::new(true));
    let exploring = {
        let barrier = Arc::clone(&barrier);
        std::thread::spawn(move || {
            check("hook", 1, move || {
                if first.swap(false, Ordering::SeqCst) {
                    barrier.wait(); // the exploration is running...
                    barrier.wait(); // ...while the other thread panicked
                }
                violated(&SimFs::new(Semantics::Posix), "the model's own", "expected");
            })
        })
    };
    barrier.wait();
    let beside = std::panic::catch_unwind(|| panic!("a failure beside the exploration"));
    barrier.wait();
    let checked = exploring.join().expect("the exploring thread returns");
    assert!(beside.is_err());
    assert!(checked.counterexample().is_some(), "{checked}");
    let seen = SEEN.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        seen.iter().any(|m| m == "a failure beside the exploration"),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|m| m.contains("the model's own")),
        "an expected violation was printed: {seen:?}"
    );
}

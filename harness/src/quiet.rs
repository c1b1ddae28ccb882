//! Keeping the explorers' expected panics quiet without silencing anybody else's. Every
//! mutant panics, thousands of times per exploration; the default hook would print each one.
//! Swapping the process-wide hook per exploration would also swallow the failure message of a
//! test that happens to run beside it (libtest runs tests on parallel threads), so one hook is
//! installed, once, and it decides per panic: silent on a thread inside [`quietly`], silent for
//! a model violation raised by an actor thread while an exploration runs (its message comes
//! back in the counterexample), and the hook that was there before for everything else.

use std::cell::Cell;
use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

static INSTALL: Once = Once::new();

/// Explorations running in this process, on any thread.
static EXPLORING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// How deep this thread is inside [`quietly`].
    static QUIET: Cell<usize> = const { Cell::new(0) };
}

/// Run `f` with its panics (expected ones: they come back as results) kept off stderr.
pub fn quietly<T>(f: impl FnOnce() -> T) -> T {
    INSTALL.call_once(install);
    let _scope = Scope::enter();
    f()
}

struct Scope;

impl Scope {
    fn enter() -> Scope {
        QUIET.with(|depth| depth.set(depth.get() + 1));
        EXPLORING.fetch_add(1, Ordering::SeqCst);
        Scope
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        EXPLORING.fetch_sub(1, Ordering::SeqCst);
        QUIET.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

fn install() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let on_quiet_thread = QUIET.with(|depth| depth.get() > 0);
        let violation = EXPLORING.load(Ordering::SeqCst) > 0 && is_violation(info.payload());
        if !on_quiet_thread && !violation {
            previous(info);
        }
    }));
}

fn is_violation(payload: &(dyn std::any::Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied());
    text.is_some_and(|t| t.starts_with(crate::models::VIOLATION_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_panic_comes_back_and_the_scope_ends_with_it() {
        let caught = quietly(|| panic::catch_unwind(|| panic!("expected")));
        assert!(caught.is_err());
        assert_eq!(QUIET.with(Cell::get), 0);
    }

    #[test]
    fn violations_are_recognized_by_their_prefix() {
        let violation: Box<dyn std::any::Any + Send> =
            Box::new(format!("{}x", crate::models::VIOLATION_PREFIX));
        assert!(is_violation(&*violation));
        let other: Box<dyn std::any::Any + Send> = Box::new("assertion failed");
        assert!(!is_violation(&*other));
    }
}

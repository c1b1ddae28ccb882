//! The models of the race catalogue (`docs/design.md`), one module per row, each with the
//! mutants it must catch. A model is written once, as a `Fn()` that builds a fresh [`SimFs`],
//! runs its actors on `keyrace_core::sync::thread` and panics through [`violated`] when the
//! invariant stated next to it breaks; [`crate::explore`] runs it under loom, shuttle or std.

pub mod cold_start;
pub mod crash;
pub mod double_bootstrap;
pub mod ephemeral_fallback;
pub mod identity_drift;
pub mod keygen;
pub mod put;
pub mod release_before_delete;
pub mod retry_once;
pub mod sth_cache;

use std::fmt::Debug;
use std::sync::Arc;

use keyrace_core::sync::thread;

use crate::simfs::SimFs;
use crate::subject::ModelError;

/// First line of every invariant violation; [`crate::explore::Counterexample::invariant`] finds it.
pub const VIOLATION_PREFIX: &str = "invariant violated: ";

/// The "invariant" a model states for its own setup. Breaking it says the model is broken, not
/// the code under test, so it never counts as catching a mutant.
pub const SETUP: &str = "the model's setup succeeds";

/// Fail the model: the invariant, what was observed, and the filesystem trace in schedule
/// order.
pub fn violated(fs: &SimFs, invariant: &str, observed: &str) -> ! {
    panic!(
        "{VIOLATION_PREFIX}{invariant}\nobserved: {observed}\ntrace (schedule order):\n{}",
        fs.trace()
    )
}

/// [`violated`] unless `holds`: the models' assertion of an invariant.
pub fn require(fs: &SimFs, holds: bool, invariant: &str, observed: impl FnOnce() -> String) {
    if !holds {
        violated(fs, invariant, &observed());
    }
}

/// The name of actor `i` in traces: `A`, `B`, `C`, ...
pub fn actor_name(i: usize) -> String {
    char::from(b'A' + (i % 26) as u8).to_string()
}

/// Run `actor(i)` for `i` in `0..n` concurrently (actor `n-1` on the model's own thread) and
/// collect the results in actor order.
pub fn run_actors<T, F>(n: usize, actor: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> T + Send + Sync + 'static,
{
    let actor = Arc::new(actor);
    let handles: Vec<_> = (0..n.saturating_sub(1))
        .map(|i| {
            let actor = Arc::clone(&actor);
            thread::spawn(move || actor(i))
        })
        .collect();
    let last = (n > 0).then(|| actor(n - 1));
    let mut results: Vec<T> = handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
        })
        .collect();
    results.extend(last);
    results
}

/// `Ok(value)` or the error with its stable code (when it has one), for compact observations.
/// Bytes that are printable UTF-8 show as text (`Ok(Some("old"))`, not `[111, 108, 100]`).
pub fn show<T: Debug, E: ModelError>(result: &Result<T, E>) -> String {
    match result {
        Ok(value) => format!("Ok({})", bytes_as_text(&format!("{value:?}"))),
        Err(e) => match e.code() {
            Some(code) => format!("Err({code}: {e})"),
            None => format!("Err({e})"),
        },
    }
}

/// `debug` with each list of byte values (`[111, 108, 100]`) that is printable UTF-8 shown as
/// a quoted string instead.
pub fn bytes_as_text(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let bytes: Option<Vec<u8>> = after[..close]
            .split(", ")
            .map(|n| n.parse::<u8>().ok())
            .collect();
        let text = bytes
            .filter(|b| !b.is_empty())
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|t| t.chars().all(|c| !c.is_control()));
        match text {
            Some(text) => out.push_str(&format!("{text:?}")),
            None => out.push_str(&rest[open..open + 2 + close]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_bytes_show_as_text_and_everything_else_as_it_was() {
        let ok: Result<Option<Vec<u8>>, String> = Ok(Some(b"old".to_vec()));
        assert_eq!(show(&ok), r#"Ok(Some("old"))"#);
        assert_eq!(
            bytes_as_text(r#"([110, 101, 119], [0, 1], [], [300], [[104], [1]])"#),
            r#"("new", [0, 1], [], [300], [[104], [1]])"#
        );
        assert_eq!(bytes_as_text("no lists [ here"), "no lists [ here");
    }
}

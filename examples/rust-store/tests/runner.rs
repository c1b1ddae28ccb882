//! The example store checked by the runner from its own `cargo test`, as a store's authors
//! would do it: the runner's builder, this package's adapter binary, real processes.
//!
//! With `planted-bugs`, the default (full) check catches both bugs across processes: the key
//! file read between its creation and its write (`keygen-race`, under controlled
//! interleavings), and the secret rewritten in place, whose power-loss states lose the old
//! value (`crash-states`).

use keyrace_scenarios::report::{Status, LACKS_OP};
use keyrace_scenarios::Check;

const ADAPTER: &str = env!("CARGO_BIN_EXE_keyrace-example-store-adapter");

#[test]
fn the_full_check_passes_the_store_or_catches_both_planted_bugs() {
    let report = Check::adapter([ADAPTER])
        .require_systematic()
        .run()
        .expect("keyrace ran");
    if !cfg!(feature = "planted-bugs") {
        assert!(report.passed(), "{}", report.to_text());
        // Skipped only where the store takes no part: it has no witness client.
        for s in &report.scenarios {
            assert!(
                s.status == Status::Passed
                    || s.skipped_reason
                        .as_deref()
                        .is_some_and(|why| why == format!("{LACKS_OP}witness")),
                "{}",
                report.to_text()
            );
        }
        return;
    }
    let failed = |id: &str| {
        report
            .scenarios
            .iter()
            .any(|s| s.id == id && s.status == Status::Failed)
    };
    assert!(failed("keygen-race"), "{}", report.to_text());
    assert!(failed("crash-states"), "{}", report.to_text());
}

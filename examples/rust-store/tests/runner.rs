//! The example store checked by the runner from its own `cargo test`, as a store's authors
//! would do it: the runner's builder, this package's adapter binary, real processes.
//!
//! With `planted-bugs`, the systematic mode catches both bugs across processes: the key file
//! read between its creation and its write (`keygen-race`), and the secret rewritten in
//! place, whose power-loss states lose the old value (`crash-states`).

use keyrace_scenarios::explore::Strategy;
use keyrace_scenarios::report::Status;
use keyrace_scenarios::Check;

const ADAPTER: &str = env!("CARGO_BIN_EXE_keyrace-example-store-adapter");

#[test]
#[cfg_attr(
    feature = "planted-bugs",
    ignore = "a planted race may or may not be hit by chance: the systematic test below decides"
)]
fn the_store_passes_every_scenario() {
    let report = Check::adapter([ADAPTER])
        .rounds(5)
        .run()
        .expect("keyrace ran");
    // The crash-state scenarios need --explore: skipped here, run below.
    assert!(report.passed(), "{}", report.to_text());
}

#[test]
fn the_systematic_mode_passes_the_store_or_catches_both_planted_bugs() {
    let report = Check::adapter([ADAPTER])
        .explore(Strategy::Dfs { preemptions: 2 })
        .run()
        .expect("keyrace ran");
    if !cfg!(feature = "planted-bugs") {
        assert!(report.passed(), "{}", report.to_text());
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

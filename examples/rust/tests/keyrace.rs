//! The example store checked from its own `cargo test`, as a store's authors would do it:
//! the runner's builder, this package's adapter binary.

use keyrace_scenarios::explore::Strategy;
use keyrace_scenarios::Check;

const ADAPTER: &str = env!("CARGO_BIN_EXE_keyrace-example-adapter");

#[test]
fn the_store_passes_every_scenario() {
    let report = Check::adapter([ADAPTER])
        .rounds(5)
        .run()
        .expect("keyrace ran");
    // The crash-state scenarios need --explore: skipped here, run below.
    assert!(report.passed(), "{}", report.to_text());
}

#[test]
fn the_store_passes_the_systematic_mode() {
    let report = Check::adapter([ADAPTER])
        .explore(Strategy::Dfs { preemptions: 2 })
        .run()
        .expect("keyrace ran");
    assert!(report.passed(), "{}", report.to_text());
}

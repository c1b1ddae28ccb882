//! Runner benchmark: keygen-race rounds with 4 actors of the reference adapter, timed by the
//! runner's own per-scenario clock (actor start-up included once per batch, as in a real run).
//!
//! Needs the release adapter: `cargo build --release -p keyrace` first, then
//! `cargo bench -p keyrace-benches --bench runner`.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use keyrace_runner::config::RunMode;
use keyrace_runner::report::Status;
use keyrace_runner::Check;

/// `target/release/keyrace-reference-adapter`, beside the directory of this bench binary.
fn reference_adapter() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary path");
    let adapter = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("keyrace-reference-adapter"))
        .expect("bench binary lives in target/<profile>/deps");
    assert!(
        adapter.exists(),
        "{} is missing: run `cargo build --release -p keyrace` first",
        adapter.display()
    );
    adapter
}

fn keygen_race(c: &mut Criterion) {
    let adapter = reference_adapter();
    let mut group = c.benchmark_group("runner");
    group.sample_size(10);
    group.bench_function("keygen_race_round_4_actors", |b| {
        b.iter_custom(|rounds| {
            // Rounds of actors racing at once (the full mode's races are the explore bench).
            let report = Check::adapter([adapter.clone()])
                .scenario("keygen-race")
                .mode(RunMode::Chance)
                .rounds(u32::try_from(rounds).unwrap_or(u32::MAX))
                .run()
                .expect("keyrace check runs");
            let scenario = &report.scenarios[0];
            assert_eq!(scenario.status, Status::Passed, "the reference must pass");
            Duration::from_secs_f64(scenario.seconds)
        })
    });
    group.finish();
}

criterion_group!(benches, keygen_race);
criterion_main!(benches);

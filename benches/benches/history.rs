//! The linearizability checker on generated histories of the size the history scenarios and
//! the goal name: 10,000 operations over 3 names by 8 actors (goal: under 1 s).
//!
//! `cargo bench -p keyrace-benches --bench history`. The same histories go to Porcupine with
//! `cargo run --release -p keyrace-history --example porcupine_export` (docs/performance.md).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use keyrace_history::generate::{linearizable, Shape};
use keyrace_history::{check, Budget, Verdict};
use rand::SeedableRng;

fn shape(operations: usize, info_percent: u32) -> Shape {
    Shape {
        actors: 8,
        names: 3,
        tokens: 0,
        operations,
        info_percent,
    }
}

fn bench_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("history_check");
    group.sample_size(20);
    for (label, operations, info) in [
        ("1k", 1_000, 0),
        ("10k", 10_000, 0),
        ("10k, 1% info", 10_000, 1),
    ] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let history = linearizable(&mut rng, &shape(operations, info));
        group.bench_with_input(BenchmarkId::from_parameter(label), &history, |b, h| {
            b.iter(|| {
                let verdict = check(h, Budget::new(Duration::from_secs(60)));
                assert_eq!(verdict, Verdict::Linearizable);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_check);
criterion_main!(benches);

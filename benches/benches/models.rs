//! Model-checking benchmarks: the time of one full loom exploration of every reference model
//! (at the suite's preemption bounds), and shuttle schedules per second of every concurrent
//! reference model. The explorers are chosen at build time, like the harness's suites:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo bench -p keyrace-benches --bench models --target-dir target-loom
//! cargo bench -p keyrace-benches --bench models --features shuttle
//! ```
//!
//! Mutants are not benchmarked: they stop at their first failure, whose cost the suites'
//! report tables give as executions to the first failure.

#[cfg(any(loom, feature = "shuttle"))]
use criterion::{criterion_group, criterion_main, Criterion};
#[cfg(any(loom, feature = "shuttle"))]
use keyrace_harness::catalogue::{catalogue, Body, Case};
#[cfg(any(loom, feature = "shuttle"))]
use keyrace_harness::explore::{explore, Backend, Model};

/// The reference models of the catalogue (properties are proptest's, not an explorer's).
#[cfg(any(loom, feature = "shuttle"))]
fn reference_models() -> Vec<(Case, Model)> {
    catalogue()
        .into_iter()
        .filter(|case| !case.is_mutant())
        .filter_map(|case| match &case.body {
            Body::Model(model) => {
                let model = model.clone();
                Some((case, model))
            }
            Body::Property(_) => None,
        })
        .collect()
}

/// Run one exploration; a reference that fails its model makes the figure meaningless.
#[cfg(any(loom, feature = "shuttle"))]
fn explore_reference(explorer: Backend, case: &Case, model: &Model) -> usize {
    let outcome = explore(explorer, &case.name(), model);
    if let Some(failure) = outcome.failure {
        panic!(
            "{} failed under {explorer}:\n{}",
            case.name(),
            failure.message
        );
    }
    outcome.executions
}

#[cfg(loom)]
fn loom_explorations(c: &mut Criterion) {
    let explorers = Backend::for_build();
    let mut group = c.benchmark_group("loom_full_exploration");
    group.sample_size(10);
    for (case, model) in reference_models() {
        for explorer in &explorers {
            let explorer = explorer.for_model(case.actors);
            let executions = explore_reference(explorer, &case, &model);
            let id = format!("{} {explorer} {executions} executions", case.name());
            group.bench_function(id, |b| {
                b.iter(|| explore_reference(explorer, &case, &model))
            });
        }
    }
    group.finish();
}

/// Schedules per shuttle measurement: enough that set-up is noise, few enough for 10 samples.
#[cfg(all(feature = "shuttle", not(loom)))]
const SHUTTLE_SCHEDULES: usize = 200;

#[cfg(all(feature = "shuttle", not(loom)))]
fn shuttle_schedules(c: &mut Criterion) {
    let mut group = c.benchmark_group("shuttle_schedules");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(SHUTTLE_SCHEDULES as u64));
    let explorers = [
        Backend::ShuttleRandom {
            iterations: SHUTTLE_SCHEDULES,
        },
        Backend::ShuttlePct {
            iterations: SHUTTLE_SCHEDULES,
            depth: 3,
        },
    ];
    // One-actor models have one schedule (the explorer runs them once), so no rate to measure.
    for (case, model) in reference_models().into_iter().filter(|(c, _)| c.actors > 1) {
        for explorer in explorers.iter().filter(|e| e.applies_to(case.actors)) {
            let explorer = explorer.for_model(case.actors);
            let id = format!("{} {explorer}", case.name());
            group.bench_function(id, |b| {
                b.iter(|| explore_reference(explorer, &case, &model))
            });
        }
    }
    group.finish();
}

#[cfg(loom)]
criterion_group!(models, loom_explorations);
#[cfg(all(feature = "shuttle", not(loom)))]
criterion_group!(models, shuttle_schedules);
#[cfg(any(loom, feature = "shuttle"))]
criterion_main!(models);

#[cfg(not(any(loom, feature = "shuttle")))]
fn main() {
    eprintln!(
        "the model benchmarks need an explorer in the build:\n  \
         RUSTFLAGS=\"--cfg loom\" cargo bench -p keyrace-benches --bench models --target-dir target-loom\n  \
         cargo bench -p keyrace-benches --bench models --features shuttle"
    );
}

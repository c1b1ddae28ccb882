//! `--explore` benchmarks: the tracer's cost per stop against the bare system call, and the
//! throughput of controlled interleavings and crash states (timed by the runner's own clock,
//! actor start-up included once per batch).
//!
//! Needs the release adapter: `cargo build --release -p keyrace` first, then
//! `cargo bench -p keyrace-benches --bench explore`.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, Criterion};
use keyrace_process::actor::{Actor, ActorSpec};
use keyrace_process::finding::Findings;
use keyrace_runner::explore::Strategy;
use keyrace_runner::protocol::Op;
use keyrace_runner::report::Status;
use keyrace_runner::Check;
use keyrace_systematic::trace::Tracer;

/// Set in the child this bench starts: it then answers each request with this many writes.
const CHILD_ENV: &str = "KEYRACE_BENCH_WRITES";

/// Rounds per iteration of the throughput benchmarks.
const ROUNDS: u64 = 20;

/// System calls per request in the stop benchmark.
const WRITES: u32 = 1000;

fn release_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .expect("bench binary lives in target/<profile>/deps")
}

fn reference_adapter() -> PathBuf {
    let adapter = release_dir().join("keyrace-reference-adapter");
    assert!(
        adapter.exists(),
        "{} is missing: run `cargo build --release -p keyrace` first",
        adapter.display()
    );
    adapter
}

fn python_example() -> Vec<OsString> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned();
    vec![
        "python3".into(),
        root.join("examples/adapter.py").into_os_string(),
    ]
}

/// The child: a minimal adapter whose every reply costs `writes` one-byte writes to
/// /dev/null (each a traced call outside the store, continued at once under the tracer).
fn child(writes: u32) {
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = writeln!(
        out,
        r#"{{"protocol":"keyrace-adapter/1","name":"write loop","keyless":true,"ops":["open"]}}"#
    );
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { return };
        let id: u64 = line
            .split("\"id\":")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        for _ in 0..writes {
            let _ = null.write(b"x");
        }
        let _ = writeln!(out, r#"{{"id":{id},"ok":true}}"#);
        let _ = out.flush();
    }
}

fn spec(home: &std::path::Path) -> ActorSpec {
    let exe = std::env::current_exe().expect("bench binary path");
    ActorSpec {
        argv: vec![exe.into_os_string()],
        home: home.to_owned(),
        master_key: None,
        run_as: None,
        timeout: Duration::from_secs(30),
        label: "write loop".to_owned(),
        findings: Findings::default(),
    }
}

/// One request of `WRITES` writes, bare and under the tracer: the difference over `WRITES` is
/// the cost of one stop (seccomp stop, decode, /proc lookup of the descriptor, continue).
fn stop_cost(c: &mut Criterion) {
    std::env::set_var(CHILD_ENV, WRITES.to_string());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut group = c.benchmark_group("tracer");
    let op = Op::Open {
        store: dir.path().join("store"),
    };
    let mut bare = Actor::spawn(&spec(dir.path())).expect("bare child");
    group.bench_function("1000_writes_bare", |b| {
        b.iter(|| bare.call(&op).expect("reply"))
    });
    let mut tracer = Tracer::new(dir.path()).expect("tracing works here");
    let slot = tracer.spawn(&spec(dir.path())).expect("traced child");
    group.bench_function("1000_writes_traced", |b| {
        b.iter(|| tracer.call(slot, &op).expect("reply"))
    });
    group.finish();
}

fn explore(c: &mut Criterion) {
    let mut group = c.benchmark_group("explore");
    group.sample_size(10);
    let adapters = [
        ("reference", vec![reference_adapter().into_os_string()]),
        ("python_example", python_example()),
    ];
    for (name, adapter) in adapters {
        // One iteration is ROUNDS rounds, so each sample's actor start-up is amortised.
        group.bench_function(format!("keygen_race_{ROUNDS}_interleavings_{name}"), |b| {
            b.iter_custom(|iters| run(&adapter, "keygen-race", iters * ROUNDS))
        });
        group.bench_function(format!("crash_states_{ROUNDS}_rounds_{name}"), |b| {
            b.iter_custom(|iters| run(&adapter, "crash-states", iters * ROUNDS))
        });
    }
    group.finish();
}

/// `rounds` rounds of `scenario` under PCT (which never runs out of schedules), by the
/// runner's clock.
fn run(adapter: &[OsString], scenario: &str, rounds: u64) -> Duration {
    let report = Check::adapter(adapter.to_vec())
        .scenario(scenario)
        .actors(2)
        .strategy(Strategy::Pct { depth: 3 })
        .rounds(u32::try_from(rounds).unwrap_or(u32::MAX))
        .run()
        .expect("keyrace check runs");
    let scenario = &report.scenarios[0];
    assert_eq!(scenario.status, Status::Passed, "{scenario:?}");
    eprintln!(
        "{}: {} rounds in {:.2} s ({:.1}/s){}",
        scenario.id,
        scenario.rounds,
        scenario.seconds,
        scenario.rounds_per_second,
        scenario
            .coverage
            .as_ref()
            .map(|e| format!("; {e}"))
            .unwrap_or_default(),
    );
    Duration::from_secs_f64(scenario.seconds)
}

criterion_group!(benches, stop_cost, explore);

fn main() {
    if let Some(writes) = std::env::var(CHILD_ENV).ok().and_then(|n| n.parse().ok()) {
        child(writes);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

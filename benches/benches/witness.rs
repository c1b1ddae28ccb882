//! The witness server's grace ledger: one consume through the reference ledger (INSERT if
//! missing + the conditional UPDATE) and one bootstrap through the whole reference server over
//! loopback HTTP, each beside the bare conditional UPDATE of the same database in the same
//! run. SQLite always; PostgreSQL when `KEYRACE_POSTGRES` names one (`.ci/postgres.sh
//! start`). The swarm's throughput and latency percentiles come from `keyrace check-server`
//! (its last line).
//!
//! `cargo bench -p keyrace-benches --bench witness`

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use keyrace_core::bootstrap::{Consumed, GraceLedger};
use keyrace_core::witness::{ApiKey, Transport, WitnessRequest};
use keyrace_witness::ledger::{LedgerSpec, SqliteLedger};
use keyrace_witness::server::{ServerConfig, WitnessServer};
use keyrace_witness::transport::{HttpTransport, DEFAULT_TIMEOUT};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A key id no earlier iteration (of any run: `run` is random) has used.
fn fresh(run: &str) -> String {
    format!("bench-{run}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn run_id() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("OS randomness");
    hex::encode(bytes)
}

/// One database's bare statements: the row a consume would insert (untimed setup), and the
/// conditional UPDATE that wins it (timed).
trait Bare {
    fn insert(&mut self, key: &str);
    fn update(&mut self, key: &str) -> u64;
}

const BARE_UPDATE_SQLITE: &str =
    "UPDATE keyrace_grace SET consumed_at = 1 WHERE key_id = ?1 AND consumed_at IS NULL";
const BARE_UPDATE_POSTGRES: &str =
    "UPDATE keyrace_grace SET consumed_at = 1 WHERE key_id = $1 AND consumed_at IS NULL";

impl Bare for SqliteLedger {
    fn insert(&mut self, key: &str) {
        self.with_connection(|c| {
            c.execute("INSERT INTO keyrace_grace (key_id) VALUES (?1)", [key])
        })
        .expect("insert");
    }

    fn update(&mut self, key: &str) -> u64 {
        self.with_connection(|c| c.execute(BARE_UPDATE_SQLITE, [key]))
            .expect("update") as u64
    }
}

impl Bare for postgres::Client {
    fn insert(&mut self, key: &str) {
        self.execute("INSERT INTO keyrace_grace (key_id) VALUES ($1)", &[&key])
            .expect("insert");
    }

    fn update(&mut self, key: &str) -> u64 {
        self.execute(BARE_UPDATE_POSTGRES, &[&key]).expect("update")
    }
}

fn bench_database(c: &mut Criterion, name: &str, spec: &LedgerSpec, bare: &mut dyn Bare) {
    let run = run_id();
    let mut group = c.benchmark_group(format!("witness/{name}"));
    // Setup and routine both need the connection, one after the other.
    let bare = std::cell::RefCell::new(bare);
    group.bench_function("bare_conditional_update", |b| {
        b.iter_batched(
            || {
                let key = fresh(&run);
                bare.borrow_mut().insert(&key);
                key
            },
            |key| assert_eq!(bare.borrow_mut().update(&key), 1),
            BatchSize::SmallInput,
        )
    });
    let ledger = spec.open(1).expect("open the ledger");
    group.bench_function("ledger_consume", |b| {
        b.iter(|| {
            let won = ledger.try_consume(&fresh(&run)).expect("consume");
            assert_eq!(won, Consumed::Won);
        })
    });
    let server = WitnessServer::start(
        "127.0.0.1:0",
        spec.open(8).expect("open the ledger"),
        ServerConfig::default(),
        8,
    )
    .expect("start the server");
    let transport = HttpTransport::new(
        &server.url(),
        ServerConfig::default().preset,
        DEFAULT_TIMEOUT,
    );
    group.bench_function("server_bootstrap_over_http", |b| {
        b.iter(|| {
            let key = ApiKey::new(fresh(&run));
            let response = transport
                .send(&WitnessRequest {
                    key: &key,
                    last_known_head: None,
                    body: b"",
                })
                .expect("an answer");
            assert_eq!(response.status, 200);
        })
    });
    group.finish();
    server.shutdown();
}

fn sqlite(c: &mut Criterion) {
    let dir =
        tempfile::tempdir_in(std::env::var_os("KEYRACE_BENCH_DIR").unwrap_or_else(|| ".".into()))
            .expect("bench tempdir");
    let spec = LedgerSpec::Sqlite(dir.path().join("grace.sqlite"));
    let LedgerSpec::Sqlite(path) = &spec else {
        unreachable!("built just above")
    };
    let mut bare = SqliteLedger::open(path, 1).expect("open");
    bench_database(c, "sqlite", &spec, &mut bare);
}

fn postgres(c: &mut Criterion) {
    let Ok(config) = std::env::var("KEYRACE_POSTGRES") else {
        eprintln!("witness/postgres: skipped: set KEYRACE_POSTGRES to a connection string");
        return;
    };
    let spec = LedgerSpec::Postgres(config.clone());
    // Opening the ledger creates the table the bare statements use.
    drop(spec.open(1).expect("open the ledger"));
    let mut client = postgres::Client::connect(&config, postgres::NoTls).expect("connect");
    bench_database(c, "postgres", &spec, &mut client);
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);

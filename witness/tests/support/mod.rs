//! Starting reference servers for the tests, and the PostgreSQL they may use.

#![allow(dead_code)] // each test file uses its own part

use keyrace_witness::ledger::{LedgerSpec, DEFAULT_CONNECTIONS};
use keyrace_witness::mutants::{ledger_for, ServerMutant};
use keyrace_witness::server::{ServerConfig, WitnessServer, DEFAULT_THREADS};

/// The environment variable naming the PostgreSQL the tests may use (a libpq connection
/// string, e.g. `host=/tmp/keyrace-pg dbname=postgres user=postgres`). `.ci/run` starts a
/// cluster and sets it.
pub const POSTGRES_ENV: &str = "KEYRACE_POSTGRES";

/// The PostgreSQL ledger `KEYRACE_POSTGRES` names. A test calling it is `#[ignore]`d in a
/// build without one; run anyway (`--include-ignored`) without it, it fails saying so.
pub fn postgres() -> LedgerSpec {
    match std::env::var(POSTGRES_ENV) {
        Ok(config) if !config.trim().is_empty() => LedgerSpec::Postgres(config),
        _ => panic!(
            "this test needs PostgreSQL: set {POSTGRES_ENV} to a connection string (see README.md)"
        ),
    }
}

/// An SQLite ledger in `dir`.
pub fn sqlite(dir: &tempfile::TempDir) -> LedgerSpec {
    LedgerSpec::Sqlite(dir.path().join("grace.sqlite"))
}

/// A reference server (or mutant) on an ephemeral loopback port with `sealed` heads.
pub fn start(spec: &LedgerSpec, mutant: Option<ServerMutant>, sealed: u64) -> WitnessServer {
    let ledger = ledger_for(spec, DEFAULT_CONNECTIONS, mutant).expect("open the ledger");
    let config = ServerConfig {
        mutant,
        sealed,
        ..ServerConfig::default()
    };
    WitnessServer::start("127.0.0.1:0", ledger, config, DEFAULT_THREADS).expect("start")
}

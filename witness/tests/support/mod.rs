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
/// build without one, so here it is set; if it was unset since the build, that is a failure.
pub fn postgres() -> LedgerSpec {
    match std::env::var(POSTGRES_ENV) {
        Ok(config) if !config.trim().is_empty() => LedgerSpec::Postgres(config),
        _ => panic!("{POSTGRES_ENV} was set when this test was built, and is not now: set it"),
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

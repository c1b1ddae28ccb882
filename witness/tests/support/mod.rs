//! Starting reference servers for the tests, and the PostgreSQL they may use.

#![allow(dead_code)] // each test file uses its own part

use keyrace_witness::ledger::{LedgerSpec, DEFAULT_CONNECTIONS};
use keyrace_witness::mutants::{ledger_for, ServerMutant};
use keyrace_witness::server::{ServerConfig, WitnessServer, DEFAULT_THREADS};

/// The environment variable naming the PostgreSQL the tests may use (a libpq connection
/// string, e.g. `host=/tmp/keyrace-pg dbname=postgres user=postgres`). `.ci/run` starts a
/// cluster and sets it.
pub const POSTGRES_ENV: &str = "KEYRACE_POSTGRES";

/// The PostgreSQL ledger, or `None` after saying why the test is skipped. In CI (`CI` set)
/// a missing database is a failure, not a skip.
pub fn postgres_or_skip() -> Option<LedgerSpec> {
    match std::env::var(POSTGRES_ENV) {
        Ok(config) if !config.trim().is_empty() => Some(LedgerSpec::Postgres(config)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{POSTGRES_ENV} is not set in CI: .ci/run must start PostgreSQL and set it")
        }
        _ => {
            eprintln!(
                "SKIPPED: no PostgreSQL: set {POSTGRES_ENV} to a connection string (e.g. \
                 'host=/tmp dbname=postgres user=postgres') to run the PostgreSQL tests"
            );
            None
        }
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

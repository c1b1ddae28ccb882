//! Grace ledgers in a database, each consume decided by one atomic statement that writes only
//! when it wins (seed 002: loopctl's `UPDATE api_keys SET sth_bootstrap_consumed_at = now()
//! WHERE id = $1 AND sth_bootstrap_consumed_at IS NULL`):
//!
//! 1. the conditional `UPDATE ... WHERE key_id = $1 AND consumed_at IS NULL`: one changed row is
//!    the win of a key whose row was provisioned unconsumed;
//! 2. otherwise `INSERT (key_id, consumed_at) ... ON CONFLICT DO NOTHING`: one inserted row is
//!    the win of a key seen for the first time; a conflict means somebody consumed it first.
//!
//! The database makes each statement atomic, so racing consumers in any number of processes
//! get exactly one winner, and a consume writes (and fsyncs) once at most.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keyrace_core::bootstrap::ledger::validate_key_id;
use keyrace_core::bootstrap::{BootstrapError, Consumed, GraceLedger, MemoryLedger};

const CREATE: &str = "CREATE TABLE IF NOT EXISTS keyrace_grace (
    key_id TEXT PRIMARY KEY,
    consumed_at BIGINT
)";
/// PostgreSQL's placeholders (`$n`); SQLite's are `?n` (its `$name` parameters are numbered by
/// first appearance, not by name).
const CONSUME: &str =
    "UPDATE keyrace_grace SET consumed_at = $2 WHERE key_id = $1 AND consumed_at IS NULL";
const INSERT_CONSUMED: &str =
    "INSERT INTO keyrace_grace (key_id, consumed_at) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const SQLITE_CONSUME: &str =
    "UPDATE keyrace_grace SET consumed_at = ?2 WHERE key_id = ?1 AND consumed_at IS NULL";
const SQLITE_INSERT_CONSUMED: &str =
    "INSERT INTO keyrace_grace (key_id, consumed_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING";

fn won(changed: usize) -> Consumed {
    if changed == 1 {
        Consumed::Won
    } else {
        Consumed::AlreadyConsumed
    }
}

/// How long an SQLite writer waits for another process's lock before failing.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn db_error(what: &'static str) -> impl FnOnce(String) -> BootstrapError {
    move |detail| BootstrapError::Ledger {
        what,
        source: io::Error::other(detail),
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Connections to one database, one per concurrent caller (a server's worker threads), as a
/// real server's pool: consumes on different connections race inside the database, which is
/// what its atomicity must decide.
struct Pool<C> {
    connections: Vec<Mutex<C>>,
}

impl<C> Pool<C> {
    fn new(connections: Vec<C>) -> Pool<C> {
        Pool {
            connections: connections.into_iter().map(Mutex::new).collect(),
        }
    }

    /// A free connection, else the first one (waiting for it).
    fn get(&self) -> MutexGuard<'_, C> {
        for connection in &self.connections {
            if let Ok(guard) = connection.try_lock() {
                return guard;
            }
        }
        locked(&self.connections[0])
    }
}

/// Connections a ledger opens: one per server worker thread.
pub const DEFAULT_CONNECTIONS: usize = 8;

/// Pause between two attempts to open a ledger that another process is switching to WAL.
const OPEN_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// The grace ledger in an SQLite file: WAL mode (readers never block the writer),
/// `synchronous = FULL` (an acknowledged win survives a power loss: a lost one would grant
/// the grace again), and a busy timeout for writers in other processes.
pub struct SqliteLedger {
    path: PathBuf,
    pool: Pool<rusqlite::Connection>,
}

impl SqliteLedger {
    /// Open (creating if needed) the ledger at `path` with `connections` connections.
    pub fn open(path: &Path, connections: usize) -> Result<SqliteLedger, BootstrapError> {
        let error = |e: rusqlite::Error| e.to_string();
        let attempt = || -> rusqlite::Result<rusqlite::Connection> {
            let connection = rusqlite::Connection::open(path)?;
            connection.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
            connection.pragma_update(None, "journal_mode", "WAL")?;
            connection.pragma_update(None, "synchronous", "FULL")?;
            connection.execute_batch(CREATE)?;
            Ok(connection)
        };
        // Switching a new database to WAL while other processes open it can fail with
        // SQLITE_BUSY at once, without the busy handler (SQLite refuses to wait where waiting
        // could deadlock): the whole open is tried again, within the same busy timeout.
        let open = || {
            let started = std::time::Instant::now();
            loop {
                match attempt() {
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::DatabaseBusy
                            && started.elapsed() < SQLITE_BUSY_TIMEOUT =>
                    {
                        std::thread::sleep(OPEN_RETRY_PAUSE);
                    }
                    other => return other,
                }
            }
        };
        let connections = (0..connections.max(1))
            .map(|_| open())
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(error)
            .map_err(db_error("open the SQLite ledger"))?;
        Ok(SqliteLedger {
            path: path.to_owned(),
            pool: Pool::new(connections),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on a connection of the pool (for the check-then-set mutant and tests).
    pub fn with_connection<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> T) -> T {
        f(&self.pool.get())
    }
}

impl GraceLedger for SqliteLedger {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        validate_key_id(key_id)?;
        let connection = self.pool.get();
        let error = |e: rusqlite::Error| e.to_string();
        let now = now_millis();
        let updated = connection
            .execute(SQLITE_CONSUME, rusqlite::params![key_id, now])
            .map_err(error)
            .map_err(db_error("consume the grace in the SQLite ledger"))?;
        if updated == 1 {
            return Ok(Consumed::Won);
        }
        let inserted = connection
            .execute(SQLITE_INSERT_CONSUMED, rusqlite::params![key_id, now])
            .map_err(error)
            .map_err(db_error("consume the grace in the SQLite ledger"))?;
        Ok(won(inserted))
    }
}

impl fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SqliteLedger({})", self.path.display())
    }
}

/// The advisory lock that serializes creating the table.
const CREATE_LOCK: i64 = 0x006b_6579_7261_6365;

/// A PostgreSQL error with its cause: the crate's `Display` says only "db error".
pub(crate) fn postgres_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// The grace ledger in PostgreSQL: the same statements, each its own transaction (autocommit),
/// under the default `READ COMMITTED` isolation, where the `UPDATE`'s `WHERE consumed_at IS
/// NULL` is re-checked on the row after a concurrent writer commits.
pub struct PostgresLedger {
    pool: Pool<postgres::Client>,
}

impl PostgresLedger {
    /// Connect `connections` times with a libpq-style connection string (`host=/tmp
    /// user=postgres dbname=keyrace` or `postgresql://user@host/db`), without TLS.
    pub fn connect(config: &str, connections: usize) -> Result<PostgresLedger, BootstrapError> {
        let connect = || -> Result<postgres::Client, postgres::Error> {
            let mut client = postgres::Client::connect(config, postgres::NoTls)?;
            // Concurrent `CREATE TABLE IF NOT EXISTS` race in PostgreSQL's catalog (a
            // duplicate-key error on pg_type): creators take one advisory lock first.
            client.batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({CREATE_LOCK}); {CREATE}; COMMIT;"
            ))?;
            Ok(client)
        };
        let clients = (0..connections.max(1))
            .map(|_| connect())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| postgres_error(&e))
            .map_err(db_error("connect to the PostgreSQL ledger"))?;
        Ok(PostgresLedger {
            pool: Pool::new(clients),
        })
    }

    /// Run `f` on a client of the pool (for the check-then-set mutant and tests).
    pub fn with_client<T>(&self, f: impl FnOnce(&mut postgres::Client) -> T) -> T {
        f(&mut self.pool.get())
    }
}

impl GraceLedger for PostgresLedger {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        validate_key_id(key_id)?;
        let mut client = self.pool.get();
        let now = now_millis();
        let updated = client
            .execute(CONSUME, &[&key_id, &now])
            .map_err(|e| postgres_error(&e))
            .map_err(db_error("consume the grace in the PostgreSQL ledger"))?;
        if updated == 1 {
            return Ok(Consumed::Won);
        }
        let inserted = client
            .execute(INSERT_CONSUMED, &[&key_id, &now])
            .map_err(|e| postgres_error(&e))
            .map_err(db_error("consume the grace in the PostgreSQL ledger"))?;
        Ok(won(usize::try_from(inserted).unwrap_or(0)))
    }
}

impl fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PostgresLedger")
    }
}

/// Where a server keeps its ledger: `sqlite:PATH`, `postgres:CONNECTION` or `memory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerSpec {
    Sqlite(PathBuf),
    Postgres(String),
    /// In-process only: forgotten at exit, not shared between processes.
    Memory,
}

impl FromStr for LedgerSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<LedgerSpec, String> {
        if s == "memory" {
            Ok(LedgerSpec::Memory)
        } else if let Some(path) = s.strip_prefix("sqlite:").filter(|p| !p.is_empty()) {
            Ok(LedgerSpec::Sqlite(PathBuf::from(path)))
        } else if let Some(config) = s.strip_prefix("postgres:").filter(|c| !c.is_empty()) {
            Ok(LedgerSpec::Postgres(config.to_owned()))
        } else {
            Err(format!(
                "a ledger is sqlite:PATH, postgres:CONNECTION (e.g. postgres:host=/tmp dbname=keyrace) or memory, not {s:?}"
            ))
        }
    }
}

impl LedgerSpec {
    /// Open (or connect to) the ledger with `connections` connections.
    pub fn open(&self, connections: usize) -> Result<Box<dyn GraceLedger>, BootstrapError> {
        Ok(match self {
            LedgerSpec::Sqlite(path) => Box::new(SqliteLedger::open(path, connections)?),
            LedgerSpec::Postgres(config) => Box::new(PostgresLedger::connect(config, connections)?),
            LedgerSpec::Memory => Box::new(MemoryLedger::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(dir: &tempfile::TempDir) -> SqliteLedger {
        SqliteLedger::open(&dir.path().join("grace.sqlite"), 4).expect("open")
    }

    #[test]
    fn a_key_is_won_once_and_stays_consumed_after_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = ledger(&dir);
        assert_eq!(first.try_consume("k").expect("consume"), Consumed::Won);
        assert_eq!(
            first.try_consume("k").expect("again"),
            Consumed::AlreadyConsumed
        );
        drop(first);
        let reopened = ledger(&dir);
        assert_eq!(
            reopened.try_consume("k").expect("after reopen"),
            Consumed::AlreadyConsumed
        );
        assert_eq!(
            reopened.try_consume("other").expect("other key"),
            Consumed::Won
        );
    }

    #[test]
    fn a_provisioned_key_is_won_by_exactly_one_of_racing_consumers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = ledger(&dir);
        // A key the operator created unconsumed, as loopctl's api_keys rows are: the
        // conditional UPDATE decides it.
        ledger
            .with_connection(|c| c.execute("INSERT INTO keyrace_grace (key_id) VALUES ('p')", []))
            .expect("provision");
        let outcomes: Vec<Consumed> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| ledger.try_consume("p")))
                .collect();
            racers
                .into_iter()
                .map(|r| {
                    // A racer that failed (a busy database) is a failure, never a loser.
                    r.join()
                        .expect("a racer panicked")
                        .expect("every racer's consume succeeds")
                })
                .collect()
        });
        let wins = outcomes.iter().filter(|&&c| c == Consumed::Won).count();
        assert_eq!(wins, 1, "{outcomes:?}");
        assert_eq!(outcomes.len(), 8);
    }

    #[test]
    fn ledger_specs_parse_or_say_what_is_expected() {
        assert_eq!("memory".parse(), Ok(LedgerSpec::Memory));
        assert_eq!(
            "sqlite:/x/y".parse(),
            Ok(LedgerSpec::Sqlite(PathBuf::from("/x/y")))
        );
        assert_eq!(
            "postgres:host=/tmp".parse(),
            Ok(LedgerSpec::Postgres("host=/tmp".to_owned()))
        );
        let err = "mysql:x".parse::<LedgerSpec>().expect_err("unknown");
        assert!(err.contains("sqlite:PATH"), "{err}");
        assert!("sqlite:".parse::<LedgerSpec>().is_err());
    }
}

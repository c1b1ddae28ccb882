//! Known-bad variants of the reference witness server, one per real-world bug of seed 002
//! (loopctl), for the server check to catch (`keyrace witness-server --mutant NAME`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use keyrace_core::bootstrap::ledger::validate_key_id;
use keyrace_core::bootstrap::{BootstrapError, Consumed, GraceLedger};

use crate::ledger::{postgres_error, PostgresLedger, SqliteLedger};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMutant {
    /// `ledger-check-then-set` — seed 002 (custody-03 before the conditional UPDATE): read
    /// whether the grace is consumed, then mark it consumed, two statements. Diff: `UPDATE ...
    /// WHERE consumed_at IS NULL` → `SELECT consumed_at` then an unconditional `UPDATE`, so
    /// racing bootstraps on different connections can all win. Its window is held open
    /// ([`Window`]), so the race is lost on every run.
    LedgerCheckThenSet,
    /// `412-without-head` — seed 002 (loopctl before PR #300 reused the head it read): the 412
    /// of a consumed grace carries no current head, so the client cannot retry with one and
    /// every request of a restarted client is refused. Diff: the current-head header of the
    /// 412 is dropped.
    RefusalWithoutHead,
    /// `zero-head-loop` — seed 002: before the first seal the client only knows the zero
    /// placeholder, and the server calls it a divergence, so every request is a 409 until a
    /// head is sealed. Diff: the placeholder's "pass while nothing is sealed" → 409.
    ZeroHeadLoop,
    /// `zero-after-seal` — seed 002 (HIGH-3's fix without its gate): the zero placeholder
    /// passes after a head is sealed too, so a client that never learned the sealed head is
    /// never told it diverged. Diff: "pass while nothing is sealed" → "pass".
    ZeroAfterSeal,
    /// `op-before-refusal`: the guarded operation runs before the gate decides, so a refused
    /// request has had its effect and the client's retry runs it twice. Diff: count the
    /// operation, then check.
    OpBeforeRefusal,
    /// `newest-head-only`: only the newest head passes, so a client that persisted a head
    /// before the next seal is refused with a 409 it can never get out of (the stale-STH trap
    /// seed 002's PR rules out: heads are append-only). Diff: `has_held(head)` → `head ==
    /// newest`.
    NewestHeadOnly,
    /// `trusts-any-head`: any well-formed head passes, so a forged or rolled-back history is
    /// never noticed. Diff: the log lookup is skipped.
    TrustsAnyHead,
    /// `malformed-as-absent`: a head header that does not parse is treated as absent, so a
    /// garbled header burns the key's grace instead of being a 400. Diff: `parse(header)?` →
    /// `parse(header).ok()`.
    MalformedAsAbsent,
}

impl ServerMutant {
    pub const ALL: [ServerMutant; 8] = [
        ServerMutant::LedgerCheckThenSet,
        ServerMutant::RefusalWithoutHead,
        ServerMutant::ZeroHeadLoop,
        ServerMutant::ZeroAfterSeal,
        ServerMutant::OpBeforeRefusal,
        ServerMutant::NewestHeadOnly,
        ServerMutant::TrustsAnyHead,
        ServerMutant::MalformedAsAbsent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ServerMutant::LedgerCheckThenSet => "ledger-check-then-set",
            ServerMutant::RefusalWithoutHead => "412-without-head",
            ServerMutant::ZeroHeadLoop => "zero-head-loop",
            ServerMutant::ZeroAfterSeal => "zero-after-seal",
            ServerMutant::OpBeforeRefusal => "op-before-refusal",
            ServerMutant::NewestHeadOnly => "newest-head-only",
            ServerMutant::TrustsAnyHead => "trusts-any-head",
            ServerMutant::MalformedAsAbsent => "malformed-as-absent",
        }
    }

    /// The check of `keyrace check-server` that catches this mutant.
    pub fn caught_by(self) -> &'static str {
        match self {
            ServerMutant::LedgerCheckThenSet | ServerMutant::RefusalWithoutHead => "bootstrap-race",
            ServerMutant::ZeroHeadLoop | ServerMutant::ZeroAfterSeal => "zero-head",
            ServerMutant::OpBeforeRefusal => "refusal-has-no-effect",
            ServerMutant::NewestHeadOnly => "historical-head",
            ServerMutant::TrustsAnyHead => "forged-head",
            ServerMutant::MalformedAsAbsent => "malformed-head",
        }
    }

    pub fn names() -> [&'static str; 8] {
        ServerMutant::ALL.map(ServerMutant::name)
    }
}

impl fmt::Display for ServerMutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ServerMutant {
    type Err = String;
    fn from_str(s: &str) -> Result<ServerMutant, String> {
        ServerMutant::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown server mutant {s:?}; one of {}",
                    ServerMutant::names().join(", ")
                )
            })
    }
}

/// Written with `?1` for SQLite and `$1` for PostgreSQL.
const SELECT: &str = "SELECT consumed_at FROM keyrace_grace WHERE key_id = $1";
const MARK: &str = "INSERT INTO keyrace_grace (key_id, consumed_at) VALUES ($1, 1)
    ON CONFLICT (key_id) DO UPDATE SET consumed_at = 1";

fn for_sqlite(sql: &str) -> String {
    sql.replace("$1", "?1")
}

fn ledger_error(detail: String) -> BootstrapError {
    BootstrapError::Ledger {
        what: "consume the grace",
        source: std::io::Error::other(detail),
    }
}

/// How long a check-then-set consumer waits between its check and its set for another
/// consumer of the same key: long enough for a racing request to arrive, short enough that a
/// lone bootstrap is only slowed.
pub const CHECK_THEN_SET_WINDOW: Duration = Duration::from_millis(200);

/// Holds a check-then-set consumer after its check until another consumer of the same key has
/// made its check too (or [`CHECK_THEN_SET_WINDOW`] passed), so that consumers racing on one
/// key all find it unconsumed on every run, not by luck of the scheduler.
#[derive(Debug, Default)]
pub struct Window {
    checks: Mutex<HashMap<String, usize>>,
    checked: Condvar,
}

impl Window {
    fn hold(&self, key_id: &str) {
        let mut checks = self.checks.lock().unwrap_or_else(|p| p.into_inner());
        let count = checks.entry(key_id.to_owned()).or_insert(0);
        *count += 1;
        if *count > 1 {
            self.checked.notify_all();
            return;
        }
        let deadline = Instant::now() + CHECK_THEN_SET_WINDOW;
        while checks.get(key_id).copied().unwrap_or(0) < 2 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            checks = self
                .checked
                .wait_timeout(checks, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// `ledger-check-then-set` over the SQLite ledger's connections.
#[derive(Debug)]
pub struct CheckThenSetSqlite(pub SqliteLedger, pub Window);

impl GraceLedger for CheckThenSetSqlite {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        validate_key_id(key_id)?;
        let consumed: Option<i64> = self.0.with_connection(|c| {
            c.query_row(&for_sqlite(SELECT), [key_id], |row| row.get(0))
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })
                .map_err(|e| ledger_error(e.to_string()))
        })?;
        self.1.hold(key_id);
        if consumed.is_some() {
            return Ok(Consumed::AlreadyConsumed);
        }
        self.0.with_connection(|c| {
            c.execute(&for_sqlite(MARK), [key_id])
                .map_err(|e| ledger_error(e.to_string()))
        })?;
        Ok(Consumed::Won)
    }
}

/// `ledger-check-then-set` over the PostgreSQL ledger's clients.
#[derive(Debug)]
pub struct CheckThenSetPostgres(pub PostgresLedger, pub Window);

impl GraceLedger for CheckThenSetPostgres {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        validate_key_id(key_id)?;
        let consumed = self.0.with_client(|c| {
            c.query_opt(SELECT, &[&key_id])
                .map(|row| row.and_then(|r| r.get::<_, Option<i64>>(0)))
                .map_err(|e| ledger_error(postgres_error(&e)))
        })?;
        self.1.hold(key_id);
        if consumed.is_some() {
            return Ok(Consumed::AlreadyConsumed);
        }
        self.0.with_client(|c| {
            c.execute(MARK, &[&key_id])
                .map_err(|e| ledger_error(postgres_error(&e)))
        })?;
        Ok(Consumed::Won)
    }
}

/// The ledger a server runs with: `spec`'s, or, for `ledger-check-then-set`, that mutant over
/// the same database.
pub fn ledger_for(
    spec: &crate::ledger::LedgerSpec,
    connections: usize,
    mutant: Option<ServerMutant>,
) -> Result<Box<dyn GraceLedger>, BootstrapError> {
    use crate::ledger::LedgerSpec;
    if mutant != Some(ServerMutant::LedgerCheckThenSet) {
        return spec.open(connections);
    }
    Ok(match spec {
        LedgerSpec::Sqlite(path) => {
            let ledger = SqliteLedger::open(path, connections)?;
            Box::new(CheckThenSetSqlite(ledger, Window::default()))
        }
        LedgerSpec::Postgres(config) => {
            let ledger = PostgresLedger::connect(config, connections)?;
            Box::new(CheckThenSetPostgres(ledger, Window::default()))
        }
        LedgerSpec::Memory => {
            return Err(BootstrapError::Ledger {
                what: "start the ledger-check-then-set mutant",
                source: std::io::Error::other(
                    "it needs a database ledger: pass --ledger sqlite:PATH or postgres:CONNECTION",
                ),
            })
        }
    })
}

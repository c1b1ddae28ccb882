//! **double-bootstrap** (seed 002): N consumers of one key's one-time bootstrap grace at once,
//! through the file ledger on SimFs.

use std::path::Path;

use keyrace_core::bootstrap::{Consumed, FileLedger};
use keyrace_core::fs::create_dir_all;
use keyrace_core::{Fs, FsFile};

use super::{actor_name, require, run_actors};
use crate::simfs::{Semantics, SimFs};

/// The invariant of this model, as its violations name it.
pub const DOUBLE_BOOTSTRAP: &str =
    "exactly one concurrent consumer of a grace wins; a later consume does not";

const LEDGER_DIR: &str = "/ledger";
const KEY_ID: &str = "api-key-1";

/// How a consumer takes the grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grace {
    /// `FileLedger::try_consume`: one exclusive create decides the winner.
    Reference,
    /// `grace-check-then-set` (seed 002, loopctl PR #300 before the atomic conditional
    /// UPDATE): look whether the grace is used, then mark it used. Diff: `create_new(marker)`
    /// → `if !exists(marker) { create(marker) }`.
    CheckThenSet,
}

impl Grace {
    pub fn name(self) -> &'static str {
        match self {
            Grace::Reference => "reference",
            Grace::CheckThenSet => "grace-check-then-set",
        }
    }

    /// One consume by the process using `fs`: `Ok(true)` for "won".
    fn consume(self, fs: &SimFs) -> Result<bool, String> {
        let ledger = FileLedger::new(fs.clone(), LEDGER_DIR);
        match self {
            Grace::Reference => ledger
                .try_consume(KEY_ID)
                .map(|c| c == Consumed::Won)
                .map_err(|e| format!("{}: {e}", e.code())),
            Grace::CheckThenSet => {
                let dir = Path::new(LEDGER_DIR);
                let marker = ledger.marker_path(KEY_ID);
                create_dir_all(fs, dir, 0o700).map_err(|e| e.to_string())?;
                if fs.symlink_metadata(&marker).is_ok() {
                    return Ok(false);
                }
                let mut file = fs
                    .open_truncate(&marker, 0o600)
                    .map_err(|e| e.to_string())?;
                file.sync_all().map_err(|e| e.to_string())?;
                drop(file);
                fs.sync_dir(dir).map_err(|e| e.to_string())?;
                Ok(true)
            }
        }
    }
}

/// Invariant: of any number of concurrent consumers of one grace, exactly one is told "won"
/// and every other "already consumed"; a consume after them is "already consumed" too.
pub fn double_bootstrap(grace: Grace, actors: usize) -> impl Fn() + Send + Sync + 'static {
    move || {
        const INVARIANT: &str = DOUBLE_BOOTSTRAP;
        let fs = SimFs::new(Semantics::Posix);
        let outcomes = {
            let fs = fs.clone();
            run_actors(actors, move |i| {
                let me = fs.actor(&actor_name(i));
                let outcome = grace.consume(&me);
                me.note(&format!("consume returns {outcome:?}"));
                me.exit();
                outcome
            })
        };
        let winners = outcomes.iter().filter(|o| matches!(o, Ok(true))).count();
        let all_answered = outcomes.iter().all(Result::is_ok);
        require(&fs, all_answered && winners == 1, INVARIANT, || {
            format!("{winners} winners: {outcomes:?}")
        });
        let later = grace.consume(&fs.actor("L"));
        require(&fs, later == Ok(false), INVARIANT, || {
            format!("a later consume returns {later:?}")
        });
    }
}

//! **double-bootstrap** (seed 002): N consumers of one key's one-time bootstrap grace at once,
//! through the file ledger on SimFs.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use keyrace_core::bootstrap::{BootstrapError, Consumed, FileLedger};

use super::{actor_name, require, run_actors, show};
use crate::simfs::{Semantics, SimFs};
use crate::subject::ModelError;

/// The invariant of this model, as its violations name it.
pub const DOUBLE_BOOTSTRAP: &str =
    "exactly one concurrent consumer of a grace wins; a later consume does not";

/// Where the model's ledger keeps its state.
pub const LEDGER_DIR: &str = "/ledger";
/// The token (key id) whose grace the consumers race for.
pub const KEY_ID: &str = "api-key-1";

/// The reference consume, as the model takes it: `FileLedger::try_consume`, one exclusive
/// create decides the winner.
pub fn reference(fs: &SimFs, dir: &Path, token: &str) -> Result<bool, BootstrapError> {
    FileLedger::new(fs, dir)
        .try_consume(token)
        .map(|c| c == Consumed::Won)
}

/// Invariant: of any number of concurrent `consume`s of one grace, exactly one is told "won"
/// (`Ok(true)`) and every other "already consumed" (`Ok(false)`); a consume after them is
/// "already consumed" too.
pub fn double_bootstrap<E: ModelError + Debug + Send + 'static>(
    consume: impl Fn(&SimFs, &Path, &str) -> Result<bool, E> + Send + Sync + 'static,
    actors: usize,
) -> impl Fn() + Send + Sync + 'static {
    let consume = Arc::new(consume);
    move || {
        const INVARIANT: &str = DOUBLE_BOOTSTRAP;
        let fs = SimFs::new(Semantics::Posix);
        let outcomes = {
            let (fs, consume) = (fs.clone(), Arc::clone(&consume));
            run_actors(actors, move |i| {
                let me = fs.actor(&actor_name(i));
                let outcome = consume(&me, Path::new(LEDGER_DIR), KEY_ID);
                me.note(&format!("consume returns {}", show(&outcome)));
                me.exit();
                outcome
            })
        };
        let winners = outcomes.iter().filter(|o| matches!(o, Ok(true))).count();
        let all_answered = outcomes.iter().all(Result::is_ok);
        require(&fs, all_answered && winners == 1, INVARIANT, || {
            let shown: Vec<String> = outcomes.iter().map(show).collect();
            format!("{winners} winners: {shown:?}")
        });
        let later = consume(&fs.actor("L"), Path::new(LEDGER_DIR), KEY_ID);
        require(&fs, matches!(later, Ok(false)), INVARIANT, || {
            format!("a later consume returns {}", show(&later))
        });
    }
}

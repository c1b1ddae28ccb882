//! crash-consume (seed 002): after a power loss at any point of the consume that wins a
//! one-time grace, a consume of the same token by the verifier loses once the first one was
//! acknowledged: the grace is never granted twice, whatever the disk kept.
//!
//! Actors: the writer (traced) consumes a fresh token while its calls are recorded; each crash
//! state is written to a directory of its own, where the verifier consumes the token again.
//! Runs only under `--explore`.

use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::protocol::{Op, OpName};
use crate::scenario::crash::judge::{judge_consumed, judge_states};
use crate::scenario::crash::recording::record;

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::CrashConsume,
    summary: "power loss during a winning consume: in every crash state an acknowledged win stays consumed",
    needs: &[OpName::Consume],
    needs_key: false,
    default_rounds: 2,
    mode: Mode::Traced,
    run_round,
};

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let token = round.value("grace");
    let op = Op::Consume {
        store: round.path("store"),
        token: token.clone(),
    };
    let Some(recorded) = record(env, round, op)? else {
        return Ok(());
    };
    if recorded.reply().won() != Some(true) {
        round.violation(
            "the first consume of a fresh token wins",
            vec![recorded.reply().describe()],
        );
        return Ok(());
    }
    let mut judge = judge_consumed(&token);
    judge_states(env, round, "store", &recorded, &mut judge)
}

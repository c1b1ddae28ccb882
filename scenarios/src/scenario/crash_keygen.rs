//! crash-keygen (seeds 003, 000): after a power loss at any point of the first put into a
//! fresh store (which creates the store and its key), the store opens or refuses with a coded
//! error, the secret reads back exactly once the put was acknowledged (so the key that
//! encrypted it survived with it), and nothing ever reads back a wrong value.
//!
//! Actors: the writer (traced) makes the first put while its file-system calls are recorded;
//! every crash state of that recording is written to a directory of its own and read by the
//! verifier. Runs only under `--explore`.

use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::protocol::{Op, OpName};
use crate::scenario::crash::judge::{judge_secrets, judge_states, Expectation};
use crate::scenario::crash::recording::record;

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::CrashKeygen,
    summary: "power loss during the first put into a fresh store (key creation): every crash state opens or refuses with a code, an acknowledged secret survives",
    needs: &[OpName::Open, OpName::Put, OpName::Get],
    needs_key: false,
    default_rounds: 2,
    mode: Mode::Traced,
    run_round,
};

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let value = round.value("first");
    let op = Op::Put {
        store: round.path("store"),
        name: "first".to_owned(),
        value: value.clone(),
    };
    let Some(recorded) = record(env, round, op)? else {
        return Ok(());
    };
    if !recorded.reply().ok() {
        round.violation(
            "a put into a fresh store succeeds",
            vec![recorded.reply().describe()],
        );
        return Ok(());
    }
    let expect = Expectation {
        acked: Vec::new(),
        name: "first".to_owned(),
        old: None,
        new: Some(value),
    };
    let mut judge = judge_secrets(&expect);
    judge_states(env, round, "store", &recorded, &mut judge)
}

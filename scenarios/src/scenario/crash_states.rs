//! crash-states (seeds 003, 000): after a power loss at any point of a put that overwrites a
//! secret in an existing store (even rounds), or of a delete (odd rounds, when the adapter
//! has `delete`), every secret
//! acknowledged before reads back exactly, the one being changed holds its old or its new
//! value (its new value, or nothing for a delete, once acknowledged), and the store opens.
//! Unlike crash-put (a SIGKILL, which never loses the page cache), this judges every state the
//! disk can hold: writes torn, unsynced data and names lost.
//!
//! Actors: the writer (traced) stores a few secrets and the one to change (10 KiB, so a write
//! can tear at 4 KiB boundaries), then overwrites or deletes it while its calls are recorded;
//! each crash state is written to a directory of its own and read by the verifier. Runs only
//! under `--explore`.

use rand::distr::{Alphanumeric, SampleString};

use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::protocol::{Op, OpName};
use crate::scenario::crash::judge::{judge_secrets, judge_states, Expectation};
use crate::scenario::crash::recording::record;

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::CrashStates,
    summary: "power loss during an overwriting put or a delete: in every crash state acknowledged secrets survive, the change is old-or-new, the store opens",
    needs: &[OpName::Open, OpName::Put, OpName::Get],
    needs_key: false,
    default_rounds: 2,
    mode: Mode::Traced,
    run_round,
};

/// The overwritten secret's size: more than two 4 KiB blocks.
const VALUE_LEN: usize = 10 * 1024;

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let store = round.path("store");
    let mut acked = Vec::new();
    for i in 0..3 {
        let (name, value) = (format!("secret-{i}"), round.value(&format!("v{i}")));
        let put = env.racer_call(
            0,
            Op::Put {
                store: store.clone(),
                name: name.clone(),
                value: value.clone(),
            },
        )?;
        if !put.ok() {
            round.violation("puts into a healthy store succeed", vec![put.describe()]);
            return Ok(());
        }
        acked.push((name, value));
    }
    let old = long_value(round, "old");
    let put = env.racer_call(
        0,
        Op::Put {
            store: store.clone(),
            name: "big".to_owned(),
            value: old.clone(),
        },
    )?;
    if !put.ok() {
        round.violation("puts into a healthy store succeed", vec![put.describe()]);
        return Ok(());
    }
    let (op, new, what) = if round.index % 2 == 0 || !env.supports(OpName::Delete)? {
        let new = long_value(round, "new");
        let op = Op::Put {
            store,
            name: "big".to_owned(),
            value: new.clone(),
        };
        (op, Some(new), "an overwriting put")
    } else {
        let op = Op::Delete {
            store,
            name: "big".to_owned(),
        };
        (op, None, "a delete")
    };
    let Some(recorded) = record(env, round, op)? else {
        return Ok(());
    };
    if !recorded.reply().ok() {
        round.violation(
            format!("{what} of a secret in a healthy store succeeds"),
            vec![recorded.reply().describe()],
        );
        return Ok(());
    }
    let expect = Expectation {
        acked,
        name: "big".to_owned(),
        old: Some(old),
        new,
    };
    let mut judge = judge_secrets(&expect);
    judge_states(env, round, "store", &recorded, &mut judge)
}

fn long_value(round: &mut Round, tag: &str) -> String {
    let mut value = format!("{tag}-");
    value.push_str(&Alphanumeric.sample_string(&mut round.rng, VALUE_LEN));
    value
}

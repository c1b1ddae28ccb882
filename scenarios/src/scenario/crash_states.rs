//! crash-states (seeds 003, 000): after a power loss at any point of a put that overwrites a
//! secret in an existing store, every secret acknowledged before reads back exactly, the one
//! being written holds its old or its new value (its new value once acknowledged), and the
//! store opens. Unlike crash-put (a SIGKILL, which never loses the page cache), this judges
//! every state the disk can hold: writes torn, unsynced data and names lost.
//!
//! Actors: the writer (traced) stores a few secrets and the one to overwrite (10 KiB, so a
//! write can tear at 4 KiB boundaries), then overwrites it while its calls are recorded; each
//! crash state is written to a directory of its own and read by the verifier. Runs only under
//! `--explore`.

use rand::distr::{Alphanumeric, SampleString};

use super::power_loss::{record_and_judge, Expectation};
use super::{Env, Mode, Round, ScenarioDef};
use crate::actor::ActorError;
use crate::protocol::{Op, OpName};

pub const DEF: ScenarioDef = ScenarioDef {
    id: "crash-states",
    summary: "power loss during an overwriting put: in every crash state acknowledged secrets survive, the put is old-or-new, the store opens",
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
    let new = long_value(round, "new");
    let op = Op::Put {
        store,
        name: "big".to_owned(),
        value: new.clone(),
    };
    let expect = Expectation {
        acked,
        name: "big".to_owned(),
        old: Some(old),
        new,
    };
    record_and_judge(env, round, "store", op, &expect)
}

fn long_value(round: &mut Round, tag: &str) -> String {
    let mut value = format!("{tag}-");
    value.push_str(&Alphanumeric.sample_string(&mut round.rng, VALUE_LEN));
    value
}

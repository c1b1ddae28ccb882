//! keygen-race (seeds 003, 000): when N processes put distinct secrets into one fresh store at
//! once, every put succeeds, every acknowledged secret reads back exactly afterwards, and every
//! process reports the same key.
//!
//! Actors: the N racers each put their own secret into a store that does not exist yet (so
//! they also race to create its key); the verifier, which took no part, reads them all back.

use std::collections::BTreeSet;

use super::{describe_all, Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::protocol::{Op, OpName};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::KeygenRace,
    summary: "N actors put distinct secrets into one fresh store at once: all succeed, all read back, one key_id",
    needs: &[OpName::Put, OpName::Get],
    needs_key: false,
    default_rounds: 300,
    mode: Mode::Race,
    run_round,
};

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let store = round.path("store");
    let ops: Vec<Op> = (0..env.actors)
        .map(|i| Op::Put {
            store: store.clone(),
            name: format!("secret-{i}"),
            value: round.value(&format!("v{i}")),
        })
        .collect();
    let puts = env.race(ops, &mut round.rng)?;
    for put in puts.iter().filter(|put| !put.ok()) {
        round.violation(
            "every racing put into a fresh store succeeds",
            vec![put.describe()],
        );
    }
    let mut key_ids: BTreeSet<String> = puts
        .iter()
        .filter_map(|put| put.key_id().map(str::to_owned))
        .collect();
    for put in puts.iter().filter(|put| put.ok()) {
        let Op::Put { name, value, .. } = &put.op else {
            continue;
        };
        let get = env.verify(Op::Get {
            store: store.clone(),
            name: name.clone(),
        })?;
        key_ids.extend(get.key_id().map(str::to_owned));
        if get.value() != Some(Some(value.as_str())) {
            round.violation(
                "every acknowledged secret reads back exactly (read by an actor that took no part in the race)",
                vec![put.describe(), get.describe()],
            );
        }
    }
    if key_ids.len() > 1 {
        let mut replies = describe_all(&puts);
        replies.push(format!("runner: {} distinct key_ids", key_ids.len()));
        round.violation("every actor uses the same key", replies);
    }
    Ok(())
}

//! put-race (seed 000): when N processes put into one existing store at once, every put
//! succeeds, every acknowledged secret reads back exactly, a name several processes wrote at
//! once ends with one of the values they wrote, and the store still opens.
//!
//! Actors: one racer creates the store; then all racers put distinct names at once; then all
//! racers put the same name at once; the verifier opens the store and reads everything back.

use super::{Env, Exchange, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::protocol::{Op, OpName};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::PutRace,
    summary: "N actors put distinct and same-name secrets into one existing store at once: nothing acknowledged is lost",
    needs: &[OpName::Open, OpName::Put, OpName::Get],
    needs_key: false,
    default_rounds: 40,
    mode: Mode::Race,
    run_round,
};

const SHARED: &str = "shared";

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let store = round.path("store");
    let actors = env.actors;
    if !env.create_store(round, &store)? {
        return Ok(());
    }
    let distinct: Vec<Op> = (0..actors)
        .map(|i| Op::Put {
            store: store.clone(),
            name: format!("secret-{i}"),
            value: round.value(&format!("v{i}")),
        })
        .collect();
    let distinct = env.race(distinct, &mut round.rng)?;
    let same: Vec<Op> = (0..actors)
        .map(|i| Op::Put {
            store: store.clone(),
            name: SHARED.to_owned(),
            value: round.value(&format!("same{i}")),
        })
        .collect();
    let same = env.race(same, &mut round.rng)?;
    for put in distinct.iter().chain(&same).filter(|put| !put.ok()) {
        round.violation(
            "every racing put into an existing store succeeds",
            vec![put.describe()],
        );
    }

    let opened = env.verify(Op::Open {
        store: store.clone(),
    })?;
    if !opened.ok() {
        round.violation(
            "the store still opens after racing puts",
            vec![opened.describe()],
        );
    }
    for put in &distinct {
        let Op::Put { name, value, .. } = &put.op else {
            continue;
        };
        let get = env.verify(Op::Get {
            store: store.clone(),
            name: name.clone(),
        })?;
        let fine = match get.value() {
            Some(Some(got)) => got == value,
            // Maybe applied: a failed put may or may not have left its value.
            Some(None) => !put.ok(),
            None => false,
        };
        if !fine {
            round.violation(
                "every acknowledged secret reads back exactly after concurrent puts",
                vec![put.describe(), get.describe()],
            );
        }
    }
    let get = env.verify(Op::Get {
        store,
        name: SHARED.to_owned(),
    })?;
    if !same_name_outcome_is_valid(&same, &get) {
        let mut replies: Vec<String> = same.iter().map(Exchange::describe).collect();
        replies.push(get.describe());
        round.violation(
            "a name written by several actors at once ends with one of the values they wrote",
            replies,
        );
    }
    Ok(())
}

/// The final value must be one of the racing values (acknowledged or maybe applied), and can
/// be absent only if no put was acknowledged.
fn same_name_outcome_is_valid(puts: &[Exchange], get: &Exchange) -> bool {
    let written = |value: &str| {
        puts.iter()
            .any(|put| matches!(&put.op, Op::Put { value: v, .. } if v == value))
    };
    match get.value() {
        Some(Some(value)) => written(value),
        Some(None) => !puts.iter().any(Exchange::ok),
        None => false,
    }
}

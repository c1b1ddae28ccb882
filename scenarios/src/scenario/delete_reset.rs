//! delete-reset (seed 000): a delete removes exactly its own secret, even racing puts of the
//! others; and a store whose metadata is destroyed can be reset **without a
//! successful open** (the seed's engine could recover only through `open()`), after which the
//! next open creates a fresh, working store holding none of the old secrets.
//!
//! Actors: a racer populates a store; one racer deletes a secret while every other racer
//! overwrites one of its own; the verifier reads them all and deletes the absent one again; the runner garbles
//! the files at the top of the store (metadata, key file); a racer resets the store; the
//! verifier uses the fresh store.

use std::path::Path;

use super::{describe_all, Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::protocol::{Op, OpName};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::DeleteReset,
    summary: "a delete racing puts removes only its secret; reset works on a store whose metadata is garbage, and a fresh store follows",
    needs: &[OpName::Put, OpName::Get, OpName::Delete, OpName::Reset],
    needs_key: false,
    default_rounds: 20,
    mode: Mode::Race,
    run_round,
};

/// The second half of a round, for reports of rounds that stop before it.
const RESET_CHECKS: [&str; 2] = [
    "reset succeeds on a store whose metadata is garbage, without a successful open",
    "after a reset the next open creates a fresh store that works and holds none of the old secrets",
];

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let store = round.path("store");
    let Some(values) = fill(env, round, &store)? else {
        return Ok(());
    };
    if !delete_races_puts(env, round, &store, &values)? {
        return Ok(());
    }
    reset_garbled(env, round, &store)
}

/// Puts `secret-0` .. `secret-n` (one per racer, and one left alone); their values, or `None`
/// when a put failed (the round's violation).
fn fill(
    env: &mut Env<'_>,
    round: &mut Round,
    store: &Path,
) -> Result<Option<Vec<String>>, ActorError> {
    // secret-0 is deleted, secret-1 .. secret-(n-1) are overwritten by the other racers, and
    // secret-n is left alone: every overwrite is a chance to land inside a deleter's window.
    let racers = env.actors.max(1);
    let values: Vec<String> = (0..=racers)
        .map(|i| round.value(&format!("v{i}")))
        .collect();
    for (i, value) in values.iter().enumerate() {
        let put = env.racer_call(
            0,
            Op::Put {
                store: store.to_owned(),
                name: format!("secret-{i}"),
                value: value.clone(),
            },
        )?;
        if !put.ok() {
            round.violation("puts into a fresh store succeed", vec![put.describe()]);
            round.stop_before(&[
                "a delete racing puts removes exactly its own secret and loses no put",
                RESET_CHECKS[0],
                RESET_CHECKS[1],
            ]);
            return Ok(None);
        }
    }
    Ok(Some(values))
}

/// Racer 0 deletes `secret-0` while the others overwrite theirs; then every secret reads back
/// as the race left it, and deleting an absent secret succeeds. `false`: the round stops.
fn delete_races_puts(
    env: &mut Env<'_>,
    round: &mut Round,
    store: &Path,
    values: &[String],
) -> Result<bool, ActorError> {
    let racers = env.actors.max(1);
    let overwrites: Vec<String> = (0..racers)
        .map(|i| round.value(&format!("v{i}-new")))
        .collect();
    let ops: Vec<Op> = (0..racers)
        .map(|i| match i {
            0 => Op::Delete {
                store: store.to_owned(),
                name: "secret-0".to_owned(),
            },
            _ => Op::Put {
                store: store.to_owned(),
                name: format!("secret-{i}"),
                value: overwrites[i].clone(),
            },
        })
        .collect();
    let raced = env.race(ops, &mut round.rng)?;
    let mut replies = describe_all(&raced);
    let mut wrong = raced.iter().any(|exchange| !exchange.ok());
    for (i, original) in values.iter().enumerate() {
        let want = match i {
            0 => None,
            i if i < racers => Some(overwrites[i].as_str()),
            _ => Some(original.as_str()),
        };
        let get = env.verify(Op::Get {
            store: store.to_owned(),
            name: format!("secret-{i}"),
        })?;
        wrong |= get.value() != Some(want);
        replies.push(get.describe());
    }
    let again = env.verify(Op::Delete {
        store: store.to_owned(),
        name: "secret-0".to_owned(),
    })?;
    wrong |= !again.ok();
    replies.push(again.describe());
    if wrong {
        round.violation(
            "a delete racing puts removes exactly its own secret and loses no put; deleting an absent secret succeeds",
            replies,
        );
        round.stop_before(&RESET_CHECKS);
        return Ok(false);
    }
    Ok(true)
}

/// Reset works on a store whose own files are garbage, without a successful open, and the
/// next open creates a fresh store that holds none of the old secrets.
fn reset_garbled(env: &mut Env<'_>, round: &mut Round, store: &Path) -> Result<(), ActorError> {
    // Garble the store's own files (metadata, key file), whatever the implementation names
    // them; the secrets stay as they are.
    let Some(store_dir) = round.store("store") else {
        round.stop_before(&RESET_CHECKS);
        return Ok(());
    };
    let top_level: Vec<_> = match store_dir.files() {
        Ok(files) => files
            .into_iter()
            .filter(|file| file.components().count() == 1)
            .collect(),
        Err(refusal) => {
            round.refused(refusal);
            round.stop_before(&RESET_CHECKS);
            return Ok(());
        }
    };
    for file in &top_level {
        if let Err(refusal) = store_dir.overwrite(file, b"\x00garbage, not metadata") {
            round.refused(refusal);
            round.stop_before(&RESET_CHECKS);
            return Ok(());
        }
    }
    if top_level.is_empty() {
        round.skip = Some(format!(
            "the store keeps no file at its top level ({}) for the runner to damage, so reset \
             cannot be shown to work without a successful open",
            store.display()
        ));
        return Ok(());
    }
    let damaged = format!(
        "runner: garbled {}",
        top_level
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let reset = env.racer_call(
        0,
        Op::Reset {
            store: store.to_owned(),
        },
    )?;
    if !reset.ok() {
        round.violation(RESET_CHECKS[0], vec![damaged, reset.describe()]);
        round.stop_before(&RESET_CHECKS[1..]);
        return Ok(());
    }
    let old = env.verify(Op::Get {
        store: store.to_owned(),
        name: "secret-2".to_owned(),
    })?;
    let fresh = round.value("fresh");
    let put = env.verify(Op::Put {
        store: store.to_owned(),
        name: "fresh".to_owned(),
        value: fresh.clone(),
    })?;
    let get = env.verify(Op::Get {
        store: store.to_owned(),
        name: "fresh".to_owned(),
    })?;
    if old.value() != Some(None) || !put.ok() || get.value() != Some(Some(fresh.as_str())) {
        round.violation(
            RESET_CHECKS[1],
            vec![
                reset.describe(),
                old.describe(),
                put.describe(),
                get.describe(),
            ],
        );
    }
    Ok(())
}

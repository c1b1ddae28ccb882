//! recover-corrupt (seed 000): whatever happened to a store's files (truncated, overwritten
//! with random bytes, removed), opening and reading it gives the true value or a coded error,
//! never a wrong value and never a crash; destroy works without a successful open; and a fresh
//! store at the same path then works.
//!
//! Actors: a racer populates a store; the runner corrupts one or two of its files; the
//! verifier, a process that wrote nothing (so a store that keeps secrets only in its own memory
//! fails), opens it, reads every secret, destroys it, and uses a fresh store at the same path.

use rand::seq::IndexedRandom;
use rand::Rng;

use super::{call, Env, Exchange, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::protocol::{Op, OpName};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::RecoverCorrupt,
    summary: "truncate, garble or remove a store's files: true value or coded error, never a wrong value; destroy works",
    needs: &[OpName::Open, OpName::Put, OpName::Get, OpName::Destroy],
    needs_key: false,
    default_rounds: 30,
    mode: Mode::Stochastic,
    run_round,
};

#[derive(Debug, Clone, Copy)]
enum Damage {
    Truncate,
    Garble,
    Remove,
}

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let store = round.path("store");
    let mut puts: Vec<Exchange> = Vec::new();
    for i in 0..3 {
        let op = Op::Put {
            store: store.clone(),
            name: format!("secret-{i}"),
            value: round.value(&format!("v{i}")),
        };
        puts.push(call(&mut env.racers()?[0], op)?);
    }
    if let Some(failed) = puts.iter().find(|put| !put.ok()) {
        round.violation("puts into a fresh store succeed", vec![failed.describe()]);
        round.stop_before(&LATER);
        return Ok(());
    }

    let Some(store_dir) = round.store("store") else {
        round.stop_before(&LATER);
        return Ok(());
    };
    let files = match store_dir.files() {
        Ok(files) => files,
        Err(refusal) => {
            round.refused(refusal);
            round.stop_before(&LATER);
            return Ok(());
        }
    };
    let count = round.rng.random_range(1..=2).min(files.len());
    // In the order things happened: the puts, the damage, then what the verifier saw.
    let mut replies: Vec<String> = puts.iter().map(Exchange::describe).collect();
    let mut removed_any = false;
    for file in files.choose_multiple(&mut round.rng, count) {
        let damage = *[Damage::Truncate, Damage::Garble, Damage::Remove]
            .choose(&mut round.rng)
            .unwrap_or(&Damage::Remove);
        let done = match damage {
            Damage::Truncate => store_dir
                .len(file)
                .and_then(|len| store_dir.truncate(file, round.rng.random_range(0..len.max(1)))),
            Damage::Garble => store_dir.len(file).and_then(|len| {
                let garbage: Vec<u8> = (0..len.max(1)).map(|_| round.rng.random()).collect();
                store_dir.overwrite(file, &garbage)
            }),
            Damage::Remove => store_dir.remove(file),
        };
        if let Err(refusal) = done {
            round.refused(refusal);
            round.stop_before(&LATER);
            return Ok(());
        }
        removed_any |= matches!(damage, Damage::Remove);
        replies.push(format!("runner: {damage:?} {}", file.display()));
    }
    if files.is_empty() {
        replies.push(format!(
            "runner: no file under {} to damage",
            store_dir.path().display()
        ));
    }

    // From here a crash of the adapter is a finding about the store, not a broken adapter.
    let checked = check_damaged(env, round, &store, &puts, removed_any, &mut replies);
    if let Err(crash) = checked {
        replies.push(crash.to_string());
        if !crash.stderr_tail().is_empty() {
            replies.push(format!("stderr: {}", crash.stderr_tail()));
        }
        round.violation("a damaged store never crashes the implementation", replies);
        env.restart_verifier();
    } else if files.is_empty() && round.violations.is_empty() {
        round.skip = Some(format!(
            "the store keeps no file under its directory ({}) for the runner to damage",
            store_dir.path().display()
        ));
    }
    Ok(())
}

/// The checks after the damage, for reports of rounds that stop before them.
const LATER: [&str; 3] = [
    "a damaged store gives the true value or a coded error, never a wrong value",
    "destroy succeeds on a damaged store, without a successful open",
    "a fresh store works at the path of a destroyed one",
];

fn check_damaged(
    env: &mut Env<'_>,
    round: &mut Round,
    store: &std::path::Path,
    puts: &[Exchange],
    removed_any: bool,
    replies: &mut Vec<String>,
) -> Result<(), ActorError> {
    let actor = env.verifier()?;
    let open = call(
        actor,
        Op::Open {
            store: store.to_owned(),
        },
    )?;
    replies.push(open.describe());
    for put in puts {
        let Op::Put { name, value, .. } = &put.op else {
            continue;
        };
        let get = call(
            actor,
            Op::Get {
                store: store.to_owned(),
                name: name.clone(),
            },
        )?;
        replies.push(get.describe());
        let fine = match get.value() {
            Some(Some(got)) => got == value,
            // The runner removed a file: "no such secret" is the truth the store can see.
            Some(None) => removed_any,
            // A coded error.
            None => true,
        };
        if !fine {
            round.violation(
                "a damaged store gives the true value or a coded error, never a wrong value",
                replies.clone(),
            );
        }
    }
    let destroy = call(
        actor,
        Op::Destroy {
            store: store.to_owned(),
        },
    )?;
    if !destroy.ok() {
        replies.push(destroy.describe());
        round.violation(
            "destroy succeeds on a damaged store, without a successful open",
            replies.clone(),
        );
        round.stop_before(&["a fresh store works at the path of a destroyed one"]);
        return Ok(());
    }
    let value = round.value("fresh");
    let put = call(
        actor,
        Op::Put {
            store: store.to_owned(),
            name: "fresh".to_owned(),
            value: value.clone(),
        },
    )?;
    let get = call(
        actor,
        Op::Get {
            store: store.to_owned(),
            name: "fresh".to_owned(),
        },
    )?;
    if !put.ok() || get.value() != Some(Some(value.as_str())) {
        round.violation(
            "a fresh store works at the path of a destroyed one",
            vec![destroy.describe(), put.describe(), get.describe()],
        );
    }
    Ok(())
}

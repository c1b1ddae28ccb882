//! recover-corrupt (seed 000): whatever happened to a store's files (truncated, overwritten
//! with random bytes, removed), opening and reading it gives the true value or a coded error,
//! never a wrong value and never a crash; destroy works without a successful open; and a fresh
//! store at the same path then works.
//!
//! Actors: a racer populates a store; the runner corrupts one or two of its files; the same
//! racer opens it, reads every secret, destroys it, and uses a fresh store at the same path.

use rand::seq::IndexedRandom;
use rand::Rng;

use super::{call, files_under, Env, Exchange, Round, ScenarioDef};
use crate::actor::ActorError;
use crate::protocol::{Op, OpName};

pub const DEF: ScenarioDef = ScenarioDef {
    id: "recover-corrupt",
    summary: "truncate, garble or remove a store's files: true value or coded error, never a wrong value; destroy works",
    needs: &[OpName::Open, OpName::Put, OpName::Get, OpName::Destroy],
    default_rounds: 30,
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
        return Ok(());
    }

    let files = files_under(&store);
    let count = round.rng.random_range(1..=2).min(files.len());
    let mut damage_done = Vec::new();
    let mut removed_any = false;
    for file in files.choose_multiple(&mut round.rng, count) {
        let damage = *[Damage::Truncate, Damage::Garble, Damage::Remove]
            .choose(&mut round.rng)
            .unwrap_or(&Damage::Remove);
        let len = std::fs::metadata(file).map_or(0, |m| m.len());
        let result = match damage {
            Damage::Truncate => std::fs::OpenOptions::new()
                .write(true)
                .open(file)
                .and_then(|f| f.set_len(round.rng.random_range(0..len.max(1)))),
            Damage::Garble => {
                let garbage: Vec<u8> = (0..len.max(1)).map(|_| round.rng.random()).collect();
                std::fs::write(file, garbage)
            }
            Damage::Remove => std::fs::remove_file(file),
        };
        if let Err(e) = result {
            env.skip = Some(format!("cannot damage {}: {e}", file.display()));
            return Ok(());
        }
        removed_any |= matches!(damage, Damage::Remove);
        let relative = file.strip_prefix(&store).unwrap_or(file);
        damage_done.push(format!("runner: {damage:?} {}", relative.display()));
    }

    // From here a crash of the adapter is a finding about the store, not a broken adapter.
    let mut replies = damage_done.clone();
    let checked = check_damaged(env, round, &store, &puts, removed_any, &mut replies);
    if let Err(crash) = checked {
        replies.push(crash.to_string());
        if !crash.stderr_tail().is_empty() {
            replies.push(format!("stderr: {}", crash.stderr_tail()));
        }
        round.violation("a damaged store never crashes the implementation", replies);
        env.restart_racers();
    }
    Ok(())
}

fn check_damaged(
    env: &mut Env<'_>,
    round: &mut Round,
    store: &std::path::Path,
    puts: &[Exchange],
    removed_any: bool,
    replies: &mut Vec<String>,
) -> Result<(), ActorError> {
    let actor = &mut env.racers()?[0];
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
                [replies.clone(), vec![put.describe()]].concat(),
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

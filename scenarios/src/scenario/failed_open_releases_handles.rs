//! failed-open-releases-handles (seed 000): when opening a broken store fails, the failure is
//! a coded error and the process holds no handle inside the store afterwards, so the store
//! can be destroyed at once (on Windows an open handle makes that deletion fail).
//!
//! Actors: one racer populates a store, the runner overwrites every file in it with garbage,
//! all racers open it at once; the runner inspects `/proc/<pid>/fd` of each racer and its
//! descendants (each adapter is a subreaper of its own tree, so double-forked helpers count,
//! and so do helpers that escaped to the runner); then a racer destroys the store.

use rand::Rng;

use super::{call, describe_all, race, Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::procfs;
use crate::protocol::{Op, OpName};
use crate::reaper;

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::FailedOpenReleasesHandles,
    summary: "open a broken store: a coded error, no handle left inside the store (/proc/<pid>/fd), then destroy succeeds",
    needs: &[OpName::Open, OpName::Put, OpName::Destroy],
    needs_key: false,
    default_rounds: 10,
    mode: Mode::Stochastic,
    run_round,
};

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let store = round.path("store");
    let value = round.value("v");
    let racers = env.racers()?;
    let put = call(
        &mut racers[0],
        Op::Put {
            store: store.clone(),
            name: "secret".to_owned(),
            value,
        },
    )?;
    const LATER: [&str; 3] = [
        "opening a store whose every file is garbage fails with a coded error",
        "a failed open releases every handle inside the store",
        "destroy succeeds right after a failed open",
    ];
    if !put.ok() {
        round.violation("a put into a fresh store succeeds", vec![put.describe()]);
        round.stop_before(&LATER);
        return Ok(());
    }
    let Some(files) = round.store("store") else {
        round.stop_before(&LATER);
        return Ok(());
    };
    let listed = files.files();
    for file in listed.iter().flatten() {
        let len = round.rng.random_range(1..64);
        let garbage: Vec<u8> = (0..len).map(|_| round.rng.random()).collect();
        if let Err(refusal) = files.overwrite(file, &garbage) {
            round.refused(refusal);
            round.stop_before(&LATER);
            return Ok(());
        }
    }
    if let Err(refusal) = listed {
        round.refused(refusal);
        round.stop_before(&LATER);
        return Ok(());
    }
    let store_real = files.real_path().unwrap_or_else(|| store.clone());

    let ops = vec![
        Op::Open {
            store: store.clone()
        };
        racers.len()
    ];
    let opens = race(racers, ops, &mut round.rng)?;
    for open in opens.iter().filter(|open| open.ok()) {
        round.violation(
            "opening a store whose every file is garbage fails with a coded error",
            vec![open.describe()],
        );
    }
    // Helpers that left their actor's tree count for every actor: the runner cannot tell
    // whose they were.
    let escaped = reaper::escaped();
    for (racer, open) in racers.iter().zip(&opens) {
        let mut pids = procfs::process_tree(racer.pid());
        pids.extend(&escaped);
        let handles = procfs::files_held_inside(&pids, &store_real);
        if handles.unreadable.contains(&racer.pid()) {
            round.skip = Some(format!(
                "cannot read /proc/{}/fd of the adapter (not Linux, or no permission)",
                racer.pid()
            ));
            return Ok(());
        }
        if !handles.unreadable.is_empty() {
            round.violation(
                "every process of the adapter lets the runner see its descriptors (/proc/<pid>/fd)",
                vec![
                    open.describe(),
                    format!("  unreadable: pids {:?}", handles.unreadable),
                ],
            );
        }
        if !handles.held.is_empty() {
            let mut replies = vec![open.describe()];
            replies.extend(
                handles
                    .held
                    .iter()
                    .map(|h| format!("  pid {} fd {} → {}", h.pid, h.fd, h.target.display())),
            );
            round.violation(
                "a failed open releases every handle inside the store",
                replies,
            );
        }
    }
    let destroy = call(&mut racers[0], Op::Destroy { store })?;
    if !destroy.ok() {
        let mut replies = describe_all(&opens);
        replies.push(destroy.describe());
        round.violation("destroy succeeds right after a failed open", replies);
    }
    Ok(())
}

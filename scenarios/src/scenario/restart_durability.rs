//! restart-durability (seeds 001, 003): a secret put by one process is read back, unchanged,
//! by a new process after the first one has exited, with the key from the store's own key
//! file and with the key from `KEYRACE_MASTER_KEY`.
//!
//! Actors: a writer puts and exits (EOF on stdin, exit 0); a new reader, started with the same
//! environment, reads.

use rand::Rng;

use super::{call, Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::{Actor, ActorError, ActorSpec};
use crate::protocol::{Op, OpName};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::RestartDurability,
    summary:
        "put, stop the actor, start a new one, get: same value (key file, and KEYRACE_MASTER_KEY)",
    needs: &[OpName::Put, OpName::Get],
    needs_key: false,
    default_rounds: 3,
    mode: Mode::Stochastic,
    run_round,
};

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let master_key = hex::encode(round.rng.random::<[u8; 32]>());
    for (case, key) in [("key-file", None), ("master-key", Some(master_key))] {
        let store = round.path(case);
        let spec = ActorSpec {
            master_key: key,
            ..env.spec(&format!("writer ({case})"))
        };
        let value = round.value(case);
        let mut writer = Actor::spawn(&spec)?;
        let put = call(
            &mut writer,
            Op::Put {
                store: store.clone(),
                name: "secret".to_owned(),
                value: value.clone(),
            },
        )?;
        writer.stop()?;
        if !put.ok() {
            round.violation("a put into a fresh store succeeds", vec![put.describe()]);
            continue;
        }
        let mut reader = Actor::spawn(&ActorSpec {
            label: format!("new reader ({case})"),
            ..spec
        })?;
        let get = call(
            &mut reader,
            Op::Get {
                store,
                name: "secret".to_owned(),
            },
        )?;
        if get.value() != Some(Some(value.as_str())) {
            round.violation(
                format!("a secret survives a restart ({case})"),
                vec![put.describe(), get.describe()],
            );
        }
        if let (Some(a), Some(b)) = (put.key_id(), get.key_id()) {
            if a != b {
                round.violation(
                    format!("a restarted process uses the same key ({case})"),
                    vec![put.describe(), get.describe()],
                );
            }
        }
    }
    Ok(())
}

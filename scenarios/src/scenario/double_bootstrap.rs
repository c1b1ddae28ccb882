//! double-bootstrap (seed 002): when N processes consume one one-time bootstrap grace at
//! once, exactly one of them wins, and every later consume loses.
//!
//! Actors: the N racers consume a fresh token in a fresh ledger directory at once; the
//! verifier consumes it once more afterwards.

use rand::Rng;

use super::{describe_all, Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::protocol::{Op, OpName};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::DoubleBootstrap,
    summary:
        "N actors consume one bootstrap token at once: exactly one wins, a later consume loses",
    needs: &[OpName::Consume],
    needs_key: false,
    default_rounds: 300,
    mode: Mode::Race,
    run_round,
};

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let store = round.path("ledger");
    let token = format!("token-{:016x}", round.rng.random::<u64>());
    let ops = vec![
        Op::Consume {
            store: store.clone(),
            token: token.clone(),
        };
        env.actors
    ];
    let consumes = env.race(ops, &mut round.rng)?;
    let winners = consumes.iter().filter(|c| c.won() == Some(true)).count();
    if winners != 1 {
        let mut replies = describe_all(&consumes);
        replies.push(format!("runner: {winners} winners"));
        round.violation("exactly one of the racing consumers wins", replies);
    }
    let later = env.verify(Op::Consume { store, token })?;
    if winners > 0 && later.won() != Some(false) {
        let mut replies = describe_all(&consumes);
        replies.push(later.describe());
        round.violation(
            "a consume after the grace was used loses (won: false)",
            replies,
        );
    }
    Ok(())
}

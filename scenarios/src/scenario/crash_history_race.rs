//! crash-history-race: durable linearizability of racing actors. The actors race their first
//! puts into a fresh store (so they race to create its key and metadata), then race to
//! consume one token, one store call at a time in the explorer's order, while every actor's
//! calls are recorded. After a power loss at any point of any schedule, the verifier's reads
//! must fit one order of the operations that holds every acknowledged one.
//!
//! What a writer alone cannot show: an actor that finds a file a racer published and answers
//! from it before the racer made it durable (a key or metadata it encrypts under, a grace it
//! reports spent). Its answer is acknowledged; the file may vanish in the power loss.
//!
//! Actors: the racers (traced, controlled), then the verifier, which reads every name and
//! consumes the token in each crash state (a copy: the real store is untouched). Runs only in
//! the full mode (crash states need the tracer).

use keyrace_history::history::Partition;
use keyrace_history::{History, Outcome};

use super::history::{explain, operation, verify_into, Explained};
use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::crash::states::CrashState;
use crate::finding::{Finding, Invariant};
use crate::protocol::{Op, OpName};
use crate::scenario::crash::judge::{judge_states, Broken};
use crate::scenario::crash::recording::{record_races, Recorded};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::CrashHistoryRace,
    summary: "power loss in every schedule of racing first puts and consumes: every crash state fits one order holding every actor's acknowledged operations",
    needs: &[OpName::Open, OpName::Put, OpName::Get],
    needs_key: false,
    // Every schedule without a preemption and with one, for a store like the reference.
    default_rounds: 80,
    mode: Mode::TracedRace,
    run_round,
};

pub const INVARIANT: Invariant = Invariant::new(
    "after a power loss during a race, the store holds the state of one \
     order of the operations that contains every acknowledged one: no actor answers from a \
     racer's file that the power loss can take back",
);

/// After a power loss, a name with an acknowledged write reads back (a refusal hides it).
pub const READS: Invariant = Invariant::new(
    "after a power loss during a race, the store answers a read of every \
     name it acknowledged a write to",
);

const NAMES: [&str; 2] = ["h0", "h1"];
const TOKEN: &str = "grace";

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let store = round.path("store");
    let racers = env.racer_slots()?.len();
    let mut races = vec![(0..racers)
        .map(|i| Op::Put {
            store: store.clone(),
            name: NAMES[i % NAMES.len()].to_owned(),
            value: round.value("r"),
        })
        .collect::<Vec<_>>()];
    if env.supports(OpName::Consume)? {
        races.push(
            (0..racers)
                .map(|_| Op::Consume {
                    store: store.clone(),
                    token: TOKEN.to_owned(),
                })
                .collect(),
        );
    }
    let sizes: Vec<usize> = races.iter().map(Vec::len).collect();
    let Some(recorded) = record_races(env, round, races)? else {
        return Ok(());
    };
    if !recorded.succeeded(
        round,
        "racing puts into a fresh store and racing consumes succeed",
    ) {
        return Ok(());
    }
    let verifier = racers;
    let mut undecided = None;
    let mut judge = |env: &mut Env<'_>,
                     dir: &std::path::Path,
                     state: &CrashState|
     -> Result<Broken, ActorError> {
        let mut seen = crashed_history(&recorded, &sizes, state);
        let mut at = seen
            .operations
            .iter()
            .map(|op| op.completed)
            .max()
            .unwrap_or(0)
            + 1;
        let mut broken = Vec::new();
        for name in NAMES {
            let acked_write = seen.operations.iter().any(|op| {
                op.call.writes()
                    && op.call.partition() == Partition::Name(name)
                    && matches!(op.outcome, Outcome::Ok(_))
            });
            let read = Op::Get {
                store: dir.to_owned(),
                name: name.to_owned(),
            };
            let get = verify_into(env, &mut seen, verifier, read, &mut at)?;
            if !get.ok() && acked_write {
                let mut lines = vec![get.describe()];
                lines.extend(recorded.answered_after_lost(state));
                broken.push(Finding::new(READS, lines));
            }
        }
        if sizes.len() > 1 {
            let consume = Op::Consume {
                store: dir.to_owned(),
                token: TOKEN.to_owned(),
            };
            verify_into(env, &mut seen, verifier, consume, &mut at)?;
        }
        match explain(&seen, verifier) {
            Explained::Linearizable => {}
            Explained::Undecided(reason) => {
                undecided.get_or_insert(reason);
            }
            Explained::Fails { mut lines, .. } => {
                lines.push(format!(
                    "actors 0 to {} are the racers, actor {verifier} the verifier; {} of \
                         the racers' {} operations were acknowledged before the power loss",
                    racers - 1,
                    recorded.acknowledged(state).len(),
                    recorded.replies.len()
                ));
                lines.extend(recorded.answered_after_lost(state));
                broken.push(Finding::new(INVARIANT, lines));
            }
        }
        Ok(broken)
    };
    judge_states(env, round, "store", &recorded, &mut judge)?;
    if let Some(reason) = undecided {
        round.skip = Some(format!("round {}: {reason}", round.index));
    }
    Ok(())
}

/// The racers' operations as a power loss after `state` left them. The races ran one after
/// the other, each one's operations invoked together and completed in the order of their
/// acknowledgements. An acknowledged operation took effect; one invoked but not acknowledged
/// may have (info); a race not yet begun is not in the history.
fn crashed_history(recorded: &Recorded, sizes: &[usize], state: &CrashState) -> History {
    let acked = recorded.acknowledged(state);
    let mut history = History::default();
    let (mut first, mut clock) = (0usize, 0u64);
    for &size in sizes {
        let race = first..first + size;
        // A race begins once every operation of the one before is acknowledged.
        if race.start > 0 && (0..race.start).any(|i| !acked.contains(&i)) {
            break;
        }
        let invoked = clock;
        let mut completed = invoked;
        let mut in_flight = Vec::new();
        for &i in acked.iter().filter(|i| race.contains(*i)) {
            completed += 1;
            if let Some(op) = operation(i - first, &recorded.replies[i], invoked, completed) {
                history.operations.push(op);
            }
        }
        for i in race.clone().filter(|i| !acked.contains(i)) {
            in_flight.push(i);
        }
        for i in in_flight {
            completed += 1;
            if let Some(mut op) = operation(i - first, &recorded.replies[i], invoked, completed) {
                op.outcome = Outcome::Info;
                history.operations.push(op);
            }
        }
        clock = completed + 1;
        first = race.end;
    }
    history
}

//! What the crash-state scenarios share: record one operation of a traced writer, build every
//! state a power loss could leave after it (both persistence profiles), and judge each state
//! with the verifier, which reads it from a directory of its own.
//!
//! For a put or a delete, a state passes when every secret acknowledged before reads back
//! exactly, the secret in flight holds its old or its new value (its new value, or nothing
//! for a delete, once the operation was acknowledged), and the store opens or refuses with a
//! coded error. For a consume, an acknowledged win stays consumed. A wrong value, or an
//! uncoded error, always fails.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use super::{Env, Exchange, Round};
use crate::actor::ActorError;
use crate::crash::materialize::materialize;
use crate::crash::ops::{FsOp, Snapshot};
use crate::crash::record::Recorder;
use crate::crash::states::{enumerate, CrashState, Limits, Profile};
use crate::protocol::{Code, Op};

/// The profiles every recording is judged under, by name and in a sentence.
pub const PROFILE_NAMES: [&str; 2] = ["portable", "ext4-ordered"];
const PROFILES: [(Profile, &str); 2] = [
    (
        Profile::Portable,
        "portable profile (ALICE: unsynced operations may be lost, writes torn, renames split)",
    ),
    (
        Profile::Ext4Ordered,
        "ext4 data=ordered profile (directory operations persist in order, data may be lost)",
    ),
];

/// Violating states reported per round: the rest are counted.
const STATES_REPORTED: usize = 3;

/// Recorded calls shown with a violating state.
const OPS_SHOWN: usize = 40;

pub const ACKED: &str =
    "after a power loss, every secret acknowledged before it reads back exactly";
pub const IN_FLIGHT: &str = "after a power loss, the secret being written holds its old value \
    or its new value (its new value once the operation was acknowledged), never anything else";
pub const OPENS: &str =
    "after a power loss, the store opens or refuses with a coded error, never an uncoded one";
pub const CONSUMED: &str =
    "after a power loss, an acknowledged consume stays consumed (the grace is never granted twice)";

/// What a put or delete must leave.
pub struct Expectation {
    /// Secrets acknowledged before the operation: (name, value).
    pub acked: Vec<(String, String)>,
    /// The secret the operation changes: its value before (if any), after (`None`: deleted).
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// One recorded operation: the directory before, the calls, the reply.
pub struct Recorded {
    snapshot: Snapshot,
    ops: Vec<FsOp>,
    pub reply: Exchange,
}

/// A broken invariant in one crash state, with the replies that show it.
pub type Broken = Vec<(&'static str, Vec<String>)>;

/// Record `op` by the writer (racer 0). `None` when the round cannot judge it (the reason is
/// in `round.skip`).
pub fn record(
    env: &mut Env<'_>,
    round: &mut Round,
    op: Op,
) -> Result<Option<Recorded>, ActorError> {
    let writer = env.racer_slots()?[0];
    // Started before the recording, so its start-up is not recorded.
    env.verifier_slot()?;
    let Some(controlled) = env.controlled.as_mut() else {
        round.skip = Some("crash states need the tracer (the full mode)".to_owned());
        return Ok(None);
    };
    let root = match std::fs::canonicalize(&round.dir) {
        Ok(root) => root,
        Err(e) => {
            round.skip = Some(format!("cannot resolve {} ({e})", round.dir.display()));
            return Ok(None);
        }
    };
    let (recorder, snapshot) = match Recorder::start(&round.area, &root, writer) {
        Ok(started) => started,
        Err(e) => {
            round.skip = Some(format!("cannot snapshot {} ({e})", root.display()));
            return Ok(None);
        }
    };
    controlled
        .tracer
        .set_observer(Some(Box::new(recorder.clone())));
    let reply = controlled.tracer.call(writer, &op);
    controlled.tracer.set_observer(None);
    let recording = recorder.finish();
    let reply = Exchange {
        actor: "writer".to_owned(),
        op,
        reply: reply?,
    };
    if !recording.unsupported.is_empty() {
        round.skip = Some(format!(
            "unsupported, not judged: {}",
            recording.unsupported.join("; ")
        ));
        return Ok(None);
    }
    Ok(Some(Recorded {
        snapshot,
        ops: recording.ops,
        reply,
    }))
}

/// Build every crash state of `recorded`, write each into a directory of its own and let
/// `judge` read it (with the store at `<state>/<store_rel>`).
pub fn judge_states(
    env: &mut Env<'_>,
    round: &mut Round,
    store_rel: &str,
    recorded: &Recorded,
    judge: &mut dyn FnMut(&mut Env<'_>, &Path, &CrashState) -> Result<Broken, ActorError>,
) -> Result<(), ActorError> {
    let ops = &recorded.ops;
    let states = match round.area.create("states", 0o700) {
        Ok(states) => states,
        Err(e) => {
            round.skip = Some(format!(
                "cannot create {} ({e})",
                round.dir.join("states").display()
            ));
            return Ok(());
        }
    };
    // Every distinct state of both profiles first, so progress can say "k of n".
    let mut seen = HashSet::new();
    let mut distinct = Vec::new();
    let mut cut_short = Vec::new();
    for ((profile, profile_text), profile_name) in PROFILES.into_iter().zip(PROFILE_NAMES) {
        let enumeration = enumerate(&recorded.snapshot, ops, profile, &Limits::default());
        for why in enumeration.cut_short {
            cut_short.push(format!("{why} (the {profile_name} profile)"));
        }
        for state in enumeration.states {
            if seen.insert((state.tree.digest(), state.acked)) {
                distinct.push((profile_text, state));
            }
        }
    }
    let total = distinct.len();
    let mut judged = 0usize;
    let mut violating = 0usize;
    for (profile_text, state) in &distinct {
        if judged > 0 && env.deadline.is_some_and(|d| Instant::now() >= d) {
            cut_short.push(format!(
                "the time budget ran out after {judged} of {total} distinct crash states"
            ));
            break;
        }
        if violating > 0 && env.cfg.fail_fast {
            cut_short.push(format!(
                "--fail-fast stopped at the first violating state, after {judged} of {total}"
            ));
            break;
        }
        env.ticker.detail(&format!(
            "round {}: judging crash state {} of {total}",
            round.index + 1,
            judged + 1
        ));
        let name = judged.to_string();
        judged += 1;
        let written = states
            .create(&name, 0o700)
            .and_then(|area| materialize(&state.tree, area.dir()).map(|()| area));
        let broken = match written {
            Ok(area) => judge(env, &area.path().join(store_rel), state)?,
            Err(e) => vec![(
                OPENS,
                vec![format!("runner: cannot write the crash state ({e})")],
            )],
        };
        let _ = states.remove_all(&name);
        if broken.is_empty() {
            continue;
        }
        violating += 1;
        if violating > STATES_REPORTED {
            continue;
        }
        for (invariant, replies) in broken {
            let mut lines = vec![format!("state: {}", state.describe(ops))];
            lines.push(format!("under the {profile_text}"));
            lines.extend(replies);
            lines.push("the writer's recorded calls:".to_owned());
            lines.extend(
                ops.iter()
                    .enumerate()
                    .take(OPS_SHOWN)
                    .map(|(i, op)| format!("  {i}: {}", op.describe())),
            );
            round.violation(invariant, lines);
        }
    }
    if let Some(controlled) = env.controlled.as_mut() {
        controlled.crash.recordings += 1;
        controlled.crash.states_judged += judged as u64;
        controlled.crash.states_violating += violating as u64;
        for why in cut_short {
            if !controlled.crash.cut_short.contains(&why) {
                controlled.crash.cut_short.push(why);
            }
        }
    }
    Ok(())
}

/// The judge of a put or delete: open, every acknowledged secret, the one in flight.
pub fn judge_secrets<'e>(
    expect: &'e Expectation,
) -> impl FnMut(&mut Env<'_>, &Path, &CrashState) -> Result<Broken, ActorError> + 'e {
    move |env, store, state| {
        let mut broken = Vec::new();
        let opened = env.verify(Op::Open {
            store: store.to_owned(),
        })?;
        if is_uncoded(&opened) {
            broken.push((OPENS, vec![opened.describe()]));
        }
        for (name, value) in &expect.acked {
            let get = env.verify(Op::Get {
                store: store.to_owned(),
                name: name.clone(),
            })?;
            if get.value() != Some(Some(value.as_str())) {
                broken.push((ACKED, vec![get.describe()]));
            }
        }
        let get = env.verify(Op::Get {
            store: store.to_owned(),
            name: expect.name.clone(),
        })?;
        let is_old = |value: Option<&str>| value == expect.old.as_deref();
        let fine = match get.value() {
            Some(value) if value == expect.new.as_deref() => true,
            Some(value) => !state.acked && is_old(value),
            // A coded refusal is allowed while nothing that was acknowledged is at stake.
            None => {
                !state.acked && expect.acked.is_empty() && expect.old.is_none() && !is_uncoded(&get)
            }
        };
        if !fine {
            broken.push((IN_FLIGHT, vec![get.describe()]));
        }
        Ok(broken)
    }
}

/// The judge of a consume of `token` that won: once acknowledged, a later consume loses.
pub fn judge_consumed(
    token: &str,
) -> impl FnMut(&mut Env<'_>, &Path, &CrashState) -> Result<Broken, ActorError> + '_ {
    move |env, store, state| {
        let again = env.verify(Op::Consume {
            store: store.to_owned(),
            token: token.to_owned(),
        })?;
        let mut broken = Vec::new();
        if is_uncoded(&again) {
            broken.push((OPENS, vec![again.describe()]));
        } else if state.acked && again.won() == Some(true) {
            broken.push((CONSUMED, vec![again.describe()]));
        }
        Ok(broken)
    }
}

fn is_uncoded(exchange: &Exchange) -> bool {
    matches!(&exchange.reply.outcome, Err(f) if matches!(f.code, Code::Unknown(_)))
}

//! What the crash-state scenarios share: record one operation of a traced writer, build every
//! state a power loss could leave after it (both persistence profiles), and judge each state
//! with the verifier, which reads it from a directory of its own.
//!
//! A state passes when every secret acknowledged before the operation reads back exactly, the
//! secret in flight holds its old or its new value (its new value once the operation was
//! acknowledged), and the store opens or refuses with a coded error. A wrong value, or an
//! uncoded error, always fails.

use std::collections::HashSet;

use super::{Env, Exchange, Round};
use crate::actor::ActorError;
use crate::crash::materialize::materialize;
use crate::crash::record::Recorder;
use crate::crash::states::{enumerate, CrashState, Limits, Profile};
use crate::protocol::{Code, Op};

/// The profiles every recording is judged under, strongest guarantee last.
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

/// What the judged operation must leave.
pub struct Expectation {
    /// Secrets acknowledged before the operation: (name, value).
    pub acked: Vec<(String, String)>,
    /// The secret the operation writes: its name, its value before (if any), its new value.
    pub name: String,
    pub old: Option<String>,
    pub new: String,
}

pub const ACKED: &str =
    "after a power loss, every secret acknowledged before it reads back exactly";
pub const IN_FLIGHT: &str = "after a power loss, the secret being written holds its old value \
    or its new value (its new value once the put was acknowledged), never anything else";
pub const OPENS: &str =
    "after a power loss, the store opens or refuses with a coded error, never an uncoded one";

/// Record `op` by the writer (racer 0), then judge every crash state. `store` is the store
/// path inside the round directory (`round.dir/<rel>`).
pub fn record_and_judge(
    env: &mut Env<'_>,
    round: &mut Round,
    store_rel: &str,
    op: Op,
    expect: &Expectation,
) -> Result<(), ActorError> {
    let writer = env.racer_slots()?[0];
    // Started before the recording, so its start-up is not recorded.
    env.verifier_slot()?;
    let Some(controlled) = env.controlled.as_mut() else {
        round.skip = Some("crash states need the tracer (--explore)".to_owned());
        return Ok(());
    };
    let root = match std::fs::canonicalize(&round.dir) {
        Ok(root) => root,
        Err(e) => {
            round.skip = Some(format!("cannot resolve {} ({e})", round.dir.display()));
            return Ok(());
        }
    };
    let (recorder, snapshot) = match Recorder::start(&root, writer) {
        Ok(started) => started,
        Err(e) => {
            round.skip = Some(format!("cannot snapshot {} ({e})", root.display()));
            return Ok(());
        }
    };
    controlled
        .tracer
        .set_observer(Some(Box::new(recorder.clone())));
    let reply = controlled.tracer.call(writer, &op);
    controlled.tracer.set_observer(None);
    let recording = recorder.finish();
    let put = Exchange {
        actor: "writer".to_owned(),
        op,
        reply: reply?,
    };
    if !put.ok() {
        round.violation("puts into a healthy store succeed", vec![put.describe()]);
        round.stop_before(&[ACKED, IN_FLIGHT, OPENS]);
        return Ok(());
    }
    if !recording.unsupported.is_empty() {
        round.skip = Some(format!(
            "unsupported, not judged: {}",
            recording.unsupported.join("; ")
        ));
        return Ok(());
    }
    let ops = recording.ops;
    let mut seen = HashSet::new();
    let mut judged = 0usize;
    let mut reported = 0usize;
    let mut unreported = 0usize;
    for (profile, profile_text) in PROFILES {
        let enumeration = enumerate(&snapshot, &ops, profile, &Limits::default());
        for state in enumeration.states {
            if !seen.insert((state.tree.digest(), state.acked)) {
                continue;
            }
            let dir = round.dir.join("states").join(judged.to_string());
            judged += 1;
            let broken = judge(env, &dir, store_rel, &state, expect)?;
            let _ = std::fs::remove_dir_all(&dir);
            for (invariant, replies) in broken {
                if reported >= STATES_REPORTED {
                    unreported += 1;
                    continue;
                }
                reported += 1;
                let mut lines = vec![format!("state: {}", state.describe(&ops))];
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
    }
    if let Some(controlled) = env.controlled.as_mut() {
        controlled.states_judged += judged as u64;
        controlled.states_violating += (reported + unreported) as u64;
    }
    Ok(())
}

/// Judge one state: materialise it under `dir` and read it with the verifier.
fn judge(
    env: &mut Env<'_>,
    dir: &std::path::Path,
    store_rel: &str,
    state: &CrashState,
    expect: &Expectation,
) -> Result<Vec<(&'static str, Vec<String>)>, ActorError> {
    let mut broken = Vec::new();
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| materialize(&state.tree, dir)) {
        broken.push((
            OPENS,
            vec![format!("runner: cannot write the crash state ({e})")],
        ));
        return Ok(broken);
    }
    let store = dir.join(store_rel);
    let opened = env.verify(Op::Open {
        store: store.clone(),
    })?;
    if let Err(failure) = &opened.reply.outcome {
        if let Code::Unknown(_) = failure.code {
            broken.push((OPENS, vec![opened.describe()]));
        }
    }
    for (name, value) in &expect.acked {
        let get = env.verify(Op::Get {
            store: store.clone(),
            name: name.clone(),
        })?;
        if get.value() != Some(Some(value.as_str())) {
            broken.push((ACKED, vec![get.describe()]));
        }
    }
    let get = env.verify(Op::Get {
        store,
        name: expect.name.clone(),
    })?;
    let fine = match get.value() {
        Some(Some(value)) if value == expect.new => true,
        Some(Some(value)) => !state.acked && expect.old.as_deref() == Some(value),
        // Absent: right only for a secret that did not exist and was not acknowledged.
        Some(None) => !state.acked && expect.old.is_none(),
        // A coded refusal is allowed while nothing that was acknowledged is at stake.
        None => {
            !state.acked
                && expect.acked.is_empty()
                && matches!(&get.reply.outcome, Err(f) if matches!(f.code, Code::Known(_)))
        }
    };
    if !fine {
        broken.push((IN_FLIGHT, vec![get.describe()]));
    }
    Ok(broken)
}

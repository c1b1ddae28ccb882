//! Recording operations of traced actors for the crash-state scenarios: the directory before,
//! every file-system call of the recorded actors, and which reply each acknowledgement stands
//! for, so that a crash state knows what was acknowledged before the power loss.

use std::collections::HashMap;

use crate::actor::ActorError;
use crate::crash::ops::{FsOp, Snapshot};
use crate::crash::record::Recorder;
use crate::crash::states::CrashState;
use crate::protocol::Op;
use crate::scenario::{Env, Exchange, Round};

/// Recorded calls shown with a violating state.
const OPS_SHOWN: usize = 40;

/// A recording: the directory before, the calls, the reply of each operation recorded.
pub struct Recorded {
    pub(super) snapshot: Snapshot,
    pub(super) ops: Vec<FsOp>,
    /// Who made each op (`None`: the one writer).
    actors: Option<Vec<usize>>,
    /// The reply each `FsOp::Ack` of `ops` stands for, in order: an index into `replies`.
    acks: Vec<usize>,
    /// One per operation, in order; never empty.
    pub replies: Vec<Exchange>,
}

impl Recorded {
    /// The reply of the (last) operation recorded.
    pub fn reply(&self) -> &Exchange {
        &self.replies[self.replies.len() - 1]
    }

    /// Whether every recorded operation succeeded; otherwise the first failure breaks
    /// `invariant` in `round`.
    pub fn succeeded(&self, round: &mut Round, invariant: &'static str) -> bool {
        match self.replies.iter().find(|r| !r.ok()) {
            Some(failed) => {
                round.violation(invariant, vec![failed.describe()]);
                false
            }
            None => true,
        }
    }

    /// The replies acknowledged before the power loss of `state` (indexes into `replies`).
    pub fn acknowledged(&self, state: &CrashState) -> &[usize] {
        &self.acks[..state.acks.min(self.acks.len())]
    }

    /// For a racing recording: each acknowledgement that came after another actor's operation
    /// which the power loss of `state` took back, in words (at most three). Such an answer may
    /// rest on a file that actor published but had not yet made durable.
    pub fn answered_after_lost(&self, state: &CrashState) -> Vec<String> {
        let Some(actors) = &self.actors else {
            return Vec::new();
        };
        let mut lines = Vec::new();
        for (k, op) in self.ops.iter().enumerate().take(state.crash_after) {
            if !matches!(op, FsOp::Ack) {
                continue;
            }
            let Some(&answerer) = actors.get(k) else {
                continue;
            };
            for &m in state.lost.iter().filter(|&&m| m < k) {
                let Some(&maker) = actors.get(m).filter(|&&maker| maker != answerer) else {
                    continue;
                };
                lines.push(format!(
                    "actor {answerer} answered (op {k}) after actor {maker}'s op {m} ({}), which \
                     the power loss took back: an answer that rests on another process's file \
                     must make it durable first (fsync its directory) before it is given",
                    self.ops[m].describe()
                ));
            }
        }
        lines.truncate(3);
        lines
    }

    /// The recorded calls, as a violation shows them.
    pub(super) fn calls(&self) -> Vec<String> {
        let mut lines = vec![match self.actors {
            None => "the writer's recorded calls:".to_owned(),
            Some(_) => "the recorded calls of every actor, in the order they ran:".to_owned(),
        }];
        lines.extend(self.ops.iter().enumerate().take(OPS_SHOWN).map(|(i, op)| {
            match self.actors.as_ref().and_then(|a| a.get(i)) {
                Some(slot) => format!("  {i}: actor {slot}: {}", op.describe()),
                None => format!("  {i}: {}", op.describe()),
            }
        }));
        if self.ops.len() > OPS_SHOWN {
            lines.push(format!("  … {} more", self.ops.len() - OPS_SHOWN));
        }
        lines
    }
}
/// Record `op` by the writer (racer 0). `None` when the round cannot judge it (the reason is
/// in `round.skip`).
pub fn record(
    env: &mut Env<'_>,
    round: &mut Round,
    op: Op,
) -> Result<Option<Recorded>, ActorError> {
    record_all(env, round, vec![op])
}

/// Record `ops` by the writer (racer 0), one after the other, each acknowledged by its reply:
/// a crash state knows how many were (`CrashState::acks`).
pub fn record_all(
    env: &mut Env<'_>,
    round: &mut Round,
    ops: Vec<Op>,
) -> Result<Option<Recorded>, ActorError> {
    if ops.is_empty() {
        round.skip = Some("nothing to record".to_owned());
        return Ok(None);
    }
    let writer = env.racer_slots()?.first().copied();
    let Some((recorder, snapshot)) = start_recording(env, round, writer.as_slice())? else {
        return Ok(None);
    };
    // Recording started, so the tracer is there and holds the writer.
    let (Some(writer), Some(controlled)) = (writer, env.controlled.as_mut()) else {
        return Ok(None);
    };
    let mut replies = Vec::with_capacity(ops.len());
    for op in ops {
        recorder.next_request();
        let called = controlled.tracer.call(writer, &op);
        let reply = match called {
            Ok(reply) => reply,
            Err(e) => {
                controlled.tracer.set_observer(None);
                return Err(e);
            }
        };
        replies.push(Exchange {
            actor: "writer".to_owned(),
            op,
            reply,
        });
    }
    let slots = vec![writer; replies.len()];
    Ok(finish_recording(
        env, round, &recorder, snapshot, replies, &slots, false,
    ))
}

/// Record the races of `races` (each a race of `ops[i]` by racer `i`, in the order the
/// explorer picks): every actor's calls, and each reply, so that a crash state knows which
/// actors' operations were acknowledged.
pub fn record_races(
    env: &mut Env<'_>,
    round: &mut Round,
    races: Vec<Vec<Op>>,
) -> Result<Option<Recorded>, ActorError> {
    let slots = env.racer_slots()?;
    let Some((recorder, snapshot)) = start_recording(env, round, &slots)? else {
        return Ok(None);
    };
    let mut replies = Vec::new();
    let mut reply_slots = Vec::new();
    for ops in races {
        recorder.next_request();
        let raced = env.race(ops, &mut round.rng);
        let exchanges = match raced {
            Ok(exchanges) => exchanges,
            Err(e) => {
                if let Some(controlled) = env.controlled.as_mut() {
                    controlled.tracer.set_observer(None);
                }
                return Err(e);
            }
        };
        reply_slots.extend(slots.iter().take(exchanges.len()));
        replies.extend(exchanges);
    }
    Ok(finish_recording(
        env,
        round,
        &recorder,
        snapshot,
        replies,
        &reply_slots,
        true,
    ))
}

/// Snapshot the round directory and record the calls of `slots` from now on. `None` (the
/// reason in `round.skip`) where the round cannot record.
fn start_recording(
    env: &mut Env<'_>,
    round: &mut Round,
    slots: &[usize],
) -> Result<Option<(Recorder, Snapshot)>, ActorError> {
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
    let (recorder, snapshot) = match Recorder::start(&round.area, &root, slots) {
        Ok(started) => started,
        Err(e) => {
            round.skip = Some(format!("cannot snapshot {} ({e})", root.display()));
            return Ok(None);
        }
    };
    controlled
        .tracer
        .set_observer(Some(Box::new(recorder.clone())));
    Ok(Some((recorder, snapshot)))
}

/// Stop recording; `replies[i]` came from the actor in `reply_slots[i]`. `None` (the reason
/// in `round.skip`) when a call could not be modelled.
fn finish_recording(
    env: &mut Env<'_>,
    round: &mut Round,
    recorder: &Recorder,
    snapshot: Snapshot,
    replies: Vec<Exchange>,
    reply_slots: &[usize],
    racing: bool,
) -> Option<Recorded> {
    if let Some(controlled) = env.controlled.as_mut() {
        controlled.tracer.set_observer(None);
    }
    let recording = recorder.finish();
    if !recording.unsupported.is_empty() {
        round.skip = Some(format!(
            "unsupported, not judged: {}",
            recording.unsupported.join("; ")
        ));
        return None;
    }
    let acks = acknowledged_replies(&recording.ops, &recording.actors, reply_slots);
    Some(Recorded {
        snapshot,
        ops: recording.ops,
        actors: racing.then_some(recording.actors),
        acks,
        replies,
    })
}

/// The reply each `FsOp::Ack` of `ops` (made by `actors[i]`) stands for, as an index into the
/// replies, `reply_slots[j]` being the actor of reply `j`: an actor's k-th acknowledgement is
/// its k-th reply.
fn acknowledged_replies(ops: &[FsOp], actors: &[usize], reply_slots: &[usize]) -> Vec<usize> {
    let mut counted: HashMap<usize, usize> = HashMap::new();
    ops.iter()
        .zip(actors)
        .filter(|(op, _)| matches!(op, FsOp::Ack))
        .filter_map(|(_, slot)| {
            let k = counted.entry(*slot).or_default();
            *k += 1;
            reply_slots
                .iter()
                .enumerate()
                .filter(|(_, s)| *s == slot)
                .nth(*k - 1)
                .map(|(i, _)| i)
        })
        .collect()
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_acknowledgement_is_of_its_actors_next_reply() {
        let ops = [
            FsOp::SyncAll,
            FsOp::Ack,
            FsOp::SyncAll,
            FsOp::Ack,
            FsOp::Ack,
            FsOp::Ack,
        ];
        // Two races of actors 3 and 5: actor 5 answered first in the first race.
        let actors = [3, 5, 3, 3, 3, 5];
        let replies = [3, 5, 3, 5];
        assert_eq!(acknowledged_replies(&ops, &actors, &replies), [1, 0, 2, 3]);
        // One writer: its acknowledgements in order; one more than its replies counts none.
        assert_eq!(acknowledged_replies(&ops, &[1; 6], &[1, 1, 1]), [0, 1, 2]);
    }
}

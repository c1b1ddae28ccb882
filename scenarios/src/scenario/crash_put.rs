//! crash-put (seeds 003, 000): when a process is SIGKILLed in the middle of a put, every
//! secret acknowledged before still reads back exactly, the secret being written holds its old
//! or its new value (never garbage, never lost), and the store still opens.
//!
//! Actors: a fresh writer stores a few secrets and an overwritable one (large, so a write takes
//! a while), then overwrites it and is killed at a random moment of that put: either after a
//! random delay within the put's measured duration, or once its process tree has written a
//! random number of bytes (`/proc/<pid>/io`), which lands inside the data write itself. A
//! fresh reader ("the restart") then checks the store.

use std::time::{Duration, Instant};

use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

use super::{call, Env, Exchange, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::{Actor, ActorError};
use crate::procfs;
use crate::protocol::{Op, OpName, Summary};
use crate::scenario::crash::judge::which_value;

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::CrashPut,
    summary: "SIGKILL an actor during a put: acknowledged secrets survive, the killed put is old-or-new, the store opens",
    needs: &[OpName::Open, OpName::Put, OpName::Get],
    needs_key: false,
    default_rounds: 50,
    mode: Mode::Stochastic,
    run_round,
};

/// Size of the overwritten secret: large enough that writing it takes measurable time.
const BIG_VALUE_LEN: usize = 1024 * 1024;

const BIG: &str = "big";

enum Trigger {
    After(Duration),
    BytesWritten(u64),
}

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let store = round.path("store");
    let mut writer = Actor::spawn(&env.spec("writer"))?;
    let mut acked: Vec<Exchange> = Vec::new();
    for i in 0..3 {
        let put = call(
            &mut writer,
            Op::Put {
                store: store.clone(),
                name: format!("secret-{i}"),
                value: round.value(&format!("v{i}")),
            },
        )?;
        acked.push(put);
    }
    let old = big_value(round, "old");
    let started = Instant::now();
    let old_put = call(
        &mut writer,
        Op::Put {
            store: store.clone(),
            name: BIG.to_owned(),
            value: old.clone(),
        },
    )?;
    let measured = started.elapsed();
    acked.push(old_put);
    if let Some(failed) = acked.iter().find(|put| !put.ok()) {
        round.violation("puts into a healthy store succeed", vec![failed.describe()]);
        round.stop_before(&["the killed put leaves its old or its new value, and the store opens"]);
        return Ok(());
    }

    let new = big_value(round, "new");
    let trigger = if round.rng.random_bool(0.25) {
        Trigger::After(measured.mul_f64(round.rng.random_range(0.0..1.2)))
    } else {
        // Early in the data write: the kill lands a little later (the runner may be descheduled
        // in between), still inside the write.
        Trigger::BytesWritten(round.rng.random_range(1..BIG_VALUE_LEN as u64 / 2))
    };
    let in_flight = Op::Put {
        store: store.clone(),
        name: BIG.to_owned(),
        value: new.clone(),
    };
    let killed_put = put_and_kill(&mut writer, &in_flight, trigger, env.cfg.timeout)?;
    drop(writer);

    let mut reader = Actor::spawn(&env.spec("restarted reader"))?;
    let opened = call(
        &mut reader,
        Op::Open {
            store: store.clone(),
        },
    )?;
    if !opened.ok() {
        round.violation("the store opens after a crash", vec![opened.describe()]);
        round.stop_before(&[
            "every secret acknowledged before the crash reads back exactly",
            "a secret overwritten during a crash holds its old or its new value",
        ]);
        return Ok(());
    }
    for put in &acked[..3] {
        let Op::Put { name, value, .. } = &put.op else {
            continue;
        };
        let get = call(
            &mut reader,
            Op::Get {
                store: store.clone(),
                name: name.clone(),
            },
        )?;
        if get.value() != Some(Some(value.as_str())) {
            round.violation(
                "every secret acknowledged before the crash reads back exactly",
                vec![put.describe(), get.describe()],
            );
        }
    }
    let get = call(
        &mut reader,
        Op::Get {
            store,
            name: BIG.to_owned(),
        },
    )?;
    let new_acked = killed_put.as_ref().is_some_and(Exchange::ok);
    let fine = match get.value() {
        Some(Some(value)) if value == new => true,
        Some(Some(value)) if value == old => !new_acked,
        _ => false,
    };
    if !fine {
        let mut replies = vec![acked[3].describe()];
        replies.push(match &killed_put {
            Some(reply) => reply.describe(),
            None => format!("writer: {} → (killed mid-put)", in_flight.summary()),
        });
        replies.push(get.describe());
        replies.extend(which_value(
            get.value(),
            Some(new.as_str()),
            Some(old.as_str()),
        ));
        round.violation(
            "a secret overwritten during a crash holds its old or its new value",
            replies,
        );
    }
    Ok(())
}

/// A large value, unique to this round and tag (a random block repeated: cheap to make, and
/// any torn or mixed write still differs from it).
fn big_value(round: &mut Round, tag: &str) -> String {
    let block = Alphanumeric.sample_string(&mut round.rng, 64);
    let mut value = format!("{tag}-");
    while value.len() < BIG_VALUE_LEN {
        value.push_str(&block);
    }
    value.truncate(BIG_VALUE_LEN);
    value
}

/// Send `op` and SIGKILL the writer when `trigger` fires. Returns the reply if the put
/// finished first (it then counts as acknowledged or failed, not killed).
fn put_and_kill(
    writer: &mut Actor,
    op: &Op,
    trigger: Trigger,
    timeout: Duration,
) -> Result<Option<Exchange>, ActorError> {
    let mut meter = procfs::WriteMeter::new(&procfs::process_tree(writer.pid()));
    let baseline = meter.as_mut().and_then(procfs::WriteMeter::read);
    let id = writer.send(op)?;
    let started = Instant::now();
    loop {
        if let Some(reply) = writer.try_recv(id, op.name()) {
            return Ok(Some(Exchange {
                actor: writer.label().to_owned(),
                op: op.clone(),
                reply: reply?,
            }));
        }
        let fire = match trigger {
            Trigger::After(delay) => started.elapsed() >= delay,
            Trigger::BytesWritten(threshold) => {
                match (baseline, meter.as_mut().and_then(procfs::WriteMeter::read)) {
                    (Some(before), Some(now)) => now.saturating_sub(before) >= threshold,
                    // /proc unreadable (or the process is gone): fall back to a delay.
                    _ => started.elapsed() >= Duration::from_millis(2),
                }
            }
        };
        if fire {
            writer.kill();
            return Ok(None);
        }
        if started.elapsed() > timeout {
            // Let the ordinary receive path report the hang with the stderr tail.
            return writer.recv(id, op.name()).map(|reply| {
                Some(Exchange {
                    actor: writer.label().to_owned(),
                    op: op.clone(),
                    reply,
                })
            });
        }
        // Spin rather than yield: on a busy machine a yield can cost a whole time slice, and
        // the torn state of an in-place write lasts only as long as the write.
        std::hint::spin_loop();
    }
}

//! Random histories that are linearizable by construction: operations are applied to a
//! sequential store at increasing instants, and each is given an invocation before and a
//! completion after its instant, one operation in flight per actor.

use rand::{Rng, RngCore};

use crate::history::{Call, History, Operation, Outcome, Ret, Time};

/// The shape of a generated history.
#[derive(Clone, Debug)]
pub struct Shape {
    pub actors: usize,
    pub names: usize,
    pub tokens: usize,
    pub operations: usize,
    /// Out of 100: how many operations end with an unknown outcome (then applied or not, at
    /// random).
    pub info_percent: u32,
}

/// A linearizable history of `shape`, drawn from `rng`.
pub fn linearizable(rng: &mut dyn RngCore, shape: &Shape) -> History {
    let actors = shape.actors.max(1);
    let mut names: Vec<Option<String>> = vec![None; shape.names.max(1)];
    let mut spent = vec![false; shape.tokens];
    // When each slot's last operation completed. After an operation of unknown outcome its slot
    // goes on as a new actor, as Jepsen does with a crashed process: `shape.actors` operations
    // are in flight at most.
    let mut free_at: Vec<Time> = vec![0; actors];
    let mut actor_of: Vec<usize> = (0..actors).collect();
    let mut next_actor = actors;
    let mut now: Time = 0;
    let mut operations = Vec::with_capacity(shape.operations);
    for serial in 0..shape.operations {
        now += rng.random_range(1..=10);
        let ready: Vec<usize> = (0..actors).filter(|&a| free_at[a] < now).collect();
        let slot = if ready.is_empty() {
            // Wait for the first slot to be free.
            let first = free_at.iter().copied().min().unwrap_or_default();
            now = first + 1;
            free_at.iter().position(|&t| t == first).unwrap_or_default()
        } else {
            ready[rng.random_range(0..ready.len())]
        };
        let since = free_at[slot] + 1;
        let invoked = rng.random_range(since.min(now)..=now);
        let completed = now + rng.random_range(0..=40);
        let info = rng.random_range(0..100) < shape.info_percent;
        let applied = !info || rng.random_bool(0.5);
        let pick = rng.random_range(0..100);
        let (call, ret) = if shape.tokens > 0 && pick < 15 {
            let t = rng.random_range(0..shape.tokens);
            let won = !spent[t];
            if applied {
                spent[t] = true;
            }
            (
                Call::Consume {
                    token: format!("t{t}"),
                },
                Ret::Won(won),
            )
        } else {
            let n = rng.random_range(0..names.len());
            let name = format!("n{n}");
            match pick % 4 {
                0 | 1 => {
                    let value = format!("v{serial}");
                    if applied {
                        names[n] = Some(value.clone());
                    }
                    (Call::Put { name, value }, Ret::Done)
                }
                2 => (Call::Get { name }, Ret::Value(names[n].clone())),
                _ => {
                    if applied {
                        names[n] = None;
                    }
                    (Call::Delete { name }, Ret::Done)
                }
            }
        };
        let outcome = if info {
            Outcome::Info
        } else {
            Outcome::Ok(ret)
        };
        let actor = actor_of[slot];
        // A slot is free again after its operation completed; after an unknown outcome, as a
        // new actor.
        free_at[slot] = completed;
        if info {
            actor_of[slot] = next_actor;
            next_actor += 1;
        }
        operations.push(Operation {
            actor,
            call,
            outcome,
            invoked,
            completed,
        });
    }
    History { operations }
}

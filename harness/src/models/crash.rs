//! Crash at every filesystem step, then restart: the rows `crash-keygen` and `crash-put`
//! (seed 003).
//!
//! Each model first runs its actor once to count its steps `n`, then, for every `k` in `0..=n`
//! and every [`CrashMode`], runs it on a fresh filesystem where its process dies before step
//! `k + 1`, applies the power loss, and checks the restarted state. `k = n` is the crash right
//! after the actor returned, which is what tests that an acknowledgement was durable.

use keyrace_core::keyfile::KEY_FILE;

use super::keygen::{fresh_home, key_dir, Keygen};
use super::put::{fresh_store, master, store_dir, Put};
use super::{check, show};
use crate::simfs::{CrashMode, Semantics, SimFs};

/// Run `scenario(fs)` crashing actor `A` after every possible number of steps.
fn at_every_step(fresh: impl Fn() -> SimFs, scenario: impl Fn(&SimFs, Option<CrashMode>)) {
    let probe = fresh();
    scenario(&probe, None);
    let steps = probe.op_count("A");
    for mode in CrashMode::ALL {
        for k in 0..=steps {
            let fs = fresh();
            fs.crash_actor_after("A", k);
            scenario(&fs, Some(mode));
        }
    }
}

/// **crash-keygen.** Invariant: after a crash at any step of key creation and a restart, the
/// key loads without error, and if the key had been handed out it is the same key.
pub fn crash_keygen(keygen: Keygen) -> impl Fn() + Send + Sync + 'static {
    move || {
        const INVARIANT: &str = "after a crash and restart the key loads, and a key that was \
                                 handed out before the crash is the key after it";
        at_every_step(
            || fresh_home(Semantics::Posix),
            |fs, crash| {
                let dir = key_dir();
                let actor = fs.actor("A");
                let before = keygen.load(&actor, &dir);
                actor.note(&format!("returns {}", show(&before)));
                let Some(mode) = crash else { return };
                fs.crash(mode);
                // The restarted process runs the reference: the question is what the mutant left
                // on disk.
                let restarted = fs.actor("A'");
                let after = Keygen::Reference.load(&restarted, &dir);
                restarted.note(&format!("returns {}", show(&after)));
                let fine = match (&before, &after) {
                    (Ok(handed_out), Ok(now)) => handed_out == now,
                    (Err(_), Ok(_)) => true,
                    (_, Err(_)) => false,
                };
                check(fs, fine, INVARIANT, || {
                    format!(
                        "before the crash {}, after restart {} (key file {})",
                        show(&before),
                        show(&after),
                        dir.join(KEY_FILE).display()
                    )
                });
            },
        );
    }
}

/// **crash-put.** Invariant: after a crash at any step of overwriting a secret and a restart,
/// the store opens and the secret holds the old or the new value, and the new one if the put
/// was acknowledged.
pub fn crash_put(put: Put) -> impl Fn() + Send + Sync + 'static {
    move || {
        const INVARIANT: &str = "after a crash and restart the store opens and an overwritten \
                                 secret holds the old or new value, the new one if acknowledged";
        let fresh = || {
            let fs = fresh_store();
            // The old value is put by the reference, so it is durable whatever `put` does.
            let seeded = Put::Reference.put(&fs, &store_dir(), &master(), "s", b"old");
            check(&fs, seeded.is_ok(), "the model's setup succeeds", || {
                show(&seeded)
            });
            fs
        };
        at_every_step(fresh, |fs, crash| {
            let dir = store_dir();
            let actor = fs.actor("A");
            let acked = put.put(&actor, &dir, &master(), "s", b"new");
            actor.note(&format!("put s=new returns {}", show(&acked)));
            let Some(mode) = crash else { return };
            fs.crash(mode);
            let restarted = fs.actor("A'");
            let now = put.get(&restarted, &dir, &master(), "s");
            restarted.note(&format!("get s returns {}", show(&now)));
            let fine = match &now {
                Ok(Some(v)) if v == b"new" => true,
                Ok(Some(v)) if v == b"old" => acked.is_err(),
                _ => false,
            };
            check(fs, fine, INVARIANT, || {
                format!(
                    "put returned {}, after restart get gives {}",
                    show(&acked),
                    show(&now)
                )
            });
        });
    }
}

//! Crash at every filesystem step, then restart: the rows `crash-keygen` and `crash-put`
//! (seed 003), over the key loader or store under test. The restarted process runs the same
//! code: the question is what the crashed one left on disk.
//!
//! The sequential models run their actor once to count its steps `n`, then, for every `k` in
//! `0..=n` and every [`CrashMode`], run it on a fresh filesystem where its process dies before
//! step `k + 1`, apply the power loss, and check the restarted state ([`at_every_step`]).
//! `k = n` is the crash right after the actor returned, which is what tests that an
//! acknowledgement was durable. The racing models add the power loss as one more actor
//! ([`race_with_power_loss`]).

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use super::keygen::{fresh_home, key_dir};
use super::put::{fresh_store, store_dir};
use super::{actor_name, require, run_actors, show};
use crate::simfs::{CrashMode, Semantics, SimFs};
use crate::subject::{ModelError, SecretStore};

/// The invariant of this model, as its violations name it.
pub const CRASH_KEYGEN: &str = "after a crash and restart the key loads, and a key that was \
                                 handed out before the crash is the key after it";

/// The invariant of this model, as its violations name it.
pub const CRASH_PUT: &str = "after a crash and restart the store opens and an overwritten \
                                 secret holds the old or new value, the new one if acknowledged";

/// The invariant of this model, as its violations name it.
pub const CRASH_KEYGEN_RACING: &str =
    "after a power loss during a key-creation race, every key that \
                                 was handed out is the key the restarted process loads";

/// The invariant of this model, as its violations name it.
pub const CRASH_PUT_RACING: &str =
    "after a power loss during concurrent puts, the store opens and \
                                 every secret holds an acknowledged or previous value";

/// Run `scenario(fs, crash)` once with no crash (`None`) to count actor `A`'s steps, then on a
/// `fresh()` filesystem for every crash mode and every number of steps after which `A` dies.
/// The scenario applies the crash (`fs.crash(mode)`) where it wants the power to fail, after
/// `A` returned (or died), and checks what a restarted process (a new actor) finds.
pub fn at_every_step(fresh: impl Fn() -> SimFs, scenario: impl Fn(&SimFs, Option<CrashMode>)) {
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

/// **crash-keygen.** Invariant: after a crash at any step of `load` and a restart, the key
/// loads without error, and if the key had been handed out it is the same key.
pub fn crash_keygen<K, E>(
    load: impl Fn(&SimFs, &Path) -> Result<K, E> + Send + Sync + 'static,
) -> impl Fn() + Send + Sync + 'static
where
    K: PartialEq + Debug,
    E: ModelError,
{
    move || {
        const INVARIANT: &str = CRASH_KEYGEN;
        at_every_step(
            || fresh_home(Semantics::Posix),
            |fs, crash| {
                let dir = key_dir();
                let actor = fs.actor("A");
                let before = load(&actor, &dir);
                actor.note(&format!("returns {}", show(&before)));
                let Some(mode) = crash else { return };
                fs.crash(mode);
                let restarted = fs.actor("A'");
                let after = load(&restarted, &dir);
                restarted.note(&format!("returns {}", show(&after)));
                let fine = match (&before, &after) {
                    (Ok(handed_out), Ok(now)) => handed_out == now,
                    (Err(_), Ok(_)) => true,
                    (_, Err(_)) => false,
                };
                require(fs, fine, INVARIANT, || {
                    format!(
                        "before the crash {}, after restart {} (key directory {})",
                        show(&before),
                        show(&after),
                        dir.display()
                    )
                });
            },
        );
    }
}

/// **crash-put.** Invariant: after a crash at any step of overwriting a secret and a restart,
/// the store opens and the secret holds the old or the new value, and the new one if the put
/// was acknowledged. The old value is put and then settled (made durable), as if written long
/// before.
pub fn crash_put<S: SecretStore>(store: S) -> impl Fn() + Send + Sync + 'static {
    move || {
        const INVARIANT: &str = CRASH_PUT;
        let fresh = || {
            let fs = fresh_store(&store);
            let seeded = store.put(&fs.actor("setup"), &store_dir(), "s", b"old");
            require(&fs, seeded.is_ok(), super::SETUP, || show(&seeded));
            fs.settle();
            fs
        };
        at_every_step(fresh, |fs, crash| {
            let dir = store_dir();
            let actor = fs.actor("A");
            let acked = store.put(&actor, &dir, "s", b"new");
            actor.note(&format!("put s=new returns {}", show(&acked)));
            let Some(mode) = crash else { return };
            fs.crash(mode);
            let restarted = fs.actor("A'");
            let now = store.get(&restarted, &dir, "s");
            restarted.note(&format!("get s returns {}", show(&now)));
            let fine = match &now {
                Ok(Some(v)) if v == b"new" => true,
                Ok(Some(v)) if v == b"old" => acked.is_err(),
                _ => false,
            };
            require(fs, fine, INVARIANT, || {
                format!(
                    "put returned {}, after restart get gives {}",
                    show(&acked),
                    show(&now)
                )
            });
        });
    }
}

/// The power loss as one more actor: the explorer places it at every point of the actors'
/// steps (every scheduling point), so "a crash at any step of any actor" is explored together
/// with the actors' interleavings. Returns the actors' results; `None` for the power actor.
pub fn race_with_power_loss<T: Send + 'static>(
    fs: &SimFs,
    actors: usize,
    mode: CrashMode,
    actor: impl Fn(&SimFs, usize) -> T + Send + Sync + 'static,
) -> Vec<Option<T>> {
    // Processes are started before the race, so that each one dies if the crash comes.
    let processes: Vec<SimFs> = (0..actors).map(|i| fs.actor(&actor_name(i))).collect();
    let power = fs.actor("power");
    run_actors(actors + 1, move |i| match processes.get(i) {
        Some(me) => Some(actor(me, i)),
        None => {
            power.crash(mode);
            None
        }
    })
}

/// **crash-keygen, racing.** Invariant: `actors` processes race `load` while the power fails
/// at any point; after the restart the key loads, and every key handed out before the crash is
/// that key.
pub fn crash_keygen_racing<K, E>(
    load: impl Fn(&SimFs, &Path) -> Result<K, E> + Send + Sync + 'static,
    actors: usize,
) -> impl Fn() + Send + Sync + 'static
where
    K: PartialEq + Debug + Send + 'static,
    E: ModelError + Send + 'static,
{
    let load = Arc::new(load);
    move || {
        const INVARIANT: &str = CRASH_KEYGEN_RACING;
        let fs = fresh_home(Semantics::Posix);
        let racing = Arc::clone(&load);
        let results = race_with_power_loss(&fs, actors, CrashMode::DurableOnly, move |me, _| {
            let result = racing(me, &key_dir());
            me.note(&format!("returns {}", show(&result)));
            result
        });
        let restarted = fs.actor("R");
        let after = load(&restarted, &key_dir());
        restarted.note(&format!("returns {}", show(&after)));
        for result in results.iter().flatten() {
            let fine = match (result, &after) {
                (Ok(handed_out), Ok(now)) => handed_out == now,
                (Err(_), Ok(_)) => true,
                (_, Err(_)) => false,
            };
            require(&fs, fine, INVARIANT, || {
                format!(
                    "handed out {}, after restart {}",
                    show(result),
                    show(&after)
                )
            });
        }
    }
}

/// **crash-put, racing.** Invariant: actor `A` overwrites secret `s` and actor `B` puts `t`
/// while the power fails at any point (unsynced content lost entirely, [`CrashMode::ZeroPending`]);
/// after the restart the store opens, `s` is old or new (new if acknowledged) and `t` is there
/// if acknowledged.
pub fn crash_put_racing<S: SecretStore>(store: S) -> impl Fn() + Send + Sync + 'static {
    let store = Arc::new(store);
    move || {
        const INVARIANT: &str = CRASH_PUT_RACING;
        let fs = fresh_store(&*store);
        let seeded = store.put(&fs.actor("setup"), &store_dir(), "s", b"old");
        require(&fs, seeded.is_ok(), super::SETUP, || show(&seeded));
        fs.settle();
        let racing = Arc::clone(&store);
        let results = race_with_power_loss(&fs, 2, CrashMode::ZeroPending, move |me, i| {
            let (name, value): (&str, &[u8]) = if i == 0 { ("s", b"new") } else { ("t", b"t") };
            let result = racing.put(me, &store_dir(), name, value);
            me.note(&format!("put {name} returns {}", show(&result)));
            result
        });
        let restarted = fs.actor("R");
        let s = store.get(&restarted, &store_dir(), "s");
        let t = store.get(&restarted, &store_dir(), "t");
        restarted.note(&format!("get s {}, get t {}", show(&s), show(&t)));
        let acked = |i: usize| matches!(results.get(i), Some(Some(Ok(()))));
        let s_fine = match &s {
            Ok(Some(v)) if v == b"new" => true,
            Ok(Some(v)) if v == b"old" => !acked(0),
            _ => false,
        };
        let t_fine = match &t {
            Ok(Some(v)) => v == b"t",
            Ok(None) => !acked(1),
            Err(_) => false,
        };
        require(&fs, s_fine && t_fine, INVARIANT, || {
            format!(
                "puts returned {:?}; after restart s: {}, t: {}",
                results.iter().flatten().map(show).collect::<Vec<_>>(),
                show(&s),
                show(&t)
            )
        });
    }
}

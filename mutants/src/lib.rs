//! keyrace-mutants: the known-bad variants of the reference core, one per real-world bug
//! (`docs/seeds.md`), each a small diff against the reference step it replaces and each
//! written once, against [`keyrace_core::Fs`]. The models of `keyrace-harness` run them on its
//! simulated filesystem; the reference adapter (`keyrace-reference-adapter --mutant NAME`)
//! runs the same bodies on the real one. Where the two need a different exposure (a SIGKILL
//! needs a write long enough to land in), that is a parameter of the body, not a second copy.
//!
//! Each mutant is declared once, in the `mutants!` list below: its name, what catches it at
//! process level ([`catch`], [`also_caught`]) or why only the models can, and which step of
//! the reference's [`Steps`] its body replaces. Adding a mutant is its body and that entry.
//!
//! The identity derivation's mutant lives beside its property in `keyrace-harness` (it has no
//! process-level counterpart).

mod catch;
pub mod grace;
pub mod keygen;
pub mod memo;
pub mod open;
pub mod put;
pub mod steps;
pub mod witness;

use std::io;
use std::path::PathBuf;

use keyrace_core::witness::{RetryOnce, SingleFlight};
use keyrace_core::{Error, KeySources, OsFs};
use keyrace_protocol::ScenarioId;

pub use catch::Catch;
use catch::{models_only, runner, LOST, RESURRECTED, TORN_READ};
use put::InPlace;
pub use steps::Steps;
use steps::{
    key_file_unless_env, ledger_io, open_store, reference_cache, witness_made, witness_with,
    Caller, HeadUsed,
};

/// Declares [`Mutant`] from one list: each variant with its docs, its name, what catches it at
/// process level (`=> catch`, then `; also [...]` for the secondary catches) and the steps the
/// reference adapter runs for it (`steps:`), so that the enum, [`Mutant::ALL`],
/// [`Mutant::name`], [`Mutant::steps`], [`catch`] and [`also_caught`] cannot drift apart.
macro_rules! mutants {
    (@also) => { &[] };
    (@also $also:expr) => { $also };
    ($($(#[$doc:meta])* $variant:ident = $name:literal => $catch:expr $(; also $also:expr)?,
        steps: $steps:expr,)*) => {
        /// Every mutant of this crate, by the name the catalogue, the runner and the docs use.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Mutant {
            $($(#[$doc])* $variant,)*
        }

        impl Mutant {
            /// Every mutant, in declaration order.
            pub const ALL: &'static [Mutant] = &[$(Mutant::$variant,)*];

            /// The mutant's name: the catalogue's variant, `--mutant NAME`, and the docs' name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Mutant::$variant => $name,)*
                }
            }

            /// The reference's steps with this mutant's one body switched in: what the
            /// reference adapter runs under `--mutant NAME`.
            pub fn steps(self) -> Steps {
                match self {
                    $(Mutant::$variant => $steps,)*
                }
            }
        }

        /// The check expected to catch `mutant`.
        pub fn catch(mutant: Mutant) -> Catch {
            match mutant {
                $(Mutant::$variant => $catch,)*
            }
        }

        /// The catches beyond a mutant's own check: a general scenario (a history checked for
        /// linearizability) that also catches what a hand-written race was made for. Each is
        /// tested (`cli/tests/mutants.rs`) and listed in docs/design.md's table. A
        /// scenario whose every catch is a secondary one catches only what the catalogue does.
        pub fn also_caught(mutant: Mutant) -> &'static [Catch] {
            match mutant {
                $(Mutant::$variant => mutants!(@also $($also)?),)*
            }
        }
    };
}

mutants! {
    /// [`keygen::read_then_write`].
    KeygenReadThenWrite = "keygen-read-then-write"
        => runner(ScenarioId::KeygenRace, "every racing put into a fresh store succeeds"),
        steps: Steps {
            resolve: |dir| key_file_unless_env(dir, keygen::read_then_write::<OsFs>),
            ..Steps::REFERENCE
        },
    /// [`keygen::excl_then_write`].
    KeygenExclThenWrite = "keygen-excl-then-write"
        => runner(ScenarioId::KeygenRace, "every racing put into a fresh store succeeds"),
        steps: Steps {
            resolve: |dir| key_file_unless_env(dir, keygen::excl_then_write::<OsFs>),
            ..Steps::REFERENCE
        },
    /// [`keygen::broad_catch`].
    KeygenBroadCatch = "keygen-broad-catch"
        => models_only("it needs an injected read error of the key file, which the runner cannot cause"),
        steps: Steps {
            resolve: |dir| key_file_unless_env(dir, keygen::broad_catch::<OsFs>),
            ..Steps::REFERENCE
        },
    /// [`keygen::no_fsync`].
    KeygenNoFsync = "keygen-no-fsync"
        => runner(ScenarioId::CrashKeygen, "after a power loss"),
        steps: Steps {
            resolve: |dir| key_file_unless_env(dir, keygen::no_fsync::<OsFs>),
            ..Steps::REFERENCE
        },
    /// [`keygen::key_per_process`].
    KeyPerProcess = "key-per-process"
        => runner(ScenarioId::RestartDurability, "survives a restart"),
        steps: Steps {
            resolve: |dir| key_file_unless_env(dir, |_, _| keygen::key_per_process()),
            ..Steps::REFERENCE
        },
    /// [`open::silent_ephemeral`].
    SilentEphemeral = "silent-ephemeral"
        => runner(ScenarioId::NoStableKey, "no silent ephemeral key"),
        // The key file lives in $HOME, as in ObjectStack's provider.
        steps: Steps {
            resolve: |dir| {
                let home =
                    std::env::var_os("HOME").map_or_else(|| dir.to_owned(), PathBuf::from);
                let sources = KeySources {
                    key_file_dir: Some(home.join(".keyrace")),
                    ..KeySources::from_env(dir)
                };
                open::silent_ephemeral(&OsFs, sources)
        },
        ..Steps::REFERENCE
        },
    /// [`put::put_with_index`] and [`put::check_index`].
    PutGlobalMetaRmw = "put-global-meta-rmw"
        => runner(ScenarioId::PutRace, "reads back exactly after concurrent puts"),
        steps: Steps {
            put: |store, _, name, value| put::put_with_index(store, name, value),
            get: put::get_with_index,
            ..Steps::REFERENCE
        },
    /// [`put::shared_temp`].
    PutSharedTemp = "put-shared-temp"
        => runner(ScenarioId::PutRace, "every racing put into an existing store succeeds"),
        steps: Steps {
            put: |store, key, name, value| {
                put::shared_temp(store.fs(), store.dir(), key, name, value)
            },
            ..Steps::REFERENCE
        },
    /// [`put::in_place`] with [`put::InPlace::Chunked`].
    PutInPlace = "put-in-place"
        => runner(ScenarioId::CrashPut, "holds its old or its new value"),
        steps: Steps {
            put: |store, key, name, value| {
                put::in_place(store.fs(), store.dir(), key, name, value, InPlace::Chunked)
        },
        ..Steps::REFERENCE
        },
    // Each crash-state branch is told apart by an operation its violation names (in the
    // crash point, the lost operations or the fix): the overwrite's write or rename, or the
    // delete's remove, which only a delete round records.
    /// [`put::in_place`] with [`put::InPlace::OneWrite`].
    PutInPlaceOneWrite = "put-in-place-one-write"
        => runner(ScenarioId::CrashStates, "(write #"); also TORN_READ,
        steps: Steps {
            put: |store, key, name, value| {
                put::in_place(store.fs(), store.dir(), key, name, value, InPlace::OneWrite)
        },
        ..Steps::REFERENCE
        },
    /// [`put::rename_no_dir_fsync`].
    PutRenameNoDirFsync = "put-rename-no-dir-fsync"
        => runner(ScenarioId::CrashStates, "(rename "); also LOST,
        steps: Steps {
            put: |store, key, name, value| {
                put::rename_no_dir_fsync(store.fs(), store.dir(), key, name, value)
        },
        ..Steps::REFERENCE
        },
    /// [`put::rename_unsynced_data`].
    PutRenameUnsyncedData = "put-rename-unsynced-data"
        => runner(ScenarioId::CrashStates, "(write #"),
        steps: Steps {
            put: |store, key, name, value| {
                put::rename_unsynced_data(store.fs(), store.dir(), key, name, value)
        },
        ..Steps::REFERENCE
        },
    /// [`put::get_swallowing_errors`].
    GetSwallowsErrors = "get-swallows-errors"
        => runner(ScenarioId::RecoverCorrupt, "never a wrong value"),
        steps: Steps {
            get: put::get_swallowing_errors,
            ..Steps::REFERENCE
        },
    /// [`put::delete_by_rewrite`].
    DeleteRewritesAll = "delete-rewrites-all"
        => runner(ScenarioId::DeleteReset, "loses no put"),
        steps: Steps {
            delete: put::delete_by_rewrite,
            ..Steps::REFERENCE
        },
    /// [`put::delete_no_dir_fsync`].
    DeleteNoDirFsync = "delete-no-dir-fsync"
        => runner(ScenarioId::CrashStates, "(remove "); also RESURRECTED,
        steps: Steps {
            delete: put::delete_no_dir_fsync,
            ..Steps::REFERENCE
        },
    /// [`put::put_keeping_previous`] and [`put::get_restoring_previous`].
    PutPreviousUnsynced = "put-previous-unsynced"
        => runner(ScenarioId::CrashHistory, "no deleted secret back"),
        steps: Steps {
            put: |store, _, name, value| put::put_keeping_previous(store, name, value),
            get: put::get_restoring_previous,
            ..Steps::REFERENCE
        },
    /// [`memo::recall`]: a get answered from the process's memory of its own writes.
    GetFromProcessMemory = "get-from-process-memory"
        => runner(ScenarioId::History, "fits one order of the operations"),
        steps: Steps {
            put: |store, key, name, value| {
                (Steps::REFERENCE.put)(store, key, name, value)?;
                memo::remember(store.dir(), name, Some(value));
                Ok(())
        },
        get: |store, name| match memo::recall(store.dir(), name) {
            Some(value) => Ok(value),
            None => (Steps::REFERENCE.get)(store, name),
        },
        delete: |store, name| {
            let existed = (Steps::REFERENCE.delete)(store, name)?;
            memo::remember(store.dir(), name, None);
            Ok(existed)
        },
        ..Steps::REFERENCE
        },
    /// [`open::leaking_a_handle_on_failure`].
    OpenLeaksHandle = "open-leaks-handle"
        => runner(ScenarioId::FailedOpenReleasesHandles, "releases every handle"),
        steps: Steps {
            open: |steps, dir| {
                open::leaking_a_handle_on_failure(&OsFs, dir, || open_store(steps, dir))
        },
        ..Steps::REFERENCE
        },
    /// [`open::reset_after_open`].
    ResetNeedsOpen = "reset-needs-open"
        => runner(ScenarioId::DeleteReset, "reset succeeds on a store whose metadata is garbage"),
        steps: Steps {
            reset: |steps, dir| {
                open::reset_after_open(
                    || (steps.open)(steps, dir),
                    || (Steps::REFERENCE.reset)(steps, dir),
                )
        },
        ..Steps::REFERENCE
        },
    /// [`grace::check_then_set`].
    GraceCheckThenSet = "grace-check-then-set"
        => runner(ScenarioId::DoubleBootstrap, "exactly one of the racing"),
        steps: Steps {
            consume: |dir, token| ledger_io(grace::check_then_set(&OsFs, dir, token)),
            ..Steps::REFERENCE
        },
    /// [`grace::consume_without_fsync`].
    ConsumeNoFsync = "consume-no-fsync"
        => runner(ScenarioId::CrashConsume, "stays consumed"),
        steps: Steps {
            consume: |dir, token| ledger_io(grace::consume_without_fsync(&OsFs, dir, token)),
            ..Steps::REFERENCE
        },
    /// [`grace::loser_trusts_unsynced`].
    ConsumeLoserUnsynced = "consume-loser-unsynced"
        => runner(ScenarioId::CrashHistoryRace, "a racer's file"),
        steps: Steps {
            consume: |dir, token| ledger_io(grace::loser_trusts_unsynced(&OsFs, dir, token)),
            ..Steps::REFERENCE
        },
    /// [`witness::RetryUnbounded`].
    RetryUnbounded = "retry-unbounded"
        => runner(ScenarioId::RetryBounded, "exactly two requests"),
        steps: Steps {
            witness: |call| {
                let cache = reference_cache(call);
                witness_with(call, cache, SingleFlight::new(), witness::RetryUnbounded)
        },
        ..Steps::REFERENCE
        },
    /// [`witness::RetryOnDivergence`].
    RetryOnDivergence = "retry-on-divergence"
        => runner(ScenarioId::NoRetryOnDivergence, "after exactly one request"),
        steps: Steps {
            witness: |call| {
                let cache = reference_cache(call);
                witness_with(call, cache, SingleFlight::new(), witness::RetryOnDivergence)
        },
        ..Steps::REFERENCE
        },
    /// [`witness::NoRetry`].
    NoRetryOn412 = "no-retry-on-412"
        => runner(ScenarioId::RetryOnce, "retried exactly once"),
        steps: Steps {
            witness: |call| {
                let cache = reference_cache(call);
                witness_with(call, cache, SingleFlight::new(), witness::NoRetry)
        },
        ..Steps::REFERENCE
        },
    /// [`witness::retrying_server_errors`].
    RetryServerErrors = "retry-server-errors"
        => runner(ScenarioId::ServerFaults, "after at most four requests"),
        steps: Steps {
            witness: |call| {
                let cache = reference_cache(call);
                let caller: Caller = witness::retrying_server_errors;
                witness_made(call, cache, SingleFlight::new(), RetryOnce, caller)
        },
        ..Steps::REFERENCE
        },
    /// [`witness::Uncoalesced`].
    NoSingleflight = "no-singleflight"
        => runner(ScenarioId::ColdStart, "exactly one request without a head"),
        steps: Steps {
            witness: |call| {
                let slot = witness::Uncoalesced::default();
                witness_with(call, reference_cache(call), slot, RetryOnce)
        },
        ..Steps::REFERENCE
        },
    /// [`witness::CacheWrite::InPlace`].
    CacheWriteInPlace = "cache-write-in-place"
        => runner(ScenarioId::CacheTorn, "a complete head"),
        steps: Steps {
            witness: |call| {
                let cache = witness::MutantCache {
                    inner: reference_cache(call),
                    write: witness::CacheWrite::InPlace,
                };
                witness_with(call, cache, SingleFlight::new(), RetryOnce)
        },
        ..Steps::REFERENCE
        },
    /// [`witness::CacheWrite::FollowsSymlink`].
    CacheFollowsSymlink = "cache-follows-symlink"
        => runner(ScenarioId::CacheSymlink, "never written through"),
        steps: Steps {
            witness: |call| {
                let cache = witness::MutantCache {
                    inner: reference_cache(call),
                    write: witness::CacheWrite::FollowsSymlink,
                };
                witness_with(call, cache, SingleFlight::new(), RetryOnce)
        },
        ..Steps::REFERENCE
        },
    /// [`witness::swallowing_errors`].
    WitnessSwallowsErrors = "witness-swallows-errors"
        => runner(ScenarioId::ServerFaults, "after at most four requests"),
        steps: Steps {
            witness: |call| {
                let cache = reference_cache(call);
                let caller: Caller = |once| witness::swallowing_errors(once());
                witness_made(call, cache, SingleFlight::new(), RetryOnce, caller)
        },
        ..Steps::REFERENCE
        },
    /// [`witness::misreported_source`].
    WitnessMisreportsCache = "witness-misreports-cache"
        => runner(ScenarioId::HeadPersists, "whether it came from the cache"),
        steps: Steps {
            witness: |call| {
                let used = (Steps::REFERENCE.witness)(call)?;
                Ok(used.map(|used| HeadUsed {
                    from_cache: witness::misreported_source(used.from_cache),
                    ..used
                }))
        },
        ..Steps::REFERENCE
        },
    /// [`witness::Forget::Loads`].
    CacheNeverLoaded = "cache-never-loaded"
        => runner(ScenarioId::HeadPersists, "no second bootstrap"),
        steps: Steps {
            witness: |call| {
                let cache = witness::ForgetfulCache {
                    inner: reference_cache(call),
                    forget: witness::Forget::Loads,
                };
                witness_with(call, cache, SingleFlight::new(), RetryOnce)
        },
        ..Steps::REFERENCE
        },
    /// [`witness::Forget::ZeroHead`].
    ZeroHeadDiscarded = "zero-head-discarded"
        => runner(ScenarioId::ZeroHead, "zero placeholder"),
        steps: Steps {
            witness: |call| {
                let cache = witness::ForgetfulCache {
                    inner: reference_cache(call),
                    forget: witness::Forget::ZeroHead,
                };
                witness_with(call, cache, SingleFlight::new(), RetryOnce)
        },
        ..Steps::REFERENCE
        },
    /// [`witness::cache_keyed_by_server`].
    CacheKeyedByUrl = "cache-keyed-by-url"
        => runner(ScenarioId::CacheKeyed, "its own server handed out"),
        steps: Steps {
            witness: |call| {
                let cache = witness::cache_keyed_by_server(OsFs, call.cache_dir, call.url);
                witness_with(call, cache, SingleFlight::new(), RetryOnce)
        },
        ..Steps::REFERENCE
        },
}

/// The scenario expected to catch `mutant`, or `None` for a mutant only the models catch.
pub fn caught_by(mutant: Mutant) -> Option<ScenarioId> {
    catch(mutant).scenario()
}

impl Mutant {
    /// Every name, in [`Mutant::ALL`]'s order (for a CLI's list of possible values).
    pub fn names() -> Vec<&'static str> {
        Mutant::ALL.iter().map(|m| m.name()).collect()
    }
}

impl std::fmt::Display for Mutant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Mutant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mutant::ALL
            .iter()
            .copied()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown mutant {s:?}; one of {}",
                    Mutant::names().join(", ")
                )
            })
    }
}

/// An I/O error of step `what`, as the core reports it.
fn fs_error(what: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Fs { what, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        let names = Mutant::names();
        for (i, &mutant) in Mutant::ALL.iter().enumerate() {
            assert_eq!(mutant.name().parse::<Mutant>(), Ok(mutant));
            assert!(!names[..i].contains(&mutant.name()), "{mutant} twice");
        }
        assert!("nope".parse::<Mutant>().is_err());
    }
}

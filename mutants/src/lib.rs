//! keyrace-mutants: the known-bad variants of the reference core, one per real-world bug
//! (`docs/seeds.md`), each a small diff against the reference step it replaces and each
//! written once, against [`keyrace_core::Fs`]. The models of `keyrace-harness` run them on its
//! simulated filesystem; the reference adapter (`keyrace-reference-adapter --mutant NAME`)
//! runs the same bodies on the real one. Where the two need a different exposure (a SIGKILL
//! needs a write long enough to land in), that is a parameter of the body, not a second copy.
//!
//! The identity derivation's mutant lives beside its property in `keyrace-harness` (it has no
//! process-level counterpart).

pub mod grace;
pub mod keygen;
pub mod memo;
pub mod open;
pub mod put;
pub mod witness;

use std::io;

use keyrace_core::Error;

/// Every mutant of this crate, by the name the catalogue, the runner and the docs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutant {
    /// [`keygen::read_then_write`].
    KeygenReadThenWrite,
    /// [`keygen::excl_then_write`].
    KeygenExclThenWrite,
    /// [`keygen::broad_catch`].
    KeygenBroadCatch,
    /// [`keygen::no_fsync`].
    KeygenNoFsync,
    /// [`keygen::key_per_process`].
    KeyPerProcess,
    /// [`open::silent_ephemeral`].
    SilentEphemeral,
    /// [`put::put_with_index`] and [`put::check_index`].
    PutGlobalMetaRmw,
    /// [`put::in_place`] with [`put::InPlace::Chunked`].
    PutInPlace,
    /// [`put::in_place`] with [`put::InPlace::OneWrite`].
    PutInPlaceOneWrite,
    /// [`put::rename_no_dir_fsync`].
    PutRenameNoDirFsync,
    /// [`put::get_swallowing_errors`].
    GetSwallowsErrors,
    /// [`put::delete_by_rewrite`].
    DeleteRewritesAll,
    /// [`put::delete_no_dir_fsync`].
    DeleteNoDirFsync,
    /// [`put::put_keeping_previous`] and [`put::get_restoring_previous`].
    PutPreviousUnsynced,
    /// [`memo::recall`]: a get answered from the process's memory of its own writes.
    GetFromProcessMemory,
    /// [`open::leaking_a_handle_on_failure`].
    OpenLeaksHandle,
    /// [`open::reset_after_open`].
    ResetNeedsOpen,
    /// [`grace::check_then_set`].
    GraceCheckThenSet,
    /// [`grace::consume_without_fsync`].
    ConsumeNoFsync,
    /// [`grace::loser_trusts_unsynced`].
    ConsumeLoserUnsynced,
    /// [`witness::RetryUnbounded`].
    RetryUnbounded,
    /// [`witness::RetryOnDivergence`].
    RetryOnDivergence,
    /// [`witness::NoRetry`].
    NoRetryOn412,
    /// [`witness::retrying_server_errors`].
    RetryServerErrors,
    /// [`witness::Uncoalesced`].
    NoSingleflight,
    /// [`witness::CacheWrite::InPlace`].
    CacheWriteInPlace,
    /// [`witness::CacheWrite::FollowsSymlink`].
    CacheFollowsSymlink,
    /// [`witness::swallowing_errors`].
    WitnessSwallowsErrors,
    /// [`witness::misreported_source`].
    WitnessMisreportsCache,
    /// [`witness::Forget::Loads`].
    CacheNeverLoaded,
    /// [`witness::Forget::ZeroHead`].
    ZeroHeadDiscarded,
    /// [`witness::cache_keyed_by_server`].
    CacheKeyedByUrl,
}

impl Mutant {
    pub const ALL: &'static [Mutant] = &[
        Mutant::KeygenReadThenWrite,
        Mutant::KeygenExclThenWrite,
        Mutant::KeygenBroadCatch,
        Mutant::KeygenNoFsync,
        Mutant::KeyPerProcess,
        Mutant::SilentEphemeral,
        Mutant::PutGlobalMetaRmw,
        Mutant::PutInPlace,
        Mutant::PutInPlaceOneWrite,
        Mutant::PutRenameNoDirFsync,
        Mutant::GetSwallowsErrors,
        Mutant::DeleteRewritesAll,
        Mutant::DeleteNoDirFsync,
        Mutant::PutPreviousUnsynced,
        Mutant::GetFromProcessMemory,
        Mutant::OpenLeaksHandle,
        Mutant::ResetNeedsOpen,
        Mutant::GraceCheckThenSet,
        Mutant::ConsumeNoFsync,
        Mutant::ConsumeLoserUnsynced,
        Mutant::RetryUnbounded,
        Mutant::RetryOnDivergence,
        Mutant::NoRetryOn412,
        Mutant::RetryServerErrors,
        Mutant::NoSingleflight,
        Mutant::CacheWriteInPlace,
        Mutant::CacheFollowsSymlink,
        Mutant::WitnessSwallowsErrors,
        Mutant::WitnessMisreportsCache,
        Mutant::CacheNeverLoaded,
        Mutant::ZeroHeadDiscarded,
        Mutant::CacheKeyedByUrl,
    ];

    /// The mutant's name: the catalogue's variant, `--mutant NAME`, and the docs' name.
    pub fn name(self) -> &'static str {
        match self {
            Mutant::KeygenReadThenWrite => "keygen-read-then-write",
            Mutant::KeygenExclThenWrite => "keygen-excl-then-write",
            Mutant::KeygenBroadCatch => "keygen-broad-catch",
            Mutant::KeygenNoFsync => "keygen-no-fsync",
            Mutant::KeyPerProcess => "key-per-process",
            Mutant::SilentEphemeral => "silent-ephemeral",
            Mutant::PutGlobalMetaRmw => "put-global-meta-rmw",
            Mutant::PutInPlace => "put-in-place",
            Mutant::PutInPlaceOneWrite => "put-in-place-one-write",
            Mutant::PutRenameNoDirFsync => "put-rename-no-dir-fsync",
            Mutant::GetSwallowsErrors => "get-swallows-errors",
            Mutant::DeleteRewritesAll => "delete-rewrites-all",
            Mutant::DeleteNoDirFsync => "delete-no-dir-fsync",
            Mutant::PutPreviousUnsynced => "put-previous-unsynced",
            Mutant::GetFromProcessMemory => "get-from-process-memory",
            Mutant::OpenLeaksHandle => "open-leaks-handle",
            Mutant::ResetNeedsOpen => "reset-needs-open",
            Mutant::GraceCheckThenSet => "grace-check-then-set",
            Mutant::ConsumeNoFsync => "consume-no-fsync",
            Mutant::ConsumeLoserUnsynced => "consume-loser-unsynced",
            Mutant::RetryUnbounded => "retry-unbounded",
            Mutant::RetryOnDivergence => "retry-on-divergence",
            Mutant::NoRetryOn412 => "no-retry-on-412",
            Mutant::RetryServerErrors => "retry-server-errors",
            Mutant::NoSingleflight => "no-singleflight",
            Mutant::CacheWriteInPlace => "cache-write-in-place",
            Mutant::CacheFollowsSymlink => "cache-follows-symlink",
            Mutant::WitnessSwallowsErrors => "witness-swallows-errors",
            Mutant::WitnessMisreportsCache => "witness-misreports-cache",
            Mutant::CacheNeverLoaded => "cache-never-loaded",
            Mutant::ZeroHeadDiscarded => "zero-head-discarded",
            Mutant::CacheKeyedByUrl => "cache-keyed-by-url",
        }
    }

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

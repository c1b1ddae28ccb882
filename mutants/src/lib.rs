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

/// Declares [`Mutant`] from one list: each variant with its docs and its name, so that the
/// enum, [`Mutant::ALL`] and [`Mutant::name`] cannot drift apart.
macro_rules! mutants {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
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
        }
    };
}

mutants! {
    /// [`keygen::read_then_write`].
    KeygenReadThenWrite = "keygen-read-then-write",
    /// [`keygen::excl_then_write`].
    KeygenExclThenWrite = "keygen-excl-then-write",
    /// [`keygen::broad_catch`].
    KeygenBroadCatch = "keygen-broad-catch",
    /// [`keygen::no_fsync`].
    KeygenNoFsync = "keygen-no-fsync",
    /// [`keygen::key_per_process`].
    KeyPerProcess = "key-per-process",
    /// [`open::silent_ephemeral`].
    SilentEphemeral = "silent-ephemeral",
    /// [`put::put_with_index`] and [`put::check_index`].
    PutGlobalMetaRmw = "put-global-meta-rmw",
    /// [`put::in_place`] with [`put::InPlace::Chunked`].
    PutInPlace = "put-in-place",
    /// [`put::in_place`] with [`put::InPlace::OneWrite`].
    PutInPlaceOneWrite = "put-in-place-one-write",
    /// [`put::rename_no_dir_fsync`].
    PutRenameNoDirFsync = "put-rename-no-dir-fsync",
    /// [`put::get_swallowing_errors`].
    GetSwallowsErrors = "get-swallows-errors",
    /// [`put::delete_by_rewrite`].
    DeleteRewritesAll = "delete-rewrites-all",
    /// [`put::delete_no_dir_fsync`].
    DeleteNoDirFsync = "delete-no-dir-fsync",
    /// [`put::put_keeping_previous`] and [`put::get_restoring_previous`].
    PutPreviousUnsynced = "put-previous-unsynced",
    /// [`memo::recall`]: a get answered from the process's memory of its own writes.
    GetFromProcessMemory = "get-from-process-memory",
    /// [`open::leaking_a_handle_on_failure`].
    OpenLeaksHandle = "open-leaks-handle",
    /// [`open::reset_after_open`].
    ResetNeedsOpen = "reset-needs-open",
    /// [`grace::check_then_set`].
    GraceCheckThenSet = "grace-check-then-set",
    /// [`grace::consume_without_fsync`].
    ConsumeNoFsync = "consume-no-fsync",
    /// [`grace::loser_trusts_unsynced`].
    ConsumeLoserUnsynced = "consume-loser-unsynced",
    /// [`witness::RetryUnbounded`].
    RetryUnbounded = "retry-unbounded",
    /// [`witness::RetryOnDivergence`].
    RetryOnDivergence = "retry-on-divergence",
    /// [`witness::NoRetry`].
    NoRetryOn412 = "no-retry-on-412",
    /// [`witness::retrying_server_errors`].
    RetryServerErrors = "retry-server-errors",
    /// [`witness::Uncoalesced`].
    NoSingleflight = "no-singleflight",
    /// [`witness::CacheWrite::InPlace`].
    CacheWriteInPlace = "cache-write-in-place",
    /// [`witness::CacheWrite::FollowsSymlink`].
    CacheFollowsSymlink = "cache-follows-symlink",
    /// [`witness::swallowing_errors`].
    WitnessSwallowsErrors = "witness-swallows-errors",
    /// [`witness::misreported_source`].
    WitnessMisreportsCache = "witness-misreports-cache",
    /// [`witness::Forget::Loads`].
    CacheNeverLoaded = "cache-never-loaded",
    /// [`witness::Forget::ZeroHead`].
    ZeroHeadDiscarded = "zero-head-discarded",
    /// [`witness::cache_keyed_by_server`].
    CacheKeyedByUrl = "cache-keyed-by-url",
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

//! Which runner check catches each mutant of `keyrace-mutants` at process level. The match is
//! exhaustive, so a new mutant does not build until it names its check (or says why only the
//! models can catch it), and `scenarios/tests/mutants.rs` runs every one against its check.

use keyrace_mutants::Mutant;

/// What must catch a mutant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Catch {
    /// A violation in runner scenario `scenario` that names `check`: a phrase of its invariant
    /// or, where one invariant has several branches, of its evidence.
    Runner {
        scenario: &'static str,
        check: &'static str,
    },
    /// Only `keyrace-harness`'s models can catch it, for the reason given.
    ModelsOnly { why: &'static str },
}

impl Catch {
    /// The scenario of a runner catch.
    pub fn scenario(self) -> Option<&'static str> {
        match self {
            Catch::Runner { scenario, .. } => Some(scenario),
            Catch::ModelsOnly { .. } => None,
        }
    }
}

const fn runner(scenario: &'static str, check: &'static str) -> Catch {
    Catch::Runner { scenario, check }
}

/// The check expected to catch `mutant`.
pub fn catch(mutant: Mutant) -> Catch {
    match mutant {
        Mutant::KeygenReadThenWrite | Mutant::KeygenExclThenWrite => runner(
            "keygen-race",
            "every racing put into a fresh store succeeds",
        ),
        Mutant::KeygenBroadCatch => Catch::ModelsOnly {
            why: "it needs an injected read error of the key file, which the runner cannot cause",
        },
        Mutant::PutGlobalMetaRmw => runner("put-race", "reads back exactly after concurrent puts"),
        Mutant::PutInPlace => runner("crash-put", "holds its old or its new value"),
        Mutant::GraceCheckThenSet => runner("double-bootstrap", "exactly one of the racing"),
        Mutant::OpenLeaksHandle => runner("failed-open-releases-handles", "releases every handle"),
        Mutant::SilentEphemeral => runner("no-stable-key", "no silent ephemeral key"),
        Mutant::ResetNeedsOpen => runner(
            "delete-reset",
            "reset succeeds on a store whose metadata is garbage",
        ),
        Mutant::DeleteRewritesAll => runner("delete-reset", "loses no put"),
        Mutant::GetSwallowsErrors => runner("recover-corrupt", "never a wrong value"),
        Mutant::GetFromProcessMemory => runner("history", "fits one order of the operations"),
        Mutant::PutPreviousUnsynced => runner("crash-history", "no deleted secret back"),
        Mutant::KeyPerProcess => runner("restart-durability", "survives a restart"),
        // Each crash-state branch is told apart by an operation its violation names (in the
        // crash point, the lost operations or the fix): the overwrite's write or rename, or the
        // delete's remove, which only a delete round records.
        Mutant::PutInPlaceOneWrite => runner("crash-states", "(write #"),
        Mutant::PutRenameNoDirFsync => runner("crash-states", "(rename "),
        Mutant::DeleteNoDirFsync => runner("crash-states", "(remove "),
        Mutant::KeygenNoFsync => runner("crash-keygen", "after a power loss"),
        Mutant::ConsumeNoFsync => runner("crash-consume", "stays consumed"),
        Mutant::ConsumeLoserUnsynced => runner("crash-history-race", "a racer's file"),
        Mutant::RetryUnbounded => runner("retry-bounded", "exactly two requests"),
        Mutant::RetryOnDivergence => runner("no-retry-on-divergence", "after exactly one request"),
        Mutant::NoRetryOn412 => runner("retry-once", "retried exactly once"),
        Mutant::RetryServerErrors | Mutant::WitnessSwallowsErrors => {
            runner("server-faults", "after at most four requests")
        }
        Mutant::NoSingleflight => runner("cold-start", "exactly one request without a head"),
        Mutant::CacheNeverLoaded => runner("head-persists", "no second bootstrap"),
        Mutant::WitnessMisreportsCache => runner("head-persists", "whether it came from the cache"),
        Mutant::ZeroHeadDiscarded => runner("zero-head", "zero placeholder"),
        Mutant::CacheKeyedByUrl => runner("cache-keyed", "its own server handed out"),
        Mutant::CacheWriteInPlace => runner("cache-torn", "a complete head"),
        Mutant::CacheFollowsSymlink => runner("cache-symlink", "never written through"),
    }
}

/// The catches beyond a mutant's own check: a general scenario (a history checked for
/// linearizability) that also catches what a hand-written race was made for. Each is tested
/// (`scenarios/tests/mutants.rs`) and listed in docs/design.md's table like the own catches.
/// A scenario whose every catch is a secondary one catches only what the catalogue also does.
pub fn also_caught(mutant: Mutant) -> &'static [Catch] {
    const RESURRECTED: &[Catch] = &[runner("crash-history", "no deleted secret back")];
    const LOST: &[Catch] = &[runner("crash-history", "no acknowledged write lost")];
    const TORN_READ: &[Catch] = &[runner("history", "never answer an error")];
    match mutant {
        Mutant::DeleteNoDirFsync => RESURRECTED,
        Mutant::PutRenameNoDirFsync => LOST,
        Mutant::PutInPlaceOneWrite => TORN_READ,
        _ => &[],
    }
}

/// The scenario expected to catch `mutant`, or `None` for a mutant only the models catch.
pub fn caught_by(mutant: Mutant) -> Option<&'static str> {
    catch(mutant).scenario()
}

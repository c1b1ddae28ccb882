//! Which runner scenario catches each mutant of `keyrace-mutants` at process level.

use keyrace_mutants::Mutant;

/// The scenario expected to catch `mutant`, or `None` for a mutant only the models catch
/// (`keygen-broad-catch` needs an injected read error the runner cannot cause).
pub fn caught_by(mutant: Mutant) -> Option<&'static str> {
    Some(match mutant {
        Mutant::KeygenReadThenWrite | Mutant::KeygenExclThenWrite => "keygen-race",
        Mutant::KeygenBroadCatch => return None,
        Mutant::PutGlobalMetaRmw => "put-race",
        Mutant::PutInPlace => "crash-put",
        Mutant::GraceCheckThenSet => "double-bootstrap",
        Mutant::OpenLeaksHandle => "failed-open-releases-handles",
        Mutant::SilentEphemeral => "no-stable-key",
        Mutant::ResetNeedsOpen | Mutant::DeleteRewritesAll => "delete-reset",
        Mutant::GetSwallowsErrors => "recover-corrupt",
        Mutant::KeyPerProcess => "restart-durability",
        Mutant::PutInPlaceOneWrite | Mutant::PutRenameNoDirFsync => "crash-states",
        Mutant::KeygenNoFsync => "crash-keygen",
        Mutant::ConsumeNoFsync => "crash-consume",
        Mutant::RetryUnbounded => "retry-bounded",
        Mutant::RetryOnDivergence => "no-retry-on-divergence",
        Mutant::NoSingleflight => "cold-start",
        Mutant::CacheWriteInPlace => "cache-torn",
        Mutant::CacheFollowsSymlink => "cache-symlink",
        Mutant::WitnessSwallowsErrors => "server-faults",
    })
}

/// Only a traced run (the full mode where tracing works) can catch it: a SIGKILL never tears
/// one write(2) nor loses the page cache, and a reader lands between another process's unlink
/// and write of a 48-byte cache file only when the schedule puts it there.
pub fn needs_tracing(mutant: Mutant) -> bool {
    matches!(
        mutant,
        Mutant::PutInPlaceOneWrite
            | Mutant::KeygenNoFsync
            | Mutant::PutRenameNoDirFsync
            | Mutant::ConsumeNoFsync
            | Mutant::CacheWriteInPlace
    )
}

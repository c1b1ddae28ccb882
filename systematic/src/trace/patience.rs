//! Whether a held actor waits for another to move: it polls (repeats a failing call, or a
//! failing attempt to acquire a lock among calls that succeed, as SQLite's busy loop does) or
//! spins (repeats one lookup or lock while the others stand still, as SQLite's WAL reader
//! does when a lock query it makes untraced says another connection is opening the index).
//! The scheduler then runs the others first: with real parallelism they would have moved
//! long before the store gave up.

use std::path::PathBuf;

use super::call::{Call, FdTarget, Kind, Lock};
use nix::libc;

/// A failing visible call repeated this often in a row, or a failing attempt to acquire a
/// lock or create a name exclusively repeated this often, means the actor polls.
const POLLING_REPEATS: u32 = 2;

/// One lookup or lock call made this often while another actor is held means the actor
/// spins: no store makes one such call that often in one operation unless it retries.
const SPINNING_REPEATS: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Wait {
    /// Runs like any actor.
    #[default]
    No,
    /// Retries a call that fails until another actor moves.
    Polls,
    /// Retries calls that succeed, until another actor moves.
    Spins,
}

/// What an actor did since another actor last moved.
#[derive(Debug, Default)]
pub(crate) struct Patience {
    /// The last visible call, if it failed, and how often in a row.
    failing: Option<(String, u32)>,
    /// Calls that may be a retry (lookups, lock requests, exclusive creates), by call.
    repeats: Vec<Repeats>,
    wait: Wait,
}

#[derive(Debug)]
struct Repeats {
    call: String,
    /// A lock request (`flock`, `fcntl`) on a named file: a poll for it ends when the kernel
    /// would grant it.
    lock: Option<(PathBuf, Lock)>,
    /// Failed attempts to acquire, since the last success.
    failed: u32,
    /// Made since the actor last changed something (a write, a rename...).
    made: u32,
}

impl Patience {
    pub(crate) fn wait(&self) -> Wait {
        self.wait
    }

    /// A visible call of a controlled step returned `ret` (a negated errno on failure).
    /// `others_can_run`: another actor of the step is held and could run. The new wait, when
    /// this starts one or changes it.
    pub(crate) fn returned(
        &mut self,
        call: &Call,
        key: &str,
        ret: i64,
        others_can_run: bool,
    ) -> Option<Wait> {
        let ok = ret >= 0;
        let errno = if (-4095..0).contains(&ret) {
            i32::try_from(-ret).unwrap_or(0)
        } else {
            0
        };
        // What another process holding it answers: a lock taken, a name that exists.
        let contended = matches!(
            errno,
            libc::EAGAIN | libc::EACCES | libc::EEXIST | libc::EBUSY
        );
        self.failing = if ok {
            None
        } else {
            let streak = match &self.failing {
                Some((last, n)) if last == key => n + 1,
                _ => 1,
            };
            Some((key.to_owned(), streak))
        };
        if call.kind.changes_something() {
            // Progress of its own: what it repeated before was work, not a retry.
            for repeats in &mut self.repeats {
                repeats.made = 0;
            }
        }
        if may_retry(call) {
            let at = match self.repeats.iter().position(|r| r.call == key) {
                Some(at) => at,
                None => {
                    self.repeats.push(Repeats {
                        call: key.to_owned(),
                        lock: lock_on(call),
                        failed: 0,
                        made: 0,
                    });
                    self.repeats.len() - 1
                }
            };
            let repeats = &mut self.repeats[at];
            repeats.made += 1;
            repeats.failed = match (contended, call.is_acquire()) {
                (true, true) => repeats.failed + 1,
                // Acquired: it no longer waits for it (though it may take it again, and spin).
                _ => 0,
            };
        }
        let polls = self
            .failing
            .as_ref()
            .is_some_and(|&(_, n)| n >= POLLING_REPEATS)
            || self.repeats.iter().any(|r| r.failed >= POLLING_REPEATS);
        let spins = others_can_run && self.repeats.iter().any(|r| r.made >= SPINNING_REPEATS);
        let wait = if polls {
            Wait::Polls
        } else if spins {
            Wait::Spins
        } else {
            Wait::No
        };
        let before = std::mem::replace(&mut self.wait, wait);
        (wait != Wait::No && wait != before).then_some(wait)
    }

    /// Another actor moved: what this one waited for may be there now. A poll for locks
    /// goes on: it ends when the kernel would grant them (see [`Patience::awaited_locks`]),
    /// not with the holder's progress towards its unlock, nor with another poller's busy
    /// loop, whose unlocks release nothing awaited. Waking the poller at such calls lets a
    /// store's busy loop run out its timeout while the holder, with real parallelism, would
    /// have finished in microseconds.
    pub(crate) fn other_moved(&mut self) {
        if self.awaited_locks().is_none() {
            self.forget();
        }
    }

    /// The locks it polls for (file and request), when locks are all it waits for: it may
    /// run again once no other actor holds a lock that conflicts with them.
    pub(crate) fn awaited_locks(&self) -> Option<Vec<&(PathBuf, Lock)>> {
        if self.wait != Wait::Polls {
            return None;
        }
        let awaited: Vec<&Repeats> = self
            .repeats
            .iter()
            .filter(|r| r.failed >= POLLING_REPEATS)
            .collect();
        let streak_is_awaited = match &self.failing {
            Some((key, n)) if *n >= POLLING_REPEATS => awaited.iter().any(|r| &r.call == key),
            _ => true,
        };
        if awaited.is_empty() || !streak_is_awaited {
            // It polls for a name to appear, or a lock not on a named file.
            return None;
        }
        awaited.into_iter().map(|r| r.lock.as_ref()).collect()
    }

    /// A step begins: nothing is waited for yet.
    pub(crate) fn forget(&mut self) {
        *self = Patience::default();
    }
}

/// A call a store repeats when it retries: a lookup, a lock request, an exclusive create.
/// Unlocks, listings (read in chunks) and data calls are not.
fn may_retry(call: &Call) -> bool {
    match call.kind {
        Kind::Open | Kind::Stat => true,
        Kind::Flock | Kind::FcntlLock => call.is_acquire(),
        _ => false,
    }
}

/// The file and request of a lock call on a named file.
fn lock_on(call: &Call) -> Option<(PathBuf, Lock)> {
    match (&call.fd, call.lock) {
        (Some((_, FdTarget::Path(path))), Some(lock)) => Some((path.clone(), lock)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::call::{Lock, LockMode};
    use std::path::PathBuf;

    fn call(kind: Kind, lock: Option<LockMode>, open_flags: u64) -> Call {
        Call {
            tid: nix::unistd::Pid::this(),
            nr: 0,
            kind,
            args: [0; 6],
            paths: vec![PathBuf::from("/store/db")],
            fd: None,
            open_flags,
            lock: lock.map(|mode| Lock {
                mode,
                range: Some((120, 1)),
                record: true,
            }),
        }
    }

    const EAGAIN: i64 = -(libc::EAGAIN as i64);
    const ENOENT: i64 = -(libc::ENOENT as i64);
    const EEXIST: i64 = -(libc::EEXIST as i64);

    fn lock(mode: LockMode) -> Call {
        lock_at(mode, 120)
    }

    fn lock_at(mode: LockMode, start: i64) -> Call {
        Call {
            fd: Some((3, FdTarget::Path(PathBuf::from("/store/db-shm")))),
            lock: Some(Lock {
                mode,
                range: Some((start, 1)),
                record: true,
            }),
            ..call(Kind::FcntlLock, None, 0)
        }
    }

    /// SQLite's busy loop: take a read lock, fail the write lock, drop the read lock, sleep,
    /// again. The failures are not in a row, and still the second one polls.
    #[test]
    fn a_failing_lock_attempt_among_successes_polls_at_its_second_failure() {
        let mut patience = Patience::default();
        let cycle = [
            (lock(LockMode::Shared), "shared 123+1", 0),
            (lock(LockMode::Exclusive), "exclusive 120+1", EAGAIN),
            (lock(LockMode::Unlock), "unlock 123+1", 0),
        ];
        let mut started = Vec::new();
        for _ in 0..2 {
            for (c, key, ret) in &cycle {
                started.push(patience.returned(c, key, *ret, true));
            }
        }
        assert_eq!(started[..4], [None, None, None, None]);
        assert_eq!(started[4], Some(Wait::Polls));
        assert_eq!(patience.wait(), Wait::Polls);
        // It got the lock: no longer waiting.
        patience.returned(&cycle[1].0, "exclusive 120+1", 0, true);
        assert_eq!(patience.wait(), Wait::No);
    }

    /// SQLite checks for a hot journal before every transaction: a lookup that fails now and
    /// then among other calls is no retry.
    #[test]
    fn a_lookup_failing_between_other_calls_does_not_poll() {
        let mut patience = Patience::default();
        let stat = call(Kind::Stat, None, 0);
        for _ in 0..4 {
            patience.returned(&stat, "newfstatat db-journal", ENOENT, true);
            patience.returned(&stat, "newfstatat db-wal", 0, true);
        }
        assert_eq!(patience.wait(), Wait::No);
        // The same failing call twice in a row polls (a store waiting for a file).
        patience.returned(&stat, "newfstatat db-journal", ENOENT, true);
        patience.returned(&stat, "newfstatat db-journal", ENOENT, true);
        assert_eq!(patience.wait(), Wait::Polls);
    }

    /// SQLite's WAL reader reopening the index while another connection holds it: opens
    /// that succeed, over and over, spin once another actor is held, never when alone.
    #[test]
    fn one_open_repeated_spins_only_while_another_actor_is_held() {
        let open = call(Kind::Open, None, libc::O_CREAT as u64);
        let mut alone = Patience::default();
        for _ in 0..SPINNING_REPEATS * 2 {
            assert_eq!(alone.returned(&open, "openat db-shm", 3, false), None);
        }
        let mut held = Patience::default();
        let started: Vec<Option<Wait>> = (0..SPINNING_REPEATS)
            .map(|_| held.returned(&open, "openat db-shm", 3, true))
            .collect();
        assert_eq!(started.last(), Some(&Some(Wait::Spins)));
        assert!(started[..started.len() - 1].iter().all(Option::is_none));
        held.forget();
        assert_eq!(held.wait(), Wait::No);
    }

    /// Only what a holder answers counts as a failed attempt to acquire: a lock call that
    /// fails otherwise (ENOSYS, when the tracer runs a rewound attempt again) is no retry.
    /// Alone (no other actor held) it cannot spin, so only a poll would show.
    #[test]
    fn only_contention_counts_as_a_failed_attempt() {
        let flock = call(Kind::Flock, Some(LockMode::Exclusive), 0);
        let stat = call(Kind::Stat, None, 0);
        let outcome = |ret: i64| {
            let mut patience = Patience::default();
            for _ in 0..2 {
                patience.returned(&flock, "flock lock exclusive", ret, false);
                // Another call between: no streak of one failing call.
                patience.returned(&stat, "newfstatat lock", 0, false);
            }
            patience.wait()
        };
        assert_eq!(outcome(EAGAIN), Wait::Polls);
        assert_eq!(outcome(-(libc::ENOSYS as i64)), Wait::No);
        assert_eq!(outcome(-(libc::EBADF as i64)), Wait::No);
    }

    /// SQLite's lock and unlock around each statement of one operation, with writes between
    /// its transactions: work, not a spin; unlocks never count.
    #[test]
    fn locks_taken_again_after_progress_or_unlocks_do_not_spin() {
        let mut patience = Patience::default();
        let write = call(Kind::Write, None, 0);
        for _ in 0..SPINNING_REPEATS * 2 {
            patience.returned(&lock(LockMode::Shared), "shared 123+1", 0, true);
            patience.returned(&lock(LockMode::Unlock), "unlock 123+1", 0, true);
            patience.returned(&write, "pwrite64 db-wal (4096 bytes)", 4096, true);
        }
        assert_eq!(patience.wait(), Wait::No);
        for _ in 0..SPINNING_REPEATS {
            patience.returned(&lock(LockMode::Unlock), "unlock 124+1", 0, true);
        }
        assert_eq!(patience.wait(), Wait::No);
    }

    /// A poll after a spin is reported: the note says which.
    #[test]
    fn a_spin_that_turns_into_a_poll_is_reported_again() {
        let mut patience = Patience::default();
        let open = call(Kind::Open, None, 0);
        for _ in 0..SPINNING_REPEATS {
            patience.returned(&open, "openat db-shm", 3, true);
        }
        assert_eq!(patience.wait(), Wait::Spins);
        patience.returned(&lock(LockMode::Exclusive), "exclusive 120+1", EAGAIN, true);
        let changed =
            patience.returned(&lock(LockMode::Exclusive), "exclusive 120+1", EAGAIN, true);
        assert_eq!(changed, Some(Wait::Polls));
    }

    /// A poll for a lock lasts whatever the others do (the tracer ends it when the kernel
    /// would grant the lock); a poll for a file ends with any move of another actor.
    #[test]
    fn a_poll_for_a_lock_outlasts_other_moves_and_a_poll_for_a_file_does_not() {
        let mut patience = Patience::default();
        let exclusive = lock(LockMode::Exclusive);
        patience.returned(&exclusive, "exclusive 120+1", EAGAIN, true);
        patience.returned(&lock(LockMode::Unlock), "unlock 123+1", 0, true);
        assert_eq!(patience.awaited_locks(), None);
        patience.returned(&exclusive, "exclusive 120+1", EAGAIN, true);
        assert_eq!(patience.wait(), Wait::Polls);
        let wanted = (
            PathBuf::from("/store/db-shm"),
            Lock {
                mode: LockMode::Exclusive,
                range: Some((120, 1)),
                record: true,
            },
        );
        assert_eq!(patience.awaited_locks(), Some(vec![&wanted]));
        patience.other_moved();
        assert_eq!(patience.wait(), Wait::Polls);

        let mut patience = Patience::default();
        let stat = call(Kind::Stat, None, 0);
        patience.returned(&stat, "newfstatat key", ENOENT, true);
        patience.returned(&stat, "newfstatat key", ENOENT, true);
        assert_eq!(patience.wait(), Wait::Polls);
        assert_eq!(patience.awaited_locks(), None);
        patience.other_moved();
        assert_eq!(patience.wait(), Wait::No);
    }

    /// A poll for an exclusive create is no poll for a lock: any move of another ends it.
    #[test]
    fn a_poll_for_an_exclusive_create_ends_with_any_move() {
        let mut patience = Patience::default();
        let create = call(Kind::Open, None, (libc::O_CREAT | libc::O_EXCL) as u64);
        patience.returned(&create, "openat lock O_CREAT|O_EXCL", EEXIST, true);
        patience.returned(&create, "openat lock O_CREAT|O_EXCL", EEXIST, true);
        assert_eq!(patience.wait(), Wait::Polls);
        assert_eq!(patience.awaited_locks(), None);
        patience.other_moved();
        assert_eq!(patience.wait(), Wait::No);
    }

    /// A value written in chunks repeats its writes: that is work, not a retry.
    #[test]
    fn writes_in_chunks_do_not_spin() {
        let mut patience = Patience::default();
        let write = call(Kind::Write, None, 0);
        for _ in 0..SPINNING_REPEATS * 4 {
            patience.returned(&write, "write db (4096 bytes)", 4096, true);
        }
        assert_eq!(patience.wait(), Wait::No);
    }

    /// A lock file created with O_EXCL, retried after a stat of it for staleness.
    #[test]
    fn an_exclusive_create_retried_after_a_lookup_polls() {
        let mut patience = Patience::default();
        let create = call(Kind::Open, None, (libc::O_CREAT | libc::O_EXCL) as u64);
        let stat = call(Kind::Stat, None, 0);
        let key = "openat lock O_CREAT|O_EXCL";
        patience.returned(&create, key, EEXIST, true);
        patience.returned(&stat, "newfstatat lock", 0, true);
        let started = patience.returned(&create, key, EEXIST, true);
        assert_eq!(started, Some(Wait::Polls));
    }
}

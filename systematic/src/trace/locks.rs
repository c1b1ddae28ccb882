//! The file locks the kernel holds, from `/proc/locks`: who holds what range of which file.
//! A poller's wait for a lock ends when the range it wants is free of conflicting locks of
//! other processes, not when any of them unlocks something.

use super::call::{Lock, LockMode};

/// One granted lock: `1: POSIX  ADVISORY  WRITE 4242 08:02:1316 1073741824 1073741825`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldLock {
    /// The process holding it; `None` for an open-file-description lock, whose owner
    /// `/proc/locks` does not name.
    pub owner: Option<i32>,
    pub inode: u64,
    pub exclusive: bool,
    /// First byte and last byte (inclusive); `None` runs to the end of the file.
    pub first: i64,
    pub last: Option<i64>,
}

impl HeldLock {
    /// Parse one line; waiters (`1: -> POSIX ...`) hold nothing and are `None`.
    fn parse(line: &str) -> Option<HeldLock> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&"->") {
            return None;
        }
        let exclusive = match *fields.get(3)? {
            "WRITE" => true,
            "READ" => false,
            _ => return None,
        };
        let owner: i32 = fields.get(4)?.parse().ok()?;
        let inode: u64 = fields.get(5)?.rsplit(':').next()?.parse().ok()?;
        let first: i64 = fields.get(6)?.parse().ok()?;
        let last = match *fields.get(7)? {
            "EOF" => None,
            n => Some(n.parse().ok()?),
        };
        Some(HeldLock {
            owner: (owner > 0).then_some(owner),
            inode,
            exclusive,
            first,
            last,
        })
    }

    /// Whether this lock keeps `wanted` (on the same file) from being granted.
    pub fn conflicts_with(&self, wanted: &Lock) -> bool {
        let both_shared = !self.exclusive && wanted.mode == LockMode::Shared;
        if wanted.mode == LockMode::Unlock || both_shared {
            return false;
        }
        match wanted.range {
            // A whole-file lock (flock) or a range not known.
            None => true,
            Some((start, len)) => {
                let wanted_last = (len > 0).then(|| start.saturating_add(len - 1));
                start <= self.last.unwrap_or(i64::MAX)
                    && self.first <= wanted_last.unwrap_or(i64::MAX)
            }
        }
    }
}

/// Every granted lock, or none when `/proc/locks` cannot be read.
pub(crate) fn held_locks() -> Vec<HeldLock> {
    std::fs::read_to_string("/proc/locks")
        .map(|text| text.lines().filter_map(HeldLock::parse).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posix(line: &str) -> HeldLock {
        HeldLock::parse(line).expect("a granted lock")
    }

    fn want(mode: LockMode, range: Option<(i64, i64)>) -> Lock {
        Lock { mode, range }
    }

    #[test]
    fn granted_locks_parse_and_waiters_hold_nothing() {
        assert_eq!(
            posix("1: POSIX  ADVISORY  WRITE 4242 08:02:1316 1073741824 1073741825"),
            HeldLock {
                owner: Some(4242),
                inode: 1316,
                exclusive: true,
                first: 1_073_741_824,
                last: Some(1_073_741_825),
            }
        );
        let flock = posix("2: FLOCK  ADVISORY  READ 77 00:2a:99 0 EOF");
        assert_eq!((flock.exclusive, flock.last), (false, None));
        assert_eq!(
            posix("3: OFDLCK ADVISORY  WRITE -1 00:2a:99 0 EOF").owner,
            None
        );
        assert_eq!(
            HeldLock::parse("1: -> POSIX  ADVISORY  WRITE 4243 08:02:1316 0 EOF"),
            None
        );
        assert_eq!(HeldLock::parse("garbage"), None);
    }

    #[test]
    fn only_an_overlapping_lock_that_excludes_the_wanted_mode_conflicts() {
        // SQLite's rollback journal: a writer holds PENDING (1073741824) and RESERVED (+1).
        let pending = posix("1: POSIX  ADVISORY  WRITE 10 08:02:5 1073741824 1073741824");
        assert!(pending.conflicts_with(&want(LockMode::Shared, Some((1_073_741_824, 1)))));
        assert!(!pending.conflicts_with(&want(LockMode::Exclusive, Some((1_073_741_825, 1)))));
        // A length of 0 runs to the end of the file.
        assert!(pending.conflicts_with(&want(LockMode::Exclusive, Some((0, 0)))));
        let shared = posix("2: POSIX  ADVISORY  READ 11 08:02:5 1073741826 1073742335");
        assert!(!shared.conflicts_with(&want(LockMode::Shared, Some((1_073_741_826, 510)))));
        assert!(shared.conflicts_with(&want(LockMode::Exclusive, Some((1_073_741_826, 510)))));
        assert!(shared.conflicts_with(&want(LockMode::Exclusive, None)));
        assert!(!shared.conflicts_with(&want(LockMode::Unlock, None)));
    }
}

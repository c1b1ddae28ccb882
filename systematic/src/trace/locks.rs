//! The file locks the kernel holds, from `/proc/locks`: who holds what range of which file.
//! A poller's wait for a lock ends when the range it wants is free of conflicting locks of
//! other processes, not when any of them unlocks something.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, Flock, FlockArg};
use nix::libc;

use super::call::{Lock, LockMode};

/// One granted lock: `1: POSIX  ADVISORY  WRITE 4242 08:02:1316 1073741824 1073741825`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldLock {
    /// The process holding it; `None` for an open-file-description lock, whose owner
    /// `/proc/locks` does not name.
    pub owner: Option<i32>,
    pub inode: u64,
    /// A record lock (`POSIX`, `OFDLCK`), not a `FLOCK`.
    pub record: bool,
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
        let record = match *fields.get(1)? {
            "FLOCK" => false,
            "POSIX" | "OFDLCK" => true,
            // Leases and delegations keep no lock request waiting.
            _ => return None,
        };
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
            record,
            exclusive,
            first,
            last,
        })
    }

    /// Whether this lock keeps `wanted` (on the same file) from being granted.
    pub fn conflicts_with(&self, wanted: &Lock) -> bool {
        let both_shared = !self.exclusive && wanted.mode == LockMode::Shared;
        if wanted.mode == LockMode::Unlock || both_shared || self.record != wanted.record {
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

/// Reads of `/proc/locks` that make up one view when the file takes more than one read.
const VIEWS_UNITED: usize = 3;

/// Every granted lock, or none when `/proc/locks` cannot be read.
///
/// One `read` of `/proc/locks` is one consistent view (the kernel fills it, up to a page,
/// while it holds the lock list); a file that takes several reads is not: a lock or unlock
/// of another process between two reads shifts the list, and a line is skipped. (A small
/// first read, as `read_to_string` makes, skipped a lock held all along once in twenty reads
/// while other processes locked files.) The actors are stopped while the tracer reads it, so
/// their locks do not change between views: the union of a few views misses one only if
/// every view skips it.
pub(crate) fn held_locks() -> Vec<HeldLock> {
    let mut all: Vec<HeldLock> = Vec::new();
    for _ in 0..VIEWS_UNITED {
        let Some((text, reads)) = read_proc_locks() else {
            break;
        };
        for lock in text.lines().filter_map(HeldLock::parse) {
            if !all.contains(&lock) {
                all.push(lock);
            }
        }
        if reads <= 1 {
            break;
        }
    }
    all
}

/// Whether the kernel would grant `wanted` on the file at `path` now, asked of it directly,
/// since a long `/proc/locks` may skip a line whatever the reader does (see [`held_locks`]): a
/// `flock` taken and dropped at once on a description of the tracer's own (the actors are
/// stopped, none of them sees it), or `F_OFD_GETLK` for a byte range. `None` when the probe
/// cannot tell: the file does not open, the range is not known, or the lock in the way may be
/// the poller's own (`is_poller`, by process id; an open-file-description lock names none).
fn grantable(path: &Path, wanted: &Lock, is_poller: impl Fn(i32) -> bool) -> Option<bool> {
    // Non-blocking: a FIFO's open would wait for a writer, and the tracer must not wait.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let (flock, record) = match wanted.mode {
        LockMode::Shared => (FlockArg::LockSharedNonblock, libc::F_RDLCK),
        LockMode::Exclusive => (FlockArg::LockExclusiveNonblock, libc::F_WRLCK),
        LockMode::Unlock => return Some(true),
    };
    if !wanted.record {
        // Taken, it is dropped (unlocked) at once.
        return match Flock::lock(file, flock) {
            Ok(_taken) => Some(true),
            Err((_, Errno::EAGAIN)) => Some(false),
            Err(_) => None,
        };
    }
    let (start, len) = wanted.range?;
    let mut query = libc::flock {
        l_type: i16::try_from(record).ok()?,
        l_whence: i16::try_from(libc::SEEK_SET).ok()?,
        l_start: start,
        l_len: len,
        l_pid: 0,
    };
    fcntl(&file, FcntlArg::F_OFD_GETLK(&mut query)).ok()?;
    match i32::from(query.l_type) {
        libc::F_UNLCK => Some(true),
        _ if query.l_pid > 0 && !is_poller(query.l_pid) => Some(false),
        _ => None,
    }
}

/// Whether a poller (`is_poller`, by process id) that wants `wanted` on `path` would be granted
/// it now: no conflicting lock of another process in `held`, and the kernel agrees.
pub(crate) fn lock_is_free(
    held: &[HeldLock],
    path: &Path,
    wanted: &Lock,
    is_poller: impl Fn(i32) -> bool + Copy,
) -> bool {
    // A file gone holds no lock.
    let Ok(meta) = std::fs::metadata(path) else {
        return true;
    };
    let listed = held.iter().any(|lock| {
        lock.inode == meta.ino()
            && lock.conflicts_with(wanted)
            // An owner /proc/locks does not name may be the poller itself.
            && lock.owner.is_some_and(|owner| !is_poller(owner))
    });
    // A flock of the poller's own (an upgrade from shared) would refuse a flock probe on the
    // poller's behalf: only /proc/locks tells the two apart. (It never stands in the way of a
    // record lock's probe.)
    let own_flock = !wanted.record
        && held.iter().any(|lock| {
            lock.inode == meta.ino() && !lock.record && lock.owner.is_none_or(is_poller)
        });
    // A long /proc/locks may have skipped the holder's line: a poller woken while the lock is
    // held would make the schedule depend on the machine's load.
    !listed && (own_flock || grantable(path, wanted, is_poller) != Some(false))
}

/// `/proc/locks` in reads of a page or more, and how many reads returned something.
fn read_proc_locks() -> Option<(String, usize)> {
    let mut file = std::fs::File::open("/proc/locks").ok()?;
    let mut chunk = vec![0u8; 1 << 16];
    let mut text = Vec::new();
    let mut reads = 0;
    loop {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                reads += 1;
                text.extend_from_slice(chunk.get(..n)?);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some((String::from_utf8_lossy(&text).into_owned(), reads))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posix(line: &str) -> HeldLock {
        HeldLock::parse(line).expect("a granted lock")
    }

    fn want(mode: LockMode, range: Option<(i64, i64)>) -> Lock {
        Lock {
            mode,
            range,
            record: true,
        }
    }

    #[test]
    fn granted_locks_parse_and_waiters_hold_nothing() {
        assert_eq!(
            posix("1: POSIX  ADVISORY  WRITE 4242 08:02:1316 1073741824 1073741825"),
            HeldLock {
                owner: Some(4242),
                inode: 1316,
                record: true,
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

    /// Locks and unlocks `count` files in `dir` until `stop`, as other processes do.
    fn churn_locks(dir: &Path, count: usize, stop: &std::sync::atomic::AtomicBool) {
        let mut churn: Vec<std::fs::File> = (0..count)
            .map(|i| std::fs::File::create(dir.join(format!("churn-{i}"))))
            .collect::<Result<_, _>>()
            .expect("create");
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let locked: Vec<Flock<std::fs::File>> = churn
                .drain(..)
                .map(|file| Flock::lock(file, FlockArg::LockExclusive).expect("flock"))
                .collect();
            churn = locked
                .into_iter()
                .map(|lock| lock.unlock().expect("unlock"))
                .collect();
        }
    }

    /// Past a page of /proc/locks (more than about 70 locks on the machine) no read is one
    /// view and even the union of three skips lines: the kernel's own answer keeps a lock
    /// held all along from being called free.
    #[test]
    fn a_held_lock_is_never_free_however_many_others_come_and_go() {
        use std::sync::atomic::{AtomicBool, Ordering};

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("held");
        let held = std::fs::File::create(&path).expect("create");
        let _held = Flock::lock(held, FlockArg::LockExclusiveNonblock).expect("flock");
        let wanted = Lock {
            mode: LockMode::Exclusive,
            range: None,
            record: false,
        };
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| churn_locks(dir.path(), 150, &stop));
            let freed = (0..2_000)
                .filter(|_| lock_is_free(&held_locks(), &path, &wanted, |_| false))
                .count();
            stop.store(true, Ordering::Relaxed);
            assert_eq!(freed, 0, "polls that found a lock held all along free");
        });
    }

    /// The direct probe: a `flock` held on another description of the file is in the way, a
    /// record lock of another process is, the poller's own record lock leaves it unsure, and
    /// nothing held means the lock would be granted.
    #[test]
    fn the_kernel_is_asked_whether_a_lock_would_be_granted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lock");
        let file = std::fs::File::create(&path).expect("create");
        let whole = |mode| Lock {
            mode,
            range: None,
            record: false,
        };
        let bytes = Lock {
            mode: LockMode::Exclusive,
            range: Some((100, 1)),
            record: true,
        };
        let nobody = |_: i32| false;
        assert_eq!(
            grantable(&path, &whole(LockMode::Exclusive), nobody),
            Some(true)
        );
        let held = Flock::lock(file, FlockArg::LockSharedNonblock).expect("flock");
        assert_eq!(
            grantable(&path, &whole(LockMode::Shared), nobody),
            Some(true)
        );
        assert_eq!(
            grantable(&path, &whole(LockMode::Exclusive), nobody),
            Some(false)
        );
        // A flock does not stand in the way of a record lock.
        assert_eq!(grantable(&path, &bytes, nobody), Some(true));
        let file = held.unlock().expect("unlock");
        let range = libc::flock {
            l_type: libc::F_WRLCK as i16,
            l_whence: libc::SEEK_SET as i16,
            l_start: 100,
            l_len: 1,
            l_pid: 0,
        };
        // The probe's close of its own description drops every record lock this process holds
        // on the file (POSIX's rule; the tracer is not the actors' process): taken again each time.
        let lock_range = || fcntl(&file, FcntlArg::F_SETLK(&range)).expect("record lock");
        let me = i32::try_from(std::process::id()).expect("pid");
        lock_range();
        assert_eq!(grantable(&path, &bytes, nobody), Some(false));
        lock_range();
        assert_eq!(grantable(&path, &bytes, |pid| pid == me), None);
        lock_range();
        assert_eq!(
            grantable(
                &path,
                &Lock {
                    range: Some((101, 1)),
                    ..bytes
                },
                nobody
            ),
            Some(true)
        );
        assert_eq!(grantable(&dir.path().join("gone"), &bytes, nobody), None);
    }
}

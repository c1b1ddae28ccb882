//! The client's head cache: keyed by a hash, atomic, symlink-safe, owner-checked, and every
//! fault degrades to "no cache".
// Real threads and std primitives: the loom build runs only the loom models (witness_loom).
#![cfg(not(loom))]

mod bootstrap_support;

use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use bootstrap_support::{fast_tempdir, head, names_in, FaultFs, HookFs};
use keyrace_core::bootstrap::SignedTreeHead;
use keyrace_core::witness::cache::{cache_file_name, decode, encode, MAX_CACHE_FILE};
use keyrace_core::witness::{ApiKey, CacheLoad, CacheMiss, CacheStore, FileCacheStore};
use keyrace_core::{Fs, OsFs};
use proptest::prelude::*;

const SERVER: &str = "https://witness.example";
const KEY: &str = "lk_live_9f8e7d6c5b4a_secret";

fn store_in(dir: &Path) -> FileCacheStore<OsFs> {
    FileCacheStore::new(OsFs, dir, SERVER, &ApiKey::new(KEY))
}

#[test]
fn the_file_name_is_a_hash_of_server_and_key() {
    let key = ApiKey::new(KEY);
    let name = cache_file_name(SERVER, &key);
    assert!(
        name.starts_with("keyrace-sth-") && name.ends_with(".json"),
        "{name}"
    );
    assert!(!name.contains(KEY) && !name.contains("witness"));
    assert_eq!(name, cache_file_name(SERVER, &ApiKey::new(KEY)), "stable");
    assert_ne!(name, cache_file_name(SERVER, &ApiKey::new("another key")));
    assert_ne!(name, cache_file_name("https://other.example", &key));
    // Length-prefixed: moving bytes between server and key changes the name.
    assert_ne!(
        cache_file_name("ab", &ApiKey::new("c")),
        cache_file_name("a", &ApiKey::new("bc"))
    );
}

#[test]
fn two_keys_against_one_server_never_share_a_file() {
    let dir = fast_tempdir();
    let a = FileCacheStore::new(OsFs, dir.path(), SERVER, &ApiKey::new("key-a"));
    let b = FileCacheStore::new(OsFs, dir.path(), SERVER, &ApiKey::new("key-b"));
    assert_ne!(a.path(), b.path());
    a.store(&head(1, 1)).expect("a");
    b.store(&head(2, 2)).expect("b");
    assert_eq!(a.load(), CacheLoad::Hit(head(1, 1)));
    assert_eq!(b.load(), CacheLoad::Hit(head(2, 2)));
}

#[test]
fn store_then_load_round_trips_privately_without_the_key() {
    let dir = fast_tempdir();
    let cache = store_in(&dir.path().join("made").join("on demand"));
    cache.store(&head(5, 5)).expect("store");
    assert_eq!(cache.load(), CacheLoad::Hit(head(5, 5)));
    cache.store(&head(6, 6)).expect("replace");
    assert_eq!(cache.load(), CacheLoad::Hit(head(6, 6)));
    let bytes = std::fs::read(cache.path()).expect("read");
    assert!(!String::from_utf8_lossy(&bytes).contains(KEY));
    assert_eq!(
        names_in(cache.path().parent().expect("dir")).len(),
        1,
        "no temp leftovers"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cache.path())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(cache.path().parent().expect("dir"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }
}

#[test]
fn a_missing_cache_is_a_miss() {
    let dir = fast_tempdir();
    assert_eq!(
        store_in(dir.path()).load(),
        CacheLoad::Miss(CacheMiss::Missing)
    );
    assert_eq!(
        store_in(&dir.path().join("no such dir")).load(),
        CacheLoad::Miss(CacheMiss::Missing)
    );
}

#[test]
fn corrupt_or_shape_invalid_files_are_misses() {
    let dir = fast_tempdir();
    let cache = store_in(dir.path());
    let good = String::from_utf8(encode(&head(1, 1))).expect("utf-8");
    let oversized = format!("{good}{}", " ".repeat(MAX_CACHE_FILE as usize));
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"garbage".to_vec(),
        good.as_bytes()[..good.len() / 2].to_vec(),
        br#"{"version":1,"head":"not a head"}"#.to_vec(),
        br#"{"version":1,"head":"01:AAAAAAAAAAAAAAAAAAAAAA"}"#.to_vec(),
        br#"{"version":2,"head":"1:AQEBAQEBAQEBAQEBAQEBAQ"}"#.to_vec(),
        br#"{"version":1,"head":"1:AQEBAQEBAQEBAQEBAQEBAQ","extra":true}"#.to_vec(),
        br#"{"version":1}"#.to_vec(),
        br#"["1:AQEBAQEBAQEBAQEBAQEBAQ"]"#.to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80],
        oversized.into_bytes(),
    ];
    assert_eq!(
        decode(good.as_bytes()),
        Some(head(1, 1)),
        "the control case parses"
    );
    for bytes in cases {
        std::fs::write(cache.path(), &bytes).expect("plant");
        assert_eq!(
            cache.load(),
            CacheLoad::Miss(CacheMiss::Corrupt),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn a_directory_at_the_cache_path_is_a_miss_and_an_unwritable_cache() {
    let dir = fast_tempdir();
    let cache = store_in(dir.path());
    std::fs::create_dir(cache.path()).expect("plant dir");
    assert_eq!(cache.load(), CacheLoad::Miss(CacheMiss::NotAFile));
    assert!(cache.store(&head(1, 1)).is_err());
    assert!(cache.path().is_dir());
}

#[test]
#[cfg_attr(not(unix), ignore = "file owners (uids) are a unix notion")]
fn a_file_owned_by_another_user_is_refused() {
    let dir = fast_tempdir();
    let fs = FaultFs::new();
    let cache = FileCacheStore::new(&fs, dir.path(), SERVER, &ApiKey::new(KEY));
    cache.store(&head(1, 1)).expect("store");
    let me = fs
        .process_uid()
        .expect("a uid: file owners exist on this system");
    *fs.fake_uid.lock().expect("uid") = Some(me);
    assert_eq!(
        cache.load(),
        CacheLoad::Hit(head(1, 1)),
        "own file: trusted"
    );
    *fs.fake_uid.lock().expect("uid") = Some(me.wrapping_add(1));
    assert_eq!(cache.load(), CacheLoad::Miss(CacheMiss::ForeignOwner));
}

#[test]
fn an_unreadable_or_unwritable_cache_degrades_without_panicking() {
    let dir = fast_tempdir();
    let fs = FaultFs::new();
    let cache = FileCacheStore::new(&fs, dir.path(), SERVER, &ApiKey::new(KEY));
    FaultFs::set(&fs.fail_create, true);
    assert!(cache.store(&head(1, 1)).is_err());
    assert_eq!(cache.load(), CacheLoad::Miss(CacheMiss::Missing));
    FaultFs::set(&fs.fail_create, false);
    FaultFs::set(&fs.fail_rename, true);
    assert!(cache.store(&head(1, 1)).is_err());
    assert_eq!(names_in(dir.path()).len(), 0, "the temp file is cleaned up");
    FaultFs::set(&fs.fail_rename, false);
    cache.store(&head(1, 1)).expect("store");
    FaultFs::set(&fs.fail_lstat, true);
    assert_eq!(cache.load(), CacheLoad::Miss(CacheMiss::Unreadable));
}

// ---- symlinks: never followed on load, never written through on store ----

/// The `sth-cache` symlink invariant, as a checker: with a symlink planted at the cache path,
/// a load must not return the target's head, and a store must leave the target untouched.
fn symlink_safe<C: CacheStore>(cache: &C, cache_path: &Path, dir: &Path) -> Result<(), String> {
    let victim = dir.join("victim.json");
    std::fs::write(&victim, encode(&head(9, 9))).map_err(|e| e.to_string())?;
    plant_symlink(&victim, cache_path);
    if let CacheLoad::Hit(h) = cache.load() {
        return Err(format!("load followed the symlink and returned {h}"));
    }
    let _ = cache.store(&head(1, 1));
    let after = std::fs::read(&victim).map_err(|e| e.to_string())?;
    if after != encode(&head(9, 9)) {
        return Err("store wrote through the symlink into its target".to_owned());
    }
    Ok(())
}

#[cfg(unix)]
fn plant_symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

#[cfg(not(unix))]
fn plant_symlink(_target: &Path, _link: &Path) {}

#[cfg(unix)]
#[test]
fn a_planted_symlink_is_never_followed_or_written_through() {
    let dir = fast_tempdir();
    let cache = store_in(&dir.path().join("cache"));
    std::fs::create_dir(dir.path().join("cache")).expect("dir");
    assert_eq!(symlink_safe(&cache, cache.path(), dir.path()), Ok(()));
    // The store replaced the link itself with a regular file of its own.
    let meta = std::fs::symlink_metadata(cache.path()).expect("lstat");
    assert!(meta.file_type().is_file());
    assert_eq!(cache.load(), CacheLoad::Hit(head(1, 1)));
}

#[cfg(unix)]
#[test]
fn a_symlink_to_a_missing_target_is_not_created_through() {
    let dir = fast_tempdir();
    let cache = store_in(dir.path());
    let target = dir.path().join("would-be-created");
    plant_symlink(&target, cache.path());
    assert_eq!(cache.load(), CacheLoad::Miss(CacheMiss::Symlink));
    cache.store(&head(1, 1)).expect("store");
    assert!(!target.exists());
}

/// `cache-follows-symlink` (seed 002, HIGH-1 / CWE-59): plain std reads and writes, which
/// follow a link at the cache path.
struct FollowsSymlink<'a>(&'a Path);

impl CacheStore for FollowsSymlink<'_> {
    fn load(&self) -> CacheLoad {
        match std::fs::read(self.0).ok().and_then(|b| decode(&b)) {
            Some(h) => CacheLoad::Hit(h),
            None => CacheLoad::Miss(CacheMiss::Missing),
        }
    }
    fn store(&self, head: &SignedTreeHead) -> io::Result<()> {
        std::fs::write(self.0, encode(head))
    }
}

#[cfg(unix)]
#[test]
fn checker_catches_cache_follows_symlink() {
    let dir = fast_tempdir();
    let path = dir.path().join("cache.json");
    let verdict = symlink_safe(&FollowsSymlink(&path), &path, dir.path());
    assert!(
        matches!(&verdict, Err(m) if m.starts_with("load followed the symlink")),
        "{verdict:?}"
    );
}

// ---- concurrent writers and a reader: never a partial file ----

/// The `sth-cache` atomicity invariant, as a checker: a load that finds a file finds a
/// complete one (a hit, or at worst a missing file before the first store).
fn never_partial(load: CacheLoad) -> Result<(), String> {
    match load {
        CacheLoad::Hit(_) | CacheLoad::Miss(CacheMiss::Missing) => Ok(()),
        CacheLoad::Miss(miss) => Err(format!("a reader saw a partial or foreign file: {miss:?}")),
    }
}

#[test]
fn a_concurrent_reader_never_sees_a_partial_file() {
    let dir = fast_tempdir();
    let cache = store_in(dir.path());
    let done = AtomicBool::new(false);
    // Everyone starts together, so the reader overlaps the writers even on a busy machine
    // where it could otherwise be scheduled only after they are done.
    let start = std::sync::Barrier::new(4);
    thread::scope(|s| {
        let writers: Vec<_> = (0..3u8)
            .map(|w| {
                let (cache, start) = (&cache, &start);
                s.spawn(move || {
                    start.wait();
                    for i in 0..150u64 {
                        cache.store(&head(i + 1, w)).expect("store");
                    }
                })
            })
            .collect();
        let reader = s.spawn(|| {
            start.wait();
            let mut loads = 0u32;
            loop {
                never_partial(cache.load()).expect("atomic cache");
                loads += 1;
                if done.load(Ordering::SeqCst) {
                    break;
                }
            }
            loads
        });
        for w in writers {
            w.join().expect("writer");
        }
        done.store(true, Ordering::SeqCst);
        assert!(reader.join().expect("reader") > 0);
    });
    assert!(matches!(cache.load(), CacheLoad::Hit(_)));
    assert_eq!(names_in(dir.path()).len(), 1, "no temp leftovers");
}

/// `cache-write-in-place` (seed 002, HIGH-1's torn file): unlink, recreate and write the cache
/// path itself in two pieces. `between` runs between the pieces, where a reader can look.
struct WriteInPlace<'a, F: Fs> {
    fs: F,
    path: &'a Path,
    between: &'a (dyn Fn() + Sync),
}

impl<F: Fs> CacheStore for WriteInPlace<'_, F> {
    fn load(&self) -> CacheLoad {
        CacheLoad::Miss(CacheMiss::Missing)
    }
    fn store(&self, head: &SignedTreeHead) -> io::Result<()> {
        let bytes = encode(head);
        let _ = self.fs.remove_file(self.path);
        let mut file = self.fs.create_new(self.path, 0o600)?;
        file.write_all(&bytes[..bytes.len() / 2])?;
        (self.between)();
        file.write_all(&bytes[bytes.len() / 2..])
    }
}

#[test]
fn checker_catches_cache_write_in_place() {
    let dir = fast_tempdir();
    let reader = store_in(dir.path());
    let seen = std::sync::Mutex::new(Vec::new());
    let look = || {
        seen.lock()
            .expect("seen")
            .push(never_partial(reader.load()))
    };
    let mutant = WriteInPlace {
        fs: OsFs,
        path: reader.path(),
        between: &look,
    };
    mutant.store(&head(1, 1)).expect("store");
    let seen = seen.into_inner().expect("seen");
    assert_eq!(seen.len(), 1);
    assert!(seen[0].is_err(), "the reader saw a torn file: {seen:?}");
    // The reference, looked at the same way at its last step before publishing (temp file
    // complete, rename not yet done), shows the reader the previous complete file.
    let seen = std::sync::Mutex::new(Vec::new());
    let look = || seen.lock().expect("seen").push(reader.load());
    let reference = FileCacheStore::new(
        HookFs {
            before_rename: &look,
        },
        dir.path(),
        SERVER,
        &ApiKey::new(KEY),
    );
    reference.store(&head(2, 2)).expect("store");
    assert_eq!(
        seen.into_inner().expect("seen"),
        vec![CacheLoad::Hit(head(1, 1))]
    );
    assert_eq!(reader.load(), CacheLoad::Hit(head(2, 2)));
}

proptest! {
    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn encode_decode_round_trips(position: u64, prefix: [u8; 16]) {
        let h = SignedTreeHead::new(position, prefix);
        prop_assert_eq!(decode(&encode(&h)), Some(h));
    }
}

#[test]
fn the_temp_dir_cache_lives_in_the_os_temp_dir_under_its_hashed_name() {
    let key = ApiKey::new(KEY);
    let cache = FileCacheStore::in_temp_dir(OsFs, SERVER, &key);
    assert_eq!(
        cache.path(),
        std::env::temp_dir().join(cache_file_name(SERVER, &key))
    );
}

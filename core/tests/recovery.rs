//! Recovery without open (seed 000): destroy/reset work on broken stores, refuse what is not a
//! store, treat a missing store as done, and retry BUSY a bounded number of times.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::TestFs;
use keyrace_core::{
    destroy_at_path, destroy_at_path_with, load_or_create, reset_at_path, ErrorCode, OsFs,
    RetryPolicy, Store, StoreOptions,
};

fn broken_store() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    let key = load_or_create(&OsFs, &dir).expect("key").key;
    let store = Store::open_or_create(OsFs, &dir, &key, &StoreOptions::default()).expect("create");
    store.put("a", b"1").expect("put");
    store.put("b", b"2").expect("put");
    std::fs::write(dir.join("meta.json"), b"garbage").expect("break meta");
    std::fs::write(dir.join(".keyrace-tmp-0123456789abcdef"), b"leftover").expect("temp");
    (temp, dir)
}

#[test]
fn destroy_removes_a_broken_store_without_opening_it() {
    let (_temp, dir) = broken_store();
    let removed = destroy_at_path(&OsFs, &dir).expect("destroy");
    assert!(!dir.exists());
    // meta.json, key, temp file, two secrets; secrets/ and the store directory.
    assert_eq!((removed.files, removed.dirs), (5, 2));
}

#[test]
fn reset_keeps_the_directory_and_a_fresh_store_then_works() {
    let (_temp, dir) = broken_store();
    reset_at_path(&OsFs, &dir, true).expect("reset");
    assert!(dir.is_dir());
    assert_eq!(std::fs::read_dir(&dir).expect("ls").count(), 0);
    let key = load_or_create(&OsFs, &dir).expect("new key").key;
    let store = Store::open_or_create(OsFs, &dir, &key, &StoreOptions::default()).expect("fresh");
    store.put("c", b"3").expect("put");
    assert_eq!(store.list().expect("list"), ["c"]);
    reset_at_path(&OsFs, &dir, false).expect("reset without keeping the directory");
    assert!(!dir.exists());
}

#[test]
fn a_missing_store_is_already_destroyed() {
    let temp = tempfile::tempdir().expect("tempdir");
    let removed = destroy_at_path(&OsFs, &temp.path().join("never-made")).expect("done");
    assert_eq!((removed.files, removed.dirs), (0, 0));
}

#[test]
fn a_directory_that_is_not_a_store_is_refused_and_left_untouched() {
    let temp = tempfile::tempdir().expect("tempdir");
    let home = temp.path().join("home");
    std::fs::create_dir_all(home.join("secrets")).expect("mkdir");
    std::fs::write(home.join(".bashrc"), b"alias ll='ls -l'").expect("write");
    std::fs::write(home.join("meta.json"), b"{}").expect("write");
    let err = destroy_at_path(&OsFs, &home).expect_err("not a store");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(err.to_string().contains(".bashrc"), "{err}");
    assert!(home.join(".bashrc").exists() && home.join("meta.json").exists());

    // A lookalike whose secrets/ holds a user's file is refused too.
    let lookalike = temp.path().join("lookalike");
    std::fs::create_dir_all(lookalike.join("secrets")).expect("mkdir");
    std::fs::write(lookalike.join("secrets").join("passwords.txt"), b"x").expect("write");
    let err = reset_at_path(&OsFs, &lookalike, true).expect_err("not a store");
    assert!(err.to_string().contains("passwords.txt"), "{err}");
    assert!(lookalike.join("secrets").join("passwords.txt").exists());

    // Through a symlink the same shape checks apply to what it points at.
    let link = temp.path().join("link-to-home");
    std::os::unix::fs::symlink(&home, &link).expect("symlink");
    assert_eq!(
        destroy_at_path(&OsFs, &link)
            .expect_err("not a store")
            .code(),
        ErrorCode::InvalidArgument
    );
    assert!(home.join(".bashrc").exists() && link.exists());
    let dangling = temp.path().join("dangling");
    std::os::unix::fs::symlink(temp.path().join("nothing"), &dangling).expect("symlink");
    assert_eq!(
        destroy_at_path(&OsFs, &dangling)
            .expect_err("a link to nothing")
            .code(),
        ErrorCode::InvalidArgument
    );
}

#[test]
fn a_store_reached_through_a_symlink_is_reset_and_destroyed_through_it() {
    let temp = tempfile::tempdir().expect("tempdir");
    let (_store_temp, dir) = broken_store();
    let link = temp.path().join("link");
    std::os::unix::fs::symlink(&dir, &link).expect("symlink");
    reset_at_path(&OsFs, &link, true).expect("reset through the link");
    assert!(link.exists() && std::fs::read_dir(&dir).expect("list").count() == 0);
    // It opened through the link before; a fresh store does too, and destroy takes it away.
    let key = load_or_create(&OsFs, &link).expect("key").key;
    Store::open_or_create(OsFs, &link, &key, &StoreOptions::default())
        .expect("fresh store")
        .put("s", b"v")
        .expect("put");
    destroy_at_path(&OsFs, &link).expect("destroy through the link");
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the link is gone"
    );
    assert_eq!(
        std::fs::read_dir(&dir)
            .expect("the directory it named stays")
            .count(),
        0
    );
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(25),
    }
}

#[test]
fn busy_deletions_are_retried_with_backoff_within_the_bound() {
    let (_temp, dir) = broken_store();
    let fs = TestFs::busy(3); // the first removal is busy three times, then succeeds
    let mut slept = Vec::new();
    destroy_at_path_with(&fs, &dir, &policy(), &mut |d| slept.push(d)).expect("destroy");
    assert!(!dir.exists());
    assert_eq!(
        slept,
        [10, 20, 25].map(Duration::from_millis),
        "exponential backoff capped at max_delay"
    );
}

#[test]
fn busy_beyond_the_bound_is_a_busy_error_after_exactly_max_attempts() {
    let (_temp, dir) = broken_store();
    let fs = TestFs::busy(usize::MAX);
    let mut slept = Vec::new();
    let err = destroy_at_path_with(&fs, &dir, &policy(), &mut |d| slept.push(d))
        .expect_err("always busy");
    assert_eq!(err.code(), ErrorCode::Busy, "{err}");
    assert_eq!(fs.removals_tried(), 4);
    assert_eq!(slept.len(), 3);
    assert!(
        dir.join("key").exists(),
        "nothing but the attempted file may be gone"
    );
}

#[test]
fn a_directory_holding_only_a_key_file_is_refused_and_the_key_kept() {
    let temp = tempfile::tempdir().expect("tempdir");
    let key_dir = temp.path().join("keys");
    let key = load_or_create(&OsFs, &key_dir).expect("key");
    assert!(key.created);
    let err = destroy_at_path(&OsFs, &key_dir).expect_err("a lone key file is not a store");
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    let err = reset_at_path(&OsFs, &key_dir, true).expect_err("not a store");
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    assert!(key_dir.join("key").exists(), "the master key was deleted");
}

#[test]
fn delete_pending_errors_are_transient_on_windows_only() {
    use keyrace_core::transient_on_removal;
    use std::io;
    let busy = io::Error::new(io::ErrorKind::ResourceBusy, "busy");
    let access_denied = io::Error::from_raw_os_error(5); // ERROR_ACCESS_DENIED on Windows
    let dir_not_empty = io::Error::from_raw_os_error(145); // ERROR_DIR_NOT_EMPTY on Windows
    let denied = io::Error::new(io::ErrorKind::PermissionDenied, "denied");
    for windows in [false, true] {
        assert!(transient_on_removal(&busy, windows));
        assert!(!transient_on_removal(&denied, windows), "no raw code");
    }
    assert!(transient_on_removal(&access_denied, true));
    assert!(transient_on_removal(&dir_not_empty, true));
    // Elsewhere 5 and 145 are other errors (EIO on Linux): never retried.
    assert!(!transient_on_removal(&access_denied, false));
    assert!(!transient_on_removal(&dir_not_empty, false));
}

#[cfg(unix)]
#[test]
fn a_name_that_is_not_utf8_is_named_and_refused_not_mangled() {
    use std::os::unix::ffi::OsStrExt;
    let (_temp, dir) = broken_store();
    // A temp-looking name with a byte that is not UTF-8: lossy decoding would turn it into
    // another name, whose removal would "succeed" by NotFound and leave the file behind.
    let odd = dir.join(std::ffi::OsStr::from_bytes(b".keyrace-tmp-\xff"));
    std::fs::write(&odd, b"x").expect("write");
    let err = destroy_at_path(&OsFs, &dir).expect_err("not one of ours");
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    assert!(odd.exists() && dir.join("key").exists());
}

#[test]
fn a_symlinked_secrets_directory_is_emptied_and_unlinked_not_refused() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    let elsewhere = temp.path().join("secrets-on-another-disk");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    std::os::unix::fs::symlink(&elsewhere, dir.join("secrets")).expect("symlink");
    let key = load_or_create(&OsFs, &dir).expect("key").key;
    let store = Store::open_or_create(OsFs, &dir, &key, &StoreOptions::default()).expect("open");
    store.put("a", b"1").expect("put through the link");
    assert_eq!(std::fs::read_dir(&elsewhere).expect("list").count(), 1);
    reset_at_path(&OsFs, &dir, true).expect("reset");
    assert!(
        std::fs::symlink_metadata(dir.join("secrets")).is_err(),
        "link gone"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).expect("list").count(), 0);
    assert_eq!(std::fs::read_dir(&dir).expect("list").count(), 0);
    // A user's file behind the link still makes it "not a store".
    std::os::unix::fs::symlink(&elsewhere, dir.join("secrets")).expect("symlink");
    std::fs::write(dir.join("meta.json"), b"{}").expect("meta");
    std::fs::write(elsewhere.join("notes.txt"), b"mine").expect("write");
    let err = destroy_at_path(&OsFs, &dir).expect_err("not a store");
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    assert!(elsewhere.join("notes.txt").exists());
}

//! Directory creation on the real filesystem: symlinks, at the directory or above it, are
//! followed; a file in the way is named. (Durability of every new directory is checked on
//! SimFs with a crash, in `keyrace-harness`.)
#![cfg(unix)]

use keyrace_core::fs::create_dir_all;
use keyrace_core::{load_or_create, OsFs, Store, StoreOptions};

#[test]
fn a_store_below_a_symlinked_ancestor_is_created() {
    let temp = tempfile::tempdir().expect("tempdir");
    let real = temp.path().join("real-config");
    std::fs::create_dir(&real).expect("mkdir");
    // Like a stow-managed ~/.config, or macOS's /tmp -> /private/tmp.
    let linked = temp.path().join("config");
    std::os::unix::fs::symlink(&real, &linked).expect("symlink");
    let dir = linked.join("app").join("store");
    let key = load_or_create(&OsFs, &dir)
        .expect("key file below a symlink")
        .key;
    let store = Store::open_or_create(OsFs, &dir, &key, &StoreOptions::default())
        .expect("store below a symlink");
    store.put("s", b"v").expect("put");
    assert!(real.join("app").join("store").join("key").is_file());
}

#[test]
fn a_symlinked_key_directory_is_used_not_refused() {
    let temp = tempfile::tempdir().expect("tempdir");
    let real = temp.path().join("real");
    std::fs::create_dir(&real).expect("mkdir");
    let dir = temp.path().join("store");
    std::os::unix::fs::symlink(&real, &dir).expect("symlink");
    create_dir_all(&OsFs, &dir, 0o700).expect("a link to a directory is a directory");
    let key = load_or_create(&OsFs, &dir)
        .expect("key file through the link")
        .key;
    assert!(real.join("key").is_file());
    assert_eq!(load_or_create(&OsFs, &dir).expect("load").key, key);
    // A file in place of a directory is still an error that names it.
    let file = temp.path().join("file");
    std::fs::write(&file, b"x").expect("write");
    let err = create_dir_all(&OsFs, &file.join("below"), 0o700).expect_err("not a directory");
    assert!(
        err.to_string().to_lowercase().contains("not a directory"),
        "{err}"
    );
}

//! Directory creation on the real filesystem: symlinked ancestors are followed, a symlink in
//! place of the directory to create is refused. (Durability of every new directory is checked on
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
fn a_symlink_in_place_of_the_directory_itself_is_refused() {
    let temp = tempfile::tempdir().expect("tempdir");
    let elsewhere = temp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    let dir = temp.path().join("store");
    std::os::unix::fs::symlink(&elsewhere, &dir).expect("symlink");
    let err = create_dir_all(&OsFs, &dir, 0o700).expect_err("a symlink is not a directory");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_dir(&elsewhere).expect("list").count(), 0);
}

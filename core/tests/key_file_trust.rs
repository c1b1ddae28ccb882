//! The key file is trusted only as a regular file of this process's user that no one else can
//! access, checked before the open and again on the open handle; a filesystem that cannot keep
//! it private fails at creation, before anything is encrypted under the key.
#![cfg(unix)]

mod bootstrap_support;

use std::os::unix::fs::PermissionsExt;

use bootstrap_support::FaultFs;
use keyrace_core::{load_or_create, resolve_key, ErrorCode, Fs, KeyMode, KeySources, OsFs};

fn sources(dir: &std::path::Path, mode: KeyMode) -> KeySources {
    KeySources {
        key_file_dir: Some(dir.to_owned()),
        mode,
        ..KeySources::default()
    }
}

#[test]
fn a_key_file_of_another_user_is_permission_denied() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    let key = load_or_create(&OsFs, &dir).expect("create").key;
    let fs = FaultFs::new();
    let me = fs.process_uid().expect("unix has uids");
    *fs.fake_uid.lock().expect("uid") = Some(me.wrapping_add(1));
    for mode in [KeyMode::Production, KeyMode::DevEphemeral] {
        let err = resolve_key(&fs, &sources(&dir, mode)).expect_err("foreign key file");
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
        assert!(err.to_string().contains("owned by uid"), "{err}");
    }
    *fs.fake_uid.lock().expect("uid") = Some(me);
    assert_eq!(load_or_create(&fs, &dir).expect("own file").key, key);
}

#[test]
fn a_file_swapped_in_after_the_lstat_is_checked_on_its_open_handle() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    load_or_create(&OsFs, &dir).expect("create");
    // What the open finds instead: a well-formed key that other users can read.
    let swapped = temp.path().join("swapped");
    std::fs::copy(dir.join("key"), &swapped).expect("copy");
    std::fs::set_permissions(&swapped, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let fs = FaultFs::new();
    *fs.open_instead.lock().expect("swap") = Some(swapped);
    let err = load_or_create(&fs, &dir).expect_err("the opened file is not private");
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    assert!(err.to_string().contains("0644"), "{err}");
}

#[test]
fn a_filesystem_that_ignores_modes_fails_at_creation_not_at_the_next_load() {
    let temp = tempfile::tempdir().expect("tempdir");
    let fs = FaultFs::new();
    *fs.fake_mode.lock().expect("mode") = Some(0o755); // what a FAT mount reports
    for mode in [KeyMode::Production, KeyMode::DevEphemeral] {
        let dir = temp.path().join(format!("{mode:?}"));
        let err = resolve_key(&fs, &sources(&dir, mode)).expect_err("cannot keep it private");
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
        let message = err.to_string();
        assert!(message.contains("does not keep file modes"), "{message}");
        assert!(message.contains("KEYRACE_MASTER_KEY"), "{message}");
        assert!(
            !message.contains("chmod"),
            "chmod cannot help here: {message}"
        );
        assert!(!dir.join("key").exists(), "the unusable key was taken back");
    }
}

//! Every error code of opening, triggered by a real broken store on disk (seed 000), and a
//! failed open never leaves a handle behind.

mod common;

use std::path::{Path, PathBuf};

use common::TestFs;
use keyrace_core::{
    load_or_create, reset_at_path, resolve_key, Error, ErrorCode, Identity, IdentityComponent,
    IntegrityReason, Interface, Key, KeySources, OsFs, Store, StoreOptions,
};

struct Fixture {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    key: Key,
    options: StoreOptions,
}

fn identity(hostname: &str) -> Identity {
    let nic = Interface {
        name: "eth0".into(),
        mac: [0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e],
        physical: true,
        loopback: false,
    };
    Identity::from_parts(&[nic], hostname, "uid:1000")
}

/// A store with two secrets, bound to host "alpha", with its key in the key file.
fn populated() -> Fixture {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    let key = load_or_create(&OsFs, &dir).expect("key").key;
    let options = StoreOptions {
        identity: Some(identity("alpha")),
    };
    let store = Store::open_or_create(OsFs, &dir, &key, &options).expect("create");
    store.put("a", b"apple").expect("put a");
    store.put("b", b"banana").expect("put b");
    Fixture {
        _temp: temp,
        dir,
        key,
        options,
    }
}

impl Fixture {
    fn meta(&self) -> PathBuf {
        self.dir.join("meta.json")
    }

    fn secret(&self, name: &str) -> PathBuf {
        self.dir.join("secrets").join(hex::encode(name))
    }

    /// Open through a handle-counting `Fs`; a failed open must have released every handle.
    fn open_err_with(&self, key: &Key, options: &StoreOptions) -> Error {
        let fs = TestFs::default();
        let err = Store::open(&fs, &self.dir, key, options).expect_err("open must fail");
        assert!(
            fs.opened_handles() + fs.lookups() > 0,
            "the open did not go through the Fs"
        );
        assert_eq!(fs.live_handles(), 0, "a failed open left handles: {err}");
        err
    }

    fn open_err(&self) -> Error {
        self.open_err_with(&self.key, &self.options)
    }

    fn rewrite_meta(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let bytes = std::fs::read(self.meta()).expect("read meta");
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).expect("meta is JSON");
        edit(&mut value);
        std::fs::write(self.meta(), serde_json::to_vec(&value).expect("json")).expect("write");
    }
}

#[test]
fn a_healthy_store_opens_and_releases_every_handle() {
    let f = populated();
    let fs = TestFs::default();
    let store = Store::open(&fs, &f.dir, &f.key, &f.options).expect("open");
    assert_eq!(
        store.get("a").expect("get").as_deref().map(Vec::as_slice),
        Some(&b"apple"[..])
    );
    assert_eq!(store.list().expect("list"), ["a", "b"]);
    assert_eq!(fs.live_handles(), 0);
}

#[test]
fn deleted_metadata_is_metadata_missing_and_never_recreated() {
    let f = populated();
    std::fs::remove_file(f.meta()).expect("rm meta");
    let err = f.open_err();
    assert_eq!(err.code(), ErrorCode::MetadataMissing, "{err}");
    assert!(err.to_string().contains("reset_at_path"), "{err}");
    let err = Store::open_or_create(OsFs, &f.dir, &f.key, &f.options)
        .expect_err("open_or_create must not paper over missing metadata");
    assert_eq!(err.code(), ErrorCode::MetadataMissing);
    assert!(
        !f.meta().exists(),
        "metadata was recreated over existing secrets"
    );
}

#[test]
fn truncated_empty_or_garbage_metadata_is_metadata_corrupted() {
    let f = populated();
    let original = std::fs::read(f.meta()).expect("read");
    let cases: [(&str, Vec<u8>); 4] = [
        ("truncated", original[..original.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("garbage", vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x7f]),
        ("bad salt", {
            let text = String::from_utf8(original.clone()).expect("utf8");
            let salt_at = text.find("\"salt\": \"").expect("salt field") + 9;
            let mut bytes = text.into_bytes();
            bytes[salt_at] = b'z';
            bytes
        }),
    ];
    for (what, bytes) in cases {
        std::fs::write(f.meta(), &bytes).expect("write");
        let err = f.open_err();
        assert_eq!(err.code(), ErrorCode::MetadataCorrupted, "{what}: {err}");
    }
}

#[test]
fn another_format_version_is_unsupported_version_with_the_version_found() {
    let f = populated();
    f.rewrite_meta(|v| v["version"] = serde_json::json!(2));
    let err = f.open_err();
    assert_eq!(err.code(), ErrorCode::UnsupportedVersion);
    assert!(
        matches!(err, Error::UnsupportedVersion { found: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("version 2"), "{err}");
    assert!(err.to_string().contains("upgrade keyrace"), "{err}");
    // An older number is not fixed by upgrading.
    f.rewrite_meta(|v| v["version"] = serde_json::json!(0));
    let err = f.open_err();
    assert_eq!(err.code(), ErrorCode::UnsupportedVersion);
    assert!(!err.to_string().contains("upgrade"), "{err}");
    assert!(err.to_string().contains("backup"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_directory_or_fifo_at_meta_json_is_metadata_corrupted_and_never_opened() {
    let f = populated();
    std::fs::remove_file(f.meta()).expect("rm meta");
    std::fs::create_dir(f.meta()).expect("mkdir meta.json");
    let open = || {
        let fs = TestFs::default();
        let err = Store::open(&fs, &f.dir, &f.key, &f.options).expect_err("refused");
        assert_eq!(fs.live_handles(), 0, "a failed open left handles: {err}");
        err
    };
    let err = open();
    assert_eq!(err.code(), ErrorCode::MetadataCorrupted, "{err}");
    assert!(err.to_string().contains("a directory"), "{err}");
    std::fs::remove_dir(f.meta()).expect("rmdir");
    // A FIFO would block an open forever.
    rustix::fs::mknodat(
        rustix::fs::CWD,
        f.meta(),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        0,
    )
    .expect("mkfifo");
    let err = open();
    assert_eq!(err.code(), ErrorCode::MetadataCorrupted, "{err}");
    assert!(err.to_string().contains("special file"), "{err}");
    // The advice works: reset clears the FIFO without opening it, then a fresh store opens.
    reset_at_path(&OsFs, &f.dir, true).expect("reset clears a FIFO at meta.json");
    Store::open_or_create(OsFs, &f.dir, &f.key, &f.options).expect("fresh store");
    // And an empty directory in its place.
    std::fs::remove_file(f.meta()).expect("rm");
    std::fs::create_dir(f.meta()).expect("mkdir meta.json");
    reset_at_path(&OsFs, &f.dir, true).expect("reset clears an empty directory at meta.json");
    assert!(!f.meta().exists());
}

#[test]
fn a_flipped_hmac_byte_is_integrity_mismatch_metadata_altered() {
    let f = populated();
    f.rewrite_meta(|v| {
        let hmac = v["hmac"].as_str().expect("hmac").to_owned();
        let flipped = if hmac.starts_with('0') { "1" } else { "0" };
        v["hmac"] = serde_json::json!(format!("{flipped}{}", &hmac[1..]));
    });
    let err = f.open_err();
    assert_eq!(err.code(), ErrorCode::IntegrityMismatch);
    assert!(
        matches!(
            &err,
            Error::IntegrityMismatch {
                reason: IntegrityReason::MetadataAltered,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn another_key_is_integrity_mismatch_wrong_key() {
    let f = populated();
    let err = f.open_err_with(&Key::generate().expect("OS randomness"), &f.options);
    assert!(
        matches!(
            &err,
            Error::IntegrityMismatch {
                reason: IntegrityReason::WrongKey,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn another_machine_is_identity_changed_naming_the_component() {
    let f = populated();
    let moved = StoreOptions {
        identity: Some(identity("beta")),
    };
    let err = f.open_err_with(&f.key, &moved);
    assert_eq!(err.code(), ErrorCode::IdentityChanged);
    assert!(
        matches!(
            err,
            Error::IdentityChanged {
                component: IdentityComponent::Hostname,
                ..
            }
        ),
        "{err:?}"
    );
    // An altered identity in meta.json is tampering, not a moved store.
    f.rewrite_meta(|v| v["identity"]["hostname"] = serde_json::json!("beta"));
    let err = f.open_err_with(&f.key, &moved);
    assert_eq!(err.code(), ErrorCode::IntegrityMismatch, "{err}");
}

#[test]
fn a_truncated_key_file_is_key_corrupted_and_never_overwritten() {
    let f = populated();
    let key_file = f.dir.join("key");
    let original = std::fs::read(&key_file).expect("read key");
    std::fs::write(&key_file, &original[..20]).expect("truncate");
    let sources = KeySources {
        key_file_dir: Some(f.dir.clone()),
        ..KeySources::default()
    };
    let err = resolve_key(&OsFs, &sources).expect_err("corrupt key file");
    assert_eq!(err.code(), ErrorCode::KeyCorrupted, "{err}");
    let err = load_or_create(&OsFs, &f.dir).expect_err("corrupt key file");
    assert_eq!(err.code(), ErrorCode::KeyCorrupted);
    assert_eq!(std::fs::read(&key_file).expect("read"), &original[..20]);
    assert!(!err
        .to_string()
        .contains(std::str::from_utf8(&original[..20]).expect("hex")));
}

/// Both ways in: the key-source resolution and the key file loader.
fn key_file_error(dir: &Path) -> (Error, Error) {
    let sources = KeySources {
        key_file_dir: Some(dir.to_owned()),
        ..KeySources::default()
    };
    (
        resolve_key(&OsFs, &sources).expect_err("resolve refuses the key file"),
        load_or_create(&OsFs, dir).expect_err("load refuses the key file"),
    )
}

#[test]
fn a_store_that_changed_machines_is_rebound_by_the_key_holder_keeping_its_secrets() {
    let f = populated();
    let moved = StoreOptions {
        identity: Some(identity("beta")),
    };
    let err = f.open_err_with(&f.key, &moved);
    assert!(err.to_string().contains("rebind_identity"), "{err}");
    let meta_before = std::fs::read(f.meta()).expect("meta");
    // Someone without the key cannot rebind it.
    let err = Store::rebind_identity(
        OsFs,
        &f.dir,
        &Key::from_bytes([9; 32]),
        moved.identity.clone(),
    )
    .expect_err("wrong key");
    assert_eq!(err.code(), ErrorCode::IntegrityMismatch, "{err}");
    assert_eq!(std::fs::read(f.meta()).expect("meta"), meta_before);
    // The key holder can; every secret survives, and the old machine is now the stranger.
    Store::rebind_identity(OsFs, &f.dir, &f.key, moved.identity.clone()).expect("rebind");
    let store = Store::open(OsFs, &f.dir, &f.key, &moved).expect("opens on beta");
    assert_eq!(
        store.get("a").expect("get").as_deref().map(Vec::as_slice),
        Some(&b"apple"[..])
    );
    assert_eq!(
        store.get("b").expect("get").as_deref().map(Vec::as_slice),
        Some(&b"banana"[..])
    );
    assert_eq!(f.open_err().code(), ErrorCode::IdentityChanged);
    // Unbinding makes it open anywhere.
    Store::rebind_identity(OsFs, &f.dir, &f.key, None).expect("unbind");
    Store::open(OsFs, &f.dir, &f.key, &f.options).expect("opens on alpha again");
    let missing = f.dir.join("no-store-here");
    let err = Store::rebind_identity(OsFs, &missing, &f.key, None).expect_err("no store");
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
}

#[cfg(unix)]
#[test]
fn a_key_file_others_can_access_is_permission_denied_and_left_alone() {
    let f = populated();
    let key_file = f.dir.join("key");
    let original = std::fs::read(&key_file).expect("read key");
    for mode in [0o644, 0o640, 0o604, 0o660] {
        common::open_up(&key_file, mode);
        let (resolved, loaded) = key_file_error(&f.dir);
        for err in [resolved, loaded] {
            assert_eq!(err.code(), ErrorCode::PermissionDenied, "{mode:o}: {err}");
            let message = err.to_string();
            assert!(message.contains(&format!("{mode:04o}")), "{message}");
            assert!(message.contains("chmod 600"), "{message}");
            assert!(!message.contains(std::str::from_utf8(&original[..64]).expect("hex")));
        }
        assert_eq!(std::fs::read(&key_file).expect("read"), original);
    }
    common::open_up(&key_file, 0o600);
    assert_eq!(
        load_or_create(&OsFs, &f.dir).expect("0600 is trusted").key,
        f.key
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_or_symlink_at_the_key_file_is_key_corrupted_and_never_opened() {
    let f = populated();
    let key_file = f.dir.join("key");
    let original = std::fs::read(&key_file).expect("read key");
    // A symlink to a perfectly good key file elsewhere is still refused.
    let elsewhere = f.dir.with_file_name("elsewhere");
    std::fs::rename(&key_file, &elsewhere).expect("move the key");
    std::os::unix::fs::symlink(&elsewhere, &key_file).expect("symlink");
    let (resolved, loaded) = key_file_error(&f.dir);
    for err in [resolved, loaded] {
        assert_eq!(err.code(), ErrorCode::KeyCorrupted, "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
    // A FIFO would block an open forever: it is refused before any open.
    std::fs::remove_file(&key_file).expect("remove link");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &key_file,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        0,
    )
    .expect("mkfifo");
    let (resolved, loaded) = key_file_error(&f.dir);
    for err in [resolved, loaded] {
        assert_eq!(err.code(), ErrorCode::KeyCorrupted, "{err}");
        assert!(err.to_string().contains("special file"), "{err}");
    }
    assert_eq!(std::fs::read(&elsewhere).expect("read"), original);
    // The advice works: reset clears the FIFO (never opening it) and a fresh store follows.
    reset_at_path(&OsFs, &f.dir, true).expect("reset clears a FIFO at the key");
    assert!(load_or_create(&OsFs, &f.dir).expect("fresh key").created);
    assert_eq!(std::fs::read(&elsewhere).expect("read"), original);
}

#[test]
fn an_altered_or_swapped_secret_is_integrity_mismatch_on_get() {
    let f = populated();
    let store = Store::open(OsFs, &f.dir, &f.key, &f.options).expect("open");
    std::fs::copy(f.secret("a"), f.secret("b")).expect("swap");
    let err = store.get("b").expect_err("a's envelope under b's name");
    assert!(
        matches!(&err, Error::IntegrityMismatch { reason: IntegrityReason::SecretAltered { name }, .. } if name == "b"),
        "{err:?}"
    );
    let mut bytes = std::fs::read(f.secret("a")).expect("read");
    bytes.truncate(bytes.len() - 1);
    std::fs::write(f.secret("a"), bytes).expect("write");
    assert_eq!(
        store.get("a").expect_err("truncated").code(),
        ErrorCode::IntegrityMismatch
    );
}

#[test]
fn a_missing_store_is_not_found() {
    let temp = tempfile::tempdir().expect("tempdir");
    let err = Store::open(
        OsFs,
        &temp.path().join("nope"),
        &Key::generate().expect("OS randomness"),
        &StoreOptions::default(),
    )
    .expect_err("no store");
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
}

#[test]
fn an_invalid_master_key_in_the_environment_is_no_stable_key_without_fall_through() {
    let f = populated(); // a perfectly good key file exists
    let sources = KeySources {
        env_value: Some("0123".into()),
        key_file_dir: Some(f.dir.clone()),
        ..KeySources::default()
    };
    let err = resolve_key(&OsFs, &sources).expect_err("set but invalid");
    assert_eq!(err.code(), ErrorCode::NoStableKey);
    assert!(err.to_string().contains("KEYRACE_MASTER_KEY"), "{err}");
    assert!(
        !err.to_string().contains("writable"),
        "the advice is about the variable, not the key file: {err}"
    );
    assert!(
        !err.to_string().contains("0123"),
        "error echoes the key material: {err}"
    );
}

// ---- failures that need an unprivileged process (root ignores file modes) ----

/// Child entry point: run one operation on `KEYRACE_CHILD_DIR` and print `RESULT <code|ok>`.
#[test]
#[ignore = "child process entry point of the permission tests"]
fn unprivileged_child() {
    let dir = common::child_env("KEYRACE_CHILD_DIR");
    let op = std::env::var("KEYRACE_CHILD_OP").expect("KEYRACE_CHILD_OP");
    let env_key = std::env::var_os("KEYRACE_CHILD_KEY");
    let sources = KeySources {
        env_value: env_key,
        key_file_dir: Some(dir.clone()),
        ..KeySources::default()
    };
    let result = resolve_key(&OsFs, &sources).and_then(|resolved| match op.as_str() {
        "open" => Store::open(OsFs, &dir, &resolved.key, &StoreOptions::default()).map(drop),
        "create" => Store::open_or_create(OsFs, &dir, &resolved.key, &StoreOptions::default())
            .and_then(|store| store.put("s", b"v")),
        other => panic!("unknown op {other}"),
    });
    match result {
        Ok(()) => println!("RESULT ok"),
        Err(e) => println!("RESULT {}", e.code()),
    }
}

fn run_child(op: &str, dir: &Path, key: Option<&Key>) -> String {
    let mut envs = vec![("KEYRACE_CHILD_DIR", dir.as_os_str().to_owned())];
    envs.push(("KEYRACE_CHILD_OP", op.into()));
    if let Some(key) = key {
        envs.push(("KEYRACE_CHILD_KEY", key.to_hex().as_str().into()));
    }
    let mut command = common::child_command("unprivileged_child");
    command.envs(envs);
    if common::running_as_root() {
        use std::os::unix::process::CommandExt;
        command.uid(common::NOBODY).gid(common::NOBODY);
    }
    common::child_result(&command.output().expect("spawn child"))
}

/// The store's ancestors traversable, its files readable only by their (other) owner.
fn lock_out(f: &Fixture, file: &Path) {
    let mut dir = f.dir.as_path();
    while let Some(parent) = dir.parent() {
        if parent == Path::new("/") || parent == std::env::temp_dir() {
            break;
        }
        common::open_up(parent, 0o755);
        dir = parent;
    }
    common::open_up(&f.dir, 0o755);
    common::open_up(&f.dir.join("secrets"), 0o755);
    common::open_up(file, 0o000);
}

#[test]
fn an_unreadable_metadata_file_is_permission_denied() {
    let f = populated();
    lock_out(&f, &f.meta());
    assert_eq!(run_child("open", &f.dir, Some(&f.key)), "PERMISSION_DENIED");
}

#[test]
fn an_unreadable_key_file_is_permission_denied_not_a_new_key() {
    let f = populated();
    let key_file = f.dir.join("key");
    let before = std::fs::read(&key_file).expect("read");
    lock_out(&f, &key_file);
    assert_eq!(run_child("open", &f.dir, None), "PERMISSION_DENIED");
    assert_eq!(std::fs::read(&key_file).expect("read"), before);
}

#[test]
fn an_unwritable_place_without_a_master_key_is_no_stable_key() {
    let temp = tempfile::tempdir().expect("tempdir");
    let parent = temp.path().join("readonly");
    std::fs::create_dir(&parent).expect("mkdir");
    common::open_up(temp.path(), 0o755);
    common::open_up(&parent, 0o555);
    let dir = parent.join("store");
    assert_eq!(run_child("create", &dir, None), "NO_STABLE_KEY");
    // With a master key the same place is a plain permission problem, reported as such.
    assert_eq!(
        run_child(
            "create",
            &dir,
            Some(&Key::generate().expect("OS randomness"))
        ),
        "PERMISSION_DENIED"
    );
    assert!(!dir.exists());
}

#[test]
fn create_on_an_existing_store_is_store_exists_and_leaves_it_intact() {
    let f = populated();
    let err = match Store::create(OsFs, &f.dir, &f.key, &f.options) {
        Ok(_) => panic!("an existing store was created again"),
        Err(err) => err,
    };
    assert!(
        matches!(&err, Error::StoreExists { path } if *path == f.dir),
        "{err:?}"
    );
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    let store = Store::open_or_create(OsFs, &f.dir, &f.key, &f.options).expect("still opens");
    assert_eq!(
        store.get("a").expect("get").as_deref().map(Vec::as_slice),
        Some(&b"apple"[..])
    );
}

//! Key-source resolution (seed 001): a stable key or a loud error, never a silent ephemeral key.

mod bootstrap_support;

use bootstrap_support::FaultFs;
use keyrace_core::{
    resolve_key, Error, ErrorCode, Key, KeyMode, KeyOrigin, KeySources, OsFs, Store, StoreOptions,
};

#[test]
fn the_order_is_explicit_then_environment_then_key_file() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    let explicit = Key::generate().expect("OS randomness");
    let env = Key::generate().expect("OS randomness");
    let mut sources = KeySources {
        explicit: Some(explicit.clone()),
        env_value: Some(env.to_hex().as_str().into()),
        key_file_dir: Some(dir.clone()),
        mode: KeyMode::Production,
    };
    let resolved = resolve_key(&OsFs, &sources).expect("explicit");
    assert_eq!(
        (resolved.key, resolved.origin),
        (explicit, KeyOrigin::Explicit)
    );

    sources.explicit = None;
    let resolved = resolve_key(&OsFs, &sources).expect("env");
    assert_eq!(
        (resolved.key, resolved.origin),
        (env, KeyOrigin::Environment)
    );
    assert!(
        !dir.exists(),
        "an environment key must not create a key file"
    );

    sources.env_value = None;
    let first = resolve_key(&OsFs, &sources).expect("key file");
    assert!(matches!(
        first.origin,
        KeyOrigin::KeyFile { created: true, .. }
    ));
    let second = resolve_key(&OsFs, &sources).expect("key file again");
    assert!(matches!(
        second.origin,
        KeyOrigin::KeyFile { created: false, .. }
    ));
    assert_eq!(first.key, second.key);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("key"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "key files are private");
}

#[test]
fn no_stable_source_fails_loud_listing_every_source_and_the_fix() {
    let sources = KeySources::default(); // no env key, no key file directory
    let err = resolve_key(&OsFs, &sources).expect_err("no stable key");
    assert_eq!(err.code(), ErrorCode::NoStableKey);
    let Error::NoStableKey { attempts } = &err else {
        panic!("{err:?}")
    };
    let tried: Vec<&str> = attempts.iter().map(|a| a.source.as_str()).collect();
    assert_eq!(tried, ["KEYRACE_MASTER_KEY", "key file", "ephemeral key"]);
    let message = err.to_string();
    assert!(message.contains("openssl rand -hex 32"), "{message}");
}

#[test]
fn ephemeral_keys_only_in_explicit_dev_mode_and_they_do_not_survive_a_restart() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    let dev = KeySources {
        mode: KeyMode::DevEphemeral,
        ..KeySources::default()
    };
    let first = resolve_key(&OsFs, &dev).expect("dev mode");
    assert_eq!(first.origin, KeyOrigin::Ephemeral);
    assert!(!first.origin.is_stable());
    let store =
        Store::open_or_create(OsFs, &dir, &first.key, &StoreOptions::default()).expect("store");
    store.put("s", b"v").expect("put");
    // The "restart": a new ephemeral key cannot read the store, and says so by code.
    let second = resolve_key(&OsFs, &dev).expect("dev mode").key;
    let err = Store::open(OsFs, &dir, &second, &StoreOptions::default()).expect_err("lost");
    assert_eq!(err.code(), ErrorCode::IntegrityMismatch);
}

#[test]
fn base64_and_hex_master_keys_are_the_same_key() {
    use base64::Engine as _;
    let key = Key::generate().expect("OS randomness");
    for text in [
        key.to_hex().to_string(),
        key.to_hex().to_uppercase(),
        base64::engine::general_purpose::STANDARD.encode(key.expose()),
    ] {
        let sources = KeySources {
            env_value: Some(text.into()),
            ..KeySources::default()
        };
        assert_eq!(resolve_key(&OsFs, &sources).expect("valid").key, key);
    }
}

#[test]
fn debug_of_the_sources_never_shows_the_master_key() {
    let key = Key::generate().expect("OS randomness");
    let sources = KeySources {
        env_value: Some(key.to_hex().as_str().into()),
        ..KeySources::default()
    };
    let shown = format!("{sources:?}");
    assert!(!shown.contains(key.to_hex().as_str()), "{shown}");
    assert!(shown.contains("<set>"), "{shown}");
}

#[test]
fn a_published_key_that_cannot_be_made_durable_is_an_error_never_an_ephemeral_fallback() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    std::fs::create_dir(&dir).expect("the key directory exists, durably");
    let fs = FaultFs::new();
    FaultFs::set(&fs.fail_dir_sync, true);
    let sources = KeySources {
        key_file_dir: Some(dir.clone()),
        mode: KeyMode::DevEphemeral,
        ..KeySources::default()
    };
    // The key file got its name, then the directory fsync failed: a key now exists on disk,
    // so falling back to a throwaway key would split the secrets between two keys.
    let err = resolve_key(&fs, &sources).expect_err("the fsync failure is reported");
    assert_eq!(err.code(), ErrorCode::Io, "{err}");
    assert!(dir.join("key").exists());
    // Once the disk recovers, the key that was published is the one used.
    FaultFs::set(&fs.fail_dir_sync, false);
    let published = std::fs::read_to_string(dir.join("key")).expect("key file");
    let resolved = resolve_key(&fs, &sources).expect("resolves");
    assert_eq!(resolved.key.to_hex().as_str(), published.trim_end());
    assert!(matches!(
        resolved.origin,
        KeyOrigin::KeyFile { created: false, .. }
    ));
}

//! The catalogue's models on this store's own code, from its own `cargo test`: the store's
//! functions are passed to the models as they are (they are written against `keyrace_fs::Fs`,
//! so they run on the harness's simulated filesystem), and the harness owns the actors, the
//! faults, the crash loops and the invariants.
//!
//! `cargo test -p keyrace-example-store --features shuttle` explores interleavings with
//! shuttle; add `planted-bugs` to watch both planted bugs caught, each with its trace.

use std::path::Path;

use keyrace_example_store as store;
use keyrace_harness::check::{assert_caught, assert_holds};
use keyrace_harness::models::{crash, double_bootstrap, keygen, put};
use keyrace_harness::simfs::{Semantics, SimFs};
use keyrace_harness::subject::SecretStore;
use keyrace_protocol::{ErrorCode, Failure};

/// The store's key loader, as the keygen and crash-keygen models take it.
fn load(fs: &SimFs, dir: &Path) -> Result<store::Key, Failure> {
    store::load_or_create_key(fs, dir).map_err(Failure::from)
}

/// The store, as the put and crash-put models take it.
struct ExampleStore;

impl SecretStore for ExampleStore {
    type Error = Failure;

    fn create(&self, fs: &SimFs, dir: &Path) -> Result<(), Failure> {
        Ok(store::open(fs, dir).map(drop)?)
    }

    fn put(&self, fs: &SimFs, dir: &Path, name: &str, value: &[u8]) -> Result<(), Failure> {
        let value = std::str::from_utf8(value)
            .map_err(|_| Failure::new(ErrorCode::InvalidArgument, "values are text"))?;
        Ok(store::put(fs, dir, name, value).map(drop)?)
    }

    fn get(&self, fs: &SimFs, dir: &Path, name: &str) -> Result<Option<Vec<u8>>, Failure> {
        Ok(store::get(fs, dir, name)?.0.map(String::into_bytes))
    }
}

const PLANTED: bool = cfg!(feature = "planted-bugs");

/// Planted bug 1 (create the key file, then write it) is a race: std threads rarely hit it.
#[test]
#[cfg_attr(
    not(feature = "shuttle"),
    ignore = "a race: run with --features shuttle (plain threads cannot force its interleavings)"
)]
fn racing_processes_get_one_complete_key() {
    let model = keygen::keygen_race(load, 2, Semantics::Posix);
    if PLANTED {
        let caught = assert_caught("keygen-race", 2, keygen::KEYGEN_RACE, model);
        println!("planted bug 1 caught:\n{caught}");
    } else {
        assert_holds("keygen-race", 2, model);
    }
}

#[test]
#[cfg_attr(
    not(feature = "shuttle"),
    ignore = "a race: run with --features shuttle (plain threads cannot force its interleavings)"
)]
fn a_key_read_error_is_reported_and_never_replaces_the_key() {
    assert_holds(
        "keygen-error-masking",
        2,
        keygen::keygen_error_masking(load, 2),
    );
}

#[test]
fn a_crash_while_creating_the_key_never_loses_a_key_handed_out() {
    assert_holds("crash-keygen", 1, crash::crash_keygen(load));
}

#[test]
#[cfg_attr(
    not(feature = "shuttle"),
    ignore = "a race: run with --features shuttle (plain threads cannot force its interleavings)"
)]
fn concurrent_puts_are_all_readable() {
    assert_holds("put-race", 2, put::put_race(ExampleStore, 2));
}

/// Planted bug 2 (`fs::write` in place) loses the old value at a crash: the sequential crash
/// loop finds it under every explorer, std threads included.
#[test]
fn a_crash_while_overwriting_a_secret_keeps_the_old_or_the_new_value() {
    let model = crash::crash_put(ExampleStore);
    if PLANTED {
        let caught = assert_caught("crash-put", 1, crash::CRASH_PUT, model);
        println!("planted bug 2 caught:\n{caught}");
    } else {
        assert_holds("crash-put", 1, model);
    }
}

#[test]
#[cfg_attr(
    not(feature = "shuttle"),
    ignore = "a race: run with --features shuttle (plain threads cannot force its interleavings)"
)]
fn exactly_one_consumer_wins_a_token() {
    let consume = |fs: &SimFs, dir: &Path, token: &str| -> Result<bool, Failure> {
        Ok(store::consume(fs, dir, token)?)
    };
    assert_holds(
        "double-bootstrap",
        3,
        double_bootstrap::double_bootstrap(consume, 3),
    );
}

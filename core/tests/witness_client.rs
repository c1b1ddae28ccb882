//! The retry-once client: what it sends, what it learns, what it retries (once, only a
//! bootstrap-412 with a head), what it never retries (409, other 412s, transport errors), and
//! how a broken cache degrades.
// Real threads and std primitives: the loom build runs only the loom models (witness_loom).
#![cfg(not(loom))]

mod bootstrap_support;

use std::sync::atomic::{AtomicUsize, Ordering};

use bootstrap_support::{
    consumed_412, divergence_409, fast_tempdir, head, ok_with, refusal, transport_down,
    CountingLedger, CountingLog, FaultFs, Recording, Scripted,
};
use keyrace_core::bootstrap::{SignedTreeHead, WitnessGate};
use keyrace_core::witness::cache::encode;
use keyrace_core::witness::{
    ApiKey, CacheLoad, CacheStore, FileCacheStore, InProcessTransport, NoCache, Transport,
    WitnessClient, WitnessError, WitnessResponse,
};
use keyrace_core::{ErrorCode, OsFs};
use proptest::prelude::*;

const SERVER: &str = "https://witness.example";
const KEY: &str = "lk_live_0123456789_secret";

/// A server: a gate over a counting ledger and log, and a guarded operation that counts runs.
#[derive(Default)]
struct World {
    ledger: CountingLedger,
    log: CountingLog,
    ops: AtomicUsize,
}

impl World {
    fn sealed(heads: &[SignedTreeHead]) -> World {
        let world = World::default();
        for h in heads {
            world.log.inner.append(*h).expect("append");
        }
        world
    }

    fn transport(&self) -> Recording<impl Transport + '_> {
        Recording::new(InProcessTransport::new(
            WitnessGate::new(&self.ledger, &self.log),
            |body: &[u8]| {
                self.ops.fetch_add(1, Ordering::SeqCst);
                [b"did:".as_slice(), body].concat()
            },
        ))
    }

    fn ops(&self) -> usize {
        self.ops.load(Ordering::SeqCst)
    }
}

fn key() -> ApiKey {
    ApiKey::new(KEY)
}

fn text(h: SignedTreeHead) -> String {
    h.to_string()
}

fn scripted(replies: Vec<std::io::Result<WitnessResponse>>) -> Recording<Scripted> {
    Recording::new(Scripted::new(replies))
}

// ---- what a call sends and learns ----

#[test]
fn a_cold_start_bootstraps_then_sends_the_learned_head() {
    let newest = head(4, 4);
    let world = World::sealed(&[newest]);
    let client = WitnessClient::new(world.transport(), NoCache, key());
    assert_eq!(client.call(b"op1").expect("first"), b"did:op1");
    assert_eq!(client.known_head(), Some(newest));
    assert_eq!(client.call(b"op2").expect("second"), b"did:op2");
    assert_eq!(client.transport().headers(), vec![None, Some(text(newest))]);
    assert_eq!(world.ledger.consumes(), 1);
}

#[test]
fn a_cold_start_before_any_seal_learns_and_sends_the_zero_placeholder() {
    let world = World::default();
    let client = WitnessClient::new(world.transport(), NoCache, key());
    client.call(b"a").expect("bootstrap");
    client.call(b"b").expect("placeholder passes pre-seal");
    assert_eq!(
        client.transport().headers(),
        vec![None, Some("0:AAAAAAAAAAAAAAAAAAAAAA".to_owned())]
    );
}

#[test]
fn the_learned_head_is_persisted_and_a_new_process_never_bootstraps() {
    let dir = fast_tempdir();
    let newest = head(2, 2);
    let world = World::sealed(&[newest]);
    let first = WitnessClient::new(
        world.transport(),
        FileCacheStore::new(OsFs, dir.path(), SERVER, &key()),
        key(),
    );
    first.call(b"a").expect("first process");
    assert_eq!(first.cache().load(), CacheLoad::Hit(newest));
    drop(first);
    let second = WitnessClient::new(
        world.transport(),
        FileCacheStore::new(OsFs, dir.path(), SERVER, &key()),
        key(),
    );
    second.call(b"b").expect("second process");
    assert_eq!(second.transport().headers(), vec![Some(text(newest))]);
    assert_eq!(world.ledger.consumes(), 1, "no second bootstrap");
}

#[test]
fn a_consumed_grace_is_one_412_then_one_retry_that_passes() {
    let newest = head(3, 3);
    let world = World::sealed(&[newest]);
    world.ledger.inner.mark(&key().key_id()); // an earlier process used the grace
    let client = WitnessClient::new(world.transport(), NoCache, key());
    assert_eq!(client.call(b"op").expect("412 then retry"), b"did:op");
    let sent = client.transport().sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].last_known_head, None);
    assert_eq!(sent[1].last_known_head, Some(text(newest)));
    assert_eq!(sent[0].body, sent[1].body, "the same request is retried");
    assert_eq!(
        world.ops(),
        1,
        "the refused request never ran the operation"
    );
    assert_eq!(client.known_head(), Some(newest));
}

#[test]
fn the_412s_head_is_persisted_too() {
    let dir = fast_tempdir();
    let newest = head(3, 3);
    let world = World::sealed(&[newest]);
    world.ledger.inner.mark(&key().key_id());
    let client = WitnessClient::new(
        world.transport(),
        FileCacheStore::new(OsFs, dir.path(), SERVER, &key()),
        key(),
    );
    client.call(b"op").expect("retry passes");
    assert_eq!(client.cache().load(), CacheLoad::Hit(newest));
}

#[test]
fn a_retry_that_is_refused_again_is_not_retried_again() {
    let h = text(head(1, 1));
    let client = WitnessClient::new(
        scripted(vec![
            consumed_412(Some(&h)),
            consumed_412(Some(&h)),
            ok_with(None, b""),
        ]),
        NoCache,
        key(),
    );
    let e = client.call(b"op").expect_err("second 412");
    assert!(matches!(
        e,
        WitnessError::AlreadyConsumed {
            current_head: Some(_)
        }
    ));
    assert_eq!(e.code(), ErrorCode::BootstrapAlreadyConsumed);
    assert_eq!(client.transport().sent().len(), 2, "exactly one retry");
}

#[test]
fn a_412_without_a_head_is_not_retried() {
    let client = WitnessClient::new(scripted(vec![consumed_412(None)]), NoCache, key());
    let e = client.call(b"op").expect_err("412");
    assert!(matches!(
        e,
        WitnessError::AlreadyConsumed { current_head: None }
    ));
    assert_eq!(client.transport().sent().len(), 1);
}

#[test]
fn a_412_with_a_malformed_head_is_not_retried_or_cached() {
    let dir = fast_tempdir();
    let client = WitnessClient::new(
        scripted(vec![consumed_412(Some("5:not-a-prefix"))]),
        FileCacheStore::new(OsFs, dir.path(), SERVER, &key()),
        key(),
    );
    let e = client.call(b"op").expect_err("412");
    assert!(matches!(
        e,
        WitnessError::AlreadyConsumed { current_head: None }
    ));
    assert_eq!(client.transport().sent().len(), 1);
    assert_eq!(client.known_head(), None);
    assert!(client.cache().load().head().is_none());
}

#[test]
fn a_412_with_another_code_is_not_retried() {
    let h = text(head(1, 1));
    for code in [
        Some("INVALID_ARGUMENT"),
        Some("bootstrap_already_consumed"),
        None,
    ] {
        let client = WitnessClient::new(
            scripted(vec![refusal(412, code, Some(&h)), ok_with(None, b"")]),
            NoCache,
            key(),
        );
        let e = client.call(b"op").expect_err("412 of another kind");
        assert!(
            matches!(e, WitnessError::Rejected { status: 412, .. }),
            "{code:?}: {e:?}"
        );
        assert_eq!(client.transport().sent().len(), 1, "{code:?}");
    }
}

#[test]
fn a_409_is_never_retried_but_its_head_is_cached() {
    let dir = fast_tempdir();
    let new = head(8, 8);
    let client = WitnessClient::new(
        scripted(vec![divergence_409(Some(&text(new))), ok_with(None, b"")]),
        FileCacheStore::new(OsFs, dir.path(), SERVER, &key()),
        key(),
    );
    let e = client.call(b"op").expect_err("409");
    assert!(matches!(e, WitnessError::Divergence { current_head: Some(h) } if h == new));
    assert_eq!(e.code(), ErrorCode::Divergence);
    assert_eq!(client.transport().sent().len(), 1);
    assert_eq!(client.known_head(), Some(new));
    assert_eq!(client.cache().load(), CacheLoad::Hit(new));
}

#[test]
fn after_a_409_the_next_call_sends_the_servers_head_and_passes() {
    let dir = fast_tempdir();
    let world = World::sealed(&[head(1, 1), head(2, 2)]);
    let cache = FileCacheStore::new(OsFs, dir.path(), SERVER, &key());
    cache.store(&head(2, 9)).expect("plant a forked head");
    let client = WitnessClient::new(world.transport(), cache, key());
    let e = client.call(b"a").expect_err("forked head");
    assert_eq!(e.code(), ErrorCode::Divergence);
    client.call(b"b").expect("resynced");
    assert_eq!(
        client.transport().headers(),
        vec![Some(text(head(2, 9))), Some(text(head(2, 2)))]
    );
    assert_eq!(world.ops(), 1);
    assert_eq!(world.ledger.consumes(), 0);
}

#[test]
fn a_cached_zero_placeholder_after_the_first_seal_resyncs_through_a_409() {
    let world = World::default();
    let client = WitnessClient::new(world.transport(), NoCache, key());
    client.call(b"a").expect("pre-seal bootstrap");
    let sealed = world.log.inner.seal([1; 16]).expect("seal");
    assert_eq!(
        client.call(b"b").expect_err("stale placeholder").code(),
        ErrorCode::Divergence
    );
    assert_eq!(client.known_head(), Some(sealed));
    client.call(b"c").expect("resynced");
}

#[test]
fn a_409_without_a_head_keeps_the_known_head() {
    let known = head(1, 1);
    let client = WitnessClient::new(
        scripted(vec![ok_with(Some(&text(known)), b""), divergence_409(None)]),
        NoCache,
        key(),
    );
    client.call(b"a").expect("bootstrap");
    let e = client.call(b"b").expect_err("409");
    assert!(matches!(e, WitnessError::Divergence { current_head: None }));
    assert_eq!(client.known_head(), Some(known));
}

#[test]
fn a_stale_but_held_cached_head_passes_without_bootstrapping() {
    let dir = fast_tempdir();
    let world = World::sealed(&[head(1, 1), head(2, 2), head(3, 3)]);
    let cache = FileCacheStore::new(OsFs, dir.path(), SERVER, &key());
    cache.store(&head(1, 1)).expect("old head");
    let client = WitnessClient::new(world.transport(), cache, key());
    client.call(b"a").expect("held head passes");
    assert_eq!(
        client.known_head(),
        Some(head(3, 3)),
        "and the newest is learned"
    );
    assert_eq!(world.ledger.consumes(), 0);
}

// ---- refusals and failures that are returned, not retried ----

#[test]
fn a_malformed_header_400_is_an_invalid_argument() {
    let client = WitnessClient::new(
        scripted(vec![refusal(400, Some("INVALID_ARGUMENT"), None)]),
        NoCache,
        key(),
    );
    let e = client.call(b"op").expect_err("400");
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert_eq!(client.transport().sent().len(), 1);
}

#[test]
fn a_server_failure_is_returned_with_its_code() {
    let client = WitnessClient::new(
        scripted(vec![refusal(503, Some("IO"), None)]),
        NoCache,
        key(),
    );
    let e = client.call(b"op").expect_err("503");
    assert!(matches!(
        e,
        WitnessError::Rejected {
            status: 503,
            code: Some(ErrorCode::Io),
            ..
        }
    ));
}

#[test]
fn a_hostile_response_is_reported_safely() {
    let message = format!("\u{1b}[31mevil\n{}", "x".repeat(10_000));
    let client = WitnessClient::new(
        scripted(vec![Ok(WitnessResponse::refusal(
            599,
            Some("NOT_A_CODE"),
            Some("garbage".to_owned()),
            message,
        ))]),
        NoCache,
        key(),
    );
    let e = client.call(b"op").expect_err("599");
    assert_eq!(e.code(), ErrorCode::Io);
    let WitnessError::Rejected { message, code, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*code, None);
    assert!(message.chars().count() <= 200);
    assert!(!message.chars().any(char::is_control));
    assert_eq!(client.known_head(), None);
}

#[test]
fn a_transport_error_is_returned_and_not_retried() {
    let client = WitnessClient::new(scripted(vec![transport_down()]), NoCache, key());
    let e = client.call(b"op").expect_err("down");
    assert!(matches!(e, WitnessError::Transport { .. }));
    assert_eq!(e.code(), ErrorCode::Io);
    assert_eq!(client.transport().sent().len(), 1);
    assert!(e.to_string().contains("check the connection"));
}

#[test]
fn a_transport_error_on_the_retry_is_returned() {
    let h = text(head(1, 1));
    let client = WitnessClient::new(
        scripted(vec![consumed_412(Some(&h)), transport_down()]),
        NoCache,
        key(),
    );
    assert!(matches!(
        client.call(b"op"),
        Err(WitnessError::Transport { .. })
    ));
    assert_eq!(client.transport().sent().len(), 2);
    assert_eq!(
        client.known_head(),
        Some(head(1, 1)),
        "the 412's head is kept"
    );
}

#[test]
fn a_200_without_a_valid_head_returns_the_body_and_learns_nothing() {
    for carried in [None, Some("nonsense")] {
        let client = WitnessClient::new(scripted(vec![ok_with(carried, b"body")]), NoCache, key());
        assert_eq!(client.call(b"op").expect("200"), b"body");
        assert_eq!(client.known_head(), None, "{carried:?}");
    }
}

// ---- a broken cache degrades to "no cache" ----

#[test]
fn a_corrupt_cache_degrades_to_bootstrap_and_retry() {
    let dir = fast_tempdir();
    let world = World::sealed(&[head(1, 1)]);
    world.ledger.inner.mark(&key().key_id());
    let cache = FileCacheStore::new(OsFs, dir.path(), SERVER, &key());
    std::fs::write(cache.path(), b"{\"version\":1,\"head\":\"tor").expect("plant");
    let client = WitnessClient::new(world.transport(), cache, key());
    client.call(b"op").expect("degrades, then retries");
    assert_eq!(
        client.transport().headers(),
        vec![None, Some(text(head(1, 1)))]
    );
    assert_eq!(
        client.cache().load(),
        CacheLoad::Hit(head(1, 1)),
        "repaired"
    );
}

#[test]
fn an_unwritable_cache_degrades_to_memory() {
    let dir = fast_tempdir();
    let fs = FaultFs::new();
    FaultFs::set(&fs.fail_create, true);
    let world = World::sealed(&[head(1, 1)]);
    let client = WitnessClient::new(
        world.transport(),
        FileCacheStore::new(&fs, dir.path(), SERVER, &key()),
        key(),
    );
    client.call(b"a").expect("first");
    client.call(b"b").expect("second");
    assert_eq!(
        client.transport().bootstraps(),
        1,
        "the memory head is used"
    );
    assert!(client.cache().load().head().is_none());
}

#[cfg(unix)]
#[test]
fn a_symlinked_cache_is_ignored_and_replaced_not_followed() {
    let dir = fast_tempdir();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, encode(&head(9, 9))).expect("victim");
    let world = World::sealed(&[head(1, 1)]);
    let cache = FileCacheStore::new(OsFs, dir.path(), SERVER, &key());
    std::os::unix::fs::symlink(&victim, cache.path()).expect("plant link");
    let client = WitnessClient::new(world.transport(), cache, key());
    client.call(b"op").expect("bootstraps");
    assert_eq!(
        client.transport().headers(),
        vec![None],
        "the link's head was not used"
    );
    assert_eq!(std::fs::read(&victim).expect("victim"), encode(&head(9, 9)));
    assert!(std::fs::symlink_metadata(client.cache().path())
        .expect("lstat")
        .is_file());
}

#[test]
fn the_key_never_touches_disk() {
    let dir = fast_tempdir();
    let world = World::sealed(&[head(1, 1)]);
    let client = WitnessClient::new(
        world.transport(),
        FileCacheStore::new(OsFs, dir.path(), SERVER, &key()),
        key(),
    );
    client.call(b"op").expect("call");
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let entry = entry.expect("entry");
        files += 1;
        assert!(!entry.file_name().to_string_lossy().contains(KEY));
        let bytes = std::fs::read(entry.path()).expect("read");
        assert!(!String::from_utf8_lossy(&bytes).contains(KEY));
    }
    assert_eq!(files, 1);
    assert!(!format!("{:?}", key()).contains(KEY), "nor Debug output");
}

#[test]
fn two_keys_against_one_server_have_their_own_grace_and_file() {
    let dir = fast_tempdir();
    let world = World::sealed(&[head(1, 1)]);
    let client = |k: &str| {
        WitnessClient::new(
            world.transport(),
            FileCacheStore::new(OsFs, dir.path(), SERVER, &ApiKey::new(k)),
            ApiKey::new(k),
        )
    };
    let (a, b) = (client("key-a"), client("key-b"));
    a.call(b"a").expect("a");
    b.call(b"b").expect("b");
    assert_eq!(a.transport().headers(), vec![None]);
    assert_eq!(
        b.transport().headers(),
        vec![None],
        "b bootstraps with its own grace"
    );
    assert_ne!(a.cache().path(), b.cache().path());
    assert_eq!(world.ledger.consumes(), 2);
}

// The retry checkers and the mutants they catch (`retry-unbounded`, `retry-on-divergence`)
// live beside the mutants: `mutants/tests/witness_retry.rs`.

#[test]
fn every_error_has_a_code_and_says_what_to_do() {
    let cases = [
        (
            WitnessError::AlreadyConsumed {
                current_head: Some(head(1, 1)),
            },
            ErrorCode::BootstrapAlreadyConsumed,
            "retry",
        ),
        (
            WitnessError::Divergence { current_head: None },
            ErrorCode::Divergence,
            "investigate",
        ),
        (
            WitnessError::Transport {
                source: std::io::Error::other("x"),
            },
            ErrorCode::Io,
            "retry",
        ),
    ];
    for (e, code, hint) in cases {
        assert_eq!(e.code(), code);
        assert!(e.to_string().contains(hint), "{e}");
    }
}

proptest! {
    /// Any sequence of answers: a result or a coded error, never a panic, never more than two
    /// requests for one call.
    #[test]
    fn arbitrary_responses_never_panic_and_never_loop(
        answers in proptest::collection::vec(
            (
                prop_oneof![Just(200u16), Just(400), Just(409), Just(412), Just(503), any::<u16>()],
                prop_oneof![Just(None), Just(Some("BOOTSTRAP_ALREADY_CONSUMED".to_owned())), Just(Some("DIVERGENCE".to_owned())), any::<Option<String>>()],
                prop_oneof![Just(None), Just(Some("1:AQEBAQEBAQEBAQEBAQEBAQ".to_owned())), any::<Option<String>>()],
                any::<bool>(),
            ),
            1..4,
        )
    ) {
        let replies = answers
            .into_iter()
            .map(|(status, code, head, fail)| {
                if fail {
                    transport_down()
                } else {
                    Ok(WitnessResponse::refusal(status, code.as_deref(), head, "m"))
                }
            })
            .collect();
        let client = WitnessClient::new(scripted(replies), NoCache, key());
        if let Err(e) = client.call(b"op") {
            let _ = (e.code(), e.to_string());
        }
        prop_assert!(client.transport().sent().len() <= 2);
    }
}

//! Cold starts: N concurrent first calls of one client send exactly one bootstrap request;
//! if the leader fails, each follower bootstraps on its own.
// Real threads and std primitives: the loom build runs only the loom models (witness_loom).
#![cfg(not(loom))]

mod bootstrap_support;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bootstrap_support::{fast_tempdir, head, CountingLedger, CountingLog, Recording};
use keyrace_core::bootstrap::{SignedTreeHead, WitnessGate};
use keyrace_core::witness::singleflight::LeadGuard;
use keyrace_core::witness::{
    Acquire, ApiKey, CacheLoad, CacheStore, FileCacheStore, HeadSlot, InProcessTransport, NoCache,
    RetryOnce, SingleFlight, Transport, WitnessClient, WitnessError, WitnessRequest,
    WitnessResponse,
};
use keyrace_core::OsFs;

const THREADS: usize = 8;
const KEY: &str = "lk_live_coldstart_secret";

/// Wait (yielding, never sleeping a guessed time) until `done()`; a hang is a test failure.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::yield_now();
    }
}

#[derive(Default)]
struct World {
    ledger: CountingLedger,
    log: CountingLog,
}

impl World {
    fn sealed() -> World {
        let world = World::default();
        world.log.inner.seal([7; 16]).expect("seal");
        world
    }
    fn gate(&self) -> impl Transport + '_ {
        InProcessTransport::new(WitnessGate::new(&self.ledger, &self.log), |b: &[u8]| {
            b.to_vec()
        })
    }
}

/// Run `threads` calls of `client` at once; every result.
fn cold_start<C: Send + Sync>(
    client: &C,
    threads: usize,
    call: impl Fn(&C, usize) -> Result<Vec<u8>, WitnessError> + Sync,
) -> Vec<Result<Vec<u8>, WitnessError>> {
    let start = Barrier::new(threads);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (start, call) = (&start, &call);
                s.spawn(move || {
                    start.wait();
                    call(client, i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("caller"))
            .collect()
    })
}

#[test]
fn n_threads_cold_start_one_client_one_bootstrap_every_call_succeeds() {
    for round in 0..50 {
        let world = World::sealed();
        let client = WitnessClient::new(Recording::new(world.gate()), NoCache, ApiKey::new(KEY));
        let results = cold_start(&client, THREADS, |c, i| c.call(format!("op{i}").as_bytes()));
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(
                result.expect("call"),
                format!("op{i}").into_bytes(),
                "round {round}"
            );
        }
        assert_eq!(client.transport().bootstraps(), 1, "round {round}");
        assert_eq!(world.ledger.consumes(), 1, "round {round}");
        assert_eq!(
            client.transport().sent().len(),
            THREADS,
            "no retries were needed"
        );
    }
}

/// Holds the first bootstrap request until every other caller waits for it, or until a
/// second bootstrap request shows that nobody waits. Makes the cold-start race deterministic.
struct HoldFirstBootstrap<'a, T, S> {
    inner: T,
    slot: &'a S,
    callers: usize,
    bootstraps: AtomicUsize,
    fail_first: bool,
}

impl<T: Transport, S: HeadSlot> Transport for HoldFirstBootstrap<'_, T, S> {
    fn send(&self, request: &WitnessRequest<'_>) -> io::Result<WitnessResponse> {
        if request.last_known_head.is_none() && self.bootstraps.fetch_add(1, Ordering::SeqCst) == 0
        {
            wait_until("the other callers wait or bootstrap too", || {
                self.slot.waiting() == self.callers - 1
                    || self.bootstraps.load(Ordering::SeqCst) > 1
            });
            if self.fail_first {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "leader timed out"));
            }
        }
        self.inner.send(request)
    }
}

/// The cold-start invariant, as a checker: with the leader's bootstrap held until the race is
/// fully set up, `callers` concurrent first calls send one bootstrap and all succeed.
fn cold_start_coalesces<S: HeadSlot>(slot: S, callers: usize) -> Result<(), String> {
    let world = World::sealed();
    let transport = HoldFirstBootstrap {
        inner: world.gate(),
        slot: &slot,
        callers,
        bootstraps: AtomicUsize::new(0),
        fail_first: false,
    };
    let client = WitnessClient::with_parts(&transport, NoCache, &slot, RetryOnce, ApiKey::new(KEY));
    let results = cold_start(&client, callers, |c, _| c.call(b"op"));
    let failed = results.iter().filter(|r| r.is_err()).count();
    let bootstraps = transport.bootstraps.load(Ordering::SeqCst);
    if failed > 0 || bootstraps != 1 {
        return Err(format!(
            "{bootstraps} bootstrap requests, {failed} failed calls"
        ));
    }
    Ok(())
}

/// `no-singleflight` (seed 002, MEDIUM-6): every caller that finds no head bootstraps.
#[derive(Default)]
struct NoSingleFlight(Mutex<Option<SignedTreeHead>>);

impl HeadSlot for NoSingleFlight {
    fn acquire(&self) -> Acquire<SignedTreeHead> {
        match self.get() {
            Some(h) => Acquire::Known(h),
            None => Acquire::Lead,
        }
    }
    fn finish_lead(&self, learned: Option<SignedTreeHead>) {
        if let Some(h) = learned {
            self.set(h);
        }
    }
    fn get(&self) -> Option<SignedTreeHead> {
        *self.0.lock().expect("head")
    }
    fn set(&self, head: SignedTreeHead) {
        *self.0.lock().expect("head") = Some(head);
    }
    fn waiting(&self) -> usize {
        0
    }
}

#[test]
fn cold_start_checker_passes_the_reference() {
    assert_eq!(cold_start_coalesces(SingleFlight::new(), THREADS), Ok(()));
}

#[test]
fn checker_catches_no_singleflight() {
    let verdict = cold_start_coalesces(NoSingleFlight::default(), THREADS);
    assert!(
        matches!(&verdict, Err(m) if m.contains("bootstrap requests") && !m.starts_with("1 bootstrap")),
        "{verdict:?}"
    );
}

#[test]
fn a_failed_leader_releases_each_follower_to_bootstrap_on_its_own() {
    let world = World::sealed();
    let slot = SingleFlight::new();
    let transport = HoldFirstBootstrap {
        inner: Recording::new(world.gate()),
        slot: &slot,
        callers: THREADS,
        bootstraps: AtomicUsize::new(0),
        fail_first: true,
    };
    let client = WitnessClient::with_parts(&transport, NoCache, &slot, RetryOnce, ApiKey::new(KEY));
    let results = cold_start(&client, THREADS, |c, _| c.call(b"op"));
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(failures.len(), 1, "only the leader fails: {failures:?}");
    assert!(matches!(failures[0], WitnessError::Transport { .. }));
    // The failed request never reached the gate. Released followers bootstrap on their own,
    // except those that wake after a faster follower already learned a head and use it.
    let sent = transport.bootstraps.load(Ordering::SeqCst);
    assert!((2..=THREADS).contains(&sent), "{sent} bootstrap requests");
    assert_eq!(transport.inner.bootstraps(), sent - 1);
    assert_eq!(world.ledger.consumes() as usize, sent - 1);
    assert_eq!(client.known_head(), world.log.inner_current());
}

/// A cache that counts loads.
struct CountingCache<C> {
    inner: C,
    loads: AtomicUsize,
}

impl<C: CacheStore> CacheStore for CountingCache<C> {
    fn load(&self) -> CacheLoad {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load()
    }
    fn store(&self, head: &SignedTreeHead) -> io::Result<()> {
        self.inner.store(head)
    }
}

#[test]
fn a_warm_cache_is_loaded_once_and_nobody_bootstraps() {
    let dir = fast_tempdir();
    let world = World::sealed();
    let key = ApiKey::new(KEY);
    let file = FileCacheStore::new(OsFs, dir.path(), "server", &key);
    let sealed = world.log.inner_current().expect("sealed");
    file.store(&sealed).expect("warm");
    let cache = CountingCache {
        inner: file,
        loads: AtomicUsize::new(0),
    };
    let client = WitnessClient::new(Recording::new(world.gate()), cache, key);
    let results = cold_start(&client, THREADS, |c, _| c.call(b"op"));
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(client.cache().loads.load(Ordering::SeqCst), 1);
    assert_eq!(client.transport().bootstraps(), 0);
    assert_eq!(world.ledger.consumes(), 0);
}

// ---- SingleFlight itself ----

fn followers(
    slot: &SingleFlight<SignedTreeHead>,
    n: usize,
    lead: impl FnOnce(),
) -> Vec<Acquire<SignedTreeHead>> {
    thread::scope(|s| {
        let handles: Vec<_> = (0..n).map(|_| s.spawn(|| slot.acquire())).collect();
        wait_until("every follower waits", || slot.waiting() == n);
        lead();
        handles
            .into_iter()
            .map(|h| h.join().expect("follower"))
            .collect()
    })
}

#[test]
fn followers_get_the_leaders_head() {
    let slot = SingleFlight::new();
    assert_eq!(slot.acquire(), Acquire::Lead);
    let answers = followers(&slot, 4, || slot.finish_lead(Some(head(1, 1))));
    assert_eq!(answers, vec![Acquire::Known(head(1, 1)); 4]);
    assert_eq!(
        slot.acquire(),
        Acquire::Known(head(1, 1)),
        "a late caller starts no flight"
    );
}

#[test]
fn a_leader_that_learns_nothing_releases_followers_alone_and_caches_nothing() {
    let slot = SingleFlight::new();
    assert_eq!(slot.acquire(), Acquire::Lead);
    let answers = followers(&slot, 3, || slot.finish_lead(None));
    assert_eq!(answers, vec![Acquire::LeaderFailed; 3]);
    assert_eq!(slot.get(), None);
    assert_eq!(
        slot.acquire(),
        Acquire::Lead,
        "a failed flight is not remembered"
    );
}

#[test]
fn a_panicking_leader_never_strands_its_followers() {
    let slot = SingleFlight::new();
    assert_eq!(slot.acquire(), Acquire::Lead);
    let answers = followers(&slot, 3, || {
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = LeadGuard::new(&slot);
            panic!("leader crashed mid-bootstrap");
        }));
        assert!(panicked.is_err());
    });
    assert_eq!(answers, vec![Acquire::LeaderFailed; 3]);
}

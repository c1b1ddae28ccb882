//! The checks behind every fuzz target, shared by the libFuzzer binaries (nightly,
//! `cargo +nightly fuzz run <target>`) and the corpus replay test (stable, `cargo test`).
//!
//! Each check feeds untrusted bytes to one library function and panics only when the function
//! breaks a property that must hold for every input.

use keyrace_core::bootstrap::sth::SignedTreeHead;
use keyrace_core::envelope::{self, EnvelopeError};
use keyrace_core::key::KeyParseError;
use keyrace_core::meta::{Meta, MetaParseError};
use keyrace_core::witness::cache;
use keyrace_core::Key;
use keyrace_core::{Store, StoreOptions};
use keyrace_harness::simfs::{CrashMode, Semantics, SimFs};
use keyrace_runner::protocol::{Code, Hello, Reply, Request};

/// One fuzz check: feeds bytes to a library function, panics on a broken property.
pub type Check = fn(&[u8]);

/// What a target's parser makes of an input, in a word or two ("accepted", "rejected:
/// wrong length"): the corpus replay compares it with `corpus/expected.tsv`, so a parser
/// that starts accepting what it must reject (or the reverse) turns the replay red.
pub type Verdict = fn(&[u8]) -> String;

/// One fuzz target: its corpus directory's name, its check and its verdict.
pub struct Target {
    pub name: &'static str,
    pub check: Check,
    pub verdict: Verdict,
}

/// The targets, by name, as the corpus directories are named.
pub const TARGETS: &[Target] = &[
    Target {
        name: "meta",
        check: meta,
        verdict: meta_verdict,
    },
    Target {
        name: "envelope",
        check: envelope,
        verdict: envelope_verdict,
    },
    Target {
        name: "env_key",
        check: env_key,
        verdict: env_key_verdict,
    },
    Target {
        name: "sth_cache",
        check: sth_cache,
        verdict: sth_cache_verdict,
    },
    Target {
        name: "adapter_message",
        check: adapter_message,
        verdict: adapter_message_verdict,
    },
    Target {
        name: "store_ops",
        check: |data| drop(store_ops(data)),
        verdict: |data| store_ops(data).join("; "),
    },
];

fn meta_verdict(data: &[u8]) -> String {
    match Meta::parse(data) {
        Ok(_) => "accepted".to_owned(),
        Err(MetaParseError::Corrupted(_)) => "rejected: corrupted".to_owned(),
        Err(MetaParseError::UnsupportedVersion(_)) => "rejected: unsupported version".to_owned(),
    }
}

fn envelope_verdict(data: &[u8]) -> String {
    match envelope::open(&Key::from_bytes([0x11; 32]), "name", data) {
        Ok(_) => "accepted".to_owned(),
        Err(EnvelopeError::Malformed(_)) => "rejected: malformed".to_owned(),
        Err(EnvelopeError::Unauthentic) => "rejected: unauthentic".to_owned(),
    }
}

fn env_key_verdict(data: &[u8]) -> String {
    match Key::parse_text(data) {
        Ok(_) => "accepted".to_owned(),
        Err(KeyParseError::Empty) => "rejected: empty".to_owned(),
        Err(KeyParseError::WrongLength { .. }) => "rejected: wrong length".to_owned(),
        Err(KeyParseError::NotHexOrBase64) => "rejected: not hex or base64".to_owned(),
    }
}

/// Both parsers the target feeds: the cache file, and the tree-head text inside it.
fn sth_cache_verdict(data: &[u8]) -> String {
    let cache = if cache::decode(data).is_some() {
        "accepted"
    } else {
        "rejected"
    };
    let head = match std::str::from_utf8(data).map(SignedTreeHead::parse) {
        Ok(Ok(_)) => "accepted",
        _ => "rejected",
    };
    format!("cache file {cache}, head text {head}")
}

fn adapter_message_verdict(data: &[u8]) -> String {
    if Request::parse(data).is_ok() {
        return "request".to_owned();
    }
    if let Ok(reply) = Reply::parse(data) {
        return match reply.outcome {
            Err(failure) if matches!(failure.code, Code::Unknown(_)) => {
                "reply with a code outside the taxonomy".to_owned()
            }
            _ => "reply".to_owned(),
        };
    }
    if Hello::parse(data).is_ok() {
        return "hello".to_owned();
    }
    "rejected".to_owned()
}

/// `meta.json` parse + verify: never panics; whatever parses re-serializes to an equal value,
/// and nothing an attacker writes verifies under a key it does not know.
pub fn meta(data: &[u8]) {
    if let Ok(parsed) = Meta::parse(data) {
        let reparsed = Meta::parse(&parsed.to_bytes()).expect("written metadata parses");
        assert_eq!(reparsed, parsed);
        assert!(parsed.verify(&Key::from_bytes([0x5a; 32])).is_err());
    }
}

/// Secret envelope decode/decrypt: never panics, never authenticates forged bytes, and a
/// sealed copy of the input round-trips.
pub fn envelope(data: &[u8]) {
    let key = Key::from_bytes([0x11; 32]);
    assert!(envelope::open(&key, "name", data).is_err());
    let sealed = envelope::seal(&key, "name", data).expect("OS randomness");
    let opened = envelope::open(&key, "name", &sealed).expect("sealed envelope opens");
    assert_eq!(opened.as_slice(), data);
}

/// `KEYRACE_MASTER_KEY` parsing: never panics; an accepted key prints back to text that parses
/// to the same key.
pub fn env_key(data: &[u8]) {
    if let Ok(key) = Key::parse_text(data) {
        assert_eq!(Key::parse_text(key.to_hex().as_bytes()), Ok(key));
    }
}

/// Head cache file parse (and the tree-head text parser inside it): never panics; whatever
/// decodes re-encodes to bytes that decode to the same head, and heads print as they parse.
pub fn sth_cache(data: &[u8]) {
    if let Some(head) = cache::decode(data) {
        assert_eq!(cache::decode(&cache::encode(&head)), Some(head));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(head) = SignedTreeHead::parse(text) {
            assert_eq!(head.to_string(), text, "a head has one text form");
        }
    }
}

/// keyrace-adapter/1 lines both ways: never panics; every accepted request, reply and hello
/// prints as a line that parses back to the same message.
pub fn adapter_message(data: &[u8]) {
    if let Ok(request) = Request::parse(data) {
        let line = request.to_line().expect("a parsed request serializes");
        assert_eq!(Request::parse(line.as_bytes()).ok(), Some(request));
    }
    if let Ok(reply) = Reply::parse(data) {
        assert_eq!(Reply::parse(reply.to_line().as_bytes()).ok(), Some(reply));
    }
    if let Ok(hello) = Hello::parse(data) {
        assert_eq!(Hello::parse(hello.to_line().as_bytes()).ok(), Some(hello));
    }
}

/// An arbitrary sequence of put/get/delete/reopen/crash on one store in SimFs, checked against
/// a `HashMap` model: every acknowledged put and delete survives reopens and crashes, every
/// read returns the model's value, and nothing else ever appears. A crash may also land inside
/// a put: the secret then holds its old or its new value (the new one if acknowledged).
/// Returns what happened besides puts, gets and deletes, in order: each reopen, each crash,
/// and for a crash inside a put, which value the secret kept.
pub fn store_ops(data: &[u8]) -> Vec<String> {
    let mut events = Vec::new();
    let fs = SimFs::new(Semantics::Posix);
    let dir = std::path::Path::new("/store");
    let key = keyrace_core::Key::from_bytes([0x42; 32]);
    let options = StoreOptions::default();
    let mut process = 0usize;
    let open = |fs: &SimFs| Store::open_or_create(fs.clone(), dir, &key, &options);
    let mut actor = fs.actor("p0");
    let mut store = open(&actor).expect("a fresh store opens");
    let mut model: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    for (step, chunk) in data.chunks(2).take(64).enumerate() {
        let (op, arg) = (chunk[0], chunk.get(1).copied().unwrap_or(0));
        let name = format!("s{}", arg % 4);
        match op % 6 {
            0 | 1 => {
                let value = vec![arg; usize::from(arg % 7) * 9];
                store.put(&name, &value).expect("put on a healthy SimFs");
                model.insert(name, value);
            }
            2 => {
                let got = store.get(&name).expect("get on a healthy SimFs");
                assert_eq!(got.as_deref(), model.get(&name), "step {step}: get {name}");
            }
            3 => {
                let existed = store.delete(&name).expect("delete on a healthy SimFs");
                assert_eq!(
                    existed,
                    model.remove(&name).is_some(),
                    "step {step}: delete {name}"
                );
            }
            4 => {
                drop(store);
                process += 1;
                actor = fs.actor(&format!("p{process}"));
                store = open(&actor).expect("reopen");
                events.push("reopened".to_owned());
            }
            _ => {
                let mode = if arg % 2 == 0 {
                    CrashMode::DurableOnly
                } else {
                    CrashMode::ZeroPending
                };
                // arg >= 128: the power fails inside a put of s<arg % 4>, after (arg / 2) % 16
                // of its filesystem operations; the put is then maybe-applied.
                let interrupted = (arg >= 128).then(|| {
                    let name = format!("s{}", arg % 4);
                    let value = vec![arg; 40];
                    fs.crash_actor_after(actor.actor_name(), usize::from(arg / 2 % 16));
                    let acked = store.put(&name, &value).is_ok();
                    (name, value, acked)
                });
                drop(store);
                fs.crash(mode);
                process += 1;
                actor = fs.actor(&format!("p{process}"));
                store = open(&actor).expect("the store opens after a crash");
                if let Some((name, value, acked)) = interrupted {
                    let got = store.get(&name).expect("get after a crash inside a put");
                    let old = model.get(&name);
                    let fine = got.as_deref() == Some(&value) || (!acked && got.as_deref() == old);
                    assert!(
                        fine,
                        "step {step}: after a crash inside put {name} (acknowledged: {acked}) get gives {got:?}, not the old {old:?} or the new value"
                    );
                    let kept = if got.as_deref() == Some(&value) {
                        "new value kept"
                    } else {
                        "old value kept"
                    };
                    let acked = if acked { "acknowledged" } else { "failed" };
                    events.push(format!("crashed inside a put ({acked}): {kept}"));
                    match got {
                        Some(bytes) => model.insert(name, bytes.to_vec()),
                        None => model.remove(&name),
                    };
                } else {
                    events.push("crashed".to_owned());
                }
            }
        }
        let listed = store.list().expect("list");
        let expected: Vec<&String> = model.keys().collect();
        assert_eq!(
            listed.iter().collect::<Vec<_>>(),
            expected,
            "step {step}: list"
        );
    }
    for (name, value) in &model {
        let got = store.get(name).expect("final get");
        assert_eq!(got.as_deref(), Some(value), "final get {name}");
    }
    if events.is_empty() {
        events.push("no reopen, no crash".to_owned());
    }
    events
}

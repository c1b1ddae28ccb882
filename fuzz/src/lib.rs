//! The checks behind every fuzz target, shared by the libFuzzer binaries (nightly,
//! `cargo +nightly fuzz run <target>`) and the corpus replay test (stable, `cargo test`).
//!
//! Each check feeds untrusted bytes to one library function and panics only when the function
//! breaks a property that must hold for every input.

use keyrace_core::bootstrap::sth::SignedTreeHead;
use keyrace_core::envelope;
use keyrace_core::meta::Meta;
use keyrace_core::witness::cache;
use keyrace_core::Key;

/// One fuzz check: feeds bytes to a library function, panics on a broken property.
pub type Check = fn(&[u8]);

/// The targets, by name, as the corpus directories are named.
pub const TARGETS: &[(&str, Check)] = &[
    ("meta", meta),
    ("envelope", envelope),
    ("env_key", env_key),
    ("sth_cache", sth_cache),
];

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
    let sealed = envelope::seal(&key, "name", data);
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

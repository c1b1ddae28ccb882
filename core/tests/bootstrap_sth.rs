//! Signed tree heads: the seed's textual shape, a strict parser, an append-only log.
// Real threads and std primitives: the loom build runs only the loom models (witness_loom).
#![cfg(not(loom))]

use keyrace_core::bootstrap::{
    BootstrapError, HeadLog, HeadParseError, MemoryHeadLog, SignedTreeHead,
};
use keyrace_core::ErrorCode;
use proptest::prelude::*;

#[test]
fn display_is_position_colon_22_base64url_chars() {
    let head = SignedTreeHead::new(42, *b"\xfb\xff\xbf0123456789abc");
    let text = head.to_string();
    let (position, prefix) = text.split_once(':').expect("colon");
    assert_eq!(position, "42");
    assert_eq!(prefix.len(), 22);
    // url-safe alphabet: 0xfb 0xff 0xbf encodes with '-' and '_', never '+' or '/'.
    assert!(prefix.starts_with("-_-_"), "{prefix}");
    assert_eq!(SignedTreeHead::parse(&text), Ok(head));
}

#[test]
fn zero_placeholder_parses_and_is_zero() {
    let zero = SignedTreeHead::parse("0:AAAAAAAAAAAAAAAAAAAAAA").expect("placeholder");
    assert!(zero.is_zero());
    assert!(!SignedTreeHead::new(0, [1; 16]).is_zero());
    assert!(!SignedTreeHead::new(1, [0; 16]).is_zero());
}

#[test]
fn from_root_keeps_the_first_16_bytes() {
    let mut root = [0u8; 32];
    for (i, b) in root.iter_mut().enumerate() {
        *b = i as u8;
    }
    let head = SignedTreeHead::from_root(7, &root);
    assert_eq!(head.prefix, root[..16]);
}

#[test]
fn strict_parser_rejects_every_near_miss() {
    let good = "12:AAAAAAAAAAAAAAAAAAAAAA";
    assert!(SignedTreeHead::parse(good).is_ok());
    let cases: &[(&str, HeadParseError)] = &[
        ("", HeadParseError::MissingColon),
        ("12", HeadParseError::MissingColon),
        (":AAAAAAAAAAAAAAAAAAAAAA", HeadParseError::BadPosition),
        ("012:AAAAAAAAAAAAAAAAAAAAAA", HeadParseError::BadPosition),
        ("+12:AAAAAAAAAAAAAAAAAAAAAA", HeadParseError::BadPosition),
        ("-1:AAAAAAAAAAAAAAAAAAAAAA", HeadParseError::BadPosition),
        (" 12:AAAAAAAAAAAAAAAAAAAAAA", HeadParseError::BadPosition),
        ("1 2:AAAAAAAAAAAAAAAAAAAAAA", HeadParseError::BadPosition),
        ("0x1:AAAAAAAAAAAAAAAAAAAAAA", HeadParseError::BadPosition),
        // u64::MAX + 1
        (
            "18446744073709551616:AAAAAAAAAAAAAAAAAAAAAA",
            HeadParseError::BadPosition,
        ),
        ("12:AAAAAAAAAAAAAAAAAAAAA", HeadParseError::BadPrefix),
        ("12:AAAAAAAAAAAAAAAAAAAAAAA", HeadParseError::BadPrefix),
        ("12:AAAAAAAAAAAAAAAAAAAA==", HeadParseError::BadPrefix),
        ("12:AAAAAAAAAAAAAAAAAAAAA+", HeadParseError::BadPrefix),
        ("12:AAAAAAAAAAAAAAAAAAAAA/", HeadParseError::BadPrefix),
        ("12:AAAAAAAAAAAAAAAAAAAAAB", HeadParseError::BadPrefix),
        ("12:AAAAAAAAAAAAAAAAAAAAA ", HeadParseError::BadPrefix),
        ("12:AAAAAAAAAAAAAAAAAAAAAA\n", HeadParseError::BadPrefix),
        ("12:AAAAAAAAAAAAAAAAAAAAA\u{e9}", HeadParseError::BadPrefix),
        ("12:AAAAAAAAAAAAAAAAAAA:AA", HeadParseError::BadPrefix),
    ];
    for (text, want) in cases {
        assert_eq!(SignedTreeHead::parse(text), Err(*want), "{text:?}");
    }
    let long = format!("1:{}", "A".repeat(100));
    assert!(matches!(
        SignedTreeHead::parse(&long),
        Err(HeadParseError::TooLong { .. })
    ));
    let max = format!("{}:AAAAAAAAAAAAAAAAAAAAAA", u64::MAX);
    assert_eq!(
        SignedTreeHead::parse(&max).map(|h| h.position),
        Ok(u64::MAX)
    );
}

#[test]
fn log_is_append_only_from_position_one() {
    let log = MemoryHeadLog::new();
    assert_eq!(log.current().expect("read"), None);
    let zero = log
        .append(SignedTreeHead::ZERO)
        .expect_err("position 0 is the placeholder's");
    assert_eq!(zero.code(), ErrorCode::InvalidArgument);
    let first = log.seal([1; 16]).expect("seal");
    assert_eq!(first.position, 1);
    log.append(SignedTreeHead::new(5, [5; 16]))
        .expect("gaps are allowed");
    for position in [5, 4, 1] {
        assert!(matches!(
            log.append(SignedTreeHead::new(position, [9; 16])),
            Err(BootstrapError::OutOfOrderHead { newest: 5, .. })
        ));
    }
    assert_eq!(
        log.current().expect("read"),
        Some(SignedTreeHead::new(5, [5; 16]))
    );
    assert!(log.has_held(&first).expect("read"));
    assert!(!log
        .has_held(&SignedTreeHead::new(1, [2; 16]))
        .expect("read"));
    assert!(!log
        .has_held(&SignedTreeHead::new(3, [5; 16]))
        .expect("read"));
    assert!(!log.has_held(&SignedTreeHead::ZERO).expect("read"));
}

proptest! {
    #[test]
    fn every_head_round_trips(position: u64, prefix: [u8; 16]) {
        let head = SignedTreeHead::new(position, prefix);
        prop_assert_eq!(SignedTreeHead::parse(&head.to_string()), Ok(head));
    }

    /// Arbitrary text never panics, and whatever parses prints back to the same text:
    /// exactly one spelling per head.
    #[test]
    fn arbitrary_text_never_panics_and_is_canonical(text in "\\PC{0,48}|[0-9]{1,21}:[A-Za-z0-9_=+/-]{20,24}") {
        if let Ok(head) = SignedTreeHead::parse(&text) {
            prop_assert_eq!(head.to_string(), text);
        }
    }
}

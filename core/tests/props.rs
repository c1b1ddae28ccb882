//! Properties: identity is canonical; parsers of untrusted bytes never panic.

use keyrace_core::envelope;
use keyrace_core::keyfile::parse_key_file;
use keyrace_core::meta::Meta;
use keyrace_core::{Identity, Interface, Key};
use proptest::prelude::*;

fn interface() -> impl Strategy<Value = Interface> {
    ("[a-z]{2,6}[0-9]", any::<[u8; 6]>(), any::<bool>()).prop_map(|(name, mac, physical)| {
        Interface {
            loopback: name == "lo",
            name,
            mac,
            physical,
        }
    })
}

/// Interfaces that must never change the identity: loopback, virtual, randomized MACs.
fn noise() -> impl Strategy<Value = Interface> {
    prop_oneof![
        Just(Interface {
            name: "lo".into(),
            mac: [0; 6],
            physical: false,
            loopback: true,
        }),
        ("(wg|tun|docker|veth|br)[0-9]", any::<[u8; 6]>()).prop_map(|(name, mac)| Interface {
            name,
            mac,
            physical: false,
            loopback: false,
        }),
        ("wlan[0-9]", any::<[u8; 6]>()).prop_map(|(name, mut mac)| {
            mac[0] |= 0x02; // locally administered: a randomized address
            Interface {
                name,
                mac,
                physical: true,
                loopback: false,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn identity_is_invariant_under_permutation_and_noise(
        interfaces in proptest::collection::vec(interface(), 0..8),
        extra in proptest::collection::vec(noise(), 0..4),
        seed in any::<u64>(),
    ) {
        let base = Identity::from_parts(&interfaces, "Host", "uid:7");
        let mut shuffled = interfaces.clone();
        shuffled.extend(extra);
        // A deterministic shuffle driven by the generated seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let other = Identity::from_parts(&shuffled, "host", "uid:7");
        prop_assert_eq!(&base, &other);
        prop_assert_eq!(base.canonical(), other.canonical());
        prop_assert!(other.check_compatible(&base).is_ok());
    }

    #[test]
    fn meta_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Meta::parse(&bytes);
    }

    #[test]
    fn meta_parser_never_panics_on_near_json(text in r#"\{"version":[0-9-]{1,3}(,"[a-z_]{1,9}":("[0-9a-f]{0,70}"|null|\{\}))*\}"#) {
        let _ = Meta::parse(text.as_bytes());
    }

    #[test]
    fn key_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
        let _ = parse_key_file(&bytes);
        let _ = Key::parse_text(&bytes);
    }

    #[test]
    fn envelope_open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let key = Key::from_bytes([3; 32]);
        prop_assert!(envelope::open(&key, "n", &bytes).is_err());
    }
}

//! **identity-drift** (seed 000): a property over interface lists, checked with proptest (there
//! is no concurrency to explore, so loom and shuttle have nothing to add).

use std::cell::Cell;
use std::collections::BTreeSet;

use keyrace_core::{Identity, Interface};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use super::VIOLATION_PREFIX;

/// How the identity is derived from a machine's interfaces (hostname and user fixed).
pub type DeriveStep = fn(&[Interface]) -> Identity;

/// `Identity::from_parts`: the canonical set of stable MACs.
pub fn reference(interfaces: &[Interface]) -> Identity {
    Identity::from_parts(interfaces, "host", "uid:1000")
}

/// The name of the mutant below.
pub const FIRST_MAC: &str = "identity-first-mac";

/// `identity-first-mac` (seed 000, secrets-engine issue #3): the MAC of the first non-loopback
/// interface in list order, whatever it is. It has no process-level counterpart (the runner
/// cannot change a machine's interfaces), so it lives here, beside its property.
pub fn first_mac(interfaces: &[Interface]) -> Identity {
    Identity {
        hostname: "host".to_owned(),
        user: "uid:1000".to_owned(),
        macs: interfaces
            .iter()
            .find(|i| !i.loopback)
            .map(|i| {
                let parts: Vec<String> = i.mac.iter().map(|b| format!("{b:02x}")).collect();
                parts.join(":")
            })
            .into_iter()
            .collect::<BTreeSet<String>>(),
    }
}

fn physical_nic() -> impl Strategy<Value = Interface> {
    // Universally administered unicast: the low two bits of the first byte clear.
    (any::<[u8; 6]>(), 0u8..8).prop_map(|(mut mac, n)| {
        mac[0] &= 0xfc;
        if mac == [0; 6] {
            mac[5] = 1;
        }
        Interface {
            name: format!("eth{n}"),
            mac,
            physical: true,
            loopback: false,
        }
    })
}

fn virtual_nic() -> impl Strategy<Value = Interface> {
    // A VPN/tun/bridge (no device), a randomized Wi-Fi address, or loopback.
    (any::<[u8; 6]>(), 0u8..3).prop_map(|(mut mac, kind)| match kind {
        0 => Interface {
            name: "wg0".to_owned(),
            mac,
            physical: false,
            loopback: false,
        },
        1 => {
            mac[0] = (mac[0] | 0x02) & 0xfe;
            Interface {
                name: "wlan0".to_owned(),
                mac,
                physical: true,
                loopback: false,
            }
        }
        _ => Interface {
            name: "lo".to_owned(),
            mac: [0; 6],
            physical: false,
            loopback: true,
        },
    })
}

/// A machine's interfaces before, and the same machine after its adapters were reordered and
/// virtual interfaces (VPN, bridges, randomized addresses) came and went.
pub fn drift() -> impl Strategy<Value = (Vec<Interface>, Vec<Interface>)> {
    (
        prop::collection::vec(physical_nic(), 1..4),
        prop::collection::vec(virtual_nic(), 0..3),
        prop::collection::vec(virtual_nic(), 0..3),
    )
        .prop_flat_map(|(physical, before_virtual, after_virtual)| {
            let before: Vec<Interface> = physical.iter().cloned().chain(before_virtual).collect();
            let after: Vec<Interface> = physical.into_iter().chain(after_virtual).collect();
            (Just(before).prop_shuffle(), Just(after).prop_shuffle())
        })
}

pub const INVARIANT: &str = "reordering adapters and adding or removing VPN/virtual \
                             interfaces never changes the identity";

/// The property for one case.
pub fn holds(derive: DeriveStep, before: &[Interface], after: &[Interface]) -> Result<(), String> {
    let (recorded, current) = (derive(before), derive(after));
    if recorded != current {
        return Err(format!("identity changed: {recorded} -> {current}"));
    }
    current
        .check_compatible(&recorded)
        .map_err(|e| e.to_string())
}

/// Result of a proptest run.
#[derive(Debug, Clone)]
pub struct PropOutcome {
    pub cases: usize,
    /// The violation with the shrunk counterexample.
    pub failure: Option<String>,
}

/// Check the property on `cases` random cases (deterministic seed, so a failure is replayed by
/// running again), shrinking a failure to a minimal interface list.
pub fn identity_drift(derive: DeriveStep, cases: u32) -> PropOutcome {
    let config = Config {
        cases,
        failure_persistence: None,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let count = Cell::new(0usize);
    let first_failure = Cell::new(None::<usize>);
    let result = runner.run(&drift(), |(before, after)| {
        count.set(count.get() + 1);
        holds(derive, &before, &after).map_err(|why| {
            if first_failure.get().is_none() {
                first_failure.set(Some(count.get()));
            }
            TestCaseError::fail(why)
        })
    });
    let failure = match result {
        Ok(()) => None,
        Err(TestError::Fail(why, (before, after))) => Some(format!(
            "{VIOLATION_PREFIX}{INVARIANT}\nobserved: {why}\nminimal case:\n  before: {before:?}\n  after:  {after:?}"
        )),
        Err(TestError::Abort(why)) => Some(format!("proptest aborted: {why}")),
    };
    PropOutcome {
        cases: first_failure.get().unwrap_or(count.get()),
        failure,
    }
}

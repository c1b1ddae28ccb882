//! Machine identity read from the real machine (Linux `/sys/class/net`).

use keyrace_core::identity::list_interfaces;
use keyrace_core::{Identity, OsFs};

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "reads Linux's /sys/class/net; other systems list interfaces elsewhere"
)]
fn real_interfaces_are_read_and_classified() {
    assert!(
        std::path::Path::new("/sys/class/net/lo").exists(),
        "no /sys/class/net/lo: a Linux machine without sysfs or a loopback interface cannot run this test"
    );
    let interfaces = list_interfaces(&OsFs).expect("list interfaces");
    let lo = interfaces
        .iter()
        .find(|i| i.name == "lo")
        .expect("loopback listed");
    assert!(lo.loopback && !lo.physical && !lo.is_stable());
    for interface in &interfaces {
        let virtual_dir = std::fs::canonicalize(format!("/sys/class/net/{}", interface.name))
            .expect("canonicalize")
            .starts_with("/sys/devices/virtual");
        assert_eq!(interface.physical, !virtual_dir, "{interface:?}");
    }
}

#[test]
fn the_current_identity_is_canonical_and_stable_across_reads() {
    let first = Identity::current(&OsFs).expect("identity");
    let second = Identity::current(&OsFs).expect("identity");
    assert_eq!(first.canonical(), second.canonical());
    assert!(first.canonical().starts_with("keyrace-identity/1\n"));
    assert!(!first.hostname.is_empty() && first.user.starts_with("uid:"));
    assert!(second.check_compatible(&first).is_ok());
}

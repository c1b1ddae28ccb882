//! Machine identity (seed 000): canonical, order-independent, and checked component by
//! component.
//!
//! # Compatibility guarantee
//!
//! An identity is three components: the set of MAC addresses of physical network interfaces,
//! the hostname, and the user (numeric uid on Unix). The MAC set is canonical: lower-case,
//! sorted and de-duplicated, with loopback, virtual interfaces (no backing device: VPN, tun,
//! bridges, veth, docker), all-zero, multicast and locally-administered (randomized) addresses
//! left out. Therefore:
//!
//! - reordering interfaces, or adding or removing a VPN or virtual interface, never changes
//!   the identity;
//! - a store bound to an identity opens while the hostname and user are unchanged and **at
//!   least one** recorded physical MAC is still present (docking/undocking a USB NIC or
//!   replacing one of two NICs keeps the store usable); a store recorded with no physical MAC
//!   (containers) is bound to hostname and user only;
//! - anything else is `IDENTITY_CHANGED` naming the component that changed, never an
//!   integrity error. The identity only gates opening; it is not key material, so a moved
//!   store can be opened by resetting its binding, never by guessing a key.
//!
//! The canonical text form ([`Identity::canonical`]) is versioned (`keyrace-identity/1`) and
//! will not change within version 1.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IdentityComponent};
use crate::fs::{read_file, FileKind, Fs};

/// One network interface as the operating system lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub mac: [u8; 6],
    /// Backed by a device (Linux: `/sys/class/net/<if>/device` exists).
    pub physical: bool,
    pub loopback: bool,
}

impl Interface {
    /// Whether this interface's MAC is a stable hardware address worth binding to.
    pub fn is_stable(&self) -> bool {
        let [first, ..] = self.mac;
        self.physical
            && !self.loopback
            && self.mac != [0; 6]
            && first & 0x01 == 0 // multicast
            && first & 0x02 == 0 // locally administered: randomized or virtual
    }
}

/// A canonical machine identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub hostname: String,
    pub user: String,
    /// Lower-case `aa:bb:cc:dd:ee:ff`, sorted, de-duplicated.
    pub macs: BTreeSet<String>,
}

fn format_mac(mac: [u8; 6]) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

/// Parse `aa:bb:cc:dd:ee:ff` (either case).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

impl Identity {
    /// The canonical identity of these inputs: independent of interface order and of
    /// interfaces that are not stable hardware.
    pub fn from_parts(interfaces: &[Interface], hostname: &str, user: &str) -> Identity {
        Identity {
            hostname: hostname.trim().to_lowercase(),
            user: user.trim().to_owned(),
            macs: interfaces
                .iter()
                .filter(|i| i.is_stable())
                .map(|i| format_mac(i.mac))
                .collect(),
        }
    }

    /// The identity of this machine and user, read through `fs`.
    pub fn current<F: Fs + ?Sized>(fs: &F) -> Result<Identity, Error> {
        let interfaces = list_interfaces(fs)?;
        Ok(Identity::from_parts(
            &interfaces,
            &current_hostname(fs),
            &current_user(),
        ))
    }

    /// A versioned text form; equal identities have equal canonical forms.
    pub fn canonical(&self) -> String {
        let macs: Vec<&str> = self.macs.iter().map(String::as_str).collect();
        format!(
            "keyrace-identity/1\nhostname={}\nuser={}\nmacs={}\n",
            self.hostname,
            self.user,
            macs.join(",")
        )
    }

    /// Check that a store recorded with `recorded` may be opened by `self` (the rules in the
    /// module docs), naming the first component that changed.
    pub fn check_compatible(&self, recorded: &Identity) -> Result<(), Error> {
        let changed = |component, recorded: String, current: String| {
            Err(Error::IdentityChanged {
                component,
                recorded,
                current,
            })
        };
        if self.hostname != recorded.hostname {
            return changed(
                IdentityComponent::Hostname,
                recorded.hostname.clone(),
                self.hostname.clone(),
            );
        }
        if self.user != recorded.user {
            return changed(
                IdentityComponent::User,
                recorded.user.clone(),
                self.user.clone(),
            );
        }
        if !recorded.macs.is_empty() && recorded.macs.is_disjoint(&self.macs) {
            let show = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",");
            return changed(
                IdentityComponent::Macs,
                show(&recorded.macs),
                show(&self.macs),
            );
        }
        Ok(())
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hostname={} user={} macs={}",
            self.hostname,
            self.user,
            self.macs.len()
        )
    }
}

const SYS_CLASS_NET: &str = "/sys/class/net";

/// The interfaces under `/sys/class/net`; none where that directory does not exist.
pub fn list_interfaces<F: Fs + ?Sized>(fs: &F) -> Result<Vec<Interface>, Error> {
    let root = Path::new(SYS_CLASS_NET);
    let entries = match fs.read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Fs {
                what: "list network interfaces",
                source,
            })
        }
    };
    let mut interfaces = Vec::new();
    for entry in entries {
        let Some(name) = entry.name.to_str() else {
            continue;
        };
        let dir = root.join(name);
        // An interface that vanishes or has no readable address while we look is skipped:
        // the identity is built from what is stably there.
        let Ok(address) = read_file(fs, &dir.join("address")) else {
            continue;
        };
        let Some(mac) = std::str::from_utf8(&address).ok().and_then(parse_mac) else {
            continue;
        };
        let physical = matches!(
            fs.symlink_metadata(&dir.join("device")),
            Ok(meta) if meta.kind != FileKind::Other
        );
        interfaces.push(Interface {
            name: name.to_owned(),
            mac,
            physical,
            loopback: name == "lo",
        });
    }
    Ok(interfaces)
}

fn current_hostname<F: Fs + ?Sized>(fs: &F) -> String {
    if let Ok(bytes) = read_file(fs, Path::new("/proc/sys/kernel/hostname")) {
        if let Ok(text) = String::from_utf8(bytes) {
            return text.trim().to_owned();
        }
    }
    #[cfg(unix)]
    {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_default()
    }
}

fn current_user() -> String {
    #[cfg(unix)]
    {
        format!("uid:{}", rustix::process::getuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        std::env::var("USERNAME").unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(name: &str, mac: [u8; 6], physical: bool) -> Interface {
        Interface {
            name: name.to_owned(),
            mac,
            physical,
            loopback: name == "lo",
        }
    }

    #[test]
    fn unstable_interfaces_are_left_out() {
        let interfaces = [
            nic("lo", [0; 6], false),
            nic("eth0", [0x00, 0x11, 0x22, 0x33, 0x44, 0x55], true),
            nic("wg0", [0x00, 0x11, 0x22, 0x33, 0x44, 0x66], false),
            nic("wlan0", [0x02, 0x11, 0x22, 0x33, 0x44, 0x77], true),
            nic("eth1", [0x01, 0x11, 0x22, 0x33, 0x44, 0x88], true),
        ];
        let id = Identity::from_parts(&interfaces, "Host", "uid:1");
        assert_eq!(
            id.macs.iter().collect::<Vec<_>>(),
            vec!["00:11:22:33:44:55"]
        );
        assert_eq!(id.hostname, "host");
    }

    #[test]
    fn mac_changes_are_named_only_when_no_recorded_mac_is_left() {
        let a = [0x00, 0, 0, 0, 0, 1];
        let b = [0x00, 0, 0, 0, 0, 2];
        let c = [0x00, 0, 0, 0, 0, 3];
        let recorded = Identity::from_parts(&[nic("e0", a, true), nic("e1", b, true)], "h", "u");
        let docked = Identity::from_parts(&[nic("e1", b, true), nic("e2", c, true)], "h", "u");
        assert!(docked.check_compatible(&recorded).is_ok());
        let moved = Identity::from_parts(&[nic("e2", c, true)], "h", "u");
        let err = moved
            .check_compatible(&recorded)
            .expect_err("no recorded MAC left");
        assert!(matches!(
            err,
            Error::IdentityChanged {
                component: IdentityComponent::Macs,
                ..
            }
        ));
        let renamed = Identity::from_parts(&[nic("e0", a, true)], "other", "u");
        assert!(matches!(
            renamed.check_compatible(&recorded),
            Err(Error::IdentityChanged {
                component: IdentityComponent::Hostname,
                ..
            })
        ));
        let other_user = Identity::from_parts(&[nic("e0", a, true)], "h", "someone-else");
        assert!(matches!(
            other_user.check_compatible(&recorded),
            Err(Error::IdentityChanged {
                component: IdentityComponent::User,
                ref recorded,
                ref current,
            }) if recorded == "u" && current == "someone-else"
        ));
    }

    #[test]
    fn parse_mac_is_strict() {
        assert_eq!(
            parse_mac("AA:bb:00:11:22:33\n"),
            Some([0xaa, 0xbb, 0, 0x11, 0x22, 0x33])
        );
        assert_eq!(parse_mac("aa:bb:00:11:22"), None);
        assert_eq!(parse_mac("aa:bb:00:11:22:33:44"), None);
        assert_eq!(parse_mac("aab:b00:11:22:33:4"), None);
        assert_eq!(parse_mac("+a:bb:00:11:22:33"), None);
    }
}

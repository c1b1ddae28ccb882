//! Randomness for keys, salts, nonces and temp names, straight from the operating system.
//!
//! Not rand's `ThreadRng`: since rand 0.9 it no longer reseeds after `fork`, so a parent and a
//! forked child would draw the same bytes; for AES-GCM that is the same nonce twice under one
//! key, which reveals the XOR of two plaintexts and the authentication key. The OS source
//! (`getrandom`) keeps no state in the process that a fork could duplicate.

use crate::error::{Error, Result};

/// Fill `bytes` from the OS random source.
pub fn fill(bytes: &mut [u8]) -> Result<()> {
    getrandom::fill(bytes).map_err(|e| Error::Randomness {
        detail: e.to_string(),
    })
}

/// A 64-bit value for a temp file name, unique across processes, forks included. A name needs
/// uniqueness, not secrecy: if the OS source fails, the process id, the clock and a counter
/// stand in (a taken name is retried anyway), so naming a temp file never fails.
pub fn temp_suffix() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        (u64::from(std::process::id()) << 32) ^ nanos ^ COUNTER.fetch_add(1, Ordering::Relaxed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        fill(&mut a).expect("random");
        fill(&mut b).expect("random");
        assert_ne!(a, b);
        assert_ne!(temp_suffix(), temp_suffix());
    }
}

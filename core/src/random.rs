//! Randomness for keys, salts, nonces and temp names, straight from the operating system.
//!
//! Not rand's `ThreadRng`: since rand 0.9 it no longer reseeds after `fork`, so a parent and a
//! forked child would draw the same bytes; for AES-GCM that is the same nonce twice under one
//! key, which reveals the XOR of two plaintexts and the authentication key. The OS source
//! (`getrandom`) keeps no state in the process that a fork could duplicate.

use std::io;

use crate::error::{Error, Result};

/// Fill `bytes` from the OS random source.
pub fn fill(bytes: &mut [u8]) -> Result<()> {
    getrandom::fill(bytes).map_err(|e| Error::Randomness {
        detail: e.to_string(),
    })
}

/// A random 64-bit value for a temp file name: unique across processes, forks included.
pub fn temp_suffix() -> io::Result<u64> {
    getrandom::u64().map_err(|e| {
        io::Error::other(format!(
            "the operating system's random source failed ({e}) when naming a temp file"
        ))
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
        assert_ne!(
            temp_suffix().expect("random"),
            temp_suffix().expect("random")
        );
    }
}

//! One secret's on-disk envelope: AES-256-GCM with the secret's name bound as associated data,
//! so an envelope renamed to another secret's file does not decrypt.
//!
//! Layout: `b"KRS1"` | 12-byte random nonce | ciphertext and 16-byte tag.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::key::Key;

const MAGIC: &[u8; 4] = b"KRS1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Smallest possible envelope: an empty secret.
pub const MIN_ENVELOPE_LEN: usize = MAGIC.len() + NONCE_LEN + TAG_LEN;

/// Why an envelope did not open. Deliberately carries no detail of the cipher's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a keyrace envelope ({0})")]
    Malformed(&'static str),
    #[error("does not authenticate under this key and name")]
    Unauthentic,
}

fn associated_data(name: &str) -> Vec<u8> {
    let mut ad = b"keyrace/secret/v1\0".to_vec();
    ad.extend_from_slice(name.as_bytes());
    ad
}

fn cipher(key: &Key) -> Aes256Gcm {
    Aes256Gcm::new(key.expose().into())
}

/// Encrypt `plaintext` as the secret `name`, under a fresh random nonce. Fails only when the
/// OS random source does.
pub fn seal(key: &Key, name: &str, plaintext: &[u8]) -> crate::Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::random::fill(&mut nonce)?;
    let ad = associated_data(name);
    let ciphertext = cipher(key)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &ad,
            },
        )
        // aes-gcm fails only for plaintexts beyond 64 GiB, which no caller can hand in memory.
        .unwrap_or_else(|_| unreachable!("AES-GCM plaintext length limit is 64 GiB"));
    let mut out = Vec::with_capacity(MIN_ENVELOPE_LEN + plaintext.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Decrypt an envelope of the secret `name`. Never panics, whatever the bytes.
pub fn open(key: &Key, name: &str, envelope: &[u8]) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    if envelope.len() < MIN_ENVELOPE_LEN {
        return Err(EnvelopeError::Malformed("too short"));
    }
    let (magic, rest) = envelope.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(EnvelopeError::Malformed("bad magic"));
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let ad = associated_data(name);
    cipher(key)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &ad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| EnvelopeError::Unauthentic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_the_name() {
        let key = Key::generate().expect("OS randomness");
        let sealed = seal(&key, "db-password", b"hunter2").expect("OS randomness");
        assert_eq!(
            open(&key, "db-password", &sealed).expect("open").as_slice(),
            b"hunter2"
        );
        assert_eq!(
            open(&key, "api-token", &sealed),
            Err(EnvelopeError::Unauthentic)
        );
        assert_eq!(
            open(
                &Key::generate().expect("OS randomness"),
                "db-password",
                &sealed
            ),
            Err(EnvelopeError::Unauthentic)
        );
    }

    #[test]
    fn every_truncation_and_bit_flip_is_rejected() {
        let key = Key::generate().expect("OS randomness");
        let sealed = seal(&key, "n", b"value").expect("OS randomness");
        for len in 0..sealed.len() {
            assert!(open(&key, "n", &sealed[..len]).is_err(), "len {len}");
        }
        for i in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 0x01;
            assert!(open(&key, "n", &flipped).is_err(), "byte {i}");
        }
    }
}

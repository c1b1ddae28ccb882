//! Key material: a zeroizing 32-byte key that never prints, and the strict text parsers.

use std::fmt;

use base64::Engine as _;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length of every key in keyrace: AES-256 and HMAC-SHA256 keys.
pub const KEY_LEN: usize = 32;

/// A 32-byte secret key. Zeroized on drop; `Debug` shows only the key id.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(bytes)
    }

    /// A key from `bytes`, which must be exactly [`KEY_LEN`] long.
    pub fn from_slice(bytes: &[u8]) -> Result<Key, KeyParseError> {
        let array: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| KeyParseError::WrongLength { found: bytes.len() })?;
        Ok(Key(array))
    }

    /// A fresh key from the operating system's random source ([`crate::random`]).
    pub fn generate() -> crate::Result<Key> {
        let mut key = Key([0u8; KEY_LEN]);
        crate::random::fill(&mut key.0)?;
        Ok(key)
    }

    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A public fingerprint: 16 hex characters of SHA-256 over a domain tag and the key.
    /// Equal ids mean equal keys (up to 2^-64); the id reveals nothing usable about the key.
    pub fn id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"keyrace/key-id/v1\0")
            .chain_update(self.0)
            .finalize();
        hex::encode(&digest[..8])
    }

    /// Derive a sub-key for one purpose (HKDF-SHA256 with `salt`).
    pub fn derive(&self, salt: &[u8], purpose: &str) -> Key {
        let hkdf = Hkdf::<Sha256>::new(Some(salt), &self.0);
        let mut out = [0u8; KEY_LEN];
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
        if hkdf.expand(purpose.as_bytes(), &mut out).is_err() {
            unreachable!("HKDF-SHA256 can always expand 32 bytes");
        }
        Key(out)
    }

    /// Parse the text form accepted by `KEYRACE_MASTER_KEY`: exactly 32 bytes written as 64 hex
    /// characters or as base64 (standard or URL-safe, padded or not). Surrounding ASCII
    /// whitespace (a trailing newline from a file) is ignored; nothing else is.
    pub fn parse_text(text: &[u8]) -> Result<Key, KeyParseError> {
        let text = text.trim_ascii();
        if text.is_empty() {
            return Err(KeyParseError::Empty);
        }
        if text.len() == 2 * KEY_LEN && text.iter().all(u8::is_ascii_hexdigit) {
            let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
            hex::decode_to_slice(text, bytes.as_mut())
                .map_err(|_| KeyParseError::NotHexOrBase64)?;
            return Ok(Key(*bytes));
        }
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for engine in engines {
            if let Ok(decoded) = engine.decode(text) {
                let decoded = Zeroizing::new(decoded);
                return Key::from_slice(&decoded);
            }
        }
        Err(KeyParseError::NotHexOrBase64)
    }

    /// Lower-case hex, for writing a key where a person or another program reads it.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(id={})", self.id())
    }
}

/// Why text or bytes are not a key. Never contains the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    #[error("it is empty")]
    Empty,
    #[error("it decodes to {found} bytes, a key is exactly 32")]
    WrongLength { found: usize },
    #[error("it is neither 64 hex characters nor base64")]
    NotHexOrBase64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_base64_of_the_same_key() {
        let key = Key::from_bytes([7u8; 32]);
        let hex_text = key.to_hex();
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.expose());
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.expose());
        assert_eq!(Key::parse_text(hex_text.as_bytes()), Ok(key.clone()));
        assert_eq!(
            Key::parse_text(format!("{b64}\n").as_bytes()),
            Ok(key.clone())
        );
        assert_eq!(Key::parse_text(b64url.as_bytes()), Ok(key));
    }

    #[test]
    fn rejects_wrong_lengths_and_garbage() {
        assert_eq!(Key::parse_text(b""), Err(KeyParseError::Empty));
        assert_eq!(Key::parse_text(b"  \n"), Err(KeyParseError::Empty));
        let short = base64::engine::general_purpose::STANDARD.encode([9u8; 31]);
        assert_eq!(
            Key::parse_text(short.as_bytes()),
            Err(KeyParseError::WrongLength { found: 31 })
        );
        assert_eq!(
            Key::parse_text(b"not a key!"),
            Err(KeyParseError::NotHexOrBase64)
        );
        // 63 hex characters: not hex of 32 bytes, and not valid base64 either.
        assert!(Key::parse_text("a".repeat(63).as_bytes()).is_err());
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = Key::from_bytes([0xAB; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        assert!(shown.contains(&key.id()));
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_salt() {
        let key = Key::from_bytes([1; 32]);
        assert_ne!(key.derive(b"s", "a"), key.derive(b"s", "b"));
        assert_ne!(key.derive(b"s", "a"), key.derive(b"t", "a"));
        assert_eq!(key.derive(b"s", "a"), key.derive(b"s", "a"));
    }
}

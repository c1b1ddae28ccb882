//! `meta.json`: the versioned, HMAC-protected description of a store.
//!
//! ```json
//! {"version":1,"salt":"<32 hex>","key_check":"<32 hex>","identity":{...}|null,"hmac":"<64 hex>"}
//! ```
//!
//! Checks run in an order that names the real problem: not JSON or no version →
//! `METADATA_CORRUPTED`; another version → `UNSUPPORTED_VERSION`; wrong shape →
//! `METADATA_CORRUPTED`; key check fails → `INTEGRITY_MISMATCH` (wrong key); HMAC fails →
//! `INTEGRITY_MISMATCH` (altered). Identity is compared only after the HMAC has made the
//! recorded identity trustworthy (see [`crate::Store`]).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::identity::Identity;
use crate::key::Key;

/// The format version this build writes and reads.
pub const META_VERSION: u64 = 1;

/// Largest metadata file read; a real one is well under 1 KiB.
pub const MAX_META_LEN: u64 = 64 * 1024;

const SALT_LEN: usize = 16;
const KEY_CHECK_LEN: usize = 16;

/// The authenticated fields, serialized in this order for the HMAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaBody {
    version: u64,
    salt: String,
    key_check: String,
    identity: Option<Identity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaFile {
    version: u64,
    salt: String,
    key_check: String,
    identity: Option<Identity>,
    hmac: String,
}

#[derive(Deserialize)]
struct VersionProbe {
    version: Option<serde_json::Value>,
}

/// Parsed, not yet verified metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub salt: [u8; SALT_LEN],
    key_check: [u8; KEY_CHECK_LEN],
    pub identity: Option<Identity>,
    hmac: [u8; 32],
}

/// Why metadata bytes were rejected, before any key is involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaParseError {
    Corrupted(String),
    UnsupportedVersion(u64),
}

/// Why verification under a key failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaVerifyError {
    WrongKey,
    Altered,
}

/// The keys of one store, derived from the master key and the store's salt.
pub struct StoreKeys {
    pub enc: Key,
    mac: Key,
}

impl StoreKeys {
    pub fn derive(master: &Key, salt: &[u8]) -> StoreKeys {
        StoreKeys {
            enc: master.derive(salt, "keyrace/store/v1/enc"),
            mac: master.derive(salt, "keyrace/store/v1/mac"),
        }
    }

    fn hmac(&self, domain: &[u8], data: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.mac.expose())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(domain);
        mac.update(data);
        mac
    }

    fn key_check(&self) -> [u8; KEY_CHECK_LEN] {
        let tag = self
            .hmac(b"keyrace/key-check/v1\0", b"")
            .finalize()
            .into_bytes();
        let mut check = [0u8; KEY_CHECK_LEN];
        check.copy_from_slice(&tag[..KEY_CHECK_LEN]);
        check
    }
}

fn decode_fixed<const N: usize>(field: &str, text: &str) -> Result<[u8; N], MetaParseError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| {
        MetaParseError::Corrupted(format!("field {field:?} is not {} hex characters", 2 * N))
    })?;
    Ok(out)
}

impl Meta {
    /// New metadata for a store under `master`, bound to `identity` (if any).
    pub fn new(master: &Key, identity: Option<Identity>) -> crate::Result<Meta> {
        let mut salt = [0u8; SALT_LEN];
        crate::random::fill(&mut salt)?;
        let keys = StoreKeys::derive(master, &salt);
        let mut meta = Meta {
            salt,
            key_check: keys.key_check(),
            identity,
            hmac: [0; 32],
        };
        let tag = keys
            .hmac(b"keyrace/meta/v1\0", &meta.body_json())
            .finalize();
        meta.hmac.copy_from_slice(&tag.into_bytes());
        Ok(meta)
    }

    fn body(&self) -> MetaBody {
        MetaBody {
            version: META_VERSION,
            salt: hex::encode(self.salt),
            key_check: hex::encode(self.key_check),
            identity: self.identity.clone(),
        }
    }

    fn body_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body())
            .unwrap_or_else(|_| unreachable!("plain structs always serialize"))
    }

    /// The bytes written to `meta.json`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = self.body();
        let file = MetaFile {
            version: body.version,
            salt: body.salt,
            key_check: body.key_check,
            identity: body.identity,
            hmac: hex::encode(self.hmac),
        };
        let mut bytes = serde_json::to_vec_pretty(&file)
            .unwrap_or_else(|_| unreachable!("plain structs always serialize"));
        bytes.push(b'\n');
        bytes
    }

    /// Parse `meta.json` bytes. Never panics, whatever the bytes.
    pub fn parse(bytes: &[u8]) -> Result<Meta, MetaParseError> {
        if bytes.len() as u64 > MAX_META_LEN {
            return Err(MetaParseError::Corrupted(format!(
                "{} bytes, larger than any metadata file",
                bytes.len()
            )));
        }
        let probe: VersionProbe = serde_json::from_slice(bytes)
            .map_err(|e| MetaParseError::Corrupted(format!("not a JSON object: {e}")))?;
        match probe.version {
            None => return Err(MetaParseError::Corrupted("no \"version\" field".into())),
            Some(serde_json::Value::Number(n)) => match n.as_u64() {
                Some(META_VERSION) => {}
                Some(other) => return Err(MetaParseError::UnsupportedVersion(other)),
                None => {
                    return Err(MetaParseError::Corrupted(format!(
                        "version {n} is not a positive integer"
                    )))
                }
            },
            Some(other) => {
                return Err(MetaParseError::Corrupted(format!(
                    "version {other} is not a number"
                )))
            }
        }
        let file: MetaFile = serde_json::from_slice(bytes)
            .map_err(|e| MetaParseError::Corrupted(format!("unexpected shape: {e}")))?;
        Ok(Meta {
            salt: decode_fixed("salt", &file.salt)?,
            key_check: decode_fixed("key_check", &file.key_check)?,
            identity: file.identity,
            hmac: decode_fixed("hmac", &file.hmac)?,
        })
    }

    /// The same store (salt, key check) bound to `identity` instead, with its HMAC computed
    /// under `master`, which must verify this metadata first: only the key holder rebinds.
    pub fn rebound(
        &self,
        master: &Key,
        identity: Option<Identity>,
    ) -> Result<Meta, MetaVerifyError> {
        let keys = self.verify(master)?;
        let mut meta = Meta {
            identity,
            hmac: [0; 32],
            ..self.clone()
        };
        let tag = keys
            .hmac(b"keyrace/meta/v1\0", &meta.body_json())
            .finalize();
        meta.hmac.copy_from_slice(&tag.into_bytes());
        Ok(meta)
    }

    /// Verify the key check, then the HMAC, under `master`; return the store's keys.
    pub fn verify(&self, master: &Key) -> Result<StoreKeys, MetaVerifyError> {
        use subtle::ConstantTimeEq;
        let keys = StoreKeys::derive(master, &self.salt);
        if !bool::from(keys.key_check().ct_eq(&self.key_check)) {
            return Err(MetaVerifyError::WrongKey);
        }
        keys.hmac(b"keyrace/meta/v1\0", &self.body_json())
            .verify_slice(&self.hmac)
            .map_err(|_| MetaVerifyError::Altered)?;
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_metadata_parses_and_verifies() {
        let master = Key::generate().expect("OS randomness");
        let meta = Meta::new(&master, None).expect("OS randomness");
        let parsed = Meta::parse(&meta.to_bytes()).expect("parse");
        assert_eq!(parsed, meta);
        assert!(parsed.verify(&master).is_ok());
        assert_eq!(
            parsed
                .verify(&Key::generate().expect("OS randomness"))
                .err(),
            Some(MetaVerifyError::WrongKey)
        );
    }

    #[test]
    fn version_is_checked_before_shape() {
        assert_eq!(
            Meta::parse(br#"{"version":7,"whatever":true}"#),
            Err(MetaParseError::UnsupportedVersion(7))
        );
        assert!(matches!(
            Meta::parse(br#"{"version":"1"}"#),
            Err(MetaParseError::Corrupted(_))
        ));
        assert!(matches!(
            Meta::parse(br#"{"version":1}"#),
            Err(MetaParseError::Corrupted(_))
        ));
        assert!(matches!(
            Meta::parse(b"[]"),
            Err(MetaParseError::Corrupted(_))
        ));
    }

    #[test]
    fn altered_identity_fails_the_hmac() {
        let master = Key::generate().expect("OS randomness");
        let identity = Identity::from_parts(&[], "host", "uid:1");
        let meta = Meta::new(&master, Some(identity)).expect("OS randomness");
        let text = String::from_utf8(meta.to_bytes()).expect("utf8");
        let altered = text.replace("\"host\"", "\"evil\"");
        assert_ne!(altered, text);
        let parsed = Meta::parse(altered.as_bytes()).expect("still well-formed");
        assert_eq!(parsed.verify(&master).err(), Some(MetaVerifyError::Altered));
    }
}

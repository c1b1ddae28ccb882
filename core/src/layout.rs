//! Where a store and a key directory keep their state on disk: the names and modes of their
//! files and directories. `store`, `keyfile`, `recovery` and `publish` all read them from here,
//! so that recovery recognizes exactly what the store writes.
//!
//! ```text
//! <store>/meta.json            the store's metadata (salt, key check, identity)
//! <store>/secrets/<hex name>   one sealed envelope per secret
//! <dir>/key                    the key file (`<store>/key` by default)
//! <dir>/.keyrace-tmp-<random>  a temp file before it is published (leftovers are removed)
//! ```

use crate::error::{Error, Result};

/// Name of the metadata file inside a store.
pub const META_FILE: &str = "meta.json";

/// Directory of the secret files inside a store.
pub const SECRETS_DIR: &str = "secrets";

/// Name of the key file inside its directory.
pub const KEY_FILE: &str = "key";

/// Prefix of every temp file keyrace creates; recovery recognizes and removes leftovers.
pub const TEMP_PREFIX: &str = ".keyrace-tmp-";

/// Mode of every file keyrace writes: it may hold key material or ciphertext.
pub const FILE_MODE: u32 = 0o600;

/// Mode of every directory keyrace creates.
pub const DIR_MODE: u32 = 0o700;

/// Longest secret name, in bytes (names are hex-encoded into file names).
pub const MAX_NAME_LEN: usize = 100;

/// Check a secret name and return its file name in [`SECRETS_DIR`].
pub fn secret_file_name(name: &str) -> Result<String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(Error::InvalidArgument {
            detail: format!(
                "a secret name is 1 to {MAX_NAME_LEN} bytes, this one is {} bytes",
                name.len()
            ),
        });
    }
    Ok(hex::encode(name.as_bytes()))
}

/// The secret name a file in [`SECRETS_DIR`] stands for, if it is one.
pub fn secret_name_of(file_name: &str) -> Option<String> {
    let bytes = hex::decode(file_name).ok()?;
    let name = String::from_utf8(bytes).ok()?;
    (secret_file_name(&name).ok()? == file_name).then_some(name)
}

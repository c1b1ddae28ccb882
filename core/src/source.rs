//! Key-source resolution (seed 001): a stable key or a loud error, never a silent ephemeral key.
//!
//! Order: an explicit key → `KEYRACE_MASTER_KEY` → the persisted key file → an ephemeral key,
//! and that last one only when the caller explicitly allows it (dev/test mode). A source that
//! is present but broken (an invalid `KEYRACE_MASTER_KEY`, a corrupted or unreadable key file)
//! is an error, never a reason to try the next source.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::env::MASTER_KEY_ENV;
use crate::error::{Error, Result, SourceAttempt};
use crate::fs::Fs;
use crate::key::Key;
use crate::keyfile::{load_or_create_staged, KeyFileFailure};
use crate::layout::KEY_FILE;

/// Whether an ephemeral key may be used when no stable source is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyMode {
    /// Fail with `NO_STABLE_KEY` when no stable source gives a key.
    #[default]
    Production,
    /// Fall back to a random per-process key. Every secret is lost when the process exits:
    /// for tests and throwaway development only.
    DevEphemeral,
}

/// The inputs of resolution. Built by the caller so that tests never touch the process
/// environment; [`KeySources::from_env`] reads the real one.
#[derive(Default)]
pub struct KeySources {
    pub explicit: Option<Key>,
    /// The value of `KEYRACE_MASTER_KEY`, if set.
    pub env_value: Option<OsString>,
    /// Directory of the persisted key file, if that source is enabled.
    pub key_file_dir: Option<PathBuf>,
    pub mode: KeyMode,
}

/// Shows which sources are set, never the key text: `env_value` holds the raw master key.
impl std::fmt::Debug for KeySources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySources")
            .field("explicit", &self.explicit)
            .field("env_value", &self.env_value.as_ref().map(|_| "<set>"))
            .field("key_file_dir", &self.key_file_dir)
            .field("mode", &self.mode)
            .finish()
    }
}

impl KeySources {
    /// `KEYRACE_MASTER_KEY` from the process environment, then the key file in `key_file_dir`.
    pub fn from_env(key_file_dir: &Path) -> KeySources {
        KeySources {
            explicit: None,
            env_value: std::env::var_os(MASTER_KEY_ENV),
            key_file_dir: Some(key_file_dir.to_owned()),
            mode: KeyMode::Production,
        }
    }
}

/// Where the key in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    Explicit,
    Environment,
    KeyFile { path: PathBuf, created: bool },
    Ephemeral,
}

impl KeyOrigin {
    /// Whether secrets under this key survive a restart.
    pub fn is_stable(&self) -> bool {
        !matches!(self, KeyOrigin::Ephemeral)
    }
}

#[derive(Debug)]
pub struct ResolvedKey {
    pub key: Key,
    pub origin: KeyOrigin,
}

/// Resolve the key to use, or explain why there is none.
pub fn resolve_key<F: Fs + ?Sized>(fs: &F, sources: &KeySources) -> Result<ResolvedKey> {
    if let Some(key) = &sources.explicit {
        return Ok(ResolvedKey {
            key: key.clone(),
            origin: KeyOrigin::Explicit,
        });
    }
    let mut attempts = Vec::new();
    match &sources.env_value {
        Some(value) => {
            let parsed = value
                .to_str()
                .ok_or_else(|| "it is not valid UTF-8".to_owned())
                .and_then(|text| Key::parse_text(text.as_bytes()).map_err(|e| e.to_string()));
            return match parsed {
                Ok(key) => Ok(ResolvedKey {
                    key,
                    origin: KeyOrigin::Environment,
                }),
                // Set but invalid is a configuration error: falling through to another source
                // would silently use a different key than the operator configured.
                Err(why) => Err(Error::InvalidMasterKey { why }),
            };
        }
        None => attempts.push(SourceAttempt {
            source: MASTER_KEY_ENV.to_owned(),
            why: "not set".to_owned(),
        }),
    }
    match &sources.key_file_dir {
        Some(dir) => match load_or_create_staged(fs, dir) {
            Ok(loaded) => {
                return Ok(ResolvedKey {
                    key: loaded.key,
                    origin: KeyOrigin::KeyFile {
                        path: loaded.path,
                        created: loaded.created,
                    },
                })
            }
            // The key file exists but is broken or unreadable (or a new key could not be made
            // durable): its key may protect secrets, so say exactly that instead of moving on.
            Err(KeyFileFailure::Fatal(e)) => return Err(e),
            Err(KeyFileFailure::CannotCreate(e)) => attempts.push(SourceAttempt {
                source: format!("key file {}", dir.join(KEY_FILE).display()),
                why: format!("cannot be created: {e}"),
            }),
        },
        None => attempts.push(SourceAttempt {
            source: "key file".to_owned(),
            why: "no key file directory configured".to_owned(),
        }),
    }
    match sources.mode {
        KeyMode::DevEphemeral => Ok(ResolvedKey {
            key: Key::generate()?,
            origin: KeyOrigin::Ephemeral,
        }),
        KeyMode::Production => {
            attempts.push(SourceAttempt {
                source: "ephemeral key".to_owned(),
                why: "only allowed in explicit dev/test mode (KeyMode::DevEphemeral)".to_owned(),
            });
            Err(Error::NoStableKey { attempts })
        }
    }
}

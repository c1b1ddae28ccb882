//! The core's error type: one variant per situation, a stable [`ErrorCode`], and a message
//! that says what to do next. Errors carry paths and causes, never key material.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::code::ErrorCode;
use crate::env::MASTER_KEY_ENV;

/// Which recorded part of the machine identity no longer matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityComponent {
    Hostname,
    User,
    Macs,
}

impl fmt::Display for IdentityComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdentityComponent::Hostname => "hostname",
            IdentityComponent::User => "user",
            IdentityComponent::Macs => "network interfaces (MAC addresses)",
        })
    }
}

/// Why an integrity check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrityReason {
    /// The key check in `meta.json` does not match the key in use: another key made this store.
    WrongKey,
    /// The key is right but `meta.json`'s HMAC does not verify: the metadata was altered.
    MetadataAltered,
    /// A secret's envelope does not authenticate under the store key and its name.
    SecretAltered { name: String },
}

/// One key source that was tried and why it gave no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAttempt {
    pub source: String,
    pub why: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store metadata {} is missing while the store holds data; run reset_at_path to start over (this deletes the secrets), or restore meta.json from a backup", path.display())]
    MetadataMissing { path: PathBuf },

    #[error("store metadata {} is corrupted ({detail}); restore it from a backup, or run reset_at_path to start over (this deletes the secrets)", path.display())]
    MetadataCorrupted { path: PathBuf, detail: String },

    #[error("store metadata {} has format version {found}, this build reads version {supported}; {}", path.display(), version_advice(*found, *supported))]
    UnsupportedVersion {
        path: PathBuf,
        found: u64,
        supported: u64,
    },

    #[error("{}", integrity_message(path, reason))]
    IntegrityMismatch {
        path: PathBuf,
        reason: IntegrityReason,
    },

    #[error("this store is bound to another machine identity: the {component} changed (recorded {recorded}, now {current}); open it on the machine it was created on, or, if this machine legitimately changed, rebind the store to it with Store::rebind_identity and the master key (keeps every secret)")]
    IdentityChanged {
        component: IdentityComponent,
        recorded: String,
        current: String,
    },

    #[error("key file {} is corrupted ({detail}); it is never overwritten: restore it from a backup, or set KEYRACE_MASTER_KEY to the original key, or run reset_at_path to start over (this deletes the secrets)", path.display())]
    KeyCorrupted { path: PathBuf, detail: String },

    #[error("key file {} {detail}; a key file must be a regular file owned by the user running keyrace and accessible to no one else. Find out who changed it (the key may have leaked), then `chown` it and `chmod 600` it; keyrace never rewrites a key file", path.display())]
    KeyFileExposed { path: PathBuf, detail: String },

    #[error("cannot keep a key file private at {}: right after keyrace created it with mode 0600 it {detail}, so this filesystem does not keep file modes or owners (FAT, exFAT, some network or Windows mounts); put the key directory on another filesystem, or set {MASTER_KEY_ENV}", path.display())]
    KeyFileUnprotectable { path: PathBuf, detail: String },

    #[error("{MASTER_KEY_ENV} is set but invalid: {why} (expected 32 bytes as 64 hex characters or base64, e.g. from `openssl rand -hex 32`); fix it, or unset it to use the key file. keyrace never falls back to another key source when the configured key is unusable")]
    InvalidMasterKey { why: String },

    #[error("{}", no_stable_key_message(attempts))]
    NoStableKey { attempts: Vec<SourceAttempt> },

    #[error("{what}: {source}; {}", io_hint(source))]
    Fs {
        what: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("there is no store at {}; create it with open_or_create", path.display())]
    NoStore { path: PathBuf },

    #[error("a store already exists at {}; open it, or destroy it first", path.display())]
    StoreExists { path: PathBuf },

    #[error("{} does not look like a keyrace store (it holds {entry:?}); refusing to delete it: check the path", path.display())]
    NotAStore { path: PathBuf, entry: String },

    #[error("the operating system's random source failed ({detail}); keyrace makes no key, salt or nonce without it: check that the getrandom system call or /dev/urandom is available (a seccomp or sandbox profile may block it)")]
    Randomness { detail: String },

    #[error("invalid argument: {detail}")]
    InvalidArgument { detail: String },
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::MetadataMissing { .. } => ErrorCode::MetadataMissing,
            Error::MetadataCorrupted { .. } => ErrorCode::MetadataCorrupted,
            Error::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            Error::IntegrityMismatch { .. } => ErrorCode::IntegrityMismatch,
            Error::IdentityChanged { .. } => ErrorCode::IdentityChanged,
            Error::KeyCorrupted { .. } => ErrorCode::KeyCorrupted,
            Error::KeyFileExposed { .. } | Error::KeyFileUnprotectable { .. } => {
                ErrorCode::PermissionDenied
            }
            Error::NoStableKey { .. } | Error::InvalidMasterKey { .. } => ErrorCode::NoStableKey,
            Error::Fs { source, .. } => ErrorCode::from_io(source),
            Error::Randomness { .. } => ErrorCode::Io,
            Error::NoStore { .. } => ErrorCode::NotFound,
            Error::StoreExists { .. } | Error::NotAStore { .. } | Error::InvalidArgument { .. } => {
                ErrorCode::InvalidArgument
            }
        }
    }

    pub(crate) fn fs(what: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Fs { what, source }
    }
}

fn integrity_message(path: &std::path::Path, reason: &IntegrityReason) -> String {
    let path = path.display();
    match reason {
        IntegrityReason::WrongKey => format!(
            "the key in use is not the key that created this store ({path} key check failed); \
             set KEYRACE_MASTER_KEY or restore the key file this store was created with, \
             or run reset_at_path to start over (this deletes the secrets)"
        ),
        IntegrityReason::MetadataAltered => format!(
            "store metadata {path} was altered (its HMAC does not verify under the store key); \
             restore it from a backup, or run reset_at_path to start over (this deletes the secrets)"
        ),
        IntegrityReason::SecretAltered { name } => format!(
            "secret {name:?} ({path}) does not authenticate under the store key: it was altered \
             or belongs to another store; delete it and put it again"
        ),
    }
}

fn version_advice(found: u64, supported: u64) -> &'static str {
    if found > supported {
        "a newer keyrace wrote it: upgrade keyrace to open it (never downgrade a store)"
    } else {
        "no keyrace release writes that version: restore meta.json from a backup, or run \
         reset_at_path to start over (this deletes the secrets)"
    }
}

fn no_stable_key_message(attempts: &[SourceAttempt]) -> String {
    let mut message = String::from("no stable key source is available, refusing to use an ephemeral key (secrets would be lost on restart). Tried:");
    for attempt in attempts {
        message.push_str(&format!(" [{}: {}]", attempt.source, attempt.why));
    }
    message.push_str(
        ". Fix: set KEYRACE_MASTER_KEY to 32 random bytes as 64 hex characters \
         (e.g. `openssl rand -hex 32`), or make the store directory writable so the key file \
         can be created",
    );
    message
}

fn io_hint(source: &io::Error) -> &'static str {
    match ErrorCode::from_io(source) {
        ErrorCode::NotFound => "check that the path exists",
        ErrorCode::PermissionDenied => {
            "check the permissions and owner of the path (key files must be readable by this user)"
        }
        ErrorCode::Busy => {
            "another process holds the file open; close it and retry (deletion retries by itself)"
        }
        _ => "check the disk and retry",
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! Stable, machine-readable error codes shared by every layer and by the adapter protocol.

use std::fmt;
use std::io;

use serde::{Deserialize, Serialize};

/// The codes of the design (`docs/design.md`), plus `INVALID_ARGUMENT` for input the caller must fix (a secret
/// name that cannot be stored, a malformed request). The string form never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    MetadataMissing,
    MetadataCorrupted,
    UnsupportedVersion,
    IntegrityMismatch,
    IdentityChanged,
    KeyCorrupted,
    NoStableKey,
    NotFound,
    Busy,
    PermissionDenied,
    Io,
    UnsupportedOp,
    BootstrapAlreadyConsumed,
    Divergence,
    InvalidArgument,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::MetadataMissing,
        ErrorCode::MetadataCorrupted,
        ErrorCode::UnsupportedVersion,
        ErrorCode::IntegrityMismatch,
        ErrorCode::IdentityChanged,
        ErrorCode::KeyCorrupted,
        ErrorCode::NoStableKey,
        ErrorCode::NotFound,
        ErrorCode::Busy,
        ErrorCode::PermissionDenied,
        ErrorCode::Io,
        ErrorCode::UnsupportedOp,
        ErrorCode::BootstrapAlreadyConsumed,
        ErrorCode::Divergence,
        ErrorCode::InvalidArgument,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MetadataMissing => "METADATA_MISSING",
            ErrorCode::MetadataCorrupted => "METADATA_CORRUPTED",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::IntegrityMismatch => "INTEGRITY_MISMATCH",
            ErrorCode::IdentityChanged => "IDENTITY_CHANGED",
            ErrorCode::KeyCorrupted => "KEY_CORRUPTED",
            ErrorCode::NoStableKey => "NO_STABLE_KEY",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Busy => "BUSY",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::Io => "IO",
            ErrorCode::UnsupportedOp => "UNSUPPORTED_OP",
            ErrorCode::BootstrapAlreadyConsumed => "BOOTSTRAP_ALREADY_CONSUMED",
            ErrorCode::Divergence => "DIVERGENCE",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
        }
    }

    /// Classify an I/O error: `NotFound`, `PermissionDenied`, `BUSY` (sharing violation,
    /// `EBUSY`, `ETXTBSY`), everything else `IO`.
    pub fn from_io(error: &io::Error) -> ErrorCode {
        match error.kind() {
            io::ErrorKind::NotFound => ErrorCode::NotFound,
            io::ErrorKind::PermissionDenied => ErrorCode::PermissionDenied,
            io::ErrorKind::ResourceBusy | io::ErrorKind::ExecutableFileBusy => ErrorCode::Busy,
            _ if is_sharing_violation(error) => ErrorCode::Busy,
            _ => ErrorCode::Io,
        }
    }
}

#[cfg(windows)]
fn is_sharing_violation(error: &io::Error) -> bool {
    // ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION
    matches!(error.raw_os_error(), Some(32) | Some(33))
}

#[cfg(not(windows))]
fn is_sharing_violation(_error: &io::Error) -> bool {
    false
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = UnknownCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownCode(s.to_owned()))
    }
}

/// A string that is not one of the stable codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCode(pub String);

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown error code {:?}", self.0)
    }
}

impl std::error::Error for UnknownCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_form_round_trips_through_serde_and_from_str() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).expect("serialize");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
        }
        assert!("NOPE".parse::<ErrorCode>().is_err());
    }

    #[test]
    fn io_errors_are_classified() {
        let e = |k| io::Error::new(k, "x");
        assert_eq!(
            ErrorCode::from_io(&e(io::ErrorKind::NotFound)),
            ErrorCode::NotFound
        );
        assert_eq!(
            ErrorCode::from_io(&e(io::ErrorKind::PermissionDenied)),
            ErrorCode::PermissionDenied
        );
        assert_eq!(
            ErrorCode::from_io(&e(io::ErrorKind::ResourceBusy)),
            ErrorCode::Busy
        );
        assert_eq!(
            ErrorCode::from_io(&e(io::ErrorKind::UnexpectedEof)),
            ErrorCode::Io
        );
    }
}

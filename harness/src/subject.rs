//! The code under test, as the models call it. A model takes the implementation it checks:
//! a closure for a single step (`keygen_race(|fs, dir| my_load_or_create(fs, dir), ..)`), or
//! a [`SecretStore`] for a store's put and get. The reference, each mutant and an
//! implementer's own store are all just implementations passed in; the invariant, the actors,
//! the faults and the crash loop belong to the model.
//!
//! Every implementation runs on the [`SimFs`] handle of its actor: code written against
//! `keyrace_core::Fs` (or `keyrace_core::StdFs`, the `std::fs`-shaped view of it) takes it as
//! it is.

use std::fmt;
use std::io;
use std::path::Path;

use keyrace_core::bootstrap::BootstrapError;
use keyrace_core::ErrorCode;

use crate::simfs::SimFs;

/// An error of the code under test, as a model shows and judges it: its message, and its
/// stable keyrace code when it has one (a model that checks codes, such as
/// `keygen-error-masking`, only checks errors that report one).
pub trait ModelError: fmt::Display {
    fn code(&self) -> Option<ErrorCode> {
        None
    }
}

impl ModelError for keyrace_core::Error {
    fn code(&self) -> Option<ErrorCode> {
        Some(keyrace_core::Error::code(self))
    }
}

impl ModelError for BootstrapError {
    fn code(&self) -> Option<ErrorCode> {
        Some(BootstrapError::code(self))
    }
}

/// `NotFound`, `PermissionDenied` and the other kinds keyrace classifies; anything else `IO`.
impl ModelError for io::Error {
    fn code(&self) -> Option<ErrorCode> {
        Some(ErrorCode::from_io(self))
    }
}

/// An adapter's failure: a store whose errors already map to keyrace's codes for its adapter
/// (`impl From<MyError> for Failure`) hands the models the same.
impl ModelError for keyrace_protocol::Failure {
    fn code(&self) -> Option<ErrorCode> {
        match &self.code {
            keyrace_protocol::Code::Known(code) => Some(*code),
            keyrace_protocol::Code::Unknown(_) => None,
        }
    }
}

impl ModelError for String {}

impl ModelError for Box<dyn std::error::Error + Send + Sync> {}

/// A store of named secrets, as the put and crash models use it. Every call is one process's
/// request: it opens what it needs and keeps nothing between calls, so a crash between two
/// calls loses nothing but what was never made durable.
pub trait SecretStore: Send + Sync + 'static {
    type Error: ModelError + Send + 'static;

    /// Make an empty store at `dir`, whose parent exists. The default does nothing, for a
    /// store that is created by its first put.
    fn create(&self, fs: &SimFs, dir: &Path) -> Result<(), Self::Error> {
        let _ = (fs, dir);
        Ok(())
    }

    fn put(&self, fs: &SimFs, dir: &Path, name: &str, value: &[u8]) -> Result<(), Self::Error>;

    /// `Ok(None)` when there is no such secret.
    fn get(&self, fs: &SimFs, dir: &Path, name: &str) -> Result<Option<Vec<u8>>, Self::Error>;
}

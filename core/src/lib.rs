//! keyrace-core: a minimal, correct reference for the parts of local secret stores that keep
//! losing secrets in the real world (see `docs/seeds.md`), written to be model-checked.
//!
//! - [`keyfile::load_or_create`]: every racing process gets the same complete key (seeds 003, 000).
//! - [`resolve_key`]: a stable key or a loud `NO_STABLE_KEY`, never a silent ephemeral key (seed 001).
//! - [`Identity`]: canonical, order-independent machine identity (seed 000).
//! - [`Store`]: classified open errors, atomic per-secret files, no lost puts (seed 000).
//! - [`destroy_at_path`] / [`reset_at_path`]: recovery without a successful open (seed 000).
//! - [`bootstrap`]: one-time bootstrap grace and the witness gate (seed 002, server side).
//! - [`witness`]: the head cache and the retry-once, singleflight client (seed 002, client side).
//!
//! Every filesystem operation goes through [`Fs`]; every in-memory synchronization through
//! [`sync`]. Error codes are stable: see [`ErrorCode`].

pub mod bootstrap;
pub mod code;
pub mod env;
pub mod envelope;
pub mod error;
pub mod identity;
pub mod key;
pub mod keyfile;
pub mod layout;
pub mod meta;
pub mod publish;
pub mod random;
pub mod recovery;
pub mod source;
pub mod store;
pub mod sync;
pub mod witness;

pub use code::ErrorCode;
pub use env::MASTER_KEY_ENV;
pub use error::{Error, IdentityComponent, IntegrityReason, Result, SourceAttempt};
pub use identity::{Identity, Interface};
pub use key::{Key, KeyParseError};
pub use keyfile::{load_or_create, LoadedKey};
/// The filesystem seam, from `keyrace-fs` (a store needs only that crate).
pub use keyrace_fs as fs;
pub use keyrace_fs::{DirEntry, FileKind, Fs, FsFile, Metadata, OsFs, StdFs};
pub use recovery::{
    destroy_at_path, destroy_at_path_with, reset_at_path, reset_at_path_with, transient_on_removal,
    Removed, RetryPolicy,
};
pub use source::{resolve_key, KeyMode, KeyOrigin, KeySources, ResolvedKey};
pub use store::{Store, StoreOptions};

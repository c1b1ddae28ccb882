//! The process environment keyrace reads.

/// Name of the environment variable holding the master key (the protocol's: the runner sets
/// it for the adapters it starts).
pub use keyrace_protocol::MASTER_KEY_ENV;

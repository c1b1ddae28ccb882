//! The process environment keyrace reads.

/// Name of the environment variable holding the master key.
pub const MASTER_KEY_ENV: &str = "KEYRACE_MASTER_KEY";

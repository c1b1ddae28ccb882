//! Stable, machine-readable error codes: defined by the adapter protocol (`keyrace-protocol`),
//! shared by every layer.

pub use keyrace_protocol::ErrorCode;

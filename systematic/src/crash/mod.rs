//! Crash states, ALICE-style, for any adapter: one operation's file-system calls recorded by
//! the tracer ([`record`]), every on-disk state a power loss could leave after them under a
//! stated persistence profile ([`states`]), each written into a fresh directory
//! ([`materialize`]) for a fresh reader to judge.

pub mod fix;
pub mod materialize;
pub mod ops;
pub mod record;
pub mod states;

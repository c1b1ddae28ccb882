//! keyrace-process: the store processes the runner drives, and the files it works in.
//!
//! - [`actor`]: one adapter process with deadlines, bounded output, stderr capture and
//!   kill-and-reap on drop.
//! - [`finding`]: a broken invariant and its evidence, the unit of every report.
//! - [`reaper`]: containment of every process an adapter starts, and signals; [`procfs`]: what
//!   `/proc` says of them.
//! - [`scratch`]: the runner's file work, through no-follow directory handles.
//! - [`protocol`]: keyrace-adapter/1's wire types, and their one-line summaries for reports.

pub mod actor;
pub mod finding;
pub mod procfs;
pub mod protocol;
pub mod reaper;
pub mod scratch;

//! keyrace-harness: a simulated filesystem ([`simfs::SimFs`]), one model per row of the race
//! catalogue ([`models`], listed in [`catalogue`]), and the explorers that run them
//! ([`explore`]: loom, shuttle, or std threads, chosen by the build; see `.ci/models.sh`).
//!
//! Every model takes the implementation it checks ([`subject`]): the reference, a mutant from
//! `keyrace-mutants` (identity-first-mac lives beside its property: it has no process-level
//! counterpart), or an
//! implementer's own code, checked from its own tests with [`check::assert_holds`].

pub mod catalogue;
pub mod check;
pub mod explore;
pub mod models;
mod quiet;
pub mod report;
pub mod simfs;
pub mod subject;

pub use keyrace_core as core;

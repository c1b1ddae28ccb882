//! keyrace-harness: a simulated filesystem ([`simfs::SimFs`]), one model per row of the race
//! catalogue ([`models`], listed in [`catalogue`]), a mutant for each real-world bug next to the
//! model that catches it, and the explorers that run them ([`explore`]: loom, shuttle, or std
//! threads, chosen by the build; see `.ci/models.sh`).
//!
//! Every mutant is a small diff against the reference, kept here and never in the core's API.

pub mod catalogue;
pub mod explore;
pub mod models;
pub mod report;
pub mod simfs;

pub use keyrace_core as core;

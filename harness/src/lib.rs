//! keyrace-harness: the simulated filesystem, the models of the race catalogue and their
//! mutants (issue "Model checking"). It starts as the crate the models will live in.

pub use keyrace_core as core;

//! The one place that chooses between real and model-checked synchronization primitives.
//!
//! Everything in keyrace that synchronizes threads in memory imports from here, so one build
//! switch swaps every primitive at once (the pattern of `tokio/src/loom/`):
//!
//! | build | primitives | how |
//! |---|---|---|
//! | default | `std` | `cargo test --workspace` |
//! | loom | `loom` (exhaustive, bounded preemptions) | `RUSTFLAGS="--cfg loom" cargo test --release` in its own target dir |
//! | shuttle | `shuttle` (randomized / PCT schedules) | `cargo test --features keyrace-harness/shuttle` (which enables `keyrace-core/shuttle`) |
//!
//! `cfg(loom)` wins over the `shuttle` feature when both are set. A plain build never switches.

#[cfg(loom)]
pub use loom::{
    sync::{atomic, Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard},
    thread,
};

#[cfg(all(feature = "shuttle", not(loom)))]
pub use shuttle::{
    sync::{atomic, Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard},
    thread,
};

#[cfg(not(any(loom, feature = "shuttle")))]
pub use std::{
    sync::{atomic, Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard},
    thread,
};

/// Which primitives this build uses, for reports.
pub const MODE: &str = if cfg!(loom) {
    "loom"
} else if cfg!(feature = "shuttle") {
    "shuttle"
} else {
    "std"
};

//! Resolving the key and opening, resetting a store (seeds 001 and 000). The catalogue rows
//! `ephemeral-fallback` and `release-before-delete` and the runner's `no-stable-key`,
//! `failed-open-releases-handles` and `delete-reset` scenarios catch them.

use std::path::Path;

use keyrace_core::layout::META_FILE;
use keyrace_core::{resolve_key, Fs, Key, KeyMode, KeySources, Result};

/// silent-ephemeral — seed 001 (ObjectStack #1507): when the key can be neither read nor
/// created, a random per-process key is used without a word. Diff: the caller's
/// `KeyMode::Production` → `KeyMode::DevEphemeral`.
pub fn silent_ephemeral<F: Fs + ?Sized>(fs: &F, sources: KeySources) -> Result<Key> {
    let sources = KeySources {
        mode: KeyMode::DevEphemeral,
        ..sources
    };
    resolve_key(fs, &sources).map(|resolved| resolved.key)
}

/// open-leaks-handle — seed 000 (secrets-engine #3: a failed open keeps SQLite handles, so
/// Windows cannot delete the store). Diff: when `open` fails, a handle to the store's metadata
/// is kept alive (never closed) instead of being dropped, as a connection pool keeps its
/// connection after a failed verification.
pub fn leaking_a_handle_on_failure<F: Fs + ?Sized, T>(
    fs: &F,
    dir: &Path,
    open: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let opened = open();
    if opened.is_err() {
        if let Ok(handle) = fs.open_read(&dir.join(META_FILE)) {
            std::mem::forget(handle);
        }
    }
    opened
}

/// reset-needs-open — seed 000 ("recovery currently depends on a successful open()"). Diff:
/// the store is opened (and the open must succeed) before it is reset.
pub fn reset_after_open<T>(
    open: impl FnOnce() -> Result<T>,
    reset: impl FnOnce() -> Result<()>,
) -> Result<()> {
    drop(open()?);
    reset()
}

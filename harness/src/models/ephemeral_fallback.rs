//! **ephemeral-fallback** (seed 001): no stable key source, then a restart.

use std::path::Path;

use keyrace_core::{resolve_key, ErrorCode, KeyMode, KeySources, Result, Store, StoreOptions};

use super::keygen::key_dir;
use super::put::store_dir;
use super::{require, show};
use crate::simfs::{CallKind, CrashMode, Fault, FaultError, Semantics, SimFs};

/// The invariant of this model, as its violations name it.
pub const EPHEMERAL_FALLBACK: &str = "no acknowledged secret is lost across a restart; without a \
                                 stable key source the put fails loud with NO_STABLE_KEY";

/// How the key is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// `resolve_key` in production mode: no stable source is `NO_STABLE_KEY`.
    Reference,
    /// `silent-ephemeral` (seed 001, ObjectStack issue #1507): with no usable env key or key
    /// file, a random per-process key is used without a word.
    SilentEphemeral,
}

impl Resolve {
    pub fn name(self) -> &'static str {
        match self {
            Resolve::Reference => "reference",
            Resolve::SilentEphemeral => "silent-ephemeral",
        }
    }

    fn sources(self) -> KeySources {
        KeySources {
            key_file_dir: Some(key_dir()),
            // The diff: the caller never asked for dev mode; the mutant degrades anyway.
            mode: match self {
                Resolve::Reference => KeyMode::Production,
                Resolve::SilentEphemeral => KeyMode::DevEphemeral,
            },
            ..KeySources::default()
        }
    }

    /// One process: resolve the key, open the store, then `op` on it.
    fn session<T>(self, fs: &SimFs, op: impl FnOnce(&Store<SimFs>) -> Result<T>) -> Result<T> {
        let key = resolve_key(fs, &self.sources())?.key;
        let store =
            Store::open_or_create(fs.clone(), &store_dir(), &key, &StoreOptions::default())?;
        op(&store)
    }
}

/// Invariant: with no stable key source (no `KEYRACE_MASTER_KEY`, and a home directory where no
/// key file can be created), no secret is acknowledged that a restarted process cannot read
/// back; the reference fails loud with `NO_STABLE_KEY` instead.
pub fn ephemeral_fallback(resolve: Resolve) -> impl Fn() + Send + Sync + 'static {
    move || {
        const INVARIANT: &str = EPHEMERAL_FALLBACK;
        let fs = SimFs::new(Semantics::Posix);
        let made = fs
            .mkdir_durable(Path::new("/home/u"))
            .and_then(|()| fs.mkdir_durable(Path::new("/data")));
        require(&fs, made.is_ok(), super::SETUP, || format!("{made:?}"));
        // $HOME is not writable: the key file's directory cannot be created.
        let unwritable = || {
            Fault::always(
                CallKind::CreateDir,
                "/home/u/.keyrace",
                FaultError::PermissionDenied,
            )
        };
        fs.inject(unwritable());
        let first = fs.actor("A");
        let acked = resolve.session(&first, |store| store.put("db-password", b"hunter2"));
        first.note(&format!("put returns {}", show(&acked)));
        if let Err(e) = &acked {
            require(&fs, e.code() == ErrorCode::NoStableKey, INVARIANT, || {
                show(&acked)
            });
            return;
        }
        fs.crash(CrashMode::DurableOnly);
        fs.inject(unwritable());
        let restarted = fs.actor("A'");
        let read = resolve.session(&restarted, |store| store.get("db-password"));
        let shown = match &read {
            Ok(v) => format!("Ok(present: {})", v.is_some()),
            Err(e) => format!("Err({}: {e})", e.code()),
        };
        restarted.note(&format!("get returns {shown}"));
        let fine = matches!(&read, Ok(Some(v)) if v.as_slice() == b"hunter2");
        require(&fs, fine, INVARIANT, || {
            format!("db-password was acknowledged; after restart get gives {shown}")
        });
    }
}

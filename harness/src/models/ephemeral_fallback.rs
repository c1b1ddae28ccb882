//! **ephemeral-fallback** (seed 001): no stable key source, then a restart.

use std::path::Path;

use keyrace_core::{resolve_key, ErrorCode, Key, KeyMode, KeySources, Result, Store, StoreOptions};

use super::keygen::key_dir;
use super::put::store_dir;
use super::{require, show};
use crate::simfs::{CallKind, CrashMode, Fault, FaultError, Semantics, SimFs};

/// The invariant of this model, as its violations name it.
pub const EPHEMERAL_FALLBACK: &str = "no acknowledged secret is lost across a restart; without a \
                                 stable key source the put fails loud with NO_STABLE_KEY";

/// One key resolution: the sources the caller configured (production mode, the key file in
/// [`key_dir`]) in, a key or an error out.
pub type ResolveStep = fn(&SimFs, KeySources) -> Result<Key>;

/// `resolve_key` as configured: no stable source is `NO_STABLE_KEY`.
pub fn reference(fs: &SimFs, sources: KeySources) -> Result<Key> {
    resolve_key(fs, &sources).map(|resolved| resolved.key)
}

/// One process: resolve the key, open the store, then `op` on it.
fn session<T>(
    resolve: ResolveStep,
    fs: &SimFs,
    op: impl FnOnce(&Store<SimFs>) -> Result<T>,
) -> Result<T> {
    let sources = KeySources {
        key_file_dir: Some(key_dir()),
        mode: KeyMode::Production,
        ..KeySources::default()
    };
    let key = resolve(fs, sources)?;
    let store = Store::open_or_create(fs.clone(), &store_dir(), &key, &StoreOptions::default())?;
    op(&store)
}

/// Invariant: with no stable key source (no `KEYRACE_MASTER_KEY`, and a home directory where no
/// key file can be created), no secret is acknowledged that a restarted process cannot read
/// back; the reference fails loud with `NO_STABLE_KEY` instead.
pub fn ephemeral_fallback(resolve: ResolveStep) -> impl Fn() + Send + Sync + 'static {
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
        let acked = session(resolve, &first, |store| {
            store.put("db-password", b"hunter2")
        });
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
        let read = session(resolve, &restarted, |store| store.get("db-password"));
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

//! **release-before-delete** (seed 000): under Windows file semantics, a store that fails to
//! open must be deletable right away.

use std::path::Path;

use keyrace_core::{
    destroy_at_path_with, Error, ErrorCode, Key, Result, RetryPolicy, Store, StoreOptions,
};

use super::put::store_dir;
use super::{actor_name, require, run_actors, show};
use crate::simfs::{Semantics, SimFs};

/// The invariant of this model, as its violations name it.
pub const RELEASE_BEFORE_DELETE: &str =
    "after a failed open, destroy_at_path succeeds within the retry bound";

/// One process's open of the store at the directory with the master key: `Ok` if it opened
/// (the model expects it to fail: the key is wrong).
pub type OpenStep = fn(&SimFs, &Path, &Key) -> Result<()>;

/// `Store::open`: every handle is scoped to the call.
pub fn reference(fs: &SimFs, dir: &Path, master: &Key) -> Result<()> {
    Store::open(fs.clone(), dir, master, &StoreOptions::default()).map(drop)
}

/// The retry bound of the model: the reference's default policy. Its sleeps become
/// [`SimFs::sleep`]: the other processes take a step per 10 ms of backoff.
pub fn policy() -> RetryPolicy {
    RetryPolicy::default()
}

/// Invariant: after an open fails (here: the wrong key), `destroy_at_path` succeeds within the
/// retry bound and nothing is left at the store's path.
///
/// Actor `A` fails to open the store, then destroys it. With two actors, `B` is another process
/// failing to open the same store at the same time, so `A`'s deletions can meet `B`'s handles:
/// the retries must outlast them (their backoff lets `B` take steps, see [`SimFs::sleep`]). (With one attempt instead of
/// the default bound, loom finds `A` meeting `B`'s open metadata file within 63 executions.)
pub fn release_before_delete(open: OpenStep, actors: usize) -> impl Fn() + Send + Sync + 'static {
    move || {
        const INVARIANT: &str = RELEASE_BEFORE_DELETE;
        let fs = SimFs::new(Semantics::Windows);
        let dir = store_dir();
        let made = fs
            .mkdir_durable(Path::new("/data"))
            .map_err(|source| Error::Fs {
                what: "mkdir",
                source,
            })
            .and_then(|()| {
                Store::create(
                    fs.clone(),
                    &dir,
                    &Key::from_bytes([1; 32]),
                    &StoreOptions::default(),
                )
            })
            .and_then(|store| store.put("s", b"v"));
        require(&fs, made.is_ok(), super::SETUP, || show(&made));
        let results = {
            let (fs, dir) = (fs.clone(), dir.clone());
            run_actors(actors, move |i| {
                let me = fs.actor(&actor_name(i));
                let opened = open(&me, &dir, &Key::from_bytes([2; 32]));
                me.note(&format!(
                    "open with the wrong key returns {}",
                    show(&opened)
                ));
                if i != 0 {
                    me.exit();
                    return (opened, None);
                }
                let destroyed =
                    destroy_at_path_with(&me, &dir, &policy(), &mut |delay| me.sleep(delay));
                me.note(&format!("destroy_at_path returns {}", show(&destroyed)));
                me.exit();
                (opened, Some(destroyed))
            })
        };
        for (opened, _) in &results {
            // The wrong key, or a store the other actor is deleting: never a success.
            let refused = matches!(opened, Err(e) if matches!(
                e.code(),
                ErrorCode::IntegrityMismatch
                    | ErrorCode::NotFound
                    | ErrorCode::MetadataMissing
                    | ErrorCode::Busy
            ));
            require(
                &fs,
                refused,
                "an open with the wrong key fails with INTEGRITY_MISMATCH (or finds the store being deleted)",
                || show(opened),
            );
        }
        let destroyed = results.first().and_then(|(_, d)| d.as_ref());
        let fine = matches!(destroyed, Some(Ok(_))) && !fs.exists(&dir);
        require(&fs, fine, INVARIANT, || {
            format!(
                "destroy_at_path returned {} with {} handle(s) still open",
                destroyed.map(show).unwrap_or_default(),
                fs.open_handles()
            )
        });
    }
}

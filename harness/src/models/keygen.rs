//! Key-file creation: the rows `keygen-race` and `keygen-error-masking` (seeds 003, 000).
//! Both models take the key loader under test: `keyrace_core::load_or_create`, a mutant from
//! `keyrace_mutants::keygen`, or an implementer's own.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keyrace_core::{ErrorCode, Result};

use super::{actor_name, require, run_actors, show};
use crate::simfs::{CallKind, Fault, FaultError, Semantics, SimFs};
use crate::subject::ModelError;

/// The invariant of this model, as its violations name it.
pub const KEYGEN_RACE: &str =
    "every racing actor ends with the same complete key, and it is the key on disk";

/// The invariant of this model, as its violations name it.
pub const KEYGEN_ERROR_MASKING: &str =
    "a key read error other than NotFound propagates with its code \
                                 and the existing key is never replaced";

/// The reference loader, as the models take it.
pub fn reference(fs: &SimFs, dir: &Path) -> Result<keyrace_core::Key> {
    keyrace_core::load_or_create(fs, dir).map(|loaded| loaded.key)
}

/// The directory every keygen model creates its key in; its parent exists and is durable.
pub fn key_dir() -> PathBuf {
    PathBuf::from("/home/u/.keyrace")
}

/// A fresh SimFs holding a durable, empty `/home/u`.
pub fn fresh_home(semantics: Semantics) -> SimFs {
    let fs = SimFs::new(semantics);
    if let Err(e) = fs.mkdir_durable(Path::new("/home/u")) {
        super::violated(&fs, super::SETUP, &e.to_string());
    }
    fs
}

/// **keygen-race.** Invariant: every actor racing `load` on a fresh directory ends with the
/// same complete key, and it is the key a process started afterwards loads, under POSIX and
/// under Windows semantics (where a reader's open handle blocks removing the winner's temp
/// name, which is the same file as the key). Writes are short (40 bytes), so an
/// unpublished-but-named key file can be seen empty or half written, as in seed 003.
pub fn keygen_race<K, E>(
    load: impl Fn(&SimFs, &Path) -> std::result::Result<K, E> + Send + Sync + 'static,
    actors: usize,
    semantics: Semantics,
) -> impl Fn() + Send + Sync + 'static
where
    K: PartialEq + Debug + Send + 'static,
    E: ModelError + Send + 'static,
{
    let load = Arc::new(load);
    move || {
        const INVARIANT: &str = KEYGEN_RACE;
        let fs = fresh_home(semantics);
        // A 65-byte key file is written in two steps: a loser can read it empty or partial.
        fs.set_write_chunk(40);
        let dir = key_dir();
        let results = {
            let (fs, dir, load) = (fs.clone(), dir.clone(), Arc::clone(&load));
            run_actors(actors, move |i| {
                let me = fs.actor(&actor_name(i));
                let result = load(&me, &dir);
                me.note(&format!("returns {}", show(&result)));
                result
            })
        };
        let shown: Vec<String> = results.iter().map(show).collect();
        let keys: Vec<&K> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        require(&fs, keys.len() == results.len(), INVARIANT, || {
            format!("not every actor got a key: {shown:?}")
        });
        require(
            &fs,
            keys.windows(2).all(|w| w[0] == w[1]),
            INVARIANT,
            || format!("actors got different keys: {shown:?}"),
        );
        let checker = fs.actor("check");
        let on_disk = load(&checker, &dir);
        checker.note(&format!("returns {}", show(&on_disk)));
        require(
            &fs,
            on_disk.as_ref().ok() == keys.first().copied(),
            INVARIANT,
            || {
                format!(
                    "a later load gives {}, actors got {shown:?}",
                    show(&on_disk)
                )
            },
        );
    }
}

/// **keygen-error-masking.** Invariant: when reading an existing key file fails for a reason
/// other than `NotFound`, the error propagates (with its code, when the error reports codes)
/// and the key file is never replaced; every actor that does get a key gets the existing one.
///
/// The key is created first by `load` itself. Then actor `A`'s first read under the key
/// directory fails (permission denied, then in a second round an I/O error); the other actors
/// read normally.
pub fn keygen_error_masking<K, E>(
    load: impl Fn(&SimFs, &Path) -> std::result::Result<K, E> + Send + Sync + 'static,
    actors: usize,
) -> impl Fn() + Send + Sync + 'static
where
    K: PartialEq + Debug + Send + Sync + 'static,
    E: ModelError + Send + 'static,
{
    let load = Arc::new(load);
    move || {
        const INVARIANT: &str = KEYGEN_ERROR_MASKING;
        for (error, code) in [
            (FaultError::PermissionDenied, ErrorCode::PermissionDenied),
            (FaultError::Io, ErrorCode::Io),
        ] {
            let fs = fresh_home(Semantics::Posix);
            let dir = key_dir();
            let setup = load(&fs.actor("setup"), &dir);
            let Ok(existing) = setup else {
                super::violated(&fs, super::SETUP, &show(&setup));
            };
            let existing = Arc::new(existing);
            let pattern = dir.to_string_lossy().into_owned();
            fs.inject(Fault::nth(CallKind::OpenRead, &pattern, 1, error).for_actor("A"));
            let results = {
                let (fs, dir, load) = (fs.clone(), dir.clone(), Arc::clone(&load));
                run_actors(actors, move |i| {
                    let me = fs.actor(&actor_name(i));
                    let result = load(&me, &dir);
                    me.note(&format!("returns {}", show(&result)));
                    result
                })
            };
            for (i, result) in results.iter().enumerate() {
                let fine = match result {
                    Ok(key) => key == &*existing,
                    Err(e) => i == 0 && e.code().is_none_or(|c| c == code),
                };
                require(&fs, fine, INVARIANT, || {
                    format!(
                        "actor {} with injected {error:?}: {} (existing key {existing:?})",
                        actor_name(i),
                        show(result),
                    )
                });
            }
            let checker = fs.actor("check");
            let on_disk = load(&checker, &dir);
            checker.note(&format!("returns {}", show(&on_disk)));
            require(
                &fs,
                on_disk.as_ref().ok() == Some(&*existing),
                INVARIANT,
                || format!("a later load gives {}", show(&on_disk)),
            );
        }
    }
}

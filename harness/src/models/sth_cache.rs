//! **sth-cache** (seed 002, HIGH-1): processes of one user persist the witness client's last
//! known head in one cache file in a shared temp directory while another process reads it, and
//! a symlink sits at the cache path pointing at a file of the victim's.
//!
//! SimFs has one owner and no sticky bit, so the planted link is the user's own (left by an
//! older client, or planted through a same-user foothold). A link owned by another user in a
//! sticky `/tmp` cannot be renamed over: the reference's store then fails, loads keep missing,
//! and the victim file stays untouched (`core/tests/witness_cache.rs` covers the foreign
//! owner); invariant (3) below is about the user's own link only.

use std::path::Path;

use keyrace_core::bootstrap::SignedTreeHead;
use keyrace_core::fs::read_file;
use keyrace_core::witness::{ApiKey, CacheLoad, CacheMiss, CacheStore, FileCacheStore};

use super::{actor_name, require, run_actors};
use crate::simfs::{Semantics, SimFs};

/// The invariant of this model, as its violations name it.
pub const STH_CACHE: &str = "a cache load finds a complete stored head, nothing, or a refused \
             symlink; the symlink's target is never written; after the writers a load is a hit";

const CACHE_DIR: &str = "/tmp";
const SERVER: &str = "https://witness.example";
const API_KEY: &str = "lk_model_key";
/// The file the planted symlink points at, and what it must still hold at the end.
const VICTIM: &str = "/home/victim/.ssh/authorized_keys";
const VICTIM_BYTES: &[u8] = b"ssh-ed25519 AAAA victim@host\n";
/// Bytes per `write` call: a cache file (about 50 bytes) takes several writes, so a reader of
/// a file being written in place can see it half done.
const WRITE_CHUNK: usize = 16;

/// How a writer persists the head: `FileCacheStore::store` (private temp file, fsync, rename
/// over the name, which replaces a planted symlink, directory fsync), or a mutant's.
pub type StoreStep = fn(&FileCacheStore<SimFs>, &SignedTreeHead) -> std::io::Result<()>;

/// The reference store, as the model takes it.
pub fn reference(cache: &FileCacheStore<SimFs>, head: &SignedTreeHead) -> std::io::Result<()> {
    cache.store(head)
}

/// The cache as one process of the user sees it.
fn cache_of(fs: SimFs) -> FileCacheStore<SimFs> {
    FileCacheStore::new(fs, CACHE_DIR, SERVER, &ApiKey::new(API_KEY))
}

/// The head writer `i` stores: distinct per writer.
fn head_of(writer: usize) -> SignedTreeHead {
    let n = u8::try_from(writer + 1).unwrap_or(u8::MAX);
    SignedTreeHead::new(u64::from(n), [n; 16])
}

/// Loads the reader makes while the writers run.
const READER_LOADS: usize = 2;

/// Invariant (the property seed 002 needed): with `writers` processes storing heads while one
/// process loads, (1) every load finds a complete head some writer stored, nothing, or the
/// planted symlink (refused) — never a partial or corrupt file; (2) the file the planted
/// symlink points at is never written; (3) once the writers are done, a load finds the head
/// of one of them.
pub fn sth_cache(write: StoreStep, writers: usize) -> impl Fn() + Send + Sync + 'static {
    move || {
        const INVARIANT: &str = STH_CACHE;
        let fs = SimFs::new(Semantics::Posix);
        let planted = fs
            .mkdir_durable(Path::new(CACHE_DIR))
            .and_then(|()| fs.mkdir_durable(Path::new(VICTIM).parent().unwrap_or(Path::new("/"))))
            .and_then(|()| fs.write_durable(Path::new(VICTIM), VICTIM_BYTES))
            .and_then(|()| fs.symlink(Path::new(VICTIM), cache_of(fs.clone()).path()));
        require(&fs, planted.is_ok(), super::SETUP, || {
            format!("{planted:?}")
        });
        fs.set_write_chunk(WRITE_CHUNK);
        let stored: Vec<SignedTreeHead> = (0..writers).map(head_of).collect();
        let loads = {
            let fs = fs.clone();
            run_actors(writers + 1, move |i| {
                let me = fs.actor(&actor_name(i));
                let cache = cache_of(me.clone());
                let loads = if i < writers {
                    let stored = write(&cache, &head_of(i));
                    me.note(&format!("store returns {stored:?}"));
                    Vec::new()
                } else {
                    (0..READER_LOADS).map(|_| cache.load()).collect()
                };
                me.exit();
                loads
            })
        };
        let loads: Vec<CacheLoad> = loads.into_iter().flatten().collect();
        fs.note(&format!("the reader's loads: {loads:?}"));
        let bad_load = loads.iter().find(|load| match load {
            CacheLoad::Hit(head) => !stored.contains(head),
            CacheLoad::Miss(miss) => !matches!(miss, CacheMiss::Missing | CacheMiss::Symlink),
        });
        require(&fs, bad_load.is_none(), INVARIANT, || {
            format!("a concurrent load found {bad_load:?}")
        });
        let victim = read_file(&fs, Path::new(VICTIM));
        require(
            &fs,
            matches!(&victim, Ok(bytes) if bytes == VICTIM_BYTES),
            INVARIANT,
            || format!("the symlink's target now holds {victim:?}"),
        );
        let last = cache_of(fs.actor("R")).load();
        require(
            &fs,
            matches!(last, CacheLoad::Hit(head) if stored.contains(&head)),
            INVARIANT,
            || format!("after the writers a load found {last:?}"),
        );
    }
}

//! Core benchmarks: key loading and creation, durable put/get at two store sizes (flat is the
//! goal), and the envelope cipher, each next to its physical reference where one exists.
//!
//! `cargo bench -p keyrace-benches --bench core`

use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use keyrace_benches::bare_durable_replace;
use keyrace_core::{envelope, load_or_create, Key, OsFs, Store, StoreOptions};

fn fresh_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(std::env::var_os("KEYRACE_BENCH_DIR").unwrap_or_else(|| ".".into()))
        .expect("bench tempdir")
}

fn key_file(c: &mut Criterion) {
    let mut group = c.benchmark_group("key_file");
    let temp = fresh_dir();
    let existing = temp.path().join("existing");
    load_or_create(&OsFs, &existing).expect("create");
    group.bench_function("load_existing", |b| {
        b.iter(|| load_or_create(&OsFs, &existing).expect("load"))
    });
    let mut n = 0u64;
    group.bench_function("create_first_time", |b| {
        b.iter_batched(
            || {
                n += 1;
                temp.path().join(format!("fresh-{n}"))
            },
            |dir| load_or_create(&OsFs, &dir).expect("create"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn populated(dir: &Path, key: &Key, secrets: usize) -> Store<OsFs> {
    let store = Store::open_or_create(OsFs, dir, key, &StoreOptions::default()).expect("store");
    for i in 0..secrets {
        store
            .put(&format!("secret-{i}"), b"populating value")
            .expect("put");
    }
    store
}

fn durable_put_get(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable");
    let key = Key::generate().expect("OS randomness");
    let value = [0x42u8; 64];
    for secrets in [100usize, 3000] {
        let temp = fresh_dir();
        let store = populated(&temp.path().join("store"), &key, secrets);
        group.bench_with_input(BenchmarkId::new("put", secrets), &secrets, |b, _| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 1) % secrets;
                store.put(&format!("secret-{i}"), &value).expect("put")
            })
        });
        group.bench_with_input(BenchmarkId::new("get", secrets), &secrets, |b, _| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 1) % secrets;
                store.get(&format!("secret-{i}")).expect("get")
            })
        });
    }
    // The physical reference: the same syscalls with nothing of keyrace, for the same size of
    // file (an envelope of a 64-byte value is 96 bytes).
    let temp = fresh_dir();
    let bytes = [0x42u8; 96];
    group.bench_function("bare_fsync_loop", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % 100;
            bare_durable_replace(temp.path(), &format!("f{i}"), &bytes).expect("bare")
        })
    });
    group.finish();
}

fn cipher(c: &mut Criterion) {
    let mut group = c.benchmark_group("aes_256_gcm");
    let key = Key::generate().expect("OS randomness");
    for size in [64usize, 4 * 1024, 16 * 1024, 1024 * 1024] {
        let plaintext = vec![0x5au8; size];
        let sealed = envelope::seal(&key, "bench", &plaintext).expect("OS randomness");
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal", size), &size, |b, _| {
            b.iter(|| envelope::seal(&key, "bench", &plaintext).expect("OS randomness"))
        });
        group.bench_with_input(BenchmarkId::new("open", size), &size, |b, _| {
            b.iter(|| envelope::open(&key, "bench", &sealed).expect("open"))
        });
    }
    group.finish();
}

criterion_group!(benches, key_file, durable_put_get, cipher);
criterion_main!(benches);

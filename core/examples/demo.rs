//! A tour of the reference core on a real temp directory: race-free key creation, a put from
//! eight threads at once, a broken store classified by code, and recovery without open.
//!
//! `cargo run -p keyrace-core --example demo`

use std::process::ExitCode;

use keyrace_core::{destroy_at_path, resolve_key, Identity, KeySources, OsFs, Store, StoreOptions};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: [{}] {e}", e.code());
            ExitCode::FAILURE
        }
    }
}

fn run() -> keyrace_core::Result<()> {
    let temp = tempfile::tempdir().map_err(|source| keyrace_core::Error::Fs {
        what: "create a temp directory",
        source,
    })?;
    let dir = temp.path().join("store");
    let options = StoreOptions {
        identity: Some(Identity::current(&OsFs)?),
    };
    let sources = KeySources {
        key_file_dir: Some(dir.clone()),
        ..KeySources::default()
    };

    let results: Vec<keyrace_core::Result<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (dir, options, sources) = (&dir, &options, &sources);
                scope.spawn(move || {
                    let key = resolve_key(&OsFs, sources)?.key;
                    let store = Store::open_or_create(OsFs, dir, &key, options)?;
                    store.put(&format!("secret-{i}"), format!("value-{i}").as_bytes())?;
                    Ok(store.key_id().to_owned())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| std::process::abort()))
            .collect()
    });
    let mut key_ids = Vec::new();
    for result in results {
        key_ids.push(result?);
    }
    key_ids.sort();
    key_ids.dedup();
    println!("8 threads raced key creation and a first put: key ids seen {key_ids:?}");

    let key = resolve_key(&OsFs, &sources)?.key;
    let store = Store::open(OsFs, &dir, &key, &options)?;
    println!("secrets after the race: {:?}", store.list()?);
    drop(store);

    fs_err::write(dir.join("meta.json"), b"{ not json").map_err(|source| {
        keyrace_core::Error::Fs {
            what: "break the demo store",
            source,
        }
    })?;
    match Store::open(OsFs, &dir, &key, &options) {
        Ok(_) => println!("unexpected: a broken store opened"),
        Err(e) => println!("opening the broken store: [{}] {e}", e.code()),
    }
    let removed = destroy_at_path(&OsFs, &dir)?;
    println!(
        "destroy_at_path without open removed {} files and {} directories",
        removed.files, removed.dirs
    );
    Ok(())
}

//! keygen-race and put-race on the real filesystem (seeds 003 and 000).
//!
//! Invariant: when 8 threads and 8 processes race `load_or_create` and a first `put` on a fresh
//! directory, every one succeeds, all of them use the same key, and every acknowledged secret
//! reads back with its value.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Barrier;

use keyrace_core::{load_or_create, OsFs, Store, StoreOptions};

const THREADS: usize = 8;
const PROCESSES: usize = 8;

fn rounds() -> usize {
    std::env::var("KEYRACE_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// The racing actor: the key, then a first put. Returns the key id it used.
fn create_and_put(dir: &Path, name: &str) -> keyrace_core::Result<String> {
    let loaded = load_or_create(&OsFs, dir)?;
    let store = Store::open_or_create(OsFs, dir, &loaded.key, &StoreOptions::default())?;
    store.put(name, value_of(name).as_bytes())?;
    Ok(loaded.key.id())
}

fn value_of(name: &str) -> String {
    format!("value of {name}")
}

/// Child entry point: wait until the parent closes stdin (the start signal), race, report.
#[test]
#[ignore = "child process entry point of keygen_and_first_put_race"]
fn race_child() {
    let dir = common::child_env("KEYRACE_RACE_DIR");
    let name = std::env::var("KEYRACE_RACE_NAME").expect("KEYRACE_RACE_NAME");
    println!("READY");
    std::io::stdout().flush().expect("flush");
    let mut go = Vec::new();
    std::io::stdin()
        .read_to_end(&mut go)
        .expect("wait for start");
    match create_and_put(&dir, &name) {
        Ok(id) => println!("RESULT ok {id}"),
        Err(e) => println!("RESULT err {} {e}", e.code()),
    }
}

struct Racer {
    child: Child,
    name: String,
}

fn spawn_racer(dir: &Path, name: String) -> Racer {
    let mut child = common::child_command("race_child")
        .env("KEYRACE_RACE_DIR", dir)
        .env("KEYRACE_RACE_NAME", &name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn racer");
    let stdout = child.stdout.as_mut().expect("stdout");
    let mut line = String::new();
    // Read byte by byte up to READY so no later output is buffered away from `output()`.
    let mut byte = [0u8; 1];
    while !line.ends_with("READY\n") {
        assert_eq!(
            stdout.read(&mut byte).expect("read"),
            1,
            "racer died before READY: {line}"
        );
        line.push(char::from(byte[0]));
    }
    Racer { child, name }
}

#[test]
fn keygen_and_first_put_race_across_threads_and_processes() {
    for round in 0..rounds() {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("store");
        let mut racers: Vec<Racer> = (0..PROCESSES)
            .map(|i| spawn_racer(&dir, format!("process-{i}")))
            .collect();
        let barrier = Barrier::new(THREADS + 1);
        let thread_results: Vec<(String, keyrace_core::Result<String>)> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|i| {
                        let (dir, barrier) = (&dir, &barrier);
                        scope.spawn(move || {
                            let name = format!("thread-{i}");
                            barrier.wait();
                            let result = create_and_put(dir, &name);
                            (name, result)
                        })
                    })
                    .collect();
                barrier.wait();
                // Start every process back to back, while the threads run.
                for racer in &mut racers {
                    drop(racer.child.stdin.take());
                }
                handles
                    .into_iter()
                    .map(|h| h.join().expect("racing thread panicked"))
                    .collect()
            });

        let mut key_ids = BTreeSet::new();
        let mut acknowledged = Vec::new();
        for (name, result) in thread_results {
            match result {
                Ok(id) => {
                    key_ids.insert(id);
                    acknowledged.push(name);
                }
                Err(e) => panic!("round {round}: {name} failed: [{}] {e}", e.code()),
            }
        }
        for racer in racers {
            let output = racer.child.wait_with_output().expect("racer output");
            let result = common::child_result(&output);
            match result.strip_prefix("ok ") {
                Some(id) => {
                    key_ids.insert(id.to_owned());
                    acknowledged.push(racer.name);
                }
                None => panic!("round {round}: {} failed: {result}", racer.name),
            }
        }
        assert_eq!(
            key_ids.len(),
            1,
            "round {round}: racers used different keys: {key_ids:?}"
        );

        let key = load_or_create(&OsFs, &dir).expect("reload key").key;
        assert!(
            key_ids.contains(&key.id()),
            "round {round}: key file changed after the race"
        );
        let store = Store::open(OsFs, &dir, &key, &StoreOptions::default()).expect("reopen");
        for name in &acknowledged {
            let value = store
                .get(name)
                .expect("get")
                .unwrap_or_else(|| panic!("round {round}: acknowledged secret {name} was lost"));
            assert_eq!(
                value.as_slice(),
                value_of(name).as_bytes(),
                "round {round}: {name}"
            );
        }
        assert_eq!(store.list().expect("list").len(), THREADS + PROCESSES);
    }
}

//! Writes the benchmark's generated histories as JSON lines for the Porcupine driver
//! (`benches/porcupine/`), and times keyrace's checker on the same histories in the same run.
//!
//! `cargo run --release -p keyrace-history --example porcupine_export -- OUT_DIR`

use std::time::{Duration, Instant};

use keyrace_history::generate::{linearizable, Shape};
use keyrace_history::{check, porcupine, Budget};
use rand::SeedableRng;

/// Checks per history; the mean is printed.
const REPEAT: u32 = 20;

fn main() -> std::process::ExitCode {
    let Some(out) = std::env::args_os().nth(1) else {
        eprintln!("usage: porcupine_export OUT_DIR");
        return std::process::ExitCode::from(2);
    };
    let out = std::path::PathBuf::from(out);
    if let Err(err) = std::fs::create_dir_all(&out) {
        eprintln!("cannot create {}: {err}", out.display());
        return std::process::ExitCode::from(1);
    }
    for (label, operations, info_percent) in [
        ("1k", 1_000, 0),
        ("10k", 10_000, 0),
        ("10k-1pc-info", 10_000, 1),
    ] {
        let shape = Shape {
            actors: 8,
            names: 3,
            tokens: 0,
            operations,
            info_percent,
        };
        let history = linearizable(&mut rand::rngs::StdRng::seed_from_u64(1), &shape);
        let path = out.join(format!("{label}.jsonl"));
        if let Err(err) = std::fs::write(&path, porcupine::export(&history)) {
            eprintln!("cannot write {}: {err}", path.display());
            return std::process::ExitCode::from(1);
        }
        let started = Instant::now();
        for _ in 0..REPEAT {
            let verdict = check(&history, Budget::new(Duration::from_secs(60)));
            if !verdict.is_linearizable() {
                eprintln!("{label}: {verdict:?}");
                return std::process::ExitCode::from(1);
            }
        }
        println!(
            "{label}\tkeyrace\t{:.3} ms",
            started.elapsed().as_secs_f64() * 1000.0 / f64::from(REPEAT)
        );
    }
    std::process::ExitCode::SUCCESS
}

//! Replays every committed corpus file through the same checks the fuzz targets run, on the
//! stable toolchain, so CI needs no nightly.

use std::path::Path;

#[test]
fn every_corpus_file_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut replayed = 0;
    for (name, check) in keyrace_fuzz::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("target {name} has no corpus at {}: {e}", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("read corpus file");
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                panic!("corpus file {} fails target {name}", path.display());
            }
            count += 1;
        }
        assert!(count > 0, "target {name} has an empty corpus");
        replayed += count;
    }
    println!("replayed {replayed} corpus files");
}

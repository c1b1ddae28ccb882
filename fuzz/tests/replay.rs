//! Replays every committed corpus file through the same checks the fuzz targets run, on the
//! stable toolchain, so CI needs no nightly; and holds each file to the outcome
//! `corpus/expected.tsv` states for it (accepted, or rejected and why).

use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn every_corpus_file_passes_its_target_with_the_expected_outcome() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let manifest = std::fs::read_to_string(root.join("expected.tsv")).expect("corpus/expected.tsv");
    let mut expected: BTreeMap<(String, String), String> = manifest
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.splitn(3, '\t');
            let mut next = || fields.next().unwrap_or_else(|| panic!("bad line {line:?}"));
            ((next().to_owned(), next().to_owned()), next().to_owned())
        })
        .collect();
    let mut replayed = 0;
    let mut wrong = Vec::new();
    for target in keyrace_fuzz::TARGETS {
        let dir = root.join(target.name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "target {} has no corpus at {}: {e}",
                target.name,
                dir.display()
            )
        });
        let mut count = 0;
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("read corpus file");
            if std::panic::catch_unwind(|| (target.check)(&data)).is_err() {
                panic!(
                    "corpus file {} fails target {}",
                    path.display(),
                    target.name
                );
            }
            let file = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("a UTF-8 corpus file name")
                .to_owned();
            let got = (target.verdict)(&data);
            match expected.remove(&(target.name.to_owned(), file.clone())) {
                Some(want) if want == got => {}
                Some(want) => wrong.push(format!("{}/{file}: expected {want:?}, got {got:?}", target.name)),
                None => wrong.push(format!(
                    "{}/{file}: no line in corpus/expected.tsv (it is {got:?}; add the outcome it must have)",
                    target.name
                )),
            }
            count += 1;
        }
        assert!(count > 0, "target {} has an empty corpus", target.name);
        replayed += count;
    }
    for ((target, file), _) in expected {
        wrong.push(format!(
            "{target}/{file}: listed in corpus/expected.tsv but missing"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    println!("replayed {replayed} corpus files");
}

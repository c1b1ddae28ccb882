//! Criterion benchmarks of keyrace live in `benches/benches/`; see `docs/performance.md` for
//! the figures, the commands that produced them and the physical references they compare to.
//!
//! This library holds the physical reference the durable-put benchmark is measured against:
//! the bare syscall sequence of one durable file replacement, with nothing of keyrace in it.

use std::io::Write;
use std::path::Path;

/// temp file + write + fsync + rename + directory fsync, with `std` only.
pub fn bare_durable_replace(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temp = dir.join(format!(".bare-tmp-{name}"));
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

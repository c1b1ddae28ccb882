//! Building a model's starting state on [`SimFs`].

use std::io::{self, Write};
use std::path::Path;

use keyrace_core::{Fs, FsFile};

use super::SimFs;

/// Setup helpers: build a durable starting state through the `Fs` operations (so the trace
/// shows it), as the actor the `SimFs` value belongs to.
impl SimFs {
    /// `mkdir -p` and fsync every parent, so the directory survives a crash.
    pub fn mkdir_durable(&self, path: &Path) -> io::Result<()> {
        let mut missing = Vec::new();
        let mut cursor = Some(path);
        while let Some(dir) = cursor.filter(|d| d.parent().is_some()) {
            if self.exists(dir) {
                break;
            }
            missing.push(dir);
            cursor = dir.parent();
        }
        for dir in missing.into_iter().rev() {
            self.create_dir(dir, 0o700)?;
            self.sync_dir(dir.parent().unwrap_or(Path::new("/")))?;
        }
        Ok(())
    }

    /// Create `path` with `bytes`, durably (content and name).
    pub fn write_durable(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut file = self.create_new(path, 0o600)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        self.sync_dir(path.parent().unwrap_or(Path::new("/")))
    }
}

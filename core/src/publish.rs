//! Crash-safe publication of whole files: write a private temp file, fsync it, then give it its
//! final name in one step, then fsync the directory. A reader sees either nothing (or the old
//! file) or the complete new file, never a partial one; after the directory fsync the new name
//! survives a crash.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::fs::{parent_dir, Fs, FsFile};
use crate::layout::{FILE_MODE, TEMP_PREFIX};

/// A durable private temp file beside its final name; removed on drop unless published.
struct TempFile<'a, F: Fs + ?Sized> {
    fs: &'a F,
    path: PathBuf,
    armed: bool,
}

impl<'a, F: Fs + ?Sized> TempFile<'a, F> {
    /// Create, write and fsync a temp file in `dir`. The handle is closed before returning.
    fn write(fs: &'a F, dir: &Path, bytes: &[u8]) -> io::Result<Self> {
        let (path, mut file) = Self::create(fs, dir)?;
        let temp = TempFile {
            fs,
            path,
            armed: true,
        };
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        Ok(temp)
    }

    /// A new temp file under a fresh random name. A name taken already (a leftover, or a
    /// 2^-64 coincidence) is retried with another: its `AlreadyExists` must never reach a
    /// caller, which reads that error as "another writer published the final name".
    fn create(fs: &F, dir: &Path) -> io::Result<(PathBuf, F::File)> {
        const ATTEMPTS: usize = 4;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let suffix = crate::random::temp_suffix();
            let path = dir.join(format!("{TEMP_PREFIX}{suffix:016x}"));
            match fs.create_new(&path, FILE_MODE) {
                Ok(file) => return Ok((path, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        let last = last.map_or_else(String::new, |e| format!(": {e}"));
        Err(io::Error::other(format!(
            "{ATTEMPTS} fresh temp file names in {} were all taken{last}",
            dir.display()
        )))
    }
}

impl<F: Fs + ?Sized> Drop for TempFile<'_, F> {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: a leftover temp file is harmless and recovery removes it.
            let _ = self.fs.remove_file(&self.path);
        }
    }
}

/// Publish `bytes` at `target` only if nothing is there yet (tempfile's `persist_noclobber`
/// approach: link the complete temp file to the final name, which fails if the name exists).
/// Returns `AlreadyExists` when another writer won; its file is complete by construction.
pub fn publish_noclobber<F: Fs + ?Sized>(fs: &F, target: &Path, bytes: &[u8]) -> io::Result<()> {
    link_noclobber(fs, target, bytes)?;
    fs.sync_dir(parent_dir(target)?)
}

/// [`publish_noclobber`] without the directory fsync, for a caller that fsyncs the directory
/// itself (the key file, whose directory and parent are synced on every load). An error means
/// nothing was published: every step that can fail comes before the link or is the link.
pub fn link_noclobber<F: Fs + ?Sized>(fs: &F, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = TempFile::write(fs, parent_dir(target)?, bytes)?;
    fs.link_noreplace(&temp.path, target)?;
    drop(temp); // unlink the temp name (best effort); the data lives on under `target`
    Ok(())
}

/// Replace `target` with `bytes` atomically and durably (temp + fsync + rename + dir fsync).
pub fn write_atomic<F: Fs + ?Sized>(fs: &F, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(target)?;
    let mut temp = TempFile::write(fs, dir, bytes)?;
    fs.rename(&temp.path, target)?;
    temp.armed = false;
    fs.sync_dir(dir)
}

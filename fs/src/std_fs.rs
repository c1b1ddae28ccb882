//! A `std::fs`-shaped view of any [`Fs`]: the same function names, arguments and semantics, so
//! that a store written with ordinary file calls runs on another `Fs` (keyrace-harness's
//! simulated filesystem included) by changing `fs::write(p, b)` into `fs.write(p, b)`.
//!
//! Modes are std's defaults before the umask (files `0o666`, directories `0o777`); a file that
//! holds key material wants [`Fs::create_new`] with `0o600` instead. There is no `metadata`
//! that follows symlinks: [`StdFs::symlink_metadata`] and [`StdFs::try_exists`] do not.

use std::io::{self, Read, Write};
use std::path::Path;

use crate::{self as fs, DirEntry, Fs, FsFile, Metadata};

/// Mode of a file created by `File::create` or `fs::write`, before the umask.
pub const STD_FILE_MODE: u32 = 0o666;

/// Mode of a directory created by `fs::create_dir`, before the umask.
pub const STD_DIR_MODE: u32 = 0o777;

/// `std::fs` over an [`Fs`].
#[derive(Debug, Clone, Copy)]
pub struct StdFs<'a, F: Fs + ?Sized> {
    fs: &'a F,
}

impl<'a, F: Fs + ?Sized> StdFs<'a, F> {
    pub fn new(fs: &'a F) -> Self {
        StdFs { fs }
    }

    /// The `Fs` underneath, for the calls std has no name for (`sync_dir`, `link_noreplace`).
    pub fn inner(&self) -> &'a F {
        self.fs
    }

    /// `std::fs::read`.
    pub fn read(&self, path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.fs.open_read(path.as_ref())?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// `std::fs::read_to_string`.
    pub fn read_to_string(&self, path: impl AsRef<Path>) -> io::Result<String> {
        String::from_utf8(self.read(path)?)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// `std::fs::write`: truncate (or create) the file in place, then write, with no fsync.
    pub fn write(&self, path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
        self.create(path)?.write_all(contents.as_ref())
    }

    /// `File::create`: open for writing, truncating or creating.
    pub fn create(&self, path: impl AsRef<Path>) -> io::Result<F::File> {
        self.fs.open_truncate(path.as_ref(), STD_FILE_MODE)
    }

    /// `File::create_new` (`O_EXCL`).
    pub fn create_new(&self, path: impl AsRef<Path>) -> io::Result<F::File> {
        self.fs.create_new(path.as_ref(), STD_FILE_MODE)
    }

    /// `File::open`, except that a final symlink is not followed.
    pub fn open(&self, path: impl AsRef<Path>) -> io::Result<F::File> {
        self.fs.open_read(path.as_ref())
    }

    /// `std::fs::create_dir`.
    pub fn create_dir(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.fs.create_dir(path.as_ref(), STD_DIR_MODE)
    }

    /// `std::fs::create_dir_all`.
    pub fn create_dir_all(&self, path: impl AsRef<Path>) -> io::Result<()> {
        fs::create_dir_all(self.fs, path.as_ref(), STD_DIR_MODE)
    }

    /// `std::fs::rename`.
    pub fn rename(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
        self.fs.rename(from.as_ref(), to.as_ref())
    }

    /// `std::fs::hard_link` (fails with `AlreadyExists` when `to` exists, as std does).
    pub fn hard_link(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
        self.fs.link_noreplace(from.as_ref(), to.as_ref())
    }

    /// `std::fs::remove_file`.
    pub fn remove_file(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.fs.remove_file(path.as_ref())
    }

    /// `std::fs::remove_dir`.
    pub fn remove_dir(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.fs.remove_dir(path.as_ref())
    }

    /// `std::fs::read_dir`, collected.
    pub fn read_dir(&self, path: impl AsRef<Path>) -> io::Result<Vec<DirEntry>> {
        self.fs.read_dir(path.as_ref())
    }

    /// `std::fs::symlink_metadata`.
    pub fn symlink_metadata(&self, path: impl AsRef<Path>) -> io::Result<Metadata> {
        self.fs.symlink_metadata(path.as_ref())
    }

    /// `Path::try_exists`, without following a final symlink.
    pub fn try_exists(&self, path: impl AsRef<Path>) -> io::Result<bool> {
        fs::try_symlink_metadata(self.fs, path.as_ref()).map(|found| found.is_some())
    }

    /// `File::open(dir)?.sync_all()`: make a directory's entries durable.
    pub fn sync_dir(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.fs.sync_dir(path.as_ref())
    }

    /// `file.sync_all()` (here so a store converted to `StdFs` needs no second import).
    pub fn sync_all(file: &mut F::File) -> io::Result<()> {
        file.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsFs;

    #[test]
    fn write_truncates_in_place_and_read_sees_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFs::new(&OsFs);
        let path = dir.path().join("a");
        fs.write(&path, b"a longer first value").expect("write");
        fs.write(&path, b"short").expect("rewrite");
        assert_eq!(fs.read_to_string(&path).expect("read"), "short");
        assert_eq!(std::fs::read(&path).expect("std read"), b"short");
        assert!(fs.try_exists(&path).expect("exists"));
        assert!(!fs.try_exists(dir.path().join("b")).expect("absent"));
        let err = fs.create_new(&path).expect_err("exists");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn create_dir_all_then_rename_and_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFs::new(&OsFs);
        let nested = dir.path().join("x/y");
        fs.create_dir_all(&nested).expect("mkdir -p");
        fs.write(nested.join("t"), "v").expect("write");
        fs.rename(nested.join("t"), nested.join("u"))
            .expect("rename");
        assert_eq!(fs.read_dir(&nested).expect("ls").len(), 1);
        fs.remove_file(nested.join("u")).expect("rm");
        fs.remove_dir(&nested).expect("rmdir");
        assert!(!nested.exists());
    }
}

//! keyrace-fs: the filesystem seam.
//!
//! Every filesystem operation of keyrace's reference core, and of a store written to be
//! model-checked by keyrace, goes through [`Fs`], so that the model checker
//! (`keyrace-harness`) can substitute a simulated filesystem with crash points and Windows
//! sharing semantics. The operations are exactly the ones such a store needs; each one maps
//! to one system call on [`OsFs`], so a model that interleaves `Fs` calls interleaves the same
//! steps a real process would. [`StdFs`] offers the same calls shaped like `std::fs`.
//!
//! A store depends on this crate alone: the core (with its cryptography) and the checker are
//! needed only by its tests.

mod os_fs;
mod std_fs;

pub use os_fs::{OsFile, OsFs};
pub use std_fs::{StdFs, STD_DIR_MODE, STD_FILE_MODE};

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::Path;

/// An open file handle. Dropping it closes the handle.
pub trait FsFile: Read + Write + Send {
    /// Flush file data and metadata to stable storage (`fsync`).
    fn sync_all(&mut self) -> io::Result<()>;

    /// `fstat`: metadata of the open file itself, whatever its name points at by now.
    fn metadata(&self) -> io::Result<Metadata>;
}

/// What kind of object a directory entry or `lstat` names. Symlinks are never followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

impl FileKind {
    /// "a directory", "a symbolic link", ...: for messages about what sits at a path.
    pub fn description(self) -> &'static str {
        match self {
            FileKind::File => "a regular file",
            FileKind::Dir => "a directory",
            FileKind::Symlink => "a symbolic link",
            FileKind::Other => "a special file (FIFO, socket or device)",
        }
    }
}

/// The part of `lstat` the core looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    pub kind: FileKind,
    pub len: u64,
    /// Unix permission bits (`0o777` mask); `None` where the platform has none.
    pub mode: Option<u32>,
    /// Owner's user id; `None` where the platform has none.
    pub uid: Option<u32>,
}

/// One entry of [`Fs::read_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: OsString,
    pub kind: FileKind,
}

/// The filesystem operations a store needs (keyrace's reference core among them).
///
/// Errors are `std::io::Error`s whose kinds carry the meaning a store relies on:
/// `NotFound`, `AlreadyExists`, `PermissionDenied`, and `ResourceBusy` (a Windows sharing
/// violation or `EBUSY`, which keyrace classifies as `BUSY`).
pub trait Fs: Send + Sync {
    type File: FsFile;

    /// Create a new file exclusively (`O_CREAT | O_EXCL`) with Unix mode `mode`, open for
    /// writing. Fails with `AlreadyExists` if anything exists at `path`, symlinks included.
    fn create_new(&self, path: &Path, mode: u32) -> io::Result<Self::File>;

    /// Open `path` for writing, creating it with Unix mode `mode` if absent and truncating it
    /// otherwise (`O_WRONLY | O_CREAT | O_TRUNC`; a final symlink is followed, as the real call
    /// does): the open of `std::fs::write` and `File::create`. The core never writes in place
    /// (it publishes whole files); a store under test may, and so do some mutants.
    fn open_truncate(&self, path: &Path, mode: u32) -> io::Result<Self::File>;

    /// Open an existing file for reading without following a final symlink.
    fn open_read(&self, path: &Path) -> io::Result<Self::File>;

    /// Make `to` a second name of the file `from` without replacing anything: fails with
    /// `AlreadyExists` when `to` exists. This is the no-clobber publish step.
    fn link_noreplace(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Atomically rename `from` over `to`, replacing `to` if it is a file.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Remove an empty directory.
    fn remove_dir(&self, path: &Path) -> io::Result<()>;

    /// Create one directory with Unix mode `mode`; `AlreadyExists` if it exists.
    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()>;

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;

    /// `lstat`: metadata of `path` itself, never of a symlink's target.
    fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata>;

    /// Make the directory's entries durable (`fsync` on the directory).
    fn sync_dir(&self, path: &Path) -> io::Result<()>;

    /// The user this process acts as (its effective uid): the owner of the files it creates
    /// and the only owner whose key and cache files it trusts. `None` where the platform has
    /// no uids.
    fn process_uid(&self) -> Option<u32>;
}

impl<F: Fs + ?Sized> Fs for &F {
    type File = F::File;
    fn create_new(&self, path: &Path, mode: u32) -> io::Result<Self::File> {
        (**self).create_new(path, mode)
    }
    fn open_truncate(&self, path: &Path, mode: u32) -> io::Result<Self::File> {
        (**self).open_truncate(path, mode)
    }
    fn open_read(&self, path: &Path) -> io::Result<Self::File> {
        (**self).open_read(path)
    }
    fn link_noreplace(&self, from: &Path, to: &Path) -> io::Result<()> {
        (**self).link_noreplace(from, to)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        (**self).rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        (**self).remove_file(path)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        (**self).remove_dir(path)
    }
    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        (**self).create_dir(path, mode)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        (**self).read_dir(path)
    }
    fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata> {
        (**self).symlink_metadata(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        (**self).sync_dir(path)
    }
    fn process_uid(&self) -> Option<u32> {
        (**self).process_uid()
    }
}

/// Read a whole file through one handle, closed before returning.
pub fn read_file<F: Fs + ?Sized>(fs: &F, path: &Path) -> io::Result<Vec<u8>> {
    let mut file = fs.open_read(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The directory whose entries hold `path`'s name: its parent, or `.` for a bare relative
/// name. Fails only for a root or prefix, which no file can be published as.
pub fn parent_dir(path: &Path) -> io::Result<&Path> {
    match path.parent() {
        Some(parent) if parent.as_os_str().is_empty() => Ok(Path::new(".")),
        Some(parent) => Ok(parent),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no parent directory", path.display()),
        )),
    }
}

/// fsync the directory holding `path`'s name ([`parent_dir`]); nothing to do for a root.
pub fn sync_parent<F: Fs + ?Sized>(fs: &F, path: &Path) -> io::Result<()> {
    match parent_dir(path) {
        Ok(parent) => fs.sync_dir(parent),
        Err(_) => Ok(()),
    }
}

/// Create a directory and its missing parents with mode `mode`, tolerating a concurrent
/// creator, and fsync the parent of every directory it creates or finds just created by a
/// racer, so that no new directory's name is lost in a crash.
///
/// Symlinks are followed, as the OS does for any path below them (macOS `/tmp`, a
/// stow-managed `~/.config`, `TMPDIR` pointing at a link). Where another user could plant
/// one (a sticky `/tmp`), what keyrace puts inside is checked on its own: key and cache files
/// must belong to this process's user.
pub fn create_dir_all<F: Fs + ?Sized>(fs: &F, path: &Path, mode: u32) -> io::Result<()> {
    create_dir_all_below(fs, path, mode, false)
}

/// `below`: the caller is about to create a directory inside `path`.
fn create_dir_all_below<F: Fs + ?Sized>(
    fs: &F,
    path: &Path,
    mode: u32,
    below: bool,
) -> io::Result<()> {
    match fs.symlink_metadata(path) {
        Ok(meta) if meta.kind == FileKind::Dir => {
            if below {
                // A racer may have created `path` a moment ago and not yet fsynced its
                // parent; what we create inside must not outlive it in a crash. A parent
                // we may not open is not ours to make durable (its creator did).
                match sync_parent(fs, path) {
                    Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
                    other => other?,
                }
            }
            return Ok(());
        }
        // Creating inside it fails with a clear error if the link leads nowhere useful.
        Ok(meta) if meta.kind == FileKind::Symlink => return Ok(()),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a directory", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_all_below(fs, parent, mode, true)?;
    }
    match fs.create_dir(path, mode) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    sync_parent(fs, path)
}

/// `Some(metadata)`, or `None` when nothing exists at `path`.
pub fn try_symlink_metadata<F: Fs + ?Sized>(fs: &F, path: &Path) -> io::Result<Option<Metadata>> {
    match fs.symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_lives_in_the_current_directory() {
        assert_eq!(parent_dir(Path::new("store")).ok(), Some(Path::new(".")));
        assert_eq!(parent_dir(Path::new("a/store")).ok(), Some(Path::new("a")));
        assert_eq!(parent_dir(Path::new("/store")).ok(), Some(Path::new("/")));
        assert!(parent_dir(Path::new("/")).is_err());
    }
}

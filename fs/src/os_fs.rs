//! [`OsFs`]: the real filesystem, through `fs-err` so every error names its path.

use std::io::{self, Read, Write};
use std::path::Path;

use crate::{DirEntry, FileKind, Fs, FsFile, Metadata};

/// The operating system's filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

/// A real file handle.
#[derive(Debug)]
pub struct OsFile(fs_err::File);

impl Read for OsFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for OsFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl FsFile for OsFile {
    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }

    fn metadata(&self) -> io::Result<Metadata> {
        Ok(metadata_of(&self.0.metadata()?))
    }
}

fn metadata_of(meta: &std::fs::Metadata) -> Metadata {
    #[cfg(unix)]
    let (mode, uid) = {
        use std::os::unix::fs::MetadataExt;
        (Some(meta.mode() & 0o7777), Some(meta.uid()))
    };
    #[cfg(not(unix))]
    let (mode, uid) = (None, None);
    Metadata {
        kind: kind_of(meta.file_type()),
        len: meta.len(),
        mode,
        uid,
    }
}

fn kind_of(file_type: std::fs::FileType) -> FileKind {
    if file_type.is_symlink() {
        FileKind::Symlink
    } else if file_type.is_dir() {
        FileKind::Dir
    } else if file_type.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    }
}

/// `O_NOFOLLOW`, and `O_NONBLOCK` so that a FIFO swapped in after an `lstat` cannot block the
/// open (the caller's `fstat` then refuses it); reads of regular files ignore `O_NONBLOCK`.
#[cfg(unix)]
fn nofollow(options: &mut fs_err::OpenOptions) {
    use fs_err::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    options.custom_flags(flags.bits() as i32);
}

#[cfg(not(unix))]
fn nofollow(_options: &mut fs_err::OpenOptions) {}

impl Fs for OsFs {
    type File = OsFile;

    fn create_new(&self, path: &Path, mode: u32) -> io::Result<OsFile> {
        let mut options = fs_err::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use fs_err::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        options.open(path).map(OsFile)
    }

    fn open_truncate(&self, path: &Path, mode: u32) -> io::Result<OsFile> {
        let mut options = fs_err::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use fs_err::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        options.open(path).map(OsFile)
    }

    fn open_read(&self, path: &Path) -> io::Result<OsFile> {
        let mut options = fs_err::OpenOptions::new();
        options.read(true);
        nofollow(&mut options);
        options.open(path).map(OsFile)
    }

    fn link_noreplace(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs_err::hard_link(from, to)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs_err::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs_err::remove_file(path)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        fs_err::remove_dir(path)
    }

    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        // fs-err has no DirBuilder; name the path in the error the same way it does.
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        builder.create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{e} when creating directory `{}`", path.display()),
            )
        })
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut entries = Vec::new();
        for entry in fs_err::read_dir(path)? {
            let entry = entry?;
            entries.push(DirEntry {
                name: entry.file_name(),
                kind: kind_of(entry.file_type()?),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata> {
        Ok(metadata_of(&fs_err::symlink_metadata(path)?))
    }

    fn process_uid(&self) -> Option<u32> {
        #[cfg(unix)]
        {
            Some(rustix::process::geteuid().as_raw())
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    #[cfg(unix)]
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        fs_err::File::open(path)?.sync_all()
    }

    /// Windows cannot open a directory as a file; NTFS journals directory entries itself.
    #[cfg(not(unix))]
    fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }
}

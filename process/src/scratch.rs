//! The runner's own hands on disk: its scratch directory and what adapters leave in it.
//!
//! Adapters run as the runner's user and can rename, replace or link anything below the
//! scratch root, so the runner never acts through a path an adapter could have redirected.
//! Every directory it creates, walks, damages or removes is reached through a directory handle
//! opened without following symlinks, starting from the scratch root it created itself (mode
//! 0700). A store whose directory was replaced by a symlink, or a store file with more than one
//! link (which may be a file outside the scratch root), is refused and reported, never written.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, DirBuilder, DirBuilderExt, MetadataExt, OpenOptions, OpenOptionsExt};

/// Why the runner did not act on a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The store has a shape the runner will not act on: a violation of the scenario.
    #[error("{0}")]
    Shape(String),
    /// The OS refused an operation: the scenario cannot run here.
    #[error("{0}")]
    Io(String),
}

/// A directory the runner created, with a handle that stays on it whatever happens to its path.
#[derive(Debug)]
pub struct Area {
    path: PathBuf,
    dir: Dir,
}

impl Area {
    /// A directory the runner just created itself (a [`Scratch`] root).
    fn open_root(path: PathBuf) -> io::Result<Area> {
        let dir = Dir::open_ambient_dir(&path, ambient_authority())?;
        Ok(Area { path, dir })
    }

    /// The directory's path, as adapters are told it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The handle itself, for file work below it.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Create the directory `name` inside this one with exactly `mode`, and open it.
    pub fn create(&self, name: &str, mode: u32) -> io::Result<Area> {
        let mut builder = DirBuilder::new();
        builder.mode(mode);
        self.dir.create_dir_with(name, &builder)?;
        let dir = self.dir.open_dir_nofollow(name)?;
        // The umask may have taken bits away; set exactly what was asked, through the handle
        // (an O_PATH handle: `fchmod` refuses it, `fchmodat` of "." does not).
        rustix::fs::chmodat(
            &dir,
            ".",
            rustix::fs::Mode::from_raw_mode(mode),
            rustix::fs::AtFlags::empty(),
        )?;
        Ok(Area {
            path: self.path.join(name),
            dir,
        })
    }

    /// Remove `name` and everything below it, never following a symlink.
    pub fn remove_all(&self, name: &str) -> io::Result<()> {
        match self.dir.remove_dir_all(name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Create the file `name` with `bytes` (never through a symlink: it must not exist).
    pub fn write_new(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true).mode(0o600);
        self.dir.open_with(name, &options)?.write_all(bytes)
    }

    /// The contents of the file `name`, read without following a symlink, at most `limit`
    /// bytes.
    pub fn read_file(&self, name: &str, limit: u64) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let mut options = OpenOptions::new();
        options.read(true).follow(FollowSymlinks::No).custom_flags(
            (rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32,
        );
        let mut bytes = Vec::new();
        self.dir
            .open_with(name, &options)?
            .take(limit)
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// The store an adapter made at `name` in this directory.
    pub fn store(&self, name: &str) -> Result<StoreDir, Refusal> {
        let path = self.path.join(name);
        let dir = match self.dir.symlink_metadata(name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_refusal("inspect", &path, &e)),
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Refusal::Shape(format!(
                "the store directory {} was replaced by a symlink; the runner does not follow it",
                path.display()
            )))
            }
            Ok(meta) if !meta.is_dir() => {
                return Err(Refusal::Shape(format!(
                    "the store path {} is not a directory",
                    path.display()
                )))
            }
            Ok(_) => Some(
                self.dir
                    .open_dir_nofollow(name)
                    .map_err(|e| io_refusal("open", &path, &e))?,
            ),
        };
        Ok(StoreDir { path, dir })
    }
}

/// A scratch root: a new temp directory under `TMPDIR`, removed (without following links)
/// when dropped, and by a second interrupt if the main thread cannot get there.
#[derive(Debug)]
pub struct Scratch {
    area: Area,
    temp: Option<tempfile::TempDir>,
}

impl Scratch {
    /// The run's scratch root: private to the runner's user (0700).
    pub fn create() -> io::Result<Scratch> {
        Scratch::with_mode(0o700)
    }

    /// A root other users may traverse but not list (0711), for actors run as another user.
    pub fn create_traversable() -> io::Result<Scratch> {
        Scratch::with_mode(0o711)
    }

    fn with_mode(mode: u32) -> io::Result<Scratch> {
        let temp = tempfile::Builder::new()
            .prefix("keyrace-")
            .permissions(std::fs::Permissions::from_mode(mode))
            .tempdir()?;
        let area = Area::open_root(temp.path().to_owned())?;
        // The umask may have taken bits away (0711 must stay traversable).
        rustix::fs::chmodat(
            &area.dir,
            ".",
            rustix::fs::Mode::from_raw_mode(mode),
            rustix::fs::AtFlags::empty(),
        )?;
        crate::reaper::register_dir(temp.path().to_owned());
        Ok(Scratch {
            area,
            temp: Some(temp),
        })
    }

    pub fn area(&self) -> &Area {
        &self.area
    }

    /// Remove the scratch root now, reporting whether it went.
    pub fn remove(mut self) -> io::Result<()> {
        crate::reaper::unregister_dir(self.area.path());
        self.temp.take().map_or(Ok(()), tempfile::TempDir::close)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            crate::reaper::unregister_dir(self.area.path());
            drop(temp);
        }
    }
}

/// A store directory as the runner sees it: its regular files, reached without following links.
#[derive(Debug)]
pub struct StoreDir {
    path: PathBuf,
    /// `None` when the adapter created nothing there.
    dir: Option<Dir>,
}

impl StoreDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the store really is, as the kernel names it in `/proc/<pid>/fd` (through the
    /// runner's own handle, whatever happened to the path since).
    pub fn real_path(&self) -> Option<PathBuf> {
        use std::os::fd::{AsFd, AsRawFd};
        let dir = self.dir.as_ref()?;
        std::fs::read_link(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd())).ok()
    }

    /// Every regular file below the store, as paths relative to it, sorted. Symlinks, devices
    /// and FIFOs are left alone.
    pub fn files(&self) -> Result<Vec<PathBuf>, Refusal> {
        let mut files = Vec::new();
        let Some(root) = &self.dir else {
            return Ok(files);
        };
        let mut pending = vec![(
            PathBuf::new(),
            root.try_clone().map_err(|e| self.io("open", &e))?,
        )];
        while let Some((relative, dir)) = pending.pop() {
            let entries = dir.entries().map_err(|e| self.io("list", &e))?;
            for entry in entries {
                let entry = entry.map_err(|e| self.io("list", &e))?;
                let name = entry.file_name();
                let kind = entry.file_type().map_err(|e| self.io("inspect", &e))?;
                if kind.is_dir() {
                    let sub = dir
                        .open_dir_nofollow(&name)
                        .map_err(|e| self.io("open", &e))?;
                    pending.push((relative.join(&name), sub));
                } else if kind.is_file() {
                    files.push(relative.join(&name));
                }
            }
        }
        files.sort();
        Ok(files)
    }

    /// The size of `file`.
    pub fn len(&self, file: &Path) -> Result<u64, Refusal> {
        let (dir, name) = self.parent_of(file)?;
        let meta = dir
            .symlink_metadata(name)
            .map_err(|e| self.io("inspect", &e))?;
        Ok(meta.len())
    }

    /// Replace the contents of `file` with `bytes`.
    pub fn overwrite(&self, file: &Path, bytes: &[u8]) -> Result<(), Refusal> {
        let mut handle = self.open_single_link(file)?;
        handle
            .set_len(0)
            .and_then(|()| handle.write_all(bytes))
            .map_err(|e| self.io("write", &e))
    }

    /// Cut `file` to `len` bytes.
    pub fn truncate(&self, file: &Path, len: u64) -> Result<(), Refusal> {
        self.open_single_link(file)?
            .set_len(len)
            .map_err(|e| self.io("truncate", &e))
    }

    /// Remove `file` (the name only: another link to it is untouched).
    pub fn remove(&self, file: &Path) -> Result<(), Refusal> {
        let (dir, name) = self.parent_of(file)?;
        dir.remove_file(name).map_err(|e| self.io("remove", &e))
    }

    /// Replace `file` by a symlink to `target` (an attack the scenario plants: the runner
    /// creates the link, it never follows one).
    pub fn plant_symlink(&self, file: &Path, target: &Path) -> Result<(), Refusal> {
        let (dir, name) = self.parent_of(file)?;
        match dir.remove_file(name) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(self.io("remove", &e)),
            _ => {}
        }
        rustix::fs::symlinkat(target, &dir, name).map_err(|e| self.io("plant a symlink", &e.into()))
    }

    /// Open `file` for writing without following a symlink, and only if it is a regular file
    /// with exactly one link: a second link may be a file outside the scratch root.
    fn open_single_link(&self, file: &Path) -> Result<cap_std::fs::File, Refusal> {
        let (dir, name) = self.parent_of(file)?;
        let mut options = OpenOptions::new();
        options
            .write(true)
            .follow(FollowSymlinks::No)
            // A FIFO swapped in meanwhile must not block the runner.
            .custom_flags(
                (rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32,
            );
        let handle = dir
            .open_with(name, &options)
            .map_err(|e| self.io("open", &e))?;
        let meta = handle.metadata().map_err(|e| self.io("inspect", &e))?;
        if !meta.is_file() {
            return Err(Refusal::Shape(format!(
                "{} is no longer a regular file",
                self.path.join(file).display()
            )));
        }
        if meta.nlink() != 1 {
            return Err(Refusal::Shape(format!(
                "the store file {} has {} hard links (one may be a file outside the store); \
                 the runner never writes through a hard link",
                self.path.join(file).display(),
                meta.nlink()
            )));
        }
        Ok(handle)
    }

    /// The directory holding `file` (each component opened without following links) and the
    /// file's name in it.
    fn parent_of<'a>(&self, file: &'a Path) -> Result<(Dir, &'a Path), Refusal> {
        let missing = || Refusal::Io(format!("{} is gone", self.path.join(file).display()));
        let root = self.dir.as_ref().ok_or_else(missing)?;
        let mut dir = root.try_clone().map_err(|e| self.io("open", &e))?;
        let name = file.file_name().map(Path::new).ok_or_else(missing)?;
        if let Some(parent) = file.parent() {
            for component in parent.components() {
                let Component::Normal(component) = component else {
                    return Err(missing());
                };
                dir = dir
                    .open_dir_nofollow(component)
                    .map_err(|e| self.io("open", &e))?;
            }
        }
        Ok((dir, name))
    }

    fn io(&self, what: &str, error: &io::Error) -> Refusal {
        io_refusal(what, &self.path, error)
    }
}

fn io_refusal(what: &str, path: &Path, error: &io::Error) -> Refusal {
    // ELOOP/ENOTDIR from a no-follow open: a component was swapped for a symlink meanwhile.
    if matches!(
        rustix::io::Errno::from_io_error(error),
        Some(rustix::io::Errno::LOOP) | Some(rustix::io::Errno::NOTDIR)
    ) {
        return Refusal::Shape(format!(
            "a directory inside the store {} was replaced by a symlink; the runner does not follow it",
            path.display()
        ));
    }
    Refusal::Io(format!("cannot {what} inside {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_files() -> (Scratch, Area) {
        let scratch = Scratch::create().expect("scratch");
        let round = scratch.area().create("round", 0o700).expect("round");
        std::fs::create_dir_all(round.path().join("store/secrets")).expect("store");
        std::fs::write(round.path().join("store/meta"), b"meta").expect("meta");
        std::fs::write(round.path().join("store/secrets/a"), b"aaaa").expect("a");
        (scratch, round)
    }

    #[test]
    fn finds_damages_and_removes_files_through_handles() {
        let (_scratch, round) = store_with_files();
        let store = round.store("store").expect("a plain store");
        let files = store.files().expect("listed");
        assert_eq!(files, [PathBuf::from("meta"), PathBuf::from("secrets/a")]);
        assert_eq!(store.len(Path::new("secrets/a")), Ok(4));
        store
            .overwrite(Path::new("meta"), b"xy")
            .expect("overwrite");
        assert_eq!(
            std::fs::read(round.path().join("store/meta")).expect("read"),
            b"xy"
        );
        store.truncate(Path::new("secrets/a"), 1).expect("truncate");
        assert_eq!(
            std::fs::read(round.path().join("store/secrets/a")).expect("read"),
            b"a"
        );
        store.remove(Path::new("secrets/a")).expect("remove");
        assert!(!round.path().join("store/secrets/a").exists());
        assert_eq!(
            round.store("absent").expect("absent").files(),
            Ok(Vec::new())
        );
    }

    #[test]
    fn refuses_a_symlinked_store_and_hard_linked_files_and_cleans_up_without_following() {
        let (_scratch, round) = store_with_files();
        let outside = tempfile::tempdir().expect("outside");
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"precious").expect("victim");

        std::fs::hard_link(&victim, round.path().join("store/secrets/linked")).expect("link");
        let store = round.store("store").expect("store");
        let refused = store
            .overwrite(Path::new("secrets/linked"), b"garbage")
            .expect_err("a hard link is refused");
        assert!(
            matches!(&refused, Refusal::Shape(m) if m.contains("2 hard links")),
            "{refused:?}"
        );
        assert!(matches!(
            store.truncate(Path::new("secrets/linked"), 0),
            Err(Refusal::Shape(_))
        ));

        std::os::unix::fs::symlink(outside.path(), round.path().join("store/secrets/dir-link"))
            .expect("inner dir symlink");
        assert!(matches!(
            store.overwrite(Path::new("secrets/dir-link/victim"), b"garbage"),
            Err(Refusal::Shape(_))
        ));
        assert!(!store
            .files()
            .expect("listed")
            .iter()
            .any(|f| f.starts_with("secrets/dir-link")));

        std::os::unix::fs::symlink(outside.path(), round.path().join("elsewhere"))
            .expect("symlink");
        let refused = round
            .store("elsewhere")
            .expect_err("a symlinked store is refused");
        assert!(matches!(&refused, Refusal::Shape(m) if m.contains("replaced by a symlink")));

        round.remove_all("store").expect("cleanup");
        round.remove_all("elsewhere").expect("cleanup");
        assert_eq!(std::fs::read(&victim).expect("victim intact"), b"precious");
        assert!(outside.path().exists());
    }
}

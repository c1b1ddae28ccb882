//! Test support shared by the core's integration tests: `Fs` wrappers that count handles or
//! answer BUSY, and re-invoking the test binary as a child process (optionally unprivileged).

#![allow(dead_code)] // each test file uses a different subset

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use keyrace_core::{DirEntry, Fs, FsFile, Metadata, OsFs};

/// An [`OsFs`] that counts the handles alive at any moment and can answer BUSY (a Windows
/// sharing violation) to the first `busy` removals.
#[derive(Clone, Default)]
pub struct TestFs {
    live: Arc<AtomicUsize>,
    opened: Arc<AtomicUsize>,
    lookups: Arc<AtomicUsize>,
    busy_left: Arc<AtomicUsize>,
    removals_tried: Arc<AtomicUsize>,
}

impl TestFs {
    /// Removals answer BUSY the first `busy` times, then succeed.
    pub fn busy(busy: usize) -> TestFs {
        let fs = TestFs::default();
        fs.busy_left.store(busy, Ordering::SeqCst);
        fs
    }
    pub fn live_handles(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
    /// Opens attempted, successful or not.
    pub fn opened_handles(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }
    /// `lstat` calls made.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
    pub fn removals_tried(&self) -> usize {
        self.removals_tried.load(Ordering::SeqCst)
    }
    fn track(&self, file: io::Result<<OsFs as Fs>::File>) -> io::Result<CountedFile> {
        self.opened.fetch_add(1, Ordering::SeqCst);
        let file = file?;
        self.live.fetch_add(1, Ordering::SeqCst);
        Ok(CountedFile {
            inner: file,
            live: Arc::clone(&self.live),
        })
    }
    fn removal(&self) -> io::Result<()> {
        self.removals_tried.fetch_add(1, Ordering::SeqCst);
        let busy = self
            .busy_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if busy {
            Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                "sharing violation (simulated)",
            ))
        } else {
            Ok(())
        }
    }
}

pub struct CountedFile {
    inner: <OsFs as Fs>::File,
    live: Arc<AtomicUsize>,
}

impl Drop for CountedFile {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Read for CountedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for CountedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl FsFile for CountedFile {
    fn sync_all(&mut self) -> io::Result<()> {
        self.inner.sync_all()
    }
    fn metadata(&self) -> io::Result<Metadata> {
        self.inner.metadata()
    }
}

impl Fs for TestFs {
    type File = CountedFile;
    fn create_new(&self, path: &Path, mode: u32) -> io::Result<CountedFile> {
        self.track(OsFs.create_new(path, mode))
    }
    fn open_truncate(&self, path: &Path, mode: u32) -> io::Result<CountedFile> {
        self.track(OsFs.open_truncate(path, mode))
    }
    fn open_read(&self, path: &Path) -> io::Result<CountedFile> {
        self.track(OsFs.open_read(path))
    }
    fn link_noreplace(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsFs.link_noreplace(from, to)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.removal()?;
        OsFs.remove_file(path)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        self.removal()?;
        OsFs.remove_dir(path)
    }
    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        OsFs.create_dir(path, mode)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        OsFs.read_dir(path)
    }
    fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        OsFs.symlink_metadata(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        OsFs.sync_dir(path)
    }
    fn process_uid(&self) -> Option<u32> {
        OsFs.process_uid()
    }
}

/// The uid/gid of `nobody`, used to drop privileges in child processes when tests run as root
/// (root ignores file modes, so "unreadable" and "unwritable" need another user).
pub const NOBODY: u32 = 65534;

pub fn running_as_root() -> bool {
    rustix::process::getuid().is_root()
}

/// A command that re-runs this test binary's `entry` test (an `#[ignore]`d child entry point).
pub fn child_command(entry: &str) -> Command {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = Command::new(exe);
    command.args([
        entry,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]);
    command
}

/// Run `entry` as a child, unprivileged when we are root; returns its output.
pub fn run_child_unprivileged(entry: &str, envs: &[(&str, &Path)]) -> Output {
    let mut command = child_command(entry);
    for (name, value) in envs {
        command.env(name, value);
    }
    if running_as_root() {
        use std::os::unix::process::CommandExt;
        command.uid(NOBODY).gid(NOBODY);
    }
    command.output().expect("spawn child test process")
}

/// Read the child's result line `RESULT <text>` from its stdout.
pub fn child_result(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            panic!(
                "child printed no RESULT line; status {:?}\nstdout:\n{stdout}\nstderr:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// The value of a child entry point's environment variable; a child entry point run without
/// its parent fails loudly instead of passing vacuously.
pub fn child_env(name: &str) -> PathBuf {
    std::env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!("{name} is unset: this is a child entry point, run by its parent test")
        })
}

/// Make `path` and its ancestors traversable by other users (tempdirs are 0700).
pub fn open_up(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

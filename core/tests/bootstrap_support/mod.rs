//! Test doubles shared by the bootstrap_* and witness_* tests: a fault-injecting `Fs`, a
//! read-counting head log, failing ledgers, and temp directories.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;

use keyrace_core::bootstrap::{
    BootstrapError, Consumed, GraceLedger, HeadLog, MemoryHeadLog, SignedTreeHead,
};
use keyrace_core::{Fs, FsFile, Metadata, OsFs};

/// A temp dir on tmpfs when there is one: fsync-heavy loops stay fast there.
pub fn fast_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().expect("tempdir")
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected failure: {what}"))
}

/// `OsFs` with switchable faults and a switchable owner uid reported by `lstat`.
#[derive(Default)]
pub struct FaultFs {
    pub fail_create: AtomicBool,
    pub fail_file_sync: AtomicBool,
    pub fail_dir_sync: AtomicBool,
    pub fail_rename: AtomicBool,
    pub fail_remove: AtomicBool,
    pub fail_lstat: AtomicBool,
    /// When `Some`, `lstat` reports this uid as the owner (a foreign-owned file without root).
    pub fake_uid: Mutex<Option<u32>>,
    /// When `Some`, `lstat` reports these permission bits (a filesystem that ignores modes).
    pub fake_mode: Mutex<Option<u32>>,
    /// When `Some`, `open_read` opens this file instead (a swap between `lstat` and open).
    pub open_instead: Mutex<Option<PathBuf>>,
    pub creates: AtomicUsize,
    pub removes: AtomicUsize,
}

impl FaultFs {
    pub fn new() -> FaultFs {
        FaultFs::default()
    }
    pub fn set(flag: &AtomicBool, on: bool) {
        flag.store(on, Ordering::SeqCst);
    }
}

pub struct FaultFile {
    inner: <OsFs as Fs>::File,
    fail_sync: bool,
}

impl Read for FaultFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}
impl Write for FaultFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
impl FsFile for FaultFile {
    fn sync_all(&mut self) -> io::Result<()> {
        if self.fail_sync {
            return Err(injected("fsync file"));
        }
        self.inner.sync_all()
    }
    fn metadata(&self) -> io::Result<Metadata> {
        self.inner.metadata()
    }
}

impl Fs for FaultFs {
    type File = FaultFile;
    fn open_truncate(&self, path: &Path, mode: u32) -> io::Result<FaultFile> {
        Ok(FaultFile {
            inner: OsFs.open_truncate(path, mode)?,
            fail_sync: self.fail_file_sync.load(Ordering::SeqCst),
        })
    }
    fn create_new(&self, path: &Path, mode: u32) -> io::Result<FaultFile> {
        if self.fail_create.load(Ordering::SeqCst) {
            return Err(injected("create"));
        }
        let inner = OsFs.create_new(path, mode)?;
        self.creates.fetch_add(1, Ordering::SeqCst);
        Ok(FaultFile {
            inner,
            fail_sync: self.fail_file_sync.load(Ordering::SeqCst),
        })
    }
    fn open_read(&self, path: &Path) -> io::Result<FaultFile> {
        let instead = self.open_instead.lock().expect("swap lock").clone();
        Ok(FaultFile {
            inner: OsFs.open_read(instead.as_deref().unwrap_or(path))?,
            fail_sync: false,
        })
    }
    fn link_noreplace(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsFs.link_noreplace(from, to)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        if self.fail_rename.load(Ordering::SeqCst) {
            return Err(injected("rename"));
        }
        OsFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        if self.fail_remove.load(Ordering::SeqCst) {
            return Err(injected("remove"));
        }
        self.removes.fetch_add(1, Ordering::SeqCst);
        OsFs.remove_file(path)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        OsFs.remove_dir(path)
    }
    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        OsFs.create_dir(path, mode)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<keyrace_core::DirEntry>> {
        OsFs.read_dir(path)
    }
    fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata> {
        if self.fail_lstat.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "injected lstat",
            ));
        }
        let mut meta = OsFs.symlink_metadata(path)?;
        if let Some(uid) = *self.fake_uid.lock().expect("uid lock") {
            meta.uid = Some(uid);
        }
        if let Some(mode) = *self.fake_mode.lock().expect("mode lock") {
            meta.mode = Some(mode);
        }
        Ok(meta)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        if self.fail_dir_sync.load(Ordering::SeqCst) {
            return Err(injected("fsync dir"));
        }
        OsFs.sync_dir(path)
    }
    fn process_uid(&self) -> Option<u32> {
        OsFs.process_uid()
    }
}

/// A head log that counts reads of the current head and can fail them.
#[derive(Default)]
pub struct CountingLog {
    pub inner: MemoryHeadLog,
    pub current_reads: AtomicU32,
    pub held_reads: AtomicU32,
    pub fail: AtomicBool,
}

impl CountingLog {
    pub fn new() -> CountingLog {
        CountingLog::default()
    }
    pub fn reads(&self) -> u32 {
        self.current_reads.load(Ordering::SeqCst)
    }
}

impl HeadLog for CountingLog {
    fn current(&self) -> Result<Option<SignedTreeHead>, BootstrapError> {
        self.current_reads.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(BootstrapError::HeadLog {
                source: io::Error::other("injected log failure"),
            });
        }
        self.inner.current()
    }
    fn has_held(&self, head: &SignedTreeHead) -> Result<bool, BootstrapError> {
        self.held_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.has_held(head)
    }
}

/// A ledger that counts consumes and can fail them.
#[derive(Default)]
pub struct CountingLedger {
    pub inner: keyrace_core::bootstrap::MemoryLedger,
    pub consumes: AtomicU32,
    pub fail: AtomicBool,
}

impl CountingLedger {
    pub fn consumes(&self) -> u32 {
        self.consumes.load(Ordering::SeqCst)
    }
}

impl GraceLedger for CountingLedger {
    fn try_consume(&self, key_id: &str) -> Result<Consumed, BootstrapError> {
        self.consumes.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(BootstrapError::Ledger {
                what: "record the consumed grace",
                source: io::Error::other("injected ledger failure"),
            });
        }
        self.inner.try_consume(key_id)
    }
}

/// A head with a recognizable prefix.
pub fn head(position: u64, fill: u8) -> SignedTreeHead {
    SignedTreeHead::new(position, [fill; 16])
}

/// Every file name in `dir`.
pub fn names_in(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| PathBuf::from(e.expect("entry").file_name()))
        .collect();
    names.sort();
    names
}

/// `OsFs` that runs `before_rename` just before every rename: the moment a reader can look at
/// the target while a new version is fully written but not yet published.
pub struct HookFs<'a> {
    pub before_rename: &'a (dyn Fn() + Sync),
}

impl Fs for HookFs<'_> {
    type File = <OsFs as Fs>::File;
    fn create_new(&self, path: &Path, mode: u32) -> io::Result<Self::File> {
        OsFs.create_new(path, mode)
    }
    fn open_truncate(&self, path: &Path, mode: u32) -> io::Result<Self::File> {
        OsFs.open_truncate(path, mode)
    }
    fn open_read(&self, path: &Path) -> io::Result<Self::File> {
        OsFs.open_read(path)
    }
    fn link_noreplace(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsFs.link_noreplace(from, to)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        (self.before_rename)();
        OsFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        OsFs.remove_file(path)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        OsFs.remove_dir(path)
    }
    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        OsFs.create_dir(path, mode)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<keyrace_core::DirEntry>> {
        OsFs.read_dir(path)
    }
    fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata> {
        OsFs.symlink_metadata(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        OsFs.sync_dir(path)
    }
    fn process_uid(&self) -> Option<u32> {
        OsFs.process_uid()
    }
}

// ---- transports for the witness client tests ----

use keyrace_core::witness::{Transport, WitnessRequest, WitnessResponse};

/// What a transport saw of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub last_known_head: Option<String>,
    pub body: Vec<u8>,
}

/// Wraps a transport and records every request it forwards.
pub struct Recording<T> {
    pub inner: T,
    pub sent: Mutex<Vec<Sent>>,
}

impl<T> Recording<T> {
    pub fn new(inner: T) -> Recording<T> {
        Recording {
            inner,
            sent: Mutex::new(Vec::new()),
        }
    }
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().expect("sent").clone()
    }
    pub fn headers(&self) -> Vec<Option<String>> {
        self.sent().into_iter().map(|s| s.last_known_head).collect()
    }
    /// Requests that carried no head: bootstrap requests.
    pub fn bootstraps(&self) -> usize {
        self.sent()
            .iter()
            .filter(|s| s.last_known_head.is_none())
            .count()
    }
}

impl<T: Transport> Transport for Recording<T> {
    fn send(&self, request: &WitnessRequest<'_>) -> io::Result<WitnessResponse> {
        self.sent.lock().expect("sent").push(Sent {
            last_known_head: request.last_known_head.clone(),
            body: request.body.to_vec(),
        });
        self.inner.send(request)
    }
}

/// Answers from a script, in order; once the script runs out, a transport error.
pub struct Scripted {
    pub replies: Mutex<std::collections::VecDeque<io::Result<WitnessResponse>>>,
}

impl Scripted {
    pub fn new(replies: Vec<io::Result<WitnessResponse>>) -> Scripted {
        Scripted {
            replies: Mutex::new(replies.into()),
        }
    }
}

impl Transport for Scripted {
    fn send(&self, _request: &WitnessRequest<'_>) -> io::Result<WitnessResponse> {
        self.replies
            .lock()
            .expect("script")
            .pop_front()
            .unwrap_or_else(|| Err(io::Error::other("script exhausted")))
    }
}

pub fn ok_with(head: Option<&str>, body: &[u8]) -> io::Result<WitnessResponse> {
    Ok(WitnessResponse::ok(head.map(str::to_owned), body.to_vec()))
}

pub fn refusal(status: u16, code: Option<&str>, head: Option<&str>) -> io::Result<WitnessResponse> {
    Ok(WitnessResponse::refusal(
        status,
        code,
        head.map(str::to_owned),
        "refused",
    ))
}

pub fn consumed_412(head: Option<&str>) -> io::Result<WitnessResponse> {
    refusal(412, Some("BOOTSTRAP_ALREADY_CONSUMED"), head)
}

pub fn divergence_409(head: Option<&str>) -> io::Result<WitnessResponse> {
    refusal(409, Some("DIVERGENCE"), head)
}

pub fn transport_down() -> io::Result<WitnessResponse> {
    Err(io::Error::new(
        io::ErrorKind::ConnectionRefused,
        "connection refused",
    ))
}

impl CountingLog {
    /// The newest head, read without counting.
    pub fn inner_current(&self) -> Option<SignedTreeHead> {
        self.inner.current().expect("memory log")
    }
}

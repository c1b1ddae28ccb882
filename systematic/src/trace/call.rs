//! One stopped file-system call, decoded from the tracee's registers (x86_64 Linux): which
//! call, its arguments, and the paths it names, resolved against the tracee's working
//! directory and directory descriptors through `/proc`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use nix::libc;
use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

/// What a descriptor argument refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdTarget {
    Path(PathBuf),
    /// A pipe, by inode: how the tracer recognises an actor's reply channel.
    Pipe(u64),
    Other,
}

/// The kinds of calls the tracer tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Open,
    Close,
    Write,
    Rename,
    Link,
    Symlink,
    Unlink,
    Mkdir,
    Rmdir,
    Fsync,
    SyncAll,
    Truncate,
    Ftruncate,
    Fallocate,
    Flock,
    FcntlLock,
    /// A shared writable mapping: its writes are invisible to the tracer.
    Mmap,
    /// copy_file_range, sendfile: writes the tracer does not record.
    Splice,
    /// stat, access, readlink and friends on a path: a check.
    Stat,
    /// getdents64: a directory listing.
    List,
    Other,
}

impl Kind {
    /// Whether the call changes what other processes see: a name or a file's data.
    pub fn changes_something(self) -> bool {
        matches!(
            self,
            Kind::Write
                | Kind::Rename
                | Kind::Link
                | Kind::Symlink
                | Kind::Unlink
                | Kind::Mkdir
                | Kind::Rmdir
                | Kind::Truncate
                | Kind::Ftruncate
                | Kind::Fallocate
        )
    }
}

#[derive(Debug, Clone)]
pub struct Call {
    pub tid: Pid,
    pub nr: i64,
    pub kind: Kind,
    pub args: [u64; 6],
    /// The paths the call names (the source first), absolute and lexically normalised.
    pub paths: Vec<PathBuf>,
    /// The descriptor the call acts on, and what it refers to.
    pub fd: Option<(i32, FdTarget)>,
    /// open flags (with `creat` as `O_CREAT|O_WRONLY|O_TRUNC`).
    pub open_flags: u64,
    /// What a `flock` or `fcntl` lock call asks for.
    pub lock: Option<Lock>,
}

/// A lock request: its mode, and for a record lock its byte range (`start`, `len`; 0 is to
/// the end of the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub mode: LockMode,
    pub range: Option<(i64, i64)>,
    /// A record lock (`fcntl`), not a `flock`: the two kinds never conflict with each other.
    pub record: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
    Unlock,
}

impl Lock {
    /// A `flock(2)` operation.
    fn of_flock(operation: u64) -> Option<Lock> {
        let operation = operation as i32 & !libc::LOCK_NB;
        let mode = match operation {
            libc::LOCK_SH => LockMode::Shared,
            libc::LOCK_EX => LockMode::Exclusive,
            libc::LOCK_UN => LockMode::Unlock,
            _ => return None,
        };
        Some(Lock {
            mode,
            range: None,
            record: false,
        })
    }

    /// The `struct flock` of an `fcntl(2)` lock command, read from the tracee.
    fn of_fcntl(tid: Pid, addr: u64) -> Option<Lock> {
        use std::mem::{offset_of, size_of};
        let bytes = read_memory(tid, addr, size_of::<libc::flock>());
        let short = |at: usize| Some(i16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
        let long = |at: usize| Some(i64::from_ne_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
        let mode = match i32::from(short(offset_of!(libc::flock, l_type))?) {
            libc::F_RDLCK => LockMode::Shared,
            libc::F_WRLCK => LockMode::Exclusive,
            libc::F_UNLCK => LockMode::Unlock,
            _ => return None,
        };
        // A range relative to the offset or the end is not known here.
        let range = if i32::from(short(offset_of!(libc::flock, l_whence))?) == libc::SEEK_SET {
            Some((
                long(offset_of!(libc::flock, l_start))?,
                long(offset_of!(libc::flock, l_len))?,
            ))
        } else {
            None
        };
        Some(Lock {
            mode,
            range,
            record: true,
        })
    }

    /// For a trace line: `exclusive`, `shared 120+1`, `unlock 0+0`.
    fn describe(&self) -> String {
        let mode = match self.mode {
            LockMode::Shared => "shared",
            LockMode::Exclusive => "exclusive",
            LockMode::Unlock => "unlock",
        };
        match self.range {
            Some((start, len)) => format!("{mode} {start}+{len}"),
            None => mode.to_owned(),
        }
    }
}

impl Call {
    pub(crate) fn decode(tid: Pid, regs: &libc::user_regs_struct) -> Call {
        let nr = regs.orig_rax as i64;
        let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9];
        let mut call = Call {
            tid,
            nr,
            kind: Kind::Other,
            args,
            paths: Vec::new(),
            fd: None,
            open_flags: 0,
            lock: None,
        };
        let cwd = libc::AT_FDCWD as u64;
        // (dirfd, path pointer) of each path argument, and the descriptor argument.
        let (kind, paths, fd): (Kind, Vec<(u64, u64)>, Option<u64>) = match nr {
            libc::SYS_open => {
                call.open_flags = args[1];
                (Kind::Open, vec![(cwd, args[0])], None)
            }
            libc::SYS_creat => {
                call.open_flags = (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64;
                (Kind::Open, vec![(cwd, args[0])], None)
            }
            libc::SYS_openat => {
                call.open_flags = args[2];
                (Kind::Open, vec![(args[0], args[1])], None)
            }
            libc::SYS_openat2 => {
                // struct open_how starts with the u64 flags.
                call.open_flags = read_u64(tid, args[2]).unwrap_or(0);
                (Kind::Open, vec![(args[0], args[1])], None)
            }
            libc::SYS_rename => (Kind::Rename, vec![(cwd, args[0]), (cwd, args[1])], None),
            libc::SYS_renameat | libc::SYS_renameat2 => (
                Kind::Rename,
                vec![(args[0], args[1]), (args[2], args[3])],
                None,
            ),
            libc::SYS_link => (Kind::Link, vec![(cwd, args[0]), (cwd, args[1])], None),
            libc::SYS_linkat => (
                Kind::Link,
                vec![(args[0], args[1]), (args[2], args[3])],
                None,
            ),
            libc::SYS_symlink => (Kind::Symlink, vec![(cwd, args[1])], None),
            libc::SYS_symlinkat => (Kind::Symlink, vec![(args[1], args[2])], None),
            libc::SYS_unlink => (Kind::Unlink, vec![(cwd, args[0])], None),
            libc::SYS_unlinkat if args[2] & libc::AT_REMOVEDIR as u64 != 0 => {
                (Kind::Rmdir, vec![(args[0], args[1])], None)
            }
            libc::SYS_unlinkat => (Kind::Unlink, vec![(args[0], args[1])], None),
            libc::SYS_mkdir => (Kind::Mkdir, vec![(cwd, args[0])], None),
            libc::SYS_mkdirat => (Kind::Mkdir, vec![(args[0], args[1])], None),
            libc::SYS_rmdir => (Kind::Rmdir, vec![(cwd, args[0])], None),
            libc::SYS_truncate => (Kind::Truncate, vec![(cwd, args[0])], None),
            libc::SYS_close => (Kind::Close, vec![], Some(args[0])),
            libc::SYS_write
            | libc::SYS_writev
            | libc::SYS_pwrite64
            | libc::SYS_pwritev
            | libc::SYS_pwritev2 => (Kind::Write, vec![], Some(args[0])),
            libc::SYS_fsync | libc::SYS_fdatasync | libc::SYS_sync_file_range => {
                (Kind::Fsync, vec![], Some(args[0]))
            }
            libc::SYS_syncfs | libc::SYS_sync => (Kind::SyncAll, vec![], None),
            libc::SYS_ftruncate => (Kind::Ftruncate, vec![], Some(args[0])),
            libc::SYS_fallocate => (Kind::Fallocate, vec![], Some(args[0])),
            libc::SYS_flock => {
                call.lock = Lock::of_flock(args[1]);
                (Kind::Flock, vec![], Some(args[0]))
            }
            libc::SYS_fcntl => {
                // The filter stops only the lock commands, whose third argument is a flock.
                call.lock = Lock::of_fcntl(tid, args[2]);
                (Kind::FcntlLock, vec![], Some(args[0]))
            }
            libc::SYS_mmap => (Kind::Mmap, vec![], Some(args[4])),
            libc::SYS_stat | libc::SYS_lstat | libc::SYS_access | libc::SYS_readlink => {
                (Kind::Stat, vec![(cwd, args[0])], None)
            }
            // With AT_EMPTY_PATH these are an fstat of a descriptor: not a check of a name.
            libc::SYS_newfstatat if args[3] & libc::AT_EMPTY_PATH as u64 != 0 => {
                (Kind::Other, vec![], None)
            }
            libc::SYS_statx if args[2] & libc::AT_EMPTY_PATH as u64 != 0 => {
                (Kind::Other, vec![], None)
            }
            libc::SYS_newfstatat
            | libc::SYS_statx
            | libc::SYS_faccessat
            | libc::SYS_faccessat2
            | libc::SYS_readlinkat => (Kind::Stat, vec![(args[0], args[1])], None),
            libc::SYS_getdents64 => (Kind::List, vec![], Some(args[0])),
            libc::SYS_copy_file_range => (Kind::Splice, vec![], Some(args[2])),
            libc::SYS_sendfile => (Kind::Splice, vec![], Some(args[0])),
            _ => (Kind::Other, vec![], None),
        };
        call.kind = kind;
        call.paths = paths
            .into_iter()
            .filter_map(|(dirfd, ptr)| resolve(tid, dirfd as i32, &read_path(tid, ptr)?))
            .collect();
        call.fd = fd.map(|fd| (fd as i32, fd_target(tid, fd as i32)));
        call
    }

    /// Whether another process can observe the call's effect (or be blocked by it): the
    /// calls an interleaving orders. fsync and close change nothing another process sees
    /// (close's lock release happens right after the actor's previous visible call, while it
    /// alone runs), and a directory opened for fsync observes nothing.
    pub fn is_visible(&self) -> bool {
        match self.kind {
            Kind::Open => self.open_flags & libc::O_DIRECTORY as u64 == 0,
            Kind::Flock | Kind::FcntlLock | Kind::Stat | Kind::List => true,
            Kind::Close | Kind::Fsync | Kind::SyncAll | Kind::Mmap | Kind::Splice | Kind::Other => {
                false
            }
            kind => kind.changes_something(),
        }
    }

    /// Whether it tries to acquire something another process may hold (a lock, a lock file
    /// created exclusively): a store retries such a call until the holder lets go, with other
    /// calls in between. (A `mkdir` or `link` that finds its name taken is more often a
    /// directory that exists than a lock.)
    pub fn is_acquire(&self) -> bool {
        match self.kind {
            Kind::Flock | Kind::FcntlLock => {
                self.lock.is_some_and(|lock| lock.mode != LockMode::Unlock)
            }
            Kind::Open => {
                let exclusive = (libc::O_CREAT | libc::O_EXCL) as u64;
                self.open_flags & exclusive == exclusive
            }
            _ => false,
        }
    }

    /// The system call's name, for traces.
    pub fn name(&self) -> &'static str {
        match self.nr {
            libc::SYS_open => "open",
            libc::SYS_openat => "openat",
            libc::SYS_openat2 => "openat2",
            libc::SYS_creat => "creat",
            libc::SYS_close => "close",
            libc::SYS_write => "write",
            libc::SYS_writev => "writev",
            libc::SYS_pwrite64 => "pwrite64",
            libc::SYS_pwritev => "pwritev",
            libc::SYS_pwritev2 => "pwritev2",
            libc::SYS_rename => "rename",
            libc::SYS_renameat => "renameat",
            libc::SYS_renameat2 => "renameat2",
            libc::SYS_link => "link",
            libc::SYS_linkat => "linkat",
            libc::SYS_symlink => "symlink",
            libc::SYS_symlinkat => "symlinkat",
            libc::SYS_unlink => "unlink",
            libc::SYS_unlinkat => "unlinkat",
            libc::SYS_mkdir => "mkdir",
            libc::SYS_mkdirat => "mkdirat",
            libc::SYS_rmdir => "rmdir",
            libc::SYS_fsync => "fsync",
            libc::SYS_fdatasync => "fdatasync",
            libc::SYS_sync_file_range => "sync_file_range",
            libc::SYS_sync => "sync",
            libc::SYS_syncfs => "syncfs",
            libc::SYS_truncate => "truncate",
            libc::SYS_ftruncate => "ftruncate",
            libc::SYS_fallocate => "fallocate",
            libc::SYS_flock => "flock",
            libc::SYS_fcntl => "fcntl",
            libc::SYS_mmap => "mmap",
            libc::SYS_copy_file_range => "copy_file_range",
            libc::SYS_sendfile => "sendfile",
            libc::SYS_stat => "stat",
            libc::SYS_lstat => "lstat",
            libc::SYS_newfstatat => "newfstatat",
            libc::SYS_statx => "statx",
            libc::SYS_access => "access",
            libc::SYS_faccessat => "faccessat",
            libc::SYS_faccessat2 => "faccessat2",
            libc::SYS_readlink => "readlink",
            libc::SYS_readlinkat => "readlinkat",
            libc::SYS_getdents64 => "getdents64",
            _ => "syscall",
        }
    }

    /// Whether the call acts on something under `scope` (a path it names, or the file its
    /// descriptor refers to). `sync` acts on everything.
    pub fn touches(&self, scope: &Path) -> bool {
        self.kind == Kind::SyncAll
            || self.paths.iter().any(|p| p.starts_with(scope))
            || matches!(&self.fd, Some((_, FdTarget::Path(p))) if p.starts_with(scope))
    }

    /// The call for a trace line, paths shown relative to `scope`: `renameat
    /// secrets/.tmp-1 → secrets/6b`, `fsync secrets`, `write key (32 bytes)`.
    pub fn describe(&self, scope: &Path) -> String {
        let show = |p: &Path| match p.strip_prefix(scope) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => p.display().to_string(),
        };
        let mut text = self.name().to_owned();
        if !self.paths.is_empty() {
            let shown: Vec<String> = self.paths.iter().map(|p| show(p)).collect();
            text.push(' ');
            text.push_str(&shown.join(" → "));
        }
        if let Some((_, FdTarget::Path(p))) = &self.fd {
            text.push(' ');
            text.push_str(&show(p));
        }
        if self.kind == Kind::Open {
            let mut flags = Vec::new();
            for (bit, name) in [
                (libc::O_CREAT, "O_CREAT"),
                (libc::O_EXCL, "O_EXCL"),
                (libc::O_TRUNC, "O_TRUNC"),
                (libc::O_APPEND, "O_APPEND"),
            ] {
                if self.open_flags & bit as u64 != 0 {
                    flags.push(name);
                }
            }
            if !flags.is_empty() {
                text.push(' ');
                text.push_str(&flags.join("|"));
            }
        }
        if let Some(lock) = &self.lock {
            text.push(' ');
            text.push_str(&lock.describe());
        }
        if self.nr == libc::SYS_write || self.nr == libc::SYS_pwrite64 {
            text.push_str(&format!(" ({} bytes)", self.args[2]));
        }
        text
    }
}

/// Read `len` bytes of the tracee's memory at `addr`, page by page so a string that ends
/// near an unmapped page still reads. Short if the memory ends.
pub(crate) fn read_memory(tid: Pid, addr: u64, len: usize) -> Vec<u8> {
    const PAGE: u64 = 4096;
    let mut out = Vec::with_capacity(len);
    let mut at = addr;
    while out.len() < len {
        let in_page = (PAGE - at % PAGE) as usize;
        let want = in_page.min(len - out.len());
        let start = out.len();
        out.resize(start + want, 0);
        let got = {
            let mut local = [std::io::IoSliceMut::new(&mut out[start..])];
            let remote = [RemoteIoVec {
                base: at as usize,
                len: want,
            }];
            process_vm_readv(tid, &mut local, &remote).unwrap_or(0)
        };
        out.truncate(start + got);
        if got < want {
            break;
        }
        at += got as u64;
    }
    out
}

fn read_u64(tid: Pid, addr: u64) -> Option<u64> {
    let bytes: [u8; 8] = read_memory(tid, addr, 8).try_into().ok()?;
    Some(u64::from_ne_bytes(bytes))
}

/// A NUL-terminated path argument (at most `PATH_MAX` bytes).
fn read_path(tid: Pid, addr: u64) -> Option<PathBuf> {
    if addr == 0 {
        return None;
    }
    let mut bytes = Vec::new();
    let mut at = addr;
    while bytes.len() < libc::PATH_MAX as usize {
        let chunk = read_memory(tid, at, 256);
        if chunk.is_empty() {
            return None;
        }
        if let Some(end) = chunk.iter().position(|&b| b == 0) {
            bytes.extend_from_slice(&chunk[..end]);
            return Some(PathBuf::from(OsString::from_vec(bytes)));
        }
        at += chunk.len() as u64;
        bytes.extend_from_slice(&chunk);
    }
    None
}

/// `path` as the tracee means it: relative paths against `dirfd` (or the working directory),
/// then `.` and `..` removed lexically.
fn resolve(tid: Pid, dirfd: i32, path: &Path) -> Option<PathBuf> {
    // The tracee's /proc/self is not the runner's.
    let own = |rest: &Path| PathBuf::from(format!("/proc/{tid}")).join(rest);
    let full = if let Ok(rest) = path
        .strip_prefix("/proc/self")
        .or_else(|_| path.strip_prefix("/proc/thread-self"))
    {
        own(rest)
    } else if path.is_absolute() {
        path.to_path_buf()
    } else {
        let base = if dirfd == libc::AT_FDCWD {
            std::fs::read_link(format!("/proc/{tid}/cwd")).ok()?
        } else {
            std::fs::read_link(format!("/proc/{tid}/fd/{dirfd}")).ok()?
        };
        base.join(path)
    };
    Some(normalise(&full))
}

pub(crate) fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

pub(crate) fn fd_target(tid: Pid, fd: i32) -> FdTarget {
    let Ok(link) = std::fs::read_link(format!("/proc/{tid}/fd/{fd}")) else {
        return FdTarget::Other;
    };
    let text = link.to_string_lossy();
    if let Some(inode) = text
        .strip_prefix("pipe:[")
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
    {
        return FdTarget::Pipe(inode);
    }
    if link.is_absolute() {
        let path = text
            .strip_suffix(" (deleted)")
            .map_or(link.clone(), PathBuf::from);
        return FdTarget::Path(normalise(&path));
    }
    FdTarget::Other
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;

    fn regs(nr: i64, args: [u64; 6]) -> libc::user_regs_struct {
        libc::user_regs_struct {
            orig_rax: nr as u64,
            rdi: args[0],
            rsi: args[1],
            rdx: args[2],
            r10: args[3],
            r8: args[4],
            r9: args[5],
            r15: 0,
            r14: 0,
            r13: 0,
            r12: 0,
            rbp: 0,
            rbx: 0,
            r11: 0,
            rax: 0,
            rcx: 0,
            rip: 0,
            cs: 0,
            eflags: 0,
            rsp: 0,
            ss: 0,
            fs_base: 0,
            gs_base: 0,
            ds: 0,
            es: 0,
            fs: 0,
            gs: 0,
        }
    }

    /// The call as if this process made it: its own memory holds the arguments, and its
    /// working directory and descriptors are the tracee's.
    fn decode(nr: i64, args: [u64; 6]) -> Call {
        Call::decode(Pid::this(), &regs(nr, args))
    }

    fn ptr(s: &CString) -> u64 {
        s.as_ptr() as u64
    }

    fn c(path: impl AsRef<Path>) -> CString {
        CString::new(path.as_ref().as_os_str().as_encoded_bytes()).unwrap()
    }

    const CWD: u64 = libc::AT_FDCWD as u64;

    #[test]
    fn a_relative_path_resolves_against_the_working_directory_then_lexically() {
        let path = c("a/./b/../c");
        let cwd = std::env::current_dir().unwrap();
        let open = decode(libc::SYS_open, [ptr(&path), 0, 0, 0, 0, 0]);
        assert_eq!(open.kind, Kind::Open);
        assert_eq!(open.paths, [cwd.join("a/c")]);
        let openat = decode(libc::SYS_openat, [CWD, ptr(&path), 0, 0, 0, 0]);
        assert_eq!(openat.paths, [cwd.join("a/c")]);
    }

    #[test]
    fn a_relative_path_resolves_against_its_directory_descriptor() {
        let temp = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(temp.path()).unwrap();
        std::fs::create_dir(real.join("sub")).unwrap();
        let dir = std::fs::File::open(real.join("sub")).unwrap();
        let dirfd = dir.as_raw_fd() as u64;
        let (from, to) = (c("../x"), c("y/./z"));
        let rename = decode(
            libc::SYS_renameat2,
            [dirfd, ptr(&from), CWD, ptr(&to), 0, 0],
        );
        assert_eq!(rename.kind, Kind::Rename);
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(rename.paths, [real.join("x"), cwd.join("y/z")]);

        let (target, link) = (c("t"), c("l"));
        let linkat = decode(
            libc::SYS_linkat,
            [dirfd, ptr(&target), dirfd, ptr(&link), 0, 0],
        );
        assert_eq!(linkat.kind, Kind::Link);
        assert_eq!(linkat.paths, [real.join("sub/t"), real.join("sub/l")]);

        // An absolute path ignores the descriptor, even one that is not open.
        let absolute = c("/etc/../tmp//k");
        let open = decode(libc::SYS_openat, [999_999, ptr(&absolute), 0, 0, 0, 0]);
        assert_eq!(open.paths, [PathBuf::from("/tmp/k")]);
    }

    #[test]
    fn proc_self_names_the_tracee_not_the_runner() {
        let pid = Pid::this();
        for (named, meant) in [
            ("/proc/self/fd/3", format!("/proc/{pid}/fd/3")),
            ("/proc/thread-self/cwd", format!("/proc/{pid}/cwd")),
            ("/proc/self/../1/root", "/proc/1/root".to_owned()),
            ("/proc/selfish/x", "/proc/selfish/x".to_owned()),
        ] {
            let path = c(named);
            let call = decode(libc::SYS_unlink, [ptr(&path), 0, 0, 0, 0, 0]);
            assert_eq!(call.paths, [PathBuf::from(meant)], "{named}");
        }
    }

    #[test]
    fn symlinks_are_named_not_followed_but_a_descriptor_is_where_it_points() {
        let temp = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(temp.path()).unwrap();
        std::fs::create_dir(real.join("target")).unwrap();
        std::os::unix::fs::symlink(real.join("target"), real.join("link")).unwrap();
        // The kernel resolved the link when the directory was opened.
        let through_link = std::fs::File::open(real.join("link")).unwrap();
        let f = c("f");
        let call = decode(
            libc::SYS_openat,
            [through_link.as_raw_fd() as u64, ptr(&f), 0, 0, 0, 0],
        );
        assert_eq!(call.paths, [real.join("target/f")]);
        // A link in the path itself is kept as named: unlink and rename act on the link.
        let named = c(real.join("link/f"));
        let call = decode(libc::SYS_unlink, [ptr(&named), 0, 0, 0, 0, 0]);
        assert_eq!(call.paths, [real.join("link/f")]);
        let last = c(real.join("target/../link"));
        let call = decode(libc::SYS_unlink, [ptr(&last), 0, 0, 0, 0, 0]);
        assert_eq!(call.paths, [real.join("link")]);
    }

    #[test]
    fn each_call_kind_carries_its_paths_descriptor_and_flags() {
        let temp = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(temp.path()).unwrap();
        let file = std::fs::File::create(real.join("file")).unwrap();
        let fd = file.as_raw_fd() as u64;
        let path = c(real.join("p"));
        let p = ptr(&path);
        let how = (libc::O_CREAT | libc::O_EXCL) as u64;
        let open_how = [how, 0o600, 0];
        // (call, arguments, kind, paths, the descriptor's file)
        type Case<'a> = (i64, [u64; 6], Kind, &'a [&'a str], Option<&'a str>);
        let cases: [Case<'_>; 12] = [
            (
                libc::SYS_creat,
                [p, 0o600, 0, 0, 0, 0],
                Kind::Open,
                &["p"],
                None,
            ),
            (
                libc::SYS_openat2,
                [CWD, p, open_how.as_ptr() as u64, 24, 0, 0],
                Kind::Open,
                &["p"],
                None,
            ),
            (
                libc::SYS_unlinkat,
                [CWD, p, libc::AT_REMOVEDIR as u64, 0, 0, 0],
                Kind::Rmdir,
                &["p"],
                None,
            ),
            (
                libc::SYS_unlinkat,
                [CWD, p, 0, 0, 0, 0],
                Kind::Unlink,
                &["p"],
                None,
            ),
            (
                libc::SYS_mkdirat,
                [CWD, p, 0o700, 0, 0, 0],
                Kind::Mkdir,
                &["p"],
                None,
            ),
            (
                libc::SYS_pwrite64,
                [fd, 0, 0, 0, 0, 0],
                Kind::Write,
                &[],
                Some("file"),
            ),
            (
                libc::SYS_fdatasync,
                [fd, 0, 0, 0, 0, 0],
                Kind::Fsync,
                &[],
                Some("file"),
            ),
            (
                libc::SYS_ftruncate,
                [fd, 8, 0, 0, 0, 0],
                Kind::Ftruncate,
                &[],
                Some("file"),
            ),
            (
                libc::SYS_syncfs,
                [fd, 0, 0, 0, 0, 0],
                Kind::SyncAll,
                &[],
                None,
            ),
            (
                libc::SYS_newfstatat,
                [CWD, p, 0, libc::AT_SYMLINK_NOFOLLOW as u64, 0, 0],
                Kind::Stat,
                &["p"],
                None,
            ),
            // With AT_EMPTY_PATH it is an fstat of the descriptor: no name is checked.
            (
                libc::SYS_newfstatat,
                [fd, p, 0, libc::AT_EMPTY_PATH as u64, 0, 0],
                Kind::Other,
                &[],
                None,
            ),
            (libc::SYS_getpid, [0; 6], Kind::Other, &[], None),
        ];
        for (nr, args, kind, paths, fd_path) in cases {
            let call = decode(nr, args);
            let name = call.name();
            assert_eq!(call.kind, kind, "{name}");
            let want: Vec<PathBuf> = paths.iter().map(|p| real.join(p)).collect();
            assert_eq!(call.paths, want, "{name}");
            let want_fd = fd_path.map(|p| (fd as i32, FdTarget::Path(real.join(p))));
            assert_eq!(call.fd, want_fd, "{name}");
        }
        let creat = decode(libc::SYS_creat, [p, 0o600, 0, 0, 0, 0]);
        assert_eq!(
            creat.open_flags,
            (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64
        );
        let openat2 = decode(
            libc::SYS_openat2,
            [CWD, p, open_how.as_ptr() as u64, 24, 0, 0],
        );
        assert_eq!(openat2.open_flags, how);
        assert_eq!(
            openat2.describe(&real),
            "openat2 p O_CREAT|O_EXCL",
            "flags shown by name"
        );
    }

    #[test]
    fn a_descriptor_is_a_path_a_pipe_or_other() {
        let temp = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(temp.path()).unwrap();
        let pid = Pid::this();
        let file = std::fs::File::create(real.join("kept")).unwrap();
        assert_eq!(
            fd_target(pid, file.as_raw_fd()),
            FdTarget::Path(real.join("kept"))
        );
        // An unlinked file still names where it was (without the kernel's " (deleted)").
        let gone = std::fs::File::create(real.join("gone")).unwrap();
        std::fs::remove_file(real.join("gone")).unwrap();
        assert_eq!(
            fd_target(pid, gone.as_raw_fd()),
            FdTarget::Path(real.join("gone"))
        );
        let (read, _write) = nix::unistd::pipe().unwrap();
        let inode = std::fs::metadata(format!("/proc/self/fd/{}", read.as_raw_fd()))
            .unwrap()
            .ino();
        assert_eq!(fd_target(pid, read.as_raw_fd()), FdTarget::Pipe(inode));
        let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(fd_target(pid, socket.as_raw_fd()), FdTarget::Other);
        assert_eq!(fd_target(pid, 999_999), FdTarget::Other);
    }

    #[test]
    fn describe_shows_paths_relative_to_the_scope() {
        let temp = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(temp.path()).unwrap();
        let (from, to) = (c(real.join("secrets/.tmp-1")), c(real.join("secrets/6b")));
        let rename = decode(libc::SYS_rename, [ptr(&from), ptr(&to), 0, 0, 0, 0]);
        assert_eq!(rename.describe(&real), "rename secrets/.tmp-1 → secrets/6b");
        assert!(rename.touches(&real.join("secrets")));
        assert!(!rename.touches(&real.join("secret")));
        let dir = std::fs::File::open(&real).unwrap();
        let fsync = decode(libc::SYS_fsync, [dir.as_raw_fd() as u64, 0, 0, 0, 0, 0]);
        assert_eq!(fsync.describe(&real), "fsync .");
        let outside = c("/elsewhere/x");
        let unlink = decode(libc::SYS_unlink, [ptr(&outside), 0, 0, 0, 0, 0]);
        assert_eq!(unlink.describe(&real), "unlink /elsewhere/x");
    }

    #[test]
    fn normalise_never_climbs_above_the_root() {
        assert_eq!(normalise(Path::new("/../a/../../b/.")), Path::new("/b"));
        assert_eq!(normalise(Path::new("/a//b/")), Path::new("/a/b"));
    }
}

//! The seccomp filters a traced adapter runs under: file-system calls stop for the tracer
//! (`SECCOMP_RET_TRACE`), everything else runs at full speed, and `io_uring_setup` fails with
//! `ENOSYS` so runtimes fall back to system calls the tracer sees.

use std::collections::BTreeMap;

use nix::libc;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Calls that stop at the tracer. Reads are left out: the open before a read is the point
/// where the order between processes matters, and reads are most of an interpreter's start.
/// `fstat` is left out too (it looks at a file already opened), and `close`: it changes
/// nothing another process sees but a lock's release, which happens while its actor runs.
const TRACED: &[i64] = &[
    libc::SYS_open,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_creat,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_pwrite64,
    libc::SYS_pwritev,
    libc::SYS_pwritev2,
    libc::SYS_rename,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_link,
    libc::SYS_linkat,
    libc::SYS_symlink,
    libc::SYS_symlinkat,
    libc::SYS_unlink,
    libc::SYS_unlinkat,
    libc::SYS_mkdir,
    libc::SYS_mkdirat,
    libc::SYS_rmdir,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_sync_file_range,
    libc::SYS_sync,
    libc::SYS_syncfs,
    libc::SYS_truncate,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_flock,
    libc::SYS_copy_file_range,
    libc::SYS_sendfile,
    // Checks: the "check" of a check-then-act (does the key file exist?) must be ordered too.
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_access,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlink,
    libc::SYS_readlinkat,
    libc::SYS_getdents64,
];

/// The two filters, compiled before the fork (the child only installs them).
pub(crate) struct Filters {
    deny: BpfProgram,
    trace: BpfProgram,
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    action: SeccompAction,
) -> Result<BpfProgram, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("no seccomp filter for this architecture ({e})"))?;
    SeccompFilter::new(rules, SeccompAction::Allow, action, arch)
        .and_then(TryInto::try_into)
        .map_err(|e| format!("cannot build the seccomp filter ({e})"))
}

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, String> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| format!("cannot build a seccomp condition ({e})"))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, String> {
    SeccompRule::new(conditions).map_err(|e| format!("cannot build a seccomp rule ({e})"))
}

impl Filters {
    pub(crate) fn build() -> Result<Filters, String> {
        let mut traced: BTreeMap<i64, Vec<SeccompRule>> =
            TRACED.iter().map(|&nr| (nr, Vec::new())).collect();
        // Only the lock commands of fcntl: F_GETFL and friends are everywhere.
        let lock_commands = [
            libc::F_SETLK,
            libc::F_SETLKW,
            libc::F_OFD_SETLK,
            libc::F_OFD_SETLKW,
        ];
        let fcntl = lock_commands
            .iter()
            .map(|&cmd| rule(vec![condition(1, SeccompCmpOp::Eq, cmd as u64)?]))
            .collect::<Result<Vec<_>, _>>()?;
        traced.insert(libc::SYS_fcntl, fcntl);
        // Only shared writable mappings of a file: their writes bypass every system call.
        let mmap = rule(vec![
            condition(
                2,
                SeccompCmpOp::MaskedEq(libc::PROT_WRITE as u64),
                libc::PROT_WRITE as u64,
            )?,
            condition(
                3,
                SeccompCmpOp::MaskedEq(libc::MAP_SHARED as u64),
                libc::MAP_SHARED as u64,
            )?,
        ])?;
        traced.insert(libc::SYS_mmap, vec![mmap]);
        let trace = compile(traced, SeccompAction::Trace(0))?;
        let deny = compile(
            BTreeMap::from([(libc::SYS_io_uring_setup, Vec::new())]),
            SeccompAction::Errno(libc::ENOSYS as u32),
        )?;
        Ok(Filters { deny, trace })
    }

    /// Install both filters in the calling process. Runs between fork and exec: the
    /// programs are already built, so this makes system calls only (no allocation).
    pub(crate) fn install(&self) -> std::io::Result<()> {
        // No allocation on failure either: keep the OS error as it is.
        let failed = |e: seccompiler::Error| match e {
            seccompiler::Error::Prctl(error) | seccompiler::Error::Seccomp(error) => error,
            _ => std::io::Error::from_raw_os_error(libc::EINVAL),
        };
        seccompiler::apply_filter(&self.deny).map_err(failed)?;
        seccompiler::apply_filter(&self.trace).map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    /// The deny filter alone (the trace filter needs a tracer): io_uring_setup gets ENOSYS,
    /// so runtimes fall back to calls the tracer sees.
    #[test]
    fn io_uring_setup_fails_with_enosys() {
        let filters = Filters::build().unwrap();
        let deny = filters.deny.clone();
        let mut command = std::process::Command::new("python3");
        command.args([
            "-c",
            "import ctypes; l = ctypes.CDLL(None, use_errno=True); \
             b = ctypes.create_string_buffer(120); r = l.syscall(425, 4, b); \
             print(r, ctypes.get_errno())",
        ]);
        #[allow(unsafe_code)]
        // SAFETY: the closure only installs a prebuilt filter (prctl and seccomp calls).
        unsafe {
            command.pre_exec(move || {
                seccompiler::apply_filter(&deny).map_err(|_| std::io::Error::other("seccomp"))
            });
        }
        let out = command.output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("-1 {}", libc::ENOSYS)
        );
    }
}

//! Whether adapters can be traced here, and if not, why and what to do: a child asks to be
//! traced, installs the seccomp filters and exits, so the answer is known before any actor
//! starts. The cause names what refused (Yama's ptrace scope, a seccomp policy on the runner,
//! a missing capability, another architecture) and the fix is the exact setting that allows it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use nix::libc;
use nix::sys::ptrace;
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use serde::Serialize;

use super::filter::Filters;

/// Tracing is unavailable: why, and what would make it available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unavailable {
    pub cause: String,
    pub fix: String,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; to allow it: {}", self.cause, self.fix)
    }
}

/// The filters every traced actor installs, once tracing is shown to work here.
pub(crate) fn probe() -> Result<Arc<Filters>, Unavailable> {
    if !cfg!(target_arch = "x86_64") {
        return Err(Unavailable {
            cause: format!(
                "controlled interleavings and crash states decode x86_64 Linux system calls; \
                 this machine is {}",
                std::env::consts::ARCH
            ),
            fix: "run keyrace on Linux x86_64 for the full check".to_owned(),
        });
    }
    let filters = Arc::new(Filters::build().map_err(|e| Unavailable {
        cause: format!("the seccomp filters cannot be built here ({e})"),
        fix:
            "run keyrace on a Linux kernel with seccomp filters (CONFIG_SECCOMP_FILTER)".to_owned(),
    })?);
    trace_a_child(&filters)?;
    Ok(filters)
}

fn trace_a_child(filters: &Arc<Filters>) -> Result<(), Unavailable> {
    use std::os::unix::process::CommandExt;
    let program = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/"));
    let mut command = Command::new(program);
    let child_filters = Arc::clone(filters);
    #[allow(unsafe_code)]
    // SAFETY: between fork and exec the closure makes only the ptrace, prctl, seccomp and
    // exit system calls, with filters compiled before the fork.
    unsafe {
        command.pre_exec(move || {
            // Only the errno crosses back to the parent: EPERM means ptrace was refused.
            ptrace::traceme().map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
            child_filters.install().map_err(|e| {
                let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
                std::io::Error::from_raw_os_error(if errno == libc::EPERM {
                    libc::EACCES
                } else {
                    errno
                })
            })?;
            libc::_exit(0)
        });
    }
    let child = command.spawn().map_err(|e| {
        if e.raw_os_error() == Some(libc::EPERM) {
            ptrace_refused(&e, &Host::read())
        } else {
            Unavailable {
                cause: format!("seccomp filters cannot be installed here ({e})"),
                fix: "run keyrace where processes may install seccomp filters (a container \
                      runtime's --security-opt seccomp=unconfined, or no policy forbidding \
                      seccomp)"
                    .to_owned(),
            }
        }
    })?;
    let pid = Pid::from_raw(child.id() as i32);
    // It exits at once; reap it (it is traced by this thread and is its child).
    let _ = waitpid(pid, Some(WaitPidFlag::__WALL));
    Ok(())
}

/// What decides whether ptrace is allowed, as this process sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Host {
    /// `kernel.yama.ptrace_scope`, where Yama is built in.
    pub yama_scope: Option<u32>,
    /// `Seccomp:` of `/proc/self/status`: 2 when a seccomp filter confines this process.
    pub seccomp_mode: Option<u32>,
    /// `CAP_SYS_PTRACE` is in this process's effective set.
    pub cap_sys_ptrace: bool,
}

impl Host {
    pub(crate) fn read() -> Host {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .map(str::trim)
        };
        const CAP_SYS_PTRACE: u32 = 19;
        Host {
            yama_scope: std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            seccomp_mode: field("Seccomp:").and_then(|s| s.parse().ok()),
            cap_sys_ptrace: field("CapEff:")
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0),
        }
    }
}

/// The cause of an `EPERM` from `PTRACE_TRACEME`, and its fix, most specific first.
pub(crate) fn ptrace_refused(error: &std::io::Error, host: &Host) -> Unavailable {
    match host {
        Host {
            yama_scope: Some(3),
            ..
        } => Unavailable {
            cause: format!(
                "ptrace is refused here ({error}): kernel.yama.ptrace_scope is 3, so no \
                 process may trace another"
            ),
            fix: "scope 3 cannot be lowered without a reboot: boot with \
                  kernel.yama.ptrace_scope=1 (a file in /etc/sysctl.d/), or run keyrace on \
                  another machine"
                .to_owned(),
        },
        Host {
            yama_scope: Some(2),
            cap_sys_ptrace: false,
            ..
        } => Unavailable {
            cause: format!(
                "ptrace is refused here ({error}): kernel.yama.ptrace_scope is 2, so only a \
                 process with CAP_SYS_PTRACE may trace"
            ),
            fix: "run keyrace as root or with CAP_SYS_PTRACE (docker run --cap-add \
                  SYS_PTRACE), or `sysctl -w kernel.yama.ptrace_scope=1`"
                .to_owned(),
        },
        Host {
            seccomp_mode: Some(2),
            ..
        } => Unavailable {
            cause: format!(
                "ptrace is refused here ({error}): keyrace itself runs under a seccomp \
                 policy that denies ptrace (Seccomp: 2 in /proc/self/status), as a container \
                 runtime's default profile does"
            ),
            fix: "start the container with --cap-add SYS_PTRACE (Docker's default profile \
                  then allows ptrace) or --security-opt seccomp=unconfined; on Kubernetes, \
                  add SYS_PTRACE to the container's securityContext capabilities"
                .to_owned(),
        },
        Host { .. } => Unavailable {
            cause: format!("ptrace is refused here ({error})"),
            fix: "run keyrace as root or with CAP_SYS_PTRACE, with \
                  kernel.yama.ptrace_scope at most 1 and no security policy (seccomp, \
                  AppArmor, SELinux) denying ptrace"
                .to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eperm() -> std::io::Error {
        std::io::Error::from_raw_os_error(libc::EPERM)
    }

    #[test]
    fn each_refusal_names_its_setting() {
        let yama3 = ptrace_refused(
            &eperm(),
            &Host {
                yama_scope: Some(3),
                ..Host::default()
            },
        );
        assert!(yama3.cause.contains("ptrace_scope is 3"), "{yama3}");
        assert!(yama3.fix.contains("reboot"), "{yama3}");
        let yama2 = ptrace_refused(
            &eperm(),
            &Host {
                yama_scope: Some(2),
                ..Host::default()
            },
        );
        assert!(yama2.fix.contains("kernel.yama.ptrace_scope=1"), "{yama2}");
        assert!(yama2.fix.contains("--cap-add SYS_PTRACE"), "{yama2}");
        let seccomp = ptrace_refused(
            &eperm(),
            &Host {
                yama_scope: Some(1),
                seccomp_mode: Some(2),
                cap_sys_ptrace: true,
            },
        );
        assert!(seccomp.cause.contains("seccomp policy"), "{seccomp}");
        assert!(seccomp.fix.contains("seccomp=unconfined"), "{seccomp}");
        let unknown = ptrace_refused(&eperm(), &Host::default());
        assert!(unknown.fix.contains("CAP_SYS_PTRACE"), "{unknown}");
    }

    #[test]
    fn scope_two_with_the_capability_is_not_blamed_on_yama() {
        let refused = ptrace_refused(
            &eperm(),
            &Host {
                yama_scope: Some(2),
                seccomp_mode: Some(2),
                cap_sys_ptrace: true,
            },
        );
        assert!(!refused.cause.contains("ptrace_scope"), "{refused}");
    }

    #[test]
    fn this_process_status_is_read() {
        let host = Host::read();
        assert!(host.seccomp_mode.is_some(), "{host:?}");
    }
}

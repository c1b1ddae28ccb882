//! Running the built binaries from integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const KEYRACE: &str = env!("CARGO_BIN_EXE_keyrace");

/// The runner under test: this build's, or the one `KEYRACE_BIN` names (to show that a
/// test fails against another build, such as an older runner).
pub fn keyrace_bin() -> String {
    std::env::var("KEYRACE_BIN").unwrap_or_else(|_| KEYRACE.to_owned())
}
pub const ADAPTER: &str = env!("CARGO_BIN_EXE_keyrace-reference-adapter");

/// `keyrace ARGS...`, waited for; stdout and stderr captured.
pub fn keyrace(args: &[&str]) -> Output {
    Command::new(keyrace_bin())
        .args(args)
        .output()
        .expect("run keyrace")
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The repository root (the workspace), for `examples/`.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// A Python 3 that an unprivileged user can run too (a user's pyenv shim may not be).
pub fn python3() -> String {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3".to_owned()
    } else {
        "python3".to_owned()
    }
}

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

/// The keyrace command, one worker unless a test asks for more: a test compares one run's
/// output whatever the cores of the machine it runs on (`--jobs` has tests of its own).
pub fn keyrace_command() -> Command {
    let mut command = Command::new(keyrace_bin());
    command.env("KEYRACE_JOBS", "1");
    command
}

/// `keyrace ARGS...`, waited for; stdout and stderr captured.
pub fn keyrace(args: &[&str]) -> Output {
    keyrace_command().args(args).output().expect("run keyrace")
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

/// `keyrace check ARGS --json FILE`: the exit code, the text and the parsed JSON report.
pub fn check_json(args: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("report.json");
    let json_arg = json.to_str().expect("utf-8 path");
    let (own, adapter) = match args.iter().position(|a| *a == "--adapter") {
        Some(at) => args.split_at(at),
        None => (args, &[][..]),
    };
    let mut all = vec!["check"];
    all.extend_from_slice(own);
    all.extend_from_slice(&["--json", json_arg]);
    all.extend_from_slice(adapter);
    let output = keyrace(&all);
    let report = text(&output);
    let parsed = std::fs::read(&json)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| panic!("no JSON report:\n{report}"));
    (output.status.code(), report, parsed)
}

pub fn scenario<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["scenarios"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("no scenario {id} in {report}"))
}

#!/usr/bin/env bash
# The whole test suite: formatting, lints, tests, fuzz corpus replay, bench compilation.
# README.md's second command.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
cargo test --workspace
cargo test --manifest-path fuzz/Cargo.toml # replays fuzz/corpus on stable
cargo bench --workspace --no-run

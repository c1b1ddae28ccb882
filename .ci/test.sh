#!/usr/bin/env bash
# The whole test suite: formatting, lints, tests. README.md's second command.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace

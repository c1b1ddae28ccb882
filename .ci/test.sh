#!/usr/bin/env bash
# The whole test suite (README.md's second command): formatting, lints, tests, the fuzz corpus
# replayed on stable, benchmarks compiled, and the loom + shuttle model suites.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
cargo test --workspace
cargo test --manifest-path fuzz/Cargo.toml
cargo bench --workspace --no-run
bash .ci/models.sh

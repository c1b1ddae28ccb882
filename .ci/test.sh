#!/usr/bin/env bash
# The whole test suite (README.md's second command): formatting, lints (which type-check the
# benchmarks: --all-targets), tests, the fuzz corpus replayed on stable, the loom + shuttle
# model suites, and the worked example (examples/rust-store) with and without its planted bugs.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step's wall time, so a slow CI run says where its time went.
timed() {
    local start=$SECONDS
    "$@"
    echo "== step: $((SECONDS - start)) s: $*"
}
timed cargo fmt --all --check
timed cargo fmt --manifest-path fuzz/Cargo.toml --check
timed cargo clippy --workspace --all-targets -- -D warnings
timed cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
timed cargo test --workspace
timed cargo test --manifest-path fuzz/Cargo.toml
timed bash .ci/models.sh
# The worked example both ways, under shuttle: its correct build passes the catalogue's models
# and the runner; with its planted bugs, both are caught by the models and by the runner.
timed cargo test -p keyrace-example-store --features shuttle
timed cargo test -p keyrace-example-store --features shuttle,planted-bugs
# A third planted bug only the racing crash form reaches (a key used before its name is
# durable): the runner's test alone, the models have nothing to add (shuttle only so that the
# build above is reused).
timed cargo test -p keyrace-example-store --features shuttle,planted-key-reader --test runner
# A store depends on keyrace-fs alone: nothing of keyrace's core (cryptography), checker or
# runner reaches its production build.
deps=$(cargo tree -p keyrace-example-store -e normal --prefix none)
if grep -E '^keyrace-(core|mutants|harness|runner|process|systematic|reference|witness) ' <<<"$deps"; then
    echo "keyrace-example-store's production dependencies reach beyond keyrace-fs" >&2
    exit 1
fi
# The runner as a library (a store's cargo test) needs no cipher, database or reference crate:
# those are the keyrace command's (cli/), which serves the reference adapter and the witness.
deps=$(cargo tree -p keyrace-runner -e normal --prefix none)
if grep -E '^(rusqlite|postgres|aes-gcm|hkdf|ureq|keyrace-core|keyrace-mutants|keyrace-reference) ' <<<"$deps"; then
    echo "keyrace-runner reaches a cipher, database or reference crate" >&2
    exit 1
fi

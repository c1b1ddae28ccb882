#!/usr/bin/env bash
# A store's crate that depends on keyrace from outside its workspace (.ci/dependent/: the worked
# example's store on keyrace-fs, its model tests on keyrace-harness under shuttle), built in
# release with default profile settings: none of this workspace's per-package overrides apply
# to a dependent, so this is the build an adopter gets. Timed for docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# The workspace's resolved versions, so that the fixture builds what CI tested.
cp Cargo.lock .ci/dependent/Cargo.lock
start=$SECONDS
cargo test --release --no-run --features shuttle \
    --manifest-path .ci/dependent/Cargo.toml --target-dir target/dependent
echo "== dependent crate, release build with default settings: $((SECONDS - start)) s"

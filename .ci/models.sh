#!/usr/bin/env bash
# The model-checking suites of keyrace-harness (issue "Model checking"), each in release mode:
#   1. loom: every catalogue model exhaustively within LOOM_MAX_PREEMPTIONS preemptions (2 for
#      three-actor models), in its own target dir because `--cfg loom` changes every crate;
#   2. shuttle: PCT (depth 2 and 3) and random schedules, with `--features shuttle`.
# Each suite asserts both directions (the reference passes every model, every mutant is caught
# by at least one explorer) and writes its report table, printed below. On a failure the test
# output shows the invariant, the trace and a one-line replay command.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${LOOM_MAX_PREEMPTIONS:=3}"
export LOOM_MAX_PREEMPTIONS

echo "== loom (preemption bound ${LOOM_MAX_PREEMPTIONS})"
RUSTFLAGS="--cfg loom" cargo test -p keyrace-harness --release --target-dir target-loom \
    --test loom_models -- --test-threads 1
cat target-loom/tmp/keyrace-models-loom.txt

echo "== loom: core's in-memory bootstrap pieces (grace ledger, singleflight)"
RUSTFLAGS="--cfg loom" cargo test -p keyrace-core --release --target-dir target-loom \
    --test witness_loom

echo "== shuttle"
cargo test -p keyrace-harness --release --features shuttle \
    --test shuttle_models -- --test-threads 1
cat target/tmp/keyrace-models-shuttle.txt

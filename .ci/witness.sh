#!/usr/bin/env bash
# Start the reference witness server on LEDGER (sqlite:PATH or postgres:CONNECTION) on an
# ephemeral loopback port, run `keyrace check-server` against it, stop it; exit with the check's
# exit code. Usage: bash .ci/witness.sh LEDGER   (after `cargo build --release -p keyrace`)
set -euo pipefail
cd "$(dirname "$0")/.."
ledger=${1:?usage: witness.sh LEDGER}
keyrace=target/release/keyrace
out=$(mktemp)
"$keyrace" witness-server --listen 127.0.0.1:0 --ledger "$ledger" >"$out" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$out"' EXIT
url=
for _ in $(seq 100); do
    url=$(grep -o 'http://[0-9.:]*' "$out" || true)
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$out" >&2; exit 2; }
    sleep 0.1
done
[ -n "$url" ] || { echo "the witness server did not start:" >&2; cat "$out" >&2; exit 2; }
"$keyrace" check-server "$url"

#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the witness ledger's tests, on a Unix socket in a temp dir
# (no TCP port, no password: trust for the local socket only).
#   bash .ci/postgres.sh start   -> installs PostgreSQL if missing, prints the cluster's directory
#   bash .ci/postgres.sh stop DIR
# The tests read the connection string from KEYRACE_POSTGRES: "host=DIR user=postgres dbname=postgres".
set -euo pipefail

pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

case "${1:-}" in
start)
    if [ -z "$(pg_bin)" ]; then
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    fi
    bin=$(pg_bin)
    dir=$(mktemp -d /tmp/keyrace-pg.XXXXXX)
    chown postgres: "$dir"
    runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres >&2
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-k $dir -c listen_addresses= -c max_connections=200" start >&2
    echo "$dir"
    ;;
stop)
    dir=${2:?usage: postgres.sh stop DIR}
    runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: postgres.sh start | stop DIR" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for the store's PostgreSQL tests
# and exports FATHOM_TEST_POSTGRES_URL. Source it (`. .ci/pg-setup.sh`) so
# the variable reaches the caller. Installs Debian's postgresql package if
# no server binaries are found. The server listens on 127.0.0.1 only, trusts
# local connections and keeps its data in $FATHOM_PG_DIR (default
# /tmp/fathom-pg); stop it with `.ci/pg-setup.sh stop`.
set -euo pipefail

FATHOM_PG_DIR="${FATHOM_PG_DIR:-/tmp/fathom-pg}"
FATHOM_PG_PORT="${FATHOM_PG_PORT:-54329}"

pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    done
    return 1
}

if ! PG_BIN="$(pg_bin)"; then
    echo "== installing postgresql"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    PG_BIN="$(pg_bin)"
fi

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ "${1:-}" = stop ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$FATHOM_PG_DIR/data" -m fast stop || true
    return 0 2>/dev/null || exit 0
fi

if ! as_postgres "$PG_BIN/pg_ctl" -D "$FATHOM_PG_DIR/data" status >/dev/null 2>&1; then
    rm -rf "$FATHOM_PG_DIR"
    mkdir -p "$FATHOM_PG_DIR"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$FATHOM_PG_DIR"; fi
    as_postgres "$PG_BIN/initdb" -D "$FATHOM_PG_DIR/data" -U postgres -A trust \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    as_postgres "$PG_BIN/pg_ctl" -D "$FATHOM_PG_DIR/data" -l "$FATHOM_PG_DIR/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -c port=$FATHOM_PG_PORT -c unix_socket_directories=$FATHOM_PG_DIR -c fsync=off" \
        start >/dev/null
    as_postgres "$PG_BIN/psql" -h 127.0.0.1 -p "$FATHOM_PG_PORT" -U postgres -qc "CREATE DATABASE fathom_test" >/dev/null
fi

export FATHOM_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$FATHOM_PG_PORT/fathom_test"
echo "== PostgreSQL for tests at $FATHOM_TEST_POSTGRES_URL"

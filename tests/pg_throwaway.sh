#!/usr/bin/env bash
# pg_throwaway.sh - run a command against a throwaway PostgreSQL server.
#
# Usage: tests/pg_throwaway.sh CMD [ARGS...]
#
# Creates a cluster in a fresh temp directory (initdb, trust authentication), starts it on a
# free port on 127.0.0.1 with its socket in the same directory, creates the database
# nephele_test, then runs CMD with these variables exported:
#   NPH_TEST_PG_URL  postgresql://postgres@127.0.0.1:PORT/nephele_test
#   PGHOST=127.0.0.1 PGPORT=PORT PGUSER=postgres PGDATABASE=nephele_test (for psql and friends)
#   NPH_TEST_PG_BIN  the server's bin directory (initdb, pg_ctl, psql ...)
# The server is stopped and the directory removed on exit, whatever happens. The exit status
# is CMD's; 77 (the skip code of ctest and automake) when no PostgreSQL server is installed.
#
# PostgreSQL refuses to run as root: as root the server runs as the `postgres` system user
# (via runuser), which owns the temp directory; CMD still runs as the caller.
#
# Environment: PG_BIN picks the server's bin directory (default: version 15 under
# /usr/lib/postgresql, else the newest one there); PG_THROWAWAY_KEEP=1 keeps the directory
# for a post-mortem; PG_THROWAWAY_QUIET=0 shows the server's log when CMD fails.
set -u

die() {
    echo "pg_throwaway: $*" >&2
    exit 1
}

if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

find_bin() {
    local d
    if [ -n "${PG_BIN:-}" ]; then
        echo "$PG_BIN"
        return
    fi
    if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
        echo /usr/lib/postgresql/15/bin
        return
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
        if [ -x "$d/initdb" ]; then
            echo "$d"
            return
        fi
    done
    d=$(command -v initdb 2>/dev/null) && dirname "$d"
}

bin=$(find_bin)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
    echo "pg_throwaway: skipped: no PostgreSQL server installed (no initdb/pg_ctl found;" \
        "install postgresql-15 or set PG_BIN)" >&2
    exit 77
fi

# Run a server-side command as the owner of the cluster.
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || {
        echo "pg_throwaway: skipped: running as root and there is no 'postgres' user" >&2
        exit 77
    }
    as_owner() { runuser -u postgres -- "$@"; }
else
    as_owner() { "$@"; }
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/nph_pg.XXXXXX") || die "cannot create a temp directory"
data="$dir/data"
log="$dir/server.log"
started=0

cleanup() {
    local rc=$?
    if [ "$started" -eq 1 ]; then
        as_owner "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1
    fi
    if [ "${PG_THROWAWAY_KEEP:-0}" = 1 ]; then
        echo "pg_throwaway: kept $dir" >&2
    else
        rm -rf "$dir"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
chmod 700 "$dir"

if ! as_owner "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale \
    >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    die "initdb failed"
fi

# A port nobody listens on; pg_ctl start fails if someone takes it first, so retry.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port=
for attempt in 1 2 3 4 5 6 7 8; do
    candidate=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    port_in_use "$candidate" && continue
    if as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 -o \
        "-c listen_addresses=127.0.0.1 -p $candidate -k $dir -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
        start >/dev/null 2>&1; then
        port=$candidate
        started=1
        break
    fi
    echo "pg_throwaway: start on port $candidate failed (attempt $attempt)" >&2
done
if [ -z "$port" ]; then
    cat "$log" >&2 2>/dev/null
    die "could not start PostgreSQL"
fi

if ! "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres nephele_test >"$dir/createdb.log" 2>&1;
then
    cat "$dir/createdb.log" >&2
    die "createdb failed"
fi

export NPH_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/nephele_test"
export NPH_TEST_PG_BIN="$bin"
export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGDATABASE=nephele_test
echo "pg_throwaway: PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') on" \
    "$NPH_TEST_PG_URL" >&2

"$@"
rc=$?
if [ "$rc" -ne 0 ] && [ "${PG_THROWAWAY_QUIET:-1}" = 0 ]; then
    echo "pg_throwaway: server log:" >&2
    cat "$log" >&2
fi
exit "$rc"

#!/usr/bin/env bash
# billing_bench.sh - the billing figures of issue 6 on a throwaway PostgreSQL server
# (tests/pg_throwaway.sh: fsync off, as for the tests) and a temporary SQLite file:
#   ingestion events/s into SQLite and PostgreSQL, batched against row at a time (targets
#   >= 500,000/s SQLite, >= 300,000/s PostgreSQL), and the time of a monthly report grouped by
#   project and cloud over 10 million usage intervals on PostgreSQL (target <= 10 s), with the
#   aggregation over the usage intervals against the in-memory rating and the window functions
#   over the events on 1 million intervals. Each figure ends with PASS or MISS against its
#   target (docs/billing.md, "Performance"). Use a Release build (build-rel).
#
#   bench/billing_bench.sh [BUILD_DIR [INGEST_EVENTS [INTERVALS [SMALL]]]]
#       defaults: ./build 1000000 10000000 1000000
# Builds the billing_bench target (tests/CMakeLists.txt) if needed. Run by hand, not in CI;
# the 10-million ledger takes a few minutes to load and about 5 GB of disk under $TMPDIR.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../build}
EVENTS=${2:-1000000}
INTERVALS=${3:-10000000}
SMALL=${4:-1000000}
cmake --build "$BUILD" --target billing_bench -j2 >/dev/null
BIN=$BUILD/tests/billing_bench
echo "billing_bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "$(uname -m)"
exec "$HERE/../tests/pg_throwaway.sh" sh -c \
    "\"$BIN\" \"\$NPH_TEST_PG_URL\" $EVENTS $INTERVALS $SMALL"

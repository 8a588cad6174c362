#!/usr/bin/env bash
# placement_bench.sh - the placement engine's figures (issue 5), pinned to one core:
#   decisions/s over 100 candidates (target >= 50,000) and ms/decision over 10,000 candidates,
#   10 clouds x 10 regions x 100 offerings (target <= 2 ms), with a 20-rule policy.
#
#   bench/placement_bench.sh [BUILD_DIR]        (default build; NPH_BENCH_DURATION seconds per
#                                                figure, default 2)
# Builds the placement_bench target (tests/CMakeLists.txt) if needed. Run by hand, not in CI.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../build}
DURATION=${NPH_BENCH_DURATION:-2}
cmake --build "$BUILD" --target placement_bench -j2 >/dev/null
BIN=$BUILD/tests/placement_bench
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c 0)
echo "placement_bench on one core (${PIN[*]:-unpinned}), $DURATION s per figure, $(uname -m)"
exec "${PIN[@]}" "$BIN" "$DURATION"

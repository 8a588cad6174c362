#!/usr/bin/env bash
# run-all.sh - run the integration tests (identity, image, compute, network, federation, placement, storage and
# the openstack driver, with their bad-input and fault cases) in sequence against an already
# built broker.
# Builds nothing. NEPHELE_BIN names the binary (default build/broker/nephele under the repo root).
# Exits non-zero if any script failed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
: "${NEPHELE_BIN:=$ROOT/build/broker/nephele}"
case $NEPHELE_BIN in /*) ;; *) NEPHELE_BIN=$PWD/$NEPHELE_BIN ;; esac
export NEPHELE_BIN
if [ ! -x "$NEPHELE_BIN" ]; then
    echo "run-all.sh: no broker binary at $NEPHELE_BIN (build first, or set NEPHELE_BIN)" >&2
    exit 2
fi

failed=()
# NPH_SUITES (space-separated script names) runs a subset.
suites=${NPH_SUITES:-identity_cli.sh identity_badinput.sh image_cli.sh compute_cli.sh
    compute_badinput.sh network_cli.sh volume_cli.sh federation.sh placement.sh
    billing_live.sh backend_openstack.sh meters.sh object_cli.sh fed_storage.sh}
for t in $suites; do
    echo "=== $t"
    if bash "$HERE/$t"; then
        echo "=== $t: PASS"
    else
        echo "=== $t: FAIL"
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "run-all.sh: failed: ${failed[*]}"
    exit 1
fi
echo "run-all.sh: all passed"

#!/usr/bin/env bash
# run-all.sh - run the integration tests (identity, image, compute, network, federation, placement,
# storage across clouds and the openstack driver, with their bad-input and fault cases) against an
# already built broker.
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
# NPH_SUITES (space-separated script names) runs a subset; NPH_JOBS (default 1) runs that many
# suites at once, each on its own broker(s) and port(s), its output held back and printed whole
# when it ends (so logs never interleave). The default list is longest first, so two lanes end
# close together.
suites=${NPH_SUITES:-compute_badinput.sh federation.sh volume_cli.sh network_cli.sh nova_secgroups.sh
    object_cli.sh compute_cli.sh billing_live.sh fed_storage.sh placement.sh identity_cli.sh
    image_cli.sh identity_badinput.sh backend_openstack.sh meters.sh}
jobs=${NPH_JOBS:-1}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A pid_suite=()
t_all=$SECONDS

# finish PID: print the suite's log and record its verdict
finish() {
    local pid=$1 rc=$2 t=${pid_suite[$1]}
    unset "pid_suite[$pid]"
    echo "=== $t"
    cat "$logs/$t.log"
    if [ "$rc" = 0 ]; then
        echo "=== $t: PASS"
    else
        echo "=== $t: FAIL"
        failed+=("$t")
    fi
}

# reap: wait for any running suite to end
reap() {
    local pid rc
    wait -n -p pid "${!pid_suite[@]}"
    rc=$?
    finish "$pid" "$rc"
}

for t in $suites; do
    while [ ${#pid_suite[@]} -ge "$jobs" ]; do reap; done
    bash "$HERE/$t" >"$logs/$t.log" 2>&1 </dev/null &
    pid_suite[$!]=$t
done
while [ ${#pid_suite[@]} -gt 0 ]; do reap; done
echo "run-all.sh: $(echo $suites | wc -w) suites in $((SECONDS - t_all)) s, $jobs at a time"
if [ ${#failed[@]} -gt 0 ]; then
    echo "run-all.sh: failed: ${failed[*]}"
    exit 1
fi
echo "run-all.sh: all passed"

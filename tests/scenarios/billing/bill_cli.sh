#!/usr/bin/env bash
# bill_cli.sh - the billing scenarios through the `nephele bill` command line.
#
#   tests/scenarios/billing/bill_cli.sh NEPHELE_BINARY [SCENARIO...]
#
# Each directory here holds config.yaml, events.jsonl and expected.json, whose "cases" give
# from, to, group_by, currency and the exact JSON report; `nephele bill --events` must print it.
# The amounts are worked out by hand in expected.json's "_comment". Prints one line per case
# and exits non-zero if any failed.
set -u
BIN=${1:?usage: bill_cli.sh NEPHELE_BINARY [SCENARIO...]}
shift
case $BIN in /*) ;; */*) BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${NPH_PYTHON:-python3}
cd "$HERE" || exit 1
if [ $# -gt 0 ]; then names=("$@"); else names=(*/); fi
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in "${names[@]}"; do
    d=${d%/}
    n=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["cases"]))' "$d/expected.json")
    for ((i = 0; i < n; i++)); do
        read -r from to group cur < <("$PY" -c 'import json,sys
c = json.load(open(sys.argv[1]))["cases"][int(sys.argv[2])]
print(c["from"], c["to"], c["group_by"] or ",", c["currency"])' "$d/expected.json" "$i")
        (cd "$d" && "$BIN" bill --config config.yaml --events events.jsonl --from "$from" \
            --to "$to" --group-by "$group" --currency "$cur" --format json >"$tmp/out" 2>"$tmp/err")
        rc=$?
        if [ $rc -eq 0 ] && "$PY" - "$d/expected.json" "$i" "$tmp/out" <<'PYEOF'; then
import json, sys
want = json.load(open(sys.argv[1]))["cases"][int(sys.argv[2])]["report"]
got = json.load(open(sys.argv[3]))
sys.exit(0 if got == want else 1)
PYEOF
            echo "ok   $d case $i ($group, $cur)"
        else
            echo "FAIL $d case $i ($group, $cur): exit $rc"
            cat "$tmp/err" "$tmp/out"
            fail=1
        fi
    done
done
exit $fail

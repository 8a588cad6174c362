#!/usr/bin/env bash
# place_cli.sh - table-driven placement scenarios through the `nephele place` command line.
#
#   tests/scenarios/place_cli.sh PLACE_BINARY [SCENARIO...]
#
# PLACE_BINARY is `nephele place` or a driver of cmd_place() (tests/scenarios/place_driver.c);
# a binary whose name is "nephele" gets the "place" subcommand first. Each directory under
# tests/scenarios/placement/ holds config.yaml, policy.yaml, request.json and expected.json:
#   at        the decision time (--at)
#   exit      the expected exit status (0 placed, 3 no candidate, 2 bad input)
#   decision  null or {cloud, region, offering[, per_hour, currency]}
#   verdicts  {"cloud/region/offering": "chosen|eligible|rejected"}: exactly the candidates
#   rules     {"cloud/region/offering": "rule name"}: the rule that rejected it
#   reasons   {"cloud/region/offering": "substring of the reason"}
#   warnings  [substrings, one per expected warning]
#   error     [substrings of stderr]
# Prints one line per scenario and exits non-zero if any failed.
set -u
BIN=${1:?usage: place_cli.sh PLACE_BINARY [SCENARIO...]}
shift
case $BIN in /*) ;; */*) BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${NPH_PYTHON:-python3}
SUB=()
[ "$(basename "$BIN")" = nephele ] && SUB=(place)
cd "$HERE/placement" || exit 1
if [ $# -gt 0 ]; then names=("$@"); else names=(*/); fi
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in "${names[@]}"; do
    d=${d%/}
    at=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["at"])' "$d/expected.json")
    (cd "$d" && "$BIN" "${SUB[@]}" --config config.yaml --policy policy.yaml \
        --request request.json --format json --at "$at" >"$tmp/out" 2>"$tmp/err")
    rc=$?
    if "$PY" - "$d/expected.json" "$tmp/out" "$tmp/err" "$rc" <<'PYEOF'; then
import json, sys
exp = json.load(open(sys.argv[1]))
raw = open(sys.argv[2]).read()
err = open(sys.argv[3]).read()
rc = int(sys.argv[4])
bad = []
if rc != exp["exit"]:
    bad.append("exit %d, want %d (stderr: %s)" % (rc, exp["exit"], err.strip()))
for s in exp.get("error", []):
    if s not in err:
        bad.append("stderr lacks %r: %s" % (s, err.strip()))
if exp["exit"] != 2 and not bad:
    out = json.loads(raw)
    key = lambda c: "%s/%s/%s" % (c["cloud"], c["region"], c["offering"])
    cands = {key(c): c for c in out["candidates"]}
    want = exp.get("decision")
    got = out["decision"]
    if want is None:
        if got is not None:
            bad.append("decided %s, want none" % key(got))
    elif got is None:
        bad.append("no decision, want %s" % key(want))
    else:
        for k in ("cloud", "region", "offering"):
            if got[k] != want[k]:
                bad.append("decision %s, want %s" % (key(got), key(want)))
                break
        for k in ("per_hour", "currency"):
            if k in want and got["price"][k] != want[k]:
                bad.append("price %s %s, want %s" % (k, got["price"][k], want[k]))
    if "verdicts" in exp:
        v = {k: c["verdict"] for k, c in cands.items()}
        if v != exp["verdicts"]:
            bad.append("verdicts %s, want %s" % (v, exp["verdicts"]))
    for k, r in exp.get("rules", {}).items():
        if cands.get(k, {}).get("rule") != r:
            bad.append("%s rejected by %s, want %s" % (k, cands.get(k, {}).get("rule"), r))
    for k, r in exp.get("reasons", {}).items():
        if r not in cands.get(k, {}).get("reason", ""):
            bad.append("%s reason %r lacks %r" % (k, cands.get(k, {}).get("reason"), r))
    if "warnings" in exp:
        w = out["warnings"]
        if len(w) != len(exp["warnings"]) or any(s not in x for s, x in zip(exp["warnings"], w)):
            bad.append("warnings %s, want %s" % (w, exp["warnings"]))
for b in bad:
    print("    " + b)
sys.exit(1 if bad else 0)
PYEOF
        echo "ok   $d"
        pass=$((pass + 1))
    else
        echo "FAIL $d"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]

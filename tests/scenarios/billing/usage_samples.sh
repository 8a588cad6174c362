#!/usr/bin/env bash
# usage_samples.sh - `nephele usage import|export` with metering sample lines, on SQLite:
# a file of ledger events and samples (raw and hourly) goes in and comes out unchanged; a bad
# sample line is refused with its line number and nothing is imported; `nephele bill --events`
# reads a file with samples (they are not rated) and bills its events.
#
#   tests/scenarios/billing/usage_samples.sh NEPHELE_BINARY
set -u
BIN=${1:?usage: usage_samples.sh NEPHELE_BINARY}
HERE=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name, command status (0 = ok)
    if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}

cat >"$tmp/in.jsonl" <<'JSONL'
{"ts":"2026-11-10T00:00:00Z","event":"created","resource":"s-web","type":"server","project":"alpha","cloud":"home","region":"home-1","offering":"m1.medium"}
{"ts":"2026-11-20T00:00:00Z","event":"deleted","resource":"s-web","type":"server","project":"alpha","cloud":"home","region":"home-1","offering":"m1.medium"}
{"ts":"2026-11-10T00:01:00Z","event":"sample","resource":"s-web","type":"server","project":"alpha","cloud":"home","meter":"cpu","value":123456789}
{"ts":"2026-11-10T00:02:00Z","event":"sample","resource":"s-web","type":"server","project":"alpha","cloud":"home","meter":"cpu","value":223456789}
{"ts":"2026-11-10T01:00:00Z","event":"sample","resource":"s-web","type":"server","project":"alpha","cloud":"home","meter":"network.incoming.bytes","value":4000,"period":3600,"max":9000,"count":60}
JSONL
"$BIN" usage import -d "$tmp/d" "$tmp/in.jsonl" 2>"$tmp/err"
check "import events and samples" $?
grep -q "imported 2 event(s) and 3 sample(s)" "$tmp/err"
check "import counts" $?
"$BIN" usage export -d "$tmp/d" --from 2026-11-01 --to 2026-12-01 >"$tmp/out.jsonl"
check "export" $?
diff <(sort "$tmp/in.jsonl") <(sort "$tmp/out.jsonl") >"$tmp/diff"
check "export gives back the imported lines" $?
"$BIN" usage export -d "$tmp/d" --from 2026-11-10T00:01:30Z --to 2026-11-10T00:05:00Z >"$tmp/win"
[ "$(wc -l <"$tmp/win")" -eq 1 ] && grep -q '"value":223456789' "$tmp/win"
check "export window holds one sample" $?

# bad sample lines: nothing imported, the line named, exit 2
printf '%s\n' \
    '{"ts":"2026-11-11T00:00:00Z","event":"created","resource":"s-2","type":"server","project":"alpha","cloud":"home","offering":"m1.small"}' \
    '{"ts":"2026-11-11T00:01:00Z","event":"sample","resource":"s-2","type":"server","project":"alpha","meter":"cpu","value":-5}' \
    >"$tmp/bad.jsonl"
"$BIN" usage import -d "$tmp/d" "$tmp/bad.jsonl" 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "bad.jsonl:2: 'value' must be a non-negative integer" "$tmp/err"
check "negative value refused with its line (exit $rc)" $?
printf '%s\n' \
    '{"ts":"2026-11-11T00:01:00Z","event":"sample","resource":"s-2","type":"server","project":"alpha","meter":"cpu","value":5,"period":60}' \
    >"$tmp/bad2.jsonl"
"$BIN" usage import -d "$tmp/d" "$tmp/bad2.jsonl" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "'period' must be 0 (raw) or 3600 (hourly)" "$tmp/err"
check "period 60 refused" $?
"$BIN" usage export -d "$tmp/d" --from 2026-11-01 --to 2026-12-01 | diff -q - "$tmp/out.jsonl" >/dev/null
check "nothing of the refused files was imported" $?

# bill --events reads samples without rating them: 240 h x 0.040/0.050 = 10.80
"$BIN" bill --config "$HERE/two-clouds/config.yaml" --events "$tmp/in.jsonl" --from 2026-11-01 \
    --to 2026-12-01 --format json >"$tmp/bill.json" 2>"$tmp/err"
check "bill --events with sample lines" $?
grep -q '"total": *"10.80"' "$tmp/bill.json"
check "bill total 10.80" $?
exit $fail

#!/usr/bin/env bash
# html_chromium.sh - open the HTML bill in headless Chromium, check the total in the rendered
# DOM and save a screenshot (a CI artifact).
#
#   tests/scenarios/billing/html_chromium.sh NEPHELE_BINARY [OUTDIR]
#
# Renders tests/scenarios/billing/two-clouds with `nephele bill --format html`, loads it with
# `chromium --headless --dump-dom` (the DOM after parsing and layout) and expects
# <span id="total">59.42</span> and the three SVG charts; writes OUTDIR/bill.html and
# OUTDIR/bill.png (default OUTDIR: a temporary directory, printed). Exit 77 (skip) when
# Chromium is not installed (Debian package chromium).
set -u
BIN=${1:?usage: html_chromium.sh NEPHELE_BINARY [OUTDIR]}
case $BIN in /*) ;; */*) BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${2:-$(mktemp -d)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$CHROME" ]; then
    echo "skip: chromium is not installed (apt-get install chromium)"
    exit 77
fi
cd "$HERE/two-clouds" || exit 1
"$BIN" bill --config config.yaml --events events.jsonl --from 2026-11-01 --to 2026-12-01 \
    --format html -o "$OUT/bill.html" || { echo "FAIL: nephele bill"; exit 1; }
flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run
       --user-data-dir="$OUT/chrome-profile")
timeout 120 "$CHROME" "${flags[@]}" --dump-dom "file://$OUT/bill.html" >"$OUT/dom.html" \
    2>"$OUT/chrome.log" || { echo "FAIL: chromium --dump-dom"; tail -5 "$OUT/chrome.log"; exit 1; }
fail=0
grep -q '<span id="total">59.42</span>' "$OUT/dom.html" || { echo "FAIL: total 59.42 not in the DOM"; fail=1; }
[ "$(grep -c '<svg' "$OUT/dom.html")" -ge 3 ] || { echo "FAIL: fewer than 3 SVG charts"; fail=1; }
timeout 120 "$CHROME" "${flags[@]}" --window-size=1000,1400 --screenshot="$OUT/bill.png" \
    "file://$OUT/bill.html" >>"$OUT/chrome.log" 2>&1 || { echo "FAIL: screenshot"; fail=1; }
[ -s "$OUT/bill.png" ] || { echo "FAIL: no screenshot"; fail=1; }
rm -rf "$OUT/chrome-profile"
[ $fail -eq 0 ] && echo "ok: total 59.42 in the rendered DOM; screenshot $OUT/bill.png"
exit $fail

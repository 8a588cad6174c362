#!/usr/bin/env bash
# identity_bench.sh - throughput of the identity hot paths against a fresh broker, with wrk on
# loopback. Run by hand (not in CI):
#
#   NEPHELE_BIN=build/broker/nephele bench/identity_bench.sh
#
# Figures: token validate (GET /identity/v3/auth/tokens?nocatalog) at concurrency 1 and 16,
# authenticated GET /identity/v3/projects at 1 and 16, and /healthz at 16 as the baseline of
# the same run; each as req/s and as a ratio to the baseline; the broker's RSS idle (before
# load) and after load. Then the targets: validate >= 30000 req/s at c=16, idle RSS < 20 MB.
#
# NPH_BENCH_DURATION (seconds per figure, default 10) bounds the run.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/integration/lib.sh"

DURATION=${NPH_BENCH_DURATION:-10}
TARGET_VALIDATE=30000
TARGET_IDLE_RSS_KB=$((20 * 1024))

command -v wrk >/dev/null || {
    echo "identity_bench.sh: wrk is not installed (apt-get install wrk)" >&2
    exit 1
}

nph_start identity-bench --log-level warn || exit 1

AUTH_BODY=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' "$NPH_ADMIN_PASSWORD")
TOKEN=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "$AUTH_BODY" \
    "$NPH_URL/identity/v3/auth/tokens?nocatalog" |
    awk -F': ' 'tolower($1) == "x-subject-token" {print $2}' | tr -d '\r')
if [ -z "$TOKEN" ]; then
    echo "identity_bench.sh: could not issue a token" >&2
    exit 1
fi
# Sanity: each measured request answers 200 before it is measured.
for u in "/identity/v3/auth/tokens?nocatalog" /identity/v3/projects /healthz; do
    st=$(nph_status -H "X-Auth-Token: $TOKEN" -H "X-Subject-Token: $TOKEN" "$NPH_URL$u")
    if [ "$st" != 200 ]; then
        echo "identity_bench.sh: GET $u answers $st, not 200" >&2
        exit 1
    fi
done

sleep 1
RSS_IDLE=$(nph_rss_kb)

declare -A RATE
ERRORS=0
# measure KEY CONNECTIONS PATH [wrk -H args...]
measure() {
    local key=$1 conns=$2 path=$3 threads out rate non2xx sockerr
    shift 3
    threads=$((conns > 1 ? 2 : 1))
    out=$(wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency "$@" "$NPH_URL$path" 2>&1)
    rate=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    sockerr=$(grep -o 'Socket errors:.*' <<<"$out")
    RATE[$key]=${rate:-0}
    printf '  %-34s %10.0f req/s   p50 %-9s p99 %-9s%s%s\n' "$key" "${rate:-0}" \
        "$(awk '$1 == "50%" {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")" \
        "${non2xx:+   NON-2XX: $non2xx}" "${sockerr:+   $sockerr}"
    if [ -n "$non2xx" ] || [ -z "$rate" ]; then
        ERRORS=$((ERRORS + 1))
        [ -z "$rate" ] && printf '%s\n' "$out" | sed 's/^/    | /'
    fi
}

VALIDATE_HDRS=(-H "X-Auth-Token: $TOKEN" -H "X-Subject-Token: $TOKEN")
echo "nephele identity bench: $("$NEPHELE_BIN" version), wrk ${DURATION}s per figure on loopback, $(nproc) CPUs shared by wrk and the broker"
echo "raw figures:"
measure "healthz c=16 (baseline)" 16 /healthz
measure "token validate c=1" 1 "/identity/v3/auth/tokens?nocatalog" "${VALIDATE_HDRS[@]}"
measure "token validate c=16" 16 "/identity/v3/auth/tokens?nocatalog" "${VALIDATE_HDRS[@]}"
measure "GET /identity/v3/projects c=1" 1 /identity/v3/projects -H "X-Auth-Token: $TOKEN"
measure "GET /identity/v3/projects c=16" 16 /identity/v3/projects -H "X-Auth-Token: $TOKEN"
sleep 1
RSS_AFTER=$(nph_rss_kb)

BASE=${RATE["healthz c=16 (baseline)"]}
echo
echo "results (ratio = rate / healthz c=16 of this run):"
for k in "healthz c=16 (baseline)" "token validate c=1" "token validate c=16" \
    "GET /identity/v3/projects c=1" "GET /identity/v3/projects c=16"; do
    awk -v k="$k" -v r="${RATE[$k]}" -v b="$BASE" \
        'BEGIN { printf "  %-34s %10.0f req/s   %5.2f x healthz\n", k, r, (b > 0 ? r / b : 0) }'
done
awk -v i="$RSS_IDLE" -v a="$RSS_AFTER" 'BEGIN {
    printf "  %-34s %10.1f MB (%d kB)\n", "broker RSS idle (before load)", i / 1024, i
    printf "  %-34s %10.1f MB (%d kB)\n", "broker RSS after load", a / 1024, a }'

echo
echo "targets:"
V=${RATE["token validate c=16"]}
if awk -v v="$V" -v t="$TARGET_VALIDATE" 'BEGIN { exit !(v >= t) }'; then VR=PASS; else VR=MISS; fi
if [ "$RSS_IDLE" -lt "$TARGET_IDLE_RSS_KB" ]; then RR=PASS; else RR=MISS; fi
printf '  %-34s %10.0f req/s   target >= %d req/s   %s\n' "token validate c=16" "$V" "$TARGET_VALIDATE" "$VR"
awk -v i="$RSS_IDLE" -v r="$RR" 'BEGIN { printf "  %-34s %10.1f MB      target < 20 MB          %s\n", "broker idle RSS", i / 1024, r }'
[ "$ERRORS" -gt 0 ] && echo "WARNING: $ERRORS figure(s) had non-2xx answers or no result; see above"

if nph_stop; then
    echo "broker stopped gracefully"
else
    echo "broker did NOT stop gracefully"
    ERRORS=$((ERRORS + 1))
fi
[ "$ERRORS" -eq 0 ]

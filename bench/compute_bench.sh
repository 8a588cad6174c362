#!/usr/bin/env bash
# compute_bench.sh - the compute API's figures against a fresh broker on libvirt's test driver,
# with wrk on loopback. Run by hand (not in CI):
#
#   NEPHELE_BIN=build/broker/nephele bench/compute_bench.sh
#
# Figures: GET /compute/v2.1/servers/detail with 100 servers at concurrency 1 and 16, and
# /healthz at 16 as the baseline of the same run (req/s and ratio to the baseline); the median
# time from POST /servers to ACTIVE (polling GET /servers/{id} every 2 ms, 20 servers). Target:
# servers/detail >= 5000 req/s at c=16.
#
# NPH_BENCH_DURATION (seconds per figure, default 10) bounds the run.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/integration/lib.sh"

DURATION=${NPH_BENCH_DURATION:-10}
TARGET_DETAIL=5000
N_SERVERS=100

command -v wrk >/dev/null || {
    echo "compute_bench.sh: wrk is not installed (apt-get install wrk)" >&2
    exit 1
}

nph_start compute-bench --log-level warn || exit 1

AUTH_BODY=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' "$NPH_ADMIN_PASSWORD")
TOKEN=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "$AUTH_BODY" \
    "$NPH_URL/identity/v3/auth/tokens?nocatalog" |
    awk -F': ' 'tolower($1) == "x-subject-token" {print $2}' | tr -d '\r')
[ -n "$TOKEN" ] || {
    echo "compute_bench.sh: could not issue a token" >&2
    exit 1
}
# A quota large enough for the run, and an image to boot from.
PROJECT=$(curl -s -H "X-Auth-Token: $TOKEN" -H "X-Subject-Token: $TOKEN" \
    "$NPH_URL/identity/v3/auth/tokens?nocatalog" |
    "$NPH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["token"]["project"]["id"])')
curl -s -o /dev/null -X PUT -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
    -d '{"quota_set":{"instances":-1,"cores":-1,"ram":-1}}' \
    "$NPH_URL/compute/v2.1/os-quota-sets/$PROJECT"
IMAGE=$(curl -s -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
    -d '{"name":"bench","disk_format":"raw","container_format":"bare"}' \
    "$NPH_URL/image/v2/images" | "$NPH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
head -c 65536 /dev/zero | curl -s -o /dev/null -X PUT -H "X-Auth-Token: $TOKEN" \
    -H 'Content-Type: application/octet-stream' --data-binary @- \
    "$NPH_URL/image/v2/images/$IMAGE/file"

# Median create -> ACTIVE over 20 servers (these count towards the 100).
CREATE_MS=$("$NPH_PYTHON" - "$NPH_URL" "$TOKEN" "$IMAGE" <<'PY'
import json, sys, time, urllib.request
url, token, image = sys.argv[1:4]
H = {"X-Auth-Token": token, "Content-Type": "application/json",
     "OpenStack-API-Version": "compute 2.37"}
def call(method, path, body=None):
    r = urllib.request.Request(url + path, method=method, headers=H,
                               data=json.dumps(body).encode() if body else None)
    with urllib.request.urlopen(r) as resp:
        return json.loads(resp.read() or b"{}")
times = []
for i in range(20):
    t0 = time.monotonic()
    sid = call("POST", "/compute/v2.1/servers", {"server": {"name": "timed-%d" % i,
               "flavorRef": "1", "imageRef": image, "networks": "none"}})["server"]["id"]
    while call("GET", "/compute/v2.1/servers/" + sid)["server"]["status"] != "ACTIVE":
        time.sleep(0.002)
    times.append((time.monotonic() - t0) * 1000)
times.sort()
print("%.2f" % times[len(times) // 2])
PY
)
for i in $(seq 21 "$N_SERVERS"); do
    curl -s -o /dev/null -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
        -d '{"server":{"name":"bench-'"$i"'","flavorRef":"1","imageRef":"'"$IMAGE"'","networks":"none"}}' \
        "$NPH_URL/compute/v2.1/servers"
done
sleep 1
COUNT=$(curl -s -H "X-Auth-Token: $TOKEN" "$NPH_URL/compute/v2.1/servers/detail" |
    "$NPH_PYTHON" -c 'import json,sys; s=json.load(sys.stdin)["servers"]; print(sum(1 for x in s if x["status"] == "ACTIVE"))')
if [ "$COUNT" != "$N_SERVERS" ]; then
    echo "compute_bench.sh: $COUNT of $N_SERVERS servers are ACTIVE" >&2
    exit 1
fi

declare -A RATE
ERRORS=0
measure() {
    local key=$1 conns=$2 path=$3 threads out rate non2xx
    shift 3
    threads=$((conns > 1 ? 2 : 1))
    out=$(wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency "$@" "$NPH_URL$path" 2>&1)
    rate=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    RATE[$key]=${rate:-0}
    printf '  %-36s %10.0f req/s   p50 %-9s p99 %-9s%s\n' "$key" "${rate:-0}" \
        "$(awk '$1 == "50%" {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")" \
        "${non2xx:+   NON-2XX: $non2xx}"
    if [ -n "$non2xx" ] || [ -z "$rate" ]; then ERRORS=$((ERRORS + 1)); fi
}

echo "nephele compute bench: $("$NEPHELE_BIN" version), $N_SERVERS servers on test:///default, wrk ${DURATION}s per figure, $(nproc) CPUs shared by wrk and the broker"
echo "raw figures:"
measure "healthz c=16 (baseline)" 16 /healthz
measure "servers/detail (100) c=1" 1 /compute/v2.1/servers/detail -H "X-Auth-Token: $TOKEN"
measure "servers/detail (100) c=16" 16 /compute/v2.1/servers/detail -H "X-Auth-Token: $TOKEN"
BASE=${RATE["healthz c=16 (baseline)"]}
echo
echo "results (ratio = rate / healthz c=16 of this run):"
for k in "healthz c=16 (baseline)" "servers/detail (100) c=1" "servers/detail (100) c=16"; do
    awk -v k="$k" -v r="${RATE[$k]}" -v b="$BASE" \
        'BEGIN { printf "  %-36s %10.0f req/s   %6.3f x healthz\n", k, r, (b > 0 ? r / b : 0) }'
done
printf '  %-36s %10s ms (median of 20, test driver)\n' "server create -> ACTIVE" "$CREATE_MS"
echo
echo "targets:"
D=${RATE["servers/detail (100) c=16"]}
if awk -v v="$D" -v t="$TARGET_DETAIL" 'BEGIN { exit !(v >= t) }'; then R=PASS; else R=MISS; fi
printf '  %-36s %10.0f req/s   target >= %d req/s   %s\n' "servers/detail (100) c=16" "$D" "$TARGET_DETAIL" "$R"
[ "$ERRORS" -gt 0 ] && echo "WARNING: $ERRORS figure(s) had non-2xx answers or no result"
if nph_stop; then echo "broker stopped gracefully"; else
    echo "broker did NOT stop gracefully"
    ERRORS=$((ERRORS + 1))
fi
[ "$ERRORS" -eq 0 ]

#!/usr/bin/env bash
# meters.sh - metering samples through the live broker (issue 6): a broker sampling every
# second (NEPHELE_METERING_SAMPLE_INTERVAL=1) on libvirt's test driver; a server created with
# the OpenStack client gets cpu, disk and network samples; GET /v1/meters lists them per
# resource (admin: every project; a member of another project: none of them), GET
# /v1/meters?resource=ID returns them oldest first; bad arguments are 400, no token 401;
# `nephele usage export` writes them as sample lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

if [ -z "$NPH_OPENSTACK" ]; then
    echo "meters.sh: the openstack client is not installed" >&2
    exit 1
fi
osc() { "$NPH_OPENSTACK" "$@"; }
RESP_BODY=
RESP_STATUS=
req() {
    local path=$1 f
    shift
    f=$(mktemp)
    RESP_STATUS=$(curl -s -o "$f" -w '%{http_code}' --max-time 20 "$@" "$NPH_URL$path")
    RESP_BODY=$(cat "$f")
    rm -f "$f"
}
jcheck() {
    printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c '
import json, sys
d = json.loads(sys.stdin.read())
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" 2>/dev/null
}
expect() { # message, status, [python condition on d]
    if [ "$RESP_STATUS" = "$2" ] && { [ -z "${3:-}" ] || jcheck "$3"; }; then
        pass "$1 (HTTP $2)"
    else
        fail "$1: expected HTTP $2${3:+ and $3}, got $RESP_STATUS: ${RESP_BODY:0:300}"
    fi
}

export NEPHELE_METERING_SAMPLE_INTERVAL=1
nph_start meters || exit 1
TOKEN=$(osc token issue -f value -c id)
IMGF=$(mktemp)
head -c 1048576 /dev/zero >"$IMGF"
check "image create" osc image create --disk-format raw --container-format bare --public \
    --file "$IMGF" m-image
rm -f "$IMGF"
SID=$(osc --os-compute-api-version 2.37 server create --flavor m1.tiny --image m-image --nic none --wait m-vm -f value -c id | tr -d "[:space:]")
if [ -n "$SID" ]; then pass "server create --wait ($SID)"; else fail "server create"; fi
# a member of another project
osc project create other >/dev/null && osc user create --project other --password pw-other-1 \
    bob >/dev/null && osc role add --project other --user bob member >/dev/null
BOB=$(OS_USERNAME=bob OS_PASSWORD=pw-other-1 OS_PROJECT_NAME=other osc token issue -f value -c id)

# the poller samples every second: wait for two rounds
for i in $(seq 50); do
    req "/v1/meters?resource=$SID&meter=cpu" -H "X-Auth-Token: $TOKEN"
    jcheck 'len(d["samples"]) >= 2' && break
    sleep 0.2
done
expect "GET /v1/meters?resource=ID&meter=cpu has 2+ samples, oldest first" 200 \
    'd["resource"] == "'"$SID"'" and len(d["samples"]) >= 2 and all(s["meter"] == "cpu" and s["unit"] == "ns" and s["period"] == 0 for s in d["samples"]) and d["samples"][0]["ts"] <= d["samples"][-1]["ts"] and not d["truncated"]'
req "/v1/meters?resource=$SID" -H "X-Auth-Token: $TOKEN"
# --nic none: no interface, so no network meters
expect "the server has cpu and disk meters, no network ones" 200 \
    'set(s["meter"] for s in d["samples"]) == {"cpu", "disk.read.bytes", "disk.write.bytes"}'
req "/v1/meters" -H "X-Auth-Token: $TOKEN"
expect "GET /v1/meters lists the server's meters (admin)" 200 \
    'any(m["resource"] == "'"$SID"'" and m["meter"] == "cpu" and m["samples"] >= 2 and m["type"] == "server" and m["latest"]["value"] >= 0 for m in d["meters"])'
req "/v1/meters?resource=$SID&limit=1" -H "X-Auth-Token: $TOKEN"
expect "limit=1 truncates" 200 'len(d["samples"]) == 1 and d["truncated"]'
req "/v1/meters" -H "X-Auth-Token: $BOB"
expect "another project's member sees none of them" 200 'd["meters"] == []'
req "/v1/meters?resource=$SID" -H "X-Auth-Token: $BOB"
expect "nor by resource id" 200 'd["samples"] == []'
req "/v1/meters"
expect "no token" 401
req "/v1/meters?limit=0" -H "X-Auth-Token: $TOKEN"
expect "limit=0" 400 '"limit" in d["error"]["message"]'
req "/v1/meters?from=yesterday" -H "X-Auth-Token: $TOKEN"
expect "from=yesterday" 400 '"from" in d["error"]["message"]'
req "/v1/meters?from=2026-11-02&to=2026-11-01" -H "X-Auth-Token: $TOKEN"
expect "to before from" 400

# usage export writes them (the store is the broker's SQLite file)
FROM=$(date -u -d '1 hour ago' +%Y-%m-%dT%H:%M:%SZ)
TO=$(date -u -d '1 hour' +%Y-%m-%dT%H:%M:%SZ)
out=$("$NEPHELE_BIN" usage export --data-dir "$NPH_DATA" --from "$FROM" --to "$TO")
if printf '%s\n' "$out" | grep -q '"event":"sample","resource":"'"$SID"'","type":"server".*"meter":"cpu"'; then
    pass "usage export has the server's sample lines"
else
    fail "usage export has no sample line of $SID: ${out:0:300}"
fi
check "server delete" osc server delete --wait "$SID"
nph_summary

#!/usr/bin/env bash
# fed_storage.sh - volumes and buckets across clouds. Broker B (a plain `nephele serve`) is an
# OpenStack cloud (Cinder v3, Swift) to broker A, which runs `home` (kind local), `remote`
# (kind openstack -> B) and `lab` (openstack -> B in a region B's catalog lacks: no storage).
# Through A's native API (curl), checked on B with the `openstack` and `swift` clients:
#   1. volumes on both clouds, named and placed by a policy (request.kind/size_gb); the merged
#      list; extend on remote; the ledger/billing report shows the remote volume
#   2. buckets on both clouds (named and placed by policy); an object of a few MB round-trips
#      byte-identical through A to B's Swift (downloaded there with `swift`), HEAD, listing
#   3. B stopped: the lists still answer, marking remote unavailable; B back: remote up again
#   4. deletes clean up on B (volume and container gone there)
#   5. bad input: unknown cloud, a cloud without the family, sizes 0/negative/huge/not a
#      number, bad bucket names, an object key too long, a wrong ETag; nothing is created
#
#   NEPHELE_BIN=build/broker/nephele tests/integration/fed_storage.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/fed_lib.sh"

if [ -z "$NPH_OPENSTACK" ] || ! command -v swift >/dev/null; then
    echo "fed_storage.sh: the openstack and swift clients are needed" >&2
    exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nph-fedstorage.XXXXXX")
A_PID= B_PID=
A_PORT=$(nph_free_port)
B_PORT=$(nph_free_port)
A_URL=http://127.0.0.1:$A_PORT
B_URL=http://127.0.0.1:$B_PORT
A_DATA=$WORK/a
B_DATA=$WORK/b
A_LOG=$WORK/a.log
B_LOG=$WORK/b.log
A_PW=$(nph_random_password)
B_PW=$(nph_random_password)
mkdir -p "$A_DATA" "$B_DATA"

b_start() {
    NEPHELE_BOOTSTRAP_PASSWORD=$B_PW "$NEPHELE_BIN" serve --data-dir "$B_DATA" \
        --listen "127.0.0.1:$B_PORT" --config "$WORK/b.yaml" >>"$B_LOG" 2>&1 &
    B_PID=$!
    wait_ready "$B_URL" "$B_PID" 20
}
a_start() {
    NEPHELE_FAULT_INJECTION=1 NEPHELE_BOOTSTRAP_PASSWORD=$A_PW "$NEPHELE_BIN" serve --data-dir "$A_DATA" \
        --listen "127.0.0.1:$A_PORT" --config "$WORK/a.yaml" >>"$A_LOG" 2>&1 &
    A_PID=$!
    wait_ready "$A_URL" "$A_PID" 20
}
cleanup() {
    local rc=$?
    osc_stop_all
    [ -n "$A_PID" ] && stop_pid "$A_PID" A "$A_LOG" >/dev/null
    [ -n "$B_PID" ] && stop_pid "$B_PID" B "$B_LOG" >/dev/null
    if [ -n "${NPH_KEEP_DATA:-}" ]; then echo "fed_storage.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
    return $rc
}
trap cleanup EXIT
failx() {
    fail "$@"
    echo "     | --- A log"
    tail -n 8 "$A_LOG" | cut -c1-300 | sed 's/^/     | /'
    echo "     | --- B log"
    tail -n 4 "$B_LOG" | cut -c1-300 | sed 's/^/     | /'
}
osb() { osc_call b "$B_URL" "$B_PW" "$@"; }
swb() {
    env -u OS_TOKEN -u OS_CLOUD -u OS_AUTH_TYPE $(os_vars "$B_URL" "$B_PW") swift -q "$@"
}
# expect STATUS LABEL: the last api call answered STATUS (else the body is shown).
expect() {
    if [ "$RESP_STATUS" = "$1" ]; then pass "$2: HTTP $1"; else failx "$2: HTTP $RESP_STATUS, expected $1: ${RESP_BODY:0:300}"; fi
}

cat >"$WORK/b.yaml" <<EOF
identity:
  max_active_keys: 3
EOF
cat >"$WORK/a.yaml" <<EOF
clouds:
  - name: home
    kind: local
  - name: remote
    kind: openstack
    auth:
      auth_url: $B_URL/identity/v3
      username: admin
      password: "$B_PW"
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    labels: { jurisdiction: KR }
    prices:
      volume_gb_month: { amount: "0.10", currency: EUR }
  - name: lab
    kind: openstack
    auth:
      auth_url: $B_URL/identity/v3
      username: admin
      password: "$B_PW"
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: Nowhere
federation:
  health_interval: 1
  breaker_failures: 3
  breaker_cooldown: 2
  reconcile_interval: 0
  call_timeout_ms: 3000
EOF

if b_start; then pass "broker B (the remote cloud) starts"; else fail "broker B starts"; tail -n 20 "$B_LOG"; nph_summary; fi
if a_start; then pass "broker A (home, remote, lab) starts"; else fail "broker A starts"; tail -n 20 "$A_LOG"; nph_summary; fi
osc_start b "$B_URL" "$B_PW"
TOKEN=$(token "$A_URL" admin "$A_PW" admin)
[ -n "$TOKEN" ] && pass "admin token from A" || { fail "admin token from A"; nph_summary; }
PROJECT=$(curl -s -H "X-Auth-Token: $TOKEN" -H "X-Subject-Token: $TOKEN" "$A_URL/identity/v3/auth/tokens" |
    "$NPH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["token"]["project"]["id"])')
if wait_cloud home up closed 10 && wait_cloud remote up closed 10; then
    pass "home and remote are up"
else
    failx "home and remote up"
fi
wait_cloud lab up closed 10 >/dev/null
api GET /v1/clouds
if jt '{c["name"]: ("volume" in c["families"], "object" in c["families"]) for c in d["clouds"]} == {"home": (True, True), "remote": (True, True), "lab": (False, False)}'; then
    pass "/v1/clouds: home and remote offer volume and object, lab neither"
else
    failx "/v1/clouds families: ${RESP_BODY:0:600}"
fi

# ==== placement policy ==========================================================================
POLICY='policies:
  - name: big-volumes-go-remote
    when: request.kind == "volume" && request.size_gb >= 2
    require: cloud.name == "remote"
  - name: large-buckets-stay-in-kr
    when: request.type == "bucket" && request.size_gb >= 5
    require: cloud.labels.jurisdiction == "KR"'
api POST /v1/policies "$("$NPH_PYTHON" -c 'import json,sys; print(json.dumps({"name": "storage", "document": sys.argv[1]}))' "$POLICY")"
expect 201 "POST /v1/policies (storage placement rules)"

# ==== 1. volumes =================================================================================
declare -A VID VRID
vol_create() { # KEY JSON
    api POST /v1/volumes "{\"volume\": $2}"
    VID[$1]=$(jv 'd["volume"]["id"]')
    VRID[$1]=$(jv 'd["volume"]["remote_id"]')
}
vol_create small '{"name": "v-small", "size_gb": 1}'
expect 202 "volume of 1 GiB without a cloud"
jt 'd["volume"]["cloud"] == "home" and d["volume"]["placement_id"]' && pass "placed on home (no rule applies; ties go to the cloud name)" || failx "small volume placement: ${RESP_BODY:0:300}"
vol_create big '{"name": "v-big", "size_gb": 2}'
expect 202 "volume of 2 GiB without a cloud"
jt 'd["volume"]["cloud"] == "remote"' && pass "placed on remote by rule big-volumes-go-remote" || failx "big volume placement: ${RESP_BODY:0:300}"
PL=$(jv 'd["volume"]["placement_id"]')
api GET "/v1/placements/$PL"
jt 'd["placement"]["decision"]["cloud"] == "remote"' && pass "the decision is stored and explains it" || failx "placement $PL: ${RESP_BODY:0:300}"
vol_create named '{"name": "v-named", "size_gb": 1, "cloud": "remote"}'
expect 202 "volume named to cloud remote"
out=$(osb volume show "${VRID[big]}" -f value -c size -c name 2>&1)
[ "$(echo $out)" = "v-big 2" ] && pass "B's Cinder shows v-big with 2 GiB (openstack client)" || fail "B's volume ${VRID[big]}: $out"

wait_volume() { # KEY STATUS
    for _ in $(seq 50); do
        api GET "/v1/volumes/${VID[$1]}"
        [ "$(jv 'd["volume"]["status"]')" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}
for k in small big named; do
    wait_volume $k available && pass "volume $k becomes available" || failx "volume $k: ${RESP_BODY:0:300}"
done
api GET /v1/volumes
if jt 'sorted((v["name"], v["cloud"], v["size_gb"]) for v in d["volumes"]) == [("v-big", "remote", 2), ("v-named", "remote", 1), ("v-small", "home", 1)] and d["unavailable"] == []'; then
    pass "merged volume list: both clouds, nothing unavailable"
else
    failx "merged volume list: ${RESP_BODY:0:500}"
fi
api GET "/v1/volumes?cloud=home"
jt '[v["name"] for v in d["volumes"]] == ["v-small"]' && pass "?cloud=home lists home's only" || fail "?cloud=home: ${RESP_BODY:0:300}"
api POST "/v1/volumes/${VID[big]}/extend" '{"size_gb": 3}'
expect 202 "extend v-big to 3 GiB"
for _ in $(seq 30); do
    out=$(osb volume show "${VRID[big]}" -f value -c size 2>&1)
    [ "$out" = 3 ] && break
    sleep 0.3
done
[ "$out" = 3 ] && pass "B's Cinder shows v-big with 3 GiB" || fail "B's v-big size after extend: $out"
api POST "/v1/volumes/${VID[big]}/extend" '{"size_gb": 2}'
expect 400 "extend to a smaller size"

# ==== 2. buckets and objects =====================================================================
api POST /v1/buckets '{"bucket": {"name": "b-home", "cloud": "home"}}'
expect 201 "bucket b-home on home"
api POST /v1/buckets '{"bucket": {"name": "b-kr", "size_gb": 5}}'
expect 201 "bucket b-kr (5 GB expected) without a cloud"
jt 'd["bucket"]["cloud"] == "remote"' && pass "placed on remote by rule large-buckets-stay-in-kr" || failx "b-kr placement: ${RESP_BODY:0:300}"
REMOTE_NAME=$(jv 'd["bucket"]["remote_name"]')
[ "$REMOTE_NAME" = "nephele-$PROJECT-b-kr" ] && pass "its container on B is $REMOTE_NAME" || fail "remote name: $REMOTE_NAME"
api POST /v1/buckets '{"bucket": {"name": "b-home"}}'
expect 409 "a second bucket b-home"

head -c 3500000 /dev/urandom >"$WORK/obj.bin"
MD5=$(md5sum "$WORK/obj.bin" | cut -d' ' -f1)
put() { # BUCKET KEY FILE [extra curl args]
    local b=$1 k=$2 f=$3
    shift 3
    RESP_STATUS=$(curl -s -o "$WORK/put.out" -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOKEN" \
        -H 'Content-Type: application/x-test' "$@" --data-binary "@$f" "$A_URL/v1/buckets/$b/objects/$k")
    RESP_BODY=$(cat "$WORK/put.out")
}
for b in b-home b-kr; do
    put $b dir/obj.bin "$WORK/obj.bin"
    expect 201 "PUT a 3.5 MB object into $b"
    jt "d['object']['etag'].strip('\"') == '$MD5' and d['object']['size'] == 3500000" && pass "$b: ETag is the MD5, size right" || fail "$b put: ${RESP_BODY:0:300}"
    st=$(curl -s -o "$WORK/get.bin" -w '%{http_code}' -H "X-Auth-Token: $TOKEN" "$A_URL/v1/buckets/$b/objects/dir/obj.bin")
    if [ "$st" = 200 ] && cmp -s "$WORK/obj.bin" "$WORK/get.bin"; then
        pass "$b: GET through A is byte-identical"
    else
        fail "$b: GET through A: HTTP $st, $(wc -c <"$WORK/get.bin") bytes"
    fi
    hdr=$(curl -s -I -H "X-Auth-Token: $TOKEN" "$A_URL/v1/buckets/$b/objects/dir/obj.bin" | tr -d '\r')
    if grep -qi '^content-length: 3500000$' <<<"$hdr" && grep -qi '^content-type: application/x-test' <<<"$hdr"; then
        pass "$b: HEAD gives the length and type"
    else
        fail "$b: HEAD: $hdr"
    fi
done
rm -f "$WORK/b.bin"
(cd "$WORK" && swb download "$REMOTE_NAME" dir/obj.bin -o "$WORK/b.bin") >/dev/null 2>&1
cmp -s "$WORK/obj.bin" "$WORK/b.bin" && pass "B's Swift holds the same bytes (swift download)" || fail "B's Swift copy differs or is missing"
api GET /v1/buckets/b-kr/objects
jt '[(o["key"], o["size"]) for o in d["objects"]] == [("dir/obj.bin", 3500000)]' && pass "object listing of b-kr" || fail "listing: ${RESP_BODY:0:300}"
api GET "/v1/buckets/b-kr/objects?prefix=nope/"
jt 'd["objects"] == []' && pass "listing with a prefix that matches nothing" || fail "prefix listing: ${RESP_BODY:0:300}"
api GET /v1/buckets/b-kr
jt 'd["bucket"]["objects"] == 1 and d["bucket"]["bytes"] == 3500000' && pass "bucket b-kr: 1 object, 3500000 bytes (from B)" || fail "bucket show: ${RESP_BODY:0:300}"
put b-kr bad.bin "$WORK/obj.bin" -H 'ETag: 0123456789abcdef0123456789abcdef'
expect 422 "PUT with a wrong ETag"
st=$(nph_status -H "X-Auth-Token: $TOKEN" "$A_URL/v1/buckets/b-kr/objects/bad.bin")
[ "$st" = 404 ] && pass "nothing stored under the wrong ETag" || fail "bad.bin: HTTP $st"
api GET /v1/buckets
jt 'sorted((b["name"], b["cloud"]) for b in d["buckets"]) == [("b-home", "home"), ("b-kr", "remote")] and d["unavailable"] == []' && pass "merged bucket list" || failx "bucket list: ${RESP_BODY:0:400}"

# ==== 3. B stopped ===============================================================================
if stop_pid "$B_PID" B "$B_LOG"; then pass "broker B stopped (exit 0 on TERM)"; else fail "broker B stopped (exit 0 on TERM)"; fi
B_PID=
api GET /v1/volumes
if [ "$RESP_STATUS" = 200 ] && jt '[u["cloud"] for u in d["unavailable"]] == ["remote"] and {v["name"]: v["status"] for v in d["volumes"]} == {"v-small": "available", "v-big": "unknown", "v-named": "unknown"}'; then
    pass "B stopped: the volume list answers, remote unavailable, its volumes unknown"
else
    failx "volume list with B stopped: HTTP $RESP_STATUS ${RESP_BODY:0:500}"
fi
api GET /v1/buckets
if [ "$RESP_STATUS" = 200 ] && jt '[u["cloud"] for u in d["unavailable"]] == ["remote"] and len(d["buckets"]) == 2'; then
    pass "B stopped: the bucket list answers, remote unavailable"
else
    failx "bucket list with B stopped: HTTP $RESP_STATUS ${RESP_BODY:0:500}"
fi
st=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $TOKEN" "$A_URL/v1/buckets/b-home/objects/dir/obj.bin")
[ "$st" = 200 ] && pass "B stopped: home's objects still served" || fail "home object with B stopped: HTTP $st"
api POST /v1/volumes '{"volume": {"size_gb": 1, "cloud": "remote"}}'
case $RESP_STATUS in 503 | 504) pass "B stopped: a volume on remote fails clearly (HTTP $RESP_STATUS)" ;; *) failx "create on stopped remote: HTTP $RESP_STATUS ${RESP_BODY:0:300}" ;; esac
if b_start; then pass "broker B restarts"; else fail "broker B restarts"; fi
wait_cloud remote up closed 15 >/dev/null && pass "remote is up again, breaker closed" || failx "remote after restart"
api GET /v1/volumes
jt 'd["unavailable"] == [] and all(v["status"] == "available" for v in d["volumes"])' && pass "the list is whole again" || failx "list after restart: ${RESP_BODY:0:400}"

# ==== 4. deletes clean up on B ====================================================================
api DELETE /v1/buckets/b-kr
expect 409 "deleting a bucket that holds objects"
api DELETE /v1/buckets/b-kr/objects/dir/obj.bin
expect 204 "DELETE the object on b-kr"
api DELETE /v1/buckets/b-kr
expect 204 "DELETE bucket b-kr"
out=$(swb list 2>&1)
grep -qxF "$REMOTE_NAME" <<<"$out" && fail "B still has container $REMOTE_NAME" || pass "B's Swift no longer has the container"
api DELETE "/v1/volumes/${VID[named]}"
expect 204 "DELETE volume v-named (remote)"
for _ in $(seq 30); do
    out=$(osb volume list -f value -c ID 2>&1)
    grep -qF "${VRID[named]}" <<<"$out" || break
    sleep 0.3
done
grep -qF "${VRID[named]}" <<<"$out" && fail "B still lists volume ${VRID[named]}" || pass "B's Cinder no longer has v-named"
api GET "/v1/volumes/${VID[named]}"
expect 404 "the deleted volume is gone from A"

# ==== ledger and billing ==========================================================================
api GET "/v1/billing/reports?group_by=cloud"
if [ "$RESP_STATUS" = 200 ] && jt 'any(l["cloud"] == "remote" and l["resource_type"] == "volume" and l["unit"] == "GB-month" for l in d["lines"])'; then
    pass "the billing report has a GB-month line for the remote volumes"
else
    failx "billing report: HTTP $RESP_STATUS ${RESP_BODY:0:500}"
fi
ledger_of() { # RESOURCE_ID: "event:size_gb ..." from A's store (SQLite)
    "$NPH_PYTHON" - "$A_DATA/nephele.db" "$1" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
rows = db.execute("SELECT event, size_gb FROM ledger_event WHERE resource_id = ? ORDER BY ts, rowid",
                  (sys.argv[2],)).fetchall()
print(" ".join("%s:%s" % r for r in rows))
PYEOF
}
EV=$(ledger_of "${VID[big]}")
[ "$EV" = "created:2 resized:3" ] && pass "ledger of v-big: created 2 GiB, resized 3 GiB" || fail "ledger of v-big: '$EV'"
EV=$(ledger_of "${VID[named]}")
[ "$EV" = "created:1 deleted:1" ] && pass "ledger of v-named: created, deleted" || fail "ledger of v-named: '$EV'"

# ==== 5. bad input ===============================================================================
api GET /v1/volumes
NVOL=$(jv 'len(d["volumes"])')
for body in '{"size_gb": 0}' '{"size_gb": -1}' '{"size_gb": 99999999}' '{"size_gb": "1"}' '{}' \
    '{"size_gb": 1, "cloud": 7}' '{"size_gb": 1, "colour": "red"}'; do
    api POST /v1/volumes "{\"volume\": $body}"
    expect 400 "volume $body"
done
api POST /v1/volumes '{"volume": {"size_gb": 1, "cloud": "atlantis"}}'
expect 400 "volume on an unknown cloud"
jt '"atlantis" in d["error"]["message"]' && pass "the error names the cloud" || fail "unknown cloud message: ${RESP_BODY:0:200}"
api POST /v1/volumes '{"volume": {"size_gb": 1, "cloud": "lab"}}'
expect 501 "volume on lab (no block storage)"
jt '"not supported by cloud" in d["error"]["message"] and "lab" in d["error"]["message"]' && pass "the error says lab does not support it" || fail "lab message: ${RESP_BODY:0:300}"
api POST /v1/buckets '{"bucket": {"name": "b-lab", "cloud": "lab"}}'
expect 501 "bucket on lab (no object storage)"
api POST /v1/volumes '[1]'
expect 400 "a body that is not the envelope"
api GET /v1/volumes
[ "$(jv 'len(d["volumes"])')" = "$NVOL" ] && pass "no volume was created by bad input" || fail "volumes after bad input: ${RESP_BODY:0:300}"
for name in ab Bad_Name -edge- a..b "$(printf 'x%.0s' $(seq 64))" '../up'; do
    api POST /v1/buckets "{\"bucket\": {\"name\": \"$name\"}}"
    expect 400 "bucket name '${name:0:20}'"
done
api GET /v1/buckets
jt '[b["name"] for b in d["buckets"]] == ["b-home"]' && pass "no bucket was created by bad input" || fail "buckets after bad input: ${RESP_BODY:0:300}"
LONG=$(printf 'k%.0s' $(seq 1100))
put b-home "$LONG" "$WORK/obj.bin"
expect 400 "an object key of 1100 bytes"
api GET /v1/buckets/nosuch/objects
expect 404 "objects of a bucket that does not exist"
api GET "/v1/volumes?cloud=atlantis"
expect 400 "list ?cloud=atlantis"

# ==== reconciliation of volumes ===================================================================
# Volumes are stamped with Nephele's id (metadata nephele_id). On B behind A's back: a stamped
# volume no record holds (a create whose answer was lost and whose record is gone), an unstamped
# one (not Nephele's), and one of Nephele's volumes deleted. A reconcile pass deletes the first,
# reports the second as an orphan and marks the third deleted.
api POST /v1/volumes '{"volume": {"name": "v-drift", "size_gb": 1, "cloud": "remote"}}'
expect 202 "volume v-drift on remote"
VID[drift]=$(jv 'd["volume"]["id"]')
VRID[drift]=$(jv 'd["volume"]["remote_id"]')
wait_volume drift available && pass "v-drift becomes available" || failx "v-drift: ${RESP_BODY:0:300}"
out=$(osb volume show "${VRID[drift]}" -f json 2>&1)
if printf '%s' "$out" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["properties"].get("nephele_id") == sys.argv[1] else 1)' "${VID[drift]}"; then
    pass "B's Cinder shows the volume stamped with Nephele's id"
else
    fail "the stamp on B: ${out:0:300}"
fi
STRAY_ID=$("$NPH_PYTHON" -c 'import uuid; print(uuid.uuid4())')
S1=$(osb volume create --size 1 --property "nephele_id=$STRAY_ID" stray-stamped -f value -c id 2>&1)
S2=$(osb volume create --size 1 stray-unstamped -f value -c id 2>&1)
for _ in $(seq 50); do
    st=$(osb volume list -f value -c Name -c Status 2>/dev/null | grep -c "^stray-.* available$")
    [ "$st" = 2 ] && break
    sleep 0.2
done
[ "$st" = 2 ] && pass "B: two stray volumes made behind A's back" || fail "stray volumes on B: $S1 $S2"
osb volume delete "${VRID[drift]}" >/dev/null 2>&1 && pass "B: v-drift deleted behind A's back" || fail "deleting v-drift on B"
for _ in $(seq 50); do
    osb volume show "${VRID[drift]}" >/dev/null 2>&1 || break
    sleep 0.2
done
api POST /v1/clouds/remote/reconcile
if [ "$RESP_STATUS" = 200 ] && jt '(lambda v: (v["marked_deleted"], v["cleaned"], v["orphans"]) == (1, 1, 1))(d["reconciliation"]["volumes"])'; then
    pass "reconcile: volumes marked_deleted 1, cleaned 1, orphans 1"
else
    failx "reconcile volumes: HTTP $RESP_STATUS ${RESP_BODY:0:400}"
fi
api GET "/v1/volumes/${VID[drift]}"
expect 404 "v-drift is gone from A (deleted outside Nephele)"
gone=1
for _ in $(seq 50); do
    gone=1
    osb volume show "$S1" >/dev/null 2>&1 && gone=0
    [ "$gone" = 1 ] && break
    sleep 0.2
done
[ "$gone" = 1 ] && pass "the stray stamped volume was deleted on B" || fail "stray-stamped still on B"
api GET /v1/clouds/remote/orphans
if jt '[(o["type"], o["name"]) for o in d["orphans"] if o["type"] == "volume"] == [("volume", "stray-unstamped")]'; then
    pass "orphans: the unstamped volume is reported (type volume), nothing else of B's"
else
    failx "orphans: ${RESP_BODY:0:400}"
fi
osb volume delete "$S2" >/dev/null 2>&1
for _ in $(seq 50); do osb volume show "$S2" >/dev/null 2>&1 || break; sleep 0.2; done
api POST /v1/clouds/remote/reconcile
api GET /v1/clouds/remote/orphans
jt '[o for o in d["orphans"] if o["type"] == "volume"] == []' && pass "the orphan goes once B deleted it" || failx "orphans after: ${RESP_BODY:0:300}"

# ==== reconciliation of buckets ===================================================================
# On B behind A's back: the container of one of Nephele's buckets deleted; an empty container
# named like Nephele's that no bucket holds (a create whose record is gone); one named like
# Nephele's that holds an object; one that is not Nephele's. A pass deletes the empty one and
# reports the other two (data is never deleted); the missing container is judged only once its
# bucket is older than a minute (a younger one may be a create under way): A's clock moves on.
api POST /v1/buckets '{"bucket": {"name": "b-drift", "cloud": "remote"}}'
expect 201 "bucket b-drift on remote"
DRIFT_ID=$(jv 'd["bucket"]["id"]')
DRIFT_RN=$(jv 'd["bucket"]["remote_name"]')
osb container delete "$DRIFT_RN" >/dev/null 2>&1 && pass "B: b-drift's container deleted behind A's back" || fail "deleting $DRIFT_RN on B"
echo stray >"$WORK/stray.txt"
if osb container create "nephele-$PROJECT-b-stray" >/dev/null 2>&1 &&
    osb container create "nephele-$PROJECT-b-full" >/dev/null 2>&1 &&
    osb object create --name stray.txt "nephele-$PROJECT-b-full" "$WORK/stray.txt" >/dev/null 2>&1 &&
    osb container create stray-container >/dev/null 2>&1; then
    pass "B: three stray containers, one holding an object"
else
    fail "stray containers on B"
fi
api POST /v1/clouds/remote/reconcile
if [ "$RESP_STATUS" = 200 ] && jt '(lambda b: (b["marked_deleted"], b["cleaned"], b["orphans"]) == (0, 1, 2))(d["reconciliation"]["buckets"])'; then
    pass "reconcile buckets: the young b-drift not judged yet, cleaned 1, orphans 2"
else
    failx "reconcile buckets: HTTP $RESP_STATUS ${RESP_BODY:0:400}"
fi
out=$(osb container list -f value -c Name 2>&1)
if ! printf '%s\n' "$out" | grep -qx "nephele-$PROJECT-b-stray" && printf '%s\n' "$out" | grep -qx "nephele-$PROJECT-b-full"; then
    pass "B: the empty stray container is gone, the one holding data is kept"
else
    fail "B's containers after the pass: $out"
fi
api GET /v1/clouds/remote/orphans
if jt "sorted(o['name'] for o in d['orphans'] if o['type'] == 'bucket') == ['nephele-$PROJECT-b-full', 'stray-container'] and [o['status'] for o in d['orphans'] if o['name'] == 'nephele-$PROJECT-b-full'] == ['1 objects, 6 bytes']"; then
    pass "orphans: two buckets of type bucket, with their counts"
else
    failx "bucket orphans: ${RESP_BODY:0:500}"
fi
api PUT /v1/clock '{"clock": {"offset": 180}}'
expect 200 "A's clock three minutes on"
api POST /v1/clouds/remote/reconcile
if [ "$RESP_STATUS" = 200 ] && jt '(lambda b: (b["marked_deleted"], b["cleaned"], b["orphans"]) == (1, 0, 2))(d["reconciliation"]["buckets"])'; then
    pass "reconcile buckets: b-drift marked deleted"
else
    failx "reconcile buckets (2): HTTP $RESP_STATUS ${RESP_BODY:0:400}"
fi
api GET /v1/buckets/b-drift
expect 404 "b-drift is gone from A (deleted outside Nephele)"
api PUT /v1/clock '{"clock": null}'
expect 200 "A's clock back to the real time"
EV=$(ledger_of "$DRIFT_ID" | sed 's/:[^ ]*//g')
[ "$EV" = "created deleted" ] && pass "ledger of b-drift: created, deleted (closed by the pass)" || fail "ledger of b-drift: '$EV'"
osb object delete "nephele-$PROJECT-b-full" stray.txt >/dev/null 2>&1
osb container delete "nephele-$PROJECT-b-full" >/dev/null 2>&1
osb container delete stray-container >/dev/null 2>&1
api POST /v1/clouds/remote/reconcile
api GET /v1/clouds/remote/orphans
jt '[o for o in d["orphans"] if o["type"] == "bucket"] == []' && pass "the bucket orphans go once B deleted them" || failx "bucket orphans after: ${RESP_BODY:0:300}"
# A killed after B made a volume and before A recorded its id (exit_after): the record has no
# remote id; after the restart a reconcile pass finds the volume by its stamp and adopts it.
api PUT /v1/clouds/remote/fault '{"fault": {"op": "volume_create", "exit_after": true, "count": 1}}'
expect 204 "PUT fault volume_create exit_after"
api POST /v1/volumes '{"volume": {"name": "v-lost", "size_gb": 1, "cloud": "remote"}}'
for _ in $(seq 100); do kill -0 "$A_PID" 2>/dev/null || break; sleep 0.1; done
if ! kill -0 "$A_PID" 2>/dev/null; then
    wait "$A_PID" 2>/dev/null
    st=$?
    [ "$st" = 137 ] && pass "A dies (137) after B made v-lost (HTTP $RESP_STATUS)" || fail "A exited with $st"
    A_PID=
else
    fail "A did not die at the fault"
fi
if a_start; then pass "A restarts"; else fail "A restarts"; tail -n 20 "$A_LOG"; nph_summary; fi
TOKEN=$(token "$A_URL" admin "$A_PW" admin)
api GET "/v1/volumes?cloud=remote"
LOST=$(jv '[v["id"] for v in d["volumes"] if v["name"] == "v-lost"][0]')
jt '[v.get("remote_id") for v in d["volumes"] if v["name"] == "v-lost"] == [None]' &&
    pass "v-lost is recorded without a remote id" || failx "v-lost before the pass: ${RESP_BODY:0:400}"
api POST /v1/clouds/remote/reconcile
jt 'd["reconciliation"]["volumes"]["adopted"] == 1' && pass "reconcile adopts v-lost by its stamp" || failx "adopt: ${RESP_BODY:0:400}"
api GET "/v1/volumes/$LOST"
LOST_RID=$(jv 'd["volume"]["remote_id"]')
if [ -n "$LOST_RID" ] && [ "$(osb volume show "$LOST_RID" -f value -c name 2>&1)" = v-lost ]; then
    pass "v-lost now names B's volume $LOST_RID"
else
    failx "v-lost after adoption: ${RESP_BODY:0:300}"
fi
wait_volume_id() { # ID STATUS
    for _ in $(seq 100); do
        api GET "/v1/volumes/$1"
        [ "$(jv 'd["volume"]["status"]')" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
wait_volume_id "$LOST" available || failx "v-lost available: ${RESP_BODY:0:300}"
api DELETE "/v1/volumes/$LOST"
expect 204 "DELETE the adopted v-lost"

# home's leftovers, so that A stops cleanly with nothing half-done
api DELETE /v1/buckets/b-home/objects/dir/obj.bin
expect 204 "DELETE the object on b-home"
api DELETE /v1/buckets/b-home
expect 204 "DELETE bucket b-home"
for k in small big; do
    api DELETE "/v1/volumes/${VID[$k]}"
    expect 204 "DELETE volume $k"
done
if kill -0 "$A_PID" 2>/dev/null && stop_pid "$A_PID" A "$A_LOG"; then
    pass "broker A stopped gracefully (exit 0 on TERM)"
else
    fail "broker A stopped gracefully (exit 0 on TERM)"
fi
A_PID=
if stop_pid "$B_PID" B "$B_LOG"; then pass "broker B stopped gracefully (exit 0 on TERM)"; else fail "broker B stopped gracefully (exit 0 on TERM)"; fi
B_PID=
nph_log "fed_storage.sh took $SECONDS s"
nph_summary

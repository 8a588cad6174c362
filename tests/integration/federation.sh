#!/usr/bin/env bash
# federation.sh - Nephele federating Nephele: broker B (a plain `nephele serve`) is an OpenStack
# cloud to broker A, which runs two clouds: `home` (kind local) and `remote` (kind openstack -> B).
# Through A's native API (curl) and with the `openstack` client pointed at B directly (and at A's
# Nova API for home's own view), it checks:
#   1. /v1/clouds, a server on each cloud, the merged list, show, stop/start/delete on each
#   2. faults, each ending with a clear error or a completed operation, the breaker right and no
#      orphan on remote (reconcile, then /v1/clouds/remote/orphans is empty):
#      a. B stopped (SIGSTOP: calls time out) during a create, then B stopped for good (TERM:
#         connections refused) during an action and restarted on the same port and data
#      b. a cloud `bad` added at runtime that answers 500, garbage, or a token then garbage
#      c. B's token keys rotated past max_active_keys (A's token is void): A re-authenticates
#      d. A killed (exit 137 by fault injection) between journal and cloud call, and right after
#         the call returned; restarted, the create completes with exactly one server on B
#      e. reconciliation: a server deleted on B behind A's back, a server created on B directly
#
#   NEPHELE_BIN=build/broker/nephele tests/integration/federation.sh
#   NPH_KEEP_DATA=1 keeps the work directory (data dirs and logs of both brokers).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

if [ -z "$NPH_OPENSTACK" ]; then
    echo "federation.sh: the openstack client is not installed" >&2
    exit 1
fi

T_START=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nph-federation.XXXXXX")
A_PID= B_PID= BAD_PID=
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

# ---- processes -------------------------------------------------------------------------------

# wait_http URL PID SECONDS: /readyz answers 200 while PID lives.
wait_ready() {
    local url=$1 pid=$2 i
    for i in $(seq $(($3 * 10))); do
        kill -0 "$pid" 2>/dev/null || return 1
        [ "$(nph_status --max-time 2 "$url/readyz")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

b_start() {
    echo "# --- B starts $(date +%T)" >>"$B_LOG"
    NEPHELE_BOOTSTRAP_PASSWORD=$B_PW "$NEPHELE_BIN" serve --data-dir "$B_DATA" \
        --listen "127.0.0.1:$B_PORT" --config "$WORK/b.yaml" >>"$B_LOG" 2>&1 &
    B_PID=$!
    if wait_ready "$B_URL" "$B_PID" 20; then
        return 0
    fi
    echo "B did not become ready; log tail:"
    tail -n 30 "$B_LOG" | sed 's/^/     | /'
    return 1
}

a_start() {
    echo "# --- A starts $(date +%T)" >>"$A_LOG"
    NEPHELE_FAULT_INJECTION=1 NEPHELE_BOOTSTRAP_PASSWORD=$A_PW "$NEPHELE_BIN" serve \
        --data-dir "$A_DATA" --listen "127.0.0.1:$A_PORT" --config "$WORK/a.yaml" >>"$A_LOG" 2>&1 &
    A_PID=$!
    if wait_ready "$A_URL" "$A_PID" 20; then
        return 0
    fi
    echo "A did not become ready; log tail:"
    tail -n 30 "$A_LOG" | sed 's/^/     | /'
    return 1
}

# stop_pid PID NAME LOG: TERM, wait up to 15 s (then KILL); 0 when it exited 0.
stop_pid() {
    local pid=$1 name=$2 log=$3 i status
    [ -n "$pid" ] || return 0
    kill -CONT "$pid" 2>/dev/null
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "     | $name (pid $pid) ignored TERM for 15 s; killing"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "     | $name exited with status $status; log tail:"
        tail -n 25 "$log" | sed 's/^/     | /'
        return 1
    fi
    return 0
}

cleanup() {
    local rc=$?
    [ -n "$BAD_PID" ] && kill "$BAD_PID" 2>/dev/null && wait "$BAD_PID" 2>/dev/null
    [ -n "$A_PID" ] && stop_pid "$A_PID" A "$A_LOG" >/dev/null
    [ -n "$B_PID" ] && stop_pid "$B_PID" B "$B_LOG" >/dev/null
    if [ -n "${NPH_KEEP_DATA:-}" ]; then
        echo "federation.sh: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    return $rc
}
trap cleanup EXIT

# A test failed: show what the brokers said last.
log_tails() {
    echo "     | --- A log (last ${1:-12} lines)"
    tail -n "${1:-12}" "$A_LOG" | cut -c1-400 | sed 's/^/     | /'
    echo "     | --- B log (last ${2:-6} lines)"
    tail -n "${2:-6}" "$B_LOG" | cut -c1-400 | sed 's/^/     | /'
}
failx() {
    fail "$@"
    log_tails
}

# ---- HTTP and JSON ---------------------------------------------------------------------------

RESP_STATUS= RESP_BODY=
# api METHOD PATH [JSON]: a request to A's API with the admin token.
api() {
    local method=$1 path=$2 f
    f=$(mktemp "$WORK/resp.XXXXXX")
    if [ $# -ge 3 ]; then
        RESP_STATUS=$(curl -s -o "$f" -w '%{http_code}' --max-time 30 -X "$method" \
            -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' -d "$3" "$A_URL$path")
    else
        RESP_STATUS=$(curl -s -o "$f" -w '%{http_code}' --max-time 30 -X "$method" \
            -H "X-Auth-Token: $TOKEN" "$A_URL$path")
    fi
    RESP_BODY=$(cat "$f")
    rm -f "$f"
}
# jq_ EXPR: evaluate a Python expression over d = the last response; prints it (str() of it).
jv() {
    printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c '
import json, sys
try:
    d = json.loads(sys.stdin.read())
    v = eval(sys.argv[1])
except Exception as e:
    sys.exit(1)
print("" if v is None else v)' "$1" 2>/dev/null
}
# jt EXPR: true when the expression holds over the last response.
jt() { [ "$(jv "bool($1)")" = True ]; }

# token URL PASSWORD: a project-scoped admin token from a broker's Keystone API.
token() {
    curl -s -D - -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
        -d '{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "'"$2"'"}}}, "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}' \
        "$1/identity/v3/auth/tokens" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-subject-token" {print $2}'
}

# The openstack client on B (the remote cloud's own view) and on A (home's own view).
os_env() { # URL PASSWORD CMD...
    local url=$1 pw=$2
    shift 2
    env -u OS_TOKEN -u OS_CLOUD -u OS_AUTH_TYPE OS_AUTH_URL="$url/identity/v3" OS_IDENTITY_API_VERSION=3 \
        OS_USERNAME=admin OS_PASSWORD="$pw" OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default \
        OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=RegionOne OS_INTERFACE=public \
        "$NPH_OPENSTACK" --os-compute-api-version 2.37 "$@"
}
osb() { os_env "$B_URL" "$B_PW" "$@"; }
osa() { os_env "$A_URL" "$A_PW" "$@"; }

# ---- federation helpers ----------------------------------------------------------------------

OP_STATE= OP_ERROR=
# wait_op OPID [SECONDS]: until the operation is done or error; sets OP_STATE, OP_ERROR.
wait_op() {
    local id=$1 n=$((${2:-30} * 5)) i
    OP_STATE= OP_ERROR=
    for i in $(seq "$n"); do
        api GET "/v1/operations/$id"
        OP_STATE=$(jv 'd["operation"]["state"]')
        OP_ERROR=$(jv 'd["operation"].get("error")')
        case $OP_STATE in done | error) return 0 ;; esac
        sleep 0.2
    done
    return 1
}

# cloud_field NAME FIELD: a field of GET /v1/clouds/NAME.
cloud_field() {
    api GET "/v1/clouds/$1"
    jv "d['cloud']['$2']"
}

# wait_cloud NAME STATE BREAKER SECONDS: until the cloud shows that state and breaker.
wait_cloud() {
    local name=$1 state=$2 breaker=$3 i
    for i in $(seq $(($4 * 5))); do
        api GET "/v1/clouds/$name"
        jt "d['cloud']['state'] == '$state' and d['cloud']['breaker'] == '$breaker'" && return 0
        sleep 0.2
    done
    echo "cloud $name: $RESP_BODY"
    return 1
}

# create NAME CLOUD: POST /v1/servers; sets SID, OPID (empty on failure).
SID= OPID=
create() {
    api POST /v1/servers "{\"server\": {\"name\": \"$1\", \"flavor\": \"m1.tiny\", \"image\": \"cirros\", \"cloud\": \"$2\"}}"
    SID=$(jv 'd["server"]["id"]')
    OPID=$(jv 'd["operation"]["id"]')
}

# act SERVER ACTION: POST /v1/servers/ID/action; sets OPID.
act() {
    api POST "/v1/servers/$1/action" "{\"action\": \"$2\"}"
    OPID=$(jv 'd["operation"]["id"]')
}

# check_op LABEL: the operation OPID ends done within SECONDS (default 30).
check_op() {
    local label=$1
    if [ -z "$OPID" ]; then
        failx "$label: no operation (HTTP $RESP_STATUS: ${RESP_BODY:0:300})"
        return 1
    fi
    wait_op "$OPID" "${2:-30}"
    if [ "$OP_STATE" = done ]; then
        pass "$label: operation done"
        return 0
    fi
    failx "$label: operation $OPID is '${OP_STATE:-?}' (error: ${OP_ERROR:-none})"
    return 1
}

# b_status REMOTE_ID: the server's status as B's own API shows it (openstack client).
b_status() { osb server show "$1" -f value -c status 2>&1; }
a_status() { osa server show "$1" -f value -c status 2>&1; }

# wait_b_status REMOTE_ID STATUS: the openstack client on B shows STATUS (a few tries).
wait_b_status() {
    local i s
    for i in 1 2 3 4 5 6 7 8; do
        s=$(b_status "$1")
        [ "$s" = "$2" ] && return 0
        sleep 0.5
    done
    echo "B shows $1 as: $s"
    return 1
}
wait_a_status() {
    local i s
    for i in 1 2 3 4 5 6 7 8; do
        s=$(a_status "$1")
        [ "$s" = "$2" ] && return 0
        sleep 0.5
    done
    echo "A's Nova API shows $1 as: $s"
    return 1
}

# b_count NAME: how many servers named NAME B holds (openstack client, exact match).
b_count() {
    osb server list --name "^$1\$" -f value -c ID 2>/dev/null | grep -c . || true
}

# no_orphans LABEL: reconcile remote, then its orphan list is empty.
no_orphans() {
    api POST /v1/clouds/remote/reconcile
    local sum=$RESP_BODY st=$RESP_STATUS
    api GET /v1/clouds/remote/orphans
    if [ "$st" = 200 ] && [ "$RESP_STATUS" = 200 ] && jt 'd["orphans"] == []'; then
        pass "$1: no orphan on remote after reconcile"
    else
        failx "$1: orphans on remote after reconcile (HTTP $st: ${sum:0:300}; orphans: ${RESP_BODY:0:400})"
    fi
}

# ---- configurations --------------------------------------------------------------------------

cat >"$WORK/b.yaml" <<EOF
identity:
  max_active_keys: 2
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
federation:
  health_interval: 1
  breaker_failures: 3
  breaker_cooldown: 2
  reconcile_interval: 0
  poll_interval_ms: 200
  call_timeout_ms: 1500
EOF

head -c 65536 /dev/zero >"$WORK/image.raw"

# ---- start -----------------------------------------------------------------------------------

if b_start; then pass "broker B (the remote cloud) starts at $B_URL"; else fail "broker B starts"; nph_summary; fi
check "image cirros on B (openstack client)" osb image create --disk-format raw --container-format bare --public --file "$WORK/image.raw" cirros
if a_start; then pass "broker A (home + remote) starts at $A_URL"; else fail "broker A starts"; nph_summary; fi
check "image cirros on A (openstack client)" osa image create --disk-format raw --container-format bare --public --file "$WORK/image.raw" cirros
TOKEN=$(token "$A_URL" "$A_PW")
if [ -n "$TOKEN" ]; then pass "admin token from A"; else fail "admin token from A"; nph_summary; fi

# ==== 1. both clouds ===========================================================================

if wait_cloud home up closed 10 && wait_cloud remote up closed 10; then
    pass "/v1/clouds: home and remote are up, breakers closed"
else
    failx "/v1/clouds: home and remote up"
fi
api GET /v1/clouds
if [ "$RESP_STATUS" = 200 ] &&
    jt 'sorted(c["name"] for c in d["clouds"]) == ["home", "remote"] and {c["name"]: c["kind"] for c in d["clouds"]} == {"home": "local", "remote": "openstack"} and all("compute" in c["families"] for c in d["clouds"])'; then
    pass "/v1/clouds lists home (local) and remote (openstack) with the compute family"
else
    fail "/v1/clouds: HTTP $RESP_STATUS ${RESP_BODY:0:500}"
fi
if jt '"'"$B_PW"'" not in json.dumps(d)'; then
    pass "/v1/clouds does not show remote's password"
else
    fail "/v1/clouds shows remote's password"
fi

declare -A ID RID
for c in home remote; do
    create "s1-$c" "$c"
    if [ "$RESP_STATUS" = 202 ] && jt "d['server']['cloud'] == '$c'"; then
        pass "POST /v1/servers on $c: 202"
    else
        failx "POST /v1/servers on $c: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
    fi
    ID[$c]=$SID
    check_op "create s1-$c on $c"
done
api GET /v1/servers
if [ "$RESP_STATUS" = 200 ] &&
    jt '{s["id"]: s["cloud"] for s in d["servers"]} == {"'"${ID[home]}"'": "home", "'"${ID[remote]}"'": "remote"} and all(s["status"] == "ACTIVE" for s in d["servers"]) and d["unavailable"] == []'; then
    pass "merged list: both servers, each with its cloud, ACTIVE, no cloud unavailable"
else
    failx "merged list: HTTP $RESP_STATUS ${RESP_BODY:0:600}"
fi
api GET "/v1/servers?cloud=remote"
if jt '[s["id"] for s in d["servers"]] == ["'"${ID[remote]}"'"]'; then
    pass "list ?cloud=remote shows only remote's server"
else
    fail "list ?cloud=remote: ${RESP_BODY:0:400}"
fi
for c in home remote; do
    api GET "/v1/servers/${ID[$c]}"
    RID[$c]=$(jv 'd["server"]["remote_id"]')
    if [ "$RESP_STATUS" = 200 ] && jt "d['server']['cloud'] == '$c' and d['server']['status'] == 'ACTIVE' and d['server']['name'] == 's1-$c'" && [ -n "${RID[$c]}" ]; then
        pass "GET /v1/servers/{id} on $c: ACTIVE with a remote id"
    else
        fail "GET /v1/servers/{id} on $c: HTTP $RESP_STATUS ${RESP_BODY:0:400}"
    fi
done
check "B's own API shows remote's server ACTIVE" wait_b_status "${RID[remote]}" ACTIVE
if out=$(osb server show "${RID[remote]}" -f json 2>&1) && grep -q "nephele_op" <<<"$out"; then
    pass "B's server carries the nephele_op stamp"
else
    fail "B's server carries the nephele_op stamp: ${out:0:300}"
fi
check "A's Nova API shows home's server ACTIVE" wait_a_status "${RID[home]}" ACTIVE

for step in stop:SHUTOFF start:ACTIVE; do
    a=${step%%:*} want=${step#*:}
    for c in home remote; do
        act "${ID[$c]}" "$a"
        [ "$RESP_STATUS" = 202 ] || failx "$a on $c: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
        check_op "$a s1-$c"
    done
    check "B's own API shows remote's server $want after $a" wait_b_status "${RID[remote]}" "$want"
    check "A's Nova API shows home's server $want after $a" wait_a_status "${RID[home]}" "$want"
done
for c in home remote; do
    api DELETE "/v1/servers/${ID[$c]}"
    OPID=$(jv 'd["operation"]["id"]')
    [ "$RESP_STATUS" = 202 ] || failx "DELETE on $c: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
    check_op "delete s1-$c"
    api GET "/v1/servers/${ID[$c]}"
    if [ "$RESP_STATUS" = 404 ]; then pass "GET of the deleted server on $c: 404"; else fail "GET of the deleted server on $c: HTTP $RESP_STATUS ${RESP_BODY:0:300}"; fi
done
gone_on() { # FN ID: the client says the server does not exist
    local i out
    for i in 1 2 3 4 5 6 7 8; do
        out=$("$1" server show "$2" -f value -c status 2>&1) || return 0
        sleep 0.5
    done
    echo "still there: $out"
    return 1
}
check "after delete, remote's server is gone on B" gone_on osb "${RID[remote]}"
check "after delete, home's server is gone from A's Nova API" gone_on osa "${RID[home]}"
no_orphans "part 1"
nph_log "part 1 took $((SECONDS - T_START)) s"

# ==== the end ==================================================================================

if kill -0 "$A_PID" 2>/dev/null; then
    if stop_pid "$A_PID" A "$A_LOG"; then pass "broker A stopped gracefully (exit 0 on TERM)"; else fail "broker A stopped gracefully (exit 0 on TERM)"; fi
else
    fail "broker A is still running at the end"
fi
A_PID=
if stop_pid "$B_PID" B "$B_LOG"; then pass "broker B stopped gracefully (exit 0 on TERM)"; else fail "broker B stopped gracefully (exit 0 on TERM)"; fi
B_PID=
nph_log "federation.sh took $((SECONDS - T_START)) s"
nph_summary

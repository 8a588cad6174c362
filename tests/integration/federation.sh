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
. "$HERE/fed_lib.sh"

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

cleanup() {
    local rc=$?
    local p
    osc_stop_all
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

# ---- HTTP and clients (api, jv, jt, token, osc_call: fed_lib.sh) -----------------------------


osb() { osc_call b "$B_URL" "$B_PW" "$@"; }
osa() { osc_call a "$A_URL" "$A_PW" "$@"; }

# ---- federation helpers ----------------------------------------------------------------------

# create NAME CLOUD: POST /v1/servers; sets SID, OPID (empty on failure).
SID= OPID=
create() {
    api POST /v1/servers "{\"server\": {\"name\": \"$1\", \"flavor\": \"m1.tiny\", \"image\": \"cirros\", \"cloud\": \"$2\"}}"
    SID=$(jv 'd["server"]["id"]')
    OPID=$(jv 'd["operation"]["id"]')
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
    local out
    out=$(osb server list -f value -c Name 2>&1) || { echo "? ($out)"; return; }
    grep -cxF -- "$1" <<<"$out" || true
}

# b_count_settled NAME WANT: b_count, polled for up to 10 s until it is WANT (a delete on B is
# asynchronous).
b_count_settled() {
    local i n
    for i in $(seq 1 20); do
        n=$(b_count "$1")
        [ "$n" = "$2" ] && break
        sleep 0.5
    done
    echo "$n"
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
osc_start b "$B_URL" "$B_PW"
check "image cirros on B (openstack client)" osb image create --disk-format raw --container-format bare --public --file "$WORK/image.raw" cirros
if a_start; then pass "broker A (home + remote) starts at $A_URL"; else fail "broker A starts"; nph_summary; fi
osc_start a "$A_URL" "$A_PW"
check "image cirros on A (openstack client)" osa image create --disk-format raw --container-format bare --public --file "$WORK/image.raw" cirros
TOKEN=$(token "$A_URL" admin "$A_PW" admin)
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

# ==== 2b. a cloud answering 500 and garbage =====================================================

# A tiny HTTP server: mode 500 (500 for everything), garbage (200, not JSON), token (a valid
# Keystone token whose catalog points at itself, then garbage from compute and image).
cat >"$WORK/bad_cloud.py" <<'PYEOF'
import http.server, json, sys
from datetime import datetime, timedelta, timezone
mode, port = sys.argv[1], int(sys.argv[2])
base = "http://127.0.0.1:%d" % port

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if mode == "500":
            body, status, ctype = b'{"error": {"code": 500, "message": "internal trouble"}}', 500, "application/json"
        elif mode == "token" and self.command == "POST" and self.path.endswith("/auth/tokens"):
            exp = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
            ep = lambda t, u: {"type": t, "name": t, "id": t, "endpoints": [
                {"id": t + "-pub", "interface": "public", "region": "RegionOne",
                 "region_id": "RegionOne", "url": base + u}]}
            body = json.dumps({"token": {
                "methods": ["password"], "expires_at": exp, "issued_at": exp,
                "user": {"id": "u1", "name": "admin", "domain": {"id": "default", "name": "Default"}},
                "project": {"id": "p1", "name": "admin", "domain": {"id": "default", "name": "Default"}},
                "roles": [{"id": "r1", "name": "admin"}],
                "catalog": [ep("identity", "/v3"), ep("compute", "/compute/v2.1"), ep("image", "/image")]}}).encode()
            status, ctype = 201, "application/json"
            self.send_response(status)
            self.send_header("X-Subject-Token", "gAAAAA-not-a-real-token")
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        else:
            body, status, ctype = b"<html>\x00\xff{not json at all", 200, "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer

http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PYEOF

for mode in 500 garbage token; do
    BAD_PORT=$(nph_free_port)
    "$NPH_PYTHON" "$WORK/bad_cloud.py" "$mode" "$BAD_PORT" 2>>"$WORK/bad_cloud.err" &
    BAD_PID=$!
    for i in $(seq 50); do [ "$(nph_status --max-time 1 "http://127.0.0.1:$BAD_PORT/")" != 000 ] && break; sleep 0.1; done
    api POST /v1/clouds '{"cloud": {"name": "bad", "kind": "openstack", "auth": {"auth_url": "http://127.0.0.1:'"$BAD_PORT"'/v3", "username": "admin", "password": "x", "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"}, "region_name": "RegionOne"}}'
    if [ "$RESP_STATUS" = 201 ] && jt 'd["cloud"]["name"] == "bad"'; then
        pass "bad ($mode): POST /v1/clouds adds it at runtime (201)"
    else
        failx "bad ($mode): POST /v1/clouds: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
    fi
    create "s-bad-$mode" bad
    if [ "$RESP_STATUS" = 202 ]; then
        wait_op "$OPID" 30
        if [ "$OP_STATE" = error ] && grep -q "'bad'" <<<"$OP_ERROR"; then
            pass "bad ($mode): the create's operation ends in error naming the cloud: ${OP_ERROR:0:160}"
        else
            failx "bad ($mode): the create's operation is '$OP_STATE' (error: ${OP_ERROR:-none})"
        fi
    elif [ "${RESP_STATUS:0:1}" = 4 ] || [ "${RESP_STATUS:0:1}" = 5 ]; then
        msg=$(jv 'd["error"]["message"]')
        if grep -q "'bad'" <<<"$msg"; then
            pass "bad ($mode): the create fails at once (HTTP $RESP_STATUS) naming the cloud: ${msg:0:160}"
        else
            failx "bad ($mode): the create's error does not name the cloud: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
        fi
    else
        failx "bad ($mode): create: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
    fi
    if [ "$mode" != token ]; then
        # every call fails (health probes included): the breaker opens
        if wait_cloud bad down open 10; then
            pass "bad ($mode): /v1/clouds shows it down, breaker open"
        else
            failx "bad ($mode): not down/open"
        fi
        api POST /v1/servers '{"server": {"name": "s-bad-fast", "flavor": "m1.tiny", "image": "cirros", "cloud": "bad"}}'
        msg=$(jv 'd["error"]["message"]')
        # placement rules the cloud out at once, naming the open breaker
        if [ "$RESP_STATUS" = 422 ] && grep -q "cloud 'bad' is down: circuit breaker open" <<<"$msg"; then
            pass "bad ($mode): a create fails fast while the breaker is open (422: ${msg:0:100})"
        else
            fail "bad ($mode): create while open: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
        fi
    else
        api GET /v1/clouds/bad
        nph_log "bad ($mode): state $(jv 'd["cloud"]["state"]'), breaker $(jv 'd["cloud"]["breaker"]'), last_error $(jv 'd["cloud"]["last_error"]')"
    fi
    api GET /v1/servers
    if [ "$RESP_STATUS" = 200 ] && jt 'all(s["cloud"] != "bad" for s in d["servers"])'; then
        pass "bad ($mode): the merged list still answers (bad unavailable: $(jv '[u["cloud"] for u in d["unavailable"]]'))"
    else
        failx "bad ($mode): merged list: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
    fi
    api DELETE /v1/clouds/bad
    if [ "$RESP_STATUS" = 204 ]; then
        pass "bad ($mode): DELETE /v1/clouds/bad (204)"
    else
        failx "bad ($mode): DELETE /v1/clouds/bad: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
    fi
    api GET /v1/clouds/bad
    [ "$RESP_STATUS" = 404 ] || fail "bad ($mode): still there after DELETE: HTTP $RESP_STATUS"
    kill "$BAD_PID" 2>/dev/null
    wait "$BAD_PID" 2>/dev/null
    BAD_PID=
done
if kill -0 "$A_PID" 2>/dev/null && [ "$(nph_status "$A_URL/readyz")" = 200 ]; then
    pass "A is alive and ready after the bad clouds"
else
    failx "A died with the bad clouds"
fi

# ==== 2a. remote stopped mid-operation (slow: calls time out), then refusing ====================

create keep-home home
KEEP_HOME=$SID
check_op "create keep-home on home"
# The create's call to B waits 3 s (fault injection), B is stopped meanwhile: the call
# times out (call_timeout_ms 1500), the operation retries, the breaker opens.
api PUT /v1/clouds/remote/fault '{"fault": {"op": "server_create", "delay_ms": 3000, "count": 1}}'
[ "$RESP_STATUS" = 204 ] || fail "PUT fault (delay): HTTP $RESP_STATUS ${RESP_BODY:0:200}"
create s2a remote
S2A=$SID S2A_OP=$OPID
kill -STOP "$B_PID"
if [ "$RESP_STATUS" = 202 ]; then pass "stopped B: create s2a accepted (202)"; else failx "stopped B: create s2a: HTTP $RESP_STATUS ${RESP_BODY:0:300}"; fi
if wait_cloud remote down open 20; then
    pass "stopped B: /v1/clouds shows remote down, breaker open (failures $(jv 'd["cloud"]["failures"]'), last_error: $(jv 'd["cloud"]["last_error"]' | cut -c1-100))"
else
    failx "stopped B: remote not down/open"
fi
api GET "/v1/operations/$S2A_OP"
if jt 'd["operation"]["state"] in ("pending", "running") and d["operation"]["attempts"] >= 1 and d["operation"]["error"]'; then
    pass "stopped B: the create is still in progress, retrying (attempts $(jv 'd["operation"]["attempts"]'), last error: $(jv 'd["operation"]["error"]' | cut -c1-80))"
else
    failx "stopped B: the create's operation: ${RESP_BODY:0:400}"
fi
t0=$(date +%s%N)
api GET /v1/servers
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$RESP_STATUS" = 200 ] && jt '"'"$KEEP_HOME"'" in [s["id"] for s in d["servers"] if s["cloud"] == "home"] and [u["cloud"] for u in d["unavailable"]] == ["remote"]'; then
    pass "stopped B: the merged list marks remote unavailable and still shows home's server (${ms} ms)"
else
    failx "stopped B: merged list: HTTP $RESP_STATUS ${RESP_BODY:0:500}"
fi
api POST /v1/servers '{"server": {"name": "s2a-fast", "flavor": "m1.tiny", "image": "cirros", "cloud": "remote"}}'
if { [ "$RESP_STATUS" = 422 ] && grep -q "cloud 'remote' is down" <<<"$RESP_BODY"; } ||
    { [ "${RESP_STATUS:0:1}" = 5 ] && grep -q "cloud 'remote'" <<<"$RESP_BODY"; }; then
    pass "stopped B: a new create on remote fails with a clear error (HTTP $RESP_STATUS: $(jv 'd["error"]["message"]' | cut -c1-100))"
else
    failx "stopped B: a new create on remote: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
fi
kill -CONT "$B_PID"
if wait_cloud remote up closed 20; then pass "B continued: breaker closes, remote up"; else failx "B continued: remote not up/closed"; fi
OPID=$S2A_OP
check_op "B continued: create s2a completes" 40
api GET "/v1/servers/$S2A"
S2A_RID=$(jv 'd["server"]["remote_id"]')
if jt 'd["server"]["status"] == "ACTIVE"'; then pass "s2a is ACTIVE"; else fail "s2a: ${RESP_BODY:0:300}"; fi
# Both submits may have reached B while it was stopped (the first one timed out in A but sat in
# B's socket): the create deletes the twin stamped with its operation before it ends.
n=$(b_count_settled s2a 1)
if [ "$n" = 1 ]; then pass "B holds exactly one server s2a"; else failx "B holds $n servers named s2a"; fi
no_orphans "stopped B"
# A twin made by hand, stamped with s2a's finished create: reconciliation deletes it, since the
# record holds the other server (without that it stays an orphan forever).
if out=$(osb server create --flavor m1.tiny --image cirros --property "nephele_op=$S2A_OP" \
    --wait s2a-twin -f value -c id 2>&1); then
    api POST /v1/clouds/remote/reconcile
    if [ "$RESP_STATUS" = 200 ] && jt 'd["reconciliation"]["cleaned"] >= 1' && [ "$(b_count_settled s2a-twin 0)" = 0 ]; then
        pass "reconcile deletes a twin of a finished create ($(jv 'd["reconciliation"]'))"
    else
        fail "reconcile and a twin: HTTP $RESP_STATUS ${RESP_BODY:0:300}; B holds $(b_count s2a-twin) s2a-twin"
    fi
else
    fail "create s2a-twin on B: ${out:0:300}"
fi
no_orphans "twin"

# Refused: B stopped for good (TERM) while a create waits for its call (fault injection delays
# it), then restarted on the same port and data directory. (B's native cloud runs on libvirt's
# test driver, whose domains do not survive a restart of B: what follows creates new servers
# rather than acting on old ones.)
api PUT /v1/clouds/remote/fault '{"fault": {"op": "server_create", "delay_ms": 3000, "count": 1}}'
[ "$RESP_STATUS" = 204 ] || fail "PUT fault (delay): HTTP $RESP_STATUS ${RESP_BODY:0:200}"
create s2a-refused remote
S2R=$SID S2R_OP=$OPID
if [ "$RESP_STATUS" = 202 ]; then pass "B stopping: create s2a-refused accepted (202)"; else failx "B stopping: create s2a-refused: HTTP $RESP_STATUS ${RESP_BODY:0:300}"; fi
if stop_pid "$B_PID" B "$B_LOG"; then pass "B stopped (TERM, exit 0)"; else fail "B stopped (TERM, exit 0)"; fi
B_PID=
if wait_cloud remote down open 20; then
    pass "B down: remote down, breaker open (last_error: $(jv 'd["cloud"]["last_error"]' | cut -c1-100))"
else
    failx "B down: remote not down/open"
fi
api GET "/v1/operations/$S2R_OP"
if jt 'd["operation"]["state"] in ("pending", "running") and d["operation"]["error"]'; then
    pass "B down: the create is still in progress, retrying (attempts $(jv 'd["operation"]["attempts"]'), error: $(jv 'd["operation"]["error"]' | cut -c1-80))"
else
    failx "B down: the create's operation: ${RESP_BODY:0:400}"
fi
if b_start; then pass "B restarted on the same port and data"; else fail "B restarted"; fi
if wait_cloud remote up closed 20; then pass "B back: breaker closes, remote up"; else failx "B back: remote not up/closed"; fi
OPID=$S2R_OP
check_op "B back: create s2a-refused completes" 40
api GET "/v1/servers/$S2R"
S2R_RID=$(jv 'd["server"]["remote_id"]')
if jt 'd["server"]["status"] == "ACTIVE"'; then pass "s2a-refused is ACTIVE"; else fail "s2a-refused: ${RESP_BODY:0:300}"; fi
n=$(b_count s2a-refused)
if [ "$n" = 1 ]; then pass "B holds exactly one server s2a-refused"; else failx "B holds $n servers named s2a-refused"; fi
[ -n "$S2R_RID" ] && check "B's own API shows s2a-refused ACTIVE" wait_b_status "$S2R_RID" ACTIVE
no_orphans "refused B"

# ==== 2c. a token expiring in mid-session =====================================================

# B's token keys rotated twice with identity.max_active_keys 2: the key that signed A's cached
# token is gone, B answers A's next call 401 and the driver authenticates again.
OLD_B_TOKEN=$(token "$B_URL" admin "$B_PW" admin)
if stop_pid "$B_PID" B "$B_LOG"; then pass "B stopped for key rotation"; else fail "B stopped for key rotation"; fi
B_PID=
check "token-keys rotate on B (1)" "$NEPHELE_BIN" token-keys rotate --config "$WORK/b.yaml" --data-dir "$B_DATA"
check "token-keys rotate on B (2)" "$NEPHELE_BIN" token-keys rotate --config "$WORK/b.yaml" --data-dir "$B_DATA"
B_LINES=$(wc -l <"$B_LOG")
if b_start; then pass "B restarted with rotated keys"; else fail "B restarted with rotated keys"; fi
# A may have seen B down while it restarted: the breaker closes again before the create
if wait_cloud remote up closed 30; then pass "B back after the rotation: remote up"; else failx "B back after the rotation: remote not up/closed"; fi
create s2c remote
if [ "$RESP_STATUS" = 202 ]; then
    pass "after the rotation: create s2c through A accepted (202)"
else
    failx "after the rotation: create s2c: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
fi
S2C=$SID
check_op "after the rotation: create s2c completes" 30
n401=$(tail -n +"$((B_LINES + 1))" "$B_LOG" | grep -c 'status=401')
if [ "$n401" -ge 1 ] && tail -n +"$((B_LINES + 1))" "$B_LOG" | grep 'status=401' -A 50 | grep -q 'path=/identity/v3/auth/tokens status=201'; then
    pass "B refused A's old token ($n401 x 401) and A authenticated again"
else
    fail "B's log shows no 401 then a new token after the rotation ($n401 x 401)"
fi
st=$(nph_status -H "X-Auth-Token: $OLD_B_TOKEN" "$B_URL/compute/v2.1/servers")
if [ "$st" = 401 ]; then
    pass "a token B issued before the rotation is refused (401)"
else
    fail "a token B issued before the rotation: HTTP $st (expected 401)"
fi
api GET "/v1/servers/$S2C"
rid=$(jv 'd["server"]["remote_id"]')
if jt 'd["server"]["status"] == "ACTIVE"' && [ -n "$rid" ]; then
    check "B's own API shows s2c ACTIVE" wait_b_status "$rid" ACTIVE
else
    fail "s2c: ${RESP_BODY:0:300}"
fi
if wait_cloud remote up closed 5; then pass "after the rotation: remote up, breaker closed"; else failx "after the rotation: remote not up"; fi
no_orphans "token"

# ==== 2d. A killed between journal and cloud call ==============================================

# a_died: A is gone with exit status 137 (A_EXIT: what happened).
a_died() {
    local i status
    A_EXIT=
    for i in $(seq 150); do
        kill -0 "$A_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$A_PID" 2>/dev/null; then
        A_EXIT="A is still running"
        return 1
    fi
    wait "$A_PID" 2>/dev/null
    status=$?
    A_PID=
    A_EXIT="A exited with status $status"
    [ "$status" = 137 ]
}
for kind in exit exit_after; do
    name=s2d-$kind
    api PUT /v1/clouds/remote/fault '{"fault": {"op": "server_create", "'"$kind"'": true, "count": 1}}'
    [ "$RESP_STATUS" = 204 ] || fail "PUT fault ($kind): HTTP $RESP_STATUS ${RESP_BODY:0:200}"
    create "$name" remote
    S2D=$SID S2D_OP=$OPID
    # The worker may reach the fault (and A die) before A has answered: no answer is fine then,
    # the operation is journaled; it is looked up by the server's name after the restart.
    if [ "$RESP_STATUS" = 202 ] || [ "$RESP_STATUS" = 000 ]; then
        pass "$kind: create $name accepted (HTTP $RESP_STATUS)"
    else
        failx "$kind: create $name: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
    fi
    if a_died; then
        pass "$kind: A dies (exit 137) at the create's cloud call"
    else
        failx "$kind: A dies (exit 137) at the create's cloud call: $A_EXIT"
    fi
    if [ -n "$A_PID" ]; then stop_pid "$A_PID" A "$A_LOG" >/dev/null; A_PID=; fi
    n=$(b_count "$name")
    if [ "$kind" = exit ]; then want=0; else want=1; fi
    if [ "$n" = "$want" ]; then pass "$kind: B holds $want server(s) $name before A restarts"; else fail "$kind: B holds $n servers $name before A restarts (expected $want)"; fi
    if a_start; then pass "$kind: A restarts on the same data, port and config"; else fail "$kind: A restarts"; nph_summary; fi
    if [ -z "$S2D" ]; then
        api GET "/v1/servers?cloud=remote"
        S2D=$(jv '[s["id"] for s in d["servers"] if s["name"] == "'"$name"'"][0]')
        S2D_OP=$(jv '[s["operation"] for s in d["servers"] if s["name"] == "'"$name"'"][0]')
        nph_log "$kind: A died before answering; the journal has server $S2D, operation $S2D_OP"
    fi
    OPID=$S2D_OP
    check_op "$kind: after the restart the create resumes" 40
    api GET "/v1/servers/$S2D"
    if jt 'd["server"]["status"] == "ACTIVE" and d["server"]["remote_id"]'; then pass "$kind: $name is ACTIVE"; else failx "$kind: $name: HTTP $RESP_STATUS ${RESP_BODY:0:300}"; fi
    rid=$(jv 'd["server"]["remote_id"]')
    n=$(b_count "$name")
    if [ "$n" = 1 ]; then pass "$kind: B holds exactly one server $name"; else failx "$kind: B holds $n servers named $name"; fi
    if [ -n "$rid" ]; then check "$kind: B's own API shows $name ACTIVE" wait_b_status "$rid" ACTIVE; fi
    no_orphans "$kind"
done

# ==== 2e. reconciliation =====================================================================

api GET "/v1/servers/$S2A"
# (no --wait: B restarted since s2a was built, so B shows it ERROR — its test-driver domain is
# gone — and the client's wait gives up on ERROR although the delete goes through)
gone_on_b() {
    osb server delete "$1" >/dev/null 2>&1 || return 1
    local i
    for i in $(seq 60); do
        osb server show "$1" >/dev/null 2>&1 || return 0
        sleep 0.5
    done
    return 1
}
if out=$(gone_on_b "$S2A_RID" 2>&1); then
    pass "s2a deleted on B behind A's back (openstack client on B)"
else
    fail "delete s2a on B: $out"
fi
api POST /v1/clouds/remote/reconcile
if [ "$RESP_STATUS" = 200 ] && jt 'd["reconciliation"]["marked_deleted"] == 1'; then
    pass "reconcile marks it deleted (summary: $(jv 'd["reconciliation"]'))"
else
    failx "reconcile after the delete behind A's back: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
fi
api GET "/v1/servers/$S2A"
if [ "$RESP_STATUS" = 404 ] || jt 'd["server"]["status"] == "DELETED"'; then
    pass "GET /v1/servers/{s2a} shows it gone (HTTP $RESP_STATUS)"
else
    fail "GET /v1/servers/{s2a} after reconcile: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
fi
api GET "/v1/servers?cloud=remote"
if jt '"'"$S2A"'" not in [s["id"] for s in d["servers"]]'; then pass "the list no longer shows s2a"; else fail "the list still shows s2a: ${RESP_BODY:0:300}"; fi
ORPHAN_RID=$(osb server create --flavor m1.tiny --image cirros --nic none --wait -f value -c id s2e-orphan 2>&1 | tail -n 1)
api POST /v1/clouds/remote/reconcile
sum=$RESP_BODY
api GET /v1/clouds/remote/orphans
if jt '[o["name"] for o in d["orphans"]] == ["s2e-orphan"] and d["orphans"][0]["remote_id"] == "'"$ORPHAN_RID"'"'; then
    pass "a server created on B directly is reported as an orphan (summary: $(RESP_BODY=$sum jv 'd["reconciliation"]'))"
else
    failx "orphans after a server created on B directly ($ORPHAN_RID): ${RESP_BODY:0:400}; reconcile: ${sum:0:300}"
fi
check "the orphan deleted on B" osb server delete --wait "$ORPHAN_RID"
no_orphans "reconciliation"

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

#!/usr/bin/env bash
# federation_peer.sh - Nephele federating a real OpenStack: broker A with two clouds, `home` (kind
# local) and `peer` (kind openstack: the OpenStack that tests/integration/openstack/peer.sh runs on
# 127.0.0.1 from Debian's packages, Nova with its fake virt driver), with the peer's admin
# credentials from its env file. Through A's native API it creates a server on each cloud, lists
# them merged, shows, stops, starts and deletes each, and checks every step on the cloud's own
# API: the `openstack` client pointed at the peer directly, and at A's Nova API for home.
#
#   tests/integration/openstack/peer.sh up        (once; as root)
#   NEPHELE_BIN=build/broker/nephele tests/integration/federation_peer.sh
#
#   NPH_PEER_ENV       the peer's env file (default /var/lib/nephele-peer/peer.env, as written by
#                      `peer.sh up`; `peer.sh env` prints it)
#   NPH_PEER_SKIP=1    print "SKIP: ..." and exit 0 when the peer is not up (default: fail)
#   NPH_KEEP_DATA=1    keep the work directory (A's data and log)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/fed_lib.sh"

if [ -z "$NPH_OPENSTACK" ]; then
    echo "federation_peer.sh: the openstack client is not installed" >&2
    exit 1
fi
: "${NPH_PEER_ENV:=/var/lib/nephele-peer/peer.env}"
not_up() {
    if [ "${NPH_PEER_SKIP:-0}" = 1 ]; then
        echo "SKIP: $* (tests/integration/openstack/peer.sh up)"
        exit 0
    fi
    echo "federation_peer.sh: $* (run tests/integration/openstack/peer.sh up first)" >&2
    exit 1
}
[ -r "$NPH_PEER_ENV" ] || not_up "no peer env file at $NPH_PEER_ENV"
# The peer's admin variables, kept apart from the OS_* of this shell.
PEER_VARS=$(env -i bash -c '. "$1" >/dev/null 2>&1; env' _ "$NPH_PEER_ENV" | grep -E '^(OS_|NPH_PEER_)')
peer_var() { sed -n "s/^$1=//p" <<<"$PEER_VARS" | head -n 1; }
P_AUTH_URL=$(peer_var OS_AUTH_URL)
P_USER=$(peer_var OS_USERNAME)
P_PW=$(peer_var OS_PASSWORD)
P_PROJECT=$(peer_var OS_PROJECT_NAME)
P_UDOM=$(peer_var OS_USER_DOMAIN_NAME)
P_PDOM=$(peer_var OS_PROJECT_DOMAIN_NAME)
P_REGION=$(peer_var OS_REGION_NAME)
P_IMAGE=$(peer_var NPH_PEER_IMAGE)
P_NOVA=$(peer_var NPH_PEER_NOVA_URL)
: "${P_REGION:=RegionOne}" "${P_IMAGE:=cirros-fake}" "${P_UDOM:=Default}" "${P_PDOM:=Default}"
[ -n "$P_AUTH_URL" ] && [ -n "$P_PW" ] || not_up "the env file $NPH_PEER_ENV has no OS_AUTH_URL/OS_PASSWORD"
st=$(nph_status --max-time 5 "$P_AUTH_URL")
case $st in 2* | 3*) ;; *) not_up "the peer's Keystone at $P_AUTH_URL does not answer (HTTP $st)" ;; esac
if [ -n "$P_NOVA" ]; then
    st=$(nph_status --max-time 5 "$P_NOVA")
    case $st in 2* | 3* | 401) ;; *) not_up "the peer's Nova at $P_NOVA does not answer (HTTP $st)" ;; esac
fi

T_START=$SECONDS
RUN=$$
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nph-federation-peer.XXXXXX")
A_PID=
A_PORT=$(nph_free_port)
A_URL=http://127.0.0.1:$A_PORT
A_DATA=$WORK/a
A_LOG=$WORK/a.log
A_PW=$(nph_random_password)
mkdir -p "$A_DATA"

# ---- processes -------------------------------------------------------------------------------

a_start() {
    NEPHELE_BOOTSTRAP_PASSWORD=$A_PW "$NEPHELE_BIN" serve --data-dir "$A_DATA" \
        --listen "127.0.0.1:$A_PORT" --config "$WORK/a.yaml" >>"$A_LOG" 2>&1 &
    A_PID=$!
    if wait_ready "$A_URL" "$A_PID" 30; then
        return 0
    fi
    echo "A did not become ready; log tail:"
    tail -n 30 "$A_LOG" | sed 's/^/     | /'
    return 1
}

cleanup() {
    local rc=$?
    osc_stop_all
    [ -n "$A_PID" ] && stop_pid "$A_PID" A "$A_LOG" >/dev/null
    if [ -n "${NPH_KEEP_DATA:-}" ]; then
        echo "federation_peer.sh: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    return $rc
}
trap cleanup EXIT

log_tails() {
    echo "     | --- A log (last ${1:-12} lines)"
    tail -n "${1:-12}" "$A_LOG" | cut -c1-400 | sed 's/^/     | /'
}
failx() {
    fail "$@"
    log_tails
}

# ---- HTTP and clients (api, jv, jt, token, osc_call: fed_lib.sh) -----------------------------


osp() { osc_call p peer "" "$@"; }
osa() { osc_call a "$A_URL" "$A_PW" "$@"; }

# ---- federation helpers ----------------------------------------------------------------------

# create NAME CLOUD: POST /v1/servers; sets SID, OPID (empty on failure).
SID= OPID=
create() {
    api POST /v1/servers "{\"server\": {\"name\": \"$1\", \"flavor\": \"m1.tiny\", \"image\": \"cirros\", \"cloud\": \"$2\"}}"
    SID=$(jv 'd["server"]["id"]')
    OPID=$(jv 'd["operation"]["id"]')
}

# p_status / a_status REMOTE_ID: the status the cloud's own API shows (openstack client).
p_status() { osp server show "$1" -f value -c status 2>&1; }
a_status() { osa server show "$1" -f value -c status 2>&1; }
# wait_status FN REMOTE_ID STATUS: a few tries (Nova's fake driver and the native one are quick).
wait_status() {
    local i s
    for i in $(seq 30); do
        s=$("$1" "$2")
        [ "$s" = "$3" ] && return 0
        sleep 1
    done
    echo "$1 shows $2 as: $s"
    return 1
}
gone_on() { # FN ID: the client says the server does not exist (within 60 s)
    local i out
    for i in $(seq 30); do
        out=$("$1" server show "$2" -f value -c status 2>&1) || return 0
        sleep 2
    done
    echo "still there: $out"
    return 1
}

cat >"$WORK/a.yaml" <<YAML
clouds:
  - name: home
    kind: local
  - name: peer
    kind: openstack
    auth:
      auth_url: $P_AUTH_URL
      username: "$P_USER"
      password: "$P_PW"
      project_name: "$P_PROJECT"
      user_domain_name: "$P_UDOM"
      project_domain_name: "$P_PDOM"
    region_name: $P_REGION
    network: none
    images: { cirros: $P_IMAGE }
    labels: { kind: openstack-zed }
federation:
  health_interval: 2
  reconcile_interval: 0
  poll_interval_ms: 500
  call_timeout_ms: 30000
YAML
head -c 65536 /dev/zero >"$WORK/image.raw"

if a_start; then pass "broker A (home + peer) starts at $A_URL"; else fail "broker A starts"; nph_summary; fi
osc_start a "$A_URL" "$A_PW"
osc_start p peer ""
check "image cirros on A (openstack client)" osa image create --disk-format raw --container-format bare --public --file "$WORK/image.raw" cirros
check "the peer has image $P_IMAGE (openstack client on the peer)" osp image show "$P_IMAGE" -f value -c id
TOKEN=$(token "$A_URL" admin "$A_PW" admin)
if [ -n "$TOKEN" ]; then pass "admin token from A"; else fail "admin token from A"; nph_summary; fi

if wait_cloud home up closed 20 && wait_cloud peer up closed 30; then
    pass "/v1/clouds: home and peer are up, breakers closed"
else
    failx "/v1/clouds: home and peer up"
fi
api GET /v1/clouds
if [ "$RESP_STATUS" = 200 ] &&
    jt '{c["name"]: c["kind"] for c in d["clouds"]} == {"home": "local", "peer": "openstack"} and all("compute" in c["families"] for c in d["clouds"])'; then
    pass "/v1/clouds lists home (local) and peer (openstack) with the compute family"
else
    fail "/v1/clouds: HTTP $RESP_STATUS ${RESP_BODY:0:500}"
fi

declare -A ID RID NAME
for c in home peer; do
    NAME[$c]=fedpeer-$c-$RUN
    create "${NAME[$c]}" "$c"
    if [ "$RESP_STATUS" = 202 ] && jt "d['server']['cloud'] == '$c'"; then
        pass "POST /v1/servers on $c: 202"
    else
        failx "POST /v1/servers on $c: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
    fi
    ID[$c]=$SID
    check_op "create ${NAME[$c]} on $c" 120
done
api GET /v1/servers
if [ "$RESP_STATUS" = 200 ] &&
    jt '{s["id"]: s["cloud"] for s in d["servers"] if s["id"] in ("'"${ID[home]}"'", "'"${ID[peer]}"'")} == {"'"${ID[home]}"'": "home", "'"${ID[peer]}"'": "peer"} and d["unavailable"] == []'; then
    pass "merged list: both servers, each with its cloud, no cloud unavailable"
else
    failx "merged list: HTTP $RESP_STATUS ${RESP_BODY:0:600}"
fi
for c in home peer; do
    api GET "/v1/servers/${ID[$c]}"
    RID[$c]=$(jv 'd["server"]["remote_id"]')
    if [ "$RESP_STATUS" = 200 ] && jt "d['server']['cloud'] == '$c' and d['server']['status'] == 'ACTIVE'" && [ -n "${RID[$c]}" ]; then
        pass "GET /v1/servers/{id} on $c: ACTIVE with a remote id"
    else
        fail "GET /v1/servers/{id} on $c: HTTP $RESP_STATUS ${RESP_BODY:0:400}"
    fi
done
check "the peer's own API shows its server ACTIVE" wait_status p_status "${RID[peer]}" ACTIVE
if out=$(osp server show "${RID[peer]}" -f json 2>&1) && grep -q "nephele_op" <<<"$out" && grep -q "\"${NAME[peer]}\"" <<<"$out"; then
    pass "the peer's server has its name and the nephele_op stamp"
else
    fail "the peer's server has its name and the nephele_op stamp: ${out:0:300}"
fi
check "A's Nova API shows home's server ACTIVE" wait_status a_status "${RID[home]}" ACTIVE

for step in stop:SHUTOFF start:ACTIVE; do
    a=${step%%:*} want=${step#*:}
    for c in home peer; do
        act "${ID[$c]}" "$a"
        [ "$RESP_STATUS" = 202 ] || failx "$a on $c: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
        check_op "$a ${NAME[$c]}" 120
    done
    check "the peer's own API shows its server $want after $a" wait_status p_status "${RID[peer]}" "$want"
    check "A's Nova API shows home's server $want after $a" wait_status a_status "${RID[home]}" "$want"
done
for c in home peer; do
    api DELETE "/v1/servers/${ID[$c]}"
    OPID=$(jv 'd["operation"]["id"]')
    [ "$RESP_STATUS" = 202 ] || failx "DELETE on $c: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
    check_op "delete ${NAME[$c]}" 120
    api GET "/v1/servers/${ID[$c]}"
    if [ "$RESP_STATUS" = 404 ]; then pass "GET of the deleted server on $c: 404"; else fail "GET of the deleted server on $c: HTTP $RESP_STATUS ${RESP_BODY:0:300}"; fi
done
check "after delete, the server is gone from the peer" gone_on osp "${RID[peer]}"
check "after delete, home's server is gone from A's Nova API" gone_on osa "${RID[home]}"
# The peer may hold servers of others (it is shared): none of ours may be an orphan.
api POST /v1/clouds/peer/reconcile
sum=$RESP_BODY
api GET /v1/clouds/peer/orphans
if [ "$RESP_STATUS" = 200 ] && jt 'not [o for o in d["orphans"] if o["name"].startswith("fedpeer-") and o["name"].endswith("-'"$RUN"'")]'; then
    pass "no server of this test is an orphan on the peer ($(RESP_BODY=$sum jv 'd["reconciliation"]'))"
else
    failx "orphans on the peer: ${RESP_BODY:0:400}; reconcile: ${sum:0:300}"
fi

if stop_pid "$A_PID" A "$A_LOG"; then pass "broker A stopped gracefully (exit 0 on TERM)"; else fail "broker A stopped gracefully (exit 0 on TERM)"; fi
A_PID=
nph_log "federation_peer.sh took $((SECONDS - T_START)) s"
nph_summary

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
    local rc=$? p
    for p in "${OSC_PID[@]}"; do kill "$p" 2>/dev/null; done
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

# The openstack client on the peer (the cloud's own view) and on A (home's own view). Under load
# the `openstack` program spends seconds importing its libraries for each command, so one Python
# process of python-openstackclient per cloud (the program is openstackclient.shell.main) serves
# that cloud's commands: it reads argv lines (\x1f-separated) on a FIFO and answers "<rc> <n>" and
# n lines of output on another. The program itself is the fallback.
cat >"$WORK/osc_server.py" <<'PYEOF'
import contextlib, io, sys
from openstackclient import shell

for line in sys.stdin:
    argv = line.rstrip("\n").split("\x1f")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = shell.OpenStackShell().run(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except Exception as e:  # the client's own crash: reported like a failed command
            print("%s: %s" % (type(e).__name__, e), file=sys.stderr)
            rc = 1
    lines = (out.getvalue() + err.getvalue()).splitlines()
    sys.stdout.write("%d %d\n" % (rc or 0, len(lines)))
    for l in lines:
        sys.stdout.write(l + "\n")
    sys.stdout.flush()
PYEOF
declare -A OSC_PID OSC_IN OSC_OUT
os_vars() { # URL PASSWORD: the environment of the client for a broker, or for the peer (URL "peer")
    if [ "$1" = peer ]; then
        echo "OS_AUTH_URL=$P_AUTH_URL" OS_IDENTITY_API_VERSION=3 "OS_USERNAME=$P_USER" \
            "OS_PASSWORD=$P_PW" "OS_PROJECT_NAME=$P_PROJECT" "OS_USER_DOMAIN_NAME=$P_UDOM" \
            "OS_PROJECT_DOMAIN_NAME=$P_PDOM" "OS_REGION_NAME=$P_REGION" OS_INTERFACE=public
        return
    fi
    echo "OS_AUTH_URL=$1/identity/v3" OS_IDENTITY_API_VERSION=3 OS_USERNAME=admin \
        "OS_PASSWORD=$2" OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default \
        OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=RegionOne OS_INTERFACE=public
}
osc_start() { # NAME URL PASSWORD
    local name=$1 fd_in fd_out
    [ "$NPH_OPENSTACK" = /usr/bin/openstack ] || return 0
    mkfifo "$WORK/osc-$name.in" "$WORK/osc-$name.out" || return 0
    env -u OS_TOKEN -u OS_CLOUD -u OS_AUTH_TYPE $(os_vars "$2" "$3") /usr/bin/python3 -u \
        "$WORK/osc_server.py" <"$WORK/osc-$name.in" >"$WORK/osc-$name.out" 2>>"$WORK/osc-$name.err" &
    OSC_PID[$name]=$!
    exec {fd_in}>"$WORK/osc-$name.in" {fd_out}<"$WORK/osc-$name.out"
    OSC_IN[$name]=$fd_in OSC_OUT[$name]=$fd_out
}
osc_call() { # NAME URL PASSWORD ARGV...: one command through that cloud's client process
    local name=$1 url=$2 pw=$3 line= f rc n i l pid
    shift 3
    set -- --os-compute-api-version 2.37 "$@"
    pid=${OSC_PID[$name]:-}
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        for f in "$@"; do line+=${line:+$'\x1f'}$f; done
        printf '%s\n' "$line" >&"${OSC_IN[$name]}"
        if IFS=' ' read -r -t 180 rc n <&"${OSC_OUT[$name]}"; then
            for ((i = 0; i < n; i++)); do
                IFS= read -r -t 10 l <&"${OSC_OUT[$name]}" && printf '%s\n' "$l"
            done
            return "$rc"
        fi
        echo "the openstack client process for $name did not answer; using the program" >&2
        kill "$pid" 2>/dev/null
    fi
    env -u OS_TOKEN -u OS_CLOUD -u OS_AUTH_TYPE $(os_vars "$url" "$pw") "$NPH_OPENSTACK" "$@"
}
osp() { osc_call p peer "" "$@"; }
osa() { osc_call a "$A_URL" "$A_PW" "$@"; }

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
TOKEN=$(token "$A_URL" "$A_PW")
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

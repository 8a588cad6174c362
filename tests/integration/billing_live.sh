#!/usr/bin/env bash
# billing_live.sh - one bill over two live clouds, budgets that alert as the spend grows, and
# the usage cross-check with a federated broker.
#
# Broker B (a plain `nephele serve`) is an OpenStack cloud to broker A, which runs `home`
# (kind local, prices in EUR) and `remote` (kind openstack -> B, prices in USD). Both brokers
# run with NEPHELE_FAULT_INJECTION=1, so the test moves their clocks (PUT /v1/clock) into
# January 2027 and then forward by hours between steps. A tiny python3 http.server on
# 127.0.0.1 is the budget webhook.
#
# Prices (a.yaml): home m1.tiny 0.05 EUR/h; remote m1.tiny 0.10 USD/h, and USD -> EUR 0.90
# from 2027-01-01, so 0.09 EUR/h. Budget of the admin project: 2.00 EUR a month, warn,
# thresholds 50/80/100 % (1.00, 1.60 and 2.00 EUR). T0 = 2027-01-05T00:00:00Z.
#
#   T0       create s-home (home) and s-remote (remote)             spend 0
#   T0+8h    8 h x (0.05 + 0.09) = 1.12 EUR = 56 %       -> alert 50 % (webhook down: retried)
#            delete s-home (home: 8 h x 0.05 = 0.40)
#            A restarts with the alert undelivered; the webhook comes up: delivered after it
#   T0+11h   0.40 + 11 h x 0.09 = 1.39 EUR = 69.5 %      -> no new alert
#   T0+14h   0.40 + 14 h x 0.09 = 1.66 EUR = 83 %        -> alert 80 %
#            delete s-remote (remote: 14 h x 0.10 USD = 1.40 USD x 0.90 = 1.26 EUR)
#            create s-home2 (home)
#   T0+22h   1.66 + 8 h x 0.05 = 2.06 EUR = 103 %        -> alert 100 %
#            delete s-home2 (home: 8 h x 0.05 = 0.40)
#
# January's bill, grouped by project and cloud: home 16 h = 0.80 EUR, remote 14 h = 1.26 EUR,
# total 2.06 EUR. Real time also passes (seconds, between the clock moves); at these prices a
# minute is worth less than 0.003 EUR, so every figure above still rounds to the cent.
# The cross-check of remote over [T0, T0+1d) gives about 14 h on both sides (the two ledgers
# record the same server a poll apart), and `openstack usage list` against B shows the same
# hours (1 vCPU, so CPU hours = hours), also with microversion 2.40 (paging by marker).
#
#   NEPHELE_BIN=build/broker/nephele tests/integration/billing_live.sh
#   NPH_KEEP_DATA=1 keeps the work directory.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

if [ -z "$NPH_OPENSTACK" ]; then
    echo "billing_live.sh: the openstack client is not installed" >&2
    exit 1
fi

T_START=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nph-billing.XXXXXX")
A_PID= B_PID= HOOK_PID=
A_PORT=$(nph_free_port)
B_PORT=$(nph_free_port)
HOOK_PORT=$(nph_free_port)
A_URL=http://127.0.0.1:$A_PORT
B_URL=http://127.0.0.1:$B_PORT
A_LOG=$WORK/a.log
B_LOG=$WORK/b.log
A_PW=$(nph_random_password)
B_PW=$(nph_random_password)
mkdir -p "$WORK/a" "$WORK/b"
T0=2027-01-05T00:00:00Z
T0_S=$(date -u -d "$T0" +%s)

# ---- processes -------------------------------------------------------------------------------

wait_ready() { # URL PID SECONDS: /readyz answers 200 while PID lives
    for _ in $(seq $(($3 * 10))); do
        kill -0 "$2" 2>/dev/null || return 1
        [ "$(nph_status --max-time 2 "$1/readyz")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

start_broker() { # NAME URL PORT PASSWORD CONFIG LOG: starts it, sets START_PID
    NEPHELE_FAULT_INJECTION=1 NEPHELE_BOOTSTRAP_PASSWORD=$4 "$NEPHELE_BIN" serve \
        --data-dir "$WORK/$1" --listen "127.0.0.1:$3" --config "$5" >>"$6" 2>&1 &
    START_PID=$!
    if wait_ready "$2" "$START_PID" 20; then return 0; fi
    echo "     | broker $1 did not become ready; log tail:"
    tail -n 30 "$6" | sed 's/^/     | /'
    return 1
}

stop_pid() { # PID NAME LOG: TERM, wait up to 15 s (then KILL); 0 when it exited 0
    local pid=$1 status
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "     | $2 (pid $pid) ignored TERM for 15 s; killing"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "     | $2 exited with status $status; log tail:"
        tail -n 25 "$3" | sed 's/^/     | /'
        return 1
    fi
    return 0
}

# The webhook: a python3 http.server that appends each POST body as one line to hook.jsonl.
cat >"$WORK/hook.py" <<'PYEOF'
import http.server, sys

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        if self.path != "/probe":
            with open(sys.argv[2], "a") as f:
                f.write(body.replace("\n", " ") + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PYEOF
hook_start() {
    "$NPH_PYTHON" "$WORK/hook.py" "$HOOK_PORT" "$WORK/hook.jsonl" 2>>"$WORK/hook.err" &
    HOOK_PID=$!
    for _ in $(seq 50); do
        [ "$(nph_status -X POST -d '{}' "http://127.0.0.1:$HOOK_PORT/probe")" = 204 ] && return 0
        sleep 0.1
    done
    return 1
}

cleanup() {
    local rc=$?
    [ -n "$HOOK_PID" ] && kill "$HOOK_PID" 2>/dev/null && wait "$HOOK_PID" 2>/dev/null
    [ -n "$A_PID" ] && stop_pid "$A_PID" A "$A_LOG" >/dev/null
    [ -n "$B_PID" ] && stop_pid "$B_PID" B "$B_LOG" >/dev/null
    if [ -n "${NPH_KEEP_DATA:-}" ]; then
        echo "billing_live.sh: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    return $rc
}
trap cleanup EXIT

failx() { # a failed check, with what the brokers said last
    fail "$@"
    echo "     | --- A log (last 8 lines)"
    tail -n 8 "$A_LOG" | cut -c1-400 | sed 's/^/     | /'
}

# ---- HTTP and JSON ---------------------------------------------------------------------------

RESP_STATUS= RESP_BODY=
# call URL TOKEN METHOD PATH [JSON]: sets RESP_STATUS, RESP_BODY.
call() {
    local f=$WORK/resp
    local args=(-s -o "$f" -w '%{http_code}' --max-time 30 -X "$3" -H "X-Auth-Token: $2")
    [ $# -ge 5 ] && args+=(-H 'Content-Type: application/json' -d "$5")
    RESP_STATUS=$(curl "${args[@]}" "$1$4")
    RESP_BODY=$(cat "$f" 2>/dev/null)
}
api() { call "$A_URL" "$TOKEN" "$@"; }
bapi() { call "$B_URL" "$B_TOKEN" "$@"; }

jv() { # EXPR over d = the last response body, printed (None as "")
    printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c '
import json, sys
try:
    d = json.loads(sys.stdin.read())
    v = eval(sys.argv[1])
except Exception:
    sys.exit(1)
print("" if v is None else v)' "$1" 2>/dev/null
}
jt() { [ "$(jv "bool($1)")" = True ]; }

token() { # URL PASSWORD: a project-scoped admin token
    curl -s -D - -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
        -d '{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "'"$2"'"}}}, "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}' \
        "$1/identity/v3/auth/tokens" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-subject-token" {print $2}'
}
tokens() { TOKEN=$(token "$A_URL" "$A_PW") && B_TOKEN=$(token "$B_URL" "$B_PW"); }

upload_image() { # URL TOKEN: the image `cirros` through the Image API
    local id
    id=$(curl -s --max-time 10 -H "X-Auth-Token: $2" -H 'Content-Type: application/json' \
        -d '{"name": "cirros", "disk_format": "raw", "container_format": "bare", "visibility": "public"}' \
        "$1/image/v2/images" | "$NPH_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["id"])') ||
        return 1
    [ "$(nph_status -X PUT -H "X-Auth-Token: $2" -H 'Content-Type: application/octet-stream' \
        --data-binary @"$WORK/image.raw" "$1/image/v2/images/$id/file")" = 204 ]
}

osa() { # the openstack client on A as admin
    env -u OS_TOKEN -u OS_CLOUD -u OS_AUTH_TYPE OS_AUTH_URL="$A_URL/identity/v3" \
        OS_IDENTITY_API_VERSION=3 OS_USERNAME=admin OS_PASSWORD="$A_PW" OS_PROJECT_NAME=admin \
        OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=RegionOne \
        OS_INTERFACE=public "$NPH_OPENSTACK" "$@"
}
osb() { # the openstack client on B as admin
    env -u OS_TOKEN -u OS_CLOUD -u OS_AUTH_TYPE OS_AUTH_URL="$B_URL/identity/v3" \
        OS_IDENTITY_API_VERSION=3 OS_USERNAME=admin OS_PASSWORD="$B_PW" OS_PROJECT_NAME=admin \
        OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=RegionOne \
        OS_INTERFACE=public "$NPH_OPENSTACK" "$@"
}

# at HOURS: both clocks to T0 + HOURS, then fresh tokens (the old ones expired meanwhile).
at() {
    local t
    t=$(date -u -d "@$((T0_S + $1 * 3600))" +%Y-%m-%dT%H:%M:%SZ)
    call "$B_URL" "$B_TOKEN" PUT /v1/clock "{\"clock\": {\"now\": \"$t\"}}"
    local sb=$RESP_STATUS
    api PUT /v1/clock "{\"clock\": {\"now\": \"$t\"}}"
    if [ "$sb" = 200 ] && [ "$RESP_STATUS" = 200 ]; then
        tokens
        return 0
    fi
    echo "PUT /v1/clock: B $sb, A $RESP_STATUS ${RESP_BODY:0:200}"
    return 1
}

OP_STATE= OP_ERROR=
wait_op() { # OPID [SECONDS]
    OP_STATE= OP_ERROR=
    for _ in $(seq $((${2:-30} * 5))); do
        api GET "/v1/operations/$1"
        OP_STATE=$(jv 'd["operation"]["state"]')
        OP_ERROR=$(jv 'd["operation"].get("error")')
        case $OP_STATE in done | error) return 0 ;; esac
        sleep 0.2
    done
    return 1
}

SID= OPID=
create() { # NAME CLOUD: POST /v1/servers, waits for the operation; sets SID
    api POST /v1/servers '{"server": {"name": "'"$1"'", "flavor": "m1.tiny", "image": "cirros", "cloud": "'"$2"'"}}'
    SID=$(jv 'd["server"]["id"]')
    OPID=$(jv 'd["operation"]["id"]')
    if [ "$RESP_STATUS" = 202 ] && [ -n "$OPID" ] && wait_op "$OPID" && [ "$OP_STATE" = done ]; then
        pass "create $1 on $2: done"
    else
        failx "create $1 on $2: HTTP $RESP_STATUS, operation ${OP_STATE:-?} ${OP_ERROR:-} ${RESP_BODY:0:300}"
    fi
}
delete() { # ID LABEL
    api DELETE "/v1/servers/$1"
    OPID=$(jv 'd["operation"]["id"]')
    if [ "$RESP_STATUS" = 202 ] && [ -n "$OPID" ] && wait_op "$OPID" && [ "$OP_STATE" = done ]; then
        pass "delete $2: done"
    else
        failx "delete $2: HTTP $RESP_STATUS, operation ${OP_STATE:-?} ${OP_ERROR:-} ${RESP_BODY:0:300}"
    fi
}

# check_now LABEL EXPECTED: POST /v1/budgets/check raises exactly the thresholds EXPECTED
# ("50" or "" ...) for the admin project.
check_now() {
    api POST /v1/budgets/check
    if [ "$RESP_STATUS" = 200 ] &&
        jt "sorted(a['threshold'] for a in d['raised'] if a['project'] == '$PROJECT') == [$2]"; then
        pass "$1: the check raises [$2]"
    else
        failx "$1: POST /v1/budgets/check: HTTP $RESP_STATUS ${RESP_BODY:0:400}"
    fi
}

# hook_has THRESHOLD SECONDS: the webhook received that alert (once) within SECONDS.
hook_has() {
    for _ in $(seq $(($2 * 5))); do
        if [ -f "$WORK/hook.jsonl" ] && [ "$("$NPH_PYTHON" -c '
import json, sys
n = 0
for l in open(sys.argv[1]):
    a = json.loads(l)["alert"]
    n += a["threshold"] == int(sys.argv[2]) and a["project"] == sys.argv[3]
print(n)' "$WORK/hook.jsonl" "$1" "$PROJECT" 2>/dev/null)" = 1 ]; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# ---- configurations --------------------------------------------------------------------------

head -c 65536 /dev/zero >"$WORK/image.raw"
cat >"$WORK/b.yaml" <<EOF
billing:
  budget_check_interval: 0
EOF
cat >"$WORK/a.yaml" <<EOF
currency: EUR
exchange_rates:
  - { from: USD, to: EUR, rate: "0.90", date: "2027-01-01" }
clouds:
  - name: home
    kind: local
    offerings:
      - { name: m1.tiny, vcpus: 1, ram_mb: 512, disk_gb: 1, price: { per_hour: "0.05", currency: EUR } }
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
    offerings:
      - { name: m1.tiny, vcpus: 1, ram_mb: 512, disk_gb: 1, price: { per_hour: "0.10", currency: USD } }
federation:
  health_interval: 1
  reconcile_interval: 0
  poll_interval_ms: 200
billing:
  budget_check_interval: 3600
  alert_webhook: http://127.0.0.1:$HOOK_PORT/hook
EOF

# ---- start -----------------------------------------------------------------------------------

if start_broker b "$B_URL" "$B_PORT" "$B_PW" "$WORK/b.yaml" "$B_LOG"; then
    B_PID=$START_PID
    pass "broker B (the remote cloud) starts at $B_URL"
else
    fail "broker B starts"
    nph_summary
fi
if start_broker a "$A_URL" "$A_PORT" "$A_PW" "$WORK/a.yaml" "$A_LOG"; then
    A_PID=$START_PID
    pass "broker A (home + remote, priced) starts at $A_URL"
else
    fail "broker A starts"
    nph_summary
fi
tokens
if [ -n "$TOKEN" ] && [ -n "$B_TOKEN" ] && upload_image "$A_URL" "$TOKEN" &&
    upload_image "$B_URL" "$B_TOKEN"; then
    pass "admin tokens and the image cirros on A and B"
else
    fail "tokens and images"
    nph_summary
fi
PROJECT=$(curl -s --max-time 10 -H "X-Auth-Token: $TOKEN" -H "X-Subject-Token: $TOKEN" \
    "$A_URL/identity/v3/auth/tokens" | "$NPH_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["token"]["project"]["id"])')

# ---- the test clock --------------------------------------------------------------------------

api PUT /v1/clock '{"clock": {"now": "yesterday"}}'
if [ "$RESP_STATUS" = 400 ] && jt "'clock.now' in d['error']['message']"; then pass "PUT /v1/clock refuses a bad time (400)"; else failx "PUT /v1/clock bad time: HTTP $RESP_STATUS ${RESP_BODY:0:200}"; fi
if at 0; then pass "both clocks at $T0"; else failx "clocks to $T0"; nph_summary; fi
api GET /v1/clock
if [ "$RESP_STATUS" = 200 ] && jt "d['clock']['now'].startswith('2027-01-05T00:0')"; then pass "GET /v1/clock: ${RESP_BODY:0:80}"; else failx "GET /v1/clock: HTTP $RESP_STATUS ${RESP_BODY:0:200}"; fi

# ---- the budget ------------------------------------------------------------------------------

doc=$(printf 'budgets:\n  - project: %s\n    name: admin-monthly\n    monthly: { amount: "2.00", currency: EUR }\n    on_exceed: warn\n    thresholds: [50, 80, 100]\n' "$PROJECT")
api POST /v1/policies "$("$NPH_PYTHON" -c 'import json, sys; print(json.dumps({"name": "money", "document": sys.argv[1]}))' "$doc")"
if [ "$RESP_STATUS" = 201 ]; then pass "budget document stored"; else failx "POST /v1/policies: HTTP $RESP_STATUS ${RESP_BODY:0:300}"; fi
api POST /v1/policies '{"name": "bad", "document": "budgets:\n  - project: x\n    monthly: { amount: \"1\", currency: EUR }\n    thresholds: [80, 50]\n"}'
if [ "$RESP_STATUS" = 400 ] && jt "'thresholds' in d['error']['message'] and ':4:' in d['error']['message']"; then
    pass "thresholds out of order are refused with the line: ${RESP_BODY:0:160}"
else
    failx "bad thresholds: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
fi
api GET /v1/budgets
if [ "$RESP_STATUS" = 200 ] && jt "d['month'] == '2027-01' and [(b['budget'], b['spend']['amount'], b['percent'], b['alerts']) for b in d['budgets']] == [('money/admin-monthly', '0.00', 0.0, [])]"; then
    pass "GET /v1/budgets: money/admin-monthly, 0.00 EUR spent in 2027-01"
else
    failx "GET /v1/budgets: HTTP $RESP_STATUS ${RESP_BODY:0:400}"
fi

# ==== T0: a server on each cloud ================================================================

create s-home home
HOME1=$SID
create s-remote remote
REMOTE1=$SID
api GET "/v1/servers/$REMOTE1"
REMOTE1_RID=$(jv 'd["server"]["remote_id"]')
check_now "T0" ""

# ==== T0+8h: 56 % (alert 50 %, webhook down) ====================================================

at 8
api GET /v1/budgets
if jt "d['budgets'][0]['spend']['amount'] == '1.12' and d['budgets'][0]['percent'] == 56.0"; then
    pass "T0+8h: /v1/budgets shows 1.12 EUR = 56 %"
else
    failx "T0+8h: GET /v1/budgets ${RESP_BODY:0:400}"
fi
check_now "T0+8h" "50"
check_now "T0+8h, once more" ""
for _ in $(seq 25); do # the delivery thread tries within a second
    api GET "/v1/budgets/$PROJECT/alerts?month=2027-01"
    jt "d['alerts'][0]['delivery']['attempts'] >= 1" && break
    sleep 0.2
done
if [ "$RESP_STATUS" = 200 ] && jt "[(a['threshold'], a['delivery']['state']) for a in d['alerts']] == [(50, 'pending')] and d['alerts'][0]['delivery']['attempts'] >= 1 and d['alerts'][0]['delivery']['last_error']"; then
    pass "the 50 % alert is pending after a failed delivery: $(jv "d['alerts'][0]['delivery']['last_error']" | cut -c1-80)"
else
    failx "alerts at T0+8h: HTTP $RESP_STATUS ${RESP_BODY:0:400}"
fi
delete "$HOME1" "s-home at T0+8h"

# A restarts with the alert undelivered; the webhook comes up; A (its clock set again) sends it.
if stop_pid "$A_PID" A "$A_LOG" && start_broker a "$A_URL" "$A_PORT" "$A_PW" "$WORK/a.yaml" "$A_LOG"; then
    A_PID=$START_PID
    pass "A restarts"
else
    A_PID=
    fail "A restarts"
    nph_summary
fi
tokens
at 8
if hook_start; then pass "the webhook listens on 127.0.0.1:$HOOK_PORT"; else fail "webhook listener"; fi
if hook_has 50 20; then pass "the webhook received the 50 % alert once (after A's restart)"; else failx "webhook: no 50 % alert ($(cat "$WORK/hook.jsonl" 2>/dev/null | head -c 300))"; fi
api GET "/v1/budgets/$PROJECT/alerts"
if jt "[(a['threshold'], a['delivery']['state']) for a in d['alerts']] == [(50, 'delivered')]"; then pass "the 50 % alert shows delivered"; else failx "alerts: ${RESP_BODY:0:300}"; fi

# ==== T0+11h: 69.5 %, T0+14h: 83 % ==============================================================

at 11
check_now "T0+11h (69.5 %)" ""
at 14
api GET /v1/budgets
if jt "d['budgets'][0]['spend']['amount'] == '1.66' and d['budgets'][0]['percent'] == 83.0"; then
    pass "T0+14h: /v1/budgets shows 1.66 EUR = 83 %"
else
    failx "T0+14h: GET /v1/budgets ${RESP_BODY:0:400}"
fi
check_now "T0+14h" "80"
if hook_has 80 20; then pass "the webhook received the 80 % alert once"; else failx "webhook: no 80 % alert"; fi
delete "$REMOTE1" "s-remote at T0+14h"
create s-home2 home
HOME2=$SID

# ==== T0+22h: 103 % (the background check, poked by a placement) ================================

at 22
api POST /v1/placements '{"request": {"kind": "server", "vcpus": 1, "ram_mb": 512, "disk_gb": 1}}'
[ "$RESP_STATUS" = 201 ] || failx "dry-run placement: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
if hook_has 100 20; then pass "after a placement the background check raised the 100 % alert: the webhook received it"; else failx "webhook: no 100 % alert"; fi
check_now "T0+22h (already raised)" ""
delete "$HOME2" "s-home2 at T0+22h"
api GET "/v1/budgets/$PROJECT/alerts"
if jt "[a['threshold'] for a in d['alerts']] == [100, 80, 50] and all(a['delivery']['state'] == 'delivered' for a in d['alerts'])"; then
    pass "three alerts, newest first, all delivered"
else
    failx "alerts: ${RESP_BODY:0:500}"
fi
n=$(wc -l <"$WORK/hook.jsonl")
if [ "$n" = 3 ]; then pass "the webhook got exactly 3 POSTs"; else fail "the webhook got $n POSTs"; fi

# ==== the bill ==================================================================================

at 30
api GET "/v1/billing/reports?from=2027-01-01&to=2027-02-01&group_by=project,cloud&currency=EUR"
if [ "$RESP_STATUS" = 200 ] &&
    jt "d['total'] == '2.06' and [(l['cloud'], l['amount']) for l in d['lines']] == [('home', '0.80'), ('remote', '1.26')]"; then
    pass "January's bill: home 0.80 + remote 1.26 = 2.06 EUR"
else
    failx "the bill: HTTP $RESP_STATUS ${RESP_BODY:0:500}"
fi
if jt "[round(float(l['quantity'])) for l in d['lines']] == [16, 14]"; then pass "the bill's hours: home 16, remote 14"; else failx "the bill's hours: ${RESP_BODY:0:400}"; fi
HOME_H=$(jv "[l['quantity'] for l in d['lines'] if l['cloud'] == 'home'][0]")
# A's own Nova API counts home's two servers (m1.tiny: 1 vCPU, 512 MB) for the same hours
out=$(osa usage show --project admin --start 2027-01-05 --end 2027-01-07 -f json 2>&1)
if printf '%s' "$out" | "$NPH_PYTHON" -c '
import json, sys
u = json.load(sys.stdin)
n = u["Servers"]
h = float(sys.argv[1])
assert (n == 2 or len(n) == 2) and abs(float(u["CPU Hours"]) - h) < 0.01, u
assert abs(float(u["RAM MB-Hours"]) - 512 * h) < 5 and abs(float(u["Disk GB-Hours"]) - h) < 0.01, u' "$HOME_H"; then
    pass "openstack usage show on A (home) agrees with the bill: $HOME_H h, 2 servers"
else
    fail "openstack usage show on A: $(printf '%s' "$out" | head -c 400)"
fi
api GET /v1/budgets
if jt "d['budgets'][0]['spend']['amount'] == '2.06' and d['budgets'][0]['percent'] == 103.0"; then pass "/v1/budgets agrees with the bill: 2.06 EUR = 103 %"; else failx "/v1/budgets: ${RESP_BODY:0:300}"; fi

# ==== a member of another project sees only its own ===========================================

BOB_PW=$(nph_random_password)
kapi() { call "$A_URL" "$TOKEN" "$1" "/identity/v3$2" "${3:-}"; }
kapi POST /projects '{"project": {"name": "beta", "domain_id": "default"}}'
BETA=$(jv 'd["project"]["id"]')
kapi POST /users '{"user": {"name": "bob", "domain_id": "default", "password": "'"$BOB_PW"'"}}'
BOB=$(jv 'd["user"]["id"]')
call "$A_URL" "$TOKEN" GET "/identity/v3/roles?name=member"
MEMBER=$(jv 'd["roles"][0]["id"]')
BOB_TOKEN=
if [ -n "$BETA" ] && [ -n "$BOB" ] && [ -n "$MEMBER" ] &&
    [ "$(nph_status -X PUT -H "X-Auth-Token: $TOKEN" "$A_URL/identity/v3/projects/$BETA/users/$BOB/roles/$MEMBER")" = 204 ]; then
    BOB_TOKEN=$(curl -s -D - -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
        -d '{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "bob", "domain": {"name": "Default"}, "password": "'"$BOB_PW"'"}}}, "scope": {"project": {"name": "beta", "domain": {"name": "Default"}}}}}' \
        "$A_URL/identity/v3/auth/tokens" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-subject-token" {print $2}')
fi
if [ -n "$BOB_TOKEN" ]; then
    call "$A_URL" "$BOB_TOKEN" GET /v1/budgets
    if [ "$RESP_STATUS" = 200 ] && jt "d['budgets'] == []"; then pass "a member of beta sees no budget of admin's project"; else fail "bob GET /v1/budgets: HTTP $RESP_STATUS ${RESP_BODY:0:200}"; fi
    call "$A_URL" "$BOB_TOKEN" GET "/v1/budgets?project=$PROJECT"
    b1=$RESP_STATUS
    call "$A_URL" "$BOB_TOKEN" GET "/v1/budgets/$PROJECT/alerts"
    b2=$RESP_STATUS
    call "$A_URL" "$BOB_TOKEN" POST /v1/budgets/check
    b3=$RESP_STATUS
    call "$A_URL" "$BOB_TOKEN" GET /v1/clouds/remote/usage-check
    b4=$RESP_STATUS
    call "$A_URL" "$BOB_TOKEN" PUT /v1/clock '{"clock": null}'
    b5=$RESP_STATUS
    call "$A_URL" "$BOB_TOKEN" GET "/v1/budgets/$BETA/alerts"
    if [ "$b1$b2$b3$b4$b5" = 403403403403403 ] && [ "$RESP_STATUS" = 200 ] && jt "d['alerts'] == []"; then
        pass "the member may not read admin's budgets or alerts, check, cross-check or move the clock (403); its own alerts: none"
    else
        fail "member access: $b1 $b2 $b3 $b4 $b5, own alerts HTTP $RESP_STATUS ${RESP_BODY:0:200}"
    fi
else
    fail "project beta with member bob (project $BETA, user $BOB, role $MEMBER)"
fi

# ==== the cross-check and `openstack usage` on B =================================================

api GET "/v1/clouds/remote/usage-check?from=2027-01-05&to=2027-01-06"
if [ "$RESP_STATUS" = 200 ] && jt "len(d['usage_check']['projects']) == 1 and d['usage_check']['projects'][0]['project'] == '$PROJECT' and abs(d['usage_check']['projects'][0]['nephele_hours'] - 14) < 0.02 and abs(d['usage_check']['projects'][0]['difference']) < 0.01 and d['usage_check']['projects'][0]['nephele_only'] == [] and d['usage_check']['projects'][0]['cloud_only'] == [] and d['usage_check']['unattributed'] == []"; then
    pass "usage-check remote: $(jv "d['usage_check']['projects'][0]['nephele_hours']") h (Nephele) vs $(jv "d['usage_check']['projects'][0]['cloud_hours']") h (cloud)"
else
    failx "usage-check: HTTP $RESP_STATUS ${RESP_BODY:0:600}"
fi
CLOUD_H=$(jv "d['usage_check']['projects'][0]['cloud_hours']")
api GET "/v1/clouds/home/usage-check"
if [ "$RESP_STATUS" = 501 ] || [ "$RESP_STATUS" = 400 ]; then pass "usage-check on the native cloud is refused: $(jv "d['error']['message']")"; else failx "usage-check home: HTTP $RESP_STATUS ${RESP_BODY:0:200}"; fi

for mv in 2.1 2.40; do
    out=$(osb --os-compute-api-version "$mv" usage list --start 2027-01-05 --end 2027-01-06 -f json 2>&1)
    if printf '%s' "$out" | "$NPH_PYTHON" -c '
import json, sys
u = json.load(sys.stdin)
n = u[0]["Servers"]
assert len(u) == 1 and (n == 1 or (isinstance(n, list) and len(n) == 1)), u
assert abs(float(u[0]["CPU Hours"]) - float(sys.argv[1])) < 0.02, u
assert abs(float(u[0]["RAM MB-Hours"]) - 512 * float(sys.argv[1])) < 10, u' "$CLOUD_H"; then
        pass "openstack usage list on B (microversion $mv) agrees: $(printf '%s' "$out" | tr -d '\n ' | cut -c1-150)"
    else
        fail "openstack usage list on B ($mv): $(printf '%s' "$out" | head -c 400)"
    fi
done
out=$(osb usage show --project admin --start 2027-01-05 --end 2027-01-06 -f json 2>&1)
if printf '%s' "$out" | "$NPH_PYTHON" -c 'import json, sys; u = json.load(sys.stdin); n = u["Servers"]; assert (n == 1 or len(n) == 1) and abs(float(u["CPU Hours"]) - float(sys.argv[1])) < 0.02, u' "$CLOUD_H"; then
    pass "openstack usage show --project admin on B agrees"
else
    fail "openstack usage show on B: $(printf '%s' "$out" | head -c 300)"
fi
bapi GET "/compute/v2.1/os-simple-tenant-usage?start=2027-01-06T00:00:00&end=2027-01-05T00:00:00"
if [ "$RESP_STATUS" = 400 ] && jt "'start time cannot occur after the end time' in d['badRequest']['message']"; then
    pass "os-simple-tenant-usage refuses start after end (Nova's 400)"
else
    fail "start after end: HTTP $RESP_STATUS ${RESP_BODY:0:200}"
fi
call "$B_URL" "$B_TOKEN" GET "/compute/v2.1/os-simple-tenant-usage?start=2027-01-05T00:00:00&end=2027-01-06T00:00:00&detailed=1"
if [ "$RESP_STATUS" = 200 ] && jt "d['tenant_usages'][0]['server_usages'][0]['instance_id'] == '$REMOTE1_RID' and d['tenant_usages'][0]['server_usages'][0]['state'] == 'terminated' and d['tenant_usages'][0]['server_usages'][0]['name'] == 's-remote'"; then
    pass "B's os-simple-tenant-usage lists s-remote ($REMOTE1_RID) as terminated"
else
    fail "B's os-simple-tenant-usage: HTTP $RESP_STATUS ${RESP_BODY:0:400}"
fi
# microversion 2.40: a full page (limit=1) has a next link; the page after it is empty
Q="start=2027-01-05T00:00:00&end=2027-01-06T00:00:00&detailed=1"
RESP_STATUS=$(curl -s -o "$WORK/resp" -w '%{http_code}' --max-time 30 -H "X-Auth-Token: $B_TOKEN" \
    -H 'OpenStack-API-Version: compute 2.40' "$B_URL/compute/v2.1/os-simple-tenant-usage?$Q&limit=1")
RESP_BODY=$(cat "$WORK/resp")
NEXT=$(jv "d['tenant_usages_links'][0]['href']")
if [ "$RESP_STATUS" = 200 ] && jt "len(d['tenant_usages']) == 1 and 'marker=$REMOTE1_RID' in d['tenant_usages_links'][0]['href'] and d['tenant_usages_links'][0]['rel'] == 'next'"; then
    RESP_STATUS=$(curl -s -o "$WORK/resp" -w '%{http_code}' --max-time 30 -H "X-Auth-Token: $B_TOKEN" \
        -H 'OpenStack-API-Version: compute 2.40' "$NEXT")
    RESP_BODY=$(cat "$WORK/resp")
    if [ "$RESP_STATUS" = 200 ] && jt "d == {'tenant_usages': []}"; then pass "2.40 paging: limit=1 gives a next link, and the next page is empty"; else fail "2.40 next page: HTTP $RESP_STATUS ${RESP_BODY:0:300}"; fi
else
    fail "2.40 limit=1: HTTP $RESP_STATUS ${RESP_BODY:0:400}"
fi

if stop_pid "$A_PID" A "$A_LOG"; then pass "A stops gracefully"; else fail "A stops gracefully"; fi
A_PID=
if stop_pid "$B_PID" B "$B_LOG"; then pass "B stops gracefully"; else fail "B stops gracefully"; fi
B_PID=
nph_log "billing_live.sh took $((SECONDS - T_START)) s"
nph_summary

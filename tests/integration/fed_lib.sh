# fed_lib.sh - shell helpers shared by the federation and placement tests (federation.sh,
# federation_peer.sh, federation_pg.sh, placement.sh), sourced after lib.sh. The caller sets
# WORK (a private directory) and A_URL (the broker under test), and defines failx.
#
#   wait_ready URL PID SECONDS      /readyz answers 200 while PID lives
#   stop_pid PID NAME LOG           TERM (after CONT), up to 15 s, then KILL; 0 when it exited 0
#   api METHOD PATH [JSON]          a request to A with $TOKEN (else $ADMIN_TOKEN); sets
#                                   RESP_STATUS, RESP_BODY, RESP_LOCATION ($EXTRA_HEADER added)
#   jv EXPR / jt EXPR               a Python expression over d = the last body / its truth
#   token URL USER PASSWORD PROJECT a project-scoped token (user and project in domain Default)
#   osc_start NAME URL PASSWORD     one long-lived python-openstackclient process per cloud
#   osc_call NAME URL PASSWORD ARGV one command through it (the program itself as the fallback)
#   wait_op OPID [SECONDS]          until the operation is done or error (OP_STATE, OP_ERROR)
#   act ID ACTION, check_op LABEL   server actions on /v1 and their operations
#   cloud_field NAME FIELD, wait_cloud NAME STATE BREAKER SECONDS

wait_ready() {
    for _ in $(seq $(($3 * 10))); do
        kill -0 "$2" 2>/dev/null || return 1
        [ "$(nph_status --max-time 2 "$1/readyz")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

stop_pid() {
    local pid=$1 status
    [ -n "$pid" ] || return 0
    kill -CONT "$pid" 2>/dev/null
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

RESP_STATUS= RESP_BODY= RESP_LOCATION=
api() {
    local method=$1 path=$2 f=$WORK/resp h=$WORK/resp.h
    local args=(-s -o "$f" -D "$h" -w '%{http_code}' --max-time 30 -X "$method"
        -H "X-Auth-Token: ${TOKEN:-${ADMIN_TOKEN:-}}")
    [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
    [ -n "${EXTRA_HEADER:-}" ] && args+=(-H "$EXTRA_HEADER")
    RESP_STATUS=$(curl "${args[@]}" "$A_URL$path")
    RESP_BODY=$(cat "$f" 2>/dev/null)
    RESP_LOCATION=$(tr -d '\r' <"$h" 2>/dev/null | awk -F': ' 'tolower($1) == "location" {print $2}')
    rm -f "$f" "$h"
}

jv() {
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

token() {
    curl -s -D - -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
        -d '{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "'"$2"'", "domain": {"name": "Default"}, "password": "'"$3"'"}}}, "scope": {"project": {"name": "'"$4"'", "domain": {"name": "Default"}}}}}' \
        "$1/identity/v3/auth/tokens" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-subject-token" {print $2}'
}

# Under load the `openstack` program spends seconds importing its libraries for each command, so
# one Python process of python-openstackclient per cloud (the program is
# openstackclient.shell.main) serves that cloud's commands: it reads argv lines (\x1f-separated)
# on a FIFO and answers "<rc> <n>" and n lines of output on another.
declare -A OSC_PID OSC_IN OSC_OUT
osc_write_server() {
    [ -e "$WORK/osc_server.py" ] && return 0
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
}
# os_vars URL PASSWORD: the client's environment for a broker's admin, or for the real OpenStack
# peer when URL is "peer" (P_* set by federation_peer.sh).
os_vars() {
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
osc_start() {
    local name=$1 fd_in fd_out
    [ "$NPH_OPENSTACK" = /usr/bin/openstack ] || return 0
    osc_write_server
    mkfifo "$WORK/osc-$name.in" "$WORK/osc-$name.out" || return 0
    env -u OS_TOKEN -u OS_CLOUD -u OS_AUTH_TYPE $(os_vars "$2" "$3") /usr/bin/python3 -u \
        "$WORK/osc_server.py" <"$WORK/osc-$name.in" >"$WORK/osc-$name.out" 2>>"$WORK/osc-$name.err" &
    OSC_PID[$name]=$!
    exec {fd_in}>"$WORK/osc-$name.in" {fd_out}<"$WORK/osc-$name.out"
    OSC_IN[$name]=$fd_in OSC_OUT[$name]=$fd_out
}
osc_stop_all() {
    local p
    for p in "${OSC_PID[@]}"; do kill "$p" 2>/dev/null; done
}
osc_call() {
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

OP_STATE= OP_ERROR=
wait_op() {
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

cloud_field() {
    api GET "/v1/clouds/$1"
    jv "d['cloud']['$2']"
}

wait_cloud() {
    for _ in $(seq $(($4 * 5))); do
        api GET "/v1/clouds/$1"
        jt "d['cloud']['state'] == '$2' and d['cloud']['breaker'] == '$3'" && return 0
        sleep 0.2
    done
    echo "cloud $1: $RESP_BODY"
    return 1
}

OPID=
act() {
    api POST "/v1/servers/$1/action" "{\"action\": \"$2\"}"
    OPID=$(jv 'd["operation"]["id"]')
}

# check_op LABEL [SECONDS]: the operation OPID ends done (default within 30 s).
check_op() {
    if [ -z "$OPID" ]; then
        failx "$1: no operation (HTTP $RESP_STATUS: ${RESP_BODY:0:300})"
        return 1
    fi
    wait_op "$OPID" "${2:-30}"
    if [ "$OP_STATE" = done ]; then
        pass "$1: operation done"
        return 0
    fi
    failx "$1: operation $OPID is '${OP_STATE:-?}' (error: ${OP_ERROR:-none})"
    return 1
}

# lib.sh - shared helpers for Nephele's integration tests. Source it, do not run it.
#
#   . "$(dirname "$0")/lib.sh"
#   nph_start NAME [extra serve args...]   start a fresh broker (temp data dir, free port)
#   ...                                    NPH_URL, NPH_DATA, NPH_PID, NPH_ADMIN_PASSWORD, OS_*
#   nph_stop                               stop it (TERM), check it exited 0, remove the data dir
#   pass MSG / fail MSG / check MSG CMD...  count results
#   nph_summary                            stop, print "N passed, M failed", exit 1 if M > 0
#
# The binary is $NEPHELE_BIN, by default build/broker/nephele under the repository root.
# An EXIT trap stops a broker that is still running.

NPH_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${NEPHELE_BIN:=$NPH_REPO_ROOT/build/broker/nephele}"
export NEPHELE_BIN
NPH_PASSED=0
NPH_FAILED=0
NPH_PID=
NPH_DATA=
NPH_LOG=
NPH_NAME=

# The OpenStack client must be Debian's, with its libraries (a pyenv python may come first).
if [ -x /usr/bin/openstack ]; then
    NPH_OPENSTACK=/usr/bin/openstack
else
    NPH_OPENSTACK=$(command -v openstack || true)
fi
NPH_PYTHON=/usr/bin/python3
[ -x "$NPH_PYTHON" ] || NPH_PYTHON=$(command -v python3)

nph_log() { printf '# %s\n' "$*"; }

pass() {
    NPH_PASSED=$((NPH_PASSED + 1))
    printf 'ok   %s\n' "$*"
}

fail() {
    NPH_FAILED=$((NPH_FAILED + 1))
    printf 'FAIL %s\n' "$*"
}

# check MSG CMD [ARGS...]: run CMD; pass if it exits 0, else fail (with its output).
check() {
    local msg=$1 out
    shift
    if out=$("$@" 2>&1); then
        pass "$msg"
    else
        fail "$msg"
        [ -n "$out" ] && printf '%s\n' "$out" | head -n 20 | sed 's/^/     | /'
    fi
}

# The final line of every test script: stops the broker (a non-graceful stop is a failure),
# prints exactly "N passed, M failed" and exits 1 if anything failed.
nph_summary() {
    if [ -n "$NPH_PID" ]; then
        if nph_stop; then pass "broker stopped gracefully (exit 0 on TERM)"; else fail "broker stopped gracefully (exit 0 on TERM)"; fi
    fi
    printf '%d passed, %d failed\n' "$NPH_PASSED" "$NPH_FAILED"
    [ "$NPH_FAILED" -eq 0 ] && exit 0
    exit 1
}

# A free loopback TCP port (bound then released; the broker takes it right after).
nph_free_port() {
    "$NPH_PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# VmRSS of the broker in kB.
nph_rss_kb() {
    awk '/^VmRSS:/ {print $2}' "/proc/${1:-$NPH_PID}/status" 2>/dev/null
}

nph_random_password() {
    head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 20
}

# HTTP status of a URL (curl, no output), with any extra curl arguments.
nph_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"
}

nph_start() {
    local name=${1:-broker} port i
    shift || true
    if [ -n "$NPH_PID" ]; then
        echo "nph_start: a broker is already running (pid $NPH_PID)" >&2
        return 1
    fi
    if [ ! -x "$NEPHELE_BIN" ]; then
        echo "nph_start: no broker binary at $NEPHELE_BIN (build it, or set NEPHELE_BIN)" >&2
        return 1
    fi
    NPH_NAME=$name
    NPH_DATA=$(mktemp -d "${TMPDIR:-/tmp}/nephele-it-$name.XXXXXX")
    NPH_LOG=$NPH_DATA/broker.log
    NPH_ADMIN_PASSWORD=$(nph_random_password)
    # A port can be taken between probing and binding: try a few.
    for i in 1 2 3 4 5; do
        port=$(nph_free_port) || return 1
        NPH_URL=http://127.0.0.1:$port
        NEPHELE_BOOTSTRAP_PASSWORD=$NPH_ADMIN_PASSWORD \
            "$NEPHELE_BIN" serve --data-dir "$NPH_DATA" --listen "127.0.0.1:$port" "$@" \
            >>"$NPH_LOG" 2>&1 &
        NPH_PID=$!
        if nph_wait_ready 20; then
            break
        fi
        if kill -0 "$NPH_PID" 2>/dev/null; then
            echo "nph_start: broker $name did not become ready within 20 s; log tail:" >&2
            tail -n 30 "$NPH_LOG" >&2
            nph_stop >/dev/null 2>&1
            return 1
        fi
        wait "$NPH_PID" 2>/dev/null
        if ! grep -qi 'address already in use\|cannot bind\|bind' "$NPH_LOG" || [ "$i" = 5 ]; then
            echo "nph_start: broker $name exited during start-up; log tail:" >&2
            tail -n 30 "$NPH_LOG" >&2
            NPH_PID=
            rm -rf "$NPH_DATA"
            return 1
        fi
        NPH_PID=
    done
    export NPH_URL NPH_DATA NPH_PID NPH_ADMIN_PASSWORD NPH_LOG
    export OS_AUTH_URL=$NPH_URL/identity/v3
    export OS_IDENTITY_API_VERSION=3
    export OS_USERNAME=admin
    export OS_PASSWORD=$NPH_ADMIN_PASSWORD
    export OS_PROJECT_NAME=admin
    export OS_USER_DOMAIN_NAME=Default
    export OS_PROJECT_DOMAIN_NAME=Default
    export OS_REGION_NAME=RegionOne
    export OS_INTERFACE=public
    unset OS_TOKEN OS_AUTH_TYPE OS_CLOUD OS_USER_DOMAIN_ID OS_PROJECT_DOMAIN_ID OS_PROJECT_ID
    nph_log "broker $name: pid $NPH_PID at $NPH_URL, data $NPH_DATA"
}

# Wait until /readyz answers 200 or the broker dies; 0 when ready.
nph_wait_ready() {
    local timeout=${1:-20} deadline
    deadline=$(($(date +%s%N) / 1000000 + timeout * 1000))
    while [ "$(($(date +%s%N) / 1000000))" -lt "$deadline" ]; do
        kill -0 "$NPH_PID" 2>/dev/null || return 1
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$NPH_URL/readyz")" = 200 ] &&
            return 0
        sleep 0.1
    done
    return 1
}

# Stop the broker: TERM, wait up to 15 s (then KILL), and require exit status 0. 0 = graceful.
nph_stop() {
    local rc=0 i status
    if [ -n "$NPH_PID" ]; then
        if kill -TERM "$NPH_PID" 2>/dev/null; then
            for i in $(seq 150); do
                kill -0 "$NPH_PID" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$NPH_PID" 2>/dev/null; then
                echo "nph_stop: broker $NPH_NAME (pid $NPH_PID) ignored TERM for 15 s; killing" >&2
                kill -KILL "$NPH_PID" 2>/dev/null
            fi
        fi
        wait "$NPH_PID" 2>/dev/null
        status=$?
        if [ "$status" -ne 0 ]; then
            echo "nph_stop: broker $NPH_NAME exited with status $status (not a graceful stop); log tail:" >&2
            tail -n 20 "$NPH_LOG" >&2
            rc=1
        fi
        NPH_PID=
    fi
    if [ -n "$NPH_DATA" ] && [ -d "$NPH_DATA" ]; then
        if [ -n "${NPH_KEEP_DATA:-}" ]; then
            echo "nph_stop: kept $NPH_DATA" >&2
        else
            rm -rf "$NPH_DATA"
        fi
    fi
    NPH_DATA=
    return $rc
}

nph_exit_trap() {
    local rc=$?
    [ -n "$NPH_PID" ] && nph_stop
    return $rc
}
trap nph_exit_trap EXIT

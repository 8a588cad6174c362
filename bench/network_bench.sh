#!/usr/bin/env bash
# network_bench.sh - the Neutron API's port figures against a fresh broker on SQLite and
# libvirt's test driver, with wrk on loopback. A port gets its DHCP host entry in libvirt when a
# server takes it (docs/network.md), so the ports created here, bound to nothing, make no
# libvirt call on either network; the two create figures differ only in the subnet's DHCP flag.
# Run by hand (not in CI):
#
#   NEPHELE_BIN=build/broker/nephele bench/network_bench.sh
#
# Figures (req/s, p50/p99), each against the baseline of the same run, GET /healthz at c=16:
#   GET  /network/v2.0/ports           100 ports, c=1 and c=16
#   POST /network/v2.0/networks        network create (a libvirt network each), c=16
#   POST /network/v2.0/ports           port create on a /16 with DHCP, c=1 and c=16; and on one
#                                      without DHCP
# Target: >= 2,000 port creates/s (c=16) on SQLite: PASS or MISS.
# NPH_BENCH_DURATION (seconds per figure, default 10) bounds the run.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/integration/lib.sh"

DURATION=${NPH_BENCH_DURATION:-10}
TARGET_CREATE=2000

command -v wrk >/dev/null || {
    echo "network_bench.sh: wrk is not installed (apt-get install wrk)" >&2
    exit 1
}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nephele-netbench.XXXXXX")
trap 'rm -rf "$WORK"; nph_exit_trap' EXIT

nph_start network-bench --log-level warn || exit 1

AUTH_BODY=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' "$NPH_ADMIN_PASSWORD")
TOKEN=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "$AUTH_BODY" \
    "$NPH_URL/identity/v3/auth/tokens?nocatalog" |
    awk -F': ' 'tolower($1) == "x-subject-token" {print $2}' | tr -d '\r')
[ -n "$TOKEN" ] || {
    echo "network_bench.sh: could not issue a token" >&2
    exit 1
}
PROJECT=$(curl -s -H "X-Auth-Token: $TOKEN" -H "X-Subject-Token: $TOKEN" \
    "$NPH_URL/identity/v3/auth/tokens?nocatalog" |
    "$NPH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["token"]["project"]["id"])')
api() { # METHOD PATH [BODY]: the JSON answer
    curl -s -X "$1" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
        ${3:+-d "$3"} "$NPH_URL/network/v2.0$2"
}
jid() { "$NPH_PYTHON" -c "import json,sys; print(json.load(sys.stdin)['$1']['id'])"; }
api PUT "/quotas/$PROJECT" '{"quota":{"network":-1,"subnet":-1,"port":-1}}' >/dev/null
# The list network: 100 ports. Each create figure on a network of its own, a /15 (131,070
# addresses: a pool that ran out would answer 409s, which wrk counts as requests too).
LNET=$(api POST /networks '{"network":{"name":"bench-list"}}' | jid network)
api POST /subnets '{"subnet":{"network_id":"'"$LNET"'","cidr":"10.200.0.0/24","ip_version":4}}' >/dev/null
for i in $(seq 100); do api POST /ports '{"port":{"network_id":"'"$LNET"'"}}' >/dev/null; done
create_net() { # NAME CIDR DHCP -> network id
    local id
    id=$(api POST /networks '{"network":{"name":"'"$1"'"}}' | jid network)
    api POST /subnets '{"subnet":{"network_id":"'"$id"'","cidr":"'"$2"'","ip_version":4,"enable_dhcp":'"$3"'}}' |
        grep -q '"subnet"' || { echo "network_bench.sh: subnet $2 on $1 was not created" >&2; return 1; }
    echo "$id"
}
CNET1=$(create_net bench-create-1 10.240.0.0/15 true) || exit 1
CNET=$(create_net bench-create-16 10.242.0.0/15 true) || exit 1
# The same without DHCP: no host entries, so no libvirt work per port.
ONET1=$(create_net bench-create-nodhcp-1 10.244.0.0/15 false) || exit 1
ONET=$(create_net bench-create-nodhcp-16 10.246.0.0/15 false) || exit 1
N=$(api GET "/ports?network_id=$LNET" | "$NPH_PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["ports"]))')
if [ "$N" != 100 ]; then
    echo "network_bench.sh: the list network has $N ports, not 100" >&2
    exit 1
fi
post_script() { # FILE BODY
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = '$2'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Auth-Token"] = "$TOKEN"
EOF
}
post_script "$WORK/port1.lua" '{"port":{"network_id":"'"$CNET1"'"}}'
post_script "$WORK/port.lua" '{"port":{"network_id":"'"$CNET"'"}}'
post_script "$WORK/port-nodhcp1.lua" '{"port":{"network_id":"'"$ONET1"'"}}'
post_script "$WORK/port-nodhcp.lua" '{"port":{"network_id":"'"$ONET"'"}}'
post_script "$WORK/net.lua" '{"network":{"name":"bench-net"}}'

declare -A RATE BAD
ERRORS=0
measure() {
    local key=$1 conns=$2 path=$3 threads out rate non2xx
    shift 3
    threads=$((conns > 1 ? 2 : 1))
    out=$(wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency "$@" "$NPH_URL$path" 2>&1)
    rate=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    RATE[$key]=${rate:-0}
    printf '  %-34s %10.0f req/s   p50 %-9s p99 %-9s%s\n' "$key" "${rate:-0}" \
        "$(awk '$1 == "50%" {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")" \
        "${non2xx:+   NON-2XX: $non2xx}"
    if [ -n "$non2xx" ] || [ -z "$rate" ]; then
        ERRORS=$((ERRORS + 1))
        BAD[$key]=1
    fi
}

KEYS=("healthz c=16 (baseline)" "port list (100) c=1" "port list (100) c=16"
    "network create c=16" "port create c=1" "port create c=16"
    "port create, no DHCP c=1" "port create, no DHCP c=16")
echo "nephele network bench: $("$NEPHELE_BIN" version), SQLite, test:///default, wrk ${DURATION}s per figure, $(nproc) CPUs shared by wrk and the broker"
echo "raw figures:"
measure "${KEYS[0]}" 16 /healthz
measure "${KEYS[1]}" 1 "/network/v2.0/ports?network_id=$LNET" -H "X-Auth-Token: $TOKEN"
measure "${KEYS[2]}" 16 "/network/v2.0/ports?network_id=$LNET" -H "X-Auth-Token: $TOKEN"
measure "${KEYS[3]}" 16 /network/v2.0/networks -s "$WORK/net.lua"
measure "${KEYS[4]}" 1 /network/v2.0/ports -s "$WORK/port1.lua"
measure "${KEYS[5]}" 16 /network/v2.0/ports -s "$WORK/port.lua"
measure "${KEYS[6]}" 1 /network/v2.0/ports -s "$WORK/port-nodhcp1.lua"
measure "${KEYS[7]}" 16 /network/v2.0/ports -s "$WORK/port-nodhcp.lua"
CREATED=$(api GET "/ports?network_id=$CNET&fields=id&fields=fixed_ips" | "$NPH_PYTHON" -c 'import json,sys
p = json.load(sys.stdin)["ports"]
a = [f["ip_address"] for x in p for f in x["fixed_ips"]]
print("%d, %d distinct addresses" % (len(p), len(set(a))))')
BASE=${RATE["${KEYS[0]}"]}
echo
echo "results (ratio = rate / healthz c=16 of this run):"
for k in "${KEYS[@]}"; do
    awk -v k="$k" -v r="${RATE[$k]}" -v b="$BASE" \
        'BEGIN { printf "  %-34s %10.0f req/s   %6.3f x healthz\n", k, r, (b > 0 ? r / b : 0) }'
done
echo "  ports on the c=16 create network after the run: $CREATED"
echo
echo "targets:"
for k in "port create c=16" "port create, no DHCP c=16"; do
    C=${RATE[$k]}
    if [ -z "${BAD[$k]:-}" ] && awk -v v="$C" -v t="$TARGET_CREATE" 'BEGIN { exit !(v >= t) }'; then
        R=PASS
    else
        R=MISS # short of the target, or some answers were errors
    fi
    printf '  %-34s %10.0f req/s   target >= %d req/s   %s\n' "$k" "$C" "$TARGET_CREATE" "$R"
done
[ "$ERRORS" -gt 0 ] && echo "WARNING: $ERRORS figure(s) had non-2xx answers or no result"
if nph_stop; then echo "broker stopped gracefully"; else
    echo "broker did NOT stop gracefully"
    ERRORS=$((ERRORS + 1))
fi
[ "$ERRORS" -eq 0 ]

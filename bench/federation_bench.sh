#!/usr/bin/env bash
# federation_bench.sh - the broker's federation overhead, with wrk on loopback. Run by hand (not
# in CI):
#
#   NEPHELE_BIN=build/broker/nephele bench/federation_bench.sh
#
# Three brokers: B and C are plain Nephele brokers that act as remote OpenStack clouds; A
# federates `home` (its own native cloud) and, through the openstack driver, `remote` (= B) and
# `remote2` (= C). N_SERVERS servers are created through A on each of the three clouds.
#
# Figures:
#   (a) GET B/compute/v2.1/servers/detail                straight from the cloud (B's token)
#   (b) GET A/v1/servers?cloud=remote                    the same list through Nephele
#   (c) GET A/v1/servers                                 merged over home, remote and remote2
#   (d) GET A/v1/servers?cloud=home                      the native cloud through /v1
#   (e) GET A/compute/v2.1/servers/detail                the native cloud through its Nova API
# each at concurrency 1 (p50 latency = the median of one client's calls) and at 8 (rate).
# Nephele's overhead is (b) - (a) at the median; target < 1 ms.
#
# NPH_BENCH_DURATION (seconds per figure, default 10) and NPH_BENCH_SERVERS (per cloud, default
# 20) bound the run. The brokers, wrk and this script share the machine's CPUs: on a small
# machine the figures are a floor, and the rate figures at c=8 are CPU-bound.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/integration/lib.sh"

DURATION=${NPH_BENCH_DURATION:-10}
N_SERVERS=${NPH_BENCH_SERVERS:-20}
TARGET_OVERHEAD_MS=1

command -v wrk >/dev/null || {
    echo "federation_bench.sh: wrk is not installed (apt-get install wrk)" >&2
    exit 1
}
command -v jq >/dev/null || {
    echo "federation_bench.sh: jq is not installed" >&2
    exit 1
}

declare -A URL PW PID DATA LOG
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nephele-fedbench.XXXXXX")

stop_all() {
    local k
    for k in A C B; do
        if [ -n "${PID[$k]:-}" ]; then
            NPH_PID=${PID[$k]} NPH_DATA=${DATA[$k]} NPH_LOG=${LOG[$k]} NPH_NAME=$k
            nph_stop >/dev/null 2>&1
            PID[$k]=
        fi
    done
    NPH_PID=
    rm -rf "$WORK"
}
trap stop_all EXIT

# start KEY NAME [serve args...]: a fresh broker, remembered under KEY.
start() {
    local key=$1
    shift
    nph_start "$@" || exit 1
    URL[$key]=$NPH_URL PW[$key]=$NPH_ADMIN_PASSWORD PID[$key]=$NPH_PID DATA[$key]=$NPH_DATA
    LOG[$key]=$NPH_LOG
    NPH_PID= NPH_DATA=
}

# token URL PASSWORD: an admin token, project-scoped.
token() {
    local body
    body=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' "$2")
    curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "$body" \
        "$1/identity/v3/auth/tokens?nocatalog" |
        awk -F': ' 'tolower($1) == "x-subject-token" {print $2}' | tr -d '\r'
}

# prepare URL TOKEN: unlimited compute quota for the admin project, and an image "cirros".
prepare() {
    local url=$1 tok=$2 project image
    project=$(curl -s -H "X-Auth-Token: $tok" -H "X-Subject-Token: $tok" \
        "$url/identity/v3/auth/tokens?nocatalog" | jq -r .token.project.id)
    curl -s -o /dev/null -X PUT -H "X-Auth-Token: $tok" -H 'Content-Type: application/json' \
        -d '{"quota_set":{"instances":-1,"cores":-1,"ram":-1}}' \
        "$url/compute/v2.1/os-quota-sets/$project"
    image=$(curl -s -H "X-Auth-Token: $tok" -H 'Content-Type: application/json' \
        -d '{"name":"cirros","disk_format":"raw","container_format":"bare"}' \
        "$url/image/v2/images" | jq -r .id)
    head -c 65536 /dev/zero | curl -s -o /dev/null -X PUT -H "X-Auth-Token: $tok" \
        -H 'Content-Type: application/octet-stream' --data-binary @- \
        "$url/image/v2/images/$image/file"
}

start B fedbench-b --log-level warn
start C fedbench-c --log-level warn
TOK_B=$(token "${URL[B]}" "${PW[B]}")
TOK_C=$(token "${URL[C]}" "${PW[C]}")
prepare "${URL[B]}" "$TOK_B"
prepare "${URL[C]}" "$TOK_C"

remote_entry() {
    cat <<Y
  - name: $1
    kind: openstack
    auth:
      auth_url: $2/identity/v3
      username: admin
      password: $3
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
Y
}
{
    printf 'clouds:\n  - name: home\n    kind: local\n'
    remote_entry remote "${URL[B]}" "${PW[B]}"
    remote_entry remote2 "${URL[C]}" "${PW[C]}"
    printf 'federation:\n  poll_interval_ms: 100\n  reconcile_interval: 0\n'
} >"$WORK/a.yaml"
chmod 600 "$WORK/a.yaml"
start A fedbench-a --log-level warn --config "$WORK/a.yaml"
TOK_A=$(token "${URL[A]}" "${PW[A]}")
prepare "${URL[A]}" "$TOK_A"

# N_SERVERS servers through A on each cloud, then wait until A sees them all ACTIVE.
for cloud in home remote remote2; do
    for i in $(seq "$N_SERVERS"); do
        code=$(curl -s -o "$WORK/create.json" -w '%{http_code}' -H "X-Auth-Token: $TOK_A" \
            -H 'Content-Type: application/json' \
            -d '{"server":{"name":"'"$cloud-$i"'","flavor":"m1.tiny","image":"cirros","cloud":"'"$cloud"'"}}' \
            "${URL[A]}/v1/servers")
        if [ "$code" != 202 ]; then
            echo "federation_bench.sh: create on $cloud answered $code: $(cat "$WORK/create.json")" >&2
            exit 1
        fi
    done
done
WANT=$((3 * N_SERVERS))
for i in $(seq 300); do
    ACTIVE=$(curl -s -H "X-Auth-Token: $TOK_A" "${URL[A]}/v1/servers?status=ACTIVE" |
        jq '.servers | length')
    [ "$ACTIVE" = "$WANT" ] && break
    sleep 0.2
done
if [ "$ACTIVE" != "$WANT" ]; then
    echo "federation_bench.sh: $ACTIVE of $WANT servers are ACTIVE through A" >&2
    exit 1
fi
N_B=$(curl -s -H "X-Auth-Token: $TOK_B" "${URL[B]}/compute/v2.1/servers/detail" | jq '.servers | length')
N_AR=$(curl -s -H "X-Auth-Token: $TOK_A" "${URL[A]}/v1/servers?cloud=remote" | jq '.servers | length')
if [ "$N_B" != "$N_SERVERS" ] || [ "$N_AR" != "$N_SERVERS" ]; then
    echo "federation_bench.sh: B lists $N_B servers, A lists $N_AR on remote; want $N_SERVERS" >&2
    exit 1
fi

declare -A RATE P50 P99
ERRORS=0
# to_ms "123.45us" -> 0.123
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n }'
}
# measure KEY CONNS URL [wrk args...]
measure() {
    local key=$1 conns=$2 url=$3 threads out rate non2xx
    shift 3
    threads=$((conns > 1 ? 2 : 1))
    out=$(wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency "$@" "$url" 2>&1)
    rate=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    key="$key c=$conns"
    RATE[$key]=${rate:-0}
    P50[$key]=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    P99[$key]=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    printf '  %-51s %8.0f req/s   p50 %8s ms   p99 %8s ms%s\n' "$key" \
        "${rate:-0}" "${P50[$key]}" "${P99[$key]}" "${non2xx:+   NON-2XX: $non2xx}"
    if [ -n "$non2xx" ] || [ -z "$rate" ]; then ERRORS=$((ERRORS + 1)); fi
}

HA="X-Auth-Token: $TOK_A"
HB="X-Auth-Token: $TOK_B"
# NPH_BENCH_HOLD=SECONDS keeps the brokers up (after setup, before measuring) for profiling.
if [ -n "${NPH_BENCH_HOLD:-}" ]; then
    printf 'holding %ss: A=%s (pid %s) B=%s (pid %s)\nTOK_A=%s\nTOK_B=%s\n' "$NPH_BENCH_HOLD" \
        "${URL[A]}" "${PID[A]:-?}" "${URL[B]}" "${PID[B]:-?}" "$TOK_A" "$TOK_B"
    sleep "$NPH_BENCH_HOLD"
fi
echo "nephele federation bench: $("$NEPHELE_BIN" version), $N_SERVERS servers per cloud (libvirt test:///default under each native cloud),"
echo "wrk ${DURATION}s per figure, $(nproc) CPUs shared by wrk and three brokers (load before the run: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "raw figures:"
for c in 1 8; do
    measure "(a) B servers/detail, direct" $c "${URL[B]}/compute/v2.1/servers/detail" -H "$HB"
    measure "(b) A /v1/servers?cloud=remote (via B)" $c "${URL[A]}/v1/servers?cloud=remote" -H "$HA"
    measure "(c) A /v1/servers, merged over 3 clouds" $c "${URL[A]}/v1/servers" -H "$HA"
    measure "(d) A /v1/servers?cloud=home" $c "${URL[A]}/v1/servers?cloud=home" -H "$HA"
    measure "(e) A servers/detail (native Nova API)" $c "${URL[A]}/compute/v2.1/servers/detail" -H "$HA"
done

A1=${P50["(a) B servers/detail, direct c=1"]}
B1=${P50["(b) A /v1/servers?cloud=remote (via B) c=1"]}
echo
echo "results:"
awk -v a="$A1" -v b="$B1" 'BEGIN {
    printf "  median, c=1: direct %.3f ms, through Nephele %.3f ms: Nephele adds %.3f ms (%.2f x)\n",
        a, b, b - a, (a > 0 ? b / a : 0) }'
awk -v a="${RATE["(a) B servers/detail, direct c=8"]}" -v b="${RATE["(b) A /v1/servers?cloud=remote (via B) c=8"]}" \
    'BEGIN { printf "  rate, c=8: direct %.0f req/s, through Nephele %.0f req/s (%.2f x)\n", a, b, (a > 0 ? b / a : 0) }'
awk -v r1="${RATE["(c) A /v1/servers, merged over 3 clouds c=1"]}" \
    -v r8="${RATE["(c) A /v1/servers, merged over 3 clouds c=8"]}" \
    -v p="${P50["(c) A /v1/servers, merged over 3 clouds c=1"]}" -v n="$WANT" \
    'BEGIN { printf "  merged list (3 clouds, %d servers): %.0f req/s at c=1 (p50 %.3f ms), %.0f req/s at c=8\n", n, r1, p, r8 }'
# Where the time goes: the mean backend call (A's histogram over the whole run) and A's /v1 path
# on its native cloud compared with its own Nova API.
mean_call() {
    curl -s "${URL[A]}/metrics" | awk -v c="$1" -v op="$2" '
        index($0, "nephele_backend_call_seconds_sum{cloud=\"" c "\",op=\"" op "\"}") == 1 { s = $2 }
        index($0, "nephele_backend_call_seconds_count{cloud=\"" c "\",op=\"" op "\"}") == 1 { n = $2 }
        END { printf "%.3f", (n > 0 ? s * 1000 / n : 0) }'
}
echo "  breakdown: A's mean server_list call to remote (B) $(mean_call remote server_list) ms, to home $(mean_call home server_list) ms;"
awk -v d="${P50["(d) A /v1/servers?cloud=home c=1"]}" -v e="${P50["(e) A servers/detail (native Nova API) c=1"]}" \
    'BEGIN { printf "             native cloud p50 via /v1 %.3f ms vs its Nova API %.3f ms (+%.3f ms)\n", d, e, d - e }'
echo
echo "targets:"
if awk -v a="$A1" -v b="$B1" -v t="$TARGET_OVERHEAD_MS" 'BEGIN { exit !(b - a < t) }'; then R=PASS; else R=MISS; fi
awk -v a="$A1" -v b="$B1" -v t="$TARGET_OVERHEAD_MS" -v r="$R" \
    'BEGIN { printf "  %-46s %8.3f ms   target < %d ms   %s\n", "added median latency (b - a, c=1)", b - a, t, r }'
[ "$ERRORS" -gt 0 ] && echo "WARNING: $ERRORS figure(s) had non-2xx answers or no result"
exit 0

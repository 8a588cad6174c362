#!/usr/bin/env bash
# object_bench.sh - the object-storage figures of issue 7, Nephele's Swift API side by side with
# a real Swift (the OpenStack Zed peer of tests/integration/openstack/peer.sh: proxy with
# keystone auth, one account/container/object server) in the same run, on the same filesystem:
#   - small objects: 4 KB PUT and GET operations per second (wrk, c=16, keep-alive),
#     target >= 3x Swift's rate;
#   - large objects: PUT and GET throughput (MB/s) of 1 MB and 100 MB objects (curl, one
#     stream), against the disk's own (dd with fsync to the same filesystem), target within 20 %.
#     100 MB: medians of NPH_BENCH_ROUNDS (5) rounds, the PUTs alternating with dd; GETs warm
#     and (as root) cold, against a cat and a cold dd of the object's data file; and the two
#     ceilings of one stream on this machine: OpenSSL's MD5 on one core (a PUT computes its
#     ETag) and a minimal sendfile(2) HTTP server read by the same curl (the transport).
#
#   bench/object_bench.sh [BUILD_DIR [SECONDS]]      defaults: ./build-rel 10
# Starts a broker of BUILD_DIR on a temporary data dir, and the peer (`peer.sh up`: installs its
# packages the first time, several minutes; `peer.sh down` at the end unless NPH_PEER_KEEP=1).
# The broker runs with http.threads 16 (NPH_BENCH_THREADS): a PUT holds its HTTP thread while
# its file is fsync'd, so with one thread per core (the default) at most two PUTs are on the disk
# at a time and the group commit of their rows has nothing to group; sixteen connections get
# sixteen threads (the peer's Swift keeps all sixteen in flight with eventlet's green threads).
# Run by hand, not in CI. Needs wrk.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${1:-$ROOT/build-rel}
SECS=${2:-10}
command -v wrk >/dev/null || { echo "object_bench.sh: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -d "$BUILD" ] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target nephele -j2 >/dev/null
export NEPHELE_BIN=$BUILD/broker/nephele
. "$ROOT/tests/integration/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/nph-objbench.XXXXXX")
PEER_UP=0
cleanup() {
    [ -n "${NPH_PID:-}" ] && nph_stop >/dev/null 2>&1
    if [ "$PEER_UP" = 1 ] && [ -z "${NPH_PEER_KEEP:-}" ]; then
        "$ROOT/tests/integration/openstack/peer.sh" down >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

export NEPHELE_HTTP_THREADS=${NPH_BENCH_THREADS:-16}
echo "object_bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $SECS s per wrk run," \
    "broker http.threads $NEPHELE_HTTP_THREADS"

# ---- the two stores -----------------------------------------------------------------------------
NPH_PEER_SMOKE=0 "$ROOT/tests/integration/openstack/peer.sh" up >"$WORK/peer.log" 2>&1 ||
    { tail -20 "$WORK/peer.log"; echo "object_bench: the peer did not start" >&2; exit 1; }
PEER_UP=1
PEER_ENV=$("$ROOT/tests/integration/openstack/peer.sh" env)
nph_start objbench >/dev/null || { echo "object_bench: the broker did not start" >&2; exit 1; }

# token URL USER PASSWORD PROJECT -> "TOKEN STORAGE_URL" (the object-store endpoint of the catalog)
token() {
    curl -s -D "$WORK/h" -o "$WORK/b" -H 'Content-Type: application/json' -d '{"auth": {"identity":
        {"methods": ["password"], "password": {"user": {"name": "'"$2"'", "domain": {"id": "default"},
        "password": "'"$3"'"}}}, "scope": {"project": {"name": "'"$4"'", "domain": {"id": "default"}}}}}' \
        "$1/auth/tokens"
    printf '%s %s\n' "$(sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: *\([^\r]*\).*/\1/p' "$WORK/h")" \
        "$(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print([e["url"] for s in d["token"]["catalog"] if s["type"] == "object-store"
       for e in s["endpoints"] if e["interface"] == "public"][0])' "$WORK/b")"
}
read -r N_TOKEN N_URL < <(token "$NPH_URL/identity/v3" admin "$NPH_ADMIN_PASSWORD" admin)
P_AUTH=$(sed -n 's/^export OS_AUTH_URL=//p' <<<"$PEER_ENV" | tr -d "'\"")
P_USER=$(sed -n 's/^export OS_USERNAME=//p' <<<"$PEER_ENV" | tr -d "'\"")
P_PASS=$(sed -n 's/^export OS_PASSWORD=//p' <<<"$PEER_ENV" | tr -d "'\"")
P_PROJ=$(sed -n 's/^export OS_PROJECT_NAME=//p' <<<"$PEER_ENV" | tr -d "'\"")
read -r P_TOKEN P_URL < <(token "${P_AUTH%/}" "$P_USER" "$P_PASS" "$P_PROJ")
[ -n "$N_TOKEN" ] && [ -n "$P_TOKEN" ] || { echo "object_bench: no token" >&2; exit 1; }

for side in N P; do
    t=${side}_TOKEN u=${side}_URL
    curl -sf -o /dev/null -X PUT -H "X-Auth-Token: ${!t}" "${!u}/bench" ||
        { echo "object_bench: container create on $side failed" >&2; exit 1; }
done

# ---- small objects -------------------------------------------------------------------------------
cat >"$WORK/put.lua" <<'EOF'
-- PUT 4 KB objects under unique names (thread id + counter)
local threads, n = {}, 0
function setup(thread) n = n + 1; thread:set("id", n); table.insert(threads, thread) end
function init(args) body = string.rep("x", 4096); i = 0 end
function request()
  i = i + 1
  return wrk.format("PUT", wrk.path .. "/t" .. id .. "-" .. i, nil, body)
end
EOF
cat >"$WORK/get.lua" <<'EOF'
-- GET one of 200 4 KB objects
function init(args) i = 0 end
function request() i = i + 1; return wrk.format("GET", wrk.path .. "/g" .. (i % 200)) end
EOF
small() { # SIDE put|get -> ops/s
    local t=${1}_TOKEN u=${1}_URL
    wrk -t2 -c16 -d"${SECS}s" -s "$WORK/$2.lua" -H "X-Auth-Token: ${!t}" "${!u}/bench" 2>&1 |
        awk '/Requests\/sec/ {print int($2)} /Non-2xx/ {print "non-2xx " $NF > "/dev/stderr"}'
}
for side in N P; do
    t=${side}_TOKEN u=${side}_URL
    head -c 4096 /dev/urandom >"$WORK/4k"
    for i in $(seq 0 199); do
        curl -sf -o /dev/null -X PUT -H "X-Auth-Token: ${!t}" --data-binary @"$WORK/4k" "${!u}/bench/g$i"
    done
done
N_PUT=$(small N put) P_PUT=$(small P put)
N_GET=$(small N get) P_GET=$(small P get)

# ---- large objects -------------------------------------------------------------------------------
head -c $((100 * 1048576)) /dev/urandom >"$WORK/100m"
head -c 1048576 /dev/urandom >"$WORK/1m"
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }
large() { # SIDE put|get FILE COUNT -> MB/s (one curl process, one kept-alive connection)
    local t=${1}_TOKEN u=${1}_URL size i t0 t1 cfg=$WORK/curl.cfg
    size=$(stat -c %s "$3")
    : >"$cfg"
    for i in $(seq 1 "$4"); do
        if [ "$2" = put ]; then
            printf 'url = "%s"\nupload-file = "%s"\noutput = "/dev/null"\n' \
                "${!u}/bench/l$i-$(basename "$3")" "$3" >>"$cfg"
        else
            printf 'url = "%s"\noutput = "/dev/null"\n' "${!u}/bench/l$i-$(basename "$3")" >>"$cfg"
        fi
    done
    t0=$(date +%s.%N)
    curl -sf -H "X-Auth-Token: ${!t}" -K "$cfg" || echo "object_bench: a $2 on $1 failed" >&2
    t1=$(date +%s.%N)
    mbps "$((size * $4))" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
}
N_P1=$(large N put "$WORK/1m" 50) P_P1=$(large P put "$WORK/1m" 50)
N_G1=$(large N get "$WORK/1m" 50) P_G1=$(large P get "$WORK/1m" 50)
# 100 MB objects against the disk's own. This kind of VM disk takes a burst into the host's
# cache (dd with fsync near 1.5 GB/s) and then settles (near 330 MB/s), so one dd before or after
# the PUTs measures a different disk than they met: the 100 MB PUTs of both stores and a dd with
# fsync alternate, ROUNDS times, and medians compare. Reads: with root (drop_caches writable)
# each GET and a dd of the object's own data file start from a cold page cache; the warm GETs are
# compared with a cat from the page cache too.
ROUNDS=${NPH_BENCH_ROUNDS:-5}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
dd_mbps() { awk '/copied/ { printf "%.0f", $1 / 1048576 / $(NF - 3) }'; }
COLD=0
if (sync && echo 1 >/proc/sys/vm/drop_caches) 2>/dev/null; then COLD=1; fi
cold() { if [ "$COLD" = 1 ]; then sync && echo 1 >/proc/sys/vm/drop_caches; fi; }
DDW=() NP=() PP=() DDR=() NG=() PG=() NGW=() PGW=() CAT=()
for r in $(seq 1 "$ROUNDS"); do
    DDW+=("$(dd if="$WORK/100m" of="$NPH_DATA/dd.out" bs=1M conv=fsync 2>&1 | dd_mbps)")
    rm -f "$NPH_DATA/dd.out"
    NP+=("$(large N put "$WORK/100m" 1)") PP+=("$(large P put "$WORK/100m" 1)")
done
DATA_FILE=$(find "$NPH_DATA/objects" -type f -size $((100 * 1024))k | head -1)
for r in $(seq 1 "$ROUNDS"); do
    cold; NG+=("$(large N get "$WORK/100m" 1)")
    cold; PG+=("$(large P get "$WORK/100m" 1)")
    cold; DDR+=("$(dd if="$DATA_FILE" of=/dev/null bs=1M 2>&1 | dd_mbps)")
    NGW+=("$(large N get "$WORK/100m" 1)") PGW+=("$(large P get "$WORK/100m" 1)")
    t0=$(date +%s.%N); cat "$DATA_FILE" >/dev/null; t1=$(date +%s.%N)
    CAT+=("$(mbps $((100 * 1048576)) "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")")
done
N_P100=$(median "${NP[@]}") P_P100=$(median "${PP[@]}") DD_W_MB=$(median "${DDW[@]}")
N_G100=$(median "${NGW[@]}") P_G100=$(median "${PGW[@]}") DD_R_MB=$(median "${CAT[@]}")
N_G100C=$(median "${NG[@]}") P_G100C=$(median "${PG[@]}") DD_RC_MB=$(median "${DDR[@]}")
# The transport's own ceiling for one GET stream: a minimal HTTP server (Python) that answers
# with sendfile(2) from the page cache, no checksum, no copy in user space, read by the same curl.
cat >"$WORK/sendfile.py" <<'PY'
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
for _ in range(int(sys.argv[2])):
    c, _ = s.accept()
    c.recv(65536)
    fd = os.open(sys.argv[1], os.O_RDONLY)
    size, off = os.fstat(fd).st_size, 0
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
    while off < size:
        off += os.sendfile(c.fileno(), fd, off, size - off)
    os.close(fd)
    c.close()
PY
SF=()
coproc SFSRV { python3 "$WORK/sendfile.py" "$DATA_FILE" "$ROUNDS"; }
read -r SF_PORT <&"${SFSRV[0]}"
for r in $(seq 1 "$ROUNDS"); do
    SF+=("$(curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$SF_PORT/" |
        awk '{ printf "%.0f", $1 / 1048576 }')")
done
wait "$SFSRV_PID" 2>/dev/null || true
SF_MB=$(median "${SF[@]}")
# One stream's ETag is one MD5: OpenSSL's MD5 on one core bounds any PUT that computes it.
MD5_MB=$(openssl speed -evp md5 -bytes 1048576 -seconds 2 2>/dev/null |
    awk '$1 == "md5" { v = $NF; sub(/k$/, "", v); printf "%.0f", v * 1000 / 1048576 }')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t) ? "PASS" : "MISS" }'; }
echo
printf '%-34s %12s %12s %8s\n' "" Nephele Swift ratio
printf '%-34s %12s %12s %8s  %s\n' "4 KB PUT (ops/s, c=16)" "$N_PUT" "$P_PUT" "$(ratio "$N_PUT" "$P_PUT")" \
    "target >= 3: $(verdict "$(ratio "$N_PUT" "$P_PUT")" 3)"
printf '%-34s %12s %12s %8s  %s\n' "4 KB GET (ops/s, c=16)" "$N_GET" "$P_GET" "$(ratio "$N_GET" "$P_GET")" \
    "target >= 3: $(verdict "$(ratio "$N_GET" "$P_GET")" 3)"
printf '%-34s %12s %12s %8s\n' "1 MB PUT (MB/s, one stream)" "$N_P1" "$P_P1" "$(ratio "$N_P1" "$P_P1")"
printf '%-34s %12s %12s %8s\n' "1 MB GET (MB/s, one stream)" "$N_G1" "$P_G1" "$(ratio "$N_G1" "$P_G1")"
printf '%-34s %12s %12s %8s\n' "100 MB PUT (MB/s, median)" "$N_P100" "$P_P100" "$(ratio "$N_P100" "$P_P100")"
printf '%-34s %12s %12s %8s\n' "100 MB GET (MB/s, median, warm)" "$N_G100" "$P_G100" "$(ratio "$N_G100" "$P_G100")"
[ "$COLD" = 1 ] &&
    printf '%-34s %12s %12s %8s\n' "100 MB GET (MB/s, median, cold)" "$N_G100C" "$P_G100C" "$(ratio "$N_G100C" "$P_G100C")"
echo
printf 'disk (same filesystem, medians of %s): dd write with fsync %s MB/s (rounds: %s)\n' \
    "$ROUNDS" "$DD_W_MB" "${DDW[*]}"
printf '  read: page cache (cat) %s MB/s' "$DD_R_MB"
[ "$COLD" = 1 ] && printf ', cold (dd of the object'"'"'s data file) %s MB/s' "$DD_RC_MB"
printf '\nNephele 100 MB PUT rounds: %s; MD5 on one core (openssl speed): %s MB/s\n' "${NP[*]}" "$MD5_MB"
printf 'one GET stream from a sendfile server to the same curl (page cache, no checksum): %s MB/s\n' "$SF_MB"
printf '100 MB PUT vs dd write: %s (target >= 0.80: %s); vs the MD5 ceiling: %s\n' \
    "$(ratio "$N_P100" "$DD_W_MB")" "$(verdict "$(ratio "$N_P100" "$DD_W_MB")" 0.8)" \
    "$(ratio "$N_P100" "$MD5_MB")"
if [ "$COLD" = 1 ]; then
    printf '100 MB GET (cold) vs dd read (cold): %s (target >= 0.80: %s); warm GET vs cat: %s,' \
        "$(ratio "$N_G100C" "$DD_RC_MB")" "$(verdict "$(ratio "$N_G100C" "$DD_RC_MB")" 0.8)" \
        "$(ratio "$N_G100" "$DD_R_MB")"
    printf ' vs the sendfile server: %s\n' "$(ratio "$N_G100" "$SF_MB")"
else
    printf '100 MB GET vs a page-cache read (no root: caches cannot be dropped): %s (target >= 0.80: %s)\n' \
        "$(ratio "$N_G100" "$DD_R_MB")" "$(verdict "$(ratio "$N_G100" "$DD_R_MB")" 0.8)"
fi

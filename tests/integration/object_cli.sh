#!/usr/bin/env bash
# object_cli.sh - object storage through the stock clients (python3-swiftclient's `swift`,
# `openstack container/object`) and curl where a client cannot say it: a 200 MB file uploaded
# in segments (dynamic and static large objects) and downloaded with its sha256 compared,
# listings with prefix/delimiter/marker/format, metadata, an ACL between two projects, expiry,
# Range (206/416), a wrong ETag refused with nothing stored, bad names and short bodies refused,
# a corrupted data file refused on read, quotas, container delete conflicts, the bucket's
# ledger events, and no stray temporary files at the end.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

nph_start object || exit 1
os() { "$NPH_OPENSTACK" "$@"; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nephele-object-it.XXXXXX")
trap 'rm -rf "$WORK"; nph_exit_trap' EXIT
sw() { /usr/bin/swift --os-auth-url "$OS_AUTH_URL" "$@"; }

TOKEN=$(os token issue -f value -c id)
PROJECT=$(os token issue -f value -c project_id)
SURL=$NPH_URL/object-store/v1/AUTH_$PROJECT
cget() { curl -s --max-time 30 -H "X-Auth-Token: $TOKEN" "$@"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H "X-Auth-Token: $TOKEN" "$@"; }

# ---- catalog, account ---------------------------------------------------------------------------
TYPES=$(os catalog list -f value -c Type)
grep -qx object-store <<<"$TYPES" && pass "catalog lists object-store" || fail "catalog lists object-store ($TYPES)"
EP=$(os catalog show object-store -f json | "$NPH_PYTHON" -c 'import json,sys; print([e["url"] for e in json.load(sys.stdin)["endpoints"] if e["interface"]=="public"][0])')
[ "$EP" = "$SURL" ] && pass "the token's catalog names AUTH_<project>" || fail "catalog endpoint '$EP' != '$SURL'"
check "swift stat (empty account)" sw stat
[ "$(code -X GET "$SURL")" = 204 ] && pass "empty account listing: 204" || fail "empty account listing: 204"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$SURL")" = 401 ] && pass "no token: 401" || fail "no token: 401"
INFO=$(curl -s "$NPH_URL/info")
"$NPH_PYTHON" -c 'import json,sys; d=json.loads(sys.argv[1]); assert "swift" in d and "slo" in d and "account_quotas" in d' "$INFO" &&
    pass "/info lists swift, slo and the quotas" || fail "/info: $INFO"

# ---- a 200 MB file in segments --------------------------------------------------------------------
BIG=$WORK/big.bin
head -c $((200 * 1024 * 1024)) /dev/urandom > "$BIG"
SUM=$(sha256sum < "$BIG" | cut -d' ' -f1)
t0=$(date +%s)
if sw upload --segment-size 52428800 --object-name big-dlo big "$BIG" >/dev/null 2>"$WORK/err"; then
    pass "swift upload --segment-size (dynamic large object, 200 MB in 4 segments) in $(($(date +%s) - t0)) s"
else
    fail "swift upload --segment-size: $(cat "$WORK/err")"
fi
SEGS=$(sw list big_segments | wc -l)
[ "$SEGS" = 4 ] && pass "4 segments in big_segments" || fail "4 segments in big_segments (got $SEGS)"
rm -f "$WORK/dl"
sw download big big-dlo -o "$WORK/dl" >/dev/null 2>"$WORK/err" || fail "download dlo: $(cat "$WORK/err")"
[ "$(sha256sum < "$WORK/dl" | cut -d' ' -f1)" = "$SUM" ] && pass "DLO download: sha256 matches" ||
    fail "DLO download: sha256 differs"
rm -f "$WORK/dl"
if sw upload --use-slo --segment-size 52428800 --object-name big-slo big "$BIG" >/dev/null 2>"$WORK/err"; then
    pass "swift upload --use-slo --segment-size (static large object)"
else
    fail "swift upload --use-slo: $(cat "$WORK/err")"
fi
sw download big big-slo -o "$WORK/dl" >/dev/null 2>"$WORK/err" || fail "download slo: $(cat "$WORK/err")"
[ "$(sha256sum < "$WORK/dl" | cut -d' ' -f1)" = "$SUM" ] && pass "SLO download: sha256 matches" ||
    fail "SLO download: sha256 differs"
rm -f "$WORK/dl"
HDRS=$(cget -I "$SURL/big/big-slo")
grep -qi '^x-static-large-object: True' <<<"$HDRS" && grep -qi "^content-length: $((200 * 1024 * 1024))" <<<"$HDRS" &&
    pass "SLO HEAD: X-Static-Large-Object and the full length" || fail "SLO HEAD: $HDRS"
# a range across a segment boundary of the SLO
R=$(cget -H "Range: bytes=52428790-52428809" "$SURL/big/big-slo" | od -An -tx1 | tr -d ' \n')
E=$(dd if="$BIG" bs=1 skip=52428790 count=20 2>/dev/null | od -An -tx1 | tr -d ' \n')
[ -n "$R" ] && [ "$R" = "$E" ] && pass "Range across two SLO segments" || fail "Range across two SLO segments"
sw delete big big-slo >/dev/null 2>&1 && sw delete big big-dlo >/dev/null 2>&1 && pass "delete both large objects with their segments" ||
    fail "delete the large objects"
LEFT=$(sw list big_segments | wc -l)
[ "$LEFT" = 0 ] && pass "segments deleted with their manifests" || fail "segments left: $LEFT"
rm -f "$BIG"

# ---- listings -----------------------------------------------------------------------------------------
echo one > "$WORK/one"
for n in dir1/a dir1/b dir2/c top; do sw upload --object-name "$n" lst "$WORK/one" >/dev/null || fail "upload $n"; done
L=$(sw list lst --prefix dir1/ | tr '\n' ' ')
[ "$L" = "dir1/a dir1/b " ] && pass "listing with prefix" || fail "listing with prefix: '$L'"
L=$(sw list lst --delimiter / | tr '\n' ' ')
[ "$L" = "dir1/ dir2/ top " ] && pass "listing with delimiter (subdirs)" || fail "listing with delimiter: '$L'"
L=$(cget "$SURL/lst?marker=dir1/b&end_marker=top" | tr '\n' ' ')
[ "$L" = "dir2/c " ] && pass "listing with marker and end_marker" || fail "marker/end_marker: '$L'"
L=$(cget "$SURL/lst?reverse=true&limit=2" | tr '\n' ' ')
[ "$L" = "top dir2/c " ] && pass "listing reversed with a limit" || fail "reverse+limit: '$L'"
J=$(cget "$SURL/lst?format=json&prefix=dir2/")
"$NPH_PYTHON" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d[0]["name"]=="dir2/c" and d[0]["bytes"]==4 and d[0]["hash"]=="5bbf5a52328e7439ae6e719dfe712200"' "$J" &&
    pass "JSON listing (name, bytes, hash)" || fail "JSON listing: $J"
X=$(cget -H "Accept: application/xml" "$SURL/lst?delimiter=/")
grep -q '<subdir name="dir1/"><name>dir1/</name></subdir>' <<<"$X" && grep -q '<container name="lst">' <<<"$X" &&
    pass "XML listing by Accept, with subdirs" || fail "XML listing: $X"
[ "$(code "$SURL/lst?limit=x")" = 400 ] && pass "bad limit: 400" || fail "bad limit: 400"
OL=$(os object list lst -f value -c Name | tr '\n' ' ')
[ "$OL" = "dir1/a dir1/b dir2/c top " ] && pass "openstack object list" || fail "openstack object list: '$OL'"

# ---- metadata -----------------------------------------------------------------------------------------
sw post lst top -m color:blue -m Size:Large >/dev/null && S=$(sw stat lst top) &&
    grep -q 'Meta Color: blue' <<<"$S" && grep -q 'Meta Size: Large' <<<"$S" &&
    pass "object metadata: post and stat" || fail "object metadata: ${S:-}"
sw post lst -m owner:team-a >/dev/null && sw stat lst | grep -q 'Meta Owner: team-a' &&
    pass "container metadata" || fail "container metadata"
sw post -m dept:research >/dev/null && sw stat | grep -q 'Meta Dept: research' &&
    pass "account metadata" || fail "account metadata"
H=$(cget -I "$SURL/lst")
grep -qi '^x-container-object-count: 4' <<<"$H" && grep -qi '^x-container-bytes-used: 16' <<<"$H" &&
    pass "X-Container-Object-Count / Bytes-Used" || fail "container usage headers: $H"
os object show lst top -f value -c etag | grep -qx 5bbf5a52328e7439ae6e719dfe712200 &&
    pass "openstack object show: the etag is the md5" || fail "openstack object show etag"

# ---- ACL between two projects ---------------------------------------------------------------------
P2PW=$(nph_random_password)
os project create p2 >/dev/null && os user create --password "$P2PW" --project p2 u2 >/dev/null &&
    os role add --user u2 --project p2 member || fail "creating project p2"
P2ID=$(os project show p2 -f value -c id)
U2ID=$(os user show u2 -f value -c id)
T2=$(OS_USERNAME=u2 OS_PASSWORD=$P2PW OS_PROJECT_NAME=p2 os token issue -f value -c id)
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $T2" "$SURL/lst/top")" = 403 ] &&
    pass "another project cannot read before the ACL" || fail "another project reads without ACL"
sw post lst -r "$P2ID:$U2ID" >/dev/null || fail "setting X-Container-Read"
B=$(curl -s -H "X-Auth-Token: $T2" "$SURL/lst/top")
[ "$B" = one ] && pass "another project reads after X-Container-Read" || fail "read after ACL: '$B'"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $T2" -X PUT --data x "$SURL/lst/evil")" = 403 ] &&
    pass "read ACL does not allow writes" || fail "write with read ACL"
sw post lst -w "$P2ID:*" >/dev/null
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $T2" -X PUT --data x "$SURL/lst/fromp2")" = 201 ] &&
    pass "X-Container-Write lets the other project write" || fail "write with write ACL"
sw post lst -r "" -w "" >/dev/null
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $T2" "$SURL/lst/top")" = 403 ] &&
    pass "ACL removed: 403 again" || fail "ACL removal"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $T2" "$SURL")" = 403 ] &&
    pass "another project cannot list the account" || fail "account listing by another project"
sw delete lst fromp2 >/dev/null

# ---- expiry ---------------------------------------------------------------------------------------
sw upload --object-name later -H "X-Delete-After: 600" lst "$WORK/one" >/dev/null
[ "$(code "$SURL/lst/later")" = 200 ] && cget -I "$SURL/lst/later" | grep -qi '^x-delete-at: [0-9]' &&
    pass "object readable before expiry, with X-Delete-At" || fail "readable before expiry"
sw delete lst later >/dev/null
sw upload --object-name shortlived -H "X-Delete-After: 1" lst "$WORK/one" >/dev/null || fail "upload with X-Delete-After"
sleep 2
[ "$(code "$SURL/lst/shortlived")" = 404 ] && pass "expired object: 404" || fail "expired object: 404"
sw list lst | grep -q shortlived && fail "expired object still listed" || pass "expired object reaped from listings"
[ "$(code -X PUT -H 'X-Delete-At: 1000' --data x "$SURL/lst/past")" = 400 ] &&
    pass "X-Delete-At in the past: 400" || fail "X-Delete-At in the past"

# ---- Range ------------------------------------------------------------------------------------------
printf '0123456789' > "$WORK/digits"
sw upload --object-name digits lst "$WORK/digits" >/dev/null
B=$(cget -H "Range: bytes=2-5" "$SURL/lst/digits")
[ "$B" = 2345 ] && [ "$(code -H 'Range: bytes=2-5' "$SURL/lst/digits")" = 206 ] && pass "Range bytes=2-5: 206 '2345'" || fail "Range: '$B'"
[ "$(cget -H 'Range: bytes=-3' "$SURL/lst/digits")" = 789 ] && pass "suffix Range" || fail "suffix Range"
[ "$(code -H 'Range: bytes=10-' "$SURL/lst/digits")" = 416 ] && pass "Range past the end: 416" || fail "Range past the end"
cget -D - -o /dev/null -H 'Range: bytes=10-' "$SURL/lst/digits" | grep -qi '^content-range: bytes \*/10' &&
    pass "416 carries Content-Range: bytes */10" || fail "416 Content-Range"

# ---- temporary URLs ---------------------------------------------------------------------------------
code -X POST -H 'X-Account-Meta-Temp-URL-Key: s3cret' "$SURL" >/dev/null
TU=$("$NPH_PYTHON" - "$PROJECT" <<'PY'
import hmac, hashlib, sys, time
exp = int(time.time()) + 300
path = "/object-store/v1/AUTH_%s/lst/digits" % sys.argv[1]
sig = hmac.new(b"s3cret", ("GET\n%d\n%s" % (exp, path)).encode(), hashlib.sha256).hexdigest()
print("%s?temp_url_sig=%s&temp_url_expires=%d" % (path, sig, exp))
PY
)
[ "$(curl -s "$NPH_URL$TU")" = 0123456789 ] && pass "temporary URL: GET without a token" || fail "temporary URL GET"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$NPH_URL${TU/temp_url_sig=/temp_url_sig=0}")" = 401 ] &&
    pass "temporary URL with a bad signature: 401" || fail "bad temporary URL"
code -X POST -H 'X-Remove-Account-Meta-Temp-URL-Key: x' "$SURL" >/dev/null

# ---- bad input: nothing stored ----------------------------------------------------------------------
[ "$(code -X PUT -H 'ETag: 00000000000000000000000000000000' --data hello "$SURL/lst/badetag")" = 422 ] &&
    pass "wrong ETag: 422" || fail "wrong ETag: 422"
[ "$(code -I "$SURL/lst/badetag")" = 404 ] && pass "wrong ETag: nothing stored" || fail "wrong ETag stored something"
[ "$(code -X PUT -H "ETag: $(printf hello | md5sum | cut -d' ' -f1)" --data hello "$SURL/lst/goodetag")" = 201 ] &&
    pass "right ETag: 201" || fail "right ETag"
# past 4 MiB the server hashes a body on a thread of its own, reading back what was written:
# the same MD5, checked both ways (a chunked upload's pieces arrive unevenly)
head -c $((13 * 1024 * 1024 + 7)) /dev/urandom > "$WORK/13m"
M13=$(md5sum < "$WORK/13m" | cut -d' ' -f1)
[ "$(code -X PUT -H "ETag: $M13" -T "$WORK/13m" "$SURL/lst/big-etag")" = 201 ] &&
    [ "$(cget "$SURL/lst/big-etag" | md5sum | cut -d' ' -f1)" = "$M13" ] &&
    pass "13 MB with its ETag: 201 and the same bytes back" || fail "13 MB with its ETag"
[ "$(code -X PUT -H 'Transfer-Encoding: chunked' -H "ETag: $M13" -T "$WORK/13m" "$SURL/lst/big-chunked")" = 201 ] &&
    pass "13 MB chunked with its ETag: 201" || fail "13 MB chunked with its ETag"
[ "$(code -X PUT -H 'ETag: 00000000000000000000000000000000' -T "$WORK/13m" "$SURL/lst/big-bad")" = 422 ] &&
    [ "$(code -I "$SURL/lst/big-bad")" = 404 ] && pass "13 MB with a wrong ETag: 422, nothing stored" ||
    fail "13 MB with a wrong ETag"
rm -f "$WORK/13m"
LONG=$("$NPH_PYTHON" -c 'print("n"*2000)')
[ "$(code -X PUT --data x "$SURL/lst/$LONG")" = 400 ] && pass "2,000-byte object name: 400" || fail "long name"
[ "$(code -X PUT --data x --path-as-is "$SURL/lst/a/../b")" = 400 ] && pass "'..' segment in a name: 400" || fail "'..' in name"
[ "$(code -X PUT --data x --path-as-is "$SURL/lst/a/%2e%2e/b")" = 400 ] && pass "encoded '..' segment: 400" || fail "encoded '..'"
[ "$(code -X PUT -H 'Content-Length: -5' --data x "$SURL/lst/neg")" -ge 400 ] && pass "negative Content-Length refused" || fail "negative Content-Length"
# a body shorter than its Content-Length: the client gives up, nothing is stored
"$NPH_PYTHON" - "$NPH_URL" "$PROJECT" "$TOKEN" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port))
s.sendall(("PUT /object-store/v1/AUTH_%s/lst/short HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\n"
           "Content-Length: 1000\r\n\r\n" % (sys.argv[2], sys.argv[3])).encode() + b"x" * 10)
s.shutdown(socket.SHUT_WR)
s.settimeout(5)
try:
    s.recv(100)
except Exception:
    pass
s.close()
PY
sleep 0.5
[ "$(code -I "$SURL/lst/short")" = 404 ] && pass "short body: nothing stored" || fail "short body stored"
[ "$(code -X PUT "$SURL/nosuch/obj" --data x)" = 404 ] && pass "PUT into a missing container: 404" || fail "missing container"

# ---- corrupted data refused on read ------------------------------------------------------------------
printf 'precious bytes' > "$WORK/precious"
sw upload --object-name precious lst "$WORK/precious" >/dev/null
F=$(grep -rl 'precious bytes' "$NPH_DATA/objects" | head -1)
if [ -n "$F" ]; then
    printf 'PRECIOUS' | dd of="$F" bs=1 seek=0 conv=notrunc 2>/dev/null
    C=$(code "$SURL/lst/precious")
    B=$(cget "$SURL/lst/precious")
    [ "$C" = 500 ] && ! grep -q PRECIOUS <<<"$B" && pass "corrupted data file: 500, no byte of it served" ||
        fail "corrupted data served ($C '$B')"
else
    fail "cannot find the data file of 'precious'"
fi

flip_byte() { # FILE OFFSET: change the byte at OFFSET (to its value + 1)
    local b
    b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
    printf "\\$(printf '%03o' $(((b + 1) % 256)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
corrupt_then_get() { # OBJECT OFFSET WHAT: flip a byte of OBJECT's 65 MiB data file, GET it:
    # the response must be cut short (fewer bytes than the object, curl reports an error)
    local f got
    f=$(find "$NPH_DATA/objects" -type f -size $((65 * 1024))k | head -1)
    if [ -z "$f" ]; then
        fail "cannot find the data file of '$1'"
        return
    fi
    flip_byte "$f" "$2"
    got=$(curl -s --max-time 60 -H "X-Auth-Token: $TOKEN" -o /dev/null -w '%{size_download}' \
        "$SURL/lst/$1"; echo " rc=$?")
    [ "${got% rc=*}" -lt $((65 * 1048576)) ] && [ "${got#* rc=}" != 0 ] &&
        pass "$3: response cut short (${got% rc=*} bytes, curl ${got#* rc=})" ||
        fail "$3: served whole ($got)"
}
# A large object (past LOBJ_VERIFY_MAX, 64 MiB) is verified while it streams, by the CRC-32C
# recorded at upload: intact it arrives whole with its MD5; one flipped byte in the middle and
# the response is cut short before its last bytes (curl: partial file), never served whole.
head -c $((65 * 1048576)) /dev/urandom >"$WORK/big65"
BIG_MD5=$(md5sum <"$WORK/big65" | cut -d' ' -f1)
if [ "$(code -X PUT -T "$WORK/big65" "$SURL/lst/big65")" = 201 ] &&
    [ "$(cget "$SURL/lst/big65" | md5sum | cut -d' ' -f1)" = "$BIG_MD5" ]; then
    pass "65 MiB object: stored and read back whole (verified while streaming)"
else
    fail "65 MiB object round trip"
fi
corrupt_then_get big65 $((40 * 1048576)) "65 MiB object with a corrupted byte"
[ "$(code -X DELETE "$SURL/lst/big65")" = 204 ] || fail "delete big65"
# An object stored before CRCs were recorded (its crc32c NULL, as store migration 3 leaves
# older rows) is verified while streaming by its MD5: whole when intact, cut short when not.
if [ "$(code -X PUT -T "$WORK/big65" "$SURL/lst/old65")" = 201 ] &&
    "$NPH_PYTHON" -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
n = db.execute("UPDATE obj_object SET crc32c = NULL WHERE name = ?", ("old65",)).rowcount
db.commit()
sys.exit(0 if n == 1 else 1)' "$NPH_DATA/nephele.db" &&
    [ "$(cget "$SURL/lst/old65" | md5sum | cut -d' ' -f1)" = "$BIG_MD5" ]; then
    pass "65 MiB object without a CRC (an older row): read back whole, verified by its MD5"
else
    fail "65 MiB object without a CRC"
fi
corrupt_then_get old65 $((50 * 1048576)) "65 MiB object without a CRC, corrupted"
rm -f "$WORK/big65"
[ "$(code -X DELETE "$SURL/lst/old65")" = 204 ] || fail "delete old65"

# ---- copy, quotas, delete ----------------------------------------------------------------------------
[ "$(code -X COPY -H 'Destination: lst/digits-copy' "$SURL/lst/digits")" = 201 ] &&
    [ "$(cget "$SURL/lst/digits-copy")" = 0123456789 ] && pass "COPY" || fail "COPY"
[ "$(code -X PUT -H 'X-Copy-From: /lst/digits' -H 'Content-Length: 0' "$SURL/lst/digits-copy2")" = 201 ] &&
    [ "$(cget "$SURL/lst/digits-copy2")" = 0123456789 ] && pass "PUT with X-Copy-From" || fail "X-Copy-From"
sw post q -H 'X-Container-Meta-Quota-Bytes: 15' >/dev/null
[ "$(code -X PUT --data 0123456789 "$SURL/q/a")" = 201 ] && [ "$(code -X PUT --data 0123456789 "$SURL/q/b")" = 413 ] &&
    pass "container quota: 413 past the bytes" || fail "container quota"
[ "$(code -X POST -H 'X-Account-Meta-Quota-Bytes: 10' "$SURL")" = 204 ] &&
    pass "account quota set by the admin" || fail "admin sets the account quota"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Auth-Token: $T2" -H 'X-Account-Meta-Quota-Bytes: 99999' "$NPH_URL/object-store/v1/AUTH_$P2ID")" = 403 ] &&
    pass "a member cannot set its account quota" || fail "member sets the account quota"
[ "$(code -X PUT --data 0123456789abc "$SURL/lst/over")" = 413 ] && pass "account quota: 413" || fail "account quota"
code -X POST -H 'X-Remove-Account-Meta-Quota-Bytes: x' "$SURL" >/dev/null
[ "$(code -X DELETE "$SURL/lst")" = 409 ] && pass "deleting a non-empty container: 409" || fail "non-empty delete"
out=$(os container create occ 2>&1) && os object create occ "$WORK/one" >/dev/null 2>&1 || true
if lst=$(os container list -f value -c Name 2>&1) && grep -qx occ <<<"$lst"; then
    pass "openstack container create/list"
else
    fail "openstack container create/list: create said: ${out:0:300}; list said: ${lst:0:300}"
fi
os object delete occ "$WORK/one" >/dev/null 2>&1
os container delete occ && pass "openstack container delete" || fail "openstack container delete"

# ---- the broker killed during a 200 MB upload ----------------------------------------------------------
CR=$WORK/crash.bin
head -c $((200 * 1024 * 1024)) /dev/urandom > "$CR"
curl -s -o /dev/null --max-time 60 --limit-rate 20M -T "$CR" -H "X-Auth-Token: $TOKEN" "$SURL/lst/crash" &
CPID=$!
sleep 3
kill -KILL "$NPH_PID"
wait "$NPH_PID" 2>/dev/null
wait "$CPID" 2>/dev/null
PORT=${NPH_URL##*:}
NEPHELE_BOOTSTRAP_PASSWORD=$NPH_ADMIN_PASSWORD "$NEPHELE_BIN" serve --data-dir "$NPH_DATA" \
    --listen "127.0.0.1:$PORT" >>"$NPH_LOG" 2>&1 &
NPH_PID=$!
if nph_wait_ready 20; then
    pass "broker restarted after SIGKILL during an upload"
    C=$(code -I "$SURL/lst/crash")
    if [ "$C" = 404 ]; then
        pass "after SIGKILL mid-upload the object is absent"
    elif [ "$C" = 200 ] && [ "$(cget "$SURL/lst/crash" | sha256sum | cut -d' ' -f1)" = "$(sha256sum < "$CR" | cut -d' ' -f1)" ]; then
        pass "after SIGKILL mid-upload the object is complete"
    else
        fail "after SIGKILL mid-upload: status $C, partial object?"
    fi
else
    fail "broker restart after SIGKILL"
fi
rm -f "$CR"

# ---- the ledger and the disk ---------------------------------------------------------------------
if command -v sqlite3 >/dev/null; then
    N=$(sqlite3 "$NPH_DATA/nephele.db" "SELECT COUNT(*) FROM ledger_event WHERE resource_type='bucket' AND event='created'")
    D=$(sqlite3 "$NPH_DATA/nephele.db" "SELECT COUNT(*) FROM ledger_event WHERE resource_type='bucket' AND event='deleted'")
    [ "$N" -ge 4 ] && [ "$D" -ge 1 ] && pass "bucket created/deleted events in the ledger ($N created, $D deleted)" ||
        fail "bucket ledger events ($N created, $D deleted)"
fi
STRAY=$(find "$NPH_DATA/images" -name 'nph-upload-*' | wc -l)
ORPHANS=$(find "$NPH_DATA/objects" -type f | wc -l)
ROWS=$(sqlite3 "$NPH_DATA/nephele.db" "SELECT COUNT(*) FROM obj_object" 2>/dev/null || echo "$ORPHANS")
[ "$ORPHANS" = "$ROWS" ] && pass "every data file is named by an object ($ROWS)" || fail "$ORPHANS data files for $ROWS objects"
[ "$STRAY" = 0 ] && pass "no temporary upload files left" || fail "$STRAY temporary upload files left"
nph_summary

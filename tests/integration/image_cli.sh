#!/usr/bin/env bash
# image_cli.sh - the image service through the stock openstack client (and curl where the
# client cannot say it): create with a qcow2 file, list, show, save and compare the bytes,
# set a property, delete; a raw file declared qcow2 is refused and the image stays queued with
# no data; a member of another project cannot see a private image nor publicize one; a 50 MB
# upload and download keep the broker's RSS under 60 MB (NPH_RSS_LIMIT_KB=0 skips that bound,
# as under AddressSanitizer).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

nph_start image || exit 1
os() { "$NPH_OPENSTACK" "$@"; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nephele-image-it.XXXXXX")
trap 'rm -rf "$WORK"; nph_exit_trap' EXIT

# A small valid qcow2 image: a version 3 header (104 bytes, cluster_bits 16, 64 MiB virtual)
# followed by some payload, written by hand (qemu-img is not needed).
"$NPH_PYTHON" - "$WORK/disk.qcow2" <<'PY'
import struct, sys, os
hdr = struct.pack(">4sIQIIQIIQQIIQQQII", b"QFI\xfb", 3, 0, 0, 16, 64 << 20, 0, 1,
                  0x30000, 0x10000, 1, 0, 0x20000, 0, 0, 4, 104)
with open(sys.argv[1], "wb") as f:
    f.write(hdr.ljust(0x40000, b"\0") + os.urandom(4096))
PY
head -c 300000 /dev/urandom > "$WORK/disk.raw"

# ---- the openstack client ---------------------------------------------------------------------
TYPES=$(os catalog list -f value -c Type)
if grep -qx image <<<"$TYPES"; then pass "catalog lists the image service"; else fail "catalog lists the image service ($TYPES)"; fi
ID=$(os image create --file "$WORK/disk.qcow2" --disk-format qcow2 --container-format bare \
    cirros-it -f value -c id 2>"$WORK/err") || { cat "$WORK/err"; ID=; }
if [ -n "$ID" ]; then pass "image create --file (qcow2)"; else fail "image create --file (qcow2)"; fi
NAMES=$(os image list -f value -c Name)
if grep -qx cirros-it <<<"$NAMES"; then pass "image list shows it"; else fail "image list shows it ($NAMES)"; fi
check "image list --name filters" bash -c "[ \"\$('$NPH_OPENSTACK' image list --name cirros-it -f value -c ID)\" = '$ID' ]"
STATUS=$(os image show cirros-it -f value -c status)
[ "$STATUS" = active ] && pass "image show: active" || fail "image show: active (got '$STATUS')"
SUM=$(os image show cirros-it -f value -c checksum)
[ "$SUM" = "$(md5sum < "$WORK/disk.qcow2" | cut -d' ' -f1)" ] && pass "checksum is the md5 of the file" ||
    fail "checksum is the md5 of the file (got '$SUM')"
SHA=$(os image show cirros-it -f json | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); p=d.get("properties") or {}; print(d.get("os_hash_value") or p.get("os_hash_value"))')
[ "$SHA" = "$(sha256sum < "$WORK/disk.qcow2" | cut -d' ' -f1)" ] && pass "os_hash_value is the sha256 of the file" ||
    fail "os_hash_value is the sha256 of the file (got '$SHA')"
VS=$(os image show cirros-it -f value -c virtual_size)
[ "$VS" = 67108864 ] && pass "virtual_size from the qcow2 header" || fail "virtual_size from the qcow2 header (got '$VS')"
check "image save --file" os image save --file "$WORK/out.qcow2" cirros-it
check "saved bytes are identical" cmp "$WORK/disk.qcow2" "$WORK/out.qcow2"
check "image set --property" os image set --property k1=v1 cirros-it
PROPS=$(os image show cirros-it -f value -c properties)
case $PROPS in *"'k1': 'v1'"*) pass "the property is shown" ;; *) fail "the property is shown ($PROPS)" ;; esac
check "image set --name --min-disk --tag" os image set --name cirros-renamed --min-disk 1 --tag t1 cirros-it
check "the changes are shown" bash -c "'$NPH_OPENSTACK' image show cirros-renamed -f json | '$NPH_PYTHON' -c 'import json,sys; d=json.load(sys.stdin); assert d[\"min_disk\"]==1 and \"t1\" in d[\"tags\"], d'"
check "image unset --property" os image unset --property k1 cirros-renamed
check "image delete" os image delete cirros-renamed
if os image show "$ID" >/dev/null 2>&1; then fail "a deleted image is gone"; else pass "a deleted image is gone"; fi
[ -z "$(ls -A "$NPH_DATA/images" 2>/dev/null)" ] && pass "its data file is removed" || fail "its data file is removed ($(ls "$NPH_DATA/images"))"

# ---- format checks ----------------------------------------------------------------------------
if os image create --file "$WORK/disk.raw" --disk-format qcow2 --container-format bare \
    fake-qcow2 >/dev/null 2>"$WORK/err"; then
    fail "a raw file declared qcow2 is refused"
else
    pass "a raw file declared qcow2 is refused"
fi
# The client deletes the image it created when the upload fails; if it is still there it must
# be queued again (the curl cases below check the requeue directly).
ST=$(os image show fake-qcow2 -f value -c status 2>/dev/null)
case $ST in "" | queued) pass "... and the image is gone or back to queued" ;;
*) fail "... and the image is gone or back to queued (got '$ST')" ;; esac
[ -z "$(ls -A "$NPH_DATA/images" 2>/dev/null)" ] && pass "... with no data kept" || fail "... with no data kept"
os image delete fake-qcow2 >/dev/null 2>&1

TOKEN=$(os token issue -f value -c id)
G=$NPH_URL/image/v2
H=(-H "X-Auth-Token: $TOKEN")
mkimg() { # name disk_format [visibility] -> id
    curl -s "${H[@]}" -H 'Content-Type: application/json' \
        -d "{\"name\":\"$1\",\"disk_format\":\"$2\",\"container_format\":\"bare\",\"visibility\":\"${3:-private}\"}" \
        "$G/images" | "$NPH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
RID=$(mkimg qcow2-as-raw raw)
code=$(nph_status "${H[@]}" -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary @"$WORK/disk.qcow2" "$G/images/$RID/file")
[ "$code" = 400 ] && pass "qcow2 bytes declared raw: 400" || fail "qcow2 bytes declared raw: 400 (got $code)"
code=$(nph_status "${H[@]}" "$G/images/$RID/file")
[ "$code" = 204 ] && pass "download of an image without data: 204" || fail "download of an image without data: 204 (got $code)"
code=$(nph_status "${H[@]}" -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary @"$WORK/disk.raw" "$G/images/$RID/file")
[ "$code" = 204 ] && pass "raw bytes declared raw: 204" || fail "raw bytes declared raw: 204 (got $code)"
code=$(nph_status "${H[@]}" -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary @"$WORK/disk.raw" "$G/images/$RID/file")
[ "$code" = 409 ] && pass "second upload: 409" || fail "second upload: 409 (got $code)"
code=$(nph_status "${H[@]}" -X PATCH -H 'Content-Type: application/json' -d '[]' "$G/images/$RID")
[ "$code" = 415 ] && pass "PATCH without the json-patch media type: 415" || fail "PATCH media type: 415 (got $code)"
code=$(nph_status "${H[@]}" -X PATCH -H 'Content-Type: application/openstack-images-v2.1-json-patch' \
    -d '[{"op":"replace","path":"/status","value":"active"}]' "$G/images/$RID")
[ "$code" = 403 ] && pass "PATCH of a read-only attribute: 403" || fail "PATCH read-only: 403 (got $code)"
[ "$(nph_status "$G/images")" = 401 ] && pass "no token: 401" || fail "no token: 401"
[ "$(nph_status "$NPH_URL/image")" = 300 ] && pass "GET /image: 300 versions" || fail "GET /image: 300"
[ "$(nph_status "${H[@]}" "$G/images/")" = 404 ] && pass "GET /v2/images/: 404" || fail "GET /v2/images/: 404"

# ---- another project --------------------------------------------------------------------------
DEMO_PW=$(nph_random_password)
os project create demo >/dev/null && os user create --password "$DEMO_PW" demo >/dev/null &&
    os role add --user demo --project demo member || fail "creating the demo account"
PUB=$(mkimg public-one raw public)
as_demo() { OS_USERNAME=demo OS_PASSWORD=$DEMO_PW OS_PROJECT_NAME=demo "$NPH_OPENSTACK" "$@"; }
if as_demo image show "$RID" >/dev/null 2>&1; then fail "another project cannot see a private image"; else pass "another project cannot see a private image"; fi
IDS=$(as_demo image list -f value -c ID)
if grep -q "$RID" <<<"$IDS"; then fail "... nor list it"; else pass "... nor list it"; fi
if grep -q "$PUB" <<<"$IDS"; then pass "... but sees the public image"; else fail "... but sees the public image ($IDS)"; fi
if as_demo image delete "$PUB" >/dev/null 2>&1; then fail "... and cannot delete it"; else pass "... and cannot delete it"; fi
if as_demo image create --public --disk-format raw --container-format bare pub-by-member >/dev/null 2>&1; then
    fail "a member cannot create a public image"
else
    pass "a member cannot create a public image"
fi
check "a member creates a private image" as_demo image create --private --disk-format raw --container-format bare --file "$WORK/disk.raw" demo-img
NAMES=$(os image list -f value -c Name)
if grep -qx demo-img <<<"$NAMES"; then pass "the admin sees it"; else fail "the admin sees it ($NAMES)"; fi

# ---- 50 MB: streamed both ways --------------------------------------------------------------
RSS_LIMIT=${NPH_RSS_LIMIT_KB:-61440}
head -c $((50 * 1024 * 1024)) /dev/urandom > "$WORK/big.raw"
BID=$(mkimg big raw)
max=0
curl -s "${H[@]}" -X PUT -H 'Content-Type: application/octet-stream' --limit-rate 100M \
    --data-binary @"$WORK/big.raw" -o /dev/null -w '%{http_code}' "$G/images/$BID/file" > "$WORK/code" &
CPID=$!
while kill -0 $CPID 2>/dev/null; do
    r=$(nph_rss_kb); [ -n "$r" ] && [ "$r" -gt "$max" ] && max=$r
    sleep 0.05
done
wait $CPID
[ "$(cat "$WORK/code")" = 204 ] && pass "50 MB upload: 204" || fail "50 MB upload: 204 (got $(cat "$WORK/code"))"
curl -s "${H[@]}" -o "$WORK/big.out" "$G/images/$BID/file" &
CPID=$!
while kill -0 $CPID 2>/dev/null; do
    r=$(nph_rss_kb); [ -n "$r" ] && [ "$r" -gt "$max" ] && max=$r
    sleep 0.05
done
wait $CPID
check "50 MB download is identical" cmp "$WORK/big.raw" "$WORK/big.out"
r=$(nph_rss_kb); [ -n "$r" ] && [ "$r" -gt "$max" ] && max=$r
nph_log "broker VmRSS peak ${max} kB during the 50 MB upload and download"
if [ "$RSS_LIMIT" = 0 ]; then
    nph_log "RSS limit not checked (NPH_RSS_LIMIT_KB=0)"
elif [ "$max" -lt "$RSS_LIMIT" ]; then
    pass "broker RSS stays under $((RSS_LIMIT / 1024)) MB during a 50 MB upload (${max} kB)"
else
    fail "broker RSS stays under $((RSS_LIMIT / 1024)) MB during a 50 MB upload (${max} kB)"
fi
[ -z "$(ls "${TMPDIR:-/tmp}" | grep '^nph-upload-')" ] && pass "no temporary upload file is left" ||
    fail "no temporary upload file is left"

nph_summary

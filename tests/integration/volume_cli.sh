#!/usr/bin/env bash
# volume_cli.sh - drive the broker's Cinder v3 compatible API (and Nova's os-volume_attachments)
# with the stock `openstack` client, and curl where the client hides the answer, on libvirt's
# test driver: version discovery and the catalog, volume create/list/show/delete, a volume from
# an image, extend (volume set --size), snapshots, `server add volume` / `server remove volume`
# (in-use, then available, and the attachment on server show), quota exceeded, bad input (clear
# errors, nothing written) and the ledger's volume events.
#
#   NEPHELE_BIN=build/broker/nephele tests/integration/volume_cli.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

if [ -z "$NPH_OPENSTACK" ]; then
    echo "volume_cli.sh: the openstack client is not installed" >&2
    exit 1
fi

RESP_BODY=
RESP_STATUS=
req() {
    local method=$1 path=$2 f
    shift 2
    f=$(mktemp)
    RESP_STATUS=$(curl -s -o "$f" -w '%{http_code}' --max-time 20 -X "$method" "$@" "$NPH_URL$path")
    RESP_BODY=$(cat "$f")
    rm -f "$f"
}
jcheck() {
    printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c '
import json, sys
d = json.loads(sys.stdin.read())
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" 2>/dev/null
}
expect() { # MSG STATUS PYTHON-CONDITION
    if [ "$RESP_STATUS" = "$2" ] && jcheck "$3"; then
        pass "$1 (HTTP $2)"
    else
        fail "$1: expected HTTP $2 and $3, got $RESP_STATUS: ${RESP_BODY:0:300}"
    fi
}

osc() { "$NPH_OPENSTACK" --os-compute-api-version 2.37 "$@"; }
# vfield NAME-OR-ID FIELD: a field of the volume from the API (curl: the client takes seconds).
vfield() {
    curl -s --max-time 10 -H "X-Auth-Token: $TOKEN" "$NPH_URL/volume/v3/volumes/detail" |
        "$NPH_PYTHON" -c '
import json, sys
for v in json.load(sys.stdin)["volumes"]:
    if sys.argv[1] in (v["id"], v["name"]):
        x = v[sys.argv[2]]
        print(json.dumps(x) if isinstance(x, (list, dict)) else x)' "$1" "$2" 2>/dev/null
}
# wait_vol VOLUME STATUS: poll up to 20 s.
wait_vol() {
    local i s
    for i in $(seq 100); do
        s=$(vfield "$1" status)
        [ "$s" = "$2" ] && return 0
        sleep 0.2
    done
    echo "status of $1 is $s, not $2"
    return 1
}
# wait_gone VOLUME: poll until the volume is deleted.
wait_gone() {
    local i
    for i in $(seq 100); do
        [ -z "$(vfield "$1" id)" ] && return 0
        sleep 0.2
    done
    echo "volume $1 is still there"
    return 1
}
count_volumes() {
    curl -s --max-time 10 -H "X-Auth-Token: $TOKEN" "$NPH_URL/volume/v3/volumes" |
        "$NPH_PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["volumes"]))'
}

RUN=$$
nph_start volume-cli || {
    fail "broker starts"
    nph_summary
}
pass "broker starts and is ready"
TOKEN=$(osc token issue -f value -c id)
PROJECT=$(osc token issue -f value -c project_id)
H=(-H "X-Auth-Token: $TOKEN" -H "Content-Type: application/json")

# ---- discovery and catalog --------------------------------------------------------------------
req GET /volume/
expect "GET /volume/ lists v3.0 with its microversions" 300 \
    'd["versions"][0]["id"] == "v3.0" and d["versions"][0]["min_version"] == "3.0" and d["versions"][0]["version"] == "3.50"'
req GET /volume/v3/ -H "OpenStack-API-Version: volume 3.27"
if [ "$RESP_STATUS" = 200 ]; then pass "GET /volume/v3/ (HTTP 200)"; else fail "GET /volume/v3/: $RESP_STATUS"; fi
req GET /volume/v3/ -H "OpenStack-API-Version: volume 3.99"
if [ "$RESP_STATUS" = 406 ]; then pass "an unsupported microversion is 406"; else fail "microversion 3.99: $RESP_STATUS $RESP_BODY"; fi
if out=$(osc catalog show volumev3 -f json 2>&1) && grep -q "/volume/v3" <<<"$out"; then
    pass "the catalog lists the volumev3 endpoint"
else
    fail "the catalog lists the volumev3 endpoint: $out"
fi

# ---- types ------------------------------------------------------------------------------------
if out=$(osc volume type list -f value -c Name 2>&1) && grep -qx __DEFAULT__ <<<"$out"; then
    pass "openstack volume type list shows __DEFAULT__"
else
    fail "openstack volume type list shows __DEFAULT__: $out"
fi
check "openstack volume type create fast-$RUN" osc volume type create --property tier=fast "fast-$RUN"

# ---- volume lifecycle -------------------------------------------------------------------------
V=vol-$RUN
if out=$(osc volume create --size 2 --type "fast-$RUN" --property k1=v1 "$V" -f json 2>&1) &&
    printf '%s' "$out" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["size"] == 2 and d["status"] in ("creating", "available") else 1)'; then
    pass "openstack volume create --size 2"
else
    fail "openstack volume create --size 2: $out"
fi
check "the volume becomes available" wait_vol "$V" available
if out=$(osc volume list -f value -c Name -c Status -c Size 2>&1) && grep -q "^$V available 2$" <<<"$out"; then
    pass "openstack volume list shows $V available, 2 GB"
else
    fail "openstack volume list: $out"
fi
if out=$(osc volume show "$V" -f json 2>&1) &&
    printf '%s' "$out" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["type"] == "fast-'$RUN'" and "k1" in json.dumps(d["properties"]) and d["bootable"] == "false" else 1)'; then
    pass "openstack volume show: type, properties, not bootable"
else
    fail "openstack volume show: $out"
fi
VID=$(vfield "$V" id)

# extend
check "openstack volume set --size 3 (extend)" osc volume set --size 3 "$V"
check "the extended volume becomes available" wait_vol "$V" available
if [ "$(vfield "$V" size)" = 3 ]; then pass "the volume is 3 GB"; else fail "size after extend: $(vfield "$V" size)"; fi
req POST "/volume/v3/$PROJECT/volumes/$VID/action" "${H[@]}" -d '{"os-extend": {"new_size": 2}}'
expect "shrinking is refused" 400 '"must be greater than current size" in d["badRequest"]["message"]'

# snapshots
S=snap-$RUN
check "openstack volume snapshot create" osc volume snapshot create --volume "$V" "$S"
sfield() {
    curl -s --max-time 10 -H "X-Auth-Token: $TOKEN" "$NPH_URL/volume/v3/snapshots" |
        "$NPH_PYTHON" -c '
import json, sys
print(" ".join(s["status"] for s in json.load(sys.stdin)["snapshots"] if s["name"] == sys.argv[1]))' "$1"
}
for i in $(seq 100); do
    [ "$(sfield "$S")" = available ] && break
    sleep 0.2
done
if [ "$(sfield "$S")" = available ]; then
    pass "the snapshot becomes available"
else
    fail "the snapshot becomes available"
fi
if out=$(osc volume snapshot list -f value -c Name 2>&1) && grep -qx "$S" <<<"$out"; then
    pass "openstack volume snapshot list shows it"
else
    fail "openstack volume snapshot list: $out"
fi
req DELETE "/volume/v3/$PROJECT/volumes/$VID" "${H[@]}"
expect "a volume with snapshots cannot be deleted" 400 '"have snapshots" in d["badRequest"]["message"]'
check "a volume from the snapshot" osc volume create --snapshot "$S" "from-snap-$RUN"
check "which becomes available" wait_vol "from-snap-$RUN" available
if [ "$(vfield "from-snap-$RUN" size)" = 3 ]; then pass "it has the snapshot's size"; else fail "size of the volume from the snapshot"; fi
check "openstack volume delete (from the snapshot)" osc volume delete "from-snap-$RUN"
check "openstack volume snapshot delete" osc volume snapshot delete "$S"
for i in $(seq 100); do
    [ -z "$(sfield "$S")" ] && break
    sleep 0.2
done
if [ -n "$(sfield "$S")" ]; then fail "the snapshot is gone"; else pass "the snapshot is gone"; fi

# ---- a volume from an image -------------------------------------------------------------------
IMGF=$(mktemp)
head -c 65536 /dev/urandom >"$IMGF"
check "openstack image create (raw)" osc image create --disk-format raw --container-format bare --public --file "$IMGF" vol-image
rm -f "$IMGF"
if out=$(osc volume create --image vol-image --size 1 "img-$RUN" -f json 2>&1); then
    pass "openstack volume create --image"
else
    fail "openstack volume create --image: $out"
fi
check "the volume from the image becomes available" wait_vol "img-$RUN" available
if out=$(osc volume show "img-$RUN" -f json 2>&1) &&
    printf '%s' "$out" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["bootable"] == "true" and "vol-image" in json.dumps(d["volume_image_metadata"]) else 1)'; then
    pass "it is bootable and names its image"
else
    fail "the volume from the image: $out"
fi
if out=$(osc volume create --image no-such-image --size 1 "bad-img-$RUN" 2>&1); then
    fail "a volume from a missing image is refused: $out"
else
    pass "a volume from a missing image is refused"
fi

# ---- a volume to an image (os-volume_upload_image) ---------------------------------------------
check "openstack image create --volume (os-volume_upload_image)" osc image create --volume "img-$RUN" "from-vol-$RUN"
if out=$(osc image show "from-vol-$RUN" -f json 2>&1) &&
    printf '%s' "$out" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["status"] == "active" and d["disk_format"] == "raw" and d["visibility"] == "private" else 1)'; then
    pass "the image is active, raw and private"
else
    fail "the image from the volume: $out"
fi
check "the volume is available after the upload" wait_vol "img-$RUN" available
req POST "/volume/v3/$PROJECT/volumes/$(osc volume show "img-$RUN" -f value -c id)/action" "${H[@]}" \
    -d '{"os-volume_upload_image": {"image_name": "x", "disk_format": "iso"}}'
expect "upload with disk_format iso" 400 '"Invalid disk-format" in d["badRequest"]["message"]'
req POST "/volume/v3/$PROJECT/volumes/$(osc volume show "img-$RUN" -f value -c id)/action" "${H[@]}" \
    -d '{"os-volume_upload_image": {"disk_format": "raw"}}'
expect "upload without image_name" 400 '"No image_name" in d["badRequest"]["message"]'
if out=$(osc image list -f value -c Name 2>&1) && ! grep -qx x <<<"$out"; then
    pass "refused uploads leave no image"
else
    fail "images after refused uploads: $out"
fi
check "openstack image delete from-vol-$RUN" osc image delete "from-vol-$RUN"

# ---- attach to a server -----------------------------------------------------------------------
check "openstack server create --wait" osc server create --flavor m1.tiny --image vol-image --nic none --wait "srv-$RUN"
check "openstack server add volume" osc server add volume "srv-$RUN" "$V"
check "the volume is in-use" wait_vol "$V" in-use
if out=$(osc volume show "$V" -f json 2>&1) &&
    printf '%s' "$out" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); a=d["attachments"]; sys.exit(0 if len(a) == 1 and a[0]["device"] == "/dev/vdb" else 1)'; then
    pass "the volume's attachment is /dev/vdb"
else
    fail "the volume's attachment: $out"
fi
if out=$(osc server show "srv-$RUN" -f json 2>&1) && grep -q "$VID" <<<"$out"; then
    pass "openstack server show lists the attached volume"
else
    fail "openstack server show lists the attached volume: $out"
fi
SID=$(osc server show "srv-$RUN" -f value -c id)
req GET "/compute/v2.1/servers/$SID/os-volume_attachments" "${H[@]}"
expect "GET os-volume_attachments" 200 'd["volumeAttachments"][0]["volumeId"] == "'$VID'" and d["volumeAttachments"][0]["device"] == "/dev/vdb"'
req DELETE "/volume/v3/$PROJECT/volumes/$VID" "${H[@]}"
expect "an in-use volume cannot be deleted" 400 '"attached" in d["badRequest"]["message"]'
req POST "/volume/v3/$PROJECT/volumes/$VID/action" "${H[@]}" \
    -d '{"os-volume_upload_image": {"image_name": "in-use-'$RUN'"}}'
expect "an in-use volume is not uploaded without force" 400 '"must be available" in d["badRequest"]["message"]'
if out=$(osc volume set --size 5 "$V" 2>&1); then
    fail "an in-use volume is not extended: $out"
else
    pass "an in-use volume is not extended"
fi
check "openstack server remove volume" osc server remove volume "srv-$RUN" "$V"
check "the volume is available again" wait_vol "$V" available
if [ "$(vfield "$V" attachments)" = "[]" ]; then pass "no attachment left"; else fail "attachments: $(vfield "$V" attachments)"; fi
req DELETE "/compute/v2.1/servers/$SID/os-volume_attachments/$VID" "${H[@]}"
expect "detaching a volume that is not attached is 404" 404 '"itemNotFound" in d'
# a server deleted with a volume attached frees the volume
check "attach again" osc server add volume "srv-$RUN" "$V"
check "in-use again" wait_vol "$V" in-use
check "openstack server delete --wait" osc server delete --wait "srv-$RUN"
check "the deleted server's volume is available" wait_vol "$V" available

# ---- quotas -----------------------------------------------------------------------------------
check "openstack quota set --volumes 2" osc quota set --volumes 2 "$PROJECT"
if out=$(osc quota show "$PROJECT" -f json 2>&1) && grep -q '"volumes": 2' <<<"$out"; then
    pass "openstack quota show: volumes 2"
else
    fail "openstack quota show: $out"
fi
before=$(count_volumes)
if out=$(osc volume create --size 1 "over-$RUN" 2>&1); then
    fail "a 3rd volume is over quota: $out"
elif grep -qi "VolumeLimitExceeded\|exceeded" <<<"$out"; then
    pass "a 3rd volume is refused: quota exceeded"
else
    fail "a 3rd volume: $out"
fi
req POST "/volume/v3/volumes" "${H[@]}" -d '{"volume": {"size": 1, "name": "over2"}}'
expect "quota exceeded is 413 overLimit" 413 '"exceeded" in d["overLimit"]["message"]'
check "openstack quota set --volumes 10 --gigabytes 5" osc quota set --volumes 10 --gigabytes 5 "$PROJECT"
req POST "/volume/v3/volumes" "${H[@]}" -d '{"volume": {"size": 4, "name": "big"}}'
expect "gigabytes over quota is 413" 413 '"gigabytes quota" in d["overLimit"]["message"]'
if [ "$(count_volumes)" = "$before" ]; then pass "nothing was written"; else fail "volume count changed"; fi
req GET "/volume/v3/$PROJECT/limits" "${H[@]}"
expect "limits" 200 'd["limits"]["absolute"]["maxTotalVolumeGigabytes"] == 5 and d["limits"]["absolute"]["totalVolumesUsed"] == 2'
check "openstack quota set --volumes 10 --gigabytes 1000" osc quota set --volumes 10 --gigabytes 1000 "$PROJECT"

# ---- bad input --------------------------------------------------------------------------------
before=$(count_volumes)
req POST "/volume/v3/volumes" "${H[@]}" -d '{"volume": {"size": -1}}'
expect "a negative size is 400" 400 '"size" in d["badRequest"]["message"]'
req POST "/volume/v3/volumes" "${H[@]}" -d '{"volume": {"size": 0}}'
expect "size 0 is 400" 400 '"minimum of 1" in d["badRequest"]["message"]'
req POST "/volume/v3/volumes" "${H[@]}" -d '{"volume": {"size": "#$%"}}'
expect "a non-numeric size is 400" 400 '"size" in d["badRequest"]["message"]'
req POST "/volume/v3/volumes" "${H[@]}" -d '{"volume": {"name": "nosize"}}'
expect "no size is 400" 400 '"size" in d["badRequest"]["message"]'
req POST "/volume/v3/volumes" "${H[@]}" -d '{"volume": {"size": 1, "volume_type": "no-such-type"}}'
expect "an unknown type is 404" 404 '"no-such-type" in d["itemNotFound"]["message"]'
req POST "/volume/v3/volumes" "${H[@]}" -d '{"volume": {"size": 1, "snapshot_id": "00000000-0000-0000-0000-000000000000"}}'
expect "an unknown snapshot is 404" 404 '"itemNotFound" in d'
req POST "/volume/v3/volumes" "${H[@]}" -d '{"volume": 5}'
expect "a body without an object is 400" 400 '"badRequest" in d'
req POST "/volume/v3/volumes" "${H[@]}" -d '{"volume": {"size": 1, "name": "'"$(head -c 300 /dev/zero | tr '\0' a)"'"}}'
expect "a 300-character name is 400" 400 '"name" in d["badRequest"]["message"]'
if out=$(osc volume create --size -5 "neg-$RUN" 2>&1); then fail "the client's negative size: $out"; else pass "openstack volume create --size -5 fails"; fi
if [ "$(count_volumes)" = "$before" ]; then pass "bad input wrote nothing"; else fail "bad input wrote a volume"; fi
req GET "/volume/v3/volumes/00000000-0000-0000-0000-000000000000" "${H[@]}"
expect "an unknown volume is 404 itemNotFound" 404 '"could not be found" in d["itemNotFound"]["message"]'
req GET "/volume/v3/volumes/" "${H[@]}"
expect "GET volumes/ with an empty id is 404" 404 '"itemNotFound" in d'
req GET "/volume/v3/volumes?status=bogus" "${H[@]}"
expect "an unknown status filter lists nothing" 200 'd["volumes"] == []'

# ---- another project sees nothing -------------------------------------------------------------
check "openstack project create p2" osc project create "p2-$RUN"
check "openstack user create u2" osc user create --project "p2-$RUN" --password pw2-$RUN "u2-$RUN"
check "openstack role add member" osc role add --project "p2-$RUN" --user "u2-$RUN" member
if out=$(OS_USERNAME="u2-$RUN" OS_PASSWORD="pw2-$RUN" OS_PROJECT_NAME="p2-$RUN" "$NPH_OPENSTACK" volume show "$VID" 2>&1); then
    fail "another project cannot see the volume: $out"
else
    pass "another project cannot see the volume"
fi

# ---- pagination -------------------------------------------------------------------------------
req GET "/volume/v3/volumes/detail?limit=1&sort=name:asc" "${H[@]}"
expect "limit=1 gives one volume and a next link" 200 'len(d["volumes"]) == 1 and d["volumes_links"][0]["rel"] == "next"'

# ---- delete and the ledger --------------------------------------------------------------------
check "openstack volume delete $V" osc volume delete "$V"
check "the volume is gone" wait_gone "$V"
check "openstack volume delete img-$RUN" osc volume delete "img-$RUN"
check "which is gone" wait_gone "img-$RUN"
DB="$NPH_DATA/nephele.db"
if command -v sqlite3 >/dev/null && [ -f "$DB" ]; then
    ev=$(sqlite3 "$DB" "SELECT event || ':' || size_gb FROM ledger_event WHERE resource_id = '$VID' ORDER BY ts" | tr '\n' ' ')
    if [ "$ev" = "created:2 resized:3 deleted:3 " ]; then
        pass "the ledger has created:2 resized:3 deleted:3 for the volume"
    else
        fail "ledger events of the volume: '$ev'"
    fi
else
    nph_log "sqlite3 not installed or no SQLite store: ledger check skipped"
fi

nph_summary

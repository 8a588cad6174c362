#!/usr/bin/env bash
# compute_cli.sh - drive the broker's Nova v2.1 compatible API with the stock `openstack` client
# (and curl where the client hides the answer) on libvirt's test driver: flavors, an image
# through the Glance API, server create --wait, list/show, stop/start/reboot, resize and
# confirm, delete --wait, Nova's quota-exceeded body, and tenant isolation.
#
#   NEPHELE_BIN=build/broker/nephele tests/integration/compute_cli.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

if [ -z "$NPH_OPENSTACK" ]; then
    echo "compute_cli.sh: the openstack client is not installed" >&2
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
expect_status() {
    if [ "$RESP_STATUS" = "$2" ]; then
        pass "$1 (HTTP $2)"
    else
        fail "$1: expected HTTP $2, got $RESP_STATUS: ${RESP_BODY:0:300}"
    fi
}

# The client at microversion 2.37 (needed for --nic none).
osc() { "$NPH_OPENSTACK" --os-compute-api-version 2.37 "$@"; }
osc_as() {
    local u=$1 p=$2 pr=$3
    shift 3
    OS_USERNAME=$u OS_PASSWORD=$p OS_PROJECT_NAME=$pr "$NPH_OPENSTACK" --os-compute-api-version 2.37 "$@"
}
field() { osc server show "$1" -f value -c "$2" 2>/dev/null; }
# wait_status SERVER STATUS: poll up to 20 s.
wait_status() {
    local i s
    for i in $(seq 100); do
        s=$(field "$1" status)
        [ "$s" = "$2" ] && return 0
        sleep 0.2
    done
    echo "status of $1 is $s, not $2"
    return 1
}

RUN=$$
nph_start compute-cli || {
    fail "broker starts"
    nph_summary
}
pass "broker starts and is ready"

# ---- discovery -------------------------------------------------------------------------------
req GET /compute/v2.1 -H "OpenStack-API-Version: compute 2.37"
expect_status "GET /compute/v2.1" 200
if jcheck 'd["version"]["min_version"] == "2.1" and d["version"]["version"] >= "2.37"'; then
    pass "version document: min 2.1, max >= 2.37"
else
    fail "version document: $RESP_BODY"
fi
req GET /compute
if [ "$RESP_STATUS" = 200 ] && jcheck '[v["id"] for v in d["versions"]] == ["v2.0", "v2.1"] and d["versions"][0]["status"] == "SUPPORTED" and d["versions"][0]["version"] == "" and d["versions"][1]["status"] == "CURRENT"'; then
    pass "GET /compute lists v2.0 (SUPPORTED) then v2.1 (CURRENT)"
else
    fail "GET /compute versions: $RESP_STATUS $RESP_BODY"
fi
if out=$(osc catalog show compute -f json 2>&1) && grep -q "/compute/v2.1" <<<"$out"; then
    pass "the catalog lists the compute endpoint"
else
    fail "the catalog lists the compute endpoint: $out"
fi

# ---- flavors ---------------------------------------------------------------------------------
if out=$(osc flavor list -f value -c Name 2>&1) && grep -qx m1.tiny <<<"$out" &&
    grep -qx m1.small <<<"$out" && grep -qx m1.medium <<<"$out"; then
    pass "openstack flavor list shows the default flavors"
else
    fail "openstack flavor list shows the default flavors: $out"
fi
F=it.flavor-$RUN
check "openstack flavor create $F" osc flavor create --vcpus 1 --ram 256 --disk 1 --property hw:cpu_policy=shared "$F"
if out=$(osc flavor show "$F" -f json 2>&1) &&
    printf '%s' "$out" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["ram"] == 256 and "cpu_policy" in json.dumps(d["properties"]) else 1)'; then
    pass "openstack flavor show $F has its RAM and extra spec"
else
    fail "openstack flavor show $F: $out"
fi

# ---- an image through the Glance API ---------------------------------------------------------
IMGF=$(mktemp)
head -c 65536 /dev/urandom >"$IMGF"
check "openstack image create (raw)" osc image create --disk-format raw --container-format bare --public --file "$IMGF" it-image
rm -f "$IMGF"

# ---- server lifecycle ------------------------------------------------------------------------
S=it-vm-$RUN
if out=$(osc server create --flavor m1.tiny --image it-image --nic none --wait "$S" -f json 2>&1) &&
    printf '%s' "$out" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["status"] == "ACTIVE" else 1)'; then
    pass "openstack server create --wait reaches ACTIVE"
else
    fail "openstack server create --wait reaches ACTIVE: $out"
fi
req POST /compute/v2.1/servers -H "X-Auth-Token: $(osc token issue -f value -c id)" \
    -H "Content-Type: application/json" -H "OpenStack-API-Version: compute 2.37" \
    -d '{"server": {"name": "raw-'$RUN'", "flavorRef": "1", "imageRef": "'"$(osc image show it-image -f value -c id)"'", "networks": "auto"}}'
expect_status "POST /servers answers 202" 202
RAW_ID=$(printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["server"]["id"])' 2>/dev/null)
if out=$(osc server list -f value -c Name -c Status 2>&1) && grep -q "^$S ACTIVE$" <<<"$out"; then
    pass "openstack server list shows $S ACTIVE"
else
    fail "openstack server list shows $S ACTIVE: $out"
fi
if out=$(osc server show "$S" -f json 2>&1) &&
    printf '%s' "$out" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["flavor"].startswith("m1.tiny") and d["OS-EXT-AZ:availability_zone"] == "local" else 1)'; then
    pass "openstack server show $S"
else
    fail "openstack server show $S: $out"
fi
check "openstack server stop" osc server stop "$S"
check "server is SHUTOFF after stop" wait_status "$S" SHUTOFF
req GET "/compute/v2.1/servers/$(field "$S" id)" -H "X-Auth-Token: $(osc token issue -f value -c id)"
if [ "$RESP_STATUS" = 200 ] && jcheck '"progress" not in d["server"] and d["server"]["status"] == "SHUTOFF"'; then
    pass "a SHUTOFF server shows no progress, as in Nova"
else
    fail "SHUTOFF server progress: $RESP_STATUS ${RESP_BODY:0:300}"
fi
check "openstack server start" osc server start "$S"
check "server is ACTIVE after start" wait_status "$S" ACTIVE
check "openstack server reboot --hard" osc server reboot --hard "$S"
check "server is ACTIVE after reboot" wait_status "$S" ACTIVE
check "openstack server resize --flavor m1.small --wait" osc server resize --flavor m1.small --wait "$S"
check "server is VERIFY_RESIZE" wait_status "$S" VERIFY_RESIZE
check "openstack server resize confirm" osc server resize confirm "$S"
check "server is ACTIVE after confirm" wait_status "$S" ACTIVE
if out=$(field "$S" flavor) && grep -q "m1.small" <<<"$out"; then
    pass "the server's flavor is m1.small"
else
    fail "the server's flavor is m1.small: $out"
fi
if out=$(osc server event list "$S" -f value -c Action 2>&1) && grep -qx resize <<<"$out" &&
    grep -qx create <<<"$out"; then
    pass "openstack server event list shows create and resize"
else
    fail "openstack server event list: $out"
fi
req GET "/compute/v2.1/servers/$(field "$S" id)/os-instance-actions" -H "X-Auth-Token: $(osc token issue -f value -c id)"
if [ "$RESP_STATUS" = 200 ] && jcheck 'd["instanceActions"] and all("finish_time" not in a and "result" not in a and a["action"] for a in d["instanceActions"])'; then
    pass "instance actions in Nova's shape (no finish_time/result)"
else
    fail "instance actions: $RESP_STATUS ${RESP_BODY:0:300}"
fi
check "openstack server set --name (rename)" osc server set --name "$S-b" "$S"
S=$S-b
check "openstack server set --property" osc server set --property role=web "$S"
if out=$(osc console log show "$S" 2>&1); then
    pass "openstack console log show (empty on the test driver)"
else
    fail "openstack console log show: $out"
fi

# ---- quotas ----------------------------------------------------------------------------------
ADMIN_PROJECT_ID=$(osc token issue -f value -c project_id)
check "openstack quota set --instances 2" osc quota set --instances 2 "$ADMIN_PROJECT_ID"
TOKEN=$(osc token issue -f value -c id)
req POST /compute/v2.1/servers -H "X-Auth-Token: $TOKEN" -H "Content-Type: application/json" \
    -H "OpenStack-API-Version: compute 2.37" \
    -d '{"server": {"name": "over", "flavorRef": "1", "imageRef": "'"$(osc image show it-image -f value -c id)"'", "networks": "none"}}'
expect_status "a server past the quota is refused" 403
if jcheck 'd == {"forbidden": {"code": 403, "message": "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"}}'; then
    pass "Nova's quota-exceeded body"
else
    fail "Nova's quota-exceeded body: $RESP_BODY"
fi
req GET "/compute/v2.1/os-quota-sets/$ADMIN_PROJECT_ID/defaults" -H "X-Auth-Token: $TOKEN"
if [ "$RESP_STATUS" = 200 ] && jcheck 'd["quota_set"]["instances"] == 10 and d["quota_set"]["cores"] == 20 and d["quota_set"]["ram"] == 51200'; then
    pass "os-quota-sets defaults are 10 instances, 20 cores, 51200 MB"
else
    fail "os-quota-sets defaults: $RESP_STATUS $RESP_BODY"
fi
if [ "$RESP_STATUS" = 200 ] && jcheck 'set(d["quota_set"]) == {"id", "instances", "cores", "ram", "key_pairs", "metadata_items", "injected_files", "injected_file_content_bytes", "injected_file_path_bytes", "server_groups", "server_group_members", "fixed_ips", "floating_ips", "security_groups", "security_group_rules"}'; then
    pass "os-quota-sets defaults at 2.1 hold every key Nova returns"
else
    fail "os-quota-sets default keys at 2.1: $RESP_BODY"
fi
req GET "/compute/v2.1/os-quota-sets/$ADMIN_PROJECT_ID" -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute 2.36"
if [ "$RESP_STATUS" = 200 ] && jcheck '"fixed_ips" not in d["quota_set"] and "security_groups" not in d["quota_set"] and d["quota_set"]["instances"] == 2 and d["quota_set"]["id"] == "'"$ADMIN_PROJECT_ID"'"'; then
    pass "os-quota-sets at 2.36 drops the network quotas"
else
    fail "os-quota-sets at 2.36: $RESP_STATUS $RESP_BODY"
fi

# ---- a second project cannot see or touch the first project's servers -------------------------
P2=it-compute-$RUN
U2=it-compute-user-$RUN
U2_PW=$(nph_random_password)
SID=$(field "$S" id)
if osc project create --domain default "$P2" >/dev/null 2>&1 &&
    osc user create --domain default --password "$U2_PW" "$U2" >/dev/null 2>&1 &&
    osc role add --user "$U2" --project "$P2" member >/dev/null 2>&1; then
    pass "a second project with a member"
else
    fail "a second project with a member"
fi
if out=$(osc_as "$U2" "$U2_PW" "$P2" server list -f value -c ID 2>&1) && [ -z "$out" ]; then
    pass "the second project's server list is empty"
else
    fail "the second project's server list is empty: $out"
fi
if out=$(osc_as "$U2" "$U2_PW" "$P2" server show "$SID" 2>&1); then
    fail "the second project cannot show the first project's server: $out"
else
    pass "the second project cannot show the first project's server"
fi
if out=$(osc_as "$U2" "$U2_PW" "$P2" server delete "$SID" 2>&1); then
    fail "the second project cannot delete the first project's server: $out"
else
    pass "the second project cannot delete the first project's server"
fi
if out=$(osc_as "$U2" "$U2_PW" "$P2" server list --all-projects -f value -c ID 2>&1) && [ -z "$out" ]; then
    pass "--all-projects shows a member nothing more"
else
    fail "--all-projects shows a member nothing more: $out"
fi
if out=$(osc server list --all-projects -f value -c ID 2>&1) && grep -q "$SID" <<<"$out"; then
    pass "an admin sees every project's servers with --all-projects"
else
    fail "an admin sees every project's servers with --all-projects: $out"
fi
req GET "/compute/v2.1/servers/$SID" -H "X-Auth-Token: $(osc_as "$U2" "$U2_PW" "$P2" token issue -f value -c id)"
expect_status "GET another project's server" 404
if jcheck '"itemNotFound" in d and d["itemNotFound"]["code"] == 404'; then
    pass "Nova's itemNotFound body"
else
    fail "Nova's itemNotFound body: $RESP_BODY"
fi

# ---- multiple create -------------------------------------------------------------------------
check "openstack quota set --instances 10" osc quota set --instances 10 "$ADMIN_PROJECT_ID"
IMG_ID=$(osc image show it-image -f value -c id)
TOKEN=$(osc token issue -f value -c id)
req POST /compute/v2.1/servers -H "X-Auth-Token: $TOKEN" -H "Content-Type: application/json" \
    -d '{"server": {"name": "multi-'$RUN'", "flavorRef": "1", "imageRef": "'"$IMG_ID"'", "min_count": 20}}'
if [ "$RESP_STATUS" = 403 ] && jcheck '"Requested 20" in d["forbidden"]["message"]'; then
    pass "min_count past the quota is refused for the total"
else
    fail "min_count past the quota: $RESP_STATUS $RESP_BODY"
fi
req POST /compute/v2.1/servers -H "X-Auth-Token: $TOKEN" -H "Content-Type: application/json" \
    -d '{"server": {"name": "multi-'$RUN'", "flavorRef": "1", "imageRef": "'"$IMG_ID"'", "min_count": 2}}'
if [ "$RESP_STATUS" = 202 ] && jcheck '"id" in d["server"] and "reservation_id" not in d'; then
    pass "POST /servers with min_count 2 answers the first server"
else
    fail "POST /servers with min_count 2: $RESP_STATUS $RESP_BODY"
fi
req POST /compute/v2.1/servers -H "X-Auth-Token: $TOKEN" -H "Content-Type: application/json" \
    -d '{"server": {"name": "resv-'$RUN'", "flavorRef": "1", "imageRef": "'"$IMG_ID"'", "max_count": 2, "return_reservation_id": true}}'
if [ "$RESP_STATUS" = 202 ] && jcheck 'd["reservation_id"].startswith("r-") and "server" not in d'; then
    pass "return_reservation_id answers the reservation id"
else
    fail "return_reservation_id: $RESP_STATUS $RESP_BODY"
fi
if out=$(osc server list -f value -c Name 2>&1) && grep -qx "multi-$RUN-1" <<<"$out" &&
    grep -qx "multi-$RUN-2" <<<"$out" && grep -qx "resv-$RUN-2" <<<"$out" &&
    ! grep -qx "multi-$RUN-3" <<<"$out"; then
    pass "a multiple create names its servers name-1 .. name-N"
else
    fail "multiple create names: $out"
fi
# ---- access addresses and the client's admin password --------------------------------------
req POST /compute/v2.1/servers -H "X-Auth-Token: $TOKEN" -H "Content-Type: application/json" \
    -d '{"server": {"name": "badip-'$RUN'", "flavorRef": "1", "imageRef": "'"$IMG_ID"'", "accessIPv6": "2001:db8::zz"}}'
expect_status "an invalid accessIPv6 is refused" 400
req POST /compute/v2.1/servers -H "X-Auth-Token: $TOKEN" -H "Content-Type: application/json" \
    -d '{"server": {"name": "addr-'$RUN'", "flavorRef": "1", "imageRef": "'"$IMG_ID"'", "accessIPv4": "1.1.1.1", "accessIPv6": "::babe:202:202", "adminPass": "testpassword"}}'
ADDR_ID=$(printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["server"]["id"])' 2>/dev/null)
if [ "$RESP_STATUS" = 202 ] && jcheck 'd["server"]["adminPass"] == "testpassword"'; then
    pass "POST /servers answers the client's adminPass"
else
    fail "POST /servers adminPass: $RESP_STATUS $RESP_BODY"
fi
req PUT "/compute/v2.1/servers/$ADDR_ID" -H "X-Auth-Token: $TOKEN" -H "Content-Type: application/json" \
    -d '{"server": {"accessIPv4": "10.0.0.7"}}'
if [ "$RESP_STATUS" = 200 ] && jcheck 'd["server"]["accessIPv4"] == "10.0.0.7" and d["server"]["accessIPv6"] == "::babe:202:202" and "OS-EXT-STS:vm_state" not in d["server"] and "key_name" not in d["server"]'; then
    pass "PUT /servers/{id} updates accessIPv4, keeps accessIPv6, answers the basic view"
else
    fail "PUT /servers/{id} access addresses: $RESP_STATUS $RESP_BODY"
fi
req GET "/compute/v2.1/servers/$ADDR_ID" -H "X-Auth-Token: $TOKEN"
if [ "$RESP_STATUS" = 200 ] && jcheck 'd["server"]["accessIPv4"] == "10.0.0.7" and d["server"]["accessIPv6"] == "::babe:202:202"'; then
    pass "GET /servers/{id} shows the access addresses"
else
    fail "GET /servers/{id} access addresses: $RESP_STATUS $RESP_BODY"
fi
check "server addr-$RUN is ACTIVE" wait_status "addr-$RUN" ACTIVE
req POST "/compute/v2.1/servers/$ADDR_ID/action" -H "X-Auth-Token: $TOKEN" -H "Content-Type: application/json" \
    -d '{"rebuild": {"imageRef": "'"$IMG_ID"'", "name": "addr-'$RUN'", "metadata": {"rebuild": "server"}, "adminPass": "rebuildPassw0rd"}}'
if [ "$RESP_STATUS" = 202 ] && jcheck 'd["server"]["adminPass"] == "rebuildPassw0rd" and d["server"]["metadata"] == {"rebuild": "server"} and "OS-EXT-STS:task_state" not in d["server"] and "security_groups" not in d["server"]'; then
    pass "rebuild answers the basic view with the metadata and the client's adminPass"
else
    fail "rebuild response: $RESP_STATUS $RESP_BODY"
fi
check "server addr-$RUN is ACTIVE after rebuild" wait_status "addr-$RUN" ACTIVE
req POST /compute/v2.1/os-keypairs -H "X-Auth-Token: $TOKEN" -H "Content-Type: application/json" \
    -d '{"keypair": {"name": "kp-'$RUN'"}}'
if [ "$RESP_STATUS" = 200 ] && jcheck 'd["keypair"]["user_id"] and d["keypair"]["private_key"] and "created_at" not in d["keypair"]'; then
    pass "key pair create answers its user_id"
else
    fail "key pair create: $RESP_STATUS $RESP_BODY"
fi
check "openstack keypair delete kp-$RUN" osc keypair delete "kp-$RUN"
for n in multi-$RUN-1 multi-$RUN-2 resv-$RUN-1 resv-$RUN-2 addr-$RUN; do
    check "openstack server delete --wait $n" osc server delete --wait "$n"
done

# ---- delete ----------------------------------------------------------------------------------
check "openstack server delete --wait" osc server delete --wait "$S"
[ -n "$RAW_ID" ] && check "openstack server delete --wait (second)" osc server delete --wait "$RAW_ID"
if out=$(osc server list -f value -c ID 2>&1) && [ -z "$out" ]; then
    pass "no server is left"
else
    fail "no server is left: $out"
fi
check "openstack flavor delete $F" osc flavor delete "$F"

nph_summary

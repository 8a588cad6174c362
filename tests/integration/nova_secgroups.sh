#!/usr/bin/env bash
# nova_secgroups.sh - Nova's security-group API (os-security-groups, os-security-group-rules,
# GET /servers/{id}/os-security-groups, the addSecurityGroup/removeSecurityGroup actions) over
# the native network service: curl at microversion 2.1 (Nova's proxy paths end at 2.36), and
# `openstack server add/remove security group`, which use the actions. Bad input gets Nova's
# errors and changes nothing.
#
#   NEPHELE_BIN=build/broker/nephele tests/integration/nova_secgroups.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

[ -n "$NPH_OPENSTACK" ] || { echo "nova_secgroups.sh: the openstack client is not installed" >&2; exit 1; }

RESP_BODY= RESP_STATUS=
TOKEN=
nova() { # METHOD PATH [BODY] [microversion]
    local f
    f=$(mktemp)
    RESP_STATUS=$(curl -s -o "$f" -w '%{http_code}' --max-time 20 -X "$1" \
        -H "X-Auth-Token: $TOKEN" -H "X-OpenStack-Nova-API-Version: ${4:-2.1}" \
        -H 'Content-Type: application/json' ${3:+--data "$3"} "$NPH_URL/compute/v2.1$2")
    RESP_BODY=$(cat "$f")
    rm -f "$f"
}
jt() {
    printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c '
import json, sys
d = json.loads(sys.stdin.read() or "null")
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" 2>/dev/null
}
jv() { printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
expect() { # MSG STATUS [PYTHON-CONDITION]
    if [ "$RESP_STATUS" = "$2" ] && { [ -z "${3:-}" ] || jt "$3"; }; then
        pass "$1 (HTTP $2)"
    else
        fail "$1: expected HTTP $2${3:+ and $3}, got $RESP_STATUS: ${RESP_BODY:0:300}"
    fi
}
osc() { "$NPH_OPENSTACK" "$@"; }

nph_start nova-secgroups || { fail "broker starts"; nph_summary; }
# As admin: a flavor, a public image, and a member account the test then works as.
FLAVOR=$(osc flavor create --ram 64 --vcpus 1 --disk 1 sg.tiny -f value -c id)
head -c 65536 /dev/zero >"$NPH_DATA/img.raw"
IMAGE=$(osc image create --public --disk-format raw --container-format bare --file "$NPH_DATA/img.raw" sgimg -f value -c id)
MEMBER_PW=$(nph_random_password)
osc project create sgp >/dev/null && osc user create --password="$MEMBER_PW" sgp >/dev/null &&
    osc role add --user sgp --project sgp member >/dev/null || fail "member account"
export OS_USERNAME=sgp OS_PASSWORD=$MEMBER_PW OS_PROJECT_NAME=sgp
TOKEN=$(osc token issue -f value -c id)

# A network for the server, so that it has a port (groups live on ports).
osc network create sgnet -f value -c id >/dev/null &&
    osc subnet create --network sgnet --subnet-range 10.77.0.0/24 sgsub -f value -c id >/dev/null ||
    fail "network and subnet for the test"

# ---- groups ------------------------------------------------------------------------------------
nova GET /os-security-groups
expect "list: the project's default group is there" 200 \
    '[g["name"] for g in d["security_groups"]] == ["default"] and d["security_groups"][0]["rules"] == [] or all(r["parent_group_id"] == d["security_groups"][0]["id"] for r in d["security_groups"][0]["rules"])'
DEFAULT=$(jv '[g["id"] for g in d["security_groups"] if g["name"] == "default"][0]')

nova POST /os-security-groups '{"security_group": {"name": " web group ", "description": "front"}}'
expect "create keeps the name with its spaces, no rules (egress rules are not Nova's)" 200 \
    'd["security_group"]["name"] == " web group " and d["security_group"]["rules"] == [] and d["security_group"]["tenant_id"]'
SG1=$(jv 'd["security_group"]["id"]')
CREATED=$RESP_BODY
nova GET "/os-security-groups/$SG1"
if [ "$RESP_STATUS" = 200 ] && [ "$(jv 'd')" = "$(RESP_BODY=$CREATED jv 'd')" ]; then
    pass "show answers what create answered"
else
    fail "show: HTTP $RESP_STATUS ${RESP_BODY:0:300} vs ${CREATED:0:300}"
fi
# the network API sees the same group
if osc security group show "$SG1" -f value -c name | grep -qx " web group "; then
    pass "the network API (openstack security group show) sees the group"
else
    fail "openstack security group show $SG1"
fi

nova PUT "/os-security-groups/$SG1" '{"security_group": {"name": "web", "description": "front end"}}'
expect "update name and description" 200 'd["security_group"]["name"] == "web" and d["security_group"]["description"] == "front end"'

nova POST /os-security-groups '{"security_group": {"name": "db", "description": "back"}}'
SG2=$(jv 'd["security_group"]["id"]')

# ---- rules -------------------------------------------------------------------------------------
nova POST /os-security-group-rules '{"security_group_rule": {"parent_group_id": "'"$SG1"'", "ip_protocol": "tcp", "from_port": 80, "to_port": 443, "cidr": "10.0.0.0/8"}}'
expect "rule tcp 80-443 from 10.0.0.0/8" 200 \
    '(r := d["security_group_rule"]) and r["ip_protocol"] == "tcp" and r["from_port"] == 80 and r["to_port"] == 443 and r["ip_range"] == {"cidr": "10.0.0.0/8"} and r["group"] == {} and r["parent_group_id"] == "'"$SG1"'"'
R1=$(jv 'd["security_group_rule"]["id"]')
nova POST /os-security-group-rules '{"security_group_rule": {"parent_group_id": "'"$SG2"'", "ip_protocol": "icmp", "from_port": -1, "to_port": -1, "group_id": "'"$SG1"'"}}'
expect "rule icmp from the members of another group" 200 \
    '(r := d["security_group_rule"]) and r["from_port"] == -1 and r["to_port"] == -1 and r["group"]["name"] == "web" and r["ip_range"] == {}'
nova GET "/os-security-groups/$SG1"
expect "the group shows its ingress rule" 200 '[r["id"] for r in d["security_group"]["rules"]] == ["'"$R1"'"]'

n_rules=$(osc security group rule list -f value -c ID | wc -l)
nova POST /os-security-group-rules '{"security_group_rule": {"parent_group_id": "'"$SG1"'", "ip_protocol": "tcp", "from_port": 500, "to_port": 80}}'
expect "a port range upside down is refused" 400
nova POST /os-security-group-rules '{"security_group_rule": {"parent_group_id": "'"$SG1"'", "ip_protocol": "gre", "from_port": 1, "to_port": 2}}'
expect "an unknown protocol is refused" 400
nova POST /os-security-group-rules '{"security_group_rule": {"parent_group_id": "00000000-0000-4000-8000-000000000000", "ip_protocol": "tcp", "from_port": 1, "to_port": 2}}'
expect "a rule of a group that does not exist: 404" 404
nova POST /os-security-group-rules '{"security_group_rule": {"parent_group_id": "'"$SG1"'", "ip_protocol": "tcp", "from_port": 80, "to_port": 443, "cidr": "10.0.0.0/8"}}'
expect "the same rule twice: 400" 400
[ "$(osc security group rule list -f value -c ID | wc -l)" = "$n_rules" ] &&
    pass "refused rules wrote nothing" || fail "refused rules changed the rule count"

# ---- bad input on groups ------------------------------------------------------------------------
nova POST /os-security-groups '{"security_group": {"name": "", "description": "x"}}'
expect "an empty name is refused" 400
nova POST /os-security-groups '{"security_group": {"name": "x"}}'
expect "a missing description is refused" 400
nova POST /os-security-groups '{"security_group": {"name": "'"$(head -c 300 /dev/zero | tr '\0' a)"'", "description": "x"}}'
expect "a 300-character name is refused" 400
nova POST /os-security-groups '{"security_group": '
expect "malformed JSON is refused" 400
nova GET /os-security-groups/00000000-0000-4000-8000-000000000000
expect "show of a group that does not exist: 404" 404
nova PUT /os-security-groups/00000000-0000-4000-8000-000000000000 '{"security_group": {"name": "a", "description": "b"}}'
expect "update of a group that does not exist: 404" 404
nova DELETE /os-security-groups/00000000-0000-4000-8000-000000000000
expect "delete of a group that does not exist: 404" 404
nova DELETE /os-security-groups/
expect "delete without an id: 404, as Nova" 404
nova DELETE "/os-security-groups/$DEFAULT"
expect "the default group cannot be deleted by its project" 400
nova GET /os-security-groups
expect "bad input changed nothing: default, web, db" 200 'sorted(g["name"] for g in d["security_groups"]) == ["db", "default", "web"]'
nova GET /os-security-groups '' 2.36
expect "microversion 2.36 ends the proxy (404, as Nova)" 404

# ---- servers -----------------------------------------------------------------------------------
SRV=$(osc server create --flavor "$FLAVOR" --image "$IMAGE" --network sgnet --wait sgsrv -f value -c id 2>"$NPH_DATA/err" | tail -n 1) && [ -n "$SRV" ] ||
    fail "server create: $(cat "$NPH_DATA/err")"
nova GET "/servers/$SRV/os-security-groups"
expect "a new server is in the default group" 200 '[g["name"] for g in d["security_groups"]] == ["default"]'
nova GET /servers/detail
expect "the server list shows the default group" 200 '[g["name"] for g in d["servers"][0]["security_groups"]] == ["default"]'
if osc server add security group "$SRV" web 2>&1 && osc server add security group "$SRV" "$SG2" 2>&1; then
    pass "openstack server add security group (by name and by id)"
else
    fail "openstack server add security group"
fi
nova GET "/servers/$SRV/os-security-groups"
expect "the server lists its three groups" 200 'sorted(g["name"] for g in d["security_groups"]) == ["db", "default", "web"]'
nova GET /servers/detail
expect "the server list (rendered before) shows the three groups at once" 200 'sorted(g["name"] for g in d["servers"][0]["security_groups"]) == ["db", "default", "web"]'
osc security group set --name web2 web && nova GET "/servers/$SRV"
expect "a group renamed through the network API shows its new name on the server" 200 'sorted(g["name"] for g in d["server"]["security_groups"]) == ["db", "default", "web2"]'
nova GET /servers/detail
expect "... and in the server list" 200 'sorted(g["name"] for g in d["servers"][0]["security_groups"]) == ["db", "default", "web2"]'
osc security group set --name web web2
PORT=$(osc port list --server "$SRV" -f value -c ID)
if [ "$(osc port show "$PORT" -f json | "$NPH_PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["security_group_ids"]))')" = 3 ]; then
    pass "the server's port carries the three groups (network API)"
else
    fail "port $PORT groups: $(osc port show "$PORT" -f value -c security_group_ids)"
fi
nova DELETE "/os-security-groups/$SG1"
expect "a group in use cannot be deleted" 400
nova POST "/servers/$SRV/action" '{"addSecurityGroup": {"name": "nosuch"}}'
expect "adding an unknown group: 404" 404
if osc server remove security group "$SRV" web 2>&1; then
    pass "openstack server remove security group"
else
    fail "openstack server remove security group"
fi
nova POST "/servers/$SRV/action" '{"removeSecurityGroup": {"name": "web"}}'
expect "removing a group the server does not have: 400" 400
nova GET "/servers/$SRV/os-security-groups"
expect "the server lists two groups" 200 'sorted(g["name"] for g in d["security_groups"]) == ["db", "default"]'
nova DELETE "/os-security-groups/$SG1"
expect "a group no longer in use is deleted" 202
nova DELETE "/os-security-group-rules/$R1"
expect "a rule of a deleted group is gone with it" 404

# A second project sees none of this.
ALT_PW=$(nph_random_password)
OS_USERNAME=admin OS_PASSWORD=$NPH_ADMIN_PASSWORD OS_PROJECT_NAME=admin osc project create sgalt >/dev/null &&
    OS_USERNAME=admin OS_PASSWORD=$NPH_ADMIN_PASSWORD OS_PROJECT_NAME=admin osc user create --password="$ALT_PW" sgalt >/dev/null &&
    OS_USERNAME=admin OS_PASSWORD=$NPH_ADMIN_PASSWORD OS_PROJECT_NAME=admin osc role add --user sgalt --project sgalt member >/dev/null ||
    fail "second project"
SAVE=$TOKEN
TOKEN=$(OS_USERNAME=sgalt OS_PASSWORD=$ALT_PW OS_PROJECT_NAME=sgalt osc token issue -f value -c id)
nova GET "/os-security-groups/$SG2"
expect "another project cannot see the group" 404
nova GET /os-security-groups
expect "another project lists only its own default group" 200 '[g["name"] for g in d["security_groups"]] == ["default"]'
nova POST "/servers/$SRV/action" '{"addSecurityGroup": {"name": "default"}}'
expect "another project cannot act on the server" 404
TOKEN=$SAVE

osc server delete --wait "$SRV" && pass "server deleted" || fail "server delete"
nova DELETE "/os-security-groups/$SG2"
expect "after the server is gone its group can be deleted" 202

nph_stop
nph_summary

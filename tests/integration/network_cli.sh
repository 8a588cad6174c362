#!/usr/bin/env bash
# network_cli.sh - drive the broker's Neutron v2.0 compatible API with the stock `openstack`
# client (and curl where the client checks input itself or hides the answer): networks, IPv4
# and IPv6 subnets, ports, security groups and rules, routers with interfaces and an external
# gateway, floating IPs, servers on a network showing their address, tenant isolation, quotas,
# list filters/fields/sorting/pagination, and bad input answered with Neutron's fault body
# without anything written.
#
#   NEPHELE_BIN=build/broker/nephele tests/integration/network_cli.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

if [ -z "$NPH_OPENSTACK" ]; then
    echo "network_cli.sh: the openstack client is not installed" >&2
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
osc_as() {
    local u=$1 p=$2 pr=$3
    shift 3
    OS_USERNAME=$u OS_PASSWORD=$p OS_PROJECT_NAME=$pr "$NPH_OPENSTACK" --os-compute-api-version 2.37 "$@"
}
jfield() { "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
count_rows() { # PATH: how many resources a list answers (admin token)
    req GET "$1" -H "X-Auth-Token: $TOKEN"
    printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(len(list(d.values())[0]))'
}

RUN=$$
nph_start network-cli || {
    fail "broker starts"
    nph_summary
}
pass "broker starts and is ready"
TOKEN=$(osc token issue -f value -c id)
AUTH=(-H "X-Auth-Token: $TOKEN" -H "Content-Type: application/json")

# ---- discovery -------------------------------------------------------------------------------
req GET /network
expect "GET /network lists v2.0" 200 'd["versions"][0]["id"] == "v2.0"'
req GET /network/v2.0/extensions "${AUTH[@]}"
expect "extensions list router, security-group, quotas, subnet_allocation" 200 \
    '{"router", "security-group", "quotas", "external-net", "subnet_allocation"} <= {e["alias"] for e in d["extensions"]}'
if out=$(osc catalog show network -f json 2>&1) && grep -q "/network" <<<"$out"; then
    pass "the catalog lists the network endpoint"
else
    fail "the catalog lists the network endpoint: $out"
fi

# ---- networks, subnets, ports ----------------------------------------------------------------
N=it-net-$RUN
check "openstack network create $N" osc network create --mtu 1400 "$N"
NID=$(osc network show "$N" -f value -c id)
if [ "$(osc network show "$N" -f value -c mtu)" = 1400 ]; then pass "network mtu 1400"; else fail "network mtu"; fi
check "openstack subnet create (IPv4)" osc subnet create --network "$N" --subnet-range 10.20.0.0/24 \
    --dns-nameserver 10.20.0.53 --allocation-pool start=10.20.0.10,end=10.20.0.100 "$N-v4"
check "openstack subnet create (IPv6, SLAAC)" osc subnet create --network "$N" --ip-version 6 \
    --ipv6-address-mode slaac --ipv6-ra-mode slaac --subnet-range fd00:20::/64 "$N-v6"
if out=$(osc subnet show "$N-v4" -f json 2>&1) &&
    printf '%s' "$out" | jfield 'd["gateway_ip"] == "10.20.0.1" and d["allocation_pools"] == [{"start": "10.20.0.10", "end": "10.20.0.100"}] and d["dns_nameservers"] == ["10.20.0.53"]' | grep -q True; then
    pass "subnet show: gateway, pool and DNS as given"
else
    fail "subnet show: $out"
fi
P=it-port-$RUN
if out=$(osc port create --network "$N" "$P" -f json 2>&1) &&
    printf '%s' "$out" | jfield 'd["fixed_ips"][0]["ip_address"] == "10.20.0.10" and d["fixed_ips"][1]["ip_address"].startswith("fd00:20::f816:3eff:fe") and d["mac_address"].startswith("fa:16:3e:")' | grep -q True; then
    pass "port create: first pool address, SLAAC address from the MAC"
else
    fail "port create: $out"
fi
check "port create with a fixed IP" osc port create --network "$N" --fixed-ip subnet="$N-v4",ip-address=10.20.0.50 "$P-fixed"
if out=$(osc port create --network "$N" --fixed-ip subnet="$N-v4",ip-address=10.20.0.50 "$P-dup" 2>&1); then
    fail "the same fixed IP twice is refused: $out"
else
    pass "the same fixed IP twice is refused"
fi

# ---- filters, fields, sorting, pagination ----------------------------------------------------
req GET "/network/v2.0/ports?fixed_ips=ip_address%3D10.20.0.50&fields=id&fields=name" "${AUTH[@]}"
expect "ports filtered by fixed IP, fields selected" 200 \
    'len(d["ports"]) == 1 and set(d["ports"][0]) == {"id", "name"} and d["ports"][0]["name"].endswith("-fixed")'
req GET "/network/v2.0/ports?network_id=$NID&sort_key=name&sort_dir=desc&limit=1" "${AUTH[@]}"
expect "ports sorted desc with limit 1 and a next link" 200 \
    'len(d["ports"]) == 1 and d["ports"][0]["name"].endswith("-fixed") and d["ports_links"][0]["rel"] == "next"'
NEXT=$(printf '%s' "$RESP_BODY" | jfield 'd["ports_links"][0]["href"]')
req GET "${NEXT#"$NPH_URL"}" "${AUTH[@]}"
expect "the next page holds the other port" 200 'len(d["ports"]) == 1 and not d["ports"][0]["name"].endswith("-fixed")'

# ---- security groups ---------------------------------------------------------------------------
SG=it-sg-$RUN
check "openstack security group create" osc security group create "$SG"
check "openstack security group rule create (tcp 22)" osc security group rule create --protocol tcp --dst-port 22 --remote-ip 0.0.0.0/0 "$SG"
check "openstack security group rule create (icmp)" osc security group rule create --protocol icmp "$SG"
SGID=$(osc security group show "$SG" -f value -c id)
if [ "$(osc security group rule list "$SG" -f value -c ID | wc -l)" = 4 ]; then
    pass "the group has its 2 egress rules and the 2 added"
else
    fail "rule count: $(osc security group rule list "$SG" -f value)"
fi
if out=$(osc security group list -f value -c Name) && grep -qx default <<<"$out"; then
    pass "the project's default group exists"
else
    fail "default group: $out"
fi
check "port set --security-group" osc port set --security-group "$SG" "$P"
if osc port show "$P" -f json | jfield '"'"$SGID"'" in d["security_group_ids"]' | grep -q True; then
    pass "the port has the group"
else
    fail "the port has the group"
fi
if out=$(osc security group delete "$SG" 2>&1); then
    fail "a group in use cannot be deleted"
else
    pass "a group in use cannot be deleted"
fi

# ---- bad input: clear errors, nothing written --------------------------------------------------
before=$(count_rows /network/v2.0/subnets)
req POST /network/v2.0/subnets "${AUTH[@]}" -d '{"subnet": {"network_id": "'"$NID"'", "ip_version": 4, "cidr": "10.20.0.128/25"}}'
expect "an overlapping subnet is refused" 400 \
    'd["NeutronError"]["type"] == "HTTPBadRequest" and "overlaps with another subnet" in d["NeutronError"]["message"]'
req POST /network/v2.0/subnets "${AUTH[@]}" -d '{"subnet": {"network_id": "'"$NID"'", "ip_version": 4, "cidr": "10.300.0.0/24"}}'
expect "a CIDR that is not one is refused" 400 '"not a valid IP subnet" in d["NeutronError"]["message"]'
req POST /network/v2.0/subnets "${AUTH[@]}" -d '{"subnet": {"network_id": "'"$NID"'", "ip_version": 4, "cidr": "10.21.0.7/24"}}'
expect "a CIDR with host bits is refused with the recommended one" 400 '"10.21.0.0/24" in d["NeutronError"]["message"]'
[ "$(count_rows /network/v2.0/subnets)" = "$before" ] && pass "no subnet was written" || fail "a subnet was written"
before=$(count_rows /network/v2.0/security-group-rules)
req POST /network/v2.0/security-group-rules "${AUTH[@]}" -d '{"security_group_rule": {"security_group_id": "'"$SGID"'", "direction": "ingress", "protocol": "tcp", "port_range_min": 30, "port_range_max": 20}}'
expect "a port range upside down is refused" 400 \
    'd["NeutronError"]["type"] == "SecurityGroupInvalidPortRange" and "port_range_min must be <= port_range_max" in d["NeutronError"]["message"]'
req POST /network/v2.0/security-group-rules "${AUTH[@]}" -d '{"security_group_rule": {"security_group_id": "'"$SGID"'", "direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}}'
expect "a remote prefix of the other family is refused" 400 '"Conflicting value ethertype" in d["NeutronError"]["message"]'
[ "$(count_rows /network/v2.0/security-group-rules)" = "$before" ] && pass "no rule was written" || fail "a rule was written"
req POST /network/v2.0/networks "${AUTH[@]}" -d '{"network": {"name": "x", "color": "blue"}}'
expect "an unknown attribute is refused" 400 '"Unrecognized attribute" in d["NeutronError"]["message"]'
req GET /network/v2.0/networks/no-such-net "${AUTH[@]}"
expect "an unknown network is NetworkNotFound" 404 'd["NeutronError"]["type"] == "NetworkNotFound"'
req POST /network/v2.0/networks "${AUTH[@]}" -d '{"network": '
expect "a malformed body is refused" 400 '"NeutronError" in d'

# ---- a second project -------------------------------------------------------------------------
P2=it-net-proj2-$RUN
U2=it-net-user2-$RUN
U2_PW=$(nph_random_password)
if osc project create --domain default "$P2" >/dev/null 2>&1 &&
    osc user create --domain default --password "$U2_PW" "$U2" >/dev/null 2>&1 &&
    osc role add --user "$U2" --project "$P2" member >/dev/null 2>&1; then
    pass "a second project with a member"
else
    fail "a second project with a member"
fi
if out=$(osc_as "$U2" "$U2_PW" "$P2" network list -f value -c ID 2>&1) && ! grep -q "$NID" <<<"$out"; then
    pass "the second project does not see the first one's network"
else
    fail "the second project sees the network: $out"
fi
if out=$(osc_as "$U2" "$U2_PW" "$P2" port create --network "$NID" stolen 2>&1); then
    fail "the second project cannot put a port on the first one's network: $out"
else
    pass "the second project cannot put a port on the first one's network"
fi
T2=$(osc_as "$U2" "$U2_PW" "$P2" token issue -f value -c id)
req POST /network/v2.0/ports -H "X-Auth-Token: $T2" -H "Content-Type: application/json" -d '{"port": {"network_id": "'"$NID"'"}}'
expect "a port on another project's network is NetworkNotFound" 404 'd["NeutronError"]["type"] == "NetworkNotFound"'
req DELETE "/network/v2.0/networks/$NID" -H "X-Auth-Token: $T2"
expect "the second project cannot delete it" 404 '"could not be found" in d["NeutronError"]["message"]'
check "a shared network" osc network create --share "$N-shared"
if out=$(osc_as "$U2" "$U2_PW" "$P2" network list -f value -c Name 2>&1) && grep -qx "$N-shared" <<<"$out"; then
    pass "the second project sees the shared network"
else
    fail "the second project sees the shared network: $out"
fi

# ---- subnet pools (subnet_allocation) -----------------------------------------------------------
SP=it-pool-$RUN
check "openstack subnet pool create (two adjacent /17s, compacted)" osc subnet pool create \
    --pool-prefix 10.80.0.0/17 --pool-prefix 10.80.128.0/17 --default-prefix-length 26 \
    --min-prefix-length 24 --max-prefix-length 28 "$SP"
req GET "/network/v2.0/subnetpools?name=$SP" "${AUTH[@]}"
expect "the pool: one /16, bounds 24/26/28, IPv4" 200 \
    'len(d["subnetpools"]) == 1 and (lambda p: p["prefixes"] == ["10.80.0.0/16"] and (p["min_prefixlen"], p["default_prefixlen"], p["max_prefixlen"], p["ip_version"]) == (24, 26, 28, 4))(d["subnetpools"][0])'
SPID=$(printf '%s' "$RESP_BODY" | jfield 'd["subnetpools"][0]["id"]')
check "a network for pool subnets" osc network create "$N-pool"
check "openstack subnet create --subnet-pool (default /26)" osc subnet create --network "$N-pool" --subnet-pool "$SP" "$N-pool-a"
check "openstack subnet create --subnet-pool --prefix-length 28" osc subnet create --network "$N-pool" --subnet-pool "$SP" --prefix-length 28 "$N-pool-b"
out=$(osc subnet list --network "$N-pool" -f value -c Name -c Subnet 2>&1 | sort)
if [ "$(echo $out)" = "$N-pool-a 10.80.0.0/26 $N-pool-b 10.80.0.64/28" ]; then
    pass "pool subnets take the first free blocks: 10.80.0.0/26, 10.80.0.64/28"
else
    fail "pool subnets: $out"
fi
req GET "/network/v2.0/subnets?name=$N-pool-a" "${AUTH[@]}"
expect "the subnet names its pool" 200 'd["subnets"][0]["subnetpool_id"] == "'"$SPID"'"'
NPOOL=$(osc network show "$N-pool" -f value -c id)
req POST /network/v2.0/subnets "${AUTH[@]}" -d '{"subnet": {"network_id": "'"$NPOOL"'", "ip_version": 4, "subnetpool_id": "'"$SPID"'", "prefixlen": 20}}'
expect "a prefix length under the pool's minimum is refused" 400 \
    'd["NeutronError"]["type"] == "MinPrefixSubnetAllocationError" and "minimum allowed prefix is 24" in d["NeutronError"]["message"]'
req POST /network/v2.0/subnets "${AUTH[@]}" -d '{"subnet": {"network_id": "'"$NPOOL"'", "ip_version": 4, "subnetpool_id": "'"$SPID"'", "cidr": "10.90.0.0/24"}}'
expect "a CIDR outside the pool is refused" 409 'd["NeutronError"]["type"] == "SubnetAllocationError"'
req POST /network/v2.0/subnets "${AUTH[@]}" -d '{"subnet": {"network_id": "'"$NPOOL"'", "ip_version": 6, "subnetpool_id": "'"$SPID"'"}}'
expect "an IPv6 subnet from an IPv4 pool is refused" 400 '"Cannot allocate IPv6 subnet from IPv4 subnet pool" in d["NeutronError"]["message"]'
req POST /network/v2.0/subnetpools "${AUTH[@]}" -d '{"subnetpool": {"name": "mixed", "prefixes": ["10.0.0.0/8", "fd00::/8"]}}'
expect "mixed IPv4 and IPv6 prefixes are refused" 400 'd["NeutronError"]["type"] == "PrefixVersionMismatch"'
req POST /network/v2.0/subnetpools "${AUTH[@]}" -d '{"subnetpool": {"name": "bounds", "prefixes": ["10.0.0.0/8"], "min_prefixlen": 30, "max_prefixlen": 24}}'
expect "min above max is refused" 400 '"Illegal prefix bounds: min_prefixlen=30, max_prefixlen=24." == d["NeutronError"]["message"]'
req PUT "/network/v2.0/subnetpools/$SPID" "${AUTH[@]}" -d '{"subnetpool": {"prefixes": ["10.80.0.0/17"]}}'
expect "prefixes cannot shrink" 400 'd["NeutronError"]["type"] == "IllegalSubnetPoolPrefixUpdate"'
# a tiny pool fills up: two /28s from a /27, then no space
check "a /27 pool" osc subnet pool create --pool-prefix 10.81.0.0/27 --default-prefix-length 28 "$SP-tiny"
check "first /28" osc subnet create --network "$N-pool" --subnet-pool "$SP-tiny" "$N-tiny-1"
check "second /28" osc subnet create --network "$N-pool" --subnet-pool "$SP-tiny" "$N-tiny-2"
TINYID=$(osc subnet pool show "$SP-tiny" -f value -c id)
req POST /network/v2.0/subnets "${AUTH[@]}" -d '{"subnet": {"network_id": "'"$NPOOL"'", "ip_version": 4, "subnetpool_id": "'"$TINYID"'"}}'
expect "the full pool says so" 409 '"Insufficient prefix space to allocate subnet size /28" in d["NeutronError"]["message"]'
req DELETE "/network/v2.0/subnetpools/$TINYID" "${AUTH[@]}"
expect "a pool with subnets cannot be deleted" 409 'd["NeutronError"]["type"] == "SubnetPoolInUse"'
check "a default pool (admin)" osc subnet pool create --default --pool-prefix 10.82.0.0/24 --default-prefix-length 28 "$SP-default"
check "openstack subnet create --use-default-subnet-pool" osc subnet create --network "$N-pool" --use-default-subnet-pool --ip-version 4 "$N-default-1"
out=$(osc subnet show "$N-default-1" -f value -c cidr 2>&1)
[ "$out" = 10.82.0.0/28 ] && pass "the default pool gave 10.82.0.0/28" || fail "subnet from the default pool: $out"
req POST /network/v2.0/subnetpools "${AUTH[@]}" -d '{"subnetpool": {"name": "second-default", "prefixes": ["10.83.0.0/24"], "is_default": true}}'
expect "a second default IPv4 pool is refused" 400 '"Only one default may exist per IP family" in d["NeutronError"]["message"]'
req POST /network/v2.0/subnets "${AUTH[@]}" -d '{"subnet": {"network_id": "'"$NPOOL"'", "ip_version": 6, "use_default_subnetpool": true}}'
expect "no default IPv6 pool: said so" 400 '"No default subnetpool found for IPv6" in d["NeutronError"]["message"]'
osc subnet delete "$N-default-1" >/dev/null 2>&1
check "the default pool deleted" osc subnet pool delete "$SP-default"
check "openstack subnet pool set --name" osc subnet pool set --name "$SP-renamed" "$SP"
out=$(osc_as "$U2" "$U2_PW" "$P2" subnet pool list -f value -c Name 2>&1)
if ! grep -q "$SP" <<<"$out"; then pass "the second project does not see the pool"; else fail "the second project sees a private pool: $out"; fi
osc subnet delete "$N-tiny-1" "$N-tiny-2" "$N-pool-a" "$N-pool-b" >/dev/null 2>&1
check "openstack subnet pool delete (emptied)" osc subnet pool delete "$SP-tiny" "$SP-renamed"
req GET "/network/v2.0/subnetpools/$SPID" "${AUTH[@]}"
expect "the deleted pool is gone" 404 'd["NeutronError"]["type"] == "SubnetPoolNotFound"'
osc network delete "$N-pool" >/dev/null 2>&1

# ---- quotas ------------------------------------------------------------------------------------
P2ID=$(osc project show "$P2" -f value -c id)
req PUT "/network/v2.0/quotas/$P2ID" "${AUTH[@]}" -d '{"quota": {"network": 1}}'
expect "admin sets the second project's network quota" 200 'd["quota"]["network"] == 1 and d["quota"]["port"] == 500'
check "the second project creates its one network" osc_as "$U2" "$U2_PW" "$P2" network create p2net
req POST /network/v2.0/networks -H "X-Auth-Token: $T2" -H "Content-Type: application/json" -d '{"network": {"name": "p2net2"}}'
expect "a second network is over quota" 409 'd["NeutronError"]["type"] == "OverQuota"'
req PUT "/network/v2.0/quotas/$P2ID" -H "X-Auth-Token: $T2" -H "Content-Type: application/json" -d '{"quota": {"network": 10}}'
expect "a member cannot change quotas" 403 '"NeutronError" in d'
if out=$(osc quota show "$P2" -f json 2>&1) && printf '%s' "$out" | jfield 'd["networks"] == 1' | grep -q True; then
    pass "openstack quota show reads the network quota"
else
    fail "openstack quota show: ${out:0:300}"
fi

# ---- routers and floating IPs --------------------------------------------------------------------
EXT=it-ext-$RUN
check "an external network" osc network create --external "$EXT"
check "its subnet" osc subnet create --network "$EXT" --subnet-range 172.24.4.0/24 --no-dhcp "$EXT-sub"
R=it-router-$RUN
check "openstack router create" osc router create "$R"
check "openstack router add subnet" osc router add subnet "$R" "$N-v4"
check "openstack router set --external-gateway" osc router set --external-gateway "$EXT" "$R"
if out=$(osc router show "$R" -f json 2>&1) &&
    printf '%s' "$out" | jfield 'd["external_gateway_info"]["external_fixed_ips"][0]["ip_address"].startswith("172.24.4.")' | grep -q True; then
    pass "the router has a gateway address on the external network"
else
    fail "router gateway: ${out:0:400}"
fi
if out=$(osc router delete "$R" 2>&1); then
    fail "a router with an interface cannot be deleted"
else
    pass "a router with an interface cannot be deleted"
fi
if FIP=$(osc floating ip create "$EXT" -f value -c floating_ip_address 2>&1) && [[ $FIP == 172.24.4.* ]]; then
    pass "openstack floating ip create: $FIP"
else
    fail "floating ip create: $FIP"
fi
check "openstack floating ip set --port" osc floating ip set --port "$P" "$FIP"
if out=$(osc floating ip show "$FIP" -f json 2>&1) &&
    printf '%s' "$out" | jfield 'd["fixed_ip_address"] == "10.20.0.10" and d["status"] == "ACTIVE"' | grep -q True; then
    pass "the floating IP maps to the port's address"
else
    fail "floating ip show: ${out:0:300}"
fi
check "openstack floating ip unset --port" osc floating ip unset --port "$FIP"

# ---- a server on the network ---------------------------------------------------------------------
IMGF=$(mktemp)
head -c 65536 /dev/urandom >"$IMGF"
check "an image" osc image create --disk-format raw --container-format bare --file "$IMGF" it-net-image
rm -f "$IMGF"
S=it-net-vm-$RUN
if out=$(osc server create --flavor m1.tiny --image it-net-image --network "$N" --security-group "$SG" --wait "$S" -f json 2>&1) &&
    printf '%s' "$out" | jfield 'd["status"] == "ACTIVE"' | grep -q True; then
    pass "openstack server create --network reaches ACTIVE"
else
    fail "server create --network: ${out:0:400}"
fi
SID=$(osc server show "$S" -f value -c id)
if out=$(osc server show "$S" -f json 2>&1) &&
    printf '%s' "$out" | jfield 'any(a.startswith("10.20.0.") for a in d["addresses"]["'"$N"'"])' | grep -q True; then
    pass "the server shows its address on $N"
else
    fail "server addresses: $(printf '%s' "$out" | jfield 'd.get("addresses")' 2>&1)"
fi
req GET "/compute/v2.1/servers/$SID" -H "X-Auth-Token: $TOKEN"
expect "the server's addresses in Nova's form" 200 \
    'any(a["version"] == 4 and a["OS-EXT-IPS:type"] == "fixed" and a["OS-EXT-IPS-MAC:mac_addr"].startswith("fa:16:3e:") for a in d["server"]["addresses"]["'"$N"'"])'
if out=$(osc port list --server "$S" -f value -c ID 2>&1) && [ "$(wc -l <<<"$out")" = 1 ]; then
    pass "the server has one port"
else
    fail "server ports: $out"
fi
VMPORT=$out
check "openstack server add floating ip" osc server add floating ip "$S" "$FIP"
if [ "$(osc floating ip show "$FIP" -f value -c port_id)" = "$VMPORT" ]; then
    pass "the floating IP is on the server's port"
else
    fail "the floating IP is on the server's port"
fi
FIP_ADDR=$(osc floating ip show "$FIP" -f value -c floating_ip_address)
req GET "/compute/v2.1/servers/$SID" -H "X-Auth-Token: $TOKEN"
expect "the server's addresses show the floating IP after its fixed one" 200 \
    '[a["OS-EXT-IPS:type"] for a in d["server"]["addresses"]["'"$N"'"] if a["version"] == 4] == ["fixed", "floating"] and d["server"]["addresses"]["'"$N"'"][-1]["addr"] == "'"$FIP_ADDR"'"'
req GET "/compute/v2.1/servers/$SID/ips" -H "X-Auth-Token: $TOKEN"
expect "GET /servers/{id}/ips: the addresses by network, version and addr only" 200 \
    'all(sorted(a) == ["addr", "version"] for a in d["addresses"]["'"$N"'"]) and "'"$FIP_ADDR"'" in [a["addr"] for a in d["addresses"]["'"$N"'"]]'
req GET "/compute/v2.1/servers/$SID/ips/$N" -H "X-Auth-Token: $TOKEN"
expect "GET /servers/{id}/ips/{network}" 200 'list(d) == ["'"$N"'"] and len(d["'"$N"'"]) >= 2'
req GET "/compute/v2.1/servers/$SID/ips/no-such-net" -H "X-Auth-Token: $TOKEN"
expect "GET /servers/{id}/ips/{other network}: 404" 404 '"itemNotFound" in d'
check "openstack server remove floating ip" osc server remove floating ip "$S" "$FIP"
req GET "/compute/v2.1/servers/$SID" -H "X-Auth-Token: $TOKEN"
expect "the floating IP is gone from the server's addresses" 200 \
    '[a["OS-EXT-IPS:type"] for a in d["server"]["addresses"]["'"$N"'"] if a["version"] == 4] == ["fixed"]'
req GET "/compute/v2.1/servers/$SID/os-interface" -H "X-Auth-Token: $TOKEN"
expect "os-interface lists the port" 200 'd["interfaceAttachments"][0]["port_id"] == "'"$VMPORT"'"'
req POST "/compute/v2.1/servers" "${AUTH[@]}" -d '{"server": {"name": "bad", "flavorRef": "1", "imageRef": "'"$(osc image show it-net-image -f value -c id)"'", "networks": [{"uuid": "no-such-network"}]}}'
expect "a server on an unknown network is refused" 400 '"could not be found" in d["badRequest"]["message"]'
check "openstack server delete --wait" osc server delete --wait "$S"
if out=$(osc port list --network "$N" -f value -c ID 2>&1) && ! grep -q "$VMPORT" <<<"$out"; then
    pass "the server's port went with it"
else
    fail "the server's port remains: $out"
fi

# ---- cleanup: addresses come back --------------------------------------------------------------
check "floating ip delete" osc floating ip delete "$FIP"
check "router remove subnet" osc router remove subnet "$R" "$N-v4"
check "router delete" osc router delete "$R"
check "port delete" osc port delete "$P" "$P-fixed"
# (the allocator goes on past the last address it gave and hands a returned one out again once
# it wraps around: ask for it by name, which fails while it is still held)
if out=$(osc port create --network "$N" --fixed-ip ip-address=10.20.0.10 "$P-again" -f json 2>&1) &&
    printf '%s' "$out" | jfield 'd["fixed_ips"][0]["ip_address"] == "10.20.0.10"' | grep -q True; then
    pass "a deleted port's address is free again (a port created with it)"
else
    fail "address reuse: ${out:0:300}"
fi
check "port delete" osc port delete "$P-again"
check "security group delete" osc security group delete "$SG"
check "network delete (its subnets go with it)" osc network delete "$N"
if [ "$(count_rows "/network/v2.0/subnets?network_id=$NID")" = 0 ]; then
    pass "the network's subnets are gone"
else
    fail "the network's subnets remain"
fi

nph_summary

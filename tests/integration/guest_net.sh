#!/usr/bin/env bash
# guest_net.sh - two real TCG guests on one Nephele network: on qemu:///system (libvirtd started
# by tests/integration/guest/libvirtd.sh), `openstack network create` + `subnet create` realise a
# libvirt network (bridge, gateway, dnsmasq with a <host mac ip> entry per port), and two
# servers created with `openstack server create --network` boot the test guest
# (tests/integration/guest/make-guest.sh), whose busybox init loads virtio_net, asks for an
# address with udhcpc and pings the other guest. Checked from `openstack console log show`:
#   - udhcpc's "lease of A obtained" line, and the guest's "dhcp eth0 <mac> A/mask" line, where
#     A and mac are the fixed IP and MAC Nephele shows for the server's port;
#   - a ping reply from the other guest ("bytes from B") and "ping B ok".
# Also checked in libvirt (virsh): the network's DHCP host entries, each domain's
# <interface type='network'> with its port's MAC; and that deleting the servers and the network
# removes the domains and the libvirt network.
# Security groups as libvirt nwfilters (the guests keep pinging each other, nephele.watch, and
# print each change of reachability): the default group's filter nephele-sg-<id> and each
# port's nephele-port-<id> exist, each domain's interface references its port's; with the
# default group (ingress from the group) the pings pass; without that ingress rule they stop;
# an ICMP rule from the default group (a remote group, expanded to its members' addresses)
# lets them through again; guest b's port moved to a group without ingress: both stop (b is no
# longer a member of default); an ICMP rule in b's group: a reaches b again, b still not a.
# Everything the test made in libvirt (domains, network, filters) is gone at the end.
# Skips (prints "SKIP: <reason>", exits 0) only where libvirtd cannot start.
# Environment: NEPHELE_BIN, NEPHELE_GUEST_DIR (guest cache, default /var/tmp/nephele-guest),
# GUEST_NET_TIMEOUT (seconds to wait for both guests' pings, default 150),
# GUEST_NET_CIDR (default 10.213.77.0/24: must not be routed on this host), NEPHELE_KEEP_LIBVIRTD=1.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
GUEST=${NEPHELE_GUEST_DIR:-/var/tmp/nephele-guest}
TIMEOUT=${GUEST_NET_TIMEOUT:-150}
CIDR=${GUEST_NET_CIDR:-10.213.77.0/24}
PREFIX=${CIDR%.*/*}
IP_A=$PREFIX.10
IP_B=$PREFIX.11
URI=qemu:///system
os() { "$NPH_OPENSTACK" "$@"; }
vsh() { virsh -q -c "$URI" "$@"; }
json_get() { # EXPR: evaluate a Python expression over the JSON on stdin (as j)
    "$NPH_PYTHON" -c "import json, sys; j = json.load(sys.stdin); print($1)"
}

export NEPHELE_LIBVIRTD_STATE=${NEPHELE_LIBVIRTD_STATE:-/run/nephele-test-libvirtd.pids}
ours_libvirtd=0
[ -s "$NEPHELE_LIBVIRTD_STATE" ] || ours_libvirtd=1
out=$("$HERE/guest/libvirtd.sh" start)
rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
if [ $rc -eq 77 ]; then
    echo "SKIP: guest_net: $(printf '%s\n' "$out" | sed -n 's/^SKIP: //p')"
    exit 0
elif [ $rc -ne 0 ]; then
    fail "libvirtd.sh start (exit $rc)"
    nph_summary
fi
if ip route show | grep -q "^$CIDR "; then
    fail "$CIDR is routed on this host already (set GUEST_NET_CIDR to a free /24)"
    nph_summary
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nephele-guestnet.XXXXXX")
SERVERS=() IMAGES=() FLAVOR_CREATED='' NET='' SGS=() FILTERS=()
# Delete what the test made, through the API while the broker runs, then in libvirt whatever
# is left of it.
teardown() {
    local s i
    if [ -n "$NPH_PID" ]; then
        for s in "${SERVERS[@]}"; do timeout 120 "$NPH_OPENSTACK" server delete --wait "$s" >/dev/null 2>&1; done
        for i in "${SGS[@]}"; do os security group delete "$i" >/dev/null 2>&1; done
        [ -n "$NET" ] && os network delete "$NET" >/dev/null 2>&1
        for i in "${IMAGES[@]}"; do os image delete "$i" >/dev/null 2>&1; done
        [ -n "$FLAVOR_CREATED" ] && os flavor delete "$FLAVOR_CREATED" >/dev/null 2>&1
    fi
    for s in "${SERVERS[@]}"; do
        vsh destroy "$s" >/dev/null 2>&1
        vsh undefine "$s" >/dev/null 2>&1
    done
    if [ -n "$NET" ]; then
        vsh net-destroy "nephele-$NET" >/dev/null 2>&1
        vsh net-undefine "nephele-$NET" >/dev/null 2>&1
    fi
    for i in "${FILTERS[@]}"; do vsh nwfilter-undefine "$i" >/dev/null 2>&1; done
    SERVERS=() IMAGES=() FLAVOR_CREATED='' NET='' SGS=() FILTERS=()
}
cleanup() {
    local rc=$? pool
    teardown
    [ -n "$NPH_PID" ] && nph_stop
    if [ -n "${GUEST_DATA:-}" ]; then
        for pool in $(vsh pool-list --all --name 2>/dev/null | grep '^nephele-instances'); do
            if vsh pool-dumpxml "$pool" 2>/dev/null | grep -q "<path>$GUEST_DATA/"; then
                vsh pool-destroy "$pool" >/dev/null 2>&1
                vsh pool-undefine "$pool" >/dev/null 2>&1
            fi
        done
    fi
    rm -rf "$WORK"
    if [ "$ours_libvirtd" = 1 ] && [ -z "${NEPHELE_KEEP_LIBVIRTD:-}" ]; then
        "$HERE/guest/libvirtd.sh" stop | sed 's/^/# /'
    fi
    return $rc
}
trap cleanup EXIT
finish() {
    teardown
    nph_summary
}

if "$HERE/guest/make-guest.sh" "$GUEST" | sed 's/^/# /' && [ -s "$GUEST/initrd.img" ]; then
    pass "guest kernel and initramfs (with virtio_net and udhcpc) ready in $GUEST"
else
    fail "building the guest (make-guest.sh)"
    finish
fi
qemu-img create -q -f qcow2 "$WORK/root.qcow2" 16M || { fail "qemu-img create"; finish; }

export NEPHELE_COMPUTE_LIBVIRT_URI=$URI
nph_start guest-net || { fail "starting the broker on $URI"; finish; }
GUEST_DATA=$NPH_DATA

# Images (kernel, ramdisk, and a root disk naming them), a flavor.
upload() { # NAME FILE DISK_FORMAT CONTAINER_FORMAT [extra args]: prints the id
    local name=$1 file=$2 df=$3 cf=$4
    shift 4
    os image create "$name" --file "$file" --disk-format "$df" --container-format "$cf" \
        "$@" -f value -c id
}
KERNEL=$(upload guest-net-kernel "$GUEST/vmlinuz" aki aki 2>"$WORK/err") && IMAGES+=("$KERNEL")
RAMDISK=$(upload guest-net-ramdisk "$GUEST/initrd.img" ari ari 2>>"$WORK/err") && IMAGES+=("$RAMDISK")
IMAGE=$(upload guest-net "$WORK/root.qcow2" qcow2 bare --property "kernel_id=$KERNEL" \
    --property "ramdisk_id=$RAMDISK" \
    --property "os_command_line=console=ttyS0 nephele.name=guest-net nephele.ping=$IP_A,$IP_B nephele.watch" \
    2>>"$WORK/err") && IMAGES+=("$IMAGE")
if [ ${#IMAGES[@]} = 3 ]; then
    pass "kernel, ramdisk and root images uploaded (the command line pings $IP_A and $IP_B)"
else
    fail "uploading the images: $(tail -n 2 "$WORK/err")"
    finish
fi
FLAVOR=$(os flavor create --ram 192 --vcpus 1 --disk 1 "guest-net-$$" -f value -c id 2>"$WORK/err")
if [ -n "$FLAVOR" ]; then
    FLAVOR_CREATED=$FLAVOR
    pass "flavor $FLAVOR (192 MiB)"
else
    fail "flavor create: $(tail -n 1 "$WORK/err")"
    finish
fi

# The network: its subnet's pool is exactly the two guests' addresses.
NET=$(os network create "guest-net-$$" -f value -c id 2>"$WORK/err")
if [ -n "$NET" ]; then
    pass "openstack network create ($NET)"
else
    fail "openstack network create: $(tail -n 1 "$WORK/err")"
    finish
fi
if os subnet create "guest-subnet-$$" --network "$NET" --subnet-range "$CIDR" \
    --allocation-pool "start=$IP_A,end=$IP_B" -f value -c id >/dev/null 2>"$WORK/err"; then
    pass "openstack subnet create $CIDR (pool $IP_A-$IP_B, DHCP on)"
else
    fail "openstack subnet create: $(tail -n 1 "$WORK/err")"
    finish
fi
check "libvirt has network nephele-$NET, active, with the gateway $PREFIX.1 on its bridge" \
    bash -c "virsh -c '$URI' net-dumpxml 'nephele-$NET' | grep -q \"<ip address='$PREFIX.1' prefix='24'>\" &&
        virsh -c '$URI' net-info 'nephele-$NET' | grep -q '^Active: *yes'"

# Two guests on it.
t0=$SECONDS
for n in a b; do
    s=$(os --os-compute-api-version 2.37 server create --image "$IMAGE" --flavor "$FLAVOR" \
        --network "$NET" "guest-net-$n-$$" -f value -c id 2>"$WORK/err")
    if [[ "$s" =~ ^[0-9a-f-]{36}$ ]]; then
        SERVERS+=("$s")
    else
        fail "openstack server create --network (guest $n): $(tail -n 2 "$WORK/err")"
        finish
    fi
done
for s in "${SERVERS[@]}"; do
    st=
    while [ $((SECONDS - t0)) -lt 240 ]; do
        st=$(os server show "$s" -f value -c status 2>/dev/null)
        case $st in ACTIVE | ERROR) break ;; esac
        sleep 2
    done
    if [ "$st" = ACTIVE ]; then
        pass "server $s ACTIVE after $((SECONDS - t0)) s"
    else
        fail "server $s: status '${st:-none}'"
        os server show "$s" -f value -c fault 2>/dev/null | sed 's/^/     | /'
        finish
    fi
done

# What Nephele says: each server's port (fixed IP and MAC).
declare -A IP MAC
for s in "${SERVERS[@]}"; do
    ports=$(os port list --server "$s" -f json 2>"$WORK/err")
    IP[$s]=$(printf '%s' "$ports" | json_get 'j[0]["Fixed IP Addresses"][0]["ip_address"] if len(j) == 1 else ""')
    MAC[$s]=$(printf '%s' "$ports" | json_get 'j[0]["MAC Address"] if len(j) == 1 else ""')
    addr=$(os server show "$s" -f json -c addresses | json_get '" ".join(a["addr"] if isinstance(a, dict) else a for v in (j["addresses"].values() if isinstance(j["addresses"], dict) else []) for a in v)')
    if [ -n "${IP[$s]}" ] && [ -n "${MAC[$s]}" ]; then
        pass "server $s has one port: ${IP[$s]} ${MAC[$s]} (server show addresses: ${addr:-?})"
    else
        fail "server $s: no single port ($(tail -n 1 "$WORK/err"))"
        finish
    fi
    check "libvirt's network has the DHCP host entry ${MAC[$s]} -> ${IP[$s]}" \
        bash -c "virsh -c '$URI' net-dumpxml 'nephele-$NET' | grep -q \"<host mac='${MAC[$s]}' ip='${IP[$s]}'/>\""
    check "the domain has <interface type='network'> with MAC ${MAC[$s]} on nephele-$NET" \
        bash -c "virsh -c '$URI' dumpxml '$s' | tr -d '\n' | grep -q \"<interface type='network'>[^/]*<mac address='${MAC[$s]}'/>[[:space:]]*<source network='nephele-$NET'\""
done
[ "${IP[${SERVERS[0]}]}" != "${IP[${SERVERS[1]}]}" ] || fail "both servers have the same address"

# The guests' consoles: DHCP lease, then a reply from the other guest.
t0=$SECONDS
declare -A CONSOLE
while [ $((SECONDS - t0)) -lt "$TIMEOUT" ]; do
    done_n=0
    for s in "${SERVERS[@]}"; do
        CONSOLE[$s]=$(os console log show "$s" 2>/dev/null | tr -d '\r')
        printf '%s\n' "${CONSOLE[$s]}" | grep -q '^NEPHELE-GUEST: \(ready\|dhcp eth0 failed\)' &&
            done_n=$((done_n + 1))
    done
    [ "$done_n" = 2 ] && break
    sleep 3
done
nph_log "consoles read $((SECONDS - t0)) s after both servers were ACTIVE"
for s in "${SERVERS[@]}"; do
    me=${IP[$s]}
    other=$IP_A
    [ "$me" = "$IP_A" ] && other=$IP_B
    c=${CONSOLE[$s]:-}
    printf '%s\n' "$c" | grep -E '^(NEPHELE-GUEST|udhcpc|64 bytes)' | sed "s/^/     | $s: /"
    if printf '%s\n' "$c" | grep -q "lease of $me obtained"; then
        pass "guest $s: udhcpc obtained the lease of $me (its port's fixed IP) from libvirt's dnsmasq"
    else
        fail "guest $s: no 'lease of $me obtained' on its console; the last lines:"
        printf '%s\n' "$c" | tail -n 15 | sed 's/^/     | /'
    fi
    if printf '%s\n' "$c" | grep -q "^NEPHELE-GUEST: dhcp eth0 ${MAC[$s]} $me/255.255.255.0"; then
        pass "guest $s: eth0 (MAC ${MAC[$s]}) configured as $me/255.255.255.0"
    else
        fail "guest $s: eth0 is not ${MAC[$s]} with $me/255.255.255.0"
    fi
    if printf '%s\n' "$c" | grep -q "bytes from $other" &&
        printf '%s\n' "$c" | grep -q "^NEPHELE-GUEST: ping $other ok"; then
        pass "guest $s: ping $other answered (the console shows the reply)"
    else
        fail "guest $s: no ping reply from $other on its console"
    fi
done

# Security groups in libvirt's nwfilters.
TOKEN=$(os token issue -f value -c id 2>/dev/null)
last_reach() { # SERVER PEER: the last reachability the guest printed for PEER (ok, lost)
    # (the console through the API with curl: polled, the openstack client's start-up is slow)
    curl -s -X POST -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
        -d '{"os-getConsoleOutput":{}}' "$NPH_URL/compute/v2.1/servers/$1/action" |
        json_get 'j["output"]' | tr -d '\r' | grep "^NEPHELE-GUEST: reach $2 " |
        tail -n 1 | awk '{print $4}'
}
wait_reach() { # SERVER PEER STATE: wait (up to 40 s) until PEER's reachability is STATE
    local t=$SECONDS
    while [ $((SECONDS - t)) -lt 40 ]; do
        [ "$(last_reach "$1" "$2")" = "$3" ] && return 0
        sleep 1
    done
    return 1
}
groups_of() { os port show "$1" -f json -c security_group_ids | json_get '" ".join(j["security_group_ids"])'; }
SA=${SERVERS[0]} SB=${SERVERS[1]}
declare -A PORT
for s in "${SERVERS[@]}"; do
    PORT[$s]=$(os port list --server "$s" -f value -c ID 2>/dev/null | head -n 1)
    FILTERS+=("nephele-port-${PORT[$s]}")
done
DEFSG=$(groups_of "${PORT[$SA]}")
FILTERS+=("nephele-sg-$DEFSG")
check "both ports are in the project's default group ($DEFSG)" test "$(groups_of "${PORT[$SB]}")" = "$DEFSG"
check "libvirt has nwfilter nephele-sg-$DEFSG accepting IPv4 from the group's two ports" \
    bash -c "x=\$(virsh -c '$URI' nwfilter-dumpxml 'nephele-sg-$DEFSG') &&
        grep -q \"srcipaddr='${IP[$SA]}'\" <<<\"\$x\" && grep -q \"srcipaddr='${IP[$SB]}'\" <<<\"\$x\""
for s in "${SERVERS[@]}"; do
    check "libvirt has nwfilter nephele-port-${PORT[$s]} referencing nephele-sg-$DEFSG" \
        bash -c "virsh -c '$URI' nwfilter-dumpxml 'nephele-port-${PORT[$s]}' | grep -q \"<filterref filter='nephele-sg-$DEFSG'/>\""
    check "domain $s's interface has <filterref filter='nephele-port-${PORT[$s]}'/>" \
        bash -c "virsh -c '$URI' dumpxml '$s' | grep -q \"<filterref filter='nephele-port-${PORT[$s]}'\""
done
t0=$SECONDS
check "default group: guest a reaches b (its watch says ok)" wait_reach "$SA" "${IP[$SB]}" ok
check "default group: guest b reaches a" wait_reach "$SB" "${IP[$SA]}" ok
RULE=$(os security group rule list "$DEFSG" --long -f json 2>/dev/null |
    json_get '" ".join(r["ID"] for r in j if r["Direction"] == "ingress" and r["Ethertype"] == "IPv4")')
if [ -n "$RULE" ] && os security group rule delete "$RULE" 2>"$WORK/err"; then
    pass "deleted the default group's IPv4 ingress rule (from the group) $RULE"
else
    fail "the default group's IPv4 ingress rule '$RULE': $(tail -n 1 "$WORK/err")"
fi
check "without the ingress rule: guest a no longer reaches b" wait_reach "$SA" "${IP[$SB]}" lost
check "without the ingress rule: guest b no longer reaches a" wait_reach "$SB" "${IP[$SA]}" lost
check "security group rule create --ingress --protocol icmp --remote-group default" \
    os security group rule create --ingress --protocol icmp --remote-group "$DEFSG" "$DEFSG" -f value -c id
check "with ICMP from the group: guest a reaches b again" wait_reach "$SA" "${IP[$SB]}" ok
check "with ICMP from the group: guest b reaches a again" wait_reach "$SB" "${IP[$SA]}" ok
SG2=$(os security group create "guest-net-noicmp-$$" -f value -c id 2>"$WORK/err")
if [ -n "$SG2" ]; then
    SGS+=("$SG2")
    FILTERS+=("nephele-sg-$SG2")
    pass "security group create guest-net-noicmp-$$ ($SG2: egress rules only)"
else
    fail "security group create: $(tail -n 1 "$WORK/err")"
fi
check "port set --no-security-group --security-group $SG2 (guest b's port)" \
    os port set --no-security-group --security-group "$SG2" "${PORT[$SB]}"
check "nephele-sg-$DEFSG now accepts guest a's address and no longer guest b's" \
    bash -c "x=\$(virsh -c '$URI' nwfilter-dumpxml 'nephele-sg-$DEFSG') && grep -q \"srcipaddr='${IP[$SA]}'\" <<<\"\$x\" && ! grep -q \"srcipaddr='${IP[$SB]}'\" <<<\"\$x\""
check "b in a group without ingress: guest a no longer reaches b" wait_reach "$SA" "${IP[$SB]}" lost
check "b out of the default group: guest b no longer reaches a" wait_reach "$SB" "${IP[$SA]}" lost
check "security group rule create --ingress --protocol icmp --remote-ip 0.0.0.0/0 (b's group)" \
    os security group rule create --ingress --protocol icmp --remote-ip 0.0.0.0/0 "$SG2" -f value -c id
check "with ICMP into b's group: guest a reaches b again" wait_reach "$SA" "${IP[$SB]}" ok
check "guest b still does not reach a (a takes ICMP from the default group only)" \
    test "$(last_reach "$SB" "${IP[$SA]}")" = lost
# Port security off on a's (bound, running) port: its filter, the one a's interface references,
# becomes empty and b reaches a; on again with the default group, b is refused again.
check "port set --no-security-group --disable-port-security (guest a's port)" \
    os port set --no-security-group --disable-port-security "${PORT[$SA]}"
check "libvirt's nwfilter nephele-port-${PORT[$SA]} has no rule left" \
    bash -c "! virsh -c '$URI' nwfilter-dumpxml 'nephele-port-${PORT[$SA]}' | grep -q '<rule\\|<filterref'"
check "a without port security: guest b reaches a" wait_reach "$SB" "${IP[$SA]}" ok
check "port set --enable-port-security --security-group default (guest a's port)" \
    os port set --enable-port-security --security-group "$DEFSG" "${PORT[$SA]}"
check "a with port security again: guest b no longer reaches a" wait_reach "$SB" "${IP[$SA]}" lost
check "a with port security again: guest a still reaches b" wait_reach "$SA" "${IP[$SB]}" ok
nph_log "security group checks took $((SECONDS - t0)) s"

# Deleting: the servers' domains, then the network in libvirt.
for s in "${SERVERS[@]}"; do
    if timeout 120 "$NPH_OPENSTACK" server delete --wait "$s" 2>"$WORK/err"; then
        pass "server $s deleted"
    else
        fail "server delete $s: $(tail -n 1 "$WORK/err")"
    fi
done
check "the domains are gone from libvirt" \
    bash -c "! virsh -q -c '$URI' list --all --uuid | grep -qx -e '${SERVERS[0]}' -e '${SERVERS[1]}'"
SERVERS=()
check "the ports went with the servers: no host entries left in nephele-$NET" \
    bash -c "! virsh -c '$URI' net-dumpxml 'nephele-$NET' | grep -q '<host '"
if os security group delete "$SG2" "$DEFSG" 2>"$WORK/err"; then
    pass "security group delete (both groups)"
    SGS=()
else
    fail "security group delete: $(tail -n 1 "$WORK/err")"
fi
check "libvirt has none of the test's nwfilters left (groups and ports)" \
    bash -c "! virsh -q -c '$URI' nwfilter-list | awk '{print \$2}' | grep -qx -e '${FILTERS[0]}' -e '${FILTERS[1]}' -e '${FILTERS[2]}' -e 'nephele-sg-$SG2'"
FILTERS=()
if os network delete "$NET" 2>"$WORK/err"; then
    pass "openstack network delete"
    check "libvirt network nephele-$NET is gone" \
        bash -c "! virsh -c '$URI' net-info 'nephele-$NET' >/dev/null 2>&1"
    NET=
else
    fail "openstack network delete: $(tail -n 1 "$WORK/err")"
fi
finish

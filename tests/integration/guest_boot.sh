#!/usr/bin/env bash
# guest_boot.sh - a real guest booted by Nephele's native compute service under TCG: the server
# boots on qemu:///system (libvirtd started by tests/integration/guest/libvirtd.sh) from images
# uploaded through Nephele's Glance v2 API, and its console output shows the guest's own boot
# lines through `openstack console log show`.
#
# What Nephele must support for this test (all through the stock openstack client 6.0):
#   Image service, /image/v2 (in the catalog as type "image"):
#     - POST /v2/images + PUT /v2/images/{id}/file for three images, with arbitrary extra
#       properties (openstacksdk adds owner_specified.openstack.{md5,sha256,object}):
#         nephele-guest-kernel   disk_format aki, container_format aki  (a bzImage)
#         nephele-guest-ramdisk  disk_format ari, container_format ari  (a gzip'd cpio)
#         nephele-guest          disk_format qcow2, container_format bare (a 16 MiB empty qcow2)
#                                properties kernel_id=<kernel image id>,
#                                ramdisk_id=<ramdisk image id>,
#                                os_command_line="console=ttyS0 nephele.name=nephele-guest"
#       If aki/ari are refused, the test retries them as raw/bare and says so: the boot only
#       depends on kernel_id/ramdisk_id, as in Nova.
#     - GET /v2/images/{id}, DELETE /v2/images/{id}.
#   Compute service, /compute/v2.1 (in the catalog as type "compute"), microversion 2.37:
#     - POST /flavors (admin) for a 192 MiB / 1 vCPU / 1 GB flavor; if that fails the smallest
#       existing flavor with at least 128 MiB RAM is used.
#     - POST /servers {"server": {"imageRef", "flavorRef", "networks": "none", "name"}}, then
#       GET /servers/{id} until status ACTIVE (openstack server create --wait): the root-disk
#       image names kernel_id/ramdisk_id, so the domain is booted directly from that kernel and
#       initramfs (Nova's libvirt driver does the same) with <cmdline> = os_command_line, which
#       is checked apart (the guest names itself after nephele.name=); any command line with
#       console=ttyS0 last, such as Nova's default "root=/dev/vda console=tty0 console=ttyS0",
#       boots this guest and passes the boot check itself.
#       The domain must look like tests/integration/guest/reference-domain.xml: type qemu (TCG,
#       no KVM here), <features><acpi/></features>, no <graphics>, the serial console logged to
#       a file by virtlogd, and the kernel, initramfs and disk in files the qemu process (user
#       libvirt-qemu under Debian's qemu.conf) can reach - note that the broker creates its data
#       directory with mode 0700.
#     - POST /servers/{id}/action {"os-getConsoleOutput": {"length": null}} answering
#       {"output": "<the serial console log>"} (openstack console log show).
#     - DELETE /servers/{id}, then GET /servers/{id} answering 404 once the domain is gone
#       (openstack server delete --wait).
#   Soft expectations (reported as notes, not failures): the domain's UUID is the server id, as
#   in Nova (the guest prints the SMBIOS UUID it sees), and the domain is gone from libvirt
#   after the delete.
#
# Skips (prints "SKIP: <reason>" and exits 0) while the broker does not answer on /compute/v2.1
# or /image/v2 (the compute and image APIs are not built yet), and where libvirtd cannot start.
# Environment: NEPHELE_BIN, NEPHELE_GUEST_DIR (guest cache, default /var/tmp/nephele-guest),
# GUEST_BOOT_TIMEOUT (seconds for the console line, default 120), NEPHELE_KEEP_LIBVIRTD=1.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
GUEST=${NEPHELE_GUEST_DIR:-/var/tmp/nephele-guest}
TIMEOUT=${GUEST_BOOT_TIMEOUT:-120}
URI=qemu:///system
os() { "$NPH_OPENSTACK" "$@"; }
skip() {
    echo "SKIP: guest_boot: $*"
    [ -n "$NPH_PID" ] && nph_stop
    exit 0
}

# 1. Do the compute and image APIs exist yet? Ask a broker on the default (test) hypervisor.
api_missing() { # prints what is missing, if anything
    local tok c i
    tok=$(os token issue -f value -c id 2>/dev/null) || { echo "no token from the broker"; return; }
    c=$(nph_status -H "X-Auth-Token: $tok" "$NPH_URL/compute/v2.1/flavors")
    i=$(nph_status -H "X-Auth-Token: $tok" "$NPH_URL/image/v2/images")
    case $c in 000 | 404 | 501) echo -n "GET /compute/v2.1/flavors answers $c; " ;; esac
    case $i in 000 | 404 | 501) echo -n "GET /image/v2/images answers $i; " ;; esac
}
nph_start guest-boot-probe || exit 1
missing=$(api_missing)
nph_stop || fail "probe broker stopped gracefully"
if [ -n "$missing" ]; then
    files=
    for f in broker/compat_nova.c broker/compat_glance.c; do
        [ -e "$NPH_REPO_ROOT/$f" ] || files="$files $f"
    done
    skip "the compute or image API is not there yet (${missing%; }${files:+; not in the tree:$files})"
fi

# 2. libvirtd and the guest.
export NEPHELE_LIBVIRTD_STATE=${NEPHELE_LIBVIRTD_STATE:-/run/nephele-test-libvirtd.pids}
ours_libvirtd=0
[ -s "$NEPHELE_LIBVIRTD_STATE" ] || ours_libvirtd=1
out=$("$HERE/guest/libvirtd.sh" start)
rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
if [ $rc -eq 77 ]; then
    skip "$(printf '%s\n' "$out" | sed -n 's/^SKIP: //p')"
elif [ $rc -ne 0 ]; then
    fail "libvirtd.sh start (exit $rc)"
    nph_summary
fi
stop_libvirtd() {
    if [ "$ours_libvirtd" = 1 ] && [ -z "${NEPHELE_KEEP_LIBVIRTD:-}" ]; then
        "$HERE/guest/libvirtd.sh" stop | sed 's/^/# /'
    fi
}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nephele-guestboot.XXXXXX")
SERVER='' IMAGES=() FLAVOR_CREATED=''
cleanup() {
    local rc=$?
    if [ -n "$NPH_PID" ]; then
        [ -n "$SERVER" ] && timeout 120 "$NPH_OPENSTACK" server delete --wait "$SERVER" >/dev/null 2>&1
        for i in "${IMAGES[@]}"; do "$NPH_OPENSTACK" image delete "$i" >/dev/null 2>&1; done
        [ -n "$FLAVOR_CREATED" ] && "$NPH_OPENSTACK" flavor delete "$FLAVOR_CREATED" >/dev/null 2>&1
        nph_stop
    fi
    # The broker's instances pool is defined in libvirtd for its data directory, which is gone
    # now: remove the definition so runs do not pile up stale pools.
    local pool
    if [ -n "${GUEST_DATA:-}" ]; then
        for pool in $(virsh -q -c "$URI" pool-list --all --name 2>/dev/null | grep '^nephele-instances'); do
            if virsh -c "$URI" pool-dumpxml "$pool" 2>/dev/null | grep -q "<path>$GUEST_DATA/"; then
                virsh -c "$URI" pool-destroy "$pool" >/dev/null 2>&1
                virsh -c "$URI" pool-undefine "$pool" >/dev/null 2>&1
            fi
        done
    fi
    if [ -n "$SERVER" ]; then # a server the broker could not delete: its domain, if named by id
        virsh -c "$URI" destroy "$SERVER" >/dev/null 2>&1
        virsh -c "$URI" undefine "$SERVER" >/dev/null 2>&1
    fi
    rm -rf "$WORK"
    stop_libvirtd
    return $rc
}
trap cleanup EXIT
# finish: delete what the test created through the API while the broker still runs, then the
# summary (which stops the broker).
finish() {
    if [ -n "$NPH_PID" ]; then
        [ -n "$SERVER" ] && timeout 120 "$NPH_OPENSTACK" server delete --wait "$SERVER" >/dev/null 2>&1 && SERVER=
        for i in "${IMAGES[@]}"; do "$NPH_OPENSTACK" image delete "$i" >/dev/null 2>&1; done
        IMAGES=()
        [ -n "$FLAVOR_CREATED" ] && "$NPH_OPENSTACK" flavor delete "$FLAVOR_CREATED" >/dev/null 2>&1
        FLAVOR_CREATED=
    fi
    nph_summary
}
if "$HERE/guest/make-guest.sh" "$GUEST" | sed 's/^/# /' && [ -s "$GUEST/initrd.img" ]; then
    pass "guest kernel and initramfs ready in $GUEST"
else
    fail "building the guest (make-guest.sh)"
    finish
fi
qemu-img create -q -f qcow2 "$WORK/root.qcow2" 16M || { fail "qemu-img create"; finish; }

# 3. The broker on qemu:///system.
export NEPHELE_COMPUTE_LIBVIRT_URI=$URI
nph_start guest-boot || { fail "starting the broker on $URI"; finish; }
GUEST_DATA=$NPH_DATA
for t in compute image; do
    if os catalog show "$t" >/dev/null 2>&1; then
        pass "the catalog lists the $t service"
    else
        fail "the catalog lists the $t service"
        finish
    fi
done

# 4. Images: kernel, ramdisk, and the root disk that names them.
upload() { # NAME FILE DISK_FORMAT CONTAINER_FORMAT [extra args]: prints the id
    local name=$1 file=$2 df=$3 cf=$4
    shift 4
    os image create "$name" --file "$file" --disk-format "$df" --container-format "$cf" \
        "$@" -f value -c id
}
KERNEL=$(upload nephele-guest-kernel "$GUEST/vmlinuz" aki aki 2>"$WORK/err") ||
    { nph_log "aki refused ($(tail -n 1 "$WORK/err")); uploading the kernel as raw";
      KERNEL=$(upload nephele-guest-kernel "$GUEST/vmlinuz" raw bare 2>"$WORK/err"); }
[ -n "$KERNEL" ] && IMAGES+=("$KERNEL")
RAMDISK=$(upload nephele-guest-ramdisk "$GUEST/initrd.img" ari ari 2>"$WORK/err") ||
    { nph_log "ari refused ($(tail -n 1 "$WORK/err")); uploading the ramdisk as raw";
      RAMDISK=$(upload nephele-guest-ramdisk "$GUEST/initrd.img" raw bare 2>"$WORK/err"); }
[ -n "$RAMDISK" ] && IMAGES+=("$RAMDISK")
if [ -n "$KERNEL" ] && [ -n "$RAMDISK" ]; then
    pass "kernel ($KERNEL) and ramdisk ($RAMDISK) uploaded"
else
    fail "uploading the kernel and ramdisk: $(cat "$WORK/err")"
    finish
fi
IMAGE=$(upload nephele-guest "$WORK/root.qcow2" qcow2 bare --property "kernel_id=$KERNEL" \
    --property "ramdisk_id=$RAMDISK" \
    --property "os_command_line=console=ttyS0 nephele.name=nephele-guest" 2>"$WORK/err")
if [ -n "$IMAGE" ]; then
    IMAGES+=("$IMAGE")
    pass "root image $IMAGE uploaded with kernel_id, ramdisk_id and os_command_line"
else
    fail "uploading the root image: $(cat "$WORK/err")"
    finish
fi
check "the root image is active and keeps kernel_id" \
    bash -c "'$NPH_OPENSTACK' image show '$IMAGE' -f json |
        '$NPH_PYTHON' -c 'import json,sys; i=json.load(sys.stdin); p=i.get(\"properties\") or {}
assert i[\"status\"] == \"active\", i[\"status\"]
assert (p.get(\"kernel_id\") or i.get(\"kernel_id\")) == \"$KERNEL\", i'"

# 5. A flavor.
FLAVOR=$(os flavor create --ram 192 --vcpus 1 --disk 1 "nephele-guest-$$" -f value -c id 2>/dev/null)
if [ -n "$FLAVOR" ]; then
    FLAVOR_CREATED=$FLAVOR
else
    FLAVOR=$(os flavor list -f json 2>/dev/null | "$NPH_PYTHON" -c 'import json, sys
f = sorted((x for x in json.load(sys.stdin) if x["RAM"] >= 128), key=lambda x: (x["RAM"], x["VCPUs"]))
print(f[0]["ID"] if f else "")')
fi
if [ -n "$FLAVOR" ]; then
    pass "flavor $FLAVOR${FLAVOR_CREATED:+ (created)}"
else
    fail "no flavor: flavor create failed and no flavor has 128 MiB or more"
    finish
fi

# 6. Boot, read the console, delete.
virsh_before=$(virsh -q -c "$URI" list --all --uuid 2>/dev/null | sort)
t0=$SECONDS
SERVER=$(timeout 240 "$NPH_OPENSTACK" --os-compute-api-version 2.37 server create \
    --image "$IMAGE" --flavor "$FLAVOR" --nic none --wait "guest-boot-$$" \
    -f value -c id 2>"$WORK/err")
# On a failed build the client prints "Error creating server" where the id would be.
[[ "$SERVER" =~ ^[0-9a-f-]{32,36}$ ]] || SERVER=
[ -z "$SERVER" ] && SERVER=$(os server show "guest-boot-$$" -f value -c id 2>/dev/null)
[[ "$SERVER" =~ ^[0-9a-f-]{32,36}$ ]] || SERVER=
status=$(os server show "${SERVER:-guest-boot-$$}" -f value -c status 2>/dev/null)
if [ "$status" = ACTIVE ]; then
    pass "server $SERVER ACTIVE after $((SECONDS - t0)) s (openstack server create --wait)"
else
    fail "server create --wait: status '${status:-none}'; $(tail -n 3 "$WORK/err")"
    [ -n "$SERVER" ] && os server show "$SERVER" -f value -c fault 2>/dev/null | sed 's/^/     | /'
    tail -n 20 "$NPH_LOG" | sed 's/^/     | /'
    finish
fi
virsh_after=$(virsh -q -c "$URI" list --all --uuid 2>/dev/null | sort)
new_domains=$(comm -13 <(echo "$virsh_before") <(echo "$virsh_after") | grep -c . || true)
if [ "$new_domains" -ge 1 ]; then
    pass "a new domain runs on $URI"
else
    fail "no new domain on $URI after the server became ACTIVE"
fi

t0=$SECONDS
console=
while [ $((SECONDS - t0)) -lt "$TIMEOUT" ]; do
    console=$(os console log show "$SERVER" 2>"$WORK/err" | tr -d '\r')
    printf '%s\n' "$console" | grep -q '^NEPHELE-GUEST: ready' && break
    sleep 2
done
if printf '%s\n' "$console" | grep -q '^NEPHELE-GUEST: booted '; then
    pass "openstack console log show has the guest's boot line ($((SECONDS - t0)) s after ACTIVE)"
    printf '%s\n' "$console" | grep -E '^(NEPHELE-GUEST|Linux )' | sed 's/^/     | /'
else
    fail "no 'NEPHELE-GUEST: booted' in openstack console log show within $TIMEOUT s" \
        "($(tail -n 1 "$WORK/err")); the last lines:"
    printf '%s\n' "$console" | tail -n 20 | sed 's/^/     | /'
fi
check "the console shows the guest kernel's uname -a" \
    bash -c "printf '%s\n' \"\$1\" | grep -q '^Linux .* x86_64 GNU/Linux'" _ "$console"
check "the kernel command line is the image's os_command_line" \
    bash -c "printf '%s\n' \"\$1\" | grep -q '^NEPHELE-GUEST: booted nephele-guest '" _ "$console"
check "console log show --lines 3 returns at most 3 lines" \
    bash -c "[ \$('$NPH_OPENSTACK' console log show --lines 3 '$SERVER' | grep -c .) -le 3 ]"
if printf '%s\n' "$console" | grep -qi "uuid=$SERVER"; then
    nph_log "note: the domain UUID is the server id (as in Nova)"
else
    nph_log "note: the guest's SMBIOS UUID is not the server id (Nova uses the server id)"
fi

if timeout 120 "$NPH_OPENSTACK" server delete --wait "$SERVER" 2>"$WORK/err"; then
    pass "server deleted (openstack server delete --wait)"
    if virsh -q -c "$URI" list --all --uuid 2>/dev/null | grep -qx "$SERVER"; then
        fail "the domain $SERVER is still defined in libvirt after the delete"
    fi
    left=$(comm -13 <(echo "$virsh_before") \
        <(virsh -q -c "$URI" list --all --uuid 2>/dev/null | sort) | grep -c . || true)
    [ "$left" = 0 ] || nph_log "note: $left domain(s) created during the test still exist in libvirt"
    SERVER=
else
    fail "server delete --wait: $(tail -n 2 "$WORK/err")"
fi
for i in "${IMAGES[@]}"; do os image delete "$i" >/dev/null 2>&1 || fail "image delete $i"; done
IMAGES=()
if [ -n "$FLAVOR_CREATED" ]; then
    os flavor delete "$FLAVOR_CREATED" >/dev/null 2>&1 || fail "flavor delete $FLAVOR_CREATED"
    FLAVOR_CREATED=
fi
nph_summary

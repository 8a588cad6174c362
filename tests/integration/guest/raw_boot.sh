#!/usr/bin/env bash
# raw_boot.sh - prove that the test guest (make-guest.sh) boots by itself under TCG on
# qemu:///system, with exactly the domain XML in reference-domain.xml, without Nephele:
#   1. start libvirtd if needed (libvirtd.sh; SKIP with the reason and exit 0 if it cannot start)
#   2. build or reuse the guest in $NEPHELE_GUEST_DIR (default /var/tmp/nephele-guest)
#   3. define + start a domain (direct kernel boot, 192 MiB, a qcow2 root disk, serial console
#      logged to a file by virtlogd), wait up to $RAW_BOOT_TIMEOUT s (90) for
#      "NEPHELE-GUEST: booted" in the serial log and check the uname line and the SMBIOS uuid
#   4. destroy + undefine it; boot again with `nephele.poweroff` on the command line and require
#      the guest to power itself off (ACPI) within the same limit
# Stops the libvirt daemons it started (unless NEPHELE_KEEP_LIBVIRTD=1).
# Prints "N passed, M failed"; exit 1 if anything failed.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
URI=qemu:///system
TIMEOUT=${RAW_BOOT_TIMEOUT:-90}
GUEST=${NEPHELE_GUEST_DIR:-/var/tmp/nephele-guest}
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
vsh() { virsh -q -c "$URI" "$@"; }

export NEPHELE_LIBVIRTD_STATE=${NEPHELE_LIBVIRTD_STATE:-/run/nephele-test-libvirtd.pids}
ours_libvirtd=0
[ -s "$NEPHELE_LIBVIRTD_STATE" ] || ours_libvirtd=1
out=$("$HERE/libvirtd.sh" start)
rc=$?
echo "$out"
if [ $rc -eq 77 ]; then
    echo "SKIP: raw TCG boot: $(echo "$out" | sed -n 's/^SKIP: //p')"
    exit 0
elif [ $rc -ne 0 ]; then
    echo "FAIL libvirtd.sh start (exit $rc)"
    exit 1
fi
"$HERE/make-guest.sh" "$GUEST" || { echo "FAIL building the guest"; exit 1; }

WORK=$(mktemp -d /var/tmp/nephele-rawboot.XXXXXX)
chmod 755 "$WORK" # the qemu process runs as libvirt-qemu and must reach the disk
NAME=nephele-rawboot-$$
cleanup() {
    vsh destroy "$NAME" >/dev/null 2>&1
    vsh undefine "$NAME" >/dev/null 2>&1
    rm -rf "$WORK"
    if [ "$ours_libvirtd" = 1 ] && [ -z "${NEPHELE_KEEP_LIBVIRTD:-}" ]; then
        "$HERE/libvirtd.sh" stop
    fi
}
trap cleanup EXIT

qemu-img create -q -f qcow2 "$WORK/disk.qcow2" 64M || { echo "FAIL qemu-img create"; exit 1; }

# boot CMDLINE: define and start the domain from reference-domain.xml; sets UUID, LOG, T0.
boot() {
    UUID=$(cat /proc/sys/kernel/random/uuid)
    LOG=$WORK/console-$UUID.log
    sed -e "s|@NAME@|$NAME|; s|@UUID@|$UUID|; s|@MEMORY_MIB@|192|; s|@VCPUS@|1|" \
        -e "s|@KERNEL@|$GUEST/vmlinuz|; s|@INITRD@|$GUEST/initrd.img|; s|@CMDLINE@|$1|" \
        -e "s|@DISK@|$WORK/disk.qcow2|; s|@CONSOLE_LOG@|$LOG|" \
        "$HERE/reference-domain.xml" >"$WORK/domain.xml"
    vsh define "$WORK/domain.xml" >/dev/null || return 1
    T0=$(date +%s%N)
    vsh start "$NAME" >/dev/null || { vsh undefine "$NAME" >/dev/null 2>&1; return 1; }
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# 1. boot and look for the guest's own lines
cmdline="$(cat "$GUEST/cmdline") nephele.name=rawboot"
if boot "$cmdline"; then
    pass "domain defined and started (direct kernel boot, type qemu/TCG)"
    deadline=$((SECONDS + TIMEOUT))
    while [ $SECONDS -lt $deadline ] && ! grep -q 'NEPHELE-GUEST: ready' "$LOG" 2>/dev/null; do
        sleep 0.2
    done
    t=$(ms_since "$T0")
    if grep -q '^NEPHELE-GUEST: booted rawboot' "$LOG" 2>/dev/null; then
        pass "guest printed its boot line on the serial console after $t ms"
    else
        fail "no 'NEPHELE-GUEST: booted' within $TIMEOUT s; console log:"
        tail -n 30 "$LOG" 2>/dev/null | sed 's/^/     | /'
    fi
    if grep -q "uuid=$UUID" "$LOG" 2>/dev/null; then
        pass "guest sees the domain UUID through SMBIOS"
    else
        fail "guest did not print uuid=$UUID"
    fi
    if grep -q '^Linux rawboot .* x86_64 GNU/Linux' "$LOG" 2>/dev/null; then
        pass "guest printed uname -a: $(grep -m1 '^Linux rawboot' "$LOG" | tr -d '\r')"
    else
        fail "no uname -a line in the console log"
    fi
    grep -a 'NEPHELE-GUEST' "$LOG" | tr -d '\r' | sed 's/^/     | /'
    if vsh destroy "$NAME" >/dev/null && vsh undefine "$NAME" >/dev/null; then
        pass "domain destroyed and undefined"
    else
        fail "destroy/undefine"
    fi
else
    fail "define/start of reference-domain.xml:"
    sed 's/^/     | /' "$WORK/domain.xml"
fi

# 2. a guest that powers itself off: ACPI works and the domain ends by itself
if boot "$cmdline nephele.poweroff"; then
    deadline=$((SECONDS + TIMEOUT))
    state=
    while [ $SECONDS -lt $deadline ]; do
        state=$(vsh domstate "$NAME" 2>/dev/null)
        [ "$state" = "shut off" ] && break
        sleep 0.5
    done
    if [ "$state" = "shut off" ]; then
        pass "guest powered itself off after $(ms_since "$T0") ms (domain shut off)"
    else
        fail "guest with nephele.poweroff still '$state' after $TIMEOUT s"
        tail -n 10 "$LOG" 2>/dev/null | sed 's/^/     | /'
    fi
    vsh destroy "$NAME" >/dev/null 2>&1
    vsh undefine "$NAME" >/dev/null 2>&1
else
    fail "second boot (poweroff)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# make-guest.sh OUTDIR - build the test guest that Nephele's real-VM tests boot under TCG:
#   OUTDIR/vmlinuz     Debian's own kernel (the image of the linux-image-amd64 package, taken with
#                      `apt-get download` + `dpkg-deb -x`: nothing is installed into /boot)
#   OUTDIR/initrd.img  a gzip'd newc cpio initramfs built here around Debian's busybox-static, whose
#                      /init mounts proc, sys and dev, prints on /dev/console (ttyS0 with
#                      console=ttyS0)
#                         NEPHELE-GUEST: booted <name> uuid=<SMBIOS uuid>
#                         Linux ... (uname -a)
#                         NEPHELE-GUEST: ready
#                      and then sleeps forever; with `nephele.poweroff` on the kernel command line
#                      it powers the guest off instead.
#                      Networking: the kernel's virtio-net modules (virtio_ring, virtio,
#                      virtio_pci*, failover, net_failover, virtio_net: Debian builds them as
#                      modules) are in the initramfs and loaded at boot; when an eth0 appears,
#                      busybox udhcpc asks for an address (its "lease of A obtained" line goes to
#                      the console) and the guest prints
#                         NEPHELE-GUEST: dhcp eth0 <mac> <address>/<netmask>
#                      (or "NEPHELE-GUEST: dhcp eth0 failed"); with nephele.ping=A,B,... it then
#                      pings each of those addresses that is not its own until one answers (up
#                      to 90 tries of 2 s) and prints busybox ping's reply line and
#                         NEPHELE-GUEST: ping <address> ok      (or "... failed") <name> is nephele.name=NAME or hostname=NAME
#                      from the command line, else the kernel's nodename.
#                      With nephele.watch it then keeps pinging those peers (one try of 1 s each,
#                      every second) and prints each change of reachability:
#                         NEPHELE-GUEST: reach <address> ok|lost <try number>
#   OUTDIR/cmdline     the kernel command line to boot it with ("console=ttyS0 ...")
#   OUTDIR/inputs      what the artefacts were built from (package versions, hash)
# Idempotent: the artefacts are rebuilt only when the hash of the inputs (this script, the kernel
# and busybox package versions) changes. Needs apt-get (download only), dpkg-deb, cpio, gzip.
# Exit status: 0 built or cached; 1 on error (with the reason on stderr).
set -euo pipefail
OUT=${1:?usage: make-guest.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
die() { echo "make-guest.sh: $*" >&2; exit 1; }
for t in apt-get apt-cache dpkg-deb cpio gzip sha256sum; do
    command -v "$t" >/dev/null || die "$t is missing (scripts/install-deps.sh --test installs cpio)"
done

# The concrete kernel package behind the linux-image-amd64 metapackage (linux-image-6.1.0-N-amd64).
KPKG=${NEPHELE_GUEST_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ {print $2; exit}')}
[ -n "$KPKG" ] || die "apt-cache knows no linux-image-amd64 (run apt-get update)"
KVER=$(apt-cache policy "$KPKG" | awk '/Candidate:/ {print $2; exit}')
BVER=$(apt-cache policy busybox-static | awk '/Candidate:/ {print $2; exit}')
[ -n "$KVER" ] && [ "$KVER" != "(none)" ] || die "no candidate version of $KPKG"
[ -n "$BVER" ] && [ "$BVER" != "(none)" ] || die "no candidate version of busybox-static"
HASH=$( { sha256sum <"$0"; echo "$KPKG $KVER busybox-static $BVER"; } | sha256sum | cut -c1-16)
if [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.img" ] && [ -s "$OUT/cmdline" ] &&
    grep -qx "hash=$HASH" "$OUT/inputs" 2>/dev/null; then
    echo "make-guest.sh: cached in $OUT ($KPKG $KVER, busybox-static $BVER)"
    exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nephele-guest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
echo "make-guest.sh: downloading $KPKG=$KVER and busybox-static=$BVER" >&2
apt-get download -q "$KPKG=$KVER" "busybox-static=$BVER" >apt.log 2>&1 ||
    { cat apt.log >&2; die "apt-get download failed"; }
dpkg-deb -x ./"${KPKG}"_*.deb kernel
dpkg-deb -x ./busybox-static_*.deb busybox
vmlinuz=$(ls kernel/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$vmlinuz" ] || die "no boot/vmlinuz-* in $KPKG"
bb=busybox/bin/busybox
kmods=$(ls -d kernel/lib/modules/* 2>/dev/null | head -n 1)
[ -n "$kmods" ] || die "no lib/modules/* in $KPKG"
[ -x "$bb" ] || die "no bin/busybox in busybox-static"
if ldd "$bb" >/dev/null 2>&1; then die "$bb is not static"; fi

# The initramfs: busybox, its applets installed at boot, and /init.
R=$WORK/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root}
cp "$bb" "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
# virtio-net and what it needs, in load order (uncompressed .ko in Debian 12's packages)
mkdir -p "$R/lib/modules"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover \
    net_failover virtio_net; do
    f=$(find "$kmods" -name "$m.ko" | head -n 1)
    [ -n "$f" ] || die "module $m.ko is not in $KPKG"
    cp "$f" "$R/lib/modules/"
    echo "$m" >>"$R/lib/modules/order"
done
cat >"$R/etc/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc's hook: configure the leased address (busybox passes ip, subnet, router)
case $1 in
    deconfig) ifconfig "$interface" 0.0.0.0 up ;;
    bound | renew)
        ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
        echo "$ip/${subnet:-255.255.255.0}" >/tmp/lease
        ;;
esac
exit 0
EOF
chmod 755 "$R/etc/udhcpc.script"
cat >"$R/init" <<'EOF'
#!/bin/sh
# Nephele test guest: say who we are on the console, then idle (or power off on request).
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
name=
for w in $(cat /proc/cmdline); do
    case $w in
        nephele.name=*) name=${w#nephele.name=} ;;
        hostname=*) [ -n "$name" ] || name=${w#hostname=} ;;
    esac
done
[ -n "$name" ] || name=$(uname -n)
hostname "$name" 2>/dev/null
uuid=$(cat /sys/class/dmi/id/product_uuid 2>/dev/null || echo unknown)
echo "NEPHELE-GUEST: booted $name uuid=$uuid"
uname -a
echo "NEPHELE-GUEST: cmdline $(cat /proc/cmdline)"
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m.ko" 2>/dev/null; done
ifconfig lo 127.0.0.1 up 2>/dev/null
own=
peers=
if [ -e /sys/class/net/eth0 ]; then
    mac=$(cat /sys/class/net/eth0/address)
    ifconfig eth0 up
    if udhcpc -i eth0 -n -q -t 10 -T 2 -s /etc/udhcpc.script && [ -s /tmp/lease ]; then
        echo "NEPHELE-GUEST: dhcp eth0 $mac $(cat /tmp/lease)"
        own=$(cut -d/ -f1 /tmp/lease)
        peers=
        for w in $(cat /proc/cmdline); do
            case $w in nephele.ping=*) peers=$(echo "${w#nephele.ping=}" | tr , ' ') ;; esac
        done
        for p in $peers; do
            [ "$p" = "$own" ] && continue
            ok=
            for i in $(seq 90); do
                if out=$(ping -c 1 -W 2 "$p" 2>&1); then ok=1; break; fi
                sleep 1
            done
            echo "$out" | grep 'bytes from'
            if [ -n "$ok" ]; then echo "NEPHELE-GUEST: ping $p ok"; else echo "NEPHELE-GUEST: ping $p failed"; fi
        done
    else
        echo "NEPHELE-GUEST: dhcp eth0 failed"
    fi
fi
echo "NEPHELE-GUEST: ready"
case " $(cat /proc/cmdline) " in
    *" nephele.poweroff "*) echo "NEPHELE-GUEST: powering off"; sync; poweroff -f ;;
esac
case " $(cat /proc/cmdline) " in
    *" nephele.watch "*)
        n=0
        while [ -n "$own" ]; do
            n=$((n + 1))
            for p in $peers; do
                [ "$p" = "$own" ] && continue
                if ping -c 1 -W 1 "$p" >/dev/null 2>&1; then s=ok; else s=lost; fi
                k=st_$(echo "$p" | tr .: __)
                eval "o=\${$k:-}"
                [ "$s" = "$o" ] || echo "NEPHELE-GUEST: reach $p $s $n"
                eval "$k=$s"
            done
            sleep 1
        done ;;
esac
while :; do sleep 3600; done
EOF
chmod 755 "$R/init"
# The kernel opens /dev/console before running /init: give it one in the archive when we can.
mknod -m 600 "$R/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$R/dev/null" c 1 3 2>/dev/null || true
(cd "$R" && find . -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc -R 0:0 --quiet) | gzip -9n >initrd.img

install -m 644 "$vmlinuz" "$OUT/vmlinuz.tmp" && mv -f "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
install -m 644 initrd.img "$OUT/initrd.img.tmp" && mv -f "$OUT/initrd.img.tmp" "$OUT/initrd.img"
echo "console=ttyS0 panic=-1 quiet loglevel=4" >"$OUT/cmdline"
{
    echo "kernel=$KPKG $KVER ($(basename "$vmlinuz"))"
    echo "busybox=busybox-static $BVER"
    echo "hash=$HASH"
} >"$OUT/inputs"
echo "make-guest.sh: built $OUT/vmlinuz ($(stat -c %s "$OUT/vmlinuz") B) and" \
    "$OUT/initrd.img ($(stat -c %s "$OUT/initrd.img") B) from $KPKG $KVER, busybox-static $BVER"

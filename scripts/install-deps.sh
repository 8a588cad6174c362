#!/usr/bin/env bash
# install-deps.sh - install what Nephele needs on Debian 12, from Debian's archive only.
#   scripts/install-deps.sh          build and run dependencies
#   scripts/install-deps.sh --test   plus what the test suite drives: PostgreSQL, the OpenStack
#                                    client, Tempest, clang-format, and libvirtd + QEMU for the
#                                    real-guest test (tests/integration/guest/: its kernel and
#                                    busybox-static are fetched with apt-get download, not installed)
set -euo pipefail
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
pkgs=(build-essential cmake pkg-config git curl ca-certificates
      libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev libpq-dev
      libyaml-dev libvirt-dev libxml2-dev libcmocka-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(postgresql python3-openstackclient tempest keystone-tempest-plugin python3-subunit
         python3-testtools python3-yaml clang-format clang chromium procps
         libvirt-daemon-system qemu-system-x86 qemu-utils cpio dnsmasq-base iptables)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    "${missing[@]}" >&2
fi

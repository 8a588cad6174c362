#!/usr/bin/env bash
# network.sh - run Tempest's network tests of the OpenStack Powered interop guideline 2022.11
# (interop-2022.11-platform-network.txt) against a fresh Nephele's Neutron v2.0 compatible API,
# with static credentials for a member user (demo), an alternate user (alt) and the admin (set
# up as in image.sh). TEMPEST_SERVICES=identity,network: the tests that also need Nova skip.
#
# Pass criterion: at least TEMPEST_MIN_PASS tests passed (default 80: all 80 distinct tests,
# subnet pools included since the subnet_allocation extension landed) and none failed.
# 2026-11: 79 passed, 0 failed, 1 skipped (about 2 minutes of Tempest on an idle machine, 18 on
# a loaded one).
# Results: $TEMPEST_OUT (default a fresh /tmp/nephele-tempest.*).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
LIST=${TEMPEST_LIST:-$HERE/interop-2022.11-platform-network.txt} # TEMPEST_LIST: a shorter list, by hand

nph_start tempest-network || exit 1

os() { "$NPH_OPENSTACK" "$@"; }
pw() { "$NPH_PYTHON" -c 'import secrets; print(secrets.token_urlsafe(12))'; }
DEMO_PW=$(pw) ALT_PW=$(pw)
for u in demo alt; do
  p=DEMO_PW; [ $u = alt ] && p=ALT_PW
  os project create "$u" -f value -c id >/dev/null &&
    os user create --password="${!p}" "$u" -f value -c id >/dev/null &&
    os role add --user "$u" --project "$u" member || { fail "creating the $u account"; nph_summary; }
done

# An external network for the floating IP and router gateway tests (the harness finds it as
# public_network_id), and the IPv6 subnet attributes on for the DHCPv6 tests.
os network create --external public >/dev/null &&
  os subnet create --network public --subnet-range 172.24.4.0/24 --no-dhcp public-subnet \
    >/dev/null || { fail "creating the external network"; nph_summary; }
EXTRA=$(mktemp)
printf '[network-feature-enabled]\nipv6_subnet_attributes = True\nipv6 = True\n' >"$EXTRA"
export TEMPEST_EXTRA_CONF=$EXTRA

export OS_ADMIN_USERNAME=admin OS_ADMIN_PASSWORD=$OS_PASSWORD OS_ADMIN_PROJECT_NAME=admin
export OS_USERNAME=demo OS_PASSWORD=$DEMO_PW OS_PROJECT_NAME=demo
export OS_ALT_USERNAME=alt OS_ALT_PASSWORD=$ALT_PW OS_ALT_PROJECT_NAME=alt
export TEMPEST_SERVICES=${TEMPEST_SERVICES:-identity,network}
OUT=${TEMPEST_OUT:-$(mktemp -d /tmp/nephele-tempest.XXXXXX)}
mkdir -p "$OUT"
bash "$HERE/run-tempest.sh" -k -l "$LIST" -o "$OUT" > "$OUT/run.log" 2>&1
rc=$?
rm -f "$EXTRA"
grep -E '^(PASS|FAIL|SKIP|NOTRUN|MISSING) ' "$OUT/run.log" | cut -c1-220
grep '== SUMMARY' "$OUT/run.log"
total=$(grep -c . "$LIST")
passed=$(grep -o "== SUMMARY: total=[0-9]* pass=[0-9]*" "$OUT/run.log" | tail -1 | sed 's/.*pass=//')
passed=${passed:-0}
MIN=${TEMPEST_MIN_PASS:-80}
if [ "$passed" -ge "$MIN" ] && grep -Eq "== SUMMARY: total=[0-9]+ pass=[0-9]+ fail=0 " "$OUT/run.log"; then
  pass "tempest interop 2022.11 network: $passed passed, none failed (at least $MIN; $total list entries)"
else
  tail -n 40 "$OUT/run.log"
  fail "tempest interop 2022.11 network: $passed passed (at least $MIN, none failing, wanted; results in $OUT)"
fi
nph_summary

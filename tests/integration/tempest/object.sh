#!/usr/bin/env bash
# object.sh - run Tempest's object-storage tests of the OpenStack Powered interop guideline
# 2022.11 (interop-2022.11-platform-object.txt) against a fresh Nephele's Swift-compatible API,
# with dynamic credentials (Tempest creates its operator, alternate operator and reseller-admin
# users through the admin account; the ResellerAdmin role is created here first).
# Exit status: 0 when every listed test passed and none was skipped.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"

nph_start tempest-object || exit 1

os() { "$NPH_OPENSTACK" "$@"; }
os role show ResellerAdmin >/dev/null 2>&1 || os role create ResellerAdmin >/dev/null ||
  { fail "creating the ResellerAdmin role"; nph_summary; }
os role show member >/dev/null 2>&1 || os role create member >/dev/null

export OS_ADMIN_USERNAME=admin OS_ADMIN_PASSWORD=$OS_PASSWORD OS_ADMIN_PROJECT_NAME=admin
export TEMPEST_CREDS=dynamic TEMPEST_ROLES=member TEMPEST_SERVICES=identity,object-store
OUT=${TEMPEST_OUT:-$(mktemp -d /tmp/nephele-tempest.XXXXXX)}
mkdir -p "$OUT"
bash "$HERE/run-tempest.sh" -l "$HERE/interop-2022.11-platform-object.txt" -o "$OUT" \
  > "$OUT/run.log" 2>&1
rc=$?
grep -E '^(PASS|FAIL|SKIP|NOTRUN|MISSING) ' "$OUT/run.log" | cut -c1-220
grep '== SUMMARY' "$OUT/run.log"
total=$(grep -c . "$HERE/interop-2022.11-platform-object.txt")
if [ $rc -eq 0 ] && grep -Eq "== SUMMARY: total=[0-9]+ pass=[0-9]+ fail=0 skip=0" "$OUT/run.log"; then
  pass "tempest interop 2022.11 object: $(grep -o "total=[0-9]* pass=[0-9]*" "$OUT/run.log" | tail -1) ($total list entries)"
else
  tail -n 40 "$OUT/run.log"
  fail "tempest interop 2022.11 object (results in $OUT)"
fi
nph_summary

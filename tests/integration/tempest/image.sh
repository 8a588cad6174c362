#!/usr/bin/env bash
# image.sh - run Tempest's image tests of the OpenStack Powered interop guideline 2022.11
# (interop-2022.11-platform-image.txt) against a fresh Nephele, with static credentials for a
# member user, an alternate user and the admin (set up as in identity.sh).
# Exit status: 0 when every listed test passed and none was skipped.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"

nph_start tempest-image || exit 1

os() { "$NPH_OPENSTACK" "$@"; }
pw() { "$NPH_PYTHON" -c 'import secrets; print(secrets.token_urlsafe(12))'; }
DEMO_PW=$(pw) ALT_PW=$(pw)
for u in demo alt; do
  p=DEMO_PW; [ $u = alt ] && p=ALT_PW
  os project create "$u" -f value -c id >/dev/null &&
    os user create --password="${!p}" "$u" -f value -c id >/dev/null &&
    os role add --user "$u" --project "$u" member || { fail "creating the $u account"; nph_summary; }
done

export OS_ADMIN_USERNAME=admin OS_ADMIN_PASSWORD=$OS_PASSWORD OS_ADMIN_PROJECT_NAME=admin
export OS_USERNAME=demo OS_PASSWORD=$DEMO_PW OS_PROJECT_NAME=demo
export OS_ALT_USERNAME=alt OS_ALT_PASSWORD=$ALT_PW OS_ALT_PROJECT_NAME=alt
export TEMPEST_SERVICES=identity,image
OUT=${TEMPEST_OUT:-$(mktemp -d /tmp/nephele-tempest.XXXXXX)}
mkdir -p "$OUT"
bash "$HERE/run-tempest.sh" -l "$HERE/interop-2022.11-platform-image.txt" -o "$OUT" \
  > "$OUT/run.log" 2>&1
rc=$?
grep -E '^(PASS|FAIL|SKIP|NOTRUN|MISSING) ' "$OUT/run.log" | cut -c1-220
grep '== SUMMARY' "$OUT/run.log"
total=$(grep -c . "$HERE/interop-2022.11-platform-image.txt")
if [ $rc -eq 0 ] && grep -Eq "== SUMMARY: total=[0-9]+ pass=[0-9]+ fail=0 skip=0" "$OUT/run.log"; then
  pass "tempest interop 2022.11 image: $(grep -o "total=[0-9]* pass=[0-9]*" "$OUT/run.log" | tail -1) ($total list entries)"
else
  tail -n 40 "$OUT/run.log"
  fail "tempest interop 2022.11 image (results in $OUT)"
fi
nph_summary

#!/usr/bin/env bash
# identity.sh - run Tempest's identity tests of the OpenStack Powered interop guideline 2022.11
# (interop-2022.11-platform-identity.txt) against a fresh Nephele, with static credentials for
# a member user, an alternate user and the admin, and with the security-compliance settings
# (lockout after 2 failures for 5 s, the last 2 passwords unique) mirrored on both sides so
# that the lockout and password-history tests run instead of skipping.
# Exit status: 0 when every listed test passed and none was skipped.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"

export NEPHELE_IDENTITY_LOCKOUT_FAILURE_ATTEMPTS=2 NEPHELE_IDENTITY_LOCKOUT_DURATION=5
export NEPHELE_IDENTITY_UNIQUE_LAST_PASSWORD_COUNT=2
nph_start tempest-identity || exit 1

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
export TEMPEST_SECURITY_COMPLIANCE=1 TEMPEST_LOCKOUT_ATTEMPTS=2 TEMPEST_LOCKOUT_DURATION=5
export TEMPEST_UNIQUE_LAST_PASSWORD_COUNT=2 TEMPEST_SERVICES=identity
OUT=${TEMPEST_OUT:-$(mktemp -d /tmp/nephele-tempest.XXXXXX)}
bash "$HERE/run-tempest.sh" -l "$HERE/interop-2022.11-platform-identity.txt" -o "$OUT" \
  > "$OUT/run.log" 2>&1
rc=$?
grep -E '^(PASS|FAIL|SKIP|NOTRUN|MISSING) ' "$OUT/run.log" | cut -c1-220
grep '== SUMMARY' "$OUT/run.log"
if [ $rc -eq 0 ] && grep -q '== SUMMARY: total=15 pass=15 fail=0 skip=0' "$OUT/run.log"; then
  pass "tempest interop 2022.11 identity: 15/15 passed"
else
  tail -n 40 "$OUT/run.log"
  fail "tempest interop 2022.11 identity (results in $OUT)"
fi
nph_summary

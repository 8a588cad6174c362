#!/usr/bin/env bash
# volume.sh - run Tempest's volume tests of the OpenStack Powered interop guideline 2022.11
# (interop-2022.11-platform-volume.txt) against a fresh Nephele, with static credentials for a
# member user, an alternate user and the admin (set up as in identity.sh).
# Tempest needs an image for the volume-from-image tests: a 1 MiB raw one is uploaded.
# Exit status: 0 when at least TEMPEST_MIN_PASS tests passed (default 0: report only;
# scripts/test.sh sets it; docs/block-storage.md lists the tests Nephele does not pass).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"

nph_start tempest-volume || exit 1

os() { "$NPH_OPENSTACK" "$@"; }
pw() { "$NPH_PYTHON" -c 'import secrets; print(secrets.token_urlsafe(12))'; }
DEMO_PW=$(pw) ALT_PW=$(pw)
for u in demo alt; do
  p=DEMO_PW; [ $u = alt ] && p=ALT_PW
  os project create "$u" -f value -c id >/dev/null &&
    os user create --password="${!p}" "$u" -f value -c id >/dev/null &&
    os role add --user "$u" --project "$u" member || { fail "creating the $u account"; nph_summary; }
done

IMGF=$(mktemp)
head -c 1048576 /dev/zero >"$IMGF"
IMG=$(os image create tempest-volume-image --public --file "$IMGF" --disk-format raw \
  --container-format bare -f value -c id 2>/dev/null)
rm -f "$IMGF"
[ -n "$IMG" ] || { fail "uploading the Tempest image"; nph_summary; }
export TEMPEST_IMAGE_REF=$IMG TEMPEST_IMAGE_REF_ALT=$IMG
: "${TEMPEST_MIN_PASS:=0}"

# The extensions Nephele's Cinder API lists (Tempest's default "all" expects Cinder's os-hosts).
EXTRA_CONF=$(mktemp)
cat >"$EXTRA_CONF" <<'CONF'
[volume-feature-enabled]
api_extensions = os-volume-actions,os-extended-snapshot-attributes,os-vol-tenant-attr,os-vol-host-attr,os-quota-sets,os-types-manage,os-types-extra-specs,os-availability-zone,os-admin-actions
CONF
export TEMPEST_EXTRA_CONF=$EXTRA_CONF

export OS_ADMIN_USERNAME=admin OS_ADMIN_PASSWORD=$OS_PASSWORD OS_ADMIN_PROJECT_NAME=admin
export OS_USERNAME=demo OS_PASSWORD=$DEMO_PW OS_PROJECT_NAME=demo
export OS_ALT_USERNAME=alt OS_ALT_PASSWORD=$ALT_PW OS_ALT_PROJECT_NAME=alt
export TEMPEST_SERVICES=identity,image,compute,volume
OUT=${TEMPEST_OUT:-$(mktemp -d /tmp/nephele-tempest.XXXXXX)}
mkdir -p "$OUT"
bash "$HERE/run-tempest.sh" -l "$HERE/interop-2022.11-platform-volume.txt" -o "$OUT" \
  > "$OUT/run.log" 2>&1
rc=$?
rm -f "$EXTRA_CONF"
grep -E '^(PASS|FAIL|SKIP|NOTRUN|MISSING) ' "$OUT/run.log" | cut -c1-220
grep '== SUMMARY' "$OUT/run.log"
total=$(grep -c . "$HERE/interop-2022.11-platform-volume.txt")
passed=$(grep -o "== SUMMARY: total=[0-9]* pass=[0-9]*" "$OUT/run.log" | tail -1 | sed 's/.*pass=//')
if [ -n "$passed" ] && [ "$passed" -ge "$TEMPEST_MIN_PASS" ]; then
  pass "tempest interop 2022.11 volume: $(grep -o "total=[0-9]* pass=[0-9]* fail=[0-9]* skip=[0-9]*" "$OUT/run.log" | tail -1) ($total list entries; minimum $TEMPEST_MIN_PASS)"
else
  tail -n 40 "$OUT/run.log"
  fail "tempest interop 2022.11 volume: ${passed:-no} passes, fewer than $TEMPEST_MIN_PASS (results in $OUT)"
fi
nph_summary

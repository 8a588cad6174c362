#!/usr/bin/env bash
# backend_openstack.sh - the `openstack` cloud driver against a real OpenStack-compatible cloud:
# a second Nephele (Keystone v3, Nova v2.1 and Glance v2 with a catalog) started here on
# loopback. Uploads an image through its Glance API, then runs the driver's live test
# (tests/unit/backends/test_openstack_live.c) three times: password auth inline, an
# application credential, and a clouds.yaml entry.
#
#   NEPHELE_BIN=build/broker/nephele tests/integration/backend_openstack.sh
#   NPH_BUILD_DIR   the build holding tests/backends_test_openstack_live (default: the build
#                   NEPHELE_BIN comes from)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

: "${NPH_BUILD_DIR:=$(cd "$(dirname "$NEPHELE_BIN")/.." && pwd)}"
LIVE=$NPH_BUILD_DIR/tests/backends_test_openstack_live
if [ ! -x "$LIVE" ]; then
    echo "backend_openstack.sh: no live test at $LIVE (build it, or set NPH_BUILD_DIR)" >&2
    exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nph-os-backend.XXXXXX")
cleanup_work() { rm -rf "$WORK"; }
trap 'cleanup_work; nph_exit_trap' EXIT

nph_start os-peer || {
    fail "peer broker starts"
    nph_summary
}
pass "peer broker starts and is ready"

# ---- a token, an image -----------------------------------------------------------------------
TOKEN=$(curl -s -D - -o "$WORK/token.json" -H 'Content-Type: application/json' \
    -d '{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "'"$NPH_ADMIN_PASSWORD"'"}}}, "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}' \
    "$OS_AUTH_URL/auth/tokens" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-subject-token" {print $2}')
USER_ID=$("$NPH_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"]["user"]["id"])' "$WORK/token.json" 2>/dev/null)
if [ -n "$TOKEN" ] && [ -n "$USER_ID" ]; then pass "admin token from the peer"; else fail "admin token from the peer"; nph_summary; fi
H=(-H "X-Auth-Token: $TOKEN")

IMG_ID=$(curl -s "${H[@]}" -H 'Content-Type: application/json' \
    -d '{"name": "nph-live-image", "disk_format": "raw", "container_format": "bare", "visibility": "public"}' \
    "$NPH_URL/image/v2/images" | "$NPH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["id"])' 2>/dev/null)
head -c 65536 /dev/urandom >"$WORK/image.raw"
st=$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary @"$WORK/image.raw" "$NPH_URL/image/v2/images/$IMG_ID/file")
if [ -n "$IMG_ID" ] && [ "$st" = 204 ]; then pass "image nph-live-image uploaded ($IMG_ID)"; else fail "image upload: id '$IMG_ID', HTTP $st"; fi

# ---- an application credential ---------------------------------------------------------------
curl -s "${H[@]}" -H 'Content-Type: application/json' -o "$WORK/appcred.json" \
    -d '{"application_credential": {"name": "nph-live-'$$'"}}' \
    "$OS_AUTH_URL/users/$USER_ID/application_credentials"
AC_ID=$("$NPH_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["application_credential"]["id"])' "$WORK/appcred.json" 2>/dev/null)
AC_SECRET=$("$NPH_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["application_credential"]["secret"])' "$WORK/appcred.json" 2>/dev/null)
if [ -n "$AC_ID" ] && [ -n "$AC_SECRET" ]; then pass "application credential created"; else fail "application credential: $(head -c 300 "$WORK/appcred.json")"; fi

# ---- the three configurations ----------------------------------------------------------------
export NPH_ADMIN_PASSWORD AC_ID AC_SECRET WORK
"$NPH_PYTHON" - <<'EOF'
import json, os
url = os.environ["OS_AUTH_URL"]
pw = {"name": "peer", "kind": "openstack", "region_name": "RegionOne", "network": "none",
      "labels": {"tier": "test"},  # a broker key the driver ignores
      "auth": {"auth_url": url, "username": "admin", "password": os.environ["NPH_ADMIN_PASSWORD"],
               "project_name": "admin", "user_domain_name": "Default",
               "project_domain_name": "Default"}}
ac = {"name": "peer-ac", "kind": "openstack", "auth_type": "v3applicationcredential",
      "auth": {"auth_url": url, "application_credential_id": os.environ["AC_ID"],
               "application_credential_secret": os.environ["AC_SECRET"]}}
w = os.environ["WORK"]
with open(w + "/clouds.yaml", "w") as f:
    f.write("clouds:\n  peer:\n    region_name: RegionOne\n    interface: public\n"
            "    verify: false\n    auth:\n"
            "      auth_url: %s\n      username: admin\n      password: '%s'\n"
            "      project_name: admin\n      user_domain_name: Default\n"
            "      project_domain_name: Default\n" % (url, os.environ["NPH_ADMIN_PASSWORD"]))
cy = {"name": "peer-yaml", "kind": "openstack", "cloud": "peer", "clouds_yaml": w + "/clouds.yaml"}
for name, doc in (("password", pw), ("appcred", ac), ("cloudsyaml", cy)):
    with open("%s/%s.json" % (w, name), "w") as f:
        json.dump(doc, f)
EOF

run_live() { # label, config file
    local label=$1 cfg=$2 out rc line
    out=$(NPH_TEST_OS_CLOUD_JSON=$(cat "$cfg") NPH_TEST_OS_WAIT_S=${NPH_TEST_OS_WAIT_S:-60} \
        timeout 600 "$LIVE" 2>&1)
    rc=$?
    while IFS= read -r line; do
        case $line in
        "[       OK ] "*) pass "$label: ${line#\[       OK \] }" ;;
        "[  FAILED  ] test_"*) fail "$label: ${line#\[  FAILED  \] }" ;;
        esac
    done < <(printf '%s\n' "$out" | sort -u)
    if [ "$rc" -ne 0 ]; then
        fail "$label: the live test exited $rc"
        printf '%s\n' "$out" | tail -n 40 | sed 's/^/     | /'
    fi
    if grep -q -- "$NPH_ADMIN_PASSWORD" <<<"$out" || { [ -n "$AC_SECRET" ] && grep -q -- "$AC_SECRET" <<<"$out"; } ||
        grep -q -- "$TOKEN" <<<"$out"; then
        fail "$label: a secret appears in the test's output"
    fi
}
run_live "password" "$WORK/password.json"
run_live "application credential" "$WORK/appcred.json"
run_live "clouds.yaml" "$WORK/cloudsyaml.json"

nph_summary

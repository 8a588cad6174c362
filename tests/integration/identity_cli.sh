#!/usr/bin/env bash
# identity_cli.sh - drive the broker's Keystone v3 API with the stock `openstack` client (and
# curl where the client hides the answer): tokens, catalog, projects, users, roles, tenant
# isolation, RBAC, wrong passwords, revocation and token key rotation.
#
#   NEPHELE_BIN=build/broker/nephele tests/integration/identity_cli.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

if [ -z "$NPH_OPENSTACK" ]; then
    echo "identity_cli.sh: the openstack client is not installed" >&2
    exit 1
fi

RESP_BODY=
RESP_STATUS=
# req METHOD PATH [curl args...]: sets RESP_STATUS and RESP_BODY.
req() {
    local method=$1 path=$2 f
    shift 2
    f=$(mktemp)
    RESP_STATUS=$(curl -s -o "$f" -w '%{http_code}' --max-time 20 -X "$method" "$@" "$NPH_URL$path")
    RESP_BODY=$(cat "$f")
    rm -f "$f"
}

# jcheck EXPR: evaluate a Python expression over d = json.loads($RESP_BODY).
jcheck() {
    printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c '
import json, sys
d = json.loads(sys.stdin.read())
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" 2>/dev/null
}

# expect_status MSG WANT: pass/fail on RESP_STATUS, showing the body on failure.
expect_status() {
    if [ "$RESP_STATUS" = "$2" ]; then
        pass "$1 (HTTP $2)"
    else
        fail "$1: expected HTTP $2, got $RESP_STATUS: ${RESP_BODY:0:300}"
    fi
}

osc() { "$NPH_OPENSTACK" "$@"; }

# osc_as USER PASSWORD PROJECT ARGS...: run the client as another user.
osc_as() {
    local u=$1 p=$2 pr=$3
    shift 3
    OS_USERNAME=$u OS_PASSWORD=$p OS_PROJECT_NAME=$pr "$NPH_OPENSTACK" "$@"
}

# An admin token fresh from the client, for curl.
admin_token() { osc token issue -f value -c id; }

# Status of a request authenticated with token $1 (GET /auth/catalog needs a valid scoped token).
token_use_status() {
    nph_status -H "X-Auth-Token: $1" "$NPH_URL/identity/v3/auth/catalog"
}

RUN=$$
nph_start identity-cli || {
    fail "broker starts"
    nph_summary
}
pass "broker starts and is ready"

# ---- token issue and catalog -----------------------------------------------------------------
if out=$(osc token issue -f json 2>&1) &&
    printf '%s' "$out" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["id"] and d["project_id"] and d["user_id"] else 1)'; then
    pass "openstack token issue (admin)"
else
    fail "openstack token issue (admin): $out"
fi

if out=$(osc catalog list -f json 2>&1) &&
    printf '%s' "$out" | "$NPH_PYTHON" -c '
import json, sys, os
cat = json.load(sys.stdin)
ident = [s for s in cat if s["Type"] == "identity"]
eps = ident[0]["Endpoints"] if ident else []
text = json.dumps(eps)
sys.exit(0 if ident and os.environ["NPH_URL"] + "/identity" in text and "public" in text else 1)'; then
    pass "openstack catalog list shows the identity endpoint"
else
    fail "openstack catalog list shows the identity endpoint: $out"
fi

# ---- projects ----------------------------------------------------------------------------------
P1=itproj-$RUN
P2=itproj2-$RUN
check "openstack project create $P1" osc project create --domain default --description "integration" "$P1"
check "openstack project create $P2" osc project create --domain default "$P2"
if out=$(osc project list -f value -c Name 2>&1) && grep -qx "$P1" <<<"$out" &&
    grep -qx "$P2" <<<"$out" && grep -qx admin <<<"$out"; then
    pass "openstack project list shows admin, $P1 and $P2"
else
    fail "openstack project list shows admin, $P1 and $P2: $out"
fi
if out=$(osc project show "$P1" -f json 2>&1) &&
    printf '%s' "$out" | "$NPH_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d["name"] == sys.argv[1] and d["description"] == "integration" and d["enabled"] and d["domain_id"] == "default" else 1)' "$P1"; then
    pass "openstack project show $P1"
else
    fail "openstack project show $P1: $out"
fi
P1_ID=$(osc project show "$P1" -f value -c id 2>/dev/null)
check "openstack project delete $P2" osc project delete "$P2"
if out=$(osc project show "$P2" 2>&1); then
    fail "deleted project $P2 is gone: still shown: $out"
else
    pass "deleted project $P2 is gone"
fi

# ---- a member user -----------------------------------------------------------------------------
U1=ituser-$RUN
U1_PW=$(nph_random_password)
check "openstack user create $U1 --password" \
    osc user create --domain default --password "$U1_PW" --project "$P1" "$U1"
check "openstack role add --user $U1 --project $P1 member" \
    osc role add --user "$U1" --user-domain default --project "$P1" --project-domain default member
if out=$(osc role assignment list --user "$U1" --names -f value 2>&1) && grep -q "member" <<<"$out" &&
    grep -q "$P1" <<<"$out"; then
    pass "openstack role assignment list shows $U1 as member of $P1"
else
    fail "openstack role assignment list shows $U1 as member of $P1: $out"
fi

if U1_TOKEN=$(osc_as "$U1" "$U1_PW" "$P1" token issue -f value -c id 2>&1) && [ -n "$U1_TOKEN" ]; then
    pass "token issue as $U1 scoped to $P1"
else
    fail "token issue as $U1 scoped to $P1: $U1_TOKEN"
    U1_TOKEN=
fi
if out=$(osc_as "$U1" "$U1_PW" "$P1" token issue -f json 2>&1) &&
    printf '%s' "$out" | "$NPH_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["project_id"] == sys.argv[1] else 1)' "$P1_ID"; then
    pass "$U1's token is scoped to $P1's id"
else
    fail "$U1's token is scoped to $P1's id ($P1_ID): $out"
fi

if out=$(osc_as "$U1" "$U1_PW" "$P1" project list -f value -c Name 2>&1); then
    if [ "$out" = "$P1" ]; then
        pass "$U1's project list shows only $P1"
    else
        fail "$U1's project list shows only $P1, got: $(tr '\n' ' ' <<<"$out")"
    fi
    if grep -qx admin <<<"$out"; then
        fail "$U1's project list hides the admin project"
    else
        pass "$U1's project list hides the admin project"
    fi
else
    fail "$U1's project list: $out"
fi

if out=$(osc_as "$U1" "$U1_PW" "$P1" user list 2>&1); then
    fail "non-admin openstack user list is refused: it succeeded: $out"
elif grep -q "HTTP 403" <<<"$out"; then
    pass "non-admin openstack user list is refused with 403"
else
    fail "non-admin openstack user list is refused with 403: $out"
fi
if out=$(osc_as "$U1" "$U1_PW" "$P1" project create "evil-$RUN" 2>&1); then
    fail "non-admin openstack project create is refused: it succeeded: $out"
elif grep -q "HTTP 403" <<<"$out"; then
    pass "non-admin openstack project create is refused with 403"
else
    fail "non-admin openstack project create is refused with 403: $out"
fi
if out=$(osc_as "$U1" "$U1_PW" "$P1" project show admin 2>&1); then
    fail "non-admin cannot show the admin project: it succeeded: $out"
else
    pass "non-admin cannot show the admin project"
fi

# ---- wrong password ----------------------------------------------------------------------------
if out=$(osc_as "$U1" "wrong-$U1_PW" "$P1" token issue 2>&1); then
    fail "openstack token issue with a wrong password fails: it succeeded"
elif grep -qi "HTTP 401\|authenticat" <<<"$out"; then
    pass "openstack token issue with a wrong password fails (401)"
else
    fail "openstack token issue with a wrong password fails (401): $out"
fi
AUTH_BODY=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","domain":{"id":"default"},"password":"wrong"}}},"scope":{"project":{"name":"%s","domain":{"id":"default"}}}}}' "$U1" "$P1")
req POST /identity/v3/auth/tokens -H 'Content-Type: application/json' -d "$AUTH_BODY"
expect_status "raw POST /auth/tokens with a wrong password" 401
if jcheck 'set(d) == {"error"} and d["error"]["code"] == 401 and d["error"]["title"] == "Unauthorized" and isinstance(d["error"]["message"], str) and d["error"]["message"]'; then
    pass "wrong password answer is Keystone's fault body"
else
    fail "wrong password answer is Keystone's fault body: $RESP_BODY"
fi
if grep -q "wrong" <<<"$RESP_BODY"; then
    fail "the 401 body does not echo the password"
else
    pass "the 401 body does not echo the password"
fi

# ---- revocation ---------------------------------------------------------------------------------
ADMIN_TOKEN=$(admin_token)
if [ -n "$U1_TOKEN" ]; then
    req GET '/identity/v3/auth/tokens?nocatalog' -H "X-Auth-Token: $ADMIN_TOKEN" -H "X-Subject-Token: $U1_TOKEN"
    expect_status "admin validates $U1's token" 200
    if jcheck 'd["token"]["user"]["name"] == "'"$U1"'" and d["token"]["project"]["name"] == "'"$P1"'" and "member" in [r["name"] for r in d["token"]["roles"]]'; then
        pass "validated token names $U1, $P1 and role member"
    else
        fail "validated token names $U1, $P1 and role member: ${RESP_BODY:0:400}"
    fi
    [ "$(token_use_status "$U1_TOKEN")" = 200 ] && pass "$U1's token works before revocation" ||
        fail "$U1's token works before revocation"
    check "openstack token revoke ($U1's token)" osc token revoke "$U1_TOKEN"
    st=$(token_use_status "$U1_TOKEN")
    [ "$st" = 401 ] && pass "a revoked token gets 401 on use" ||
        fail "a revoked token gets 401 on use (got $st)"
    req GET /identity/v3/auth/tokens -H "X-Auth-Token: $ADMIN_TOKEN" -H "X-Subject-Token: $U1_TOKEN"
    expect_status "validating a revoked token (X-Subject-Token)" 404
    if jcheck 'd["error"]["code"] == 404 and d["error"]["title"] == "Not Found"'; then
        pass "revoked-token 404 is Keystone's fault body"
    else
        fail "revoked-token 404 is Keystone's fault body: $RESP_BODY"
    fi
    # The user can still log in again: revocation is per token.
    if T=$(osc_as "$U1" "$U1_PW" "$P1" token issue -f value -c id 2>&1) && [ "$(token_use_status "$T")" = 200 ]; then
        pass "$U1 gets a working new token after revocation"
    else
        fail "$U1 gets a working new token after revocation: $T"
    fi
fi

# The admin revokes its own token through the client, then validates it with another.
T=$(admin_token)
check "openstack token revoke (admin's own token)" osc token revoke "$T"
ADMIN_TOKEN=$(admin_token)
req GET /identity/v3/auth/tokens -H "X-Auth-Token: $ADMIN_TOKEN" -H "X-Subject-Token: $T"
expect_status "GET /auth/tokens on a revoked admin token" 404

# ---- token key rotation ------------------------------------------------------------------------
# max_active_keys is 3: the initial repository is {0 staged, 1 primary}. Rotation n makes key
# n+1 primary and keeps staged + primary + one secondary, so a token sealed with key k stops
# validating when key k+2 becomes primary.
rotate() {
    if out=$("$NEPHELE_BIN" token-keys rotate --data-dir "$NPH_DATA" 2>&1); then
        pass "nephele token-keys rotate #$1: $out"
    else
        fail "nephele token-keys rotate #$1: $out"
    fi
    sleep 1.2 # the daemon rereads the key repository within a second
}
T_BEFORE=$(admin_token)
[ "$(token_use_status "$T_BEFORE")" = 200 ] && pass "token issued before rotation works" ||
    fail "token issued before rotation works"
rotate 1
st=$(token_use_status "$T_BEFORE")
[ "$st" = 200 ] && pass "pre-rotation token still validates after one rotation" ||
    fail "pre-rotation token still validates after one rotation (got $st)"
T_AFTER1=$(admin_token)
st=$(token_use_status "$T_AFTER1")
[ "$st" = 200 ] && pass "token issued after rotation 1 validates" ||
    fail "token issued after rotation 1 validates (got $st)"
rotate 2
st=$(token_use_status "$T_BEFORE")
[ "$st" = 401 ] && pass "pre-rotation token gets 401 once its key is gone (after rotation 2)" ||
    fail "pre-rotation token gets 401 once its key is gone (after rotation 2; got $st)"
st=$(token_use_status "$T_AFTER1")
[ "$st" = 200 ] && pass "token from after rotation 1 still validates after rotation 2" ||
    fail "token from after rotation 1 still validates after rotation 2 (got $st)"
rotate 3
st=$(token_use_status "$T_BEFORE")
[ "$st" = 401 ] && pass "pre-rotation token still gets 401 after rotation 3" ||
    fail "pre-rotation token still gets 401 after rotation 3 (got $st)"
st=$(token_use_status "$T_AFTER1")
[ "$st" = 401 ] && pass "token from after rotation 1 gets 401 after rotation 3" ||
    fail "token from after rotation 1 gets 401 after rotation 3 (got $st)"
T_AFTER3=$(admin_token)
st=$(token_use_status "$T_AFTER3")
[ "$st" = 200 ] && pass "token issued after rotation 3 validates" ||
    fail "token issued after rotation 3 validates (got $st)"
nkeys=$(find "$NPH_DATA/token-keys" -maxdepth 1 -type f | wc -l)
[ "$nkeys" = 3 ] && pass "the key repository holds max_active_keys (3) keys" ||
    fail "the key repository holds max_active_keys (3) keys (has $nkeys: $(ls "$NPH_DATA/token-keys" | tr '\n' ' '))"
req GET '/identity/v3/auth/tokens?nocatalog' -H "X-Auth-Token: $T_AFTER3" -H "X-Subject-Token: $T_BEFORE"
expect_status "validating a token whose key is gone (X-Subject-Token)" 404

# ---- clean-up through the client ---------------------------------------------------------------
check "openstack user delete $U1" osc user delete "$U1"
check "openstack project delete $P1" osc project delete "$P1"
if out=$(osc_as "$U1" "$U1_PW" "$P1" token issue 2>&1); then
    fail "a deleted user cannot log in: it could"
else
    pass "a deleted user cannot log in"
fi

[ "$(nph_status "$NPH_URL/healthz")" = 200 ] && pass "broker still healthy" || fail "broker still healthy"
nph_summary

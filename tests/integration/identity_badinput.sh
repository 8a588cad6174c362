#!/usr/bin/env bash
# identity_badinput.sh - hostile and malformed input against a running broker, with curl.
# Every case must get a clear 4xx in the API's fault format, leave the daemon serving
# (/healthz 200) and write nothing (the counts of projects, users, domains and roles stay put).
# At the end the broker's RSS must still be modest and it must stop gracefully.
#
#   NEPHELE_BIN=build/broker/nephele tests/integration/identity_badinput.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

KS=/identity/v3
JSON='Content-Type: application/json'
RESP_BODY=
RESP_STATUS=
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nephele-badinput.XXXXXX")
trap 'rm -rf "$TMP"; nph_exit_trap' EXIT

# req METHOD PATH [curl args...]: sets RESP_STATUS and RESP_BODY (curl's 000 = no answer).
req() {
    local method=$1 path=$2
    shift 2
    RESP_STATUS=$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 30 -X "$method" "$@" "$NPH_URL$path")
    RESP_BODY=$(head -c 4000 "$TMP/body")
}

# jcheck EXPR: a Python expression over d = the JSON body and st = the HTTP status.
jcheck() {
    printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c '
import json, sys
d = json.loads(sys.stdin.read())
st = int(sys.argv[2])
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" "$RESP_STATUS" 2>/dev/null
}

# Keystone's fault: {"error": {"code": <the HTTP status>, "title": "...", "message": "..."}}.
KEYSTONE_FAULT='set(d) == {"error"} and d["error"]["code"] == st and isinstance(d["error"]["title"], str) and d["error"]["title"] and isinstance(d["error"]["message"], str) and d["error"]["message"]'
# The native fault: {"error": {"code": "not_found", "message": "...", "request_id": "..."}}.
NATIVE_FAULT='set(d) == {"error"} and isinstance(d["error"]["code"], str) and isinstance(d["error"]["message"], str) and d["error"]["message"] and isinstance(d["error"].get("request_id"), str)'

admin_token() {
    local body
    body=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' "$NPH_ADMIN_PASSWORD")
    curl -s -D - -o /dev/null -H "$JSON" -d "$body" "$NPH_URL$KS/auth/tokens?nocatalog" |
        awk -F': ' 'tolower($1) == "x-subject-token" {print $2}' | tr -d '\r'
}

# "projects users domains roles" as the admin API counts them.
counts() {
    local k n out=""
    for k in projects users domains roles; do
        n=$(curl -s --max-time 10 -H "X-Auth-Token: $ADMIN" "$NPH_URL$KS/$k" |
            "$NPH_PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)[sys.argv[1]]))' "$k" 2>/dev/null)
        out="$out${n:-?} "
    done
    printf '%s' "${out% }"
}

# after_case NAME: the daemon still serves and nothing was written.
after_case() {
    local st now
    st=$(nph_status "$NPH_URL/healthz")
    if [ "$st" = 200 ] && kill -0 "$NPH_PID" 2>/dev/null; then
        pass "$1: daemon still serving (/healthz 200)"
    else
        fail "$1: daemon still serving (/healthz got $st)"
        tail -n 20 "$NPH_LOG" | sed 's/^/     | /'
        nph_summary
    fi
    now=$(counts)
    if [ "$now" = "$BASELINE" ]; then
        pass "$1: nothing written (projects users domains roles = $now)"
    else
        fail "$1: nothing written: counts were $BASELINE, now $now"
        BASELINE=$now
    fi
}

# bad NAME WANT_STATUS STYLE METHOD PATH [curl args...]: one hostile request.
# WANT_STATUS may be a |-separated list (431|400). STYLE: keystone, native or any.
bad() {
    local name=$1 want=$2 style=$3 method=$4 path=$5
    shift 5
    req "$method" "$path" "$@"
    if [[ "|$want|" == *"|$RESP_STATUS|"* ]]; then
        pass "$name: HTTP $RESP_STATUS"
    else
        fail "$name: expected HTTP $want, got $RESP_STATUS: ${RESP_BODY:0:300}"
    fi
    case $style in
    keystone)
        if jcheck "$KEYSTONE_FAULT"; then
            pass "$name: Keystone fault body"
        else
            fail "$name: Keystone fault body {\"error\":{\"code\":$RESP_STATUS,\"title\",\"message\"}}, got: ${RESP_BODY:0:300}"
        fi
        ;;
    native)
        if jcheck "$NATIVE_FAULT"; then
            pass "$name: native fault body"
        else
            fail "$name: native fault body, got: ${RESP_BODY:0:300}"
        fi
        ;;
    esac
    after_case "$name"
}

nph_start identity-badinput || {
    fail "broker starts"
    nph_summary
}
pass "broker starts and is ready"
RSS_START=$(nph_rss_kb)
ADMIN=$(admin_token)
[ -n "$ADMIN" ] && pass "admin token issued with curl" || {
    fail "admin token issued with curl"
    nph_summary
}
AUTH=(-H "X-Auth-Token: $ADMIN")
BASELINE=$(counts)
case $BASELINE in
*'?'*) fail "baseline counts readable (got '$BASELINE')" ;;
*) pass "baseline counts (projects users domains roles) = $BASELINE" ;;
esac

auth_body() { # auth_body USER_JSON [SCOPE_JSON]
    printf '{"auth":{"identity":{"methods":["password"],"password":{"user":%s}}%s}}' "$1" "${2:+,\"scope\":$2}"
}
ADMIN_USER=$(printf '{"name":"admin","domain":{"id":"default"},"password":"%s"}' "$NPH_ADMIN_PASSWORD")

# ---- malformed JSON ------------------------------------------------------------------------------
bad "malformed JSON (project create)" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d '{"project": {"name": '
bad "malformed JSON (token issue)" 400 keystone POST "$KS/auth/tokens" -H "$JSON" -d '{"auth": {"identity": [}'
bad "trailing garbage after JSON" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d '{"project": {"name": "tg"}} xyz'
bad "empty body" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d ''
bad "JSON body that is not an object" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d '[1, 2, 3]'
bad "duplicate keys" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d '{"project": {"name": "d1", "name": "d2"}}'
bad "NUL inside a string" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d '{"project": {"name": "a\u0000b"}}'
bad "non-JSON content type" 415 keystone POST "$KS/projects" "${AUTH[@]}" -H 'Content-Type: text/plain' -d '{"project": {"name": "ctp"}}'

# ---- wrong types ---------------------------------------------------------------------------------
bad "project name: 5" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d '{"project": {"name": 5}}'
bad "project enabled: \"yes\"" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d '{"project": {"name": "typ", "enabled": "yes"}}'
bad "user name: 5" 400 keystone POST "$KS/users" "${AUTH[@]}" -H "$JSON" -d '{"user": {"name": 5}}'
bad "user enabled: \"yes\"" 400 keystone POST "$KS/users" "${AUTH[@]}" -H "$JSON" -d '{"user": {"name": "typ", "enabled": "yes"}}'
bad "project: a string" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d '{"project": "x"}'
bad "auth methods: a string" 400 keystone POST "$KS/auth/tokens" -H "$JSON" -d '{"auth": {"identity": {"methods": "password"}}}'
bad "auth methods: [5]" 400 keystone POST "$KS/auth/tokens" -H "$JSON" -d '{"auth": {"identity": {"methods": [5]}}}'
bad "auth password: 5" 400 keystone POST "$KS/auth/tokens" -H "$JSON" -d "$(auth_body '{"name":"admin","domain":{"id":"default"},"password":5}')"
bad "auth scope: 5" 400 keystone POST "$KS/auth/tokens" -H "$JSON" -d "$(auth_body "$ADMIN_USER" 5)"

# ---- missing fields ------------------------------------------------------------------------------
bad "auth without identity" 400 keystone POST "$KS/auth/tokens" -H "$JSON" -d '{"auth": {}}'
bad "no auth at all" 400 keystone POST "$KS/auth/tokens" -H "$JSON" -d '{}'
bad "password method without password" 400 keystone POST "$KS/auth/tokens" -H "$JSON" -d '{"auth": {"identity": {"methods": ["password"]}}}'
bad "auth user without name or id" 400 keystone POST "$KS/auth/tokens" -H "$JSON" -d "$(auth_body '{"password":"x"}')"
bad "project without name" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d '{"project": {"description": "nameless"}}'
bad "no project member" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d '{"name": "flat"}'
bad "user without name" 400 keystone POST "$KS/users" "${AUTH[@]}" -H "$JSON" -d '{"user": {"password": "x"}}'

# ---- sizes and depth -----------------------------------------------------------------------------
head -c 10485760 /dev/zero | tr '\0' 'a' >"$TMP/10mb"
bad "10 MB body (project create)" 413 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" --data-binary @"$TMP/10mb"
bad "10 MB body (token issue, unauthenticated)" 413 keystone POST "$KS/auth/tokens" -H "$JSON" --data-binary @"$TMP/10mb"
bad "10 MB chunked body" 413 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/10mb"
"$NPH_PYTHON" -c 'import json; print(json.dumps({"project": {"name": "ld", "description": "a" * 900000}}))' >"$TMP/longdesc"
bad "900 kB description (under the body limit)" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" --data-binary @"$TMP/longdesc"
bad "300-character project name" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d "{\"project\": {\"name\": \"$(head -c 300 /dev/zero | tr '\0' n)\"}}"
"$NPH_PYTHON" -c 'import json, sys; print(json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": "p" * 900000}}}}}))' >"$TMP/longpw"
bad "900 kB password in auth" 400 keystone POST "$KS/auth/tokens" -H "$JSON" --data-binary @"$TMP/longpw"
"$NPH_PYTHON" -c 'print("[" * 10000 + "]" * 10000)' >"$TMP/deep-array"
bad "arrays nested 10000 deep" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" --data-binary @"$TMP/deep-array"
"$NPH_PYTHON" -c 'print("{\"a\":" * 10000 + "1" + "}" * 10000)' >"$TMP/deep-object"
bad "objects nested 10000 deep (token issue)" 400 keystone POST "$KS/auth/tokens" -H "$JSON" --data-binary @"$TMP/deep-object"
"$NPH_PYTHON" -c 'print("{\"project\": {\"name\": \"deep\", \"x\": " + "[" * 10000 + "]" * 10000 + "}}")' >"$TMP/deep-member"
bad "nesting 10000 deep inside a valid project" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" --data-binary @"$TMP/deep-member"

# ---- invalid UTF-8 -------------------------------------------------------------------------------
printf '{"project": {"name": "a\xff\xfeb"}}' >"$TMP/utf8-project"
bad "invalid UTF-8 in a project name" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" --data-binary @"$TMP/utf8-project"
printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"adm\xc3\x28in","domain":{"id":"default"},"password":"x"}}}}}' >"$TMP/utf8-auth"
bad "invalid UTF-8 in an auth user name" 400 keystone POST "$KS/auth/tokens" -H "$JSON" --data-binary @"$TMP/utf8-auth"
printf '{"project": {"name": "over\xed\xa0\x80long"}}' >"$TMP/utf8-surrogate"
bad "UTF-8-encoded surrogate in a name" 400 keystone POST "$KS/projects" "${AUTH[@]}" -H "$JSON" --data-binary @"$TMP/utf8-surrogate"

# ---- authentication failures ---------------------------------------------------------------------
bad "unknown user" 401 keystone POST "$KS/auth/tokens" -H "$JSON" -d "$(auth_body '{"name":"nobody-here","domain":{"id":"default"},"password":"x"}')"
bad "unknown user id" 401 keystone POST "$KS/auth/tokens" -H "$JSON" -d "$(auth_body '{"id":"00000000000000000000000000000000","password":"x"}')"
bad "unknown domain (by name)" 401 keystone POST "$KS/auth/tokens" -H "$JSON" -d "$(auth_body "$(printf '{"name":"admin","domain":{"name":"NoSuchDomain"},"password":"%s"}' "$NPH_ADMIN_PASSWORD")")"
bad "unknown domain (by id)" 401 keystone POST "$KS/auth/tokens" -H "$JSON" -d "$(auth_body "$(printf '{"name":"admin","domain":{"id":"nosuchdomain"},"password":"%s"}' "$NPH_ADMIN_PASSWORD")")"
bad "scope to an unknown project (by id)" 401 keystone POST "$KS/auth/tokens" -H "$JSON" -d "$(auth_body "$ADMIN_USER" '{"project":{"id":"deadbeefdeadbeefdeadbeefdeadbeef"}}')"
bad "scope to an unknown project (by name)" 401 keystone POST "$KS/auth/tokens" -H "$JSON" -d "$(auth_body "$ADMIN_USER" '{"project":{"name":"no-such-project","domain":{"id":"default"}}}')"
bad "scope to an unknown domain" 401 keystone POST "$KS/auth/tokens" -H "$JSON" -d "$(auth_body "$ADMIN_USER" '{"domain":{"id":"nosuchdomain"}}')"
bad "unsupported auth method" 401 keystone POST "$KS/auth/tokens" -H "$JSON" -d '{"auth": {"identity": {"methods": ["kerberos"]}}}'
bad "garbage X-Auth-Token" 401 keystone GET "$KS/projects" -H 'X-Auth-Token: garbage!!'
bad "empty X-Auth-Token" 401 keystone GET "$KS/projects" -H 'X-Auth-Token;'
bad "no X-Auth-Token" 401 keystone GET "$KS/projects"
bad "8 kB X-Auth-Token" 401 keystone GET "$KS/projects" -H "X-Auth-Token: $(head -c 8000 /dev/zero | tr '\0' A)"
bad "X-Auth-Token with a flipped character" 401 keystone GET "$KS/projects" -H "X-Auth-Token: ${ADMIN:0:40}$([ "${ADMIN:40:1}" = A ] && echo B || echo A)${ADMIN:41}"
bad "X-Auth-Token of invalid UTF-8" 401 keystone GET "$KS/projects" -H "$(printf 'X-Auth-Token: \xff\xfe\xfd')"
bad "garbage X-Subject-Token" 404 keystone GET "$KS/auth/tokens" "${AUTH[@]}" -H 'X-Subject-Token: garbage'

# ---- SQL-looking strings are data ----------------------------------------------------------------
SQLNAME="x'; DROP TABLE identity_user; --"
SQLDESC="\" OR 1=1; DELETE FROM identity_project WHERE '1'='1"
req POST "$KS/projects" "${AUTH[@]}" -H "$JSON" -d "$("$NPH_PYTHON" -c 'import json,sys; print(json.dumps({"project": {"name": sys.argv[1], "description": sys.argv[2]}}))' "$SQLNAME" "$SQLDESC")"
SQLP_ID=
if [ "$RESP_STATUS" = 201 ] && jcheck 'd["project"]["name"] == "'"x'; DROP TABLE identity_user; --"'"'; then
    pass "project named \"$SQLNAME\" created (201) and echoed literally"
    SQLP_ID=$(printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["project"]["id"])')
else
    fail "project named \"$SQLNAME\" created: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
fi
req POST "$KS/users" "${AUTH[@]}" -H "$JSON" -d "$("$NPH_PYTHON" -c 'import json,sys; print(json.dumps({"user": {"name": sys.argv[1], "password": sys.argv[1], "description": sys.argv[2]}}))' "$SQLNAME" "$SQLDESC")"
SQLU_ID=
if [ "$RESP_STATUS" = 201 ]; then
    pass "user named \"$SQLNAME\" created (201)"
    SQLU_ID=$(printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["user"]["id"])')
else
    fail "user named \"$SQLNAME\" created: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
fi
if [ -n "$SQLP_ID" ]; then
    req GET "$KS/projects/$SQLP_ID" "${AUTH[@]}"
    if [ "$RESP_STATUS" = 200 ] && printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c '
import json, sys
p = json.load(sys.stdin)["project"]
sys.exit(0 if p["name"] == sys.argv[1] and p["description"] == sys.argv[2] else 1)' "$SQLNAME" "$SQLDESC"; then
        pass "project name and description read back identically"
    else
        fail "project name and description read back identically: ${RESP_BODY:0:300}"
    fi
    req GET "$KS/projects?name=$("$NPH_PYTHON" -c 'import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1], safe=""))' "$SQLNAME")" "${AUTH[@]}"
    if jcheck '[p["id"] for p in d["projects"]] == ["'"$SQLP_ID"'"]'; then
        pass "filtering projects by the SQL-looking name finds exactly it"
    else
        fail "filtering projects by the SQL-looking name finds exactly it: ${RESP_BODY:0:300}"
    fi
    req GET "$KS/projects?name=$("$NPH_PYTHON" -c 'import urllib.parse; print(urllib.parse.quote("x%27 OR %271%27=%271", safe=""))')" "${AUTH[@]}"
    if jcheck 'd["projects"] == []'; then
        pass "a filter value of ' OR '1'='1 matches nothing"
    else
        fail "a filter value of ' OR '1'='1 matches nothing: ${RESP_BODY:0:300}"
    fi
fi
if [ -n "$SQLU_ID" ]; then
    req GET "$KS/users/$SQLU_ID" "${AUTH[@]}"
    if [ "$RESP_STATUS" = 200 ] && printf '%s' "$RESP_BODY" | "$NPH_PYTHON" -c '
import json, sys
u = json.load(sys.stdin)["user"]
sys.exit(0 if u["name"] == sys.argv[1] and u["description"] == sys.argv[2] else 1)' "$SQLNAME" "$SQLDESC"; then
        pass "user name and description read back identically"
    else
        fail "user name and description read back identically: ${RESP_BODY:0:300}"
    fi
    # The SQL-looking password works as a password, and only as itself.
    req POST "$KS/auth/tokens" -H "$JSON" -d "$("$NPH_PYTHON" -c 'import json,sys; print(json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": sys.argv[1], "password": sys.argv[2]}}}}}))' "$SQLU_ID" "$SQLNAME")"
    [ "$RESP_STATUS" = 201 ] && pass "the SQL-looking password authenticates its user" ||
        fail "the SQL-looking password authenticates its user: HTTP $RESP_STATUS ${RESP_BODY:0:300}"
    req POST "$KS/auth/tokens" -H "$JSON" -d "$("$NPH_PYTHON" -c 'import json,sys; print(json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": sys.argv[1], "password": "x'"'"' OR '"'"'1'"'"'='"'"'1"}}}}}))' "$SQLU_ID")"
    [ "$RESP_STATUS" = 401 ] && pass "password x' OR '1'='1 does not authenticate" ||
        fail "password x' OR '1'='1 does not authenticate: HTTP $RESP_STATUS"
fi
EXPECT=$(echo "$BASELINE" | awk '{printf "%d %d %d %d", $1 + 1, $2 + 1, $3, $4}')
NOW=$(counts)
[ "$NOW" = "$EXPECT" ] && pass "SQL-looking names: exactly one project and one user more, nothing else changed ($NOW)" ||
    fail "SQL-looking names: expected counts $EXPECT, got $NOW"
[ -n "$SQLU_ID" ] && check "delete the SQL-named user" curl -sf -o /dev/null -X DELETE "${AUTH[@]}" "$NPH_URL$KS/users/$SQLU_ID"
[ -n "$SQLP_ID" ] && check "delete the SQL-named project" curl -sf -o /dev/null -X DELETE "${AUTH[@]}" "$NPH_URL$KS/projects/$SQLP_ID"
after_case "after deleting the SQL-named objects"

# ---- headers, methods, paths ---------------------------------------------------------------------
bad "20 kB header (over max_header_bytes)" "431|400" keystone GET "$KS/projects" "${AUTH[@]}" -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)"
# Beyond libmicrohttpd's connection memory the library itself answers (with its own HTML page),
# so only the status is asserted here.
bad "60 kB header (beyond the HTTP library's buffer)" "431|400" any GET "$KS/projects" "${AUTH[@]}" -H "X-Big: $(head -c 60000 /dev/zero | tr '\0' a)"
HDRS=()
for i in $(seq 400); do HDRS+=(-H "X-Many-$i: $(printf '%040d' "$i")"); done
bad "400 headers" "431|400" any GET "$KS/projects" "${AUTH[@]}" "${HDRS[@]}"
bad "unsupported method PUT on /auth/tokens" 405 keystone PUT "$KS/auth/tokens" "${AUTH[@]}"
bad "unsupported method POST on a project" 405 keystone POST "$KS/projects/whatever" "${AUTH[@]}" -H "$JSON" -d '{}'
bad "unknown path /nowhere" 404 native GET /nowhere
bad "unknown path under /identity/v3" 404 native GET "$KS/no-such-collection" "${AUTH[@]}"
req GET /nowhere
jcheck 'd["error"]["code"] == "not_found"' && pass "unknown path: code is \"not_found\"" ||
    fail "unknown path: code is \"not_found\": $RESP_BODY"
bad "unknown project id" 404 keystone GET "$KS/projects/no-such-project" "${AUTH[@]}"
bad "5000-character project id" 404 keystone GET "$KS/projects/$(head -c 5000 /dev/zero | tr '\0' i)" "${AUTH[@]}"
bad "percent-encoded invalid UTF-8 in a path" 400 keystone GET "$KS/projects/%ff%fe%00" "${AUTH[@]}"
# A NUL decoded from the path must not cut the path short (the id would become a prefix).
# The target is a throwaway project: on a broker with the bug the DELETE really deletes.
VICTIM=$(curl -s "${AUTH[@]}" -H "$JSON" -d '{"project": {"name": "nul-victim"}}' "$NPH_URL$KS/projects" |
    "$NPH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["project"]["id"])' 2>/dev/null)
[ -n "$VICTIM" ] && pass "created throwaway project nul-victim" || fail "created throwaway project nul-victim"
BASELINE=$(counts)
bad "project id followed by %00junk" "400|404" keystone GET "$KS/projects/$VICTIM%00junk" "${AUTH[@]}"
bad "DELETE a project id followed by %00junk" "400|404" keystone DELETE "$KS/projects/$VICTIM%00junk" "${AUTH[@]}"
if [ "$(nph_status "${AUTH[@]}" "$NPH_URL$KS/projects/$VICTIM")" = 200 ]; then
    pass "project nul-victim survived DELETE .../nul-victim-id%00junk"
    check "delete throwaway project nul-victim" curl -sf -o /dev/null -X DELETE "${AUTH[@]}" "$NPH_URL$KS/projects/$VICTIM"
else
    fail "project nul-victim survived DELETE .../nul-victim-id%00junk"
fi
BASELINE=$(counts)
bad "a lone %00 as the project id" "400|404" keystone GET "$KS/projects/%00" "${AUTH[@]}"
# A filter value that is not UTF-8 must not be dropped (which would list everything).
req GET "$KS/projects?name=%ff%fe" "${AUTH[@]}"
if { [ "$RESP_STATUS" = 400 ] && jcheck "$KEYSTONE_FAULT"; } || { [ "$RESP_STATUS" = 200 ] && jcheck 'd["projects"] == []'; }; then
    pass "filter name=%ff%fe gets 400 or matches nothing (HTTP $RESP_STATUS)"
else
    fail "filter name=%ff%fe gets 400 or matches nothing: HTTP $RESP_STATUS ${RESP_BODY:0:200}"
fi
after_case "filter name=%ff%fe"
bad "path traversal" 404 any GET "$KS/projects/..%2f..%2f..%2fetc%2fpasswd" "${AUTH[@]}"
bad "PATCH an unknown project" 404 keystone PATCH "$KS/projects/no-such-project" "${AUTH[@]}" -H "$JSON" -d '{"project": {"name": "renamed"}}'
bad "DELETE an unknown user" 404 keystone DELETE "$KS/users/no-such-user" "${AUTH[@]}"

# ---- a burst of oversized bodies in parallel -----------------------------------------------------
PIDS=()
for i in $(seq 16); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 "${AUTH[@]}" -H "$JSON" \
        --data-binary @"$TMP/10mb" "$NPH_URL$KS/projects" >"$TMP/par.$i" &
    PIDS+=($!)
done
wait "${PIDS[@]}" # not a bare wait: the broker is a child of this shell too
PAR=$(cat "$TMP"/par.* | sort | uniq -c | tr -s ' \n' ' ')
if [ "$(cat "$TMP"/par.* | grep -cx 413)" = 16 ]; then
    pass "16 parallel 10 MB bodies all get 413"
else
    fail "16 parallel 10 MB bodies all get 413 (got:$PAR)"
fi
after_case "after 16 parallel 10 MB bodies"

# ---- memory ---------------------------------------------------------------------------------------
RSS_END=$(nph_rss_kb)
nph_log "RSS: ${RSS_START} kB at start, ${RSS_END} kB after all cases"
# Under AddressSanitizer (NPH_RSS_LIMIT_KB=0) memory is the sanitizer's shadow and quarantine;
# leaks are what LeakSanitizer checks at exit instead.
RSS_LIMIT=${NPH_RSS_LIMIT_KB:-102400}
if [ "$RSS_LIMIT" = 0 ]; then
    nph_log "RSS limit not checked (NPH_RSS_LIMIT_KB=0)"
elif [ -n "$RSS_END" ] && [ "$RSS_END" -lt "$RSS_LIMIT" ]; then
    pass "broker RSS after the hostile input is under 100 MB (${RSS_END} kB)"
else
    fail "broker RSS after the hostile input is under 100 MB (${RSS_END:-?} kB)"
fi
nph_summary

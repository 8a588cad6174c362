#!/usr/bin/env bash
# federation_pg.sh - two brokers on one PostgreSQL store run each federated operation once.
#
# Run under tests/pg_throwaway.sh (it exports NPH_TEST_PG_URL). Broker B is the remote cloud (a
# plain Nephele); brokers A1 and A2 share the PostgreSQL store, the master key and the token
# keys, and both front B as cloud `remote`. Servers created alternately through A1 and A2 are
# built by whichever broker's worker claims the operation: B ends with exactly one server per
# create, every operation is done, and both brokers list the same servers. Reconciliation on
# both (advisory lock: one at a time) reports a server made behind their backs as an orphan.
set -u
. "$(dirname "$0")/lib.sh"

if [ -z "${NPH_TEST_PG_URL:-}" ]; then
    echo "federation_pg: no NPH_TEST_PG_URL (run me under tests/pg_throwaway.sh); skipped"
    exit 77
fi
N=${FED_PG_SERVERS:-8}

# --- B, the remote cloud
nph_start remote || exit 1
B_URL=$NPH_URL B_PW=$NPH_ADMIN_PASSWORD B_PID=$NPH_PID B_DATA=$NPH_DATA B_LOG=$NPH_LOG
head -c 1048576 /dev/zero >"$B_DATA/cirros.raw"
"$NPH_OPENSTACK" image create --public --disk-format raw --container-format bare \
    --file "$B_DATA/cirros.raw" cirros >/dev/null
NPH_PID= NPH_DATA=
b_os() { OS_AUTH_URL=$B_URL/identity/v3 OS_PASSWORD=$B_PW "$NPH_OPENSTACK" "$@"; }

# --- A1 and A2 on one store
SHARED=$(mktemp -d "${TMPDIR:-/tmp}/nephele-fedpg.XXXXXX")
mkdir -p "$SHARED/keys"
cat >"$SHARED/fed.yaml" <<Y
identity:
  token_keys_dir: $SHARED/keys
  password_hash_iterations: 1000
clouds:
  - name: remote
    kind: openstack
    auth:
      auth_url: $B_URL/identity/v3
      username: admin
      password: "$B_PW"
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
federation:
  poll_interval_ms: 100
  reconcile_interval: 1
  health_interval: 1
Y
export NEPHELE_STORE_URL=$NPH_TEST_PG_URL
NEPHELE_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export NEPHELE_MASTER_KEY
A_PIDS=() A_URLS=() A_LOGS=() A_DATAS=()
for i in 1 2; do
    nph_start "a$i" --config "$SHARED/fed.yaml" || { fail "broker a$i starts"; nph_summary; }
    A_PIDS+=("$NPH_PID") A_URLS+=("$NPH_URL") A_LOGS+=("$NPH_LOG") A_DATAS+=("$NPH_DATA")
    [ "$i" = 1 ] && A_PW=$NPH_ADMIN_PASSWORD
    NPH_PID= NPH_DATA=
done
token() {
    curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"},\"password\":\"$A_PW\"}}},\"scope\":{\"project\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"}}}}}" \
        "$1/identity/v3/auth/tokens" | awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r'
}
TOK=$(token "${A_URLS[0]}")
[ -n "$TOK" ] && pass "a token from A1" || fail "a token from A1"
# the same token works on A2 (shared keys, shared store)
[ "$(nph_status -H "X-Auth-Token: $TOK" "${A_URLS[1]}/v1/clouds")" = 200 ] &&
    pass "A1's token is valid on A2" || fail "A1's token is valid on A2"

# a cloud added at runtime through A1 reaches A2 within a health interval (1 s here), and so
# does its removal
cloud_names() { curl -s -H "X-Auth-Token: $TOK" "$1/v1/clouds" | jq -r '[.clouds[].name]|sort|join(",")'; }
st=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $TOK" -H 'Content-Type: application/json' \
    -d '{"cloud": {"name": "remote2", "kind": "openstack", "auth": {"auth_url": "'"$B_URL"'/identity/v3", "username": "admin", "password": "'"$B_PW"'", "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"}}}' \
    "${A_URLS[0]}/v1/clouds")
[ "$st" = 201 ] && pass "POST /v1/clouds remote2 on A1 (201)" || fail "POST /v1/clouds remote2 on A1: HTTP $st"
deadline=$((SECONDS + 10)) t0=$SECONDS
while [ $SECONDS -lt $deadline ] && [ "$(cloud_names "${A_URLS[1]}")" != remote,remote2 ]; do sleep 0.2; done
echo "# A2 saw remote2 after $((SECONDS - t0)) s"
[ "$(cloud_names "${A_URLS[1]}")" = remote,remote2 ] && pass "A2 lists remote2 without a restart" ||
    { fail "A2 lists remote2 without a restart ($(cloud_names "${A_URLS[1]}"))"; grep -h 'federation\.cloud\|error' "${A_LOGS[1]}" | cut -c1-300 | tail -n 20 | sed 's/^/     | A2: /'; }
st=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "X-Auth-Token: $TOK" "${A_URLS[0]}/v1/clouds/remote2")
[ "$st" = 204 ] && pass "DELETE /v1/clouds/remote2 on A1 (204)" || fail "DELETE /v1/clouds/remote2 on A1: HTTP $st"
deadline=$((SECONDS + 10))
while [ $SECONDS -lt $deadline ] && [ "$(cloud_names "${A_URLS[1]}")" != remote ]; do sleep 0.2; done
[ "$(cloud_names "${A_URLS[1]}")" = remote ] && pass "A2 drops remote2 without a restart" ||
    fail "A2 drops remote2 without a restart ($(cloud_names "${A_URLS[1]}"))"

OPS=()
for i in $(seq 1 "$N"); do
    u=${A_URLS[$((i % 2))]}
    r=$(curl -s -H "X-Auth-Token: $TOK" -H 'Content-Type: application/json' \
        -d "{\"server\":{\"name\":\"pg-$i\",\"flavor\":\"m1.tiny\",\"image\":\"cirros\",\"cloud\":\"remote\"}}" \
        "$u/v1/servers")
    OPS+=("$(printf '%s' "$r" | jq -r '.operation.id // empty')")
done
[ "${#OPS[@]}" = "$N" ] && [ -n "${OPS[$((N - 1))]}" ] && pass "$N creates journaled" || fail "$N creates journaled"
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
    pending=0
    for op in "${OPS[@]}"; do
        st=$(curl -s -H "X-Auth-Token: $TOK" "${A_URLS[0]}/v1/operations/$op" | jq -r .operation.state)
        [ "$st" = done ] || pending=$((pending + 1))
    done
    [ $pending = 0 ] && break
    sleep 0.5
done
[ "$pending" = 0 ] && pass "every operation done" || fail "every operation done ($pending left)"
count=$(b_os server list -f value -c Name | grep -c '^pg-')
if [ "$count" = "$N" ]; then
    pass "B holds exactly $N servers (each create ran once)"
else
    fail "B holds exactly $N servers (has $count)"
    b_os server list --all-projects -f value -c ID -c Name -c Status | sed 's/^/     | B: /'
    for op in "${OPS[@]}"; do
        curl -s -H "X-Auth-Token: $TOK" "${A_URLS[0]}/v1/operations/$op" | jq -c '.operation | {id, server_id, state, phase, attempts, error}' | sed 's/^/     | op: /'
    done
    curl -s -H "X-Auth-Token: $TOK" "${A_URLS[0]}/v1/servers" | jq -c '.servers[] | {id, name, status, remote_id}' | sed 's/^/     | A: /'
    grep -h 'federation\.' "${A_LOGS[@]}" | grep -v 'cloud_health' | cut -c1-300 | tail -n 40 | sed 's/^/     | log: /'
fi
dups=$(b_os server list -f value -c Name | grep '^pg-' | sort | uniq -d | wc -l)
[ "$dups" = 0 ] && pass "no server was created twice" || fail "no server was created twice ($dups names twice)"
l1=$(curl -s -H "X-Auth-Token: $TOK" "${A_URLS[0]}/v1/servers" | jq -r '[.servers[].id]|sort|join(",")')
l2=$(curl -s -H "X-Auth-Token: $TOK" "${A_URLS[1]}/v1/servers" | jq -r '[.servers[].id]|sort|join(",")')
[ -n "$l1" ] && [ "$l1" = "$l2" ] && pass "both brokers list the same servers" || fail "both brokers list the same servers"
# who ran the operations: both brokers' workers may have; together exactly N creates
c1=$(grep -c 'event=federation.op_finished.*kind=create' "${A_LOGS[0]}")
c2=$(grep -c 'event=federation.op_finished.*kind=create' "${A_LOGS[1]}")
[ $((c1 + c2)) = "$N" ] && pass "creates finished once across the fleet (A1 $c1, A2 $c2)" ||
    fail "creates finished once across the fleet (A1 $c1, A2 $c2)"

# an orphan made behind the brokers' backs is found by the (single) reconciler
b_os server create --flavor m1.tiny --image cirros orphan-pg >/dev/null
deadline=$((SECONDS + 20))
found=0
while [ $SECONDS -lt $deadline ]; do
    curl -s -H "X-Auth-Token: $TOK" "${A_URLS[1]}/v1/clouds/remote/orphans" | jq -e '.orphans[]|select(.name=="orphan-pg")' >/dev/null && { found=1; break; }
    sleep 0.5
done
[ $found = 1 ] && pass "the orphan is reported" || fail "the orphan is reported"

# delete everything through A2
for id in $(curl -s -H "X-Auth-Token: $TOK" "${A_URLS[1]}/v1/servers" | jq -r '.servers[].id'); do
    curl -s -o /dev/null -X DELETE -H "X-Auth-Token: $TOK" "${A_URLS[1]}/v1/servers/$id"
done
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
    left=$(b_os server list -f value -c Name | grep -c '^pg-')
    [ "$left" = 0 ] && break
    sleep 0.5
done
[ "$left" = 0 ] && pass "deletes through A2 reached B" || fail "deletes through A2 reached B ($left left)"

for i in 0 1; do
    NPH_PID=${A_PIDS[$i]} NPH_DATA=${A_DATAS[$i]} NPH_LOG=${A_LOGS[$i]} NPH_NAME=a$((i + 1))
    nph_stop && pass "A$((i + 1)) stopped gracefully" || fail "A$((i + 1)) stopped gracefully"
done
rm -rf "$SHARED"
NPH_PID=$B_PID NPH_DATA=$B_DATA NPH_LOG=$B_LOG NPH_NAME=remote
nph_summary

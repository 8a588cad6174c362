#!/bin/bash
# peer.sh - a real OpenStack (Zed, Debian 12 packages) on 127.0.0.1, for Nephele's federation tests.
#
#   peer.sh up      install what is missing (apt), configure, start what is down, provision, smoke
#   peer.sh packages  only install what is missing (apt); starts nothing
#   peer.sh down    stop what this script started (pid files); packages, configs and data stay
#   peer.sh env     print the env file (OS_* admin variables and NPH_PEER_*): . <(peer.sh env)
#   peer.sh smoke   server create --wait (fake driver) + delete, and a Swift object round trip
#   peer.sh status  which services run, with pids
#   peer.sh purge   down, then drop the PostgreSQL cluster and remove the state dir
#
# Started, all on 127.0.0.1 only, without systemd (start-stop-daemon, pid files in $DIR/run):
#   PostgreSQL cluster 15/nphpeer :5433   memcached :11211   RabbitMQ :5672 (epmd :4369, dist :25672)
#   Keystone :5000 (uwsgi)   Placement :8778 (uwsgi)   Glance :9292   Neutron server :9696 (API only)
#   Nova api :8774 (uwsgi), conductor, scheduler, compute (fake virt driver, host "nphpeer")
#   Swift proxy :8080 (keystone auth + s3api), account :6202, container :6201, object :6200
#
# State dir: NPH_PEER_DIR (default /var/lib/nephele-peer): etc/ (all configs), run/ (pid files),
# log/ (one log per daemon), pg/ (the cluster's data), swift/, glance/, rabbitmq/, and
# peer.env (the env file). Nothing under /etc/<service> is changed; packages' scripts start nothing
# (policy-rc.d). `up` is idempotent: it re-writes configs, restarts a daemon only if its config
# changed or it is down, and skips database migrations already done for the installed version.
#
# Environment: NPH_PEER_DIR, NPH_PEER_SMOKE=0 (no smoke in `up`), NPH_PEER_SWIFT=0 (no Swift),
# NPH_PEER_SKIP_APT=1, NPH_PEER_ADMIN_PASS, NPH_PEER_DEMO_PASS, NPH_PEER_SERVICE_PASS, NPH_PEER_DB_PASS.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin   # no pyenv/venv shims: Debian's python3 has the OpenStack libs
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV PYENV_VERSION
for v in $(compgen -e | grep -E '^OS_' || true); do unset "$v"; done
umask 022

DIR=${NPH_PEER_DIR:-/var/lib/nephele-peer}
ENVFILE=$DIR/peer.env
RUN=$DIR/run
LOG=$DIR/log
ETC=$DIR/etc
H=127.0.0.1
REGION=RegionOne
PGPORT=5433
PGCLUSTER=nphpeer
ADMIN_PASS=${NPH_PEER_ADMIN_PASS:-nphpeer-admin}
DEMO_PASS=${NPH_PEER_DEMO_PASS:-nphpeer-demo}
SVC_PASS=${NPH_PEER_SERVICE_PASS:-nphpeer-service}
DB_PASS=${NPH_PEER_DB_PASS:-nphpeer-db}
RABBIT_PASS=nphpeer-rabbit
RABBIT_NODE=nphpeer@localhost
WANT_SWIFT=${NPH_PEER_SWIFT:-1}
DB="postgresql+psycopg2://nphpeer:${DB_PASS}@${H}:${PGPORT}"
PY=/usr/bin/python3
PKGS=(postgresql python3-psycopg2 memcached rabbitmq-server uwsgi-plugin-python3 curl
  python3-openstackclient keystone placement-api glance-api neutron-server
  nova-api nova-conductor nova-scheduler nova-common
  swift swift-proxy swift-account swift-container swift-object)
# daemons in start order; `down` stops them in reverse
SERVICES=(memcached epmd rabbitmq keystone placement-api glance-api neutron-server
  nova-api nova-conductor nova-scheduler nova-compute
  swift-account swift-container swift-object swift-proxy)
declare -A PORT=([memcached]=11211 [epmd]=4369 [rabbitmq]=5672 [keystone]=5000 [placement-api]=8778
  [glance-api]=9292 [neutron-server]=9696 [nova-api]=8774 [swift-account]=6202 [swift-container]=6201
  [swift-object]=6200 [swift-proxy]=8080)

T0=$(date +%s.%N)
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
log() { printf '[%6ss] %s\n' "$(secs "$T0")" "$*"; }
die() { log "FATAL: $*" >&2; exit 1; }
TIMINGS=()
# timed NAME CMD...: run CMD, print and remember how long it took
timed() {
  local name=$1 t; shift; t=$(now)
  "$@"
  TIMINGS+=("$(printf '%-26s %6ss' "$name" "$(secs "$t")")")
  log "--- $name done in $(secs "$t")s"
}

# ------------------------------------------------------------------ processes
pid_of() { [[ -s $RUN/$1.pid ]] && cat "$RUN/$1.pid"; }
is_running() {  # pid alive and still the program we started (pid files survive reboots)
  local pid; pid=$(pid_of "$1") || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [[ -s $RUN/$1.exe ]] || return 0
  local cmd; cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$(cat "$RUN/$1.exe")"* ]]
}
port_open() { (exec 3<>"/dev/tcp/$H/$1") 2>/dev/null; }
port_owner() { ss -Hltnp "sport = :$1" 2>/dev/null | head -1 | sed 's/.*users://'; }
check_port_free() {  # check_port_free NAME PORT: refuse to start over a daemon that is not ours
  port_open "$2" || return 0
  local who; who=$(port_owner "$2")
  [[ -d /run/openstack-peer || -d /var/lib/openstack-peer ]] && who+=" (the shared recipe's peer in /run/openstack-peer? stop it with /work/shared/peers/openstack-peer-stop.sh)"
  die "$1: port $H:$2 is already in use by ${who:-another process}; not starting"
}
# start_svc NAME USER CMD ARGS...: background CMD as USER, pid in $RUN/NAME.pid, output in $LOG/NAME.log
start_svc() {
  local name=$1 user=$2; shift 2
  if is_running "$name"; then return 0; fi
  [[ -n ${PORT[$name]:-} ]] && check_port_free "$name" "${PORT[$name]}"
  log "starting $name"
  # what /proc/PID/cmdline must contain (through env, the program env runs)
  if [[ $1 == /usr/bin/env ]]; then printf '%s' "${@: -1}"; else printf '%s' "$1"; fi >"$RUN/$name.exe"
  start-stop-daemon --start --background --make-pidfile --pidfile "$RUN/$name.pid" \
    --chuid "$user" --chdir "$DIR" --output "$LOG/$name.log" --exec "$1" -- "${@:2}"
  local i  # with --background the pid file may be written just after start-stop-daemon returns
  for ((i = 0; i < 50; i++)); do [[ -s $RUN/$name.pid ]] && return 0; sleep 0.1; done
  die "$name: no pid file after 5 s"
}
term_svc() {  # send TERM, do not wait
  local pid
  is_running "$1" || { rm -f "$RUN/$1.pid"; return 0; }
  local sig=TERM  # a uWSGI master may wait for busy workers on TERM; INT ends it at once
  case $1 in keystone|placement-api|nova-api) sig=INT ;; esac
  pid=$(pid_of "$1"); log "stopping $1 (pid $pid)"; kill -$sig "$pid" 2>/dev/null || true
}
wait_gone() {  # wait_gone NAME...: wait up to 30 s for each, then KILL
  local n pid i
  for n in "$@"; do
    pid=$(pid_of "$n") || continue
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "$n did not stop in 30 s: KILL"; kill -KILL "$pid" 2>/dev/null || true
    elif ((i > 20)); then log "$n stopped after $((i / 10)).$((i % 10))s"; fi
    rm -f "$RUN/$n.pid"
  done
}
stop_svc() { term_svc "$1"; wait_gone "$1"; }
wait_port() {  # wait_port NAME PORT TIMEOUT
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    port_open "$2" && return 0
    is_running "$1" || { tail -20 "$LOG/$1.log" >&2; die "$1 died (log: $LOG/$1.log)"; }
    sleep 0.2
  done
  tail -20 "$LOG/$1.log" >&2; die "$1: port $2 not open after $3 s"
}
wait_http() {  # wait_http NAME URL TIMEOUT (any HTTP answer counts)
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    curl -s -o /dev/null -m 5 "$2" && return 0
    is_running "$1" || { tail -20 "$LOG/$1.log" >&2; die "$1 died (log: $LOG/$1.log)"; }
    sleep 0.2
  done
  tail -20 "$LOG/$1.log" >&2; die "$1: $2 not answering after $3 s"
}

# put PATH MODE OWNER:GROUP < content: write only when changed; status 0 = changed
put() {
  local f=$1 tmp; tmp=$(mktemp)
  cat >"$tmp"
  if [[ -f $f ]] && cmp -s "$tmp" "$f"; then rm -f "$tmp"; return 1; fi
  install -D -m "$2" -o "${3%:*}" -g "${3#*:}" "$tmp" "$f"; rm -f "$tmp"
}
# restart_if_changed CHANGED NAME...: after `put ... && chg=1`, stop the daemons that run on the old config
restart_if_changed() { local chg=$1; shift; [[ $chg == 1 ]] || return 0; for s in "$@"; do stop_svc "$s"; done; }

# background jobs: bg NAME FUNC; join NAME (fails with the job's log tail)
declare -A JOB
bg() { local n=$1; shift; ( "$@" ) >"$LOG/job-$n.out" 2>&1 & JOB[$n]=$!; }
join() {
  local n rc
  for n in "$@"; do
    [[ -n ${JOB[$n]:-} ]] || continue
    rc=0; wait "${JOB[$n]}" || rc=$?
    unset "JOB[$n]"
    sed 's/^/    /' "$LOG/job-$n.out"
    [[ $rc == 0 ]] || die "job $n failed (exit $rc); see $LOG/job-$n.out and $LOG/"
  done
}

# ------------------------------------------------------------------ PostgreSQL helpers
psql_peer() { PGOPTIONS="-c client_min_messages=warning" runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -p $PGPORT "$@"; }
stamp_get() { psql_peer -d nphpeer -tAc "SELECT val FROM stamps WHERE name='$1'" 2>/dev/null || true; }
stamp_set() { psql_peer -d nphpeer -c "INSERT INTO stamps VALUES ('$1', '$2') ON CONFLICT (name) DO UPDATE SET val = EXCLUDED.val"; }
pkgver() { dpkg-query -W -f='${Version}' "$1"; }
# synced NAME: true when migrations for NAME ran for the installed package version
synced() { [[ $(stamp_get "db-$1") == "$(pkgver "$2")" ]]; }

# ------------------------------------------------------------------ phases
phase_packages() {
  local missing=() p
  for p in "${PKGS[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) == ii* ]] || missing+=("$p")
  done
  if [[ ${#missing[@]} == 0 ]]; then log "packages: all ${#PKGS[@]} installed, apt skipped"; return 0; fi
  [[ ${NPH_PEER_SKIP_APT:-0} == 1 ]] && die "packages missing (${missing[*]}) and NPH_PEER_SKIP_APT=1"
  # package scripts must start nothing (they would bind 0.0.0.0 and use the default ports)
  local prc=/usr/sbin/policy-rc.d made=0
  if [[ ! -e $prc ]]; then printf '#!/bin/sh\nexit 101\n' >$prc; chmod 755 $prc; made=1; fi
  local apt=(apt-get -o DPkg::Lock::Timeout=900 -o Dpkg::Options::=--force-unsafe-io -o Dpkg::Options::=--force-confold)
  log "apt-get install: ${#missing[@]} of ${#PKGS[@]} packages missing (${missing[*]})"
  apt-cache show keystone >/dev/null 2>&1 || "${apt[@]}" update -qq
  if ! "${apt[@]}" install -y -qq --no-install-recommends "${PKGS[@]}" >"$LOG/apt.log" 2>&1; then
    log "apt-get install failed; apt-get update and retry"
    "${apt[@]}" update -qq
    "${apt[@]}" install -y -qq --no-install-recommends "${PKGS[@]}" >"$LOG/apt.log" 2>&1 \
      || { [[ $made == 1 ]] && rm -f $prc; tail -30 "$LOG/apt.log" >&2; die "apt-get install failed"; }
  fi
  [[ $made == 1 ]] && rm -f $prc
  if [[ -d /run/systemd/system ]]; then  # on a systemd host the packaged units would hold our ports
    for p in keystone nova-api nova-conductor nova-scheduler placement-api glance-api neutron-api \
      neutron-rpc-server swift-proxy swift-account swift-container swift-object memcached rabbitmq-server epmd; do
      systemctl disable --now "$p" >/dev/null 2>&1 || true
    done
  fi
}

phase_dirs() {
  install -d -m 755 "$DIR" "$ETC" "$LOG" "$RUN"
  install -d -m 755 -o keystone -g keystone "$DIR/keystone"
  install -d -m 755 -o glance -g glance "$DIR/glance" "$DIR/glance/images" "$DIR/glance/tmp"
  install -d -m 755 -o neutron -g neutron "$DIR/neutron"
  install -d -m 755 -o nova -g nova "$DIR/nova" "$DIR/nova/instances" "$DIR/nova/tmp"
  install -d -m 755 -o rabbitmq -g rabbitmq "$DIR/rabbitmq"
  install -d -m 755 -o swift -g swift "$DIR/swift" "$DIR/swift/node" "$DIR/swift/node/d1" "$DIR/swift/cache"
  local s
  for s in "${SERVICES[@]}"; do  # a stale pid file (reboot, crash) is removed here
    [[ -e $RUN/$s.pid ]] && ! is_running "$s" && rm -f "$RUN/$s.pid"
  done
  return 0
}

phase_postgres() {
  local ver; ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
  if [[ -z $(pg_lsclusters -h | awk -v c="$ver/$PGCLUSTER" '$1"/"$2 == c') ]]; then
    check_port_free postgres $PGPORT
    log "creating PostgreSQL cluster $ver/$PGCLUSTER on $H:$PGPORT (data in $DIR/pg)"
    install -d -m 700 -o postgres -g postgres "$DIR/pg"
    pg_createcluster "$ver" $PGCLUSTER -p $PGPORT -d "$DIR/pg" --start-conf manual \
      -- --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  fi
  local chg=0
  put /etc/postgresql/$ver/$PGCLUSTER/conf.d/nphpeer.conf 644 postgres:postgres <<EOF && chg=1 || true
# written by Nephele's tests/integration/openstack/peer.sh: a throwaway test database
listen_addresses = '$H'
port = $PGPORT
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  if pg_ctlcluster "$ver" $PGCLUSTER status >/dev/null 2>&1; then
    [[ $chg == 1 ]] && { log "PostgreSQL config changed: restart"; pg_ctlcluster "$ver" $PGCLUSTER restart; }
  else
    check_port_free postgres $PGPORT
    log "starting PostgreSQL $ver/$PGCLUSTER"
    pg_ctlcluster "$ver" $PGCLUSTER start
  fi
  psql_peer -d postgres <<EOF
DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nphpeer') THEN CREATE ROLE nphpeer LOGIN; END IF; END\$\$;
ALTER ROLE nphpeer PASSWORD '$DB_PASS';
SELECT format('CREATE DATABASE %I OWNER nphpeer', d) FROM unnest(ARRAY['nphpeer', 'keystone', 'placement',
  'nova_api', 'nova', 'nova_cell0', 'glance', 'neutron']) AS d
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec
EOF
  psql_peer -d nphpeer -c "CREATE TABLE IF NOT EXISTS stamps (name text PRIMARY KEY, val text)"
}

phase_memcached() {
  start_svc memcached memcache /usr/bin/memcached -l $H -p 11211 -U 0 -m 128 -c 4096
}

phase_rabbitmq() {
  install -d -m 755 "$ETC/rabbitmq"
  local chg=0
  # the user is created by the first boot of a new node: no rabbitmqctl round trips
  put "$ETC/rabbitmq/rabbitmq.conf" 644 root:root <<EOF && chg=1 || true
listeners.tcp.1 = $H:5672
default_user = openstack
default_pass = $RABBIT_PASS
default_vhost = /
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
disk_free_limit.absolute = 50MB
EOF
  put "$ETC/rabbitmq/enabled_plugins" 644 root:root <<<'[].' || true
  : >"$ETC/rabbitmq/rabbitmq-env.conf"
  restart_if_changed $chg rabbitmq
  # epmd on loopback; reuse one that is already there
  if ! port_open 4369; then
    start_svc epmd rabbitmq /usr/bin/epmd -address $H -port 4369
    wait_port epmd 4369 20
  fi
  is_running rabbitmq && return 0
  check_port_free rabbitmq 5672; check_port_free rabbitmq-dist 25672
  start_svc rabbitmq rabbitmq /usr/bin/env HOME="$DIR/rabbitmq" ERL_EPMD_ADDRESS=$H ERL_EPMD_PORT=4369 \
    RABBITMQ_NODENAME=$RABBIT_NODE RABBITMQ_NODE_IP_ADDRESS=$H RABBITMQ_NODE_PORT=5672 RABBITMQ_DIST_PORT=25672 \
    RABBITMQ_CONFIG_FILE="$ETC/rabbitmq/rabbitmq.conf" RABBITMQ_CONF_ENV_FILE="$ETC/rabbitmq/rabbitmq-env.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$ETC/rabbitmq/enabled_plugins" RABBITMQ_MNESIA_BASE="$DIR/rabbitmq/mnesia" \
    RABBITMQ_LOG_BASE="$DIR/rabbitmq/log" RABBITMQ_LOGS=- \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none" \
    /usr/lib/rabbitmq/bin/rabbitmq-server
}

uwsgi_ini() {  # uwsgi_ini NAME USER PORT WSGI_SCRIPT PROCESSES THREADS ENV...; status 0 = changed
  local name=$1 user=$2 port=$3 script=$4 procs=$5 threads=$6 e; shift 6
  { cat <<EOF
[uwsgi]
plugins = python3
http-socket = $H:$port
add-header = Connection: close
master = true
lazy-apps = true
enable-threads = true
thunder-lock = true
die-on-term = true
reload-mercy = 5
worker-reload-mercy = 5
no-orphans = true
buffer-size = 65535
listen = 128
processes = $procs
threads = $threads
name = $name
uid = $user
gid = $user
chdir = $DIR
wsgi-file = $script
EOF
    for e in "$@"; do echo "env = $e"; done; } | put "$ETC/uwsgi/$name.ini" 644 root:root
}
authtoken() {  # keystonemiddleware / keystoneauth options for service user $1
  cat <<EOF
www_authenticate_uri = http://$H:5000
auth_url = http://$H:5000
memcached_servers = $H:11211
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $SVC_PASS
region_name = $REGION
service_token_roles_required = true
EOF
}

job_keystone() {
  local chg=0
  put "$ETC/keystone/keystone.conf" 640 root:keystone <<EOF && chg=1 || true
[DEFAULT]
use_stderr = true
[database]
connection = $DB/keystone
max_pool_size = 10
max_overflow = 20
[token]
provider = fernet
[fernet_tokens]
key_repository = $ETC/keystone/fernet-keys/
[fernet_receipts]
key_repository = $ETC/keystone/fernet-keys/
[credential]
key_repository = $ETC/keystone/credential-keys/
[cache]
enabled = true
backend = oslo_cache.memcache_pool
memcache_servers = $H:11211
[catalog]
driver = sql
[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
EOF
  uwsgi_ini keystone keystone 5000 /usr/bin/keystone-wsgi-public 2 2 \
    "OS_KEYSTONE_CONFIG_DIR=$ETC/keystone" "OS_KEYSTONE_CONFIG_FILES=keystone.conf" && chg=1 || true
  restart_if_changed $chg keystone
  local km=(keystone-manage --config-file "$ETC/keystone/keystone.conf")
  # what fernet_setup and credential_setup write (a staged key 0 and a primary key 1), without
  # two more keystone-manage start-ups
  local kd k
  for kd in fernet-keys credential-keys; do
    [[ -s $ETC/keystone/$kd/1 ]] && continue
    install -d -m 700 -o keystone -g keystone "$ETC/keystone/$kd"
    for k in 0 1; do
      head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n' >"$ETC/keystone/$kd/$k"
      chown keystone:keystone "$ETC/keystone/$kd/$k"; chmod 600 "$ETC/keystone/$kd/$k"
    done
  done
  local want="$(pkgver keystone) $(printf '%s' "$ADMIN_PASS" | md5sum | cut -c1-8)"
  if [[ $(stamp_get db-keystone) != "$want" ]]; then
    log "keystone db_sync + bootstrap"
    runuser -u keystone -- "${km[@]}" db_sync
    runuser -u keystone -- "${km[@]}" bootstrap --bootstrap-password "$ADMIN_PASS" \
      --bootstrap-admin-url http://$H:5000/v3/ --bootstrap-internal-url http://$H:5000/v3/ \
      --bootstrap-public-url http://$H:5000/v3/ --bootstrap-region-id $REGION
    stamp_set db-keystone "$want"
  fi
  start_svc keystone root /usr/bin/uwsgi --ini "$ETC/uwsgi/keystone.ini"
  wait_http keystone http://$H:5000/v3 300
}

job_placement() {
  local chg=0
  { cat <<EOF
[DEFAULT]
use_stderr = true
[api]
auth_strategy = keystone
[placement_database]
connection = $DB/placement
max_pool_size = 5
max_overflow = 10
[keystone_authtoken]
EOF
    authtoken placement; } | put "$ETC/placement/placement.conf" 640 root:placement && chg=1 || true
  uwsgi_ini placement-api placement 8778 /usr/bin/placement-api 1 4 \
    "OS_PLACEMENT_CONFIG_DIR=$ETC/placement" && chg=1 || true
  restart_if_changed $chg placement-api
  if ! synced placement placement-api; then
    log "placement db sync"
    runuser -u placement -- placement-manage --config-file "$ETC/placement/placement.conf" db sync
    stamp_set db-placement "$(pkgver placement-api)"
  fi
  start_svc placement-api root /usr/bin/uwsgi --ini "$ETC/uwsgi/placement-api.ini"
  wait_http placement-api http://$H:8778/ 300
}

job_glance() {
  local chg=0
  { cat <<EOF
[DEFAULT]
use_stderr = true
bind_host = $H
bind_port = 9292
workers = 1
enabled_backends = fs:file
[database]
connection = $DB/glance
max_pool_size = 5
max_overflow = 10
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $DIR/glance/images/
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $DIR/glance/tmp
[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
[keystone_authtoken]
EOF
    authtoken glance; } | put "$ETC/glance/glance-api.conf" 640 root:glance && chg=1 || true
  restart_if_changed $chg glance-api
  if ! synced glance glance-api; then
    log "glance db sync"
    runuser -u glance -- glance-manage --config-file "$ETC/glance/glance-api.conf" db_sync >"$LOG/glance-dbsync.log" 2>&1 \
      || { tail "$LOG/glance-dbsync.log"; die "glance db_sync"; }
    stamp_set db-glance "$(pkgver glance-api)"
  fi
  start_svc glance-api glance /usr/bin/glance-api --config-file "$ETC/glance/glance-api.conf"
  wait_http glance-api http://$H:9292/ 300
}

job_neutron() {
  local chg=0
  { cat <<EOF
[DEFAULT]
use_stderr = true
bind_host = $H
bind_port = 9696
core_plugin = ml2
service_plugins =
auth_strategy = keystone
api_paste_config = /etc/neutron/api-paste.ini
transport_url = rabbit://openstack:$RABBIT_PASS@$H:5672/
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 0
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
state_path = $DIR/neutron
[database]
connection = $DB/neutron
max_pool_size = 5
max_overflow = 10
[oslo_concurrency]
lock_path = $DIR/neutron
[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
[keystone_authtoken]
EOF
    authtoken neutron; } | put "$ETC/neutron/neutron.conf" 640 root:neutron && chg=1 || true
  put "$ETC/neutron/ml2_conf.ini" 644 root:neutron <<EOF && chg=1 || true
[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers =
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
[ml2_type_vxlan]
vni_ranges = 1:1000
EOF
  restart_if_changed $chg neutron-server
  local cf=(--config-file "$ETC/neutron/neutron.conf" --config-file "$ETC/neutron/ml2_conf.ini")
  if ! synced neutron neutron-server; then
    log "neutron db upgrade"
    runuser -u neutron -- neutron-db-manage "${cf[@]}" upgrade heads >"$LOG/neutron-dbsync.log" 2>&1 \
      || { tail "$LOG/neutron-dbsync.log"; die "neutron db upgrade"; }
    stamp_set db-neutron "$(pkgver neutron-server)"
  fi
  start_svc neutron-server neutron /usr/bin/neutron-server "${cf[@]}"
  wait_http neutron-server http://$H:9696/ 300
}

nova_conf() {
  cat <<EOF
[DEFAULT]
use_stderr = true
host = nphpeer
my_ip = $H
state_path = $DIR/nova
instances_path = $DIR/nova/instances
transport_url = rabbit://openstack:$RABBIT_PASS@$H:5672/
compute_driver = fake.FakeDriver
enabled_apis = osapi_compute
osapi_compute_listen = $H
metadata_listen = $H
[api]
auth_strategy = keystone
[api_database]
connection = $DB/nova_api
max_pool_size = 5
max_overflow = 10
[database]
connection = $DB/nova
max_pool_size = 5
max_overflow = 10
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 2
[glance]
api_servers = http://$H:9292
[oslo_concurrency]
lock_path = $DIR/nova/tmp
[oslo_messaging_notifications]
driver = noop
[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
[vnc]
enabled = false
[cinder]
os_region_name = $REGION
[wsgi]
api_paste_config = /etc/nova/api-paste.ini
[keystone_authtoken]
EOF
  authtoken nova
  echo "[service_user]"; echo "send_service_user_token = true"; authtoken nova | grep -v service_token_roles
  echo "[placement]"; authtoken placement | grep -vE 'www_auth|memcached|service_token'
  echo "[neutron]"; authtoken neutron | grep -vE 'www_auth|memcached|service_token'
}

job_nova() {
  local chg=0 chgc=0 s
  nova_conf | put "$ETC/nova/nova.conf" 640 root:nova && chg=1 || true
  # nova-compute must not see database credentials: it goes through the conductor
  nova_conf | awk '/^\[/{skip=($0=="[database]"||$0=="[api_database]")} !skip' \
    | put "$ETC/nova/nova-compute.conf" 640 root:nova || rcc=$?
  uwsgi_ini nova-api nova 8774 /usr/bin/nova-api-wsgi 2 1 \
    "OS_NOVA_CONFIG_DIR=$ETC/nova" && chg=1 || true
  ln -sfn /etc/nova/api-paste.ini "$ETC/nova/api-paste.ini"   # nova-api-wsgi reads both from OS_NOVA_CONFIG_DIR
  restart_if_changed $chg nova-api nova-conductor nova-scheduler
  restart_if_changed $chgc nova-compute
  local nm=(runuser -u nova -- nova-manage --config-file "$ETC/nova/nova.conf")
  if ! synced nova nova-common; then
    log "nova api_db sync, cells, db sync"
    "${nm[@]}" api_db sync
    # what `cell_v2 map_cell0` and `cell_v2 create_cell --name cell1` store, without two nova-manage start-ups
    psql_peer -d nova_api <<EOF
INSERT INTO cell_mappings (created_at, uuid, name, transport_url, database_connection, disabled)
  SELECT now(), '00000000-0000-0000-0000-000000000000', 'cell0', 'none:///', '$DB/nova_cell0', false
  WHERE NOT EXISTS (SELECT FROM cell_mappings WHERE name = 'cell0');
INSERT INTO cell_mappings (created_at, uuid, name, transport_url, database_connection, disabled)
  SELECT now(), gen_random_uuid()::text, 'cell1', 'rabbit://openstack:$RABBIT_PASS@$H:5672/', '$DB/nova', false
  WHERE NOT EXISTS (SELECT FROM cell_mappings WHERE name = 'cell1');
EOF
    "${nm[@]}" db sync   # cell0 and cell1
    stamp_set db-nova "$(pkgver nova-common)"
  fi
  start_svc nova-api root /usr/bin/uwsgi --ini "$ETC/uwsgi/nova-api.ini"
}

# conductor and scheduler log in to placement when they start and exit if their user is not there yet;
# the nova-compute package would pull libvirt and qemu, the fake driver needs only python3-nova
NOVA_T0=
start_nova_daemons() {
  # daemons (re)started from now on must report in after this time (wait_compute)
  NOVA_T0=$(psql_peer -d nova -tAc "SELECT (now() AT TIME ZONE 'utc') - interval '1 second'")
  start_svc nova-conductor nova /usr/bin/nova-conductor --config-file "$ETC/nova/nova.conf"
  start_svc nova-scheduler nova /usr/bin/nova-scheduler --config-file "$ETC/nova/nova.conf"
  start_svc nova-compute nova $PY -c 'import sys; from nova.cmd.compute import main; sys.argv[0] = "nova-compute"; sys.exit(main())' \
    --config-file "$ETC/nova/nova-compute.conf"
}

job_swift() {
  local chg=0 kind port
  install -d -m 755 "$ETC/swift"
  put "$ETC/swift/swift.conf" 644 root:swift <<EOF && chg=1 || true
[swift-hash]
swift_hash_path_suffix = nphpeer-suffix
swift_hash_path_prefix = nphpeer-prefix
[storage-policy:0]
name = Policy-0
default = yes
EOF
  for kind in account:6202 container:6201 object:6200; do
    port=${kind#*:}; kind=${kind%:*}
    put "$ETC/swift/$kind-server.conf" 644 root:swift <<EOF && chg=1 || true
[DEFAULT]
bind_ip = $H
bind_port = $port
workers = 0
user = swift
swift_dir = $ETC/swift
devices = $DIR/swift/node
mount_check = false
log_name = $kind-server
[pipeline:main]
pipeline = healthcheck $kind-server
[app:$kind-server]
use = egg:swift#$kind
[filter:healthcheck]
use = egg:swift#healthcheck
EOF
  done
  { cat <<EOF
[DEFAULT]
bind_ip = $H
bind_port = 8080
workers = 1
user = swift
swift_dir = $ETC/swift
log_name = proxy-server
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl authtoken s3api s3token keystoneauth copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = $H:11211
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:s3token]
use = egg:swift#s3token
auth_uri = http://$H:5000/v3
auth_type = password
auth_url = http://$H:5000/v3
username = swift
password = $SVC_PASS
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = $REGION
secret_cache_duration = 60
[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
reseller_admin_role = ResellerAdmin
[filter:copy]
use = egg:swift#copy
[filter:container-quotas]
use = egg:swift#container_quotas
[filter:account-quotas]
use = egg:swift#account_quotas
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
[filter:symlink]
use = egg:swift#symlink
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = True
cache = swift.cache
include_service_catalog = False
EOF
    authtoken swift | grep -v service_token_roles; } | put "$ETC/swift/proxy-server.conf" 640 root:swift && chg=1 || true
  restart_if_changed $chg swift-proxy swift-account swift-container swift-object
  if [[ ! -f $ETC/swift/object.ring.gz ]]; then
    log "building swift rings (1 replica, device d1)"
    # swift-ring-builder create/add/rebalance for the three rings, in one Python start-up
    (cd "$ETC/swift" && $PY - "$H" <<'PYEOF' && chown swift:swift ./*.builder ./*.ring.gz)
import sys
from swift.common.ring import RingBuilder
for kind, port in (('account', 6202), ('container', 6201), ('object', 6200)):
    b = RingBuilder(8, 1, 1)
    b.add_dev({'region': 1, 'zone': 1, 'ip': sys.argv[1], 'port': port, 'device': 'd1', 'weight': 100})
    b.rebalance()
    b.save(kind + '.builder')
    b.get_ring().save(kind + '.ring.gz')
PYEOF
  fi
  for kind in account container object; do
    start_svc swift-$kind root /usr/bin/swift-$kind-server "$ETC/swift/$kind-server.conf" -v
  done
  start_svc swift-proxy root /usr/bin/swift-proxy-server "$ETC/swift/proxy-server.conf" -v
  for kind in account container object; do wait_port swift-$kind "${PORT[swift-$kind]}" 300; done
  wait_http swift-proxy http://$H:8080/healthcheck 300
}

# one Python process per step (imports cost ~1 s); keystoneauth with the admin user
provision_py() {
  NPH_H=$H NPH_REGION=$REGION NPH_ADMIN_PASS=$ADMIN_PASS NPH_SVC_PASS=$SVC_PASS NPH_DEMO_PASS=$DEMO_PASS \
    NPH_DIR=$DIR NPH_SWIFT=$WANT_SWIFT $PY - "$@" <<'PYEOF'
import os, sys, json, time
from keystoneauth1.identity import v3
from keystoneauth1 import session
E = os.environ
H, R, step = E['NPH_H'], E['NPH_REGION'], sys.argv[1]
auth = v3.Password(auth_url=f'http://{H}:5000/v3', username='admin', password=E['NPH_ADMIN_PASS'],
                   project_name='admin', user_domain_id='default', project_domain_id='default')
s = session.Session(auth=auth)
def api(method, service, path, **kw):
    kw.setdefault('raise_exc', True)
    return s.request(path, method, endpoint_filter={'service_type': service, 'interface': 'public',
                                                    'region_name': R}, **kw)
def ks(method, path, **kw):
    return s.request(f'http://{H}:5000/v3{path}', method, **kw)
def one(path, key, **q):
    r = ks('GET', path, params=q).json()[key]
    return r[0] if r else None

if step == 'accounts':
    def project(n):
        return one('/projects', 'projects', name=n, domain_id='default') or ks('POST', '/projects', json={
            'project': {'name': n, 'domain_id': 'default'}}).json()['project']
    def role(n):
        return one('/roles', 'roles', name=n) or ks('POST', '/roles', json={'role': {'name': n}}).json()['role']
    def user(n, pw, proj):
        u = one('/users', 'users', name=n, domain_id='default')
        if u:
            ks('PATCH', f"/users/{u['id']}", json={'user': {'password': pw}})
            return u
        return ks('POST', '/users', json={'user': {'name': n, 'domain_id': 'default', 'password': pw,
                                                    'default_project_id': proj['id']}}).json()['user']
    def grant(r, u, p):
        ks('PUT', f"/projects/{p['id']}/users/{u['id']}/roles/{r['id']}")
    svc_proj, demo_proj, admin_proj = project('service'), project('demo'), project('admin')
    admin, member, service = role('admin'), role('member'), role('service')
    role('reader'); role('ResellerAdmin')
    for n in ('nova', 'placement', 'glance', 'neutron', 'swift'):
        u = user(n, E['NPH_SVC_PASS'], svc_proj)
        grant(admin, u, svc_proj); grant(service, u, svc_proj)
    grant(member, user('demo', E['NPH_DEMO_PASS'], demo_proj), demo_proj)
    adm = one('/users', 'users', name='admin', domain_id='default')
    grant(admin, adm, demo_proj)
    cat = {'compute': ('nova', f'http://{H}:8774/v2.1'),
           'placement': ('placement', f'http://{H}:8778'),
           'image': ('glance', f'http://{H}:9292'),
           'network': ('neutron', f'http://{H}:9696')}
    if E['NPH_SWIFT'] == '1':
        cat['object-store'] = ('swift', f'http://{H}:8080/v1/AUTH_%(project_id)s')
    for typ, (name, url) in cat.items():
        sv = one('/services', 'services', type=typ) or ks('POST', '/services', json={
            'service': {'name': name, 'type': typ}}).json()['service']
        eps = ks('GET', '/endpoints', params={'service_id': sv['id']}).json()['endpoints']
        for itf in ('public', 'internal', 'admin'):
            e = [e for e in eps if e['interface'] == itf and e['region_id'] == R]
            if not e:
                ks('POST', '/endpoints', json={'endpoint': {'service_id': sv['id'], 'interface': itf,
                                                            'url': url, 'region_id': R}})
            elif e[0]['url'] != url:
                ks('PATCH', f"/endpoints/{e[0]['id']}", json={'endpoint': {'url': url}})
    print('accounts: projects admin/service/demo, users admin/demo + service users, catalog', ' '.join(cat))

elif step == 'resources':
    # flavors like devstack's, if none are there
    have = {f['name'] for f in api('GET', 'compute', '/flavors').json()['flavors']}
    made = []
    for fid, name, ram, disk, vcpus in (('1', 'm1.tiny', 512, 1, 1), ('2', 'm1.small', 2048, 20, 1),
                                        ('3', 'm1.medium', 4096, 40, 2), ('4', 'm1.large', 8192, 80, 4),
                                        ('5', 'm1.xlarge', 16384, 160, 8), ('42', 'm1.nano', 128, 1, 1),
                                        ('84', 'm1.micro', 192, 1, 1)):
        if not have:
            api('POST', 'compute', '/flavors', json={'flavor': {'id': fid, 'name': name, 'ram': ram,
                                                                'disk': disk, 'vcpus': vcpus}})
            made.append(name)
    # the admin project may run many fake servers
    pid = s.get_project_id()
    api('PUT', 'compute', f'/os-quota-sets/{pid}', json={'quota_set': {'instances': -1, 'cores': -1, 'ram': -1}})
    # a small raw image; the fake driver never reads it
    imgs = api('GET', 'image', '/v2/images', params={'name': 'cirros-fake'}).json()['images']
    for i in imgs:
        if i['status'] != 'active':
            api('DELETE', 'image', f"/v2/images/{i['id']}")
    if not [i for i in imgs if i['status'] == 'active']:
        i = api('POST', 'image', '/v2/images', json={'name': 'cirros-fake', 'disk_format': 'raw',
                'container_format': 'bare', 'visibility': 'public', 'min_disk': 0, 'min_ram': 0}).json()
        api('PUT', 'image', f"/v2/images/{i['id']}/file", data=b'\0' * 1048576,
            headers={'Content-Type': 'application/octet-stream'})
        made.append('image cirros-fake')
    # EC2-style credentials for Swift's s3api
    if E['NPH_SWIFT'] == '1':
        path, uid = os.path.join(E['NPH_DIR'], 'ec2.json'), s.get_user_id()
        creds = [json.loads(c['blob']) for c in
                 ks('GET', '/credentials', params={'user_id': uid, 'type': 'ec2'}).json()['credentials']]
        old = json.load(open(path)) if os.path.exists(path) else None
        if not old or old['access'] not in {c['access'] for c in creds}:
            blob = {'access': os.urandom(16).hex(), 'secret': os.urandom(20).hex()}
            ks('POST', '/credentials', json={'credential': {'type': 'ec2', 'user_id': uid, 'project_id': pid,
                                                           'blob': json.dumps(blob)}})
            with open(path + '.tmp', 'w') as f:
                json.dump(blob, f)
            os.replace(path + '.tmp', path)
            made.append('ec2 credentials')
    print('resources:', ', '.join(made) if made else 'all present')

elif step == 'swift-smoke':
    body = os.urandom(4096)
    api('PUT', 'object-store', '/nphpeer-smoke')
    api('PUT', 'object-store', '/nphpeer-smoke/o', data=body)
    ok = api('GET', 'object-store', '/nphpeer-smoke/o').content == body
    api('DELETE', 'object-store', '/nphpeer-smoke/o')
    api('DELETE', 'object-store', '/nphpeer-smoke')
    if not ok:
        sys.exit('swift: object read back differs')
    print('swift: object round trip ok')
PYEOF
}

# nova-compute registers its node; the scheduler maps it to cell1 (discover_hosts_in_cells_interval = 2)
wait_compute() {
  local s t0=$SECONDS manual=0
  local qmap="SELECT count(*) FROM host_mappings WHERE host = 'nphpeer'"
  local qinv="SELECT count(*) FROM inventories i JOIN resource_providers r ON r.id = i.resource_provider_id
    WHERE r.name = 'nphpeer'"
  # conductor, scheduler and compute have reported since they (re)started: a stale row of a previous run
  # does not count, or the first boot would find no valid host
  local qsvc="SELECT count(*) FROM services WHERE host = 'nphpeer' AND deleted = 0 AND NOT disabled
    AND \"binary\" IN ('nova-conductor', 'nova-scheduler', 'nova-compute')
    AND coalesce(updated_at, created_at) >= '$NOVA_T0'"
  until [[ $(psql_peer -d nova_api -tAc "$qmap") == 1 && $(psql_peer -d placement -tAc "$qinv") -gt 0 &&
           $(psql_peer -d nova -tAc "$qsvc") == 3 ]]; do
    for s in nova-conductor nova-scheduler nova-compute; do
      is_running $s || { tail -20 "$LOG/$s.log" >&2; die "$s died (log: $LOG/$s.log)"; }
    done
    if ((SECONDS - t0 > 30 && !manual)); then  # the scheduler's periodic discovery is late: by hand
      manual=1; runuser -u nova -- nova-manage --config-file "$ETC/nova/nova.conf" cell_v2 discover_hosts >/dev/null 2>&1 || true
    fi
    ((SECONDS - t0 < 300)) || die "compute host nphpeer not mapped/reported after 300 s (see $LOG/nova-*.log)"
    sleep 0.3
  done
}

write_env() {
  local svcs="identity compute image network placement" s3=""
  if [[ $WANT_SWIFT == 1 ]]; then
    svcs+=" object-store s3"
    s3=$($PY -c 'import json,sys; c=json.load(open(sys.argv[1])); print("export NPH_PEER_S3_ACCESS_KEY=%s\nexport NPH_PEER_S3_SECRET_KEY=%s" % (c["access"], c["secret"]))' "$DIR/ec2.json")
    s3+=$'\n'"export NPH_PEER_S3_ENDPOINT=http://$H:8080"$'\n'"export NPH_PEER_S3_REGION=us-east-1"
  fi
  put "$ENVFILE" 644 root:root <<EOF || true
# OpenStack peer on $H, written by tests/integration/openstack/peer.sh
export OS_AUTH_TYPE=password
export OS_AUTH_URL=http://$H:5000/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin
export OS_PASSWORD=$ADMIN_PASS
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=$REGION
export OS_INTERFACE=public
# a non-admin user (role member) in project demo
export NPH_PEER_DEMO_USERNAME=demo
export NPH_PEER_DEMO_PASSWORD=$DEMO_PASS
export NPH_PEER_DEMO_PROJECT_NAME=demo
# catalog types that are up; a fake-driver image and the flavors
export NPH_PEER_SERVICES="$svcs"
export NPH_PEER_IMAGE=cirros-fake
export NPH_PEER_FLAVOR=m1.tiny
export NPH_PEER_FLAVOR_ALT=m1.small
export NPH_PEER_COMPUTE_API_VERSION=2.37
export NPH_PEER_KEYSTONE_URL=http://$H:5000/v3
export NPH_PEER_NOVA_URL=http://$H:8774/v2.1
export NPH_PEER_GLANCE_URL=http://$H:9292
export NPH_PEER_NEUTRON_URL=http://$H:9696
export NPH_PEER_PLACEMENT_URL=http://$H:8778
$( [[ $WANT_SWIFT == 1 ]] && echo "export NPH_PEER_SWIFT_URL=http://$H:8080" )
$s3
EOF
}

cmd_smoke() {
  [[ -s $ENVFILE ]] || die "no $ENVFILE: run '$0 up' first"
  set -a; . "$ENVFILE"; set +a
  local t name=nphpeer-smoke-$$ st swift_job=
  t=$(now)
  # the Swift round trip runs meanwhile
  if [[ $WANT_SWIFT == 1 ]]; then provision_py swift-smoke >"$LOG/smoke-swift.out" 2>&1 & swift_job=$!; fi
  # --wait prints its progress on stdout too: the status is the last line
  st=$(/usr/bin/openstack --os-compute-api-version 2.37 server create --flavor "$NPH_PEER_FLAVOR" \
    --image cirros-fake --nic none --wait -f value -c status "$name" | tr '\r' '\n' | sed '/^ *$/d' | tail -1) \
    || die "smoke: server create failed"
  [[ $st == ACTIVE ]] || die "smoke: server $name is $st, not ACTIVE"
  log "smoke: server $name ACTIVE"
  /usr/bin/openstack server delete --wait "$name" || die "smoke: server delete failed"
  log "smoke: server deleted (create+delete $(secs "$t")s)"
  if [[ -n $swift_job ]]; then
    wait "$swift_job" || { cat "$LOG/smoke-swift.out" >&2; die "smoke: swift object round trip failed"; }
    log "smoke: $(tail -1 "$LOG/smoke-swift.out")"
  fi
  log "smoke: ok in $(secs "$t")s"
}

cmd_up() {
  [[ $(id -u) == 0 ]] || die "run as root"
  install -d -m 755 "$DIR" "$LOG" "$RUN"
  timed packages phase_packages
  timed dirs phase_dirs
  timed postgres phase_postgres
  timed memcached+rabbitmq eval 'phase_memcached; phase_rabbitmq'
  local t; t=$(now)
  # independent chains in parallel: each syncs its database (once per package version) and starts
  bg keystone job_keystone
  bg placement job_placement
  bg glance job_glance
  bg nova job_nova
  bg neutron job_neutron
  [[ $WANT_SWIFT == 1 ]] && bg swift job_swift
  timed keystone join keystone
  timed accounts provision_accounts
  timed "rabbitmq ready" wait_port rabbitmq 5672 300
  timed "placement (parallel)" join placement
  timed "nova db, nova-api started" join nova
  start_nova_daemons   # after the accounts: conductor, scheduler and compute log in to placement
  timed "nova-api ready" wait_http nova-api http://$H:8774/ 300
  timed "glance (parallel)" join glance
  timed resources provision_py resources
  timed "compute registered" wait_compute
  timed "neutron (parallel)" join neutron
  [[ $WANT_SWIFT == 1 ]] && timed "swift (parallel)" join swift
  TIMINGS+=("$(printf '%-26s %6ss' "services+provision (wall)" "$(secs "$t")")")
  write_env
  log "peer up: env file $ENVFILE"
  [[ ${NPH_PEER_SMOKE:-1} == 1 ]] && timed smoke cmd_smoke
  echo "== timings"; printf '   %s\n' "${TIMINGS[@]}"
  log "done in $(secs "$T0")s; env: $ENVFILE"
}
provision_accounts() {
  local want; want=$(printf '%s %s %s' "$SVC_PASS" "$DEMO_PASS" "$WANT_SWIFT" | md5sum | cut -c1-8)
  if [[ $(stamp_get accounts) == "$want" ]]; then log "accounts: already provisioned"; return 0; fi
  provision_py accounts
  stamp_set accounts "$want"
}

cmd_down() {
  local s i rev=() pg
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do rev+=("${SERVICES[i]}"); done
  # OpenStack daemons all at once, then the infrastructure they used
  for s in "${rev[@]}"; do case $s in memcached|epmd|rabbitmq) ;; *) term_svc "$s" ;; esac; done
  for s in "${rev[@]}"; do case $s in memcached|epmd|rabbitmq) ;; *) wait_gone "$s" ;; esac; done
  stop_svc rabbitmq; stop_svc epmd; stop_svc memcached
  for pg in $(pg_lsclusters -h 2>/dev/null | awk -v c=$PGCLUSTER '$2==c && $4=="online" {print $1}'); do
    log "stopping PostgreSQL $pg/$PGCLUSTER"; pg_ctlcluster "$pg" $PGCLUSTER stop -m fast
  done
  log "down in $(secs "$T0")s (packages, configs and data kept in $DIR)"
}

cmd_purge() {  # down, then drop the cluster and the state dir
  cmd_down
  local pg
  for pg in $(pg_lsclusters -h 2>/dev/null | awk -v c=$PGCLUSTER '$2==c {print $1}'); do
    log "dropping PostgreSQL cluster $pg/$PGCLUSTER"; pg_dropcluster "$pg" $PGCLUSTER
  done
  rm -rf "$DIR"; log "removed $DIR"
}

cmd_status() {
  local s
  for s in "${SERVICES[@]}"; do
    if is_running "$s"; then printf '%-16s running  pid %-8s %s\n' "$s" "$(pid_of "$s")" "${PORT[$s]:+$H:${PORT[$s]}}"
    else printf '%-16s down\n' "$s"; fi
  done
  pg_lsclusters 2>/dev/null | awk -v c=$PGCLUSTER 'NR==1 || $2==c'
}

case ${1:-} in
  up) cmd_up ;;
  packages)
    [[ $(id -u) == 0 ]] || die "run as root"
    install -d -m 755 "$DIR" "$LOG"
    timed packages phase_packages ;;
  down) cmd_down ;;
  env) [[ -s $ENVFILE ]] || die "no $ENVFILE: run '$0 up' first"; cat "$ENVFILE" ;;
  smoke) cmd_smoke ;;
  status) cmd_status ;;
  purge) cmd_purge ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

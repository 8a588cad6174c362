#!/usr/bin/env bash
# libvirtd.sh start|stop|status - the libvirt daemons that qemu:///system needs, for the real-VM
# tests, on a machine without systemd.
#   start   if qemu:///system does not answer yet: start virtlogd and libvirtd as root (each
#           only if it is not already running), wait up to 30 s for `virsh -c qemu:///system
#           version`, and record the PIDs of the daemons *this script* started in the state file.
#           Exit 0 when qemu:///system answers; 77 with "SKIP: <reason>" when libvirtd cannot be
#           started here (not root, not installed, it dies); the daemons it started are stopped.
#   stop    stop (TERM, then KILL after 10 s) only the daemons recorded by `start`; daemons that
#           were already running are left alone.
#   status  exit 0 if qemu:///system answers.
# State file: $NEPHELE_LIBVIRTD_STATE (default /run/nephele-test-libvirtd.pids).
# Packages (scripts/install-deps.sh --test): libvirt-daemon-system qemu-system-x86.
set -uo pipefail
STATE=${NEPHELE_LIBVIRTD_STATE:-/run/nephele-test-libvirtd.pids}
URI=qemu:///system

answers() { timeout 10 virsh -c "$URI" version >/dev/null 2>&1; }
skip() { echo "SKIP: $*"; exit 77; }
# pid_is PID NAME: PID is alive and is NAME (guards against a recycled PID).
pid_is() { [ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]; }
running() { # NAME PIDFILE: print the pid of a running NAME, from its pidfile or by exact name
    local p
    p=$(cat "$2" 2>/dev/null || true)
    if pid_is "$p" "$1"; then echo "$p"; return 0; fi
    p=$(pgrep -x "$1" | head -n 1)
    [ -n "$p" ] && echo "$p"
}
stop_pid() { # PID NAME
    local _
    pid_is "$1" "$2" || return 0
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 100); do pid_is "$1" "$2" || return 0; sleep 0.1; done
    echo "libvirtd.sh: $2 (pid $1) ignored TERM for 10 s; killing" >&2
    kill -KILL "$1" 2>/dev/null
}
do_stop() {
    local name pid
    [ -f "$STATE" ] || return 0
    # Stop in reverse order of starting: libvirtd before virtlogd.
    tac "$STATE" | while read -r name pid; do
        stop_pid "$pid" "$name"
        echo "libvirtd.sh: stopped $name (pid $pid)"
    done
    rm -f "$STATE"
}

start_daemon() { # NAME PIDFILE
    local name=$1 pidfile=$2 pid out
    pid=$(running "$name" "$pidfile")
    if [ -n "$pid" ]; then
        echo "libvirtd.sh: $name already running (pid $pid), not ours"
        return 0
    fi
    if ! out=$("/usr/sbin/$name" -d 2>&1); then
        echo "libvirtd.sh: '$name -d' failed: $out" >&2
        return 1
    fi
    for _ in $(seq 50); do
        pid=$(cat "$pidfile" 2>/dev/null || true)
        pid_is "$pid" "$name" && break
        pid=
        sleep 0.1
    done
    if [ -z "$pid" ]; then
        echo "libvirtd.sh: $name did not stay up (no live pid in $pidfile)" >&2
        return 1
    fi
    echo "$name $pid" >>"$STATE"
    echo "libvirtd.sh: started $name (pid $pid)"
}

case ${1:-} in
start)
    command -v virsh >/dev/null || skip "virsh is not installed (libvirt-clients)"
    if answers; then
        echo "libvirtd.sh: $URI already answers"
        exit 0
    fi
    [ "$(id -u)" = 0 ] || skip "qemu:///system does not answer and starting libvirtd needs root"
    [ -x /usr/sbin/libvirtd ] || skip "libvirtd is not installed (libvirt-daemon-system)"
    [ -x /usr/sbin/virtlogd ] || skip "virtlogd is not installed (libvirt-daemon-system)"
    command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (qemu-system-x86)"
    mkdir -p "$(dirname "$STATE")"
    start_daemon virtlogd /run/virtlogd.pid || { do_stop; skip "virtlogd cannot start here"; }
    start_daemon libvirtd /run/libvirtd.pid || { do_stop; skip "libvirtd cannot start here"; }
    for _ in $(seq 60); do
        if answers; then
            echo "libvirtd.sh: $URI answers: $(virsh -c "$URI" version 2>/dev/null |
                awk -F': ' '/Running hypervisor/ {print $2}')"
            exit 0
        fi
        sleep 0.5
    done
    err=$(virsh -c "$URI" version 2>&1 | tail -n 3)
    do_stop
    skip "libvirtd started but $URI did not answer within 30 s: $err"
    ;;
stop) do_stop ;;
status) answers ;;
*)
    echo "usage: libvirtd.sh start|stop|status" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# test.sh - install what the tests need, build, and run the whole test suite:
#   1. a -Werror build and the cmocka unit tests (ctest; the store suite runs against SQLite
#      and a throwaway PostgreSQL server)
#   2. an AddressSanitizer+UndefinedBehaviorSanitizer build running the same unit tests
#   3. clang-format check of the tree
#   4. integration tests driving a real broker with the openstack client and curl, on the
#      embedded SQLite store, again with the ASan+UBSan daemon, and on a throwaway PostgreSQL
#   5. Tempest's identity, image and object-storage tests of the OpenStack Powered interop
#      guideline 2022.11
#   6. a real guest under TCG: libvirtd started by the test, a Debian kernel + busybox initramfs
#      booted straight from libvirt (tests/integration/guest/raw_boot.sh), then as a Nephele
#      server whose console log shows the guest's boot lines (guest_boot.sh), then two guests
#      on one Nephele network that get their addresses by DHCP and ping each other (guest_net.sh)
#   7. Tempest's compute tests of the same guideline (tempest/compute.sh)
#   8. federation: two brokers on one PostgreSQL; Nephele federating a real OpenStack (Zed from
#      Debian's packages, started on 127.0.0.1 by tests/integration/openstack/peer.sh)
#   9. a short libFuzzer run of the placement expression parser and policy loader
#   Stages 6-7 print "SKIP: <reason>" and pass where the machine cannot start libvirtd or the
#   broker has no compute/image API yet.
# Prints "N passed, M failed" over the stages and exits non-zero if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
scripts/install-deps.sh --test || { echo "installing dependencies failed" >&2; exit 1; }
# The OpenStack peer's packages (stage federation_peer) download and unpack while the unit stages
# compile: apt mostly waits on the network and the disk, the compilers on the CPUs.
peer_pkgs_log=$(mktemp)
tests/integration/openstack/peer.sh packages >"$peer_pkgs_log" 2>&1 &
peer_pkgs_pid=$!

passed=0 failed=0 failures=()
stage() {
  local name=$1; shift
  echo "=== stage: $name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); echo "=== ok: $name ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "=== FAILED: $name ($((SECONDS - t0)) s)"
  fi
}

build() { # dir, cmake args...
  local dir=$1; shift
  cmake -S "$ROOT" -B "$dir" -DNPH_WERROR=ON "$@" >/dev/null && cmake --build "$dir" -j"$(nproc)"
}

unit() {
  build build && (cd build && ctest --output-on-failure -j2)
}

asan() {
  build build-asan -DNPH_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug &&
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j2)
}

format() {
  local bad
  bad=$(git ls-files '*.c' '*.h' | xargs clang-format --dry-run 2>&1 | grep -c 'warning:' || true)
  [ "$bad" = 0 ] || { git ls-files '*.c' '*.h' | xargs clang-format --dry-run 2>&1 | head -20; return 1; }
}

integration() {
  # Two suites at a time: most of their time is the clients' start-up and waiting on brokers.
  NPH_JOBS=2 NEPHELE_BIN=$ROOT/build/broker/nephele tests/integration/run-all.sh
}

integration_asan() {
  # The daemon built with ASan+UBSan: any leak, overflow or undefined behaviour on these
  # request paths ends it with a non-zero status, which the scripts count as a failure.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    NPH_RSS_LIMIT_KB=0 NPH_JOBS=2 NEPHELE_BIN=$ROOT/build-asan/broker/nephele \
    NPH_SUITES="identity_badinput.sh image_cli.sh compute_badinput.sh federation.sh placement.sh nova_secgroups.sh" \
    tests/integration/run-all.sh
}

integration_pg() {
  NEPHELE_BIN=$ROOT/build/broker/nephele tests/pg_throwaway.sh \
    bash -c 'NEPHELE_STORE_URL=$NPH_TEST_PG_URL tests/integration/identity_cli.sh'
}

federation_pg() {
  # Two brokers on one PostgreSQL store front the same remote cloud: each operation runs once.
  NEPHELE_BIN=$ROOT/build/broker/nephele tests/pg_throwaway.sh tests/integration/federation_pg.sh
}

federation_peer() {
  # A real OpenStack on 127.0.0.1 (installs its packages; ~5 min on a fresh machine), then a
  # broker with the native cloud and that OpenStack. One retry: the peer's first start on a
  # loaded machine can time out.
  wait "$peer_pkgs_pid" || { echo "the peer's packages (in the background):"; cat "$peer_pkgs_log"; }
  tests/integration/openstack/peer.sh up || tests/integration/openstack/peer.sh up || return 1
  NEPHELE_BIN=$ROOT/build/broker/nephele tests/integration/federation_peer.sh
  local rc=$?
  tests/integration/openstack/peer.sh down >/dev/null 2>&1
  return $rc
}

fuzz_short() {
  # The 10-minute runs are documented in docs/placement.md; CI runs 20 s of each target: the
  # placement expression parser, the policy loader, and the JSON scanner against jansson.
  local d rc=0 t
  CC=clang cmake -S "$ROOT" -B build-fuzz -DNPH_FUZZ=ON >/dev/null &&
    cmake --build build-fuzz --target fuzz_expr fuzz_policy fuzz_jscan -j"$(nproc)" >/dev/null ||
    return 1
  d=$(mktemp -d) && cp -r tests/fuzz/corpus/expr tests/fuzz/corpus/policy tests/fuzz/corpus/jscan "$d"/
  for t in expr policy jscan; do
    local dict=()
    [ "$t" = jscan ] || dict=(-dict=tests/fuzz/expr.dict)
    build-fuzz/tests/fuzz/fuzz_$t -max_total_time=20 "${dict[@]}" "$d/$t" >"$d/$t.log" 2>&1 ||
      { rc=1; tail -30 "$d/$t.log"; }
  done
  rm -rf "$d"
  return $rc
}

tempest_image() {
  NEPHELE_BIN=$ROOT/build/broker/nephele tests/integration/tempest/image.sh
}

tempest_identity() {
  NEPHELE_BIN=$ROOT/build/broker/nephele tests/integration/tempest/identity.sh
}

tempest_volume() {
  # All 65 Tempest tests behind the list's 125 entries pass; under a minute.
  TEMPEST_MIN_PASS=65 NEPHELE_BIN=$ROOT/build/broker/nephele timeout 900 \
    tests/integration/tempest/volume.sh
}

tempest_object() {
  NEPHELE_BIN=$ROOT/build/broker/nephele timeout 900 tests/integration/tempest/object.sh
}

guest_tcg() {
  timeout 600 tests/integration/guest/raw_boot.sh &&
    NEPHELE_BIN=$ROOT/build/broker/nephele timeout 900 tests/integration/guest_boot.sh &&
    NEPHELE_BIN=$ROOT/build/broker/nephele timeout 600 tests/integration/guest_net.sh
}

tempest_compute() {
  # A ratchet: 85 of the 89 listed tests pass (the other 4 log into a guest over SSH, which
  # needs run_validation); one of slack for a slow machine.
  TEMPEST_MIN_PASS=84 NEPHELE_BIN=$ROOT/build/broker/nephele timeout 1500 \
    tests/integration/tempest/compute.sh
}

stage "unit tests" unit
stage "unit tests under ASan+UBSan" asan
stage "clang-format" format
stage "integration: openstack client and bad input" integration
stage "integration: the same against the ASan+UBSan daemon" integration_asan
stage "integration: openstack client on PostgreSQL" integration_pg
stage "integration: federation, two brokers on one PostgreSQL" federation_pg
stage "tempest: interop 2022.11 identity" tempest_identity
stage "tempest: interop 2022.11 image" tempest_image
stage "tempest: interop 2022.11 object storage" tempest_object
stage "tempest: interop 2022.11 volume" tempest_volume
stage "integration: a real guest under TCG" guest_tcg
stage "tempest: interop 2022.11 compute" tempest_compute
stage "integration: federating a real OpenStack (Zed)" federation_peer
stage "fuzz: placement expressions, policies and the JSON scanner (20 s each)" fuzz_short

echo
[ ${#failures[@]} -eq 0 ] || printf 'failed stage: %s\n' "${failures[@]}"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

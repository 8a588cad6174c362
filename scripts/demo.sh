#!/usr/bin/env bash
# demo.sh - install, build and run the broker on its embedded defaults: a SQLite store under
# ./data, the native cloud on libvirt's test:///default driver, listening on 127.0.0.1:8787.
# It prints the URL and the admin credentials file (an openrc to source). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNPH_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec build/broker/nephele serve --data-dir "${NEPHELE_DATA_DIR:-./data}" "$@"

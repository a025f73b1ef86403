#!/usr/bin/env bash
# Runtime benchmarks: builds bench/runtime/bench_runtime.c against the library and runs it.
# Usage: bench/run-runtime.sh [ITERATIONS=100] [IDLE_SANDBOXES=200]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s -j"$(nproc)" all
CFLAGS="-std=c17 -D_GNU_SOURCE -O2 -Isrc $(pkg-config --cflags jansson)"
LIBS="$(pkg-config --libs libmicrohttpd libcurl jansson sqlite3 libcrypto libseccomp inih) -lpthread"
gcc $CFLAGS -o build/bench_runtime bench/runtime/bench_runtime.c build/libsandforge.a $LIBS
command -v bwrap >/dev/null || { echo "bwrap missing: apt-get install bubblewrap" >&2; exit 1; }
build/bench_runtime "$PWD/build/bin/sandforge" "${1:-100}" "${2:-200}"
rm -rf /run/sandforge/bench

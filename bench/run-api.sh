#!/usr/bin/env bash
# API benchmarks: bench/api/bench_api.py against a supervisor it starts itself.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s -j"$(nproc)" all
SANDFORGE_BIN="$PWD/build/bin/sandforge" BENCH_N="${1:-100}" /usr/bin/python3 bench/api/bench_api.py

#!/usr/bin/env bash
# Webhook benchmarks (figures and ratios against baselines measured in the same run; no pass/fail):
#   bench/webhooks/bench_webhooks.c  delivery throughput vs wrk, event->receiver latency vs a
#                                    plain libcurl POST (store + dispatcher + receiver in-process)
#   bench/webhooks/bench_blackhole.py  API create latency with a black-holed endpoint vs none
# Usage: bench/run-webhooks.sh [EVENTS=20000] [RATE=1000] [SECONDS=5] [ROUNDS=2]
# Environment: BUILD (build dir, default build), BENCH_BLACKHOLE_N (default 200),
#   BENCH_BLACKHOLE_MODE=accept|backlog, WRK=/path/to/wrk or WRK=none, TMPDIR (store dir, disk-backed).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
make -s -j"$(nproc)" BUILD="$BUILD" all
PKGS=(libmicrohttpd libcurl jansson sqlite3 libcrypto libseccomp inih libcap)
# shellcheck disable=SC2046 # pkg-config output is a list of flags
gcc -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -pthread -Isrc $(pkg-config --cflags "${PKGS[@]}") \
  -o "$BUILD/bench_webhooks" bench/webhooks/bench_webhooks.c "$BUILD/libsandforge.a" \
  $(pkg-config --libs "${PKGS[@]}") -lpthread
command -v wrk >/dev/null || echo "note: wrk not installed (apt-get install wrk): no throughput baseline"

out=$(mktemp)
# The store dirs live under a dir of ours, so an interrupted run leaves nothing behind.
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/sf-bench-webhooks.XXXXXX")
trap 'rm -rf "$out" "$tmp"' EXIT
TMPDIR="$tmp" "$BUILD/bench_webhooks" "${1:-20000}" "${2:-1000}" "${3:-5}" "${4:-2}" | tee "$out"
SANDFORGE_BIN="$PWD/$BUILD/bin/sandforge" /usr/bin/python3 bench/webhooks/bench_blackhole.py | tee -a "$out"

echo "----- webhook summary"
grep -E "ratio dispatcher/wrk|wrk not installed|dispatcher \(from commit\)|plain libcurl POST|ratio dispatcher/plain|ratio black hole/none|WARNING" "$out" |
  sed -e 's/^ */  /'

#!/usr/bin/env bash
# `make test`: unit tests in the plain and the ASan/UBSan build, then the
# integration suites (real supervisor, real sandboxes, real receivers).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "make test needs root (namespaces, cgroups)" >&2; exit 1; }
JOBS=$(nproc)
make -j"$JOBS" all examples
make -j"$JOBS" BUILD=build-asan SAN=1 all examples
echo "== unit tests (plain build)"
make -s test-unit
echo "== unit tests (ASan/UBSan build)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 make -s BUILD=build-asan SAN=1 test-unit
echo "== unit tests under valgrind"
make -s valgrind
echo "== fuzz smoke (libFuzzer, 5 s per target)"
make -s fuzz FUZZ_SECONDS=5
echo "== integration tests"
export SANDFORGE_BIN="$PWD/build/bin/sandforge" SANDFORGE_ASAN_BIN="$PWD/build-asan/bin/sandforge"
export SANDFORGE_EXAMPLE_RECEIVER="$PWD/build/bin/sandforge-example-receiver"
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration
echo "== integration tests again, against the ASan/UBSan build"
SANDFORGE_BIN="$SANDFORGE_ASAN_BIN" ASAN_OPTIONS=detect_leaks=1 \
  SANDFORGE_EXAMPLE_RECEIVER="$PWD/build-asan/bin/sandforge-example-receiver" \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_run.py tests/integration/test_escape.py \
  tests/integration/test_api.py tests/integration/test_recovery.py tests/integration/test_cli.py \
  tests/integration/test_sdk_e2e.py tests/integration/test_webhooks.py tests/integration/test_examples.py \
  tests/integration/test_webhook_api.py tests/integration/test_cli_webhooks.py

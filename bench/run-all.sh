#!/usr/bin/env bash
# `make bench`: every benchmark prints its figures and the ratio against a
# baseline measured in the same run.  No pass/fail: goals are in the output.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for b in bench/run-runtime.sh bench/run-api.sh bench/run-webhooks.sh; do
  [ -x "$b" ] || { echo "skip $b (missing)"; continue; }
  echo "===== $b"
  "$b" || { echo "$b failed with $?"; status=1; }
done
exit $status

#!/usr/bin/env bash
# Removes sandboxes left by interrupted test runs (cgroups under sandforge-*
# parents and their state dirs).  Safe to run any time no test is running.
set -u
for parent in /sys/fs/cgroup/*/sandforge /sys/fs/cgroup/*/sandforge-* /sys/fs/cgroup/unified/sandforge*; do
  [ -d "$parent" ] || continue
  for g in "$parent"/*/; do
    [ -d "$g" ] || continue
    [ -f "$g/freezer.state" ] && echo THAWED > "$g/freezer.state" 2>/dev/null
    for _ in 1 2 3 4 5; do
      pids=$(cat "$g/cgroup.procs" 2>/dev/null)
      [ -z "$pids" ] && break
      kill -9 $pids 2>/dev/null; sleep 0.1
    done
    rmdir "$g" 2>/dev/null
  done
  rmdir "$parent" 2>/dev/null
done
rm -rf /run/sandforge/unit-* /run/sandforge/run/run-* /run/sandforge/sv-* 2>/dev/null
exit 0

"""Helpers for tests that drive `sandforge run` (one-shot sandboxes)."""
import glob
import hashlib
import os
import subprocess

SANDFORGE = os.environ.get("SANDFORGE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin", "sandforge")


def run(args, cmd, timeout=60, input=None):
    """Run CMD (a list, or a shell string run by sh -c) in a one-shot sandbox."""
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    return subprocess.run([SANDFORGE, "run", *args, "--", *cmd], capture_output=True,
                          text=True, timeout=timeout, input=input)


def leftovers():
    """Everything a one-shot run could leave on the host: cgroups, state dirs."""
    found = []
    for ctrl in ("memory", "cpu", "pids", "freezer"):
        found += glob.glob(f"/sys/fs/cgroup/{ctrl}/sandforge-run/run-*")
    found += glob.glob("/sys/fs/cgroup/unified/sandforge-run/run-*")
    found += glob.glob("/run/sandforge/run/run-*")
    return found


def host_fingerprint():
    """Files an escape would most likely touch."""
    h = hashlib.sha256()
    for p in ("/etc/passwd", "/etc/shadow", "/etc/hosts", "/etc/hostname"):
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest(), os.uname().nodename

"""The official OpenSandbox TypeScript SDK (npm @alibaba-group/opensandbox), unmodified,
against a real supervisor: create, run, files, pause, resume, renew, list, getInfo, kill."""
import os
import shutil
import subprocess

import pytest

from sfharness import E2E_DIR as E2E
from sfharness import Supervisor, ensure_npm_packages


@pytest.fixture(scope="module")
def sdk_installed():
    ensure_npm_packages()
    return True


def test_official_sdk_end_to_end(sdk_installed):
    sup = Supervisor(api_key="test-key-123").start()
    try:
        env = dict(os.environ, SANDFORGE_DOMAIN=f"127.0.0.1:{sup.port}", SANDFORGE_API_KEY="test-key-123",
                   OPENSANDBOX_DISABLE_METRICS="1")
        r = subprocess.run([shutil.which("node"), "sdk_e2e.mjs"], cwd=E2E, env=env, capture_output=True,
                           text=True, timeout=180)
        assert r.returncode == 0 and "SDK_E2E_OK" in r.stdout, r.stdout + r.stderr + sup.logs()
        events = [e["event"] for e in sup.request("GET", "/v1/events?limit=1000").json()["items"]]
        for name in ("sandbox.created", "sandbox.started", "sandbox.paused", "sandbox.resumed",
                     "sandbox.deleted", "sandbox.destroyed"):
            assert name in events
    finally:
        sup.stop()

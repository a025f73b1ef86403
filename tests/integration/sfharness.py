"""Shared harness: a real supervisor process on a free port with its own data dir."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

SANDFORGE = os.environ.get("SANDFORGE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin", "sandforge")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class Supervisor:
    def __init__(self, extra_args=(), env=None, config_text=None, api_key=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = tempfile.mkdtemp(prefix="sf-test-")
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.api_key = api_key
        self.config = None
        if config_text is not None:
            self.config = os.path.join(self.data_dir, "sandforge.ini")
            with open(self.config, "w") as f:
                f.write(config_text)
        self.proc = None
        self.log = os.path.join(self.data_dir, "supervisor.log")

    def args(self):
        a = [SANDFORGE, "supervisor", "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", os.path.join(self.data_dir, "data")]
        if self.config:
            a += ["--config", self.config]
        if self.api_key:
            a += ["--api-key", self.api_key]
        return a + self.extra_args

    def start(self):
        self.proc = subprocess.Popen(self.args(), env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "a"))
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"supervisor exited with {self.proc.returncode}: {self.logs()}")
            try:
                if self.request("GET", "/health", timeout=1).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("supervisor did not become healthy: " + self.logs())

    def logs(self):
        with open(self.log) as f:
            return f.read()

    def request(self, method, path, json=None, body=None, headers=None, timeout=30):
        h = dict(headers or {})
        if self.api_key and "OPEN-SANDBOX-API-KEY" not in h:
            h["OPEN-SANDBOX-API-KEY"] = self.api_key
        data = body
        if json is not None:
            data = __import__("json").dumps(json).encode()
            h.setdefault("Content-Type", "application/json")
        url = path if path.startswith("http") else self.url + path
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())

    def create_sandbox(self, **fields):
        body = {"image": {"uri": "host"}, "entrypoint": ["sleep", "infinity"]}
        body.update(fields)
        r = self.request("POST", "/v1/sandboxes", json=body)
        assert r.status == 202, r.body
        return r.json()["id"]

    def execd(self, sandbox_id):
        ep = self.request("GET", f"/v1/sandboxes/{sandbox_id}/endpoints/44772").json()
        return "http://" + ep["endpoint"], ep["headers"]

    def run(self, sandbox_id, command, **extra):
        """Run a foreground command; returns (exit_code, stdout_lines, stderr_lines, events)."""
        base, headers = self.execd(sandbox_id)
        r = self.request("POST", base + "/command", json={"command": command, **extra}, headers=headers)
        assert r.status == 200, r.body
        events = [json.loads(chunk) for chunk in r.body.decode().split("\n\n") if chunk.strip()]
        out = [e["text"] for e in events if e["type"] == "stdout"]
        err = [e["text"] for e in events if e["type"] == "stderr"]
        final = events[-1]
        code = 0 if final["type"] == "execution_complete" else int(final["error"]["evalue"])
        return code, out, err, events

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def restart(self):
        return self.start()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                for sb in self.request("GET", "/v1/sandboxes?pageSize=200", timeout=10).json()["items"]:
                    self.request("DELETE", f"/v1/sandboxes/{sb['id']}", timeout=30)
            except Exception:
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        log = self.logs() if os.path.exists(self.log) else ""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        # Under the sanitizer build, a report in the supervisor's log fails the test.
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in log, "sanitizer report from the supervisor:\n" + log[-6000:]


def runtime_state_dirs():
    return set(os.listdir("/run/sandforge")) if os.path.isdir("/run/sandforge") else set()


def assert_no_leftovers(sandbox_ids):
    for sid in sandbox_ids:
        for ctrl in ("memory", "pids", "freezer", "cpu"):
            assert not os.path.exists(f"/sys/fs/cgroup/{ctrl}/sandforge/{sid}"), sid


@pytest.fixture
def supervisor():
    sup = Supervisor(config_text="[sandbox]\nmin_timeout = 1\n").start()
    yield sup
    sup.stop()


E2E_DIR = os.path.join(os.path.dirname(__file__), "..", "e2e")


def ensure_npm_packages():
    """Install tests/e2e's npm packages (the OpenSandbox SDK, standardwebhooks) once."""
    need = [os.path.join(E2E_DIR, "node_modules", p) for p in ("@alibaba-group/opensandbox", "standardwebhooks")]
    if all(os.path.isdir(p) for p in need):
        return
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error"],
                       cwd=E2E_DIR, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(f"npm install in tests/e2e failed: {r.stderr[-2000:]}")

"""The example webhook receivers (examples/c, examples/node, examples/python)
verify real deliveries from a real supervisor, and reject forged, tampered and
stale ones while acknowledging duplicates without handling them twice.

The C receiver is `make examples` output: SANDFORGE_EXAMPLE_RECEIVER or
build/bin/sandforge-example-receiver.  Outside CI, a missing C binary or a
missing `node` skips that receiver; in CI (env CI set) it fails instead.
SANDFORGE_EXAMPLE_RECEIVER_WRAPPER (e.g. "valgrind -q --error-exitcode=99
--leak-check=full") runs the C receiver under a tool; its exit status after
SIGTERM must be 0 and a sanitizer report in its output fails the test."""
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from sfharness import Supervisor, free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
C_RECEIVER = os.environ.get("SANDFORGE_EXAMPLE_RECEIVER") or os.path.join(
    ROOT, "build", "bin", "sandforge-example-receiver")
LIFECYCLE = ["sandbox.created", "sandbox.started", "sandbox.deleted", "sandbox.destroyed"]
# "<timestamp> <event> [id=<id>] sandbox=<id> attempt=<n> verified=yes ..."; the
# Python example does not print the id.
LINE = re.compile(r"^(?P<ts>\S+) (?P<event>\S+) +(?:id=(?P<id>\S+) )?sandbox=(?P<sandbox>\S+) "
                  r"attempt=(?P<attempt>\S+) verified=(?P<verified>yes|no secret)")


def new_secret():
    """What an operator would generate: whsec_ + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def receiver_command(kind):
    if kind == "python":
        return ["/usr/bin/python3", os.path.join(ROOT, "examples", "python", "receiver.py")]
    if kind == "node":
        node = shutil.which("node")
        if node is None:
            missing("node is not installed")
        return [node, os.path.join(ROOT, "examples", "node", "receiver.mjs")]
    if not os.access(C_RECEIVER, os.X_OK):
        missing(f"{C_RECEIVER} is missing: run `make examples`")
    wrapper = shlex.split(os.environ.get("SANDFORGE_EXAMPLE_RECEIVER_WRAPPER", ""))
    return wrapper + [C_RECEIVER]


def missing(why):
    if os.environ.get("CI"):
        pytest.fail(why + " (required in CI)")
    pytest.skip(why)


class ExampleReceiver:
    """One example receiver process on a free port, its output in a file."""

    def __init__(self, kind, secret, log_path):
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/sandforge"
        self.log_path = log_path
        self.log = open(log_path, "w+")
        env = dict(os.environ, WEBHOOK_SECRET=secret, PORT=str(self.port))
        self.proc = subprocess.Popen(receiver_command(kind), env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if not self.wait_for(lambda text: "receiver listening on" in text, timeout=30):
            raise RuntimeError(f"{kind} receiver did not start: {self.text()}")

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def events(self):
        """Parsed event lines (not REJECTED lines) printed so far."""
        return [m.groupdict() for m in map(LINE.match, self.text().splitlines()) if m]

    def wait_for(self, pred, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred(self.text()):
                return True
            if self.proc.poll() is not None:
                return pred(self.text())
            time.sleep(0.05)
        return False

    def post(self, body, headers):
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def stop(self):
        """SIGTERM, then SIGKILL if it lingers; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def check_exit(self, status):
        text = self.text()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in text, f"sanitizer report from the {self.kind} receiver:\n{text[-6000:]}"
        if self.kind == "c":  # the C receiver exits cleanly on SIGTERM (and 0 under valgrind)
            assert status == 0, f"C receiver exited with {status}:\n{text[-6000:]}"


@pytest.fixture(params=["c", "node", "python"])
def kind(request):
    return request.param


def test_receiver_verifies_real_deliveries(kind, tmp_path):
    secret = new_secret()
    rx = ExampleReceiver(kind, secret, tmp_path / "rx.log")
    sup = None
    try:
        sup = Supervisor(extra_args=["--webhook-url", rx.url, "--webhook-secret", secret],
                         config_text="[sandbox]\nmin_timeout = 1\n").start()
        sid = sup.create_sandbox()
        assert sup.request("DELETE", f"/v1/sandboxes/{sid}").status in (200, 204)

        def mine():
            return [e for e in rx.events() if e["sandbox"] == sid]
        assert rx.wait_for(lambda _: len(mine()) >= len(LIFECYCLE)), rx.text()
        time.sleep(0.3)  # nothing more (a duplicate or a stray) may follow
        evs = mine()
        assert sorted(e["event"] for e in evs) == sorted(LIFECYCLE), rx.text()
        assert all(e["verified"] == "yes" and e["attempt"] == "1" for e in evs), rx.text()
        assert "REJECTED" not in rx.text(), rx.text()
        # the printed ids are the events the supervisor committed
        log = sup.request("GET", f"/v1/events?sandboxId={sid}").json()["items"]
        committed = {e["event"]: e["id"] for e in log}
        if kind != "python":
            assert {e["event"]: e["id"] for e in evs} == {n: committed[n] for n in LIFECYCLE}
    finally:
        if sup is not None:
            sup.stop()
        status = rx.stop()
    rx.check_exit(status)


def sign(secret, msg_id, ts, body, std_secret=None, sf_secret=None):
    """Both signature headers, computed independently of the receivers."""
    std_secret = std_secret or secret
    sf_secret = sf_secret or secret
    key = base64.b64decode(std_secret[6:]) if std_secret.startswith("whsec_") else std_secret.encode()
    std = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    sf = hmac.new(sf_secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": f"v1,{std}",
            "X-Sandforge-Signature": f"t={ts},v1={sf}", "X-Sandforge-Event": "sandbox.paused",
            "X-Sandforge-Delivery": "dlv_" + uuid.uuid4().hex[:16], "X-Sandforge-Attempt": "1"}


def event(marker):
    """A payload whose sandbox_id is unique, so its printed line can be counted."""
    msg_id = "evt_" + uuid.uuid4().hex[:16]
    body = json.dumps({"id": msg_id, "event": "sandbox.paused", "timestamp": "2026-11-22T10:00:00.123Z",
                       "sandbox_id": marker, "template_id": "host",
                       "data": {"sandbox_id": marker, "template_id": "host", "state": "Paused",
                                "reason": "api"}}, separators=(",", ":")).encode()
    return msg_id, body


@pytest.mark.parametrize("secret_kind", ["whsec", "raw"])
def test_receiver_rejects_forged_stale_and_duplicate(kind, secret_kind, tmp_path):
    # A secret without the whsec_ prefix is used as raw bytes by both schemes.
    secret = new_secret() if secret_kind == "whsec" else "raw-" + secrets.token_hex(16)
    other = new_secret() if secret_kind == "whsec" else "raw-" + secrets.token_hex(16)
    rx = ExampleReceiver(kind, secret, tmp_path / "rx.log")
    try:
        def count(marker):
            return sum(1 for e in rx.events() if e["sandbox"] == marker)
        now = int(time.time())
        rejected = {}

        # forged: signed with another secret, in one scheme or both
        for name, std_secret, sf_secret in [("forged-both", other, other), ("forged-std", other, secret),
                                            ("forged-sandforge", secret, other)]:
            marker = f"sb_{name}_{uuid.uuid4().hex[:8]}"
            msg_id, body = event(marker)
            rejected[marker] = rx.post(body, sign(secret, msg_id, now, body, std_secret, sf_secret))
        # tampered: a correct signature over different bytes
        marker = f"sb_tampered_{uuid.uuid4().hex[:8]}"
        msg_id, body = event(marker)
        headers = sign(secret, msg_id, now, body)
        rejected[marker] = rx.post(body.replace(b'"api"', b'"idle"'), headers)
        # no signature headers at all
        marker = f"sb_unsigned_{uuid.uuid4().hex[:8]}"
        msg_id, body = event(marker)
        rejected[marker] = rx.post(body, {"webhook-id": msg_id, "webhook-timestamp": str(now)})
        # correctly signed, but outside the 300 s window (a replay), in the past and the future
        for name, ts in [("stale", now - 400), ("future", now + 400)]:
            marker = f"sb_{name}_{uuid.uuid4().hex[:8]}"
            msg_id, body = event(marker)
            rejected[marker] = rx.post(body, sign(secret, msg_id, ts, body))
        assert all(status == 401 for status in rejected.values()), rejected

        # valid, hand-signed: printed once
        good = f"sb_good_{uuid.uuid4().hex[:8]}"
        good_id, good_body = event(good)
        assert rx.post(good_body, sign(secret, good_id, now, good_body)) in (200, 204)
        assert rx.wait_for(lambda _: count(good) == 1), rx.text()
        # a retry of it (same webhook-id, new timestamp and signature): acknowledged, not handled again
        retry = sign(secret, good_id, int(time.time()), good_body)
        retry["X-Sandforge-Attempt"] = "2"
        assert rx.post(good_body, retry) in (200, 204)

        # during a secret rotation a delivery carries one signature per secret: any may match
        rotated = f"sb_rotated_{uuid.uuid4().hex[:8]}"
        msg_id, body = event(rotated)
        old = sign(secret, msg_id, now, body, other, other)
        new = sign(secret, msg_id, now, body)
        headers = dict(new, **{
            "webhook-signature": old["webhook-signature"] + " " + new["webhook-signature"],
            "X-Sandforge-Signature": old["X-Sandforge-Signature"] + "," + new["X-Sandforge-Signature"].split(",", 1)[1]})
        assert rx.post(body, headers) in (200, 204)
        assert rx.wait_for(lambda _: count(rotated) == 1), rx.text()
        time.sleep(0.3)  # the receivers print after answering: let any stray line land

        assert count(good) == 1, rx.text()
        assert all(count(marker) == 0 for marker in rejected), rx.text()
        assert rx.text().count("REJECTED") == len(rejected), rx.text()
        ev = [e for e in rx.events() if e["sandbox"] == good][0]
        assert ev["event"] == "sandbox.paused" and ev["verified"] == "yes" and ev["attempt"] == "1"
        if kind != "python":
            assert ev["id"] == good_id
    finally:
        status = rx.stop()
    rx.check_exit(status)


def raw_request(port, data):
    """Send raw bytes, return the status line's code (the receiver may close early)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(data)
        except OSError:
            pass
        return int(s.recv(4096).split(b" ", 2)[1])


@pytest.mark.parametrize("kind", ["c", "node"])
def test_receiver_limits_body_and_method(kind, tmp_path):
    rx = ExampleReceiver(kind, new_secret(), tmp_path / "rx.log")
    try:
        # over 1 MiB by Content-Length: refused before the body is read
        assert raw_request(rx.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"
                           + b"x" * 1000) == 413
        # over 1 MiB in chunks (no Content-Length): refused once counted
        chunk = b"x" * 65536
        body = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 17 + b"0\r\n\r\n"
        assert raw_request(rx.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           + body) == 413
        assert raw_request(rx.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 405
        assert rx.proc.poll() is None
    finally:
        status = rx.stop()
    rx.check_exit(status)

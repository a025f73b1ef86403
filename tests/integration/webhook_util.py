"""A real webhook receiver (HTTP server thread) that records every request and
answers with a scripted sequence of status codes, plus signature checks."""
import base64
import hashlib
import hmac
import http.server
import json
import threading
import time

import pytest

from sfharness import Supervisor


class Receiver:
    def __init__(self, statuses=None, port=0, bodies=None):
        self.requests = []
        self.statuses = list(statuses or [])
        self.bodies = list(bodies or [])  # response bodies in order; then b"ok"
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with rec.lock:
                    rec.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                    status = rec.statuses.pop(0) if rec.statuses else 200
                    answer = rec.bodies.pop(0) if rec.bodies else b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self):
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def wait_for(self, pred, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred(self):
                return True
            time.sleep(0.05)
        return False

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def verify_standard(secret, headers, body):
    """Standard Webhooks (what the standardwebhooks/svix libraries check)."""
    key = base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_") else secret.encode()
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(sig.split(",", 1)[1] == expected for sig in headers["webhook-signature"].split(" "))


def verify_stripe(secret, headers, body):
    parts = dict(p.split("=", 1) for p in headers["x-sandforge-signature"].split(",") if p.startswith("t="))
    sigs = [p.split("=", 1)[1] for p in headers["x-sandforge-signature"].split(",") if p.startswith("v1=")]
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return expected in sigs and abs(int(parts["t"]) - time.time()) < 300


class Rig:
    """One supervisor and its receivers; close() stops and closes them all."""

    def __init__(self):
        self.sup = None
        self.closables = []

    def start(self, private=True, retry="100ms, 100ms", extra="", args=()):
        cfg = "[sandbox]\nmin_timeout = 1\n[webhooks]\n" f"retry_schedule = {retry}\n"
        if private:
            cfg += "allow_private_targets = true\n"
        self.sup = Supervisor(extra_args=list(args), config_text=cfg + extra).start()
        return self.sup

    def receiver(self, statuses=None):
        rx = Receiver(statuses=statuses)
        self.closables.append(rx)
        return rx

    def add(self, thing):
        self.closables.append(thing)
        return thing

    def close(self):
        try:
            if self.sup:
                self.sup.stop()
        finally:
            for c in self.closables:
                c.close()


@pytest.fixture
def rig():
    r = Rig()
    try:
        yield r
    finally:
        r.close()

#!/usr/bin/env python3
"""A Sandforge webhook receiver using only the Python standard library.

It verifies both signature schemes on every delivery, rejects timestamps more
than 300 s from now (replay window), de-duplicates on webhook-id (in memory:
a real receiver keeps seen ids in its database), prints one line per event
and answers 204 quickly (do slow work after answering).

    WEBHOOK_SECRET=whsec_... PORT=9000 python3 examples/python/receiver.py
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time

SECRET = os.environ.get("WEBHOOK_SECRET", "")
PORT = int(os.environ.get("PORT", "9000"))
TOLERANCE = 300
seen = set()
lock = threading.Lock()  # requests run on threads: one line at a time, one check-and-add of an id


def say(line):
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def standard_webhooks_ok(headers, body):
    """webhook-signature: "v1,<base64>" entries over "<id>.<timestamp>.<body>"."""
    key = base64.b64decode(SECRET[6:]) if SECRET.startswith("whsec_") else SECRET.encode()
    signed = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(s.split(",", 1)[-1], expected)
               for s in headers.get("webhook-signature", "").split())


def sandforge_ok(headers, body):
    """X-Sandforge-Signature: "t=<ts>,v1=<hex>[,v1=<hex>]" over "<t>.<body>" (Stripe style)."""
    items = [p.split("=", 1) for p in headers.get("x-sandforge-signature", "").split(",") if "=" in p]
    t = next((v for k, v in items if k == "t"), None)
    if t is None:
        return False
    expected = hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in items)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        h = {k.lower(): v for k, v in self.headers.items()}
        try:
            fresh = abs(time.time() - int(h.get("webhook-timestamp", "0"))) <= TOLERANCE
        except ValueError:
            fresh = False
        if SECRET and not (fresh and standard_webhooks_ok(h, body) and sandforge_ok(h, body)):
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            say(f"REJECTED delivery {h.get('x-sandforge-delivery')}: bad signature or stale timestamp")
            return
        self.send_response(204)
        self.end_headers()
        msg_id = h.get("webhook-id")
        with lock:
            if msg_id in seen:
                return  # a retry of something we already handled
            seen.add(msg_id)
        ev = json.loads(body)
        extra = {k: v for k, v in ev.get("data", {}).items() if k in ("reason", "resource", "syscall", "command")}
        say(f"{ev['timestamp']} {ev['event']:<20} sandbox={ev.get('sandbox_id', '-')} "
            f"attempt={h.get('x-sandforge-attempt')} verified={'yes' if SECRET else 'no secret'} {extra or ''}")

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    if not SECRET:
        print("warning: WEBHOOK_SECRET is not set; signatures are not checked", file=sys.stderr)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)  # bound before we say so
    print(f"receiver listening on http://127.0.0.1:{PORT}/", flush=True)
    server.serve_forever()

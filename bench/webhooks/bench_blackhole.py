#!/usr/bin/env python3
"""API latency with a black-holed webhook endpoint (figures, not assertions).

webhooks.md §5: "a dead, slow or black-holed receiver changes no API latency".
Supervisors run side by side: one without webhooks, one whose endpoints are
a black hole (`--webhook-url`: a listener that accepts connections and never
reads or answers, so every attempt hangs until the attempt timeout) and a
refusing port (`[webhook "refused"]`: connection refused, retried on schedule).
A third supervisor delivers to a healthy receiver, which separates the cost of
the outbox itself from the black hole's.  Rounds rotate between them
(create→Running, then delete), so drift hits all equally; the figure is
p99(black hole) / p99(none), goal ≤ 1.05.

Environment: BENCH_BLACKHOLE_N (rounds per supervisor, default 200),
BENCH_BLACKHOLE_MODE=accept|backlog (backlog: listen, never accept; the
kernel's backlog fills and further connects hang in SYN_SENT),
BENCH_BLACKHOLE_REFUSED=0 (no refusing endpoint: the black hole alone)."""
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
from sfharness import Supervisor, free_port  # noqa: E402

N = int(os.environ.get("BENCH_BLACKHOLE_N", "200"))
MODE = os.environ.get("BENCH_BLACKHOLE_MODE", "accept")
REFUSED = os.environ.get("BENCH_BLACKHOLE_REFUSED", "1") != "0"
WARMUP = 5
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]


class BlackHole:
    """A TCP listener on 127.0.0.1 that never answers."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stopping = False
        if mode == "backlog":
            self.sock.listen(0)  # never accepted: the backlog fills, later SYNs are dropped
            self.thread = None
        else:
            self.sock.listen(128)
            self.sock.settimeout(0.2)
            self.thread = threading.Thread(target=self._accept, daemon=True)
            self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.held.append(conn)  # accepted, never read, never answered

    def close(self):
        self.stopping = True
        if self.thread:
            self.thread.join()
        for c in self.held:
            c.close()
        self.sock.close()


class Client:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def req(self, method, path, body=None):
        h, data = {}, None
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        self.c.request(method, path, body=data, headers=h)
        r = self.c.getresponse()
        return r.status, r.read()

    def close(self):
        self.c.close()


SPEC = {"image": {"uri": "host"}, "entrypoint": ["sleep", "infinity"]}


def round_trip(cl, lat_create, lat_delete, record=True):
    t0 = time.perf_counter()
    st, body = cl.req("POST", "/v1/sandboxes", SPEC)
    t1 = time.perf_counter()
    if st != 202:
        raise RuntimeError(f"create: {st} {body[:300]!r}")
    sid = json.loads(body)["id"]
    st, body = cl.req("DELETE", f"/v1/sandboxes/{sid}")
    t2 = time.perf_counter()
    if st not in (200, 204):
        raise RuntimeError(f"delete {sid}: {st} {body[:300]!r}")
    if record:
        lat_create.append(t1 - t0)
        lat_delete.append(t2 - t1)


def metric(sup, name):
    cl = Client(sup.port)
    st, body = cl.req("GET", "/metrics")
    cl.close()
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return line
    return f"{name} (not exported)"


RECEIVER = r"""
import http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def start_receiver():
    """A healthy receiver (204 to every POST) in its own process: no GIL shared with the client."""
    p = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    return p, int(p.stdout.readline())


def ratio_line(name, a, b, goal=""):
    return (f"  ratio {name}: create p99 {pct(a, .99) / pct(b, .99):.2f}{goal}  p50 "
            f"{pct(a, .5) / pct(b, .5):.2f}  mean {statistics.fmean(a) / statistics.fmean(b):.2f}")


def main():
    for k in list(os.environ):  # the "none" supervisor must really have no endpoint
        if k.startswith("SANDFORGE_WEBHOOK"):
            del os.environ[k]
    hole = BlackHole(MODE)
    receiver, rport = start_receiver()
    refused = free_port()  # bound and released: nothing listens there
    names = ["no endpoint", "healthy receiver", "black hole + refused" if REFUSED else "black hole"]
    sups = [
        Supervisor(),
        Supervisor(extra_args=["--webhook-url", f"http://127.0.0.1:{rport}/hook", "--webhook-secret", SECRET]),
        Supervisor(extra_args=["--webhook-url", f"http://127.0.0.1:{hole.port}/hook", "--webhook-secret", SECRET],
                   config_text=f'[webhook "refused"]\nurl = http://127.0.0.1:{refused}/hook\n' if REFUSED else None),
    ]
    clients = []
    try:
        for sup in sups:
            sup.start()
        clients = [Client(sup.port) for sup in sups]
        print(f"API create→Running with a black-holed webhook endpoint ({MODE} mode)"
              f"{' + a refusing one' if REFUSED else ''}, a healthy receiver, and no endpoint: "
              f"{N} rounds each, rotating")
        lat = [([], []) for _ in sups]
        for _ in range(WARMUP):
            for k in range(len(sups)):
                round_trip(clients[k], *lat[k], record=False)
        t0 = time.perf_counter()
        for i in range(N):
            for j in range(len(sups)):
                k = (i + j) % len(sups)
                round_trip(clients[k], *lat[k])
        wall = time.perf_counter() - t0
        for k, name in enumerate(names):
            c, d = lat[k]
            print(f"  {name:<22} create p50 {pct(c, .5) * 1e3:6.2f}  p90 {pct(c, .9) * 1e3:6.2f}  "
                  f"p99 {pct(c, .99) * 1e3:6.2f}  mean {statistics.fmean(c) * 1e3:6.2f} ms   "
                  f"delete p50 {pct(d, .5) * 1e3:5.2f}  p99 {pct(d, .99) * 1e3:5.2f} ms  (n={len(c)})")
        none, healthy, holed = (lat[k][0] for k in range(3))
        print(ratio_line("black hole/none", holed, none, " (goal <= 1.05)") + f"   ({wall:.1f} s)")
        print(ratio_line("healthy/none", healthy, none) + "   (the outbox rows + a working dispatcher)")
        print(ratio_line("black hole/healthy", holed, healthy) + "   (the black hole alone)")
        held = f"{len(hole.held)} connections accepted and never answered" if MODE == "accept" \
            else "listening, never accepting"
        failed = metric(sups[2], 'sandforge_webhook_attempts_total{outcome="failed"}')
        print(f"  black hole: {held}; its supervisor: {metric(sups[2], 'sandforge_webhook_in_flight')}, {failed}")
    finally:
        for c in clients:
            c.close()
        for sup in sups:
            sup.stop()  # deletes what is left, SIGTERM, waits, removes the data dir
        receiver.terminate()
        receiver.wait()
        hole.close()


if __name__ == "__main__":
    main()

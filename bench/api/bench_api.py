#!/usr/bin/env python3
"""API benchmark (figures, not assertions): create→Running round trip at
concurrency 1 and 16, exec `echo hello` round trip, pause and resume.
Starts its own supervisor; deletes every sandbox it creates."""
import http.client
import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
from sfharness import Supervisor  # noqa: E402

N = int(os.environ.get("BENCH_N", "100"))


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]


def fmt(name, v, goal=""):
    print(f"  {name:<28} p50 {pct(v, .5) * 1e3:7.2f} ms   p99 {pct(v, .99) * 1e3:7.2f} ms   (n={len(v)}) {goal}")


class Client:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def req(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        self.c.request(method, path, body=data, headers=h)
        r = self.c.getresponse()
        return r.status, r.read()


def create_many(port, n, out, ids):
    cl = Client(port)
    for _ in range(n):
        t0 = time.perf_counter()
        st, body = cl.req("POST", "/v1/sandboxes", {"image": {"uri": "host"}, "entrypoint": ["sleep", "infinity"]})
        out.append(time.perf_counter() - t0)
        assert st == 202, body
        ids.append(json.loads(body)["id"])


def main():
    sup = Supervisor().start()
    ids = []
    try:
        cl = Client(sup.port)
        print(f"Sandforge API benchmark (supervisor on 127.0.0.1:{sup.port})")
        lat = []
        create_many(sup.port, N, lat, ids)
        fmt("create→Running, c=1", lat, "(goal p50 ≤ 10 ms, p99 ≤ 25 ms)")
        for sid in ids:
            cl.req("DELETE", f"/v1/sandboxes/{sid}")
        ids.clear()
        lat16, threads = [], []
        per = max(1, N // 16)
        t0 = time.perf_counter()
        for _ in range(16):
            t = threading.Thread(target=create_many, args=(sup.port, per, lat16, ids))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        fmt("create→Running, c=16", lat16, f"({len(lat16) / wall:.0f} creates/s)")
        for sid in ids[1:]:
            cl.req("DELETE", f"/v1/sandboxes/{sid}")
        sid = ids[0]
        ids[:] = [sid]
        st, ep = cl.req("GET", f"/v1/sandboxes/{sid}/endpoints/44772")
        ep = json.loads(ep)
        path = ep["endpoint"].split("/", 1)[1]
        ex = []
        for _ in range(N):
            t0 = time.perf_counter()
            st, body = cl.req("POST", f"/{path}/command", {"command": "echo hello"}, ep["headers"])
            ex.append(time.perf_counter() - t0)
            assert b'"hello"' in body
        fmt("exec `echo hello`", ex, "(goal p50 ≤ 5 ms)")
        pz, rz = [], []
        for _ in range(N):
            t0 = time.perf_counter()
            assert cl.req("POST", f"/v1/sandboxes/{sid}/pause")[0] == 202
            t1 = time.perf_counter()
            assert cl.req("POST", f"/v1/sandboxes/{sid}/resume")[0] == 202
            pz.append(t1 - t0)
            rz.append(time.perf_counter() - t1)
        fmt("pause", pz, "(goal p50 ≤ 2 ms)")
        fmt("resume", rz, "(goal p50 ≤ 2 ms)")
        t0 = time.perf_counter()
        for _ in range(N):
            cl.req("GET", "/health")
        base = (time.perf_counter() - t0) / N
        print(f"  baseline: GET /health round trip {base * 1e3:.3f} ms (HTTP + JSON floor of this machine)")
    finally:
        sup.stop()


if __name__ == "__main__":
    main()

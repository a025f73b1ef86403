"""`sandforge webhook …` and `sandforge events …` end to end: the CLI binary
against a real supervisor (SANDFORGE_URL) and real receivers."""
import json
import os
import queue
import re
import subprocess
import threading
import time

import pytest

from sfharness import SANDFORGE, Supervisor
from webhook_util import Receiver, rig, verify_standard, verify_stripe  # noqa: F401 (rig: fixture)

GENERATED_SECRET = re.compile(r"^whsec_[A-Za-z0-9+/=]{44}$")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def cli(sup, *args, timeout=60):
    env = dict(os.environ, SANDFORGE_URL=sup.url)
    return subprocess.run([SANDFORGE, *args], capture_output=True, text=True, env=env, timeout=timeout)


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > deadline:
            return v
        time.sleep(0.05)


def table(stdout):
    """Rows of a CLI table as lists of cells (columns are separated by 2+ spaces)."""
    lines = [l for l in stdout.splitlines() if l.strip()]
    return [re.split(r"\s{2,}", l.strip()) for l in lines]


def add(sup, *args):
    r = cli(sup, "webhook", "add", *args)
    assert r.returncode == 0, r.stderr
    return r


def test_webhook_add_ls_show_enable_disable_rm(rig):
    rx = rig.receiver()
    sup = rig.start(args=["--webhook-url", rx.url, "--webhook-secret", SECRET])
    r = add(sup, rx.url, "--events", "sandbox.created, sandbox.deleted", "--description", "from the cli",
            "--header", "X-Team: infra", "--header", "X-Env:ci")
    lines = r.stdout.splitlines()
    wid = lines[0]
    assert re.match(r"^wh_[0-9a-f]{16}$", wid) and len(lines) == 2, r.stdout
    assert lines[1].startswith("secret: ") and GENERATED_SECRET.match(lines[1][len("secret: "):])
    secret = lines[1][len("secret: "):]
    assert "only" in r.stderr  # the reminder goes to stderr, the values to stdout
    w = sup.request("GET", f"/v1/webhooks/{wid}").json()
    assert (w["url"], w["events"], w["description"], w["headers"]) == \
        (rx.url, ["sandbox.created", "sandbox.deleted"], "from the cli", {"X-Team": "infra", "X-Env": "ci"})
    # ls: a table with the operator endpoint and ours, no secrets
    ls = cli(sup, "webhook", "ls")
    assert ls.returncode == 0, ls.stderr
    rows = table(ls.stdout)
    assert rows[0] == ["ID", "SOURCE", "URL", "EVENTS", "ENABLED", "PENDING", "FAILED"]
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id[wid] == [wid, "api", rx.url, "sandbox.created,sandbox.deleted", "yes", "0", "0"]
    assert by_id["wh_op_flags"][:5] == ["wh_op_flags", "operator", rx.url, "*", "yes"]
    assert "whsec_" not in ls.stdout
    j = json.loads(cli(sup, "webhook", "ls", "--json").stdout)
    assert {w["id"] for w in j["items"]} == {wid, "wh_op_flags"} and "whsec_" not in json.dumps(j)
    # show
    show = cli(sup, "webhook", "show", wid)
    assert show.returncode == 0, show.stderr
    assert f"url:           {rx.url}" in show.stdout and "header:        X-Team: infra" in show.stdout
    assert "secret:        set" in show.stdout and "enabled:       yes" in show.stdout
    assert secret not in show.stdout and "from the cli" in show.stdout
    assert json.loads(cli(sup, "webhook", "show", wid, "--json").stdout)["id"] == wid
    # disable / enable
    assert cli(sup, "webhook", "disable", wid).returncode == 0
    w = json.loads(cli(sup, "webhook", "show", "--json", wid).stdout)
    assert w["enabled"] is False and w["disabledReason"] == "disabled through the API"
    assert "no (disabled through the API)" in cli(sup, "webhook", "show", wid).stdout
    assert {r[0]: r for r in table(cli(sup, "webhook", "ls").stdout)[1:]}[wid][4] == "no"
    on = cli(sup, "webhook", "enable", wid, "--json")
    assert on.returncode == 0 and json.loads(on.stdout)["enabled"] is True
    # every option of add, with --json
    r = add(sup, rx.url, "--disabled", "--ordering", "per-sandbox", "--format", "slack", "--secret", SECRET,
            "--events", "sandbox.*", "--json")
    other = json.loads(r.stdout)
    assert (other["enabled"], other["ordering"], other["format"], other["events"], other["hasSecret"]) == \
        (False, "per-sandbox", "slack", ["sandbox.*"], True)
    # rm
    assert cli(sup, "webhook", "rm", other["id"]).returncode == 0
    gone = cli(sup, "webhook", "show", other["id"])
    assert gone.returncode == 1 and "NOT_FOUND" in gone.stderr and gone.stdout == ""
    # the API's refusals, verbatim, exit 1
    r = cli(sup, "webhook", "rm", "wh_op_flags")
    assert r.returncode == 1 and "CONFLICT" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = cli(sup, "webhook", "add", "ftp://example.com/x")
    assert r.returncode == 1 and "INVALID_PARAMETER" in r.stderr and r.stdout == ""
    r = cli(sup, "webhook", "add", rx.url, "--events", "sandbox.exploded")
    assert r.returncode == 1 and "sandbox.exploded" in r.stderr
    assert [w["id"] for w in sup.request("GET", "/v1/webhooks").json()["items"]].count(wid) == 1
    assert len(sup.request("GET", "/v1/webhooks").json()["items"]) == 2


def test_webhook_usage_errors_exit_2(rig):
    sup = rig.start()
    for args in (["webhook"], ["webhook", "frobnicate"], ["webhook", "add"], ["webhook", "add", "a", "b"],
                 ["webhook", "add", "http://x/", "--header", "no colon"], ["webhook", "add", "http://x/", "--bogus"],
                 ["webhook", "show"], ["webhook", "rm", "a", "b"], ["webhook", "test"],
                 ["webhook", "rotate"], ["webhook", "deliveries"], ["webhook", "deliveries", "wh_x", "--status", "lost"],
                 ["webhook", "deliveries", "wh_x", "--limit", "0"], ["webhook", "redeliver", "wh_x"],
                 ["webhook", "recover", "wh_x"], ["webhook", "recover", "wh_x", "--since", "last tuesday"],
                 ["events", "--since", "soon"], ["events", "--limit", "x"], ["events", "extra"],
                 # text that is not UTF-8 is refused, never silently dropped (a dropped --secret
                 # would be replaced by a generated one, a dropped event name widen the filter)
                 ["webhook", "add", "http://x/", "--secret", "s" * 16 + "\udcff"],
                 ["webhook", "add", "http://x/", "--events", "sandbox.created,\udcff"],
                 ["webhook", "rotate", "wh_x", "--secret", "s" * 16 + "\udcff"]):
        r = cli(sup, *args)
        assert r.returncode == 2 and r.stderr and r.stdout == "", (args, r.returncode, r.stdout, r.stderr)
    h = cli(sup, "webhook", "--help")
    assert h.returncode == 0 and "rotate" in h.stdout and "recover" in h.stdout
    assert cli(sup, "events", "--help").returncode == 0
    assert sup.request("GET", "/v1/webhooks").json()["items"] == []  # nothing was sent


def test_webhook_test_and_rotate(rig):
    sup = rig.start()
    rx = rig.receiver()
    wid, secret = add(sup, rx.url, "--events", "sandbox.created").stdout.splitlines()
    secret = secret[len("secret: "):]
    t = cli(sup, "webhook", "test", wid)
    assert t.returncode == 0 and "delivered" in t.stdout and "HTTP 200" in t.stdout, t.stdout + t.stderr
    assert len(rx.requests) == 1 and json.loads(rx.requests[0]["body"])["event"] == "webhook.test"
    assert verify_standard(secret, rx.requests[0]["headers"], rx.requests[0]["body"])
    bad = rig.receiver(statuses=[500, 500])
    bid = add(sup, bad.url).stdout.splitlines()[0]
    t = cli(sup, "webhook", "test", bid)
    assert t.returncode == 1 and "FAILED" in t.stdout and "HTTP 500" in t.stdout, t.stdout
    tj = cli(sup, "webhook", "test", bid, "--json")
    assert tj.returncode == 1 and json.loads(tj.stdout)["attempt"]["httpStatus"] == 500
    # rotate: the new secret is printed, deliveries verify with both
    r = cli(sup, "webhook", "rotate", wid)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()
    new = first[len("secret: "):]
    assert first.startswith("secret: ") and GENERATED_SECRET.match(new) and new != secret
    assert second.startswith("the previous secret keeps signing until ") and RFC3339.search(second)
    sup.create_sandbox()
    assert rx.wait_for(lambda r: len(r.requests) == 2)
    h, body = rx.requests[1]["headers"], rx.requests[1]["body"]
    assert all(v(s, h, body) for v in (verify_standard, verify_stripe) for s in (secret, new))
    chosen = "whsec_" + "A" * 43 + "="
    rj = cli(sup, "webhook", "rotate", wid, "--secret", chosen, "--json")
    assert rj.returncode == 0 and "secret" not in json.loads(rj.stdout)  # a chosen secret is not echoed
    r = cli(sup, "webhook", "rotate", "wh_0000000000000000")
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr


def test_webhook_deliveries_redeliver_recover(rig):
    sup = rig.start(retry="100ms")  # two attempts, then the dead-letter list
    rx = rig.receiver(statuses=[500, 500])
    wid = add(sup, rx.url, "--events", "sandbox.created").stdout.splitlines()[0]
    sid = sup.create_sandbox()

    def listed(*extra):
        r = cli(sup, "webhook", "deliveries", wid, *extra)
        assert r.returncode == 0, r.stderr
        return table(r.stdout)

    assert wait_for(lambda: len(listed("--status", "failed")) == 2)
    rows = listed("--status", "failed")
    assert rows[0] == ["ID", "EVENT", "SANDBOX", "STATUS", "ATTEMPTS", "LAST", "NEXT ATTEMPT", "CREATED"]
    did = rows[1][0]
    assert rows[1][1:7] == ["sandbox.created", sid, "failed", "2", "HTTP 500", "-"], rows
    assert listed("--status", "succeeded") == [rows[0]]
    # one delivery with its attempts
    one = cli(sup, "webhook", "deliveries", wid, did)
    assert one.returncode == 0 and f"id:            {did}" in one.stdout and "failed after 2 attempt(s)" in one.stdout
    attempts = table(one.stdout.split("\n\n", 1)[1])
    assert attempts[0] == ["ATTEMPT", "TIME", "RESULT", "DURATION", "RESPONSE"]
    assert [(a[0], a[2], a[4]) for a in attempts[1:]] == [("1", "HTTP 500", "ok"), ("2", "HTTP 500", "ok")]
    j = json.loads(cli(sup, "webhook", "deliveries", wid, did, "--json").stdout)
    assert j["id"] == did and len(j["attemptLog"]) == 2 and j["payload"]["sandbox_id"] == sid
    # redeliver: pending again, attempt 3 arrives with the same ids
    r = cli(sup, "webhook", "redeliver", wid, did)
    assert r.returncode == 0 and r.stdout.startswith(f"{did}: pending, attempt 3"), r.stdout + r.stderr
    assert rx.wait_for(lambda r: len(r.requests) == 3)
    assert rx.requests[2]["headers"]["x-sandforge-attempt"] == "3"
    assert rx.requests[2]["headers"]["x-sandforge-delivery"] == did
    assert wait_for(lambda: len(listed("--status", "succeeded")) == 2)
    # recover in bulk: two more dead letters
    rx.statuses.extend([500] * 4)
    more = [sup.create_sandbox() for _ in range(2)]
    assert wait_for(lambda: len(listed("--status", "failed")) == 3)
    r = cli(sup, "webhook", "recover", wid, "--since", "1m")
    assert r.returncode == 0 and r.stdout.startswith("recovered 2 deliveries since "), r.stdout + r.stderr
    assert rx.wait_for(lambda r: len(r.requests) == 3 + 4 + 2)
    assert {json.loads(q["body"])["sandbox_id"] for q in rx.requests[-2:]} == set(more)
    assert wait_for(lambda: len(listed("--status", "succeeded")) == 4)
    # --limit and --json
    j = json.loads(cli(sup, "webhook", "deliveries", wid, "--limit", "2", "--json").stdout)
    assert len(j["items"]) == 2
    assert len(json.loads(cli(sup, "webhook", "deliveries", wid, "--json").stdout)["items"]) == 3
    # errors from the API
    r = cli(sup, "webhook", "redeliver", wid, "dlv_0000000000000000")
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr
    r = cli(sup, "webhook", "recover", wid, "--since", "2026-01-01T00:00:00+01:00", "--json")
    assert r.returncode == 0 and "recovered" in json.loads(r.stdout)


def test_events_list_filters_and_json(rig):
    sup = rig.start()
    a = sup.create_sandbox()
    b = sup.create_sandbox()
    sup.request("POST", f"/v1/sandboxes/{a}/pause")
    r = cli(sup, "events")
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout)
    assert rows[0] == ["TIMESTAMP", "EVENT", "SANDBOX", "ID", "DETAILS"]
    assert [(x[1], x[2]) for x in rows[1:]] == [("sandbox.created", a), ("sandbox.started", a),
                                                ("sandbox.created", b), ("sandbox.started", b),
                                                ("sandbox.paused", a)]
    assert "reason=api" in rows[-1][4]
    lines = cli(sup, "events", "--json").stdout.splitlines()
    evs = [json.loads(l) for l in lines]
    assert [e["id"] for e in evs] == [x[3] for x in rows[1:]] and all("seq" in e for e in evs)
    only = [json.loads(l) for l in cli(sup, "events", "--json", "--event", "sandbox.paused").stdout.splitlines()]
    assert [(e["event"], e["sandbox_id"]) for e in only] == [("sandbox.paused", a)]
    mine = [json.loads(l) for l in cli(sup, "events", "--json", "--sandbox", b).stdout.splitlines()]
    assert [e["event"] for e in mine] == ["sandbox.created", "sandbox.started"]
    assert [e["event"] for e in map(json.loads, cli(sup, "events", "--json", "--event", "sandbox.*",
                                                    "--limit", "2").stdout.splitlines())] == \
        ["sandbox.created", "sandbox.started"]
    assert len(cli(sup, "events", "--json", "--since", "1h").stdout.splitlines()) == 5
    assert cli(sup, "events", "--json", "--since", "2099-01-01T00:00:00Z").stdout == ""
    # a time with an offset survives the query string ('+' is not a space)
    assert len(cli(sup, "events", "--json", "--since", "2020-01-01T00:00:00+02:00").stdout.splitlines()) == 5


def read_lines(proc):
    q = queue.Queue()

    def pump():
        for line in proc.stdout:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def wait_line(q, pred, timeout=10):
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        try:
            line = q.get(timeout=max(0.01, deadline - time.time()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if pred(line):
            return line
    raise AssertionError(f"no matching line; saw {seen!r}")


def test_events_follow_streams_live_events(rig):
    sup = rig.start()
    old = sup.create_sandbox()
    env = dict(os.environ, SANDFORGE_URL=sup.url)
    procs = []
    try:
        js = subprocess.Popen([SANDFORGE, "events", "--follow", "--json", "--event", "sandbox.created"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        procs.append(js)
        tab = subprocess.Popen([SANDFORGE, "events", "--follow", "--since", "1s"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        procs.append(tab)
        qj, qt = read_lines(js), read_lines(tab)
        # the backlog first (the sandbox created before the follower started)
        first = json.loads(wait_line(qj, lambda l: True))
        assert (first["event"], first["sandbox_id"]) == ("sandbox.created", old) and "seq" in first
        assert wait_line(qt, lambda l: l.startswith("TIMESTAMP"))
        sid = sup.create_sandbox()
        t0 = time.time()
        line = wait_line(qj, lambda l: json.loads(l)["sandbox_id"] == sid)
        assert time.time() - t0 < 3
        ev = json.loads(line)
        assert ev["event"] == "sandbox.created" and ev["id"].startswith("evt_") and ev["seq"] > first["seq"]
        row = wait_line(qt, lambda l: sid in l)
        assert row.split()[1] == "sandbox.created"
        assert "sandbox.started" in wait_line(qt, lambda l: "sandbox.started" in l)
        sup.request("POST", f"/v1/sandboxes/{sid}/pause")
        assert "reason=api" in wait_line(qt, lambda l: "sandbox.paused" in l)
        # --limit ends a follower after N events, successfully
        r = cli(sup, "events", "--follow", "--json", "--limit", "2", timeout=20)
        assert r.returncode == 0 and len(r.stdout.splitlines()) == 2, r.stdout + r.stderr
        for p in procs:
            assert p.poll() is None  # still following
        # the supervisor dies and comes back: the follower reconnects with Last-Event-ID,
        # so it neither repeats nor misses events
        sup.kill9()
        sup.restart()
        after = sup.create_sandbox()
        resumed = json.loads(wait_line(qj, lambda l: True, timeout=20))  # the very next line
        assert (resumed["sandbox_id"], resumed["event"]) == (after, "sandbox.created") and resumed["seq"] > ev["seq"]
        assert qj.empty() and js.poll() is None
        # (the transport error from the client, then the notice; both before the reconnect)
        notes = js.stderr.readline() + js.stderr.readline()
        assert "reconnecting" in notes, notes
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()


def test_events_follow_reports_api_errors(rig):
    sup = rig.start()
    r = cli(sup, "events", "--follow", "--since", "2026-13-45T99:00:00Z", timeout=20)
    assert r.returncode == 2 and "RFC 3339" in r.stderr  # rejected by the CLI already
    r = subprocess.run([SANDFORGE, "events", "--follow"], capture_output=True, text=True, timeout=20,
                       env=dict(os.environ, SANDFORGE_URL="http://127.0.0.1:9"))
    assert r.returncode == 1 and "cannot reach" in r.stderr
    keyed = Supervisor(api_key="s3cret", config_text="[sandbox]\nmin_timeout = 1\n").start()
    try:
        r = subprocess.run([SANDFORGE, "events", "--follow"], capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, SANDFORGE_URL=keyed.url, SANDFORGE_API_KEY="wrong"))
        assert r.returncode == 1 and "401" in r.stderr, r.stderr
        r = subprocess.run([SANDFORGE, "webhook", "ls"], capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, SANDFORGE_URL=keyed.url, SANDFORGE_API_KEY="s3cret"))
        assert r.returncode == 0 and r.stdout.startswith("ID"), r.stderr
    finally:
        keyed.stop()


def test_events_follow_parses_events_split_across_chunks():
    """A stand-in server that sends the stream one byte per chunk (CRLF line ends,
    comments, retry:), then ends it: the CLI reassembles every event and resumes
    with Last-Event-ID."""
    import http.server
    seen_ids = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen_ids.append(self.headers.get("Last-Event-ID"))
            start = int(self.headers.get("Last-Event-ID") or 0)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            out = b": keep-alive\r\n\r\nretry: 1000\r\n"
            for seq in range(start + 1, start + 3):
                ev = {"id": f"evt_{seq:016x}", "event": "sandbox.paused", "timestamp": "2026-01-01T00:00:00.000Z",
                      "sandbox_id": "sb-split", "data": {"reason": "api"}}
                out += f"id: {seq}\r\nevent: sandbox.paused\r\ndata: {json.dumps(ev)}\r\n\r\n".encode()
            for b in out:
                self.wfile.write(b"1\r\n" + bytes([b]) + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.close_connection = True

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = subprocess.run([SANDFORGE, "events", "--follow", "--json", "--limit", "4"], capture_output=True,
                           text=True, timeout=30,
                           env=dict(os.environ, SANDFORGE_URL=f"http://127.0.0.1:{srv.server_address[1]}"))
        assert r.returncode == 0, r.stderr
        evs = [json.loads(l) for l in r.stdout.splitlines()]
        assert [e["seq"] for e in evs] == [1, 2, 3, 4] and all(e["sandbox_id"] == "sb-split" for e in evs)
        assert seen_ids == [None, "2"]
        t = subprocess.run([SANDFORGE, "events", "--follow", "--limit", "1"], capture_output=True, text=True,
                           timeout=30, env=dict(os.environ, SANDFORGE_URL=f"http://127.0.0.1:{srv.server_address[1]}"))
        assert t.returncode == 0 and "sb-split" in t.stdout.splitlines()[1] and "reason=api" in t.stdout
    finally:
        srv.shutdown()
        srv.server_close()

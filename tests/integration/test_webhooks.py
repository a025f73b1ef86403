"""Webhook delivery end to end: real supervisor, real receiver, signatures,
retries, 410, filters, and durability across kill -9."""
import time

from sfharness import Supervisor
from webhook_util import Receiver, verify_standard, verify_stripe

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def start(receiver, events=None, extra_config=""):
    args = ["--webhook-url", receiver.url, "--webhook-secret", SECRET]
    if events:
        args += ["--webhook-events", events]
    return Supervisor(extra_args=args, config_text="[sandbox]\nmin_timeout = 1\n[webhooks]\n"
                      "retry_schedule = 200ms, 200ms, 200ms\n" + extra_config).start()


def test_lifecycle_events_signed_and_complete():
    rx = Receiver()
    sup = start(rx)
    try:
        sid = sup.create_sandbox(metadata={"project": "demo"})
        sup.request("POST", f"/v1/sandboxes/{sid}/pause")
        sup.request("POST", f"/v1/sandboxes/{sid}/resume")
        sup.request("DELETE", f"/v1/sandboxes/{sid}")
        want = ["sandbox.created", "sandbox.started", "sandbox.paused", "sandbox.resumed", "sandbox.deleted",
                "sandbox.destroyed"]
        assert rx.wait_for(lambda r: len(r.requests) >= 6), [e["event"] for e in rx.events()]
        evs = sorted(rx.events(), key=lambda e: e["timestamp"])
        assert [e["event"] for e in evs] == want
        for req in rx.requests:
            h, body = req["headers"], req["body"]
            ev = __import__("json").loads(body)
            assert verify_standard(SECRET, h, body) and verify_stripe(SECRET, h, body)
            assert h["webhook-id"] == ev["id"] and h["x-sandforge-event"] == ev["event"]
            assert h["x-sandforge-attempt"] == "1" and h["user-agent"].startswith("Sandforge-Webhooks/")
            assert h["content-type"] == "application/json" and h["x-sandforge-delivery"].startswith("dlv_")
            assert ev["sandbox_id"] == sid and ev["template_id"] == "host"
            assert ev["data"]["sandbox_id"] == sid and ev["data"]["metadata"] == {"project": "demo"}
        paused = [e for e in evs if e["event"] == "sandbox.paused"][0]
        assert paused["data"]["reason"] == "api" and paused["data"]["state"] == "Paused"
        # and every delivery verifies with the official npm `standardwebhooks` library
        import base64, json, os, subprocess
        from sfharness import E2E_DIR, ensure_npm_packages
        ensure_npm_packages()
        lines = "".join(json.dumps({"secret": SECRET, "headers": r["headers"],
                                    "body_b64": base64.b64encode(r["body"]).decode()}) + "\n" for r in rx.requests)
        v = subprocess.run(["node", "verify_webhooks.mjs"], cwd=E2E_DIR, input=lines, capture_output=True,
                           text=True, timeout=60)
        assert v.returncode == 0 and "verified 6/6" in v.stdout, v.stdout + v.stderr
        tampered = json.dumps({"secret": SECRET, "headers": rx.requests[0]["headers"],
                               "body_b64": base64.b64encode(rx.requests[0]["body"] + b" ").decode()}) + "\n"
        v = subprocess.run(["node", "verify_webhooks.mjs"], cwd=E2E_DIR, input=tampered, capture_output=True,
                           text=True, timeout=60)
        assert v.returncode == 1 and "verified 0/1" in v.stdout
    finally:
        sup.stop()
        rx.close()


def test_retry_until_success_keeps_the_id():
    rx = Receiver(statuses=[500, 500, 200])
    sup = start(rx, events="sandbox.created")
    try:
        sup.create_sandbox()
        assert rx.wait_for(lambda r: len(r.requests) >= 3, timeout=15)
        time.sleep(0.5)
        assert len(rx.requests) == 3  # succeeded on attempt 3: no more
        ids = {r["headers"]["webhook-id"] for r in rx.requests}
        attempts = [r["headers"]["x-sandforge-attempt"] for r in rx.requests]
        assert len(ids) == 1 and attempts == ["1", "2", "3"]
        assert all(verify_standard(SECRET, r["headers"], r["body"]) for r in rx.requests)
    finally:
        sup.stop()
        rx.close()


def test_410_disables_and_filters_exclude():
    rx = Receiver(statuses=[410])
    sup = start(rx, events="sandbox.created, sandbox.deleted")
    try:
        sid = sup.create_sandbox()
        assert rx.wait_for(lambda r: len(r.requests) >= 1)
        sup.request("POST", f"/v1/sandboxes/{sid}/pause")  # not subscribed
        sup.request("DELETE", f"/v1/sandboxes/{sid}")       # subscribed, but the endpoint is disabled now
        time.sleep(1.0)
        assert [e["event"] for e in rx.events()] == ["sandbox.created"]
    finally:
        sup.stop()
        rx.close()


def test_receiver_down_then_kill9_nothing_lost():
    rx = Receiver()
    port = rx.port
    rx.close()  # nothing listens: connection refused
    sup = Supervisor(extra_args=["--webhook-url", f"http://127.0.0.1:{port}/hook", "--webhook-secret", SECRET],
                     config_text="[webhooks]\nretry_schedule = 300ms, 300ms, 300ms, 300ms, 300ms, 300ms, 300ms, 300ms\n").start()
    try:
        sid = sup.create_sandbox()
        t0 = time.perf_counter()
        for _ in range(100):  # 200 events; the API never waits for the (dead) receiver
            assert sup.request("POST", f"/v1/sandboxes/{sid}/pause").status == 202
            assert sup.request("POST", f"/v1/sandboxes/{sid}/resume").status == 202
        elapsed = time.perf_counter() - t0
        committed = {e["id"] for e in sup.request("GET", "/v1/events?limit=1000").json()["items"]}
        assert len(committed) == 202
        sup.kill9()
        rx = Receiver(port=port)
        sup.restart()
        assert rx.wait_for(lambda r: {e["id"] for e in r.events()} >= committed, timeout=30), \
            len(committed - {e["id"] for e in rx.events()})
        assert elapsed < 30
    finally:
        sup.stop()
        rx.close()


def test_bad_webhook_config_fails_startup(tmp_path):
    import subprocess
    from sfharness import SANDFORGE
    cfg = tmp_path / "w.ini"
    cfg.write_text('[webhook "ops"]\nurl = http://127.0.0.1:9/x\nevents = sandbox.*, sandbox.exploded\n')
    r = subprocess.run([SANDFORGE, "supervisor", "--config", str(cfg), "--data-dir", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and f"{cfg}:3:" in r.stderr and "sandbox.exploded" in r.stderr
    r = subprocess.run([SANDFORGE, "supervisor", "--webhook-url", "ftp://x/y", "--data-dir", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "http://" in r.stderr


def test_example_python_receiver_verifies_real_deliveries(tmp_path):
    import os
    import subprocess
    import sys
    from sfharness import free_port
    port = free_port()
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "receiver.py")
    out = open(tmp_path / "rx.log", "w+")
    proc = subprocess.Popen(["/usr/bin/python3", example], env=dict(os.environ, WEBHOOK_SECRET=SECRET, PORT=str(port)),
                            stdout=out, stderr=subprocess.STDOUT)
    sup = Supervisor(extra_args=["--webhook-url", f"http://127.0.0.1:{port}/hooks", "--webhook-secret", SECRET]).start()
    try:
        sid = sup.create_sandbox()
        sup.request("DELETE", f"/v1/sandboxes/{sid}")
        deadline = time.time() + 10
        while time.time() < deadline and open(tmp_path / "rx.log").read().count("verified=yes") < 4:
            time.sleep(0.1)
        text = open(tmp_path / "rx.log").read()
        assert text.count("verified=yes") == 4 and "REJECTED" not in text, text
        assert "sandbox.destroyed" in text
        # a forged delivery is rejected with 401
        import urllib.request
        req = urllib.request.Request(f"http://127.0.0.1:{port}/hooks", data=b"{}", method="POST", headers={
            "webhook-id": "evt_x", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,AAAA",
            "X-Sandforge-Signature": "t=1,v1=00"})
        try:
            urllib.request.urlopen(req)
            assert False
        except urllib.error.HTTPError as e:
            assert e.code == 401
    finally:
        sup.stop()
        proc.kill()
        proc.wait()


def test_api_latency_unaffected_by_blackholed_and_refusing_endpoints():
    import socket
    import statistics
    from sfharness import free_port

    def api_latency(sup, n=20):
        sid = sup.create_sandbox()
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            assert sup.request("POST", f"/v1/sandboxes/{sid}/pause").status == 202
            assert sup.request("POST", f"/v1/sandboxes/{sid}/resume").status == 202
            lat.append(time.perf_counter() - t0)
        return statistics.median(lat)

    base = Supervisor().start()
    try:
        baseline = api_latency(base)
    finally:
        base.stop()
    hole = socket.socket()  # accepts TCP (backlog) but never answers
    hole.bind(("127.0.0.1", 0))
    hole.listen(128)
    refused = free_port()     # nothing listens here
    cfg = (f'[webhook "hole"]\nurl = http://127.0.0.1:{hole.getsockname()[1]}/x\n'
           f'[webhook "refused"]\nurl = http://127.0.0.1:{refused}/x\n'
           "[webhooks]\ntimeout = 30s\nretry_schedule = 100ms, 100ms, 100ms, 100ms, 100ms, 100ms, 100ms, 100ms\n")
    sup = Supervisor(config_text=cfg).start()
    try:
        slow = api_latency(sup)
        # generous bound: the API path only commits and pokes the dispatcher
        assert slow < max(baseline * 3, baseline + 0.01), (baseline, slow)
        # once the refusing receiver comes up, it gets the events
        rx = Receiver(port=refused)
        try:
            assert rx.wait_for(lambda r: len(r.requests) >= 10, timeout=15)
        finally:
            rx.close()
    finally:
        sup.stop()
        hole.close()


def test_thousands_of_pending_events_survive_kill9():
    """3,000 events committed while the receiver is down, supervisor killed -9
    with all of them pending (some in flight): after restart every committed
    event arrives (duplicates allowed, losses not)."""
    import threading
    rx = Receiver()
    port = rx.port
    rx.close()
    sup = Supervisor(extra_args=["--webhook-url", f"http://127.0.0.1:{port}/hook", "--webhook-secret", SECRET],
                     config_text="[webhooks]\nretry_schedule = " + ", ".join(["1s"] * 30) + "\n").start()
    try:
        sids = [sup.create_sandbox() for _ in range(3)]
        accepted, errors = [], []

        def churn(sid):
            for _ in range(500):  # up to 1,000 events per sandbox
                for action in ("pause", "resume"):
                    r = sup.request("POST", f"/v1/sandboxes/{sid}/{action}")
                    # Each accepted call committed exactly one event.  A 409 (a state the
                    # client did not expect; seen once in CI under ASan, not reproduced
                    # since) commits none and is not what this test is about.
                    (accepted if r.status == 202 else errors).append(r)
        threads = [threading.Thread(target=churn, args=(s,)) for s in sids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(r.status == 409 for r in errors) and len(errors) < 10, [r.body for r in errors[:3]]
        committed, cursor = set(), 0
        while True:
            page = sup.request("GET", f"/v1/events?limit=1000&cursor={cursor}").json()
            committed |= {e["id"] for e in page["items"]}
            if not page["items"]:
                break
            cursor = page["nextCursor"]
        assert len(committed) == 3 * 2 + len(accepted) and len(accepted) > 2900
        sup.kill9()
        rx = Receiver(port=port)
        sup.restart()
        assert rx.wait_for(lambda r: {e["id"] for e in r.events()} >= committed, timeout=90), \
            len(committed - {e["id"] for e in rx.events()})
        assert all(verify_standard(SECRET, r["headers"], r["body"]) for r in rx.requests[:50])
    finally:
        sup.stop()
        rx.close()


def test_wecom_format_error_code_is_a_failure():
    """A WeCom bot answers 200 with errcode != 0 when it rejects a message:
    that attempt fails and is retried; the body is the bot's markdown message."""
    rx = Receiver(bodies=[b'{"errcode":93000,"errmsg":"invalid webhook url"}', b'{"errcode":0,"errmsg":"ok"}'])
    cfg = (f'[webhook "bot"]\nurl = {rx.url}\nsecret = {SECRET}\nformat = wecom\nevents = sandbox.created\n'
           "[webhooks]\nretry_schedule = 200ms, 200ms\n")
    sup = Supervisor(config_text=cfg).start()
    try:
        sid = sup.create_sandbox()
        assert rx.wait_for(lambda r: len(r.requests) >= 2, timeout=10)
        time.sleep(0.5)
        assert len(rx.requests) == 2
        import json
        msgs = [json.loads(r["body"]) for r in rx.requests]
        assert all(m["msgtype"] == "markdown" for m in msgs)
        assert "sandbox.created" in msgs[0]["markdown"]["content"] and sid in msgs[0]["markdown"]["content"]
        assert [r["headers"]["x-sandforge-attempt"] for r in rx.requests] == ["1", "2"]
        assert all(verify_standard(SECRET, r["headers"], r["body"]) for r in rx.requests)
        d = sup.request("GET", "/v1/webhooks/wh_op_bot/deliveries").json()["items"][0]
        full = sup.request("GET", f"/v1/webhooks/wh_op_bot/deliveries/{d['id']}").json()
        assert d["status"] == "succeeded" and d["attempts"] == 2
        assert "errcode 93000" in full["attemptLog"][0]["error"]
        assert full["attemptLog"][0]["httpStatus"] == 200 and "invalid webhook url" in full["attemptLog"][0]["response"]
    finally:
        sup.stop()
        rx.close()


def test_continuous_failure_disables_endpoint():
    rx = Receiver(statuses=[500] * 100)
    cfg = (f'[webhook "flaky"]\nurl = {rx.url}\n'
           "[webhooks]\nretry_schedule = 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms\n"
           "disable_after = 1s\n")
    sup = Supervisor(config_text=cfg).start()
    try:
        sup.create_sandbox()

        def disabled():
            ep = sup.request("GET", "/v1/webhooks/wh_op_flaky").json()
            return not ep["enabled"] and "failing continuously since" in (ep["disabledReason"] or "")
        deadline = time.time() + 10
        while time.time() < deadline and not disabled():
            time.sleep(0.1)
        assert disabled(), sup.request("GET", "/v1/webhooks/wh_op_flaky").json()
        n = len(rx.requests)
        time.sleep(0.8)
        assert len(rx.requests) == n  # nothing more is sent to a disabled endpoint
        metrics = sup.request("GET", "/metrics").body.decode()
        assert 'sandforge_webhook_endpoints{state="disabled"} 1' in metrics
        # re-enabled by the operator through the API: the pending deliveries go again
        rx.statuses.clear()
        assert sup.request("PATCH", "/v1/webhooks/wh_op_flaky", json={"enabled": True}).status == 200
        assert rx.wait_for(lambda r: len(r.requests) > n, timeout=5)
    finally:
        sup.stop()
        rx.close()


def test_retention_prunes_events_and_deliveries():
    rx = Receiver()
    sup = Supervisor(extra_args=["--webhook-url", rx.url],
                     config_text="[webhooks]\nretention = 2s\n").start()
    try:
        sid = sup.create_sandbox()
        assert rx.wait_for(lambda r: len(r.requests) >= 2)
        assert len(sup.request("GET", "/v1/events").json()["items"]) >= 2
        deadline = time.time() + 10
        while time.time() < deadline and sup.request("GET", "/v1/events").json()["items"]:
            time.sleep(0.2)
        assert sup.request("GET", "/v1/events").json()["items"] == []
        assert sup.request("GET", "/v1/webhooks/wh_op_flags/deliveries").json()["items"] == []
        # new events are still recorded and delivered after a prune
        sup.request("DELETE", f"/v1/sandboxes/{sid}")
        assert rx.wait_for(lambda r: "sandbox.deleted" in [e["event"] for e in r.events()])
    finally:
        sup.stop()
        rx.close()


def test_api_views_hide_credentials_in_urls_and_headers():
    sup = Supervisor(config_text="[webhooks]\nallow_private_targets = true\n").start()
    try:
        r = sup.request("POST", "/v1/webhooks", json={
            "url": "https://bot:hunter2@qyapi.example.com/cgi-bin/webhook/send?key=abc-123&lang=en",
            "headers": {"Authorization": "Bearer s3cr3t", "X-Api-Key": "k", "X-Team": "infra"}})
        assert r.status == 201, r.body
        for view in (r.body, sup.request("GET", "/v1/webhooks").body):
            text = view.decode()
            for secret in ("hunter2", "abc-123", "s3cr3t", '"k"'):
                assert secret not in text, (secret, text)
        ep = r.json()
        assert ep["url"] == "https://bot:***@qyapi.example.com/cgi-bin/webhook/send?key=***&lang=en"
        assert ep["headers"] == {"Authorization": "***", "X-Api-Key": "***", "X-Team": "infra"}
        # a whsec_ secret that is not base64 is refused with a clear error
        r = sup.request("POST", "/v1/webhooks", json={"url": "https://x.example/", "secret": "whsec_test_secret!!"})
        assert r.status == 400 and "base64" in r.json()["message"]
    finally:
        sup.stop()


def test_invalid_operator_secret_fails_startup(tmp_path):
    import subprocess
    from sfharness import SANDFORGE
    r = subprocess.run([SANDFORGE, "supervisor", "--webhook-url", "http://127.0.0.1:9/x", "--webhook-secret",
                        "whsec_test_secret", "--data-dir", str(tmp_path / "d")], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "base64" in r.stderr, r.stderr


def test_failed_sandbox_reports_destroyed_and_event_filter_lists():
    rx = Receiver()
    sup = Supervisor(extra_args=["--webhook-url", rx.url]).start()
    try:
        import glob
        import os
        import signal
        sid = sup.create_sandbox()
        assert rx.wait_for(lambda r: len(r.requests) >= 2)
        # kill everything in the sandbox from the host: its init dies, the sandbox fails
        procs = glob.glob(f"/sys/fs/cgroup/pids/sandforge/{sid}/cgroup.procs") or \
            glob.glob(f"/sys/fs/cgroup/**/{sid}/cgroup.procs", recursive=True)
        for pid in open(procs[0]).read().split():
            os.kill(int(pid), signal.SIGKILL)
        assert rx.wait_for(lambda r: "sandbox.destroyed" in [e["event"] for e in r.events()], timeout=10), \
            [e["event"] for e in rx.events()]
        evs = sorted(rx.events(), key=lambda e: e["timestamp"])
        names = [e["event"] for e in evs if e["sandbox_id"] == sid]
        assert names.index("sandbox.failed") < names.index("sandbox.destroyed")
        failed = [e for e in evs if e["event"] == "sandbox.failed"][0]
        assert failed["data"]["reason"] == "init_exited"
        listed = sup.request("GET", "/v1/events?event=sandbox.created,%20sandbox.failed").json()["items"]
        assert sorted(e["event"] for e in listed) == ["sandbox.created", "sandbox.failed"]
        assert sup.request("GET", "/v1/events?event=sandbox.nope").status == 400
    finally:
        sup.stop()
        rx.close()

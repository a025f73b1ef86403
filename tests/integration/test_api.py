"""The supervisor's HTTP API: lifecycle, hostile input, auth, file-path escapes, TTL."""
import json
import os
import subprocess
import time

import pytest

from sfharness import SANDFORGE, Supervisor, assert_no_leftovers, supervisor  # noqa: F401


def count(sup):
    return sup.request("GET", "/v1/sandboxes?pageSize=200").json()["pagination"]["totalItems"]


def test_create_get_list_delete(supervisor):
    sid = supervisor.create_sandbox(metadata={"team": "ml"}, timeout=600)
    sb = supervisor.request("GET", f"/v1/sandboxes/{sid}").json()
    assert sb["status"]["state"] == "Running" and sb["metadata"] == {"team": "ml"} and "expiresAt" in sb
    lst = supervisor.request("GET", "/v1/sandboxes?state=running&metadata=team%3Dml").json()
    assert [s["id"] for s in lst["items"]] == [sid]
    assert supervisor.request("GET", "/v1/sandboxes?metadata=team%3Dother").json()["items"] == []
    r = supervisor.request("DELETE", f"/v1/sandboxes/{sid}")
    assert r.status == 204 and r.body == b""
    assert supervisor.request("GET", f"/v1/sandboxes/{sid}").status == 404
    assert_no_leftovers([sid])


def test_pagination_newest_first(supervisor):
    ids = [supervisor.create_sandbox() for _ in range(3)]
    page1 = supervisor.request("GET", "/v1/sandboxes?page=1&pageSize=2").json()
    assert [s["id"] for s in page1["items"]] == ids[::-1][:2]
    assert page1["pagination"] == {"page": 1, "pageSize": 2, "totalItems": 3, "totalPages": 2, "hasNextPage": True}
    assert supervisor.request("GET", "/v1/sandboxes?page=0").status == 400


@pytest.mark.parametrize("body,code", [
    (b"{not json", "INVALID_REQUEST_BODY"),
    (b"[1,2]", "INVALID_REQUEST_BODY"),
    (json.dumps({"entrypoint": ["x"]}).encode(), "SANDBOX::INVALID_PARAMETER"),
    (json.dumps({"image": {"uri": "host"}, "resourceLimits": {"memory": "12XB"}}).encode(), "SANDBOX::INVALID_PARAMETER"),
    (json.dumps({"image": {"uri": "host"}, "timeout": "soon"}).encode(), "SANDBOX::INVALID_PARAMETER"),
    (json.dumps({"image": {"uri": "nope/../x"}}).encode(), "SANDBOX::INVALID_PARAMETER"),
])
def test_bad_create_bodies_change_nothing(supervisor, body, code):
    r = supervisor.request("POST", "/v1/sandboxes", body=body, headers={"Content-Type": "application/json"})
    assert r.status == 400, r.body
    assert r.json()["code"] == code and r.json()["message"]
    assert count(supervisor) == 0


def test_unknown_image_lists_known(supervisor):
    r = supervisor.request("POST", "/v1/sandboxes", json={"image": {"uri": "python:3.11"}})
    assert r.status in (400, 404) and "python" in r.json()["message"] and "known: host" in r.json()["message"]
    assert count(supervisor) == 0


def test_oversize_body_is_413(supervisor):
    r = supervisor.request("POST", "/v1/sandboxes", body=b"{" + b" " * (2 << 20) + b"}",
                           headers={"Content-Type": "application/json"})
    assert r.status == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert count(supervisor) == 0


def test_unknown_ids_and_routes(supervisor):
    for method, path in (("GET", "/v1/sandboxes/nope"), ("DELETE", "/v1/sandboxes/nope"),
                         ("POST", "/v1/sandboxes/nope/pause"), ("GET", "/v1/sandboxes/nope/endpoints/44772"),
                         ("GET", "/v1/nothing-here")):
        r = supervisor.request(method, path)
        assert r.status == 404 and r.json()["message"], (method, path)
    assert supervisor.request("PUT", "/v1/sandboxes").status == 405


def test_wrong_state_is_409_with_body(supervisor):
    sid = supervisor.create_sandbox()
    r = supervisor.request("POST", f"/v1/sandboxes/{sid}/resume")
    assert r.status == 409 and r.json()["code"] == "SANDBOX_NOT_PAUSED"
    r = supervisor.request("POST", f"/v1/sandboxes/{sid}/pause")
    assert r.status == 202 and r.headers["content-length"] == "0"
    r = supervisor.request("POST", f"/v1/sandboxes/{sid}/pause")
    assert r.status == 409 and r.json()["code"] == "SANDBOX_NOT_RUNNING"
    base, headers = supervisor.execd(sid)
    assert supervisor.request("GET", base + "/ping", headers=headers).status == 409  # paused, no autoResume
    assert supervisor.request("POST", f"/v1/sandboxes/{sid}/resume").status == 202
    assert supervisor.request("GET", base + "/ping", headers=headers).status == 200


def test_renew(supervisor):
    sid = supervisor.create_sandbox(timeout=600)
    past = supervisor.request("POST", f"/v1/sandboxes/{sid}/renew-expiration", json={"expiresAt": "2001-01-01T00:00:00Z"})
    assert past.status == 400
    r = supervisor.request("POST", f"/v1/sandboxes/{sid}/renew-expiration", json={"expiresAt": "2099-01-01T00:00:00.000Z"})
    assert r.status == 200 and r.json()["expiresAt"] == "2099-01-01T00:00:00.000Z"
    no_ttl = supervisor.create_sandbox()
    assert supervisor.request("POST", f"/v1/sandboxes/{no_ttl}/renew-expiration",
                              json={"expiresAt": "2099-01-01T00:00:00Z"}).status == 409


def test_ttl_expiry_destroys_and_records(supervisor):
    sid = supervisor.create_sandbox(timeout=1)
    deadline = time.time() + 10
    while time.time() < deadline and supervisor.request("GET", f"/v1/sandboxes/{sid}").status != 404:
        time.sleep(0.1)
    assert supervisor.request("GET", f"/v1/sandboxes/{sid}").status == 404
    events = [e["event"] for e in supervisor.request("GET", f"/v1/events?sandboxId={sid}").json()["items"]]
    assert events == ["sandbox.created", "sandbox.started", "sandbox.expired", "sandbox.destroyed"]
    assert_no_leftovers([sid])


def test_on_timeout_pause(supervisor):
    sid = supervisor.create_sandbox(timeout=1, extensions={"onTimeout": "pause"})
    deadline = time.time() + 10
    while time.time() < deadline:
        if supervisor.request("GET", f"/v1/sandboxes/{sid}").json()["status"]["state"] == "Paused":
            break
        time.sleep(0.1)
    assert supervisor.request("GET", f"/v1/sandboxes/{sid}").json()["status"]["state"] == "Paused"


def test_commands_and_task_timeout(supervisor):
    sid = supervisor.create_sandbox()
    code, out, err, events = supervisor.run(sid, "printf 'a\\n\\nb'; echo e >&2; exit 4")
    assert (code, out, err) == (4, ["a", "\n", "b"], ["e"])
    assert events[0]["type"] == "init" and len(events[0]["text"]) == 32
    code, out, _, _ = supervisor.run(sid, "trap '' TERM; sleep 30", timeout=500)
    assert code == 137
    evs = supervisor.request("GET", f"/v1/events?event=task.timeout&sandboxId={sid}").json()["items"]
    assert len(evs) == 1 and evs[0]["data"]["limit_seconds"] == 0.5 and evs[0]["sandbox_id"] == sid


def test_background_command_status_and_logs(supervisor):
    sid = supervisor.create_sandbox()
    base, headers = supervisor.execd(sid)
    r = supervisor.request("POST", base + "/command", json={"command": "echo one; sleep 0.3; echo two", "background": True},
                           headers=headers)
    events = [json.loads(c) for c in r.body.decode().split("\n\n") if c.strip()]
    assert [e["type"] for e in events] == ["init", "execution_complete"]
    cid = events[0]["text"]
    time.sleep(1)
    st = supervisor.request("GET", f"{base}/command/status/{cid}", headers=headers).json()
    assert st["running"] is False and st["exit_code"] == 0
    logs = supervisor.request("GET", f"{base}/command/{cid}/logs?cursor=0", headers=headers)
    assert logs.body == b"one\ntwo\n" and logs.headers["execd-commands-tail-cursor"] == "8"
    assert supervisor.request("GET", f"{base}/command/status/nope", headers=headers).status == 404


def test_execd_tokens(supervisor):
    a, b = supervisor.create_sandbox(), supervisor.create_sandbox()
    base_a, headers_a = supervisor.execd(a)
    base_b, headers_b = supervisor.execd(b)
    assert supervisor.request("GET", base_a + "/ping").status == 401
    assert supervisor.request("GET", base_a + "/ping", headers={"X-EXECD-ACCESS-TOKEN": "wrong"}).status == 401
    r = supervisor.request("GET", base_b + "/ping", headers=headers_a)  # A's token on B
    assert r.status == 401 and r.json()["error"].startswith("Unauthorized")
    r = supervisor.request("POST", base_b + "/command", json={"command": "touch /tmp/pwned"}, headers=headers_a)
    assert r.status == 401


def test_api_key_required_when_configured():
    sup = Supervisor(api_key="s3cret").start()
    try:
        r = sup.request("GET", "/v1/sandboxes", headers={"OPEN-SANDBOX-API-KEY": ""})
        r2 = sup.request("GET", "/v1/sandboxes", headers={"OPEN-SANDBOX-API-KEY": "wrong"})
        assert r2.status == 401 and r2.json()["code"] == "INVALID_API_KEY"
        import urllib.request
        try:
            urllib.request.urlopen(sup.url + "/v1/sandboxes")
            assert False, "no key accepted"
        except urllib.error.HTTPError as e:
            assert e.code == 401 and json.loads(e.read())["code"] == "MISSING_API_KEY"
        assert sup.request("GET", "/v1/sandboxes", headers={"Authorization": "Bearer s3cret",
                                                            "OPEN-SANDBOX-API-KEY": "s3cret"}).status == 200
        assert urllib.request.urlopen(sup.url + "/health").status == 200
        assert r.status == 401
    finally:
        sup.stop()


def upload(sup, sid, path, data, mode=644):
    base, headers = sup.execd(sid)
    b = "XyZbound"
    meta = json.dumps({"path": path, "mode": mode}).encode()
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"metadata\"; filename=\"metadata\"\r\n"
            f"Content-Type: application/json\r\n\r\n").encode() + meta + \
           (f"\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{b}--\r\n".encode()
    return sup.request("POST", base + "/files/upload", body=body,
                       headers={**headers, "Content-Type": f"multipart/form-data; boundary={b}"})


def test_files_roundtrip_range_and_info(supervisor):
    sid = supervisor.create_sandbox()
    assert upload(supervisor, sid, "/home/user/dir/sub/f.txt", b"0123456789").status == 200
    base, h = supervisor.execd(sid)
    assert supervisor.request("GET", base + "/files/download?path=/home/user/dir/sub/f.txt", headers=h).body == b"0123456789"
    r = supervisor.request("GET", base + "/files/download?path=/home/user/dir/sub/f.txt", headers={**h, "Range": "bytes=2-4"})
    assert r.status == 206 and r.body == b"234" and r.headers["content-range"] == "bytes 2-4/10"
    assert supervisor.request("GET", base + "/files/download?path=/home/user/dir/sub/f.txt",
                              headers={**h, "Range": "bytes=50-"}).status == 416
    info = supervisor.request("GET", base + "/files/info?path=/home/user/dir/sub/f.txt", headers=h).json()
    assert info["/home/user/dir/sub/f.txt"]["size"] == 10 and info["/home/user/dir/sub/f.txt"]["mode"] == 644
    code, out, _, _ = supervisor.run(sid, "stat -c '%U %a' /home/user/dir/sub/f.txt")
    assert out == ["user 644"]
    lst = supervisor.request("GET", base + "/directories/list?path=/home/user/dir/sub", headers=h).json()
    assert [e["path"] for e in lst] == ["/home/user/dir/sub/f.txt"]
    assert supervisor.request("GET", base + "/files/download?path=/nope", headers=h).status == 404
    assert supervisor.request("DELETE", base + "/directories?path=/home/user/dir", headers=h).status == 200
    assert supervisor.request("GET", base + "/files/info?path=/home/user/dir", headers=h).status == 404


def test_file_paths_cannot_escape(supervisor, tmp_path):
    sid = supervisor.create_sandbox()
    base, h = supervisor.execd(sid)
    marker = "/etc/sandforge-escape-test"
    with open("/etc/hostname") as f:
        host_hostname = f.read()
    # symlinks planted by the workload: absolute, relative chains, a symlinked parent dir
    supervisor.run(sid, "ln -s /etc /home/user/etc-link; ln -s ../../../../../../etc /home/user/rel; "
                        "ln -s /etc/hostname /home/user/host-hostname")
    for path in ("/../../../../etc/sandforge-escape-test", "/home/user/etc-link/sandforge-escape-test",
                 "/home/user/rel/sandforge-escape-test"):
        upload(supervisor, sid, path, b"pwned")
        assert not os.path.exists(marker), path
    # reads through links resolve inside the sandbox (its /etc/hostname, not the host's)
    r = supervisor.request("GET", base + "/files/download?path=/home/user/host-hostname", headers=h)
    assert r.body != host_hostname.encode() or host_hostname == "sandbox\n"
    r = supervisor.request("GET", base + "/files/download?path=/../../etc/shadow", headers=h)
    assert r.status == 404
    # a symlink at the upload target is not followed
    supervisor.run(sid, "ln -s /etc/passwd /home/user/target")
    assert upload(supervisor, sid, "/home/user/target", b"x").status in (400, 500)
    assert supervisor.request("GET", base + "/files/download?path=relative/path", headers=h).status == 400
    # a root-only file inside the sandbox is not writable through the API (acts as the user)
    assert upload(supervisor, sid, "/etc/passwd", b"x").status != 200


def test_config_error_names_file_and_line(tmp_path):
    cfg = tmp_path / "bad.ini"
    cfg.write_text("[supervisor]\nlisten = 127.0.0.1:0\n[sandbox]\nmemory = 12XB\n")
    r = subprocess.run([SANDFORGE, "supervisor", "--config", str(cfg), "--data-dir", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert f"{cfg}:4:" in r.stderr and "12XB" in r.stderr
    cfg.write_text("[supervisor]\nbogus = 1\n")
    r = subprocess.run([SANDFORGE, "supervisor", "--config", str(cfg)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and f"{cfg}:2:" in r.stderr and "bogus" in r.stderr


def test_metrics_and_health(supervisor):
    supervisor.create_sandbox()
    m = supervisor.request("GET", "/metrics").body.decode()
    assert 'sandforge_sandboxes{state="Running"} 1' in m
    assert 'sandforge_events_total{event="sandbox.created"} 1' in m
    assert supervisor.request("POST", "/v1/metrics/events", json={"eventType": "sandbox.create"}).status == 204


def test_files_mv_permissions_replace_search(supervisor):
    sid = supervisor.create_sandbox()
    base, h = supervisor.execd(sid)
    assert upload(supervisor, sid, "/home/user/a.txt", b"hello world, hello").status == 200
    r = supervisor.request("POST", base + "/files/replace?verbose=true", json={"/home/user/a.txt": {"old": "hello", "new": "bye"}}, headers=h)
    assert r.json() == {"/home/user/a.txt": {"replacedCount": 2}}
    r = supervisor.request("POST", base + "/files/mv", body=json.dumps([{"src": "/home/user/a.txt", "dest": "/home/user/x/b.txt"}]).encode(), headers=h)
    assert r.status == 200, r.body
    assert supervisor.request("GET", base + "/files/download?path=/home/user/x/b.txt", headers=h).body == b"bye world, bye"
    r = supervisor.request("POST", base + "/files/permissions", json={"/home/user/x/b.txt": {"mode": 600}}, headers=h)
    assert r.status == 200
    info = supervisor.request("GET", base + "/files/info?path=/home/user/x/b.txt", headers=h).json()
    assert info["/home/user/x/b.txt"]["mode"] == 600
    found = supervisor.request("GET", base + "/files/search?path=/home/user&pattern=*.txt", headers=h).json()
    assert [f["path"] for f in found] == ["/home/user/x/b.txt"]
    # hostile: move onto the host through '..' stays inside; chown to root is refused (acts as the user)
    supervisor.request("POST", base + "/files/mv", body=json.dumps([{"src": "/home/user/x/b.txt", "dest": "/../../../tmp/escaped"}]).encode(), headers=h)
    assert not os.path.exists("/tmp/escaped")
    r = supervisor.request("POST", base + "/files/permissions", json={"/tmp/escaped": {"owner": 0}}, headers=h)
    assert r.status != 200
    assert supervisor.request("POST", base + "/files/mv", body=b"{}", headers=h).status == 400


def test_delete_of_paused_sandbox_is_prompt(supervisor):
    sid = supervisor.create_sandbox()
    assert supervisor.request("POST", f"/v1/sandboxes/{sid}/pause").status == 202
    t0 = time.perf_counter()
    assert supervisor.request("DELETE", f"/v1/sandboxes/{sid}").status == 204
    assert time.perf_counter() - t0 < 1.0
    assert_no_leftovers([sid])


def test_stopped_supervisor_leaves_nothing_on_the_host():
    from sfharness import runtime_state_dirs
    before = runtime_state_dirs()
    sup = Supervisor().start()
    sid = sup.create_sandbox()
    assert len(runtime_state_dirs() - before) == 1  # its runtime state dir under /run/sandforge
    sup.stop()  # deletes its sandboxes, then SIGTERM
    assert runtime_state_dirs() - before == set()
    assert_no_leftovers([sid])


def test_workload_gets_default_signal_dispositions(supervisor):
    # The supervisor ignores SIGPIPE; a command must not inherit that (nor a blocked mask).
    sid = supervisor.create_sandbox()
    code, out, err, _ = supervisor.run(sid, "yes | head -1 >/dev/null; echo ${PIPESTATUS[0]}; grep -E 'SigBlk|SigIgn' /proc/self/status")
    assert out[0] == "141", (out, err)  # 128 + SIGPIPE
    assert out[1].split()[1] == "0000000000000000" and out[2].split()[1] == "0000000000000000"

"""The CLI (sandbox, exec, files, template) against a real supervisor."""
import json
import os
import subprocess
import tempfile

from sfharness import SANDFORGE, supervisor  # noqa: F401


def cli(sup, *args, input=None):
    env = dict(os.environ, SANDFORGE_URL=sup.url)
    return subprocess.run([SANDFORGE, *args], capture_output=True, text=True, env=env, timeout=60, input=input)


def test_sandbox_lifecycle_via_cli(supervisor):
    r = cli(supervisor, "sandbox", "create", "--metadata", "owner=cli", "--timeout", "600", "--memory", "256Mi")
    assert r.returncode == 0, r.stderr
    sid = r.stdout.strip()
    ls = cli(supervisor, "sandbox", "ls")
    assert sid in ls.stdout and "Running" in ls.stdout and "ID" in ls.stdout.splitlines()[0]
    j = json.loads(cli(supervisor, "sandbox", "ls", "--json").stdout)
    assert j["items"][0]["metadata"] == {"owner": "cli"}
    assert cli(supervisor, "sandbox", "pause", sid).returncode == 0
    assert json.loads(cli(supervisor, "sandbox", "get", sid).stdout)["status"]["state"] == "Paused"
    again = cli(supervisor, "sandbox", "pause", sid)
    assert again.returncode == 1 and "SANDBOX_NOT_RUNNING" in again.stderr and again.stderr.count("\n") == 1
    assert cli(supervisor, "sandbox", "resume", sid).returncode == 0
    assert cli(supervisor, "sandbox", "renew", sid, "3600").returncode == 0
    assert cli(supervisor, "sandbox", "rm", sid).returncode == 0
    r = cli(supervisor, "sandbox", "get", sid)
    assert r.returncode == 1 and "not found" in r.stderr


def test_exec_streams_and_exits_with_status(supervisor):
    sid = cli(supervisor, "sandbox", "create").stdout.strip()
    r = cli(supervisor, "exec", sid, "--", "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (r.returncode, r.stdout, r.stderr) == (5, "out\n", "err\n")
    r = cli(supervisor, "exec", sid, "--", "python3", "-c", "print('it''s', 6*7)")
    assert r.stdout == "its 42\n" and r.returncode == 0
    r = cli(supervisor, "exec", sid, "--", "echo", "a b", "c'd")
    assert r.stdout == "a b c'd\n"


def test_files_put_get_ls(supervisor):
    sid = cli(supervisor, "sandbox", "create").stdout.strip()
    with tempfile.NamedTemporaryFile("wb", delete=False) as f:
        f.write(b"\x00\x01binary\xff" * 1000)
        local = f.name
    try:
        assert cli(supervisor, "files", "put", sid, local, "/home/user/data/blob.bin").returncode == 0
        out = local + ".back"
        assert cli(supervisor, "files", "get", sid, "/home/user/data/blob.bin", out).returncode == 0
        assert open(out, "rb").read() == open(local, "rb").read()
        os.unlink(out)
        ls = cli(supervisor, "files", "ls", sid, "/home/user/data")
        assert "/home/user/data/blob.bin" in ls.stdout and "9000" in ls.stdout
        r = cli(supervisor, "files", "get", sid, "/nope", "-")
        assert r.returncode == 1 and "FILE_NOT_FOUND" in r.stderr
    finally:
        os.unlink(local)


def test_template_registration(supervisor):
    base = tempfile.mkdtemp(dir="/var/tmp")
    os.chmod(base, 0o755)
    for d in ("bin", "proc", "sys", "dev", "tmp", "home/user"):
        os.makedirs(os.path.join(base, d))
    assert cli(supervisor, "template", "add", "tiny", base).returncode == 0
    assert "tiny" in cli(supervisor, "template", "ls").stdout
    r = supervisor.request("POST", "/v1/sandboxes", json={"image": {"uri": "tiny"}, "entrypoint": ["/bin/none"]})
    assert r.status == 202, r.body  # the root is the template (no shell in it)
    sid = r.json()["id"]
    base_url, h = supervisor.execd(sid)
    code = supervisor.request("GET", base_url + "/directories/list?path=/", headers=h).json()
    assert sorted(e["path"] for e in code) == ["/bin", "/dev", "/home", "/proc", "/sys", "/tmp"]
    assert cli(supervisor, "template", "rm", "host").returncode == 1
    assert cli(supervisor, "template", "add", "../evil", base).returncode == 1
    assert cli(supervisor, "template", "rm", "tiny").returncode == 0
    import shutil
    shutil.rmtree(base)


def test_cli_unreachable_supervisor():
    env = dict(os.environ, SANDFORGE_URL="http://127.0.0.1:1")
    r = subprocess.run([SANDFORGE, "sandbox", "ls"], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "cannot reach" in r.stderr


def test_exec_options_before_or_after_the_id(supervisor):
    sid = supervisor.create_sandbox()
    for args in (["--timeout", "1", sid], [sid, "--timeout", "1"]):
        r = cli(supervisor, "exec", *args, "--", "sleep", "5")
        assert r.returncode != 0 and r.returncode != 127, (args, r.returncode, r.stderr)
    r = cli(supervisor, "exec", sid, "--env", "A=b", "--", "sh", "-c", "echo $A")
    assert r.returncode == 0 and r.stdout.strip() == "b", r.stderr
    r = cli(supervisor, "exec", sid, "--", "echo", "--timeout")  # after --: the command's own words
    assert r.returncode == 0 and r.stdout.strip() == "--timeout"
    assert cli(supervisor, "exec", sid, "--timeout", "soon", "--", "true").returncode == 2

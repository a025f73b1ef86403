"""`sandforge run`: output, exit codes, limits, bad input."""
import os

from runtime_util import SANDFORGE, leftovers, run


def test_python_prints_two():
    r = run([], ["python3", "-c", "print(1+1)"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "2\n"


def test_exit_status_passthrough():
    assert run([], "exit 7").returncode == 7


def test_killed_by_signal_is_128_plus_n():
    assert run([], "kill -9 $$").returncode == 137


def test_stdin_and_stderr_pass_through():
    r = run([], "read x; echo got:$x; echo oops >&2", input="hello\n")
    assert r.stdout == "got:hello\n"
    assert "oops" in r.stderr


def test_timeout_exit_124_kills_sigterm_ignorer():
    r = run(["--timeout", "1s"], "trap '' TERM; sleep 1234")
    assert r.returncode == 124
    assert "timed out" in r.stderr
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p) == "sleep 1234"]


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def test_env_hostname_cwd_uid():
    r = run(["--env", "FOO=bar", "--hostname", "box1", "--cwd", "/tmp"],
            'echo "$FOO $(hostname) $(pwd) $(id -u)"')
    assert r.stdout.strip() == "bar box1 /tmp 1000"


def test_workload_is_unprivileged_and_mapped():
    r = run([], "cat /proc/self/uid_map; grep -E 'CapEff|NoNewPrivs|Seccomp:' /proc/self/status")
    lines = r.stdout.split()
    assert lines[:3] == ["0", "100000", "65536"]
    assert "0000000000000000" in r.stdout  # CapEff
    assert "NoNewPrivs:\t1" in r.stdout.replace(" ", "\t") or "NoNewPrivs: 1" in r.stdout or "1" in lines


def test_memory_limit_enforced():
    r = run(["--memory", "64Mi"], ["python3", "-c", "a = bytearray(512 << 20); print('survived')"])
    assert r.returncode != 0
    assert "survived" not in r.stdout


def test_pids_limit_enforced():
    prog = ("import os, time\nn = 0\ntry:\n    for _ in range(100):\n"
            "        if os.fork() == 0:\n            time.sleep(3); os._exit(0)\n        n += 1\n"
            "except OSError as e:\n    print('blocked', e.errno)\nprint('forked', n)")
    r = run(["--pids", "20", "--timeout", "20s"], ["python3", "-c", prog])
    assert "blocked 11" in r.stdout  # EAGAIN from the pids cgroup
    forked = int(r.stdout.split("forked ")[1])
    assert forked < 20


def test_bad_limit_is_one_clear_line():
    r = run(["--memory", "12XB"], ["true"])
    assert r.returncode == 125
    assert r.stderr.count("\n") == 1 and "12XB" in r.stderr


def test_missing_template():
    r = run(["--template", "does-not-exist"], ["true"])
    assert r.returncode == 125
    assert "unknown template 'does-not-exist'" in r.stderr


def test_no_command():
    import subprocess
    r = subprocess.run([SANDFORGE, "run"], capture_output=True, text=True)
    assert r.returncode == 125 and "no command" in r.stderr


def test_rootfs_directory_template():
    import pathlib, shutil, tempfile
    # The sandbox's root (host uid 100000) must be able to traverse to the
    # rootfs, so it lives in a world-searchable temp dir.
    base = pathlib.Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        os.chmod(base, 0o755)
        root = base / "rootfs"
        for d in ("bin", "proc", "sys", "dev", "tmp", "home/user"):
            (root / d).mkdir(parents=True)
        (root / "marker").write_text("custom rootfs\n")
        # No shell in this root: only exec of a missing binary can be observed.
        r = run(["--rootfs", str(root)], ["/bin/sh", "-c", "true"])
        assert r.returncode == 127 and "/bin/sh" in r.stderr
    finally:
        shutil.rmtree(base)


def test_nothing_left_behind():
    run([], "true")
    assert leftovers() == []


def test_ignored_signals_of_the_caller_do_not_reach_the_workload():
    import signal
    import subprocess

    def ignore():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # like nohup
        signal.signal(34, signal.SIG_IGN)             # a real-time signal, like some runners do

    r = subprocess.run([SANDFORGE, "run", "--", "grep", "-E", "SigIgn|SigBlk", "/proc/self/status"],
                       capture_output=True, text=True, preexec_fn=ignore, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"]

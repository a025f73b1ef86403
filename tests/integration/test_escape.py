"""The escape battery of isolation.md: every case must be contained, the host
unchanged, and nothing left behind."""
import http.server
import os
import shutil
import socket
import threading

import pytest

from runtime_util import host_fingerprint, leftovers, run


@pytest.fixture(autouse=True)
def host_intact():
    before = host_fingerprint()
    yield
    assert host_fingerprint() == before
    assert leftovers() == []


def py(code):
    return ["python3", "-c", code]


SYSCALL = ("import ctypes, sys\n"
           "libc = ctypes.CDLL(None, use_errno=True)\n"
           "r = libc.syscall(*[int(a) for a in sys.argv[1:]])\n"
           "print(r, ctypes.get_errno())\n")


def syscall(*args):
    r = run([], ["python3", "-c", SYSCALL, *[str(a) for a in args]])
    ret, err = r.stdout.split()
    return int(ret), int(err)


def test_fork_bomb_is_contained():
    r = run(["--pids", "64", "--timeout", "5s"], "bomb() { bomb | bomb & }; bomb; sleep 10")
    assert r.returncode in (124, 2, 0)  # killed at timeout (or the shell gave up): never the host


def test_memory_hog_is_killed():
    r = run(["--memory", "64Mi"], py("x = []\nwhile True: x.append(bytearray(1 << 20))"))
    assert r.returncode == 137  # SIGKILL from the OOM killer of the sandbox's cgroup


def test_disk_filler_hits_the_layer_limit():
    before = shutil.disk_usage("/").free
    r = run(["--disk", "16Mi"], "dd if=/dev/zero of=/home/user/fill bs=1M count=200 2>&1; echo rc=$?")
    assert "No space left on device" in r.stdout
    assert abs(shutil.disk_usage("/").free - before) < (64 << 20)


def test_host_shadow_is_unreachable():
    r = run([], "cat /etc/shadow; cat /proc/1/root/etc/shadow; ls /root")
    assert r.returncode != 0
    assert "root:" not in r.stdout


def test_mount_is_denied():
    r = run(["--uid", "0"], "mount -t tmpfs none /mnt && echo MOUNTED")
    assert "MOUNTED" not in r.stdout


def test_unshare_user_is_denied():
    r = run([], "unshare -U true && echo ESCAPED")
    assert "ESCAPED" not in r.stdout and r.returncode != 0


def test_ptrace_of_the_supervisor_is_impossible():
    # Our own pid (the test runner, a host process) is not even addressable.
    ret, err = syscall(101, 16, os.getpid(), 0, 0)  # ptrace(PTRACE_ATTACH, pid)
    assert ret == -1 and err in (1, 3)  # EPERM (seccomp) or ESRCH


def test_kernel_module_load_is_denied():
    ret, err = syscall(313, 0, 0, 0)  # finit_module(0, "", 0)
    assert ret == -1 and err == 1


def test_keyctl_is_denied():
    ret, err = syscall(250, 0, -3, 0)  # keyctl(KEYCTL_GET_KEYRING_ID, session)
    assert ret == -1 and err == 1


def test_raw_socket_is_denied():
    r = run([], py("import socket\ntry:\n  socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)\n"
                   "  print('RAW')\nexcept PermissionError:\n  print('denied')"))
    assert r.stdout.strip() == "denied"


def test_host_loopback_service_is_unreachable():
    srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    port = srv.server_address[1]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        r = run([], py(f"import urllib.request\ntry:\n  urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=2)\n"
                       "  print('REACHED')\nexcept Exception as e:\n  print('blocked', type(e).__name__)"))
        assert "blocked" in r.stdout and "REACHED" not in r.stdout
    finally:
        srv.shutdown()


def test_sysrq_trigger_is_not_writable():
    r = run(["--uid", "0"], "echo h > /proc/sysrq-trigger && echo WROTE")
    assert "WROTE" not in r.stdout


def test_setuid_binaries_give_nothing():
    su = shutil.which("su")
    r = run([], "grep ' /usr ' /proc/mounts; su -c id root </dev/null; id -u")
    assert "nosuid" in r.stdout.splitlines()[0]
    assert r.stdout.strip().splitlines()[-1] == "1000"
    assert su is None or "uid=0" not in r.stdout


def test_device_nodes():
    r = run(["--uid", "0"], "mknod /tmp/sda b 8 0 && echo MADE; ls /dev | tr '\\n' ' '")
    assert "MADE" not in r.stdout
    assert set(r.stdout.split()) == {"fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr",
                                     "stdin", "stdout", "tty", "urandom", "zero"}


def _pids_with_cmdline(text):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if f.read().replace(b"\0", b" ").decode().strip() == text:
                        out.append(p)
            except OSError:
                pass
    return out


def test_no_process_survives_the_sandbox():
    r = run([], "setsid nohup sleep 4321 >/dev/null 2>&1 & echo started")
    assert "started" in r.stdout
    assert _pids_with_cmdline("sleep 4321") == []


def test_sigterm_ignoring_command_dies_at_timeout():
    r = run(["--timeout", "1s"], "trap '' TERM INT; sleep 4322")
    assert r.returncode == 124
    assert _pids_with_cmdline("sleep 4322") == []


def test_blocked_syscalls_fail_cleanly():
    for nr, args in ((169, (0, 0, 0, 0)), (246, (0, 0, 0, 0)), (321, (0, 0, 0))):  # reboot, kexec_load, bpf
        ret, err = syscall(nr, *args)
        assert ret == -1 and err == 1, nr

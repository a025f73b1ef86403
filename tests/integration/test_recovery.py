"""Restart recovery: kill -9 the supervisor; live sandboxes are re-adopted and keep
working, ones that died while it was down are marked Failed, nothing acknowledged is lost."""
import os
import signal

from sfharness import Supervisor, assert_no_leftovers


def test_kill9_and_restart():
    sup = Supervisor(config_text="[sandbox]\nmin_timeout = 1\n").start()
    try:
        ids = [sup.create_sandbox(metadata={"n": str(i)}) for i in range(3)]
        sup.request("POST", f"/v1/sandboxes/{ids[1]}/pause")
        code, _, _, _ = sup.run(ids[0], "echo before > /home/user/state")
        init_of_victim = None
        # find the init of ids[2] through its cgroup, to kill it while the supervisor is down
        with open(f"/sys/fs/cgroup/pids/sandforge/{ids[2]}/cgroup.procs") as f:
            pids = [int(p) for p in f.read().split()]
        sup.kill9()
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        init_of_victim = pids
        sup.restart()
        import time
        deadline = time.time() + 5  # a dying init is noticed at adoption or by the monitor right after
        while time.time() < deadline:
            items = {s["id"]: s for s in sup.request("GET", "/v1/sandboxes").json()["items"]}
            if items[ids[2]]["status"]["state"] == "Failed":
                break
            time.sleep(0.1)
        assert set(items) == set(ids)
        assert items[ids[0]]["status"]["state"] == "Running"
        assert items[ids[1]]["status"]["state"] == "Paused"
        assert items[ids[2]]["status"]["state"] == "Failed"
        code, out, _, _ = sup.run(ids[0], "cat /home/user/state")
        assert (code, out) == (0, ["before"])
        assert sup.request("POST", f"/v1/sandboxes/{ids[1]}/resume").status == 202
        code, _, _, _ = sup.run(ids[1], "true")
        assert code == 0
        failed = sup.request("GET", f"/v1/events?event=sandbox.failed&sandboxId={ids[2]}").json()["items"]
        assert len(failed) == 1
        assert init_of_victim
        assert sup.request("DELETE", f"/v1/sandboxes/{ids[2]}").status == 204
    finally:
        sup.stop()
    assert_no_leftovers(ids)

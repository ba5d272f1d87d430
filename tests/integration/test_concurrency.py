"""Concurrent operations on one container id are serialized by the per-container lock (flock on
`<root>/<id>`) and the one atomic mkdir that creates it: exactly one `create` wins, the others fail
cleanly without disturbing it; `delete` racing `start`, and `delete --force` racing `kill`, end in
one of the states a serial order would give.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time

import pytest
from lamina import syscalls, testing

pytestmark = pytest.mark.integration


# where a mount leaking from a container would show in the host's namespace (the whole table
# also changes with what other test sessions on the host mount meanwhile)
HOST_DIRS = ("/etc", "/dev", "/bin", "/usr", "/root", "/home", "/sbin", "/lib")


def mounts(*paths: str) -> set[str]:
    return testing.mount_table(*paths, *HOST_DIRS)


@pytest.fixture(autouse=True, scope="module")
def _subreaper():
    syscalls.set_subreaper()


class Proc:
    """A lamina command running in the background; its output goes to files, never to pipes a
    container init could inherit and hold open."""

    def __init__(self, lamina, tmp_path, *args: str) -> None:
        lamina._remember(args)
        n = len(list(tmp_path.iterdir()))
        self.out = tmp_path / f"{n}.out"
        self.err = tmp_path / f"{n}.err"
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.p = subprocess.Popen(lamina.argv(*args), env=lamina.env(), stdin=subprocess.DEVNULL,
                                      stdout=o, stderr=e)

    def wait(self, timeout: float = 60) -> tuple[int, str]:
        rc = self.p.wait(timeout=timeout)
        return rc, self.err.read_text()


def one_line(err: str) -> str:
    __tracebackhide__ = True
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_parallel_creates_of_one_id(lamina, bundle, tmp_path):
    b = bundle(["sleep", "60"])
    before = mounts(b.path, lamina.root)
    procs = [Proc(lamina, tmp_path, "create", "--bundle", b.path, b.id) for _ in range(8)]
    results = [p.wait() for p in procs]
    winners = [r for r in results if r[0] == 0]
    losers = [r for r in results if r[0] != 0]
    assert len(winners) == 1, results
    for rc, err in losers:
        assert rc == 1
        assert one_line(err) == f"lamina: container with id {b.id} already exists"
    # the winner is undisturbed: one init, created, then it starts and runs
    st = lamina.state(b.id)
    assert st["status"] == "created"
    with open(f"/sys/fs/cgroup/pids{b.cgroups_path}/cgroup.procs") as f:
        assert f.read().split() == [str(st["pid"])]
    assert lamina("start", b.id).returncode == 0
    st = lamina.state(b.id)
    assert st["status"] == "running"
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"60"]
    assert lamina("delete", "--force", b.id).returncode == 0
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    assert mounts(b.path, lamina.root) == before


def test_parallel_runs_of_one_id(lamina, bundle, tmp_path):
    b = bundle(["sleep", "60"])
    procs = [Proc(lamina, tmp_path, "run", "--detach", "--bundle", b.path, b.id) for _ in range(6)]
    results = [p.wait() for p in procs]
    assert [r[0] for r in results].count(0) == 1, results
    for rc, err in results:
        if rc:
            assert one_line(err).endswith("already exists")
    assert lamina.state(b.id)["status"] == "running"
    assert lamina("delete", "--force", b.id).returncode == 0
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_parallel_creates_of_different_ids(lamina, bundle, tmp_path):
    bs = [bundle(["sleep", "60"]) for _ in range(6)]
    procs = [Proc(lamina, tmp_path, "create", "--bundle", b.path, b.id) for b in bs]
    assert [p.wait()[0] for p in procs] == [0] * len(bs)
    for b in bs:
        assert lamina.state(b.id)["status"] == "created"
        assert lamina("delete", "--force", b.id).returncode == 0
        assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_delete_racing_start(lamina, bundle, tmp_path):
    outcomes = set()
    for _ in range(8):
        b = bundle(["sleep", "60"])
        assert lamina.create(b, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        start = Proc(lamina, tmp_path, "start", b.id)
        delete = Proc(lamina, tmp_path, "delete", b.id)
        (src, serr), (drc, derr) = start.wait(), delete.wait()
        if src == 0:
            # start went first: the container runs and a plain delete refused it
            outcomes.add("start first")
            assert drc == 1 and "not stopped: running" in one_line(derr)
            assert lamina.state(b.id)["status"] == "running"
            assert lamina("delete", "--force", b.id).returncode == 0
        else:
            outcomes.add("delete first")
            assert drc == 0 and derr == ""
            assert src == 1 and one_line(serr) == f"lamina: container {b.id} does not exist"
        assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    print("outcomes:", outcomes)


@pytest.mark.parametrize("kill_args", [("KILL",), ("TERM",), ("--all", "KILL")], ids=["kill", "term", "all"])
def test_delete_force_racing_kill(lamina, bundle, tmp_path, kill_args):
    for _ in range(6):
        b = bundle(["sleep", "60"])
        assert lamina.run(b, "--detach", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        kill = Proc(lamina, tmp_path, "kill", *kill_args[:-1], b.id, kill_args[-1])
        delete = Proc(lamina, tmp_path, "delete", "--force", b.id)
        (krc, kerr), (drc, derr) = kill.wait(), delete.wait()
        assert drc == 0 and derr == "", derr
        if krc:
            assert krc == 1
            line = one_line(kerr)
            assert "container not running" in line or "does not exist" in line, line
        else:
            assert kerr == ""
        assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_state_and_list_during_create(lamina, bundle, tmp_path):
    """Readers never see half a container: while creates run, `state` and `list` answer with
    valid JSON or one clean line."""
    bs = [bundle(["sleep", "60"]) for _ in range(4)]
    procs = [Proc(lamina, tmp_path, "create", "--bundle", b.path, b.id) for b in bs]
    seen = set()
    while any(p.p.poll() is None for p in procs):
        for b in bs:
            p = lamina("state", b.id)
            if p.returncode == 0:
                seen.add(json.loads(p.stdout)["status"])
            else:
                assert one_line(p.stderr).endswith("does not exist")
        p = lamina("list", "--format", "json")
        assert p.returncode == 0, p.stderr
        json.loads(p.stdout)
    assert [p.wait()[0] for p in procs] == [0] * len(bs)
    assert seen <= {"creating", "created"}, seen
    for b in bs:
        assert lamina("delete", "--force", b.id).returncode == 0


def test_mutating_verbs_wait_for_the_lock(lamina, bundle, tmp_path):
    """While someone holds the container's lock, start and delete wait; state and kill do not."""
    b = bundle(["sleep", "60"])
    assert lamina.create(b, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    fd = os.open(os.path.join(lamina.root, b.id), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        start = Proc(lamina, tmp_path, "start", b.id)
        delete = Proc(lamina, tmp_path, "delete", "--force", b.id)
        time.sleep(0.5)
        assert start.p.poll() is None and delete.p.poll() is None
        p = lamina("state", b.id, timeout=5)
        assert p.returncode == 0 and json.loads(p.stdout)["status"] == "created"
        p = lamina("kill", b.id, "CONT", timeout=5)
        assert p.returncode == 0, p.stderr
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    rc_start, err_start = start.wait()
    rc_delete, err_delete = delete.wait()
    assert rc_delete == 0, err_delete
    assert rc_start == 0 or one_line(err_start).endswith("does not exist")
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_kill_reaches_only_the_right_process(lamina, bundle):
    """After the init is gone and deleted, a stale pid is never signalled (pidfd + start time)."""
    b = bundle(["sleep", "60"])
    assert lamina.run(b, "--detach", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    pid = lamina.state(b.id)["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        testing.reap_orphans()
        time.sleep(0.01)
    p = lamina("kill", b.id, "KILL")
    assert p.returncode == 1 and one_line(p.stderr) == f"lamina: container not running: {b.id}"
    assert lamina("delete", b.id).returncode == 0

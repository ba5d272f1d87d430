"""The cgroup-move warm-up (lamina.cgroupwarm): it makes the first move of a process into a new
cgroup fast, moves nothing itself, and never outlives the lamina process that started it."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
import uuid

import pytest
from lamina import cgroupwarm
from lamina.testing import CGROUP_PARENT, wait_for

pytestmark = pytest.mark.integration

PIDS = "/sys/fs/cgroup/pids"


def _cgroup_of(pid: int) -> str:
    return _read(f"/proc/{pid}/cgroup")


def _first_move_ms(parent: str) -> float:
    """Time one move of a fresh sleeping process into a fresh cgroup (then undo both)."""
    path = os.path.join(PIDS, parent, uuid.uuid4().hex[:8])
    os.mkdir(path)
    p = subprocess.Popen(["sleep", "30"])
    try:
        t = time.perf_counter()
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(p.pid))
        return (time.perf_counter() - t) * 1000
    finally:
        p.kill()
        p.wait()
        wait_for(lambda: not _read(os.path.join(path, "cgroup.procs")).strip())
        os.rmdir(path)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


@pytest.fixture
def test_parent():
    # under the suite's own parent, which its session sweep removes if this test cannot
    path = os.path.join(PIDS, CGROUP_PARENT, f"warm-{uuid.uuid4().hex[:8]}")
    os.makedirs(path)
    yield os.path.relpath(path, PIDS)
    os.rmdir(path)


def _samples(parent: str, n: int = 7) -> list[float]:
    out = []
    for _ in range(n):
        time.sleep(0.06)  # a quiet spell: the kernel's writer state goes cold again
        out.append(_first_move_ms(parent))
    return out


@pytest.mark.skipif(not os.path.isdir(PIDS), reason="needs a cgroup v1 pids hierarchy")
def test_moves_are_fast_while_it_runs_and_it_moves_nothing(test_parent):
    cold = _samples(test_parent)
    if statistics.median(cold) < 2:
        pytest.skip(f"first cgroup moves do not wait on this kernel (medians {cold})")
    before = _cgroup_of(os.getpid())
    warm = cgroupwarm.start()
    assert warm is not None
    try:
        time.sleep(0.05)  # its own first write waits out the grace period
        helper_cgroups = _cgroup_of(warm.pid)
        hot = _samples(test_parent)
    finally:
        warm.reap()
    assert statistics.median(hot) < 2, (hot, cold)
    assert helper_cgroups == before  # it "moves" itself to where it already is
    assert _cgroup_of(os.getpid()) == before


def test_stop_and_reap_end_it_and_are_idempotent():
    warm = cgroupwarm.start()
    assert warm is not None
    pid = warm.pid
    warm.stop()
    warm.stop()
    warm.reap()
    warm.reap()
    assert not os.path.exists(f"/proc/{pid}")


def test_it_ends_when_lamina_dies(subreaper):
    """A lamina killed with SIGKILL mid-create leaves no warm-up behind (the helper notices it was
    re-parented; we are the subreaper it is re-parented to)."""
    code = ("import os, signal, sys; from lamina import cgroupwarm; w = cgroupwarm.start(); "
            "print(w.pid, flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert p.returncode == -signal.SIGKILL
    helper = int(p.stdout)

    def gone() -> bool:
        try:
            return os.waitpid(helper, os.WNOHANG)[0] == helper
        except ChildProcessError:
            return True

    assert wait_for(gone, timeout=2), f"warm-up helper {helper} outlived its lamina"


def test_turned_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("LAMINA_CGROUP_WARMUP", "0")
    assert cgroupwarm.start() is None

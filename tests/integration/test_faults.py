"""A runtime killed with SIGKILL at any point of `create` leaves a container that `delete --force`
removes completely: no cgroup, no state dir, no process, no mount in the host's namespace.

Deterministic kills use the core's fault-injection point (LAMINA_TEST_KILL_AT=<phase>, see
lamina.create._boundary); hook-driven kills and kills at random delays cover the points in between.
A corrupt state.json is reported by `state`/`list`, and `delete --force` still removes the container
completely, from the copy the core keeps beside it (state.backup.json).
"""

from __future__ import annotations

import glob
import json
import os
import random
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

PHASES = ["state-dir", "persisted", "prepared", "forked", "child-spawned", "init-pid", "create-runtime",
          "ready", "created"]


@pytest.fixture(autouse=True, scope="module")
def _subreaper():
    syscalls.set_subreaper()


def gone(lamina, b: testing.Bundle, before: set[str]) -> None:
    __tracebackhide__ = True
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    assert mounts(b.path, lamina.root) == before


def force_delete(lamina, cid: str) -> None:
    __tracebackhide__ = True
    p = lamina("delete", "--force", cid)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "" and "Traceback" not in p.stdout


def lamina_detached(lamina, *args: str, env: dict | None = None) -> subprocess.Popen:
    """Start lamina without pipes the container init could inherit (a `create` returns while its
    init still holds the runtime's stdio)."""
    lamina._remember(args)
    return subprocess.Popen(lamina.argv(*args), env={**lamina.env(), **(env or {})}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("verb", ["create", "run"])
@pytest.mark.parametrize("phase", PHASES)
def test_sigkill_at_phase_then_delete_force(lamina, bundle, phase, verb):
    b = bundle(["sleep", "60"])
    before = mounts(b.path, lamina.root)
    extra = ["--detach"] if verb == "run" else []
    p = lamina_detached(lamina, verb, "--bundle", b.path, *extra, b.id, env={"LAMINA_TEST_KILL_AT": phase})
    assert p.wait(timeout=30) == -signal.SIGKILL
    # whatever is left answers `state` in one piece
    st = lamina("state", b.id)
    assert "Traceback" not in st.stderr
    if st.returncode == 0:
        assert json.loads(st.stdout)["status"] in ("creating", "created", "stopped")
    else:
        assert len(st.stderr.splitlines()) == 1
    force_delete(lamina, b.id)
    gone(lamina, b, before)
    # and the id can be used again at once
    b.config["process"]["args"] = ["true"]
    b.write()
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    gone(lamina, b, before)


def test_kill_at_is_ignored_for_an_unknown_phase(lamina, bundle):
    b = bundle(["true"])
    env = {**lamina.env(), "LAMINA_TEST_KILL_AT": "no-such-phase"}
    p = subprocess.run(lamina.argv("run", "--bundle", b.path, b.id), env=env, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=30)
    assert p.returncode == 0, p.stderr


def test_runtime_killed_by_its_create_runtime_hook(lamina, bundle):
    """A createRuntime hook runs as a child of the lamina process: it SIGKILLs its parent."""
    b = bundle(["sleep", "60"])
    b.config["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $PPID"]}]}
    b.write()
    before = mounts(b.path, lamina.root)
    p = lamina_detached(lamina, "create", "--bundle", b.path, b.id)
    assert p.wait(timeout=30) == -signal.SIGKILL
    force_delete(lamina, b.id)
    gone(lamina, b, before)


def test_init_killed_by_a_prestart_hook(lamina, bundle):
    """The init dies while create waits on the hooks: create fails with one line and cleans up."""
    b = bundle(["sleep", "60"])
    script = 'pid=$(sed -n \'s/.*"pid": *\\([0-9]*\\).*/\\1/p\'); kill -9 "$pid"; sleep 0.2'
    b.config["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]}
    b.write()
    before = mounts(b.path, lamina.root)
    p = lamina.create(b)
    assert p.returncode == 1
    assert len(p.stderr.splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "init" in p.stderr
    gone(lamina, b, before)


def _create_duration(lamina, bundle) -> float:
    b = bundle(["true"])
    t = time.monotonic()
    p = lamina("create", "--bundle", b.path, b.id, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.monotonic() - t
    assert p.returncode == 0
    force_delete(lamina, b.id)
    return took


@pytest.mark.parametrize("verb", ["create", "run"])
def test_sigkill_at_random_moments(lamina, bundle, verb):
    """Kills at random delays across the whole create, several times over."""
    took = _create_duration(lamina, bundle)
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    extra = ["--detach"] if verb == "run" else []
    for i in range(12):
        delay = rng.uniform(0, took * 1.1)
        b = bundle(["sleep", "60"])
        before = mounts(b.path, lamina.root)
        p = lamina_detached(lamina, verb, "--bundle", b.path, *extra, b.id)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        force_delete(lamina, b.id)
        left = testing.leftovers(lamina.root, b.id, b.cgroups_path)
        assert left == [], f"iteration {i}, killed after {delay * 1000:.0f} ms (exit {p.returncode}): {left}"
        assert mounts(b.path, lamina.root) == before


def test_delete_force_after_init_was_killed(lamina, bundle):
    """The init dies on its own (OOM killer, an admin): delete --force still removes everything."""
    b = bundle(["sleep", "60"])
    before = mounts(b.path, lamina.root)
    assert lamina.create(b, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    pid = lamina.state(b.id)["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while lamina.state(b.id)["status"] != "stopped" and time.monotonic() < deadline:
        testing.reap_orphans()
        time.sleep(0.01)
    assert lamina.state(b.id)["status"] == "stopped"
    force_delete(lamina, b.id)
    gone(lamina, b, before)


def test_busy_cgroup_is_refused_and_left_alone(lamina, bundle):
    """A cgroupsPath that already holds processes is not shared; the failed create removes only
    the cgroup directories it made, never the busy one nor its processes."""
    b = bundle(["true"])
    pids = [p for p in glob.glob("/sys/fs/cgroup/pids") if os.path.isdir(p)]
    if not pids:
        pytest.skip("no v1 pids hierarchy")
    busy = f"/sys/fs/cgroup/pids/{testing.CGROUP_PARENT}/busy-{b.id}"
    os.makedirs(busy)
    def join_busy() -> None:
        with open(f"{busy}/cgroup.procs", "w") as f:
            f.write("0")

    sleeper = subprocess.Popen(["sleep", "60"], preexec_fn=join_busy)
    try:
        b.config["linux"]["cgroupsPath"] = f"/{testing.CGROUP_PARENT}/busy-{b.id}"
        b.write()
        p = lamina.create(b)
        assert p.returncode == 1 and "already has processes" in p.stderr, p.stderr
        assert len(p.stderr.splitlines()) == 1
        assert os.path.isdir(busy) and sleeper.poll() is None
        with open(f"{busy}/cgroup.procs") as f:
            assert str(sleeper.pid) in f.read().split()
        others = [d for d in glob.glob(f"/sys/fs/cgroup/*/{testing.CGROUP_PARENT}/busy-{b.id}") if d != busy]
        assert others == []
        assert not os.path.exists(os.path.join(lamina.root, b.id))
    finally:
        sleeper.kill()
        sleeper.wait()
        for _ in range(100):
            try:
                os.rmdir(busy)
                break
            except OSError:
                time.sleep(0.01)


# ---------------------------------------------------------------- corrupt state.json


def _corrupt(path: str, how: str) -> None:
    with open(path, "rb") as f:
        data = f.read()
    new = {"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"\x00\xffnot json at all",
           "wrong-id": json.dumps({**json.loads(data), "id": "someone-else"}).encode(),
           "wrong-types": json.dumps({**json.loads(data), "pid": "1", "plugins": []}).encode(),
           "not-an-object": b"[]"}[how]
    with open(path, "wb") as f:
        f.write(new)


CORRUPTIONS = ["empty", "truncated", "garbage", "wrong-id", "wrong-types", "not-an-object"]


@pytest.mark.parametrize("how", CORRUPTIONS)
@pytest.mark.parametrize("started", [False, True], ids=["created", "running"])
def test_corrupt_state(lamina, bundle, how, started):
    good = bundle(["sleep", "60"])
    bad = bundle(["sleep", "60"])
    before = mounts(good.path, bad.path, lamina.root)
    for b in (good, bad):
        assert lamina.create(b, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        if started:
            assert lamina("start", b.id).returncode == 0
    init = lamina.state(bad.id)["pid"]
    _corrupt(os.path.join(lamina.root, bad.id, "state.json"), how)

    p = lamina("state", bad.id)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.splitlines() == [p.stderr.strip()] and "Traceback" not in p.stderr
    assert f"state of container {bad.id} is corrupt" in p.stderr

    for args in (("list",), ("list", "--format", "json"), ("list", "-q")):
        p = lamina(*args)
        assert p.returncode == 1, args
        assert "Traceback" not in p.stderr
        assert [line for line in p.stderr.splitlines() if bad.id in line] == [p.stderr.strip()]
        assert good.id in p.stdout and bad.id not in p.stdout
    listed = json.loads(lamina("list", "--format", "json").stdout)
    assert good.id in [c["id"] for c in listed]

    p = lamina("kill", bad.id, "KILL")
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "corrupt" in p.stderr
    p = lamina("delete", bad.id)
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "corrupt" in p.stderr
    assert os.path.exists(f"/proc/{init}")

    force_delete(lamina, bad.id)
    assert testing.leftovers(lamina.root, bad.id, bad.cgroups_path) == []
    assert lamina.state(good.id)["status"] == ("running" if started else "created")
    force_delete(lamina, good.id)
    gone(lamina, good, before)


def test_corrupt_state_and_copy(lamina, bundle):
    """Both records unreadable: delete --force removes the state dir and says, in one line, that
    the init and cgroups could not be found (exit 1); a second delete --force is then a no-op."""
    b = bundle(["sleep", "60"])
    assert lamina.create(b, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    init = lamina.state(b.id)["pid"]
    cdir = os.path.join(lamina.root, b.id)
    try:
        for name in ("state.json", "state.backup.json"):
            _corrupt(os.path.join(cdir, name), "truncated")
        p = lamina("delete", "--force", b.id)
        assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, p.stderr
        assert "cannot be found" in p.stderr
        assert not os.path.exists(cdir)
        assert lamina("delete", "--force", b.id).returncode == 0
    finally:
        # the test's own clean-up of what lamina could not find
        try:
            os.kill(init, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{init}") and time.monotonic() < deadline:
            testing.reap_orphans()
            time.sleep(0.01)
        for d in glob.glob(f"/sys/fs/cgroup/*/{b.cgroups_path.strip('/')}"):
            for _ in range(100):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.01)


def test_missing_state_json_uses_the_copy(lamina, bundle):
    b = bundle(["sleep", "60"])
    before = mounts(b.path, lamina.root)
    assert lamina.create(b, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    assert lamina("start", b.id).returncode == 0
    os.unlink(os.path.join(lamina.root, b.id, "state.json"))
    force_delete(lamina, b.id)
    gone(lamina, b, before)


def test_foreground_run_killed_while_the_container_runs(lamina, bundle):
    """The supervising `run` dies; the container lives on (re-parented to our subreaper) and
    `delete --force` removes it completely."""
    b = bundle(["sleep", "60"])
    before = mounts(b.path, lamina.root)
    p = lamina_detached(lamina, "run", "--bundle", b.path, b.id)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st = lamina("state", b.id)
        if st.returncode == 0 and json.loads(st.stdout)["status"] == "running":
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    assert lamina.state(b.id)["status"] == "running"
    force_delete(lamina, b.id)
    gone(lamina, b, before)


def test_delete_killed_midway_is_finished_by_the_next(lamina, bundle):
    """`delete --force` itself SIGKILLed at random moments: the next `delete --force` completes it."""
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    for i in range(8):
        b = bundle(["sleep", "60"])
        before = mounts(b.path, lamina.root)
        assert lamina.run(b, "--detach", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        delay = rng.uniform(0, 0.15)
        p = lamina_detached(lamina, "delete", "--force", b.id)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        st = lamina("state", b.id)
        assert "Traceback" not in st.stderr and (st.returncode == 0 or len(st.stderr.splitlines()) == 1)
        force_delete(lamina, b.id)
        left = testing.leftovers(lamina.root, b.id, b.cgroups_path)
        assert left == [], f"iteration {i}, delete killed after {delay * 1000:.0f} ms: {left}"
        assert mounts(b.path, lamina.root) == before


# A first process descheduled between its fork and its INIT_PID message (heavy load) once let
# PID 1 (create) or the new process (exec) reach READY first: the container was recorded with
# pid 0 ("cannot start an already creating container") and `exec --pid-file` wrote "0". The
# first process now holds its child until the pid is sent; LAMINA_TEST_DELAY_INIT_PID makes it
# late on purpose.
@pytest.fixture
def late_pid(monkeypatch):
    monkeypatch.setenv("LAMINA_TEST_DELAY_INIT_PID", "0.3")


def test_a_late_init_pid_still_comes_before_ready(lamina, bundle, late_pid, subreaper):
    b = bundle(["sleep", "300"])
    p = lamina.create(b)
    assert p.returncode == 0, p.stderr
    st = lamina.state(b.id)
    assert st["status"] == "created" and st["pid"] > 0, st
    assert lamina("start", b.id).returncode == 0
    assert lamina.state(b.id)["status"] == "running"


def test_a_late_exec_pid_still_reaches_the_pid_file(lamina, bundle, tmp_path, late_pid, subreaper):
    b = bundle(["sleep", "300"])
    assert lamina.run(b, "--detach").returncode == 0
    pid_file = tmp_path / "exec.pid"
    # (the detached process inherits the runtime's stdio: no pipes, or this call waits for it)
    p = lamina("exec", "--detach", "--pid-file", str(pid_file), b.id, "sleep", "30",
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert p.returncode == 0
    pid = int(pid_file.read_text())
    assert pid > 0
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[:2] == [b"sleep", b"30"], status
    finally:  # ours (we are its subreaper): reaped here, or its zombie keeps the cgroup busy
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

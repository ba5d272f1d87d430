"""create → start → stopped → delete with real containers (DESIGN §5).

`create` leaves the init blocked on the exec FIFO before the user process runs, `start`
releases it, and the status always comes from the live init, never from the state file alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from lamina.testing import wait_for

# the kit's subreaper fixture: container inits are re-parented to the test, and reaped after it
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("subreaper")]


def with_out_dir(b, out_dir: str):
    """Bind-mount a host directory at /out, so the test sees what the container did."""
    b.config["mounts"].append({"destination": "/out", "type": "bind", "source": out_dir,
                               "options": ["rbind", "rw"]})
    os.makedirs(os.path.join(b.rootfs, "out"), exist_ok=True)
    return b.write()


def proc_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    return data[data.rindex(")") + 2]


def gone(pid: int) -> bool:
    return proc_state(pid) in (None, "Z")


def test_create_blocks_before_exec_and_start_releases(lamina, bundle, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    b = with_out_dir(bundle(["sh", "-c", "touch /out/ran; echo hi; echo err >&2"]), str(out))
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with open(stdout, "wb") as o, open(stderr, "wb") as e:
        # the container's stdio is the caller's: a file here, as conmon and shims give it
        p = subprocess.run(lamina.argv("create", "--bundle", b.path, b.id), stdout=o, stderr=e,
                           stdin=subprocess.DEVNULL, timeout=60)
    lamina.ids.add(b.id)
    assert p.returncode == 0, stderr.read_text()
    st = lamina.state(b.id)
    assert st["status"] == "created"
    time.sleep(0.3)
    assert not (out / "ran").exists(), "the user process ran before start"
    assert stdout.read_text() == "" and stderr.read_text() == ""  # lamina printed nothing
    assert proc_state(st["pid"]) == "S"  # blocked opening the FIFO
    p = lamina("start", b.id)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == ""
    assert wait_for(lambda: (out / "ran").exists())
    assert wait_for(lambda: lamina.state(b.id)["status"] == "stopped")
    assert stdout.read_text() == "hi\n"
    assert stderr.read_text() == "err\n"
    assert lamina("delete", b.id).returncode == 0


def test_start_makes_it_running(lamina, bundle):
    b = bundle(["sleep", "100"])
    assert lamina.create(b).returncode == 0
    pid = lamina.state(b.id)["pid"]
    assert lamina("start", b.id).returncode == 0
    st = lamina.state(b.id)
    assert st["status"] == "running" and st["pid"] == pid
    assert wait_for(lambda: open(f"/proc/{pid}/cmdline", "rb").read() == b"sleep\x00100\x00")
    assert not os.path.exists(os.path.join(lamina.root, b.id, "exec.fifo"))


def test_pid_file_holds_the_init(lamina, bundle, tmp_path):
    b = bundle(["sleep", "100"])
    pidf = tmp_path / "sub" / "init.pid"
    pidf.parent.mkdir()
    assert lamina.create(b, "--pid-file", str(pidf)).returncode == 0
    text = pidf.read_text()
    assert text.isdigit() and not text.endswith("\n")
    pid = int(text)
    assert pid == lamina.state(b.id)["pid"]
    # that pid is PID 1 of the container's PID namespace
    with open(f"/proc/{pid}/status") as f:
        nspid = next(line for line in f if line.startswith("NSpid:")).split()[1:]
    assert nspid == [str(pid), "1"]
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert sorted(os.listdir(pidf.parent)) == ["init.pid"]  # no temporary left beside it
    # a relative --pid-file is relative to the caller's cwd
    b2 = bundle(["sleep", "100"])
    p = lamina.create(b2, "--pid-file", "rel.pid", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "rel.pid").read_text() == str(lamina.state(b2.id)["pid"])


def test_start_twice_and_start_after_stop(lamina, bundle):
    b = bundle(["sleep", "100"])
    assert lamina.create(b).returncode == 0
    assert lamina("start", b.id).returncode == 0
    p = lamina("start", b.id)
    assert p.returncode == 1 and p.stdout == ""
    assert f"cannot start an already running container: {b.id}" in p.stderr
    assert lamina.state(b.id)["status"] == "running"
    assert lamina("kill", b.id, "9").returncode == 0
    assert wait_for(lambda: lamina.state(b.id)["status"] == "stopped")
    p = lamina("start", b.id)
    assert p.returncode == 1 and "cannot start a container that has stopped" in p.stderr


@pytest.mark.parametrize("started", [False, True])
def test_status_comes_from_the_live_init(lamina, bundle, started):
    b = bundle(["sleep", "100"])
    assert lamina.create(b).returncode == 0
    if started:
        assert lamina("start", b.id).returncode == 0
    pid = lamina.state(b.id)["pid"]
    os.kill(pid, signal.SIGKILL)  # from outside, behind lamina's back
    assert wait_for(lambda: gone(pid))
    st = lamina.state(b.id)
    assert st["status"] == "stopped" and st["pid"] == 0
    p = lamina("kill", b.id, "TERM")
    assert p.returncode == 1 and "container not running" in p.stderr
    p = lamina("start", b.id)
    assert p.returncode == 1
    assert lamina("delete", b.id).returncode == 0  # no --force needed: it is stopped
    assert not os.path.exists(os.path.join(lamina.root, b.id))


def test_reused_pid_is_not_the_init(lamina, bundle):
    """A state file whose pid now names another process (pid reuse) is a stopped container."""
    import json

    b = bundle(["sleep", "100"])
    assert lamina.create(b).returncode == 0
    path = os.path.join(lamina.root, b.id, "state.json")
    with open(path) as f:
        st = json.load(f)
    other = subprocess.Popen(["sleep", "100"])
    try:
        real = st["pid"]
        st["pid"] = other.pid  # same shape, different start time
        with open(path, "w") as f:
            json.dump(st, f)
        assert lamina.state(b.id)["status"] == "stopped"
        assert lamina("kill", b.id, "KILL").returncode == 1
        assert other.poll() is None  # never signalled
        st["pid"] = real
        with open(path, "w") as f:
            json.dump(st, f)
        assert lamina.state(b.id)["status"] == "created"
    finally:
        other.kill()
        other.wait()


def test_created_container_has_no_user_process_yet(lamina, bundle):
    """What runs after create is lamina's init (waiting), not process.args."""
    b = bundle(["sleep", "100"])
    assert lamina.create(b).returncode == 0
    pid = lamina.state(b.id)["pid"]
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read() != b"sleep\x00100\x00"
    # the init waits in open(2) of the FIFO, nothing else is in the container
    with open(f"/proc/{pid}/wchan") as f:
        assert f.read() == "wait_for_partner"  # fifo_open(2) waiting for a reader


def test_full_cycle_leaves_nothing(lamina, bundle):
    import glob

    b = bundle(["sh", "-c", "exit 0"])
    assert lamina.create(b).returncode == 0
    assert glob.glob(f"/sys/fs/cgroup/*{b.cgroups_path}")
    assert lamina("start", b.id).returncode == 0
    assert wait_for(lambda: lamina.state(b.id)["status"] == "stopped")
    assert lamina("delete", b.id).returncode == 0
    assert not os.path.exists(os.path.join(lamina.root, b.id))
    assert glob.glob(f"/sys/fs/cgroup/*{b.cgroups_path}") == []
    p = lamina("delete", b.id)
    assert p.returncode == 1 and "does not exist" in p.stderr

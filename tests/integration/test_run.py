"""Foreground `run`: subreaper, signal forwarding, the process's exit code, delete unless --keep.

The container's processes report what they saw through a bind-mounted host directory (/out).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from lamina import testing
from lamina.testing import wait_for

# the kit's subreaper fixture: container inits are re-parented to the test, and reaped after it
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("subreaper")]


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _reap(lamina):
    yield
    for p in STARTED:  # a failed test must not leave a foreground lamina behind
        if p.poll() is None:
            p.kill()
            p.wait()
    STARTED.clear()
    testing.reap_orphans()  # only now: the killed foreground runs are waited for above


def with_out_dir(b, out_dir: str, pid_ns: bool = True):
    b.config["mounts"].append({"destination": "/out", "type": "bind", "source": out_dir,
                               "options": ["rbind", "rw"]})
    if not pid_ns:
        b.config["linux"]["namespaces"] = [n for n in b.config["linux"]["namespaces"] if n["type"] != "pid"]
    os.makedirs(os.path.join(b.rootfs, "out"), exist_ok=True)
    return b.write()


def read(path) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process whose parent is ``pid``."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append((int(d), fields[0]))
    return out


def popen_run(lamina, b, *extra: str, **kw) -> subprocess.Popen:
    lamina.ids.add(b.id)
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    p = subprocess.Popen(lamina.argv("run", "--bundle", b.path, *extra, b.id), env=lamina.env(), **kw)
    STARTED.append(p)
    return p


# ---------------------------------------------------------------------------------- exit codes


def test_exit_code_and_stdio_are_the_process_own(lamina, bundle):
    b = bundle(["sh", "-c", "echo out; echo err >&2; exit 3"])
    p = lamina.run(b)
    assert p.returncode == 3
    assert p.stdout == "out\n" and p.stderr == "err\n"  # lamina adds nothing
    assert not os.path.exists(os.path.join(lamina.root, b.id))  # deleted


def test_stdin_is_the_callers(lamina, bundle):
    b = bundle(["sh", "-c", "read x; echo got:$x"])
    p = lamina.run(b, input=b"hello\n")
    assert p.returncode == 0 and p.stdout == "got:hello\n"


def test_killed_by_sigkill_is_137(lamina, bundle):
    """Conformance 028, second part."""
    b = bundle(["sleep", "1000"])
    p = popen_run(lamina, b)
    assert wait_for(lambda: os.path.exists(os.path.join(lamina.root, b.id)) and
                    lamina.state(b.id)["status"] == "running")
    assert lamina("kill", b.id, "KILL").returncode == 0
    assert p.wait(20) == 137
    assert not os.path.exists(os.path.join(lamina.root, b.id))


def test_killed_by_sigterm_is_143(lamina, bundle, tmp_path):
    """Without a PID namespace `sleep` is not an init, so SIGTERM's default action kills it."""
    b = with_out_dir(bundle(["sh", "-c", "echo $$ > /out/ready; exec sleep 1000"]), str(tmp_path),
                     pid_ns=False)
    p = popen_run(lamina, b)
    assert wait_for(lambda: read(tmp_path / "ready"))
    time.sleep(0.2)  # the exec
    p.send_signal(signal.SIGTERM)  # to lamina: forwarded
    assert p.wait(20) == 143


def test_trap_exit_code_after_forwarded_sigterm(lamina, bundle, tmp_path):
    """Conformance 028, first part: 42 from the container's trap."""
    script = "trap 'exit 42' TERM; touch /out/ready; while :; do sleep 0.1; done"
    b = with_out_dir(bundle(["sh", "-c", script]), str(tmp_path))
    p = popen_run(lamina, b)
    assert wait_for(lambda: (tmp_path / "ready").exists())
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 42


# ---------------------------------------------------------------------------------- signals

FORWARDED = ["TERM", "USR1", "HUP", "INT", "QUIT", "USR2", "ALRM", "PIPE", "TSTP", "TTIN", "TTOU", "CONT",
             "BUS", "SYS", "XCPU", "VTALRM", "PROF", "37", "64"]  # real-time ones by number


def signum(name: str) -> int:
    return int(name) if name.isdigit() else getattr(signal, "SIG" + name)


@pytest.mark.parametrize("pid_ns", [True, False])
def test_every_catchable_signal_is_forwarded(lamina, bundle, tmp_path, pid_ns):
    traps = "; ".join(f'trap "echo {s} >> /out/got" {s}' for s in FORWARDED)
    b = with_out_dir(bundle(["sh", "-c", f"{traps}; touch /out/ready; while :; do sleep 0.05; done"]),
                     str(tmp_path), pid_ns=pid_ns)
    p = popen_run(lamina, b)
    assert wait_for(lambda: (tmp_path / "ready").exists())
    got = tmp_path / "got"
    for i, name in enumerate(FORWARDED):
        p.send_signal(signum(name))
        assert wait_for(lambda n=i + 1: len(read(got).split()) == n), (name, read(got))
    assert read(tmp_path / "got").split() == FORWARDED
    assert p.poll() is None  # lamina itself was not stopped or killed by any of them
    assert lamina.state(b.id)["status"] == "running"
    p.send_signal(signal.SIGTERM)
    assert wait_for(lambda: len(read(tmp_path / "got").split()) == len(FORWARDED) + 1)
    assert lamina("kill", b.id, "KILL").returncode == 0
    assert p.wait(20) == 137


def test_signals_sent_before_the_container_runs_are_not_lost(lamina, bundle, tmp_path):
    """A signal that reaches `run` while it is still creating is delivered once the process runs."""
    b = with_out_dir(bundle(["sleep", "1000"]), str(tmp_path), pid_ns=False)
    # a createRuntime hook that waits holds `run` inside create; the signal lands there
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"touch {tmp_path}/hook; sleep 1"]}
    b.config["hooks"] = {"createRuntime": [hook]}
    b.write()
    p = popen_run(lamina, b)
    assert wait_for(lambda: (tmp_path / "hook").exists())
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 143


# ---------------------------------------------------------------------------------- subreaper


def test_run_is_a_subreaper_and_reaps_orphans(lamina, bundle, tmp_path):
    """Without a PID namespace the container's orphans are re-parented to the nearest subreaper:
    the foreground lamina, which must reap them (no zombies left under it)."""
    script = ("(sh -c 'sleep 0.3; cut -d\" \" -f4 /proc/self/stat > /out/ppid.$$' &); "
              "(sleep 0.2 &); (sleep 0.25 &); sleep 1.5; echo done")
    b = with_out_dir(bundle(["sh", "-c", script]), str(tmp_path), pid_ns=False)
    p = popen_run(lamina, b)
    assert wait_for(lambda: [f for f in os.listdir(tmp_path) if f.startswith("ppid.")])
    time.sleep(0.3)  # every orphan has exited by now
    ppid_file = next(f for f in os.listdir(tmp_path) if f.startswith("ppid."))
    assert int(read(tmp_path / ppid_file)) == p.pid  # re-parented to lamina run
    kids = children_of(p.pid)
    assert [k for k in kids if k[1] == "Z"] == [], kids
    assert len(kids) == 1, kids  # only the container's init is left
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 0 and out == b"done\n"


# ---------------------------------------------------------------------------------- other verbs meanwhile


def test_foreground_container_can_be_paused_and_deleted_meanwhile(lamina, bundle):
    """`run` holds no lock while the container runs: other verbs do not wait for its exit."""
    b = bundle(["sleep", "1000"])
    p = popen_run(lamina, b)
    assert wait_for(lambda: os.path.exists(os.path.join(lamina.root, b.id, "state.json")) and
                    lamina.state(b.id)["status"] == "running")
    assert lamina("pause", b.id, timeout=10).returncode == 0
    assert lamina.state(b.id)["status"] == "paused"
    assert lamina("resume", b.id, timeout=10).returncode == 0
    assert lamina.state(b.id)["status"] == "running"
    t0 = time.monotonic()
    d = lamina("delete", "--force", b.id, timeout=10)
    assert d.returncode == 0, d.stderr
    assert time.monotonic() - t0 < 5
    assert p.wait(20) == 137
    assert not os.path.exists(os.path.join(lamina.root, b.id))
    assert p.stderr.read() == b""  # run found it deleted already and said nothing


# ---------------------------------------------------------------------------------- --keep, --detach


def test_keep_leaves_a_stopped_container(lamina, bundle):
    b = bundle(["sh", "-c", "exit 7"])
    p = lamina.run(b, "--keep")
    assert p.returncode == 7
    st = lamina.state(b.id)
    assert st["status"] == "stopped" and st["pid"] == 0
    assert lamina("delete", b.id).returncode == 0
    assert lamina("state", b.id).returncode == 1


def test_without_keep_the_container_is_deleted(lamina, bundle):
    import glob

    b = bundle(["true"])
    assert lamina.run(b).returncode == 0
    assert not os.path.exists(os.path.join(lamina.root, b.id))
    assert glob.glob(f"/sys/fs/cgroup/*{b.cgroups_path}") == []


def test_detach_returns_at_once_with_the_container_running(lamina, bundle, tmp_path):
    b = bundle(["sleep", "1000"])
    t0 = time.monotonic()
    p = lamina.run(b, "--detach", "--pid-file", str(tmp_path / "pid"))
    elapsed = time.monotonic() - t0
    assert p.returncode == 0 and p.stdout == "" and p.stderr == ""
    assert elapsed < 5
    st = lamina.state(b.id)
    assert st["status"] == "running"
    assert int((tmp_path / "pid").read_text()) == st["pid"]
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        assert f.read() == b"sleep\x001000\x00"
    assert lamina("delete", "--force", b.id).returncode == 0


def test_detach_with_exit_keeps_the_container(lamina, bundle):
    b = bundle(["sh", "-c", "exit 9"])
    assert lamina.run(b, "-d").returncode == 0  # the process's code is not run's business here
    assert wait_for(lambda: lamina.state(b.id)["status"] == "stopped")
    assert lamina("delete", b.id).returncode == 0


def test_run_with_a_failing_exec_leaves_nothing(lamina, bundle):
    b = bundle(["/no/such/binary"])
    p = lamina.run(b)
    assert p.returncode != 0
    assert "no such file or directory" in p.stderr.lower() or "not found" in p.stderr.lower(), p.stderr
    assert "Traceback" not in p.stderr
    assert not os.path.exists(os.path.join(lamina.root, b.id))

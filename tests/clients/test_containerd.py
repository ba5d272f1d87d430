"""containerd 1.6 (ctr, containerd-shim-runc-v2) with lamina as the runc binary, also with runc.

The shim calls the runtime with `--root R --log DIR/log.json --log-format json` and reads the
last error line of that log when a call fails; it reaps the processes itself as a subreaper and
learns their pids from `--pid-file`.
"""

from __future__ import annotations

import json
import time

import pytest
from clientkit import IMAGE, new_name

pytestmark = [pytest.mark.integration, pytest.mark.clients]


class Ctr:
    """ctr for one test and one runtime binary; its containers are removed after the test."""

    def __init__(self, cd, clients, runtime: str) -> None:
        self.cd = cd
        self.runtime = runtime
        self.binary = clients.wrapper("containerd", runtime)
        self.cgroup_parent = f"{clients.cgroup_parent}/containerd"
        self.ids: list[str] = []

    def __call__(self, *args: str, **kw):
        return self.cd.ctr(*args, **kw)

    def run(self, *args: str, detach: bool = False, **kw):
        """`ctr run [--rm|-d] ... IMAGE ID CMD...` with our runtime binary; returns (id, result)."""
        cid = new_name()
        self.ids.append(cid)
        opts = ["-d"] if detach else ["--rm"]
        p = self("run", *opts, "--runc-binary", self.binary,
                 "--runc-root", f"{self.cd.runc_root}-{self.runtime}", "--fifo-dir", self.cd.fifo_dir,
                 "--cgroup", f"{self.cgroup_parent}/{cid}", IMAGE, cid, *args, **kw)
        return cid, p

    def status(self, cid: str) -> str:
        for line in self("tasks", "ls").stdout.splitlines()[1:]:
            f = line.split()
            if f and f[0] == cid:
                return f[-1]
        return ""

    def cleanup(self) -> None:
        for cid in self.ids:
            if self.status(cid):
                self("tasks", "kill", "--signal", "SIGKILL", cid)
                for _ in range(50):
                    if self("tasks", "delete", cid).returncode == 0 or not self.status(cid):
                        break
                    time.sleep(0.1)
            self("containers", "delete", cid)


@pytest.fixture
def ctr(containerd_session, clients, runtime):
    c = Ctr(containerd_session, clients, runtime)
    yield c
    c.cleanup()


def ok(p) -> str:
    assert p.returncode == 0, f"exit {p.returncode}: {p.stderr}"
    return p.stdout


def wait_status(ctr: Ctr, cid: str, want: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while (s := ctr.status(cid)) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return s


def test_run_rm_echo(ctr):
    _, p = ctr.run("echo", "hello")
    assert ok(p) == "hello\n"


def test_exit_code_propagates(ctr):
    _, p = ctr.run("sh", "-c", "exit 3")
    assert p.returncode == 3, p.stderr


def test_task_exec(ctr):
    cid, p = ctr.run("sleep", "300", detach=True)
    ok(p)
    assert wait_status(ctr, cid, "RUNNING") == "RUNNING"
    p = ctr("tasks", "exec", "--exec-id", "e1", "--fifo-dir", ctr.cd.fifo_dir, cid, "sh", "-c",
            "echo in-exec $(cat /proc/1/cmdline | tr '\\0' ' '); exit 4")
    assert p.returncode == 4, p.stderr
    assert p.stdout == "in-exec sleep 300\n"
    p = ctr("tasks", "exec", "--exec-id", "e2", "--cwd", "/tmp", "--fifo-dir", ctr.cd.fifo_dir, cid, "pwd")
    assert ok(p) == "/tmp\n"


def test_kill(ctr):
    cid, p = ctr.run("sleep", "300", detach=True)
    ok(p)
    assert wait_status(ctr, cid, "RUNNING") == "RUNNING"
    ok(ctr("tasks", "kill", "--signal", "SIGKILL", cid))
    assert wait_status(ctr, cid, "STOPPED") == "STOPPED"
    ok(ctr("tasks", "delete", cid))


def test_pause_and_resume(ctr):
    cid, p = ctr.run("sh", "-c", "while true; do sleep 0.05; done", detach=True)
    ok(p)
    assert wait_status(ctr, cid, "RUNNING") == "RUNNING"
    ok(ctr("tasks", "pause", cid))
    assert wait_status(ctr, cid, "PAUSED") == "PAUSED"
    ok(ctr("tasks", "resume", cid))
    assert wait_status(ctr, cid, "RUNNING") == "RUNNING"


def test_metrics(ctr):
    cid, p = ctr.run("sh", "-c", "sleep 300 & sleep 300", detach=True)
    ok(p)
    assert wait_status(ctr, cid, "RUNNING") == "RUNNING"
    m = json.loads(ok(ctr("tasks", "metrics", "--format", "json", cid)))
    assert m["pids"]["current"] >= 2, m  # the shell and its sleeps (cgroup v1 metrics)
    assert m["memory"]["usage"]["usage"] > 0, m
    assert m["cpu"]["usage"]["total"] > 0, m


def test_failing_run_shows_the_runtime_message(ctr):
    _, p = ctr.run("/no/such/binary")
    assert p.returncode != 0
    # the shim took the last error line of the runtime's JSON log
    assert 'exec: "/no/such/binary"' in p.stderr and "no such file or directory" in p.stderr, p.stderr

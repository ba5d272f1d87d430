"""dockerd 20.10 (on our containerd) with lamina added as a runtime (`--add-runtime`), also with runc.

dockerd hands the runtime's path to containerd's runc shim as its BinaryName; the calls are the
shim's (see test_containerd). Debian's docker client is used: it speaks this daemon's API.
"""

from __future__ import annotations

import time

import pytest
from clientkit import IMAGE, new_name

pytestmark = [pytest.mark.integration, pytest.mark.clients]

DOCKER_RUNTIME = {"lamina": "lamina", "runc": "runc-logged"}


class Dk:
    def __init__(self, dk, runtime: str) -> None:
        self.dk = dk
        self.runtime = runtime
        self.names: list[str] = []

    def __call__(self, *args: str, **kw):
        return self.dk(*args, **kw)

    def run(self, *args: str, **kw):
        name = new_name()
        self.names.append(name)
        return self("run", "--runtime", DOCKER_RUNTIME[self.runtime], "--name", name, "--network", "none",
                    *args, **kw), name

    def cleanup(self) -> None:
        gone = self("ps", "--all", "--quiet", "--no-trunc", *[f"--filter=name={n}" for n in self.names])
        ids = gone.stdout.split()
        if ids:
            self("rm", "--force", *ids)


@pytest.fixture
def docker(docker_session, runtime):
    d = Dk(docker_session, runtime)
    yield d
    d.cleanup()


def ok(p) -> str:
    assert p.returncode == 0, f"exit {p.returncode}: {p.stderr}"
    return p.stdout


def test_run_rm_echo(docker):
    p, _ = docker.run("--rm", IMAGE, "echo", "hello")
    assert ok(p) == "hello\n"


def test_exit_code_propagates(docker):
    p, _ = docker.run("--rm", IMAGE, "sh", "-c", "exit 3")
    assert p.returncode == 3, p.stderr


def test_detached_exec_and_stop(docker):
    p, name = docker.run("-d", IMAGE, "sh", "-c",
                         'trap "echo got-term; exit 0" TERM; while true; do sleep 0.1; done')
    ok(p)
    assert ok(docker("exec", name, "sh", "-c", "echo in-exec")) == "in-exec\n"
    assert docker("exec", name, "sh", "-c", "exit 4").returncode == 4
    out = ok(docker("exec", "-u", "1000", "-w", "/tmp", name, "sh", "-c", 'echo "$(id -u) $(pwd)"'))
    assert out == "1000 /tmp\n"
    t0 = time.monotonic()
    ok(docker("stop", "--time", "20", name))
    assert time.monotonic() - t0 < 10, "SIGTERM did not stop the container: docker had to kill it"
    assert ok(docker("inspect", "--format", "{{.State.ExitCode}}", name)).strip() == "0"
    assert "got-term" in ok(docker("logs", name))


def test_failing_run_shows_the_runtime_message(docker):
    p, _ = docker.run("--rm", IMAGE, "/no/such/binary")
    assert p.returncode == 127, p.stderr
    assert 'exec: "/no/such/binary"' in p.stderr and "no such file or directory" in p.stderr, p.stderr

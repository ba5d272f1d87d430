"""The cgroup v2 device program in the kernel: built from rules, loaded with bpf(2), attached to
a real cgroup2 directory (the hybrid host's /sys/fs/cgroup/unified, or the unified root in the
test VM), and enforced on a process moved into it. No container: the program alone."""

from __future__ import annotations

import os
import uuid

import pytest
from cgroupfiles import HostCgroups
from lamina import syscalls, testing
from lamina.plugins.cgroups import bpf_devices
from lamina.plugins.cgroups.devices import DEFAULT_ALLOW, DENY_ALL, Rule

pytestmark = [pytest.mark.integration, pytest.mark.cgroups]

CG = HostCgroups()
TRIES = (
    ("/dev/null", os.O_RDWR),
    ("/dev/zero", os.O_RDONLY),
    ("/dev/zero", os.O_WRONLY),
    ("/dev/full", os.O_RDONLY),
)


@pytest.fixture
def cgroup2_dir():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if CG.v2 is None:
        pytest.skip("no cgroup2 mount on this host")
    d = os.path.join(CG.v2, testing.CGROUP_PARENT, f"bpf-{uuid.uuid4().hex[:8]}")
    os.makedirs(d)
    yield d
    for path in (d, os.path.dirname(d)):
        try:
            os.rmdir(path)
        except OSError:
            pass


def opens_in(cgroup: str) -> list[str]:
    """Fork a child, move it into ``cgroup``, and report which of TRIES it could open."""
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.close(go_w)
            os.read(go_r, 1)
            out = []
            for path, mode in TRIES:
                try:
                    os.close(os.open(path, mode))
                    out.append("ok")
                except OSError as e:
                    out.append(os.strerror(e.errno))
            os.write(w, "|".join(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.close(go_r)
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write(str(pid))
    os.write(go_w, b"x")
    os.close(go_w)
    data = os.read(r, 4096).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return data.split("|")


@pytest.mark.cgroupv2
def test_program_is_enforced_then_detached(cgroup2_dir):
    rules = [DENY_ALL, Rule(True, "c", 1, 3, "rwm"), Rule(True, "c", 1, 5, "r")]
    prog_id = bpf_devices.attach(cgroup2_dir, rules)
    fd = os.open(cgroup2_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert prog_id in syscalls.bpf_prog_query(fd, syscalls.BPF_CGROUP_DEVICE)
    finally:
        os.close(fd)
    denied = os.strerror(1)  # EPERM
    assert opens_in(cgroup2_dir) == ["ok", "ok", denied, denied]
    bpf_devices.detach(cgroup2_dir, prog_id)
    assert opens_in(cgroup2_dir) == ["ok", "ok", "ok", "ok"]
    bpf_devices.detach(cgroup2_dir, prog_id)  # already gone: nothing to do


@pytest.mark.cgroupv2
def test_default_devices_program(cgroup2_dir):
    """What every container gets when the config says nothing: the defaults are usable."""
    prog_id = bpf_devices.attach(cgroup2_dir, [DENY_ALL, *DEFAULT_ALLOW])
    assert opens_in(cgroup2_dir) == ["ok", "ok", "ok", "ok"]
    bpf_devices.detach(cgroup2_dir, prog_id)

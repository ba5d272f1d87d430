"""The namespaces plugin with real containers: each namespace type made new (pid, mount, uts,
ipc, network, cgroup, time) and joined by path (a named netns, another container's namespaces).

The user namespace has its own file, test_userns.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid

import pytest
from lamina import testing
from lamina.testing import ran
from lamina.testing import refused as failed

pytestmark = pytest.mark.integration


def sh(bundle, script: str) -> testing.Bundle:
    return bundle(["sh", "-c", script])


def host_ns(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


def add_ns(b: testing.Bundle, kind: str, **fields) -> None:
    nss = b.config["linux"]["namespaces"]
    nss[:] = [ns for ns in nss if ns["type"] != kind] + [{"type": kind, **fields}]


def without(b: testing.Bundle, kind: str) -> None:
    b.config["linux"]["namespaces"] = [ns for ns in b.config["linux"]["namespaces"] if ns["type"] != kind]


def ns_line(out: str, kind: str) -> str:
    m = re.search(rf"^{kind}:\[\d+\]$", out, re.M)
    assert m, out
    return m.group(0)


# ------------------------------------------------------------------ new namespaces


def test_pid_namespace_init_is_pid_1_and_host_pids_are_invisible(lamina, bundle):
    me = os.getpid()
    out = ran(lamina, sh(bundle, f"echo $$; ls /proc | grep -c '^[0-9]';"
                                 f" test -e /proc/{me} && echo host-visible; readlink /proc/self/ns/pid"))
    lines = out.split()
    assert lines[0] == "1"
    # the shell, ls and grep: nothing of the host's hundreds of processes
    assert int(lines[1]) <= 3, out
    assert "host-visible" not in out
    assert ns_line(out, "pid") != host_ns("pid")


def test_mount_namespace_is_private(lamina, bundle):
    before = testing.mount_table()
    out = ran(lamina, sh(bundle, "readlink /proc/self/ns/mnt; cut -d' ' -f5 /proc/self/mountinfo"))
    assert ns_line(out, "mnt") != host_ns("mnt")
    assert {"/", "/proc", "/dev", "/dev/pts", "/sys"} <= set(out.split())
    # all the container's mounts were made in its own namespace: the host's table is untouched
    assert testing.mount_table() == before


def test_uts_namespace_hostname_and_domainname(lamina, bundle):
    b = sh(bundle, "hostname; cat /proc/sys/kernel/domainname; readlink /proc/self/ns/uts")
    b.config["hostname"] = "box-" + b.id[-6:]
    b.config["domainname"] = "dom.example"
    host_name = os.uname().nodename
    out = ran(lamina, b).split()
    assert out[:2] == [b.config["hostname"], "dom.example"]
    assert out[2] != host_ns("uts")
    assert os.uname().nodename == host_name


def test_hostname_needs_a_uts_namespace(lamina, bundle):
    b = sh(bundle, "true")
    without(b, "uts")
    b.config["hostname"] = "nope"
    assert "hostname: setting it needs a \"uts\" namespace" in failed(lamina, b)


@pytest.fixture
def host_shm():
    """A SysV shared memory segment on the host, removed afterwards."""
    p = subprocess.run(["ipcmk", "-M", "4096"], capture_output=True, text=True, check=True)
    shmid = p.stdout.split()[-1]
    yield shmid
    subprocess.run(["ipcrm", "-m", shmid], capture_output=True)


def test_ipc_namespace_has_its_own_sysv_objects(lamina, bundle, host_shm):
    with open("/proc/sysvipc/shm") as f:
        assert any(line.split()[1] == host_shm for line in f.readlines()[1:])
    out = ran(lamina, sh(bundle, "readlink /proc/self/ns/ipc; tail -n +2 /proc/sysvipc/shm | wc -l"))
    assert ns_line(out, "ipc") != host_ns("ipc")
    assert out.split()[-1] == "0"  # the host's segment is not there


def test_network_namespace_has_only_lo_and_lo_is_up(lamina, bundle):
    out = ran(lamina, sh(bundle, "readlink /proc/self/ns/net; ls /sys/class/net; cat /sys/class/net/lo/flags;"
                                 " ip -o link"))
    lines = out.splitlines()
    assert lines[0] != host_ns("net")
    assert lines[1] == "lo"  # nothing else in /sys/class/net
    assert int(lines[2], 16) & 0x1, "IFF_UP is not set on lo"
    links = lines[3:]
    assert len(links) == 1 and re.search(r"^1: lo: <[^>]*\bUP\b", links[0]), links


def test_loopback_carries_traffic(lamina, bundle):
    out = ran(lamina, sh(bundle, "nc -l -p 5000 > /tmp/got & sleep 0.3; echo ping | nc -w 1 127.0.0.1 5000;"
                                 " wait; cat /tmp/got"))
    assert out == "ping\n"


def test_without_a_network_namespace_the_host_interfaces_show(lamina, bundle):
    # the contrast that makes the test above meaningful
    b = sh(bundle, "readlink /proc/self/ns/net")
    without(b, "network")
    assert ran(lamina, b).strip() == host_ns("net")


def test_cgroup_namespace_shows_root_paths(lamina, bundle):
    b = sh(bundle, "cat /proc/self/cgroup")
    add_ns(b, "cgroup")
    lines = ran(lamina, b).split()
    assert lines and all(line.rsplit(":", 1)[1] == "/" for line in lines), lines


def test_without_a_cgroup_namespace_the_full_path_shows(lamina, bundle):
    b = sh(bundle, "cat /proc/self/cgroup")
    lines = ran(lamina, b).split()
    assert any(line.endswith(b.cgroups_path) for line in lines), (b.cgroups_path, lines)


def test_time_namespace_offsets(lamina, bundle):
    week, days3 = 7 * 86400, 3 * 86400
    b = sh(bundle, "cat /proc/self/timens_offsets; cut -d' ' -f1 /proc/uptime")
    add_ns(b, "time")
    b.config["linux"]["timeOffsets"] = {"monotonic": {"secs": days3, "nanosecs": 0},
                                        "boottime": {"secs": week, "nanosecs": 500}}
    with open("/proc/uptime") as f:
        host_up = float(f.read().split()[0])
    out = ran(lamina, b).splitlines()
    assert re.split(r"\s+", out[0].strip()) == ["monotonic", str(days3), "0"]
    assert re.split(r"\s+", out[1].strip()) == ["boottime", str(week), "500"]
    # /proc/uptime is boot time: shifted by the boottime offset
    assert week <= float(out[2]) - host_up < week + 30


def test_time_offsets_need_a_time_namespace(lamina, bundle):
    b = sh(bundle, "true")
    b.config["linux"]["timeOffsets"] = {"monotonic": {"secs": 10}}
    assert "linux.timeOffsets: needs a \"time\" namespace" in failed(lamina, b)


def test_unknown_clock_in_time_offsets_is_refused(lamina, bundle):
    b = sh(bundle, "true")
    add_ns(b, "time")
    b.config["linux"]["timeOffsets"] = {"realtime": {"secs": 10}}
    assert "linux.timeOffsets.realtime: unknown clock" in failed(lamina, b)


# ------------------------------------------------------------------ joining by path


@pytest.fixture
def netns():
    """A named network namespace (`ip netns add`) with an address on its lo; deleted afterwards."""
    name = f"lt-{uuid.uuid4().hex[:10]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "addr", "add", "10.99.77.1/32", "dev", "lo"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_join_a_named_network_namespace(lamina, bundle, netns):
    path = f"/run/netns/{netns}"
    b = sh(bundle, "readlink /proc/self/ns/net; ip -o addr show dev lo")
    add_ns(b, "network", path=path)
    out = ran(lamina, b)
    assert out.split()[0] == f"net:[{os.stat(path).st_ino}]"
    assert "inet 10.99.77.1/32" in out


def test_sysctl_in_a_joined_network_namespace(lamina, bundle, netns):
    # a prepared namespace (as podman's for the network) may be tuned; the host's own may not
    b = sh(bundle, "cat /proc/sys/net/ipv4/ip_forward")
    add_ns(b, "network", path=f"/run/netns/{netns}")
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    assert ran(lamina, b) == "1\n"
    p = subprocess.run(["ip", "netns", "exec", netns, "cat", "/proc/sys/net/ipv4/ip_forward"],
                       capture_output=True, text=True, check=True)
    assert p.stdout == "1\n"


def test_sysctl_in_the_hosts_own_network_namespace_is_refused(lamina, bundle):
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        before = f.read()
    b = sh(bundle, "true")
    add_ns(b, "network", path=f"/proc/{os.getpid()}/ns/net")
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "0" if before == "1\n" else "1"}
    assert "needs a \"network\" namespace of the container's own" in failed(lamina, b)
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read() == before


def test_join_another_containers_network_and_uts(lamina, bundle, subreaper):
    a = bundle(["sleep", "60"])
    a.config["hostname"] = "alpha-" + a.id[-6:]
    assert lamina.create(a.write()).returncode == 0
    pid = lamina.state(a.id)["pid"]
    b = sh(bundle, "hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/uts")
    del b.config["hostname"]  # the joined namespace's own name stays
    add_ns(b, "network", path=f"/proc/{pid}/ns/net")
    add_ns(b, "uts", path=f"/proc/{pid}/ns/uts")
    out = ran(lamina, b).split()
    assert out == [a.config["hostname"], os.readlink(f"/proc/{pid}/ns/net"),
                   os.readlink(f"/proc/{pid}/ns/uts")]


def test_join_path_must_be_absolute(lamina, bundle):
    b = sh(bundle, "true")
    add_ns(b, "network", path="run/netns/x")
    assert "linux.namespaces[4].path: must be an absolute path" in failed(lamina, b)


def test_join_path_must_exist(lamina, bundle):
    b = sh(bundle, "true")
    add_ns(b, "network", path="/run/netns/lt-no-such-namespace")
    assert "linux.namespaces[4].path: /run/netns/lt-no-such-namespace: no such file" in failed(lamina, b)


def test_join_path_of_the_wrong_kind_is_refused(lamina, bundle):
    b = sh(bundle, "true")
    add_ns(b, "network", path="/proc/self/ns/uts")
    msg = failed(lamina, b)
    assert "cannot join network namespace /proc/self/ns/uts: invalid argument" in msg


def test_join_path_that_is_not_a_namespace_is_refused(lamina, bundle):
    b = sh(bundle, "true")
    add_ns(b, "ipc", path="/etc/hostname")
    assert "cannot join ipc namespace /etc/hostname: invalid argument" in failed(lamina, b)


def test_unknown_and_duplicate_namespaces_are_refused(lamina, bundle):
    b = sh(bundle, "true")
    b.config["linux"]["namespaces"] += [{"type": "pid"}, {"type": "bogus"}]
    p = lamina.run(b.write())
    assert p.returncode == 1
    assert "linux.namespaces[5].type: namespace 'pid' is listed twice" in p.stderr
    assert "linux.namespaces[6].type: unknown namespace type 'bogus'" in p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []

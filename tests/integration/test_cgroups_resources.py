"""linux.resources, each section read back from the cgroup files of a real container.

Every test runs on whatever layout the host has and asserts that layout's files: v1
(memory.limit_in_bytes, cpu.shares, blkio.*) or v2 (memory.max, cpu.weight, io.*). On this
project's machines (hybrid) that is v1; the cgroup v2 test VM (tests/vm) runs the same tests
on a unified hierarchy with every controller. What a layout cannot apply must be refused with
a clear error naming the field, and leave nothing behind.
"""

from __future__ import annotations

import math
import os

import pytest
from cgroupfiles import HostCgroups, block_device
from lamina import testing
from lamina.testing import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.cgroups]

MiB = 1 << 20
CG = HostCgroups()


@pytest.fixture(autouse=True)
def _reaper(subreaper):
    yield


def make(bundle, resources: dict, args=("sleep", "300")):
    b = bundle(list(args))
    b.config["linux"]["resources"] = resources
    return b.write()


def started(lamina, bundle, resources: dict, args=("sleep", "300")):
    b = make(bundle, resources, args)
    p = lamina.run(b, "-d")
    assert p.returncode == 0, p.stderr
    return b


def refused(lamina, b, *words: str) -> str:
    """create must fail with one clear line containing ``words``, and leave nothing behind."""
    p = lamina.create(b)
    assert p.returncode != 0, f"created although it should be refused: {b.config['linux']['resources']}"
    err = p.stderr.strip()
    assert "Traceback" not in err and err.count("\n") == 0, err
    for w in words:
        assert w.lower() in err.lower(), (w, err)
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    return err


def v(controller: str) -> int:
    version = CG.version(controller)
    if version is None:
        pytest.skip(f"this host has no {controller} controller")
    return version


# ---------------------------------------------------------------- memory


@pytest.mark.cgroupv2
def test_memory_limit_reservation_swap(lamina, bundle):
    ver = v("memory")
    b = make(bundle, {"memory": {"limit": 64 * MiB, "reservation": 32 * MiB, "swap": 96 * MiB}})
    p = lamina.run(b, "-d")
    if p.returncode != 0 and "swap" in p.stderr and "does not exist" in p.stderr:
        pytest.skip(f"no swap accounting here: {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr
    cg = b.cgroups_path
    if ver == 1:
        assert CG.read("memory", cg, "memory.limit_in_bytes") == str(64 * MiB)
        assert CG.read("memory", cg, "memory.soft_limit_in_bytes") == str(32 * MiB)
        assert CG.read("memory", cg, "memory.memsw.limit_in_bytes") == str(96 * MiB)
    else:
        assert CG.read("memory", cg, "memory.max") == str(64 * MiB)
        assert CG.read("memory", cg, "memory.low") == str(32 * MiB)
        # the spec's swap is memory+swap; v2 limits swap alone
        assert CG.read("memory", cg, "memory.swap.max") == str(32 * MiB)


@pytest.mark.cgroupv2
def test_case_038_swap_equal_then_below_limit(lamina, bundle):
    ver = v("memory")
    b = make(bundle, {"memory": {"limit": 64 * MiB, "swap": 64 * MiB}})
    p = lamina.run(b, "-d")
    if p.returncode != 0 and "swap" in p.stderr and "does not exist" in p.stderr:
        pytest.skip(f"no swap accounting here: {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr
    if ver == 1:
        assert CG.read("memory", b.cgroups_path, "memory.limit_in_bytes") == str(64 * MiB)
        assert CG.read("memory", b.cgroups_path, "memory.memsw.limit_in_bytes") == str(64 * MiB)
    else:
        assert CG.read("memory", b.cgroups_path, "memory.max") == str(64 * MiB)
        assert CG.read("memory", b.cgroups_path, "memory.swap.max") == "0"  # not "max"
    b2 = make(bundle, {"memory": {"limit": 64 * MiB, "swap": 32 * MiB}})
    err = refused(lamina, b2, "linux.resources.memory.swap", "below")
    assert "33554432" in err


@pytest.mark.cgroupv2
def test_memory_v1_only_fields(lamina, bundle):
    mem = {"swappiness": 10, "disableOOMKiller": True, "useHierarchy": True}
    if v("memory") == 1:
        b = started(lamina, bundle, {"memory": mem})
        assert CG.read("memory", b.cgroups_path, "memory.swappiness") == "10"
        assert "oom_kill_disable 1" in CG.read("memory", b.cgroups_path, "memory.oom_control")
        assert CG.read("memory", b.cgroups_path, "memory.use_hierarchy") == "1"
    else:
        err = refused(
            lamina,
            make(bundle, {"memory": mem}),
            "linux.resources.memory.swappiness",
            "linux.resources.memory.disableOOMKiller",
            "cgroup v2",
        )
        assert "useHierarchy" not in err  # true is what v2 always does
        refused(lamina, make(bundle, {"memory": {"useHierarchy": False}}), "useHierarchy", "hierarchical")


HOG = [
    "sh",
    "-c",
    # the shell holds a 24 MB string (about 23 MiB of anonymous memory, which cannot be reclaimed)
    'x=$(head -c 24000000 /dev/zero | tr "\\0" a); echo held > /dev/null; sleep 300; echo ${#x}',
]


def _usage(b) -> int:
    name = "memory.usage_in_bytes" if v("memory") == 1 else "memory.current"
    return int(CG.read("memory", b.cgroups_path, name))


@pytest.mark.cgroupv2
def test_memory_limit_below_current_usage(lamina, bundle, tmp_path):
    b = started(lamina, bundle, {"memory": {"limit": 256 * MiB}}, HOG)
    assert wait_for(lambda: _usage(b) > 20 * MiB, timeout=30), _usage(b)
    limit_file = "memory.limit_in_bytes" if v("memory") == 1 else "memory.max"
    # checkBeforeUpdate: refused on both versions, before anything is written
    res = tmp_path / "r.json"
    res.write_text('{"memory": {"limit": 8388608, "checkBeforeUpdate": true}}')
    p = lamina("update", "--resources", str(res), b.id)
    assert p.returncode == 1 and "below the container's current memory usage" in p.stderr, p.stderr
    assert "linux.resources.memory.limit" in p.stderr
    assert CG.read("memory", b.cgroups_path, limit_file) == str(256 * MiB)
    p = lamina("update", "--memory", "8m", b.id)
    if v("memory") == 1:
        # v1 reclaims first and refuses (EBUSY) what it cannot reclaim (no swap for anonymous memory)
        assert p.returncode == 1, p.stderr
        assert "linux.resources.memory.limit" in p.stderr and "busy" in p.stderr, p.stderr
        assert CG.read("memory", b.cgroups_path, limit_file) == str(256 * MiB)
        assert lamina.state(b.id)["status"] == "running"
    else:
        # v2 takes the limit and the kernel reclaims or OOM-kills (as with runc)
        assert p.returncode == 0, p.stderr
        assert CG.read("memory", b.cgroups_path, limit_file) == str(8 * MiB)
        assert wait_for(lambda: _usage(b) <= 8 * MiB, timeout=30)


# ---------------------------------------------------------------- cpu


@pytest.mark.cgroupv2
def test_cpu_shares_quota_period_burst_cpuset(lamina, bundle):
    ver = v("cpu")
    v("cpuset")
    cpu = {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000, "cpus": "0", "mems": "0"}
    b = started(lamina, bundle, {"cpu": cpu})
    cg = b.cgroups_path
    if ver == 1:
        assert CG.read("cpu", cg, "cpu.shares") == "512"
        assert CG.read("cpu", cg, "cpu.cfs_quota_us") == "50000"
        assert CG.read("cpu", cg, "cpu.cfs_period_us") == "100000"
        assert CG.read("cpu", cg, "cpu.cfs_burst_us") == "10000"
    else:
        # weight = ceil(10^((L^2 + 125 L)/612 - 7/34)), L = log2(512) = 9
        assert (
            CG.read("cpu", cg, "cpu.weight") == str(math.ceil(10 ** ((81 + 125 * 9) / 612 - 7 / 34))) == "59"
        )
        assert CG.read("cpu", cg, "cpu.max") == "50000 100000"
        assert CG.read("cpu", cg, "cpu.max.burst") == "10000"
    assert CG.read("cpuset", cg, "cpuset.cpus") == "0"
    assert CG.read("cpuset", cg, "cpuset.mems") == "0"


@pytest.mark.cgroupv2
def test_cpu_idle(lamina, bundle):
    v("cpu")
    b = started(lamina, bundle, {"cpu": {"idle": 1}})
    assert CG.read("cpu", b.cgroups_path, "cpu.idle") == "1"


@pytest.mark.cgroupv2
def test_case_039_shares_1024(lamina, bundle):
    """On v2 the v1 default 1024 must become v2's default 100, read from inside the container
    (its own cgroup is its /sys/fs/cgroup). On v1 it stays cpu.shares 1024."""
    if v("cpu") == 1:
        b = started(lamina, bundle, {"cpu": {"shares": 1024}})
        assert CG.read("cpu", b.cgroups_path, "cpu.shares") == "1024"
        return
    b = make(bundle, {"cpu": {"shares": 1024}}, ["cat", "/sys/fs/cgroup/cpu.weight"])
    p = lamina.run(b)
    assert p.returncode == 0 and p.stdout.strip() == "100", (p.stdout, p.stderr)


@pytest.mark.cgroupv2
def test_cpu_realtime(lamina, bundle):
    if v("cpu") == 2:
        refused(
            lamina,
            make(bundle, {"cpu": {"realtimePeriod": 500000, "realtimeRuntime": 0}}),
            "linux.resources.cpu.realtimePeriod",
            "cgroup v2",
        )
        return
    if not CG.has("cpu", "/", "cpu.rt_runtime_us"):
        refused(
            lamina,
            make(bundle, {"cpu": {"realtimePeriod": 500000}}),
            "realtimePeriod",
            "CONFIG_RT_GROUP_SCHED",
        )
        return
    b = started(lamina, bundle, {"cpu": {"realtimePeriod": 500000, "realtimeRuntime": 0}})
    assert CG.read("cpu", b.cgroups_path, "cpu.rt_period_us") == "500000"
    assert CG.read("cpu", b.cgroups_path, "cpu.rt_runtime_us") == "0"
    # more real-time runtime than the parent cgroup has (0 here) is the kernel's refusal, said clearly
    refused(
        lamina,
        make(bundle, {"cpu": {"realtimeRuntime": 1000}}),
        "linux.resources.cpu.realtimeRuntime",
        "invalid argument",
        "parent",
    )


def test_cpu_bad_values_refused(lamina, bundle):
    err = refused(
        lamina,
        make(bundle, {"cpu": {"shares": 1, "period": 10, "cpus": "a-b"}}),
        "linux.resources.cpu.shares",
        "linux.resources.cpu.period",
        "linux.resources.cpu.cpus",
    )
    assert "[2, 262144]" in err


# ---------------------------------------------------------------- pids


@pytest.mark.cgroupv2
def test_case_037_pids_unlimited_zero_and_limit(lamina, bundle):
    v("pids")
    fork = ["sh", "-c", "/bin/true && echo forked"]
    b = started(lamina, bundle, {"pids": {"limit": -1}})
    assert CG.read("pids", b.cgroups_path, "pids.max") == "max"
    # 0 is a real limit (runtime-spec, the kernel accepts it): the init still execs, nothing forks
    b0 = started(lamina, bundle, {"pids": {"limit": 0}})
    assert CG.read("pids", b0.cgroups_path, "pids.max") == "0"
    assert lamina.state(b0.id)["status"] == "running"
    p = lamina.run(make(bundle, {"pids": {"limit": 0}}, fork))
    assert p.returncode != 0 and "can't fork" in p.stderr and "forked" not in p.stdout, (p.stdout, p.stderr)
    p = lamina.run(make(bundle, {"pids": {"limit": -1}}, fork))
    assert p.returncode == 0 and p.stdout.strip() == "forked", (p.stdout, p.stderr)
    b7 = started(lamina, bundle, {"pids": {"limit": 7}})
    assert CG.read("pids", b7.cgroups_path, "pids.max") == "7"


# ---------------------------------------------------------------- blockIO


@pytest.mark.cgroupv2
def test_blockio_weight_and_throttles(lamina, bundle):
    ver = v("blkio")
    _, major, minor = block_device()
    dev = f"{major}:{minor}"
    bio = {
        "weight": 300,
        "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": MiB}],
        "throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": 2 * MiB}],
        "throttleReadIOPSDevice": [{"major": major, "minor": minor, "rate": 1000}],
        "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}],
    }
    b = started(lamina, bundle, {"blockIO": bio})
    cg = b.cgroups_path
    if ver == 1:
        wfile = "blkio.bfq.weight" if CG.has("blkio", cg, "blkio.bfq.weight") else "blkio.weight"
        assert CG.read("blkio", cg, wfile).split()[-1] == "300"
        for name, rate in (
            ("read_bps", MiB),
            ("write_bps", 2 * MiB),
            ("read_iops", 1000),
            ("write_iops", 100),
        ):
            assert CG.read("blkio", cg, f"blkio.throttle.{name}_device") == f"{dev} {rate}"
    else:
        if CG.has("blkio", cg, "io.bfq.weight"):
            assert CG.read("blkio", cg, "io.bfq.weight").split()[-1] == "300"
        else:
            assert CG.read("blkio", cg, "io.weight").split()[-1] == str(1 + (300 - 10) * 9999 // 990)
        assert CG.read("blkio", cg, "io.max") == f"{dev} rbps={MiB} wbps={2 * MiB} riops=1000 wiops=100"


def test_blockio_weight_device(lamina, bundle):
    ver = v("blkio")
    name, major, minor = block_device()
    b = make(bundle, {"blockIO": {"weightDevice": [{"major": major, "minor": minor, "weight": 200}]}})
    p = lamina.run(b, "-d")
    if p.returncode != 0:
        # BFQ's per-device weight only works for a disk that uses the BFQ scheduler
        sched = f"/sys/block/{name}/queue/scheduler"
        assert not os.path.exists(sched) or "[bfq]" not in open(sched).read(), p.stderr
        assert "linux.resources.blockIO.weightDevice[0].weight" in p.stderr, p.stderr
        assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
        return
    files = ("blkio.bfq.weight_device", "blkio.weight_device") if ver == 1 else ("io.bfq.weight", "io.weight")
    text = " ".join(CG.read("blkio", b.cgroups_path, f) for f in files if CG.has("blkio", b.cgroups_path, f))
    want = 200 if ver == 1 or CG.has("blkio", b.cgroups_path, "io.bfq.weight") else 1 + 190 * 9999 // 990
    assert f"{major}:{minor} {want}" in text, text


def test_blockio_leaf_weight_refused(lamina, bundle):
    v("blkio")
    refused(
        lamina, make(bundle, {"blockIO": {"leafWeight": 300}}), "linux.resources.blockIO.leafWeight", "CFQ"
    )


# ---------------------------------------------------------------- hugetlb, network, rdma


@pytest.mark.cgroupv2
def test_hugepage_limits(lamina, bundle):
    ver = v("hugetlb")
    if not os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        pytest.skip("no 2MB huge pages on this machine")
    b = started(lamina, bundle, {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}]})
    name = "hugetlb.2MB.limit_in_bytes" if ver == 1 else "hugetlb.2MB.max"
    assert CG.read("hugetlb", b.cgroups_path, name) == str(4 * MiB)
    rsvd = "hugetlb.2MB.rsvd.limit_in_bytes" if ver == 1 else "hugetlb.2MB.rsvd.max"
    if CG.has("hugetlb", b.cgroups_path, rsvd):
        assert CG.read("hugetlb", b.cgroups_path, rsvd) == str(4 * MiB)
    refused(
        lamina,
        make(bundle, {"hugepageLimits": [{"pageSize": "3MB", "limit": 4 * MiB}]}),
        "linux.resources.hugepageLimits[0].pageSize",
        "not a huge page size of this host",
    )


def test_network_class_and_priorities(lamina, bundle):
    net = {"classID": 0x100001, "priorities": [{"name": "lo", "priority": 5}]}
    if CG.version("net_cls") == 1 and CG.version("net_prio") == 1:
        b = started(lamina, bundle, {"network": net})
        assert CG.read("net_cls", b.cgroups_path, "net_cls.classid") == str(0x100001)
        assert "lo 5" in CG.read("net_prio", b.cgroups_path, "net_prio.ifpriomap")
        return
    # no v1 net_cls/net_prio hierarchy (always so on cgroup v2): refused, never ignored
    err = refused(lamina, make(bundle, {"network": net}), "linux.resources.network.classID", "net_cls")
    assert "linux.resources.network.priorities" in err and "net_prio" in err


@pytest.mark.cgroupv2
def test_rdma(lamina, bundle):
    b = make(bundle, {"rdma": {"lamina_nodev0": {"hcaHandles": 2, "hcaObjects": 100}}})
    if CG.version("rdma") is None:
        refused(lamina, b, "linux.resources.rdma", "needs the rdma cgroup controller")
        return
    # no RDMA device of that name exists: the kernel refuses the limit, and so does create
    refused(lamina, b, "linux.resources.rdma.lamina_nodev0", "rdma.max")


# ---------------------------------------------------------------- unified


@pytest.mark.cgroupv2
def test_case_040_unified(lamina, bundle):
    if not CG.unified:
        refused(lamina, make(bundle, {"unified": {"pids.max": "10"}}), "linux.resources.unified", "v1")
        return
    # written last: the raw value wins over pids.limit
    b = started(
        lamina, bundle, {"pids": {"limit": 5}, "unified": {"pids.max": "10", "memory.high": "67108864"}}
    )
    assert CG.read("pids", b.cgroups_path, "pids.max") == "10"
    assert CG.read("memory", b.cgroups_path, "memory.high") == "67108864"
    refused(lamina, make(bundle, {"unified": {"cgroup.procs": "1"}}), "linux.resources.unified.cgroup.procs")
    refused(
        lamina, make(bundle, {"unified": {"memory.nonesuch": "1"}}), "linux.resources.unified.memory.nonesuch"
    )


# ---------------------------------------------------------------- devices


def _devices_bundle(bundle, rules: list, major: int, minor: int):
    """A container with CAP_MKNOD that makes a node of the host's disk and reads one byte."""
    script = (
        f"mknod /dev/lamina-disk b {major} {minor} && "
        "if head -c 1 /dev/lamina-disk > /dev/null; then echo read-ok; else echo read-denied; fi; "
        "echo x > /dev/null && echo null-ok"
    )
    b = bundle(["sh", "-c", script])
    for s in ("bounding", "effective", "permitted"):
        b.config["process"]["capabilities"][s].append("CAP_MKNOD")
    b.config["linux"]["resources"] = {"devices": rules}
    return b.write()


@pytest.mark.cgroupv2
def test_devices_default_deny_and_allow_rules(lamina, bundle):
    v("devices")
    _, major, minor = block_device()
    deny_all = [{"allow": False, "access": "rwm"}]
    p = lamina.run(_devices_bundle(bundle, deny_all, major, minor))
    assert p.stdout.split() == ["read-denied", "null-ok"], (p.stdout, p.stderr)
    assert "not permitted" in p.stderr.lower(), p.stderr
    allow = deny_all + [{"allow": True, "type": "b", "major": major, "minor": minor, "access": "r"}]
    p = lamina.run(_devices_bundle(bundle, allow, major, minor))
    assert p.stdout.split() == ["read-ok", "null-ok"], (p.stdout, p.stderr)
    # a later deny wins over an earlier allow (the rules apply in order)
    later = allow + [{"allow": False, "type": "b", "major": major, "minor": minor, "access": "r"}]
    p = lamina.run(_devices_bundle(bundle, later, major, minor))
    assert p.stdout.split() == ["read-denied", "null-ok"], (p.stdout, p.stderr)
    # the default devices stay usable even when a rule denies them
    no_null = allow + [{"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    p = lamina.run(_devices_bundle(bundle, no_null, major, minor))
    assert p.stdout.split() == ["read-ok", "null-ok"], (p.stdout, p.stderr)


def test_devices_v1_list(lamina, bundle):
    if v("devices") != 1:
        pytest.skip("devices.list is cgroup v1's; v2 is tested by what the container can open")
    _, major, minor = block_device()
    b = started(
        lamina,
        bundle,
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "b", "major": major, "minor": minor, "access": "r"},
            ]
        },
    )
    rules = CG.read("devices", b.cgroups_path, "devices.list").splitlines()
    assert f"b {major}:{minor} r" in rules and "c 1:3 rwm" in rules and "a *:* rwm" not in rules, rules


def test_devices_bad_rule_refused(lamina, bundle):
    refused(
        lamina,
        make(bundle, {"devices": [{"allow": True, "type": "x", "access": "rwq"}]}),
        "linux.resources.devices[0].type",
        "linux.resources.devices[0].access",
    )

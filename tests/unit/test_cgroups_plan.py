"""Pure logic of the cgroups plugin: conversions between the spec and cgroup v2, which files
each resource section becomes on each version and in which order, what each layout refuses,
and the parsing of update's and events' arguments. The files themselves are tested on real
containers in tests/integration/test_cgroups_resources.py."""

from __future__ import annotations

import pytest
from lamina.errors import LaminaError
from lamina.events import parse_duration
from lamina.plugins.cgroups import controllers
from lamina.plugins.cgroups.controllers import blkio, cpu, memory, pids, unified
from lamina.plugins.cgroups.layout import Layout
from lamina.plugins.cgroups.plugin import check_resources, merge_resources
from lamina.update import from_flags, parse_size

pytestmark = pytest.mark.cgroups

MiB = 1 << 20
V1 = Layout(
    "v1",
    (),
    {
        c: (f"/sys/fs/cgroup/{c}", 1)
        for c in ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices", "hugetlb")
    },
)
HYBRID = Layout(
    "hybrid", (), {**V1.homes, "hugetlb": ("/sys/fs/cgroup/unified", 2)}, "/sys/fs/cgroup/unified"
)
V2 = Layout(
    "unified",
    (),
    {
        c: ("/sys/fs/cgroup", 2)
        for c in ("cpu", "cpuset", "memory", "pids", "io", "hugetlb", "rdma", "freezer", "devices")
    },
    "/sys/fs/cgroup",
)


class Probe:
    """The container's cgroup as a dict of file -> content (the planners only read)."""

    def __init__(self, files: dict[str, str] | None = None) -> None:
        self.files = files or {}

    def exists(self, controller: str, name: str) -> bool:
        return name in self.files

    def read(self, controller: str, name: str) -> str | None:
        return self.files.get(name)


def files(writes) -> list[tuple[str, str]]:
    return [(w.file, w.value) for w in writes]


@pytest.mark.parametrize(
    "shares,weight",
    [
        (0, 0),
        (1, 1),
        (2, 1),
        (3, 2),
        (512, 59),
        (1024, 100),
        (2048, 174),
        (262143, 10000),
        (262144, 10000),
        (10**6, 10000),
    ],
)
def test_shares_to_weight(shares, weight):
    assert cpu.shares_to_weight(shares) == weight


def test_io_weight_is_linear_on_10000():
    assert [blkio.io_weight(w) for w in (0, 10, 500, 1000)] == [0, 1, 4950, 10000]


def test_swap_on_v2_is_swap_minus_limit():
    assert memory.swap_v2(64 * MiB, 96 * MiB) == str(32 * MiB)
    assert memory.swap_v2(64 * MiB, 64 * MiB) == "0"
    assert memory.swap_v2(64 * MiB, -1) == "max"
    assert memory.swap_v2(-1, None) == "max"  # unlimited memory, swap unset: both unlimited
    assert memory.swap_v2(64 * MiB, None) is None  # left alone


def test_memory_v1_order_follows_the_current_limit():
    m = {"limit": 256 * MiB, "swap": 512 * MiB}
    # growing past the current limit: memory+swap first, or the kernel refuses the limit
    assert [f for f, _ in files(memory.plan(m, V1, Probe({"memory.limit_in_bytes": str(64 * MiB)})))] == [
        "memory.memsw.limit_in_bytes",
        "memory.limit_in_bytes",
    ]
    small = {"limit": 16 * MiB, "swap": 32 * MiB}
    assert [f for f, _ in files(memory.plan(small, V1, Probe({"memory.limit_in_bytes": str(64 * MiB)})))] == [
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
    ]
    # unlimited memory lifts memory+swap too (when the kernel accounts swap)
    assert files(memory.plan({"limit": -1}, V1, Probe({"memory.memsw.limit_in_bytes": "1"}))) == [
        ("memory.memsw.limit_in_bytes", "-1"),
        ("memory.limit_in_bytes", "-1"),
    ]


def test_memory_v2_files_and_check_before_update():
    m = {"limit": 64 * MiB, "swap": 96 * MiB, "reservation": 32 * MiB}
    assert files(memory.plan(m, V2, Probe({"memory.swap.max": "max"}))) == [
        ("memory.max", str(64 * MiB)),
        ("memory.swap.max", str(32 * MiB)),
        ("memory.low", str(32 * MiB)),
    ]
    with pytest.raises(LaminaError, match="below the container's current memory usage"):
        memory.plan({"limit": MiB, "checkBeforeUpdate": True}, V2, Probe({"memory.current": str(8 * MiB)}))
    assert files(
        memory.plan(
            {"limit": 16 * MiB, "checkBeforeUpdate": True}, V2, Probe({"memory.current": str(8 * MiB)})
        )
    ) == [("memory.max", str(16 * MiB))]


def test_memory_checks_per_version():
    assert check_resources({"memory": {"limit": 64 * MiB, "swap": 32 * MiB}}, V1)[0].startswith(
        "linux.resources.memory.swap: 33554432 is below linux.resources.memory.limit 67108864"
    )
    assert "needs linux.resources.memory.limit" in check_resources({"memory": {"swap": 32 * MiB}}, V2)[0]
    v2 = check_resources({"memory": {"swappiness": 10, "disableOOMKiller": True, "kernelTCP": MiB}}, V2)
    assert [p.split(":")[0] for p in v2] == [
        "linux.resources.memory.swappiness",
        "linux.resources.memory.disableOOMKiller",
        "linux.resources.memory.kernelTCP",
    ]
    assert check_resources({"memory": {"swappiness": 10, "disableOOMKiller": True, "kernel": 1}}, V1) == []


def test_cpu_files_per_version():
    c = {
        "shares": 1024,
        "quota": 50000,
        "period": 100000,
        "burst": 1000,
        "cpus": "0-1",
        "mems": "0",
        "idle": 0,
    }
    assert files(cpu.plan(c, V1, Probe())) == [
        ("cpu.shares", "1024"),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_quota_us", "50000"),
        ("cpu.cfs_burst_us", "1000"),
        ("cpu.idle", "0"),
        ("cpuset.cpus", "0-1"),
        ("cpuset.mems", "0"),
    ]
    assert files(cpu.plan(c, V2, Probe())) == [
        ("cpu.weight", "100"),
        ("cpu.max", "50000 100000"),
        ("cpu.max.burst", "1000"),
        ("cpu.idle", "0"),
        ("cpuset.cpus", "0-1"),
        ("cpuset.mems", "0"),
    ]
    assert files(cpu.plan({"quota": -1}, V2, Probe())) == [("cpu.max", "max")]
    assert files(cpu.plan({"period": 50000}, V2, Probe())) == [("cpu.max", "max 50000")]
    assert [w.controller for w in cpu.plan(c, V2, Probe())][-2:] == ["cpuset", "cpuset"]
    assert check_resources({"cpu": {"realtimeRuntime": 100}}, V2)[0].startswith(
        "linux.resources.cpu.realtimeRuntime: cgroup v2 has no real-time"
    )
    assert check_resources({"cpu": {"shares": 0, "quota": 0}}, V2) == []  # 0: not set


def test_pids_values():
    assert pids.value(-1) == "max" and pids.value(-7) == "max"
    assert pids.value(0) == "0" and pids.value(12) == "12"


def test_blkio_bfq_or_generic():
    b = {
        "weight": 500,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 0}],
    }
    assert files(blkio.plan(b, V1, Probe({"blkio.bfq.weight": "100"}))) == [
        ("blkio.bfq.weight", "500"),
        ("blkio.bfq.weight_device", "8:0 100"),
        ("blkio.throttle.read_bps_device", "8:0 0"),
    ]
    assert files(blkio.plan(b, V2, Probe())) == [
        ("io.weight", "4950"),
        ("io.weight", "8:0 910"),
        ("io.max", "8:0 rbps=max"),
    ]
    assert files(blkio.plan(b, V2, Probe({"io.bfq.weight": "default 100"})))[:2] == [
        ("io.bfq.weight", "500"),
        ("io.bfq.weight", "8:0 100"),
    ]
    assert "leaf weights" in check_resources({"blockIO": {"leafWeight": 100}}, V2)[0]


def test_unified_only_on_a_unified_host():
    for lay, what in ((V1, "a cgroup v1 host"), (HYBRID, "a hybrid host")):
        (p,) = check_resources({"unified": {"pids.max": "10"}}, lay)
        assert p.startswith("linux.resources.unified: needs a cgroup v2 (unified) host") and what in p
    assert check_resources({"unified": {"pids.max": "10", "io.weight": "50"}}, V2) == []
    p = check_resources({"unified": {"cgroup.procs": "1", "../x": "1"}}, V2)
    assert "lamina manages cgroup.procs itself" in p[0] and "not a cgroup v2 file name" in p[1]
    (p,) = check_resources({"unified": {"misc.max": "1"}}, V2)
    assert p.startswith("linux.resources.unified.misc.max: needs the misc cgroup controller")
    assert files(unified.plan({"memory.high": "1G"}, V2, Probe())) == [("memory.high", "1G")]


def test_missing_controllers_are_errors():
    lay = Layout("v1", (), {"memory": ("/sys/fs/cgroup/memory", 1)})
    p = check_resources(
        {"pids": {"limit": 3}, "network": {"classID": 1}, "rdma": {"mlx": {"hcaHandles": 1}}}, lay
    )
    assert [x.split(":")[0] for x in p] == [
        "linux.resources.pids.limit",
        "linux.resources.network.classID",
        "linux.resources.rdma",
    ]
    assert all("cgroup controller, which this host does not have" in x for x in p)
    assert "cgroup v2 has no net_cls controller" in check_resources({"network": {"classID": 1}}, V2)[0]
    assert check_resources({"hugepageLimits": [{"pageSize": "2 MB", "limit": 1}]}, HYBRID)[0].startswith(
        "linux.resources.hugepageLimits[0].pageSize: '2 MB' is not a page size"
    )


def test_hybrid_puts_v2_only_controllers_on_the_cgroup2():
    assert HYBRID.version("hugetlb") == 2 and HYBRID.version("memory") == 1
    assert V2.version("blkio") == 2  # v1's name for v2's io


def test_present_sections_in_apply_order():
    res = {"unified": {"a.b": "1"}, "devices": [], "memory": {"limit": 1}, "pids": {}, "cpu": {"shares": 2}}
    assert list(controllers.present(res)) == ["unified", "memory", "cpu"]
    assert [k for k in controllers.SECTIONS if k in controllers.present(res)] == ["cpu", "memory", "unified"]


def test_merge_for_update():
    old = {
        "memory": {"limit": 1, "swap": 2},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4}],
        "pids": {"limit": 3},
    }
    new = {"memory": {"limit": 5}, "hugepageLimits": [{"pageSize": "1GB", "limit": 8}]}
    assert merge_resources(old, new) == {
        "memory": {"limit": 5, "swap": 2},
        "pids": {"limit": 3},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4}, {"pageSize": "1GB", "limit": 8}],
    }


@pytest.mark.parametrize(
    "text,value",
    [
        ("1048576", MiB),
        ("64m", 64 * MiB),
        ("64M", 64 * MiB),
        ("1g", 1 << 30),
        ("512KiB", 512 << 10),
        ("1.5k", 1536),
        ("-1", -1),
        ("2mb", 2 * MiB),
    ],
)
def test_parse_size(text, value):
    assert parse_size("--memory", text) == value


@pytest.mark.parametrize("text", ["lots", "-2", "-1m", "", "1x"])
def test_parse_size_refuses(text):
    with pytest.raises(LaminaError, match="--memory"):
        parse_size("--memory", text)


def test_update_flags_to_resources():
    assert from_flags(
        memory="64m", memory_swap="-1", cpu_shares=512, cpuset_cpus="0", pids_limit=0, blkio_weight=300
    ) == {
        "memory": {"limit": 64 * MiB, "swap": -1},
        "cpu": {"shares": 512, "cpus": "0"},
        "pids": {"limit": 0},
        "blockIO": {"weight": 300},
    }
    assert from_flags() == {}


def test_parse_duration():
    assert parse_duration("5s") == 5 and parse_duration("250ms") == 0.25 and parse_duration("1m30s") == 90
    for bad in ("5", "fast", "0s", "5 s"):
        with pytest.raises(LaminaError, match="--interval"):
            parse_duration(bad)

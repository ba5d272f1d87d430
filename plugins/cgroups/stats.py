"""The container's counters, read from its cgroup files, in the shape of runc's `events --stats`
(libcontainer types.Stats: cpu, cpuset, memory, pids, blkio, hugetlb), which clients parse.

Times are nanoseconds, sizes bytes. v1 reports user/system CPU time in USER_HZ ticks (100 a
second); v2 reports microseconds. "max" limits are reported as 2^64-1, as runc does. The memory
section's ``raw`` is memory.stat, plus ``oom_kill`` (the count of OOM kills, from
memory.oom_control on v1 and memory.events on v2), which `events` watches.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from lamina.plugins.cgroups.controllers.hugetlb import host_sizes
from lamina.plugins.cgroups.fsio import read_file, read_int, read_kv

UNLIMITED = 2**64 - 1
TICK_NS = 10_000_000  # one USER_HZ tick


def _u(v: int | None) -> int:
    if v is None:
        return 0
    return UNLIMITED if v < 0 or v >= 2**63 - 4096 else v


def _ints(text: str | None) -> list[int]:
    return [int(x) for x in (text or "").split() if x.lstrip("-").isdigit()]


def cpu_list(text: str | None) -> list[int]:
    """"0-2,5" -> [0, 1, 2, 5]."""
    out: list[int] = []
    for part in (text or "").strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if lo.isdigit():
            out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def _entry(usage, maximum, limit, failcnt) -> dict:
    return {"usage": _u(usage), "max": _u(maximum), "limit": _u(limit), "failcnt": _u(failcnt)}


def _blkio_v1(path: str | None) -> list[dict]:
    out = []
    for line in (read_file(path) or "").splitlines() if path else []:
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, _, minor = parts[0].partition(":")
            out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return out


def v1(dir_for: Callable[[str], str | None], controllers: set[str]) -> dict:
    out: dict = {}

    def f(c: str, name: str) -> str | None:
        d = dir_for(c)
        return os.path.join(d, name) if d else None

    if "cpuacct" in controllers or "cpu" in controllers:
        usage: dict = {}
        if dir_for("cpuacct"):
            acct = read_kv(f("cpuacct", "cpuacct.stat"))
            usage = {"total": _u(read_int(f("cpuacct", "cpuacct.usage"))),
                     "percpu": _ints(read_file(f("cpuacct", "cpuacct.usage_percpu"))),
                     "percpu_kernel": _ints(read_file(f("cpuacct", "cpuacct.usage_percpu_sys"))),
                     "percpu_user": _ints(read_file(f("cpuacct", "cpuacct.usage_percpu_user"))),
                     "kernel": acct.get("system", 0) * TICK_NS, "user": acct.get("user", 0) * TICK_NS}
        thr = read_kv(f("cpu", "cpu.stat")) if dir_for("cpu") else {}
        out["cpu"] = {"usage": usage, "throttling": {"periods": thr.get("nr_periods", 0),
                                                     "throttledPeriods": thr.get("nr_throttled", 0),
                                                     "throttledTime": thr.get("throttled_time", 0)}}
    if "cpuset" in controllers and dir_for("cpuset"):
        out["cpuset"] = {"cpus": cpu_list(read_file(f("cpuset", "cpuset.cpus"))),
                         "mems": cpu_list(read_file(f("cpuset", "cpuset.mems")))}
    if "memory" in controllers and dir_for("memory"):
        def entry(prefix: str) -> dict:
            return _entry(read_int(f("memory", f"{prefix}.usage_in_bytes")),
                          read_int(f("memory", f"{prefix}.max_usage_in_bytes")),
                          read_int(f("memory", f"{prefix}.limit_in_bytes")),
                          read_int(f("memory", f"{prefix}.failcnt")))

        raw = read_kv(f("memory", "memory.stat"))
        raw["oom_kill"] = read_kv(f("memory", "memory.oom_control")).get("oom_kill", 0)
        out["memory"] = {"cache": raw.get("total_cache", raw.get("cache", 0)), "usage": entry("memory"),
                         "swap": entry("memory.memsw"), "kernel": entry("memory.kmem"),
                         "kernelTCP": entry("memory.kmem.tcp"), "raw": raw}
    if "pids" in controllers and dir_for("pids"):
        limit = read_int(f("pids", "pids.max"))
        out["pids"] = {"current": read_int(f("pids", "pids.current")) or 0,
                       "limit": 0 if limit is None or limit < 0 else limit}
    if "blkio" in controllers and dir_for("blkio"):
        src = "blkio.throttle"
        out["blkio"] = {"ioServiceBytesRecursive": _blkio_v1(f("blkio", f"{src}.io_service_bytes_recursive")),
                        "ioServicedRecursive": _blkio_v1(f("blkio", f"{src}.io_serviced_recursive"))}
    if "hugetlb" in controllers and dir_for("hugetlb"):
        out["hugetlb"] = {s: {"usage": _u(read_int(f("hugetlb", f"hugetlb.{s}.usage_in_bytes"))),
                              "max": _u(read_int(f("hugetlb", f"hugetlb.{s}.max_usage_in_bytes"))),
                              "failcnt": _u(read_int(f("hugetlb", f"hugetlb.{s}.failcnt")))}
                          for s in host_sizes()}
    return out


def _io_v2(path: str) -> tuple[list[dict], list[dict]]:
    bytes_, ios = [], []
    for line in (read_file(path) or "").splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for key, op, into in (("rbytes", "Read", bytes_), ("wbytes", "Write", bytes_),
                              ("rios", "Read", ios), ("wios", "Write", ios)):
            if key in kv:
                into.append({"major": int(major), "minor": int(minor), "op": op, "value": int(kv[key])})
    return bytes_, ios


def v2(d: str, controllers: set[str]) -> dict:
    out: dict = {}

    def f(name: str) -> str:
        return os.path.join(d, name)

    if "cpu" in controllers:
        s = read_kv(f("cpu.stat"))
        out["cpu"] = {"usage": {"total": s.get("usage_usec", 0) * 1000,
                                "kernel": s.get("system_usec", 0) * 1000,
                                "user": s.get("user_usec", 0) * 1000},
                      "throttling": {"periods": s.get("nr_periods", 0),
                                     "throttledPeriods": s.get("nr_throttled", 0),
                                     "throttledTime": s.get("throttled_usec", 0) * 1000}}
    if "cpuset" in controllers:
        out["cpuset"] = {"cpus": cpu_list(read_file(f("cpuset.cpus.effective"))),
                         "mems": cpu_list(read_file(f("cpuset.mems.effective")))}
    if "memory" in controllers:
        events = read_kv(f("memory.events"))
        raw = read_kv(f("memory.stat"))
        raw["oom_kill"] = events.get("oom_kill", 0)
        cur, limit = read_int(f("memory.current")), read_int(f("memory.max"))
        swap_cur, swap_max = read_int(f("memory.swap.current")), read_int(f("memory.swap.max"))
        # as on v1 (memsw), swap is reported as memory plus swap
        both_limit = -1 if limit in (None, -1) or swap_max in (None, -1) else limit + swap_max
        out["memory"] = {"cache": raw.get("file", 0),
                         "usage": _entry(cur, read_int(f("memory.peak")), limit, events.get("max", 0)),
                         "swap": _entry((cur or 0) + (swap_cur or 0), None, both_limit, 0), "raw": raw}
    if "pids" in controllers:
        limit = read_int(f("pids.max"))
        out["pids"] = {"current": read_int(f("pids.current")) or 0,
                       "limit": 0 if limit is None or limit < 0 else limit}
    if "io" in controllers:
        b, i = _io_v2(f("io.stat"))
        out["blkio"] = {"ioServiceBytesRecursive": b, "ioServicedRecursive": i}
    if "hugetlb" in controllers:
        out["hugetlb"] = {s: {"usage": _u(read_int(f(f"hugetlb.{s}.current"))),
                              "max": _u(read_int(f(f"hugetlb.{s}.max"))),
                              "failcnt": read_kv(f(f"hugetlb.{s}.events")).get("max", 0)}
                          for s in host_sizes()}
    return out

"""linux.resources.cpu: shares, quota, period, burst, realtimeRuntime/Period, idle (the cpu
controller) and cpus, mems (the cpuset controller).

On cgroup v2 ``shares`` becomes cpu.weight through the mapping runc (>= 1.3.2) and crun
(>= 1.23) use, which keeps v1's default (1024) on v2's default (100) and the ends on the ends
(2 -> 1, 262144 -> 10000): with L = log2(shares), weight = ceil(10^((L^2 + 125 L)/612 - 7/34)).
The older linear formula, 1 + (shares - 2) * 9999 / 262142, put 1024 at 39, below every
process outside the container; see docs/cgroups.md. 0 means "not set" for shares, quota and
period (as runc reads them).
"""

from __future__ import annotations

import math
import re

from lamina.plugins.cgroups.fsio import Write

F = "linux.resources.cpu"
CPU_FIELDS = ("shares", "quota", "period", "burst", "realtimeRuntime", "realtimePeriod", "idle")
CPUSET_FIELDS = ("cpus", "mems")
LIST_RE = re.compile(r"^\s*\d+(-\d+)?(\s*,\s*\d+(-\d+)?)*\s*$")


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares [2, 262144] -> cgroup v2 cpu.weight [1, 10000] (0 stays 0: unset)."""
    if shares == 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    lg = math.log2(shares)
    return math.ceil(10 ** ((lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0))


def _given(c: dict, k: str) -> bool:
    v = c.get(k)
    if k in ("cpus", "mems"):
        return bool(v)
    return v is not None and not (v == 0 and k in ("shares", "quota", "period"))


def needs(c: dict) -> dict[str, str]:
    out = {}
    for k in CPU_FIELDS:
        if _given(c, k):
            out.setdefault("cpu", f"{F}.{k}")
    for k in CPUSET_FIELDS:
        if _given(c, k):
            out.setdefault("cpuset", f"{F}.{k}")
    return out


def check(c: dict, layout) -> list[str]:
    p = []
    shares = c.get("shares")
    if _given(c, "shares") and not 2 <= shares <= 262144:
        p.append(f"{F}.shares: {shares} is out of range [2, 262144]")
    quota = c.get("quota")
    if _given(c, "quota") and quota != -1 and not quota >= 1000:
        p.append(f"{F}.quota: {quota} must be -1 (no limit) or at least 1000 (microseconds)")
    period = c.get("period")
    if _given(c, "period") and not 1000 <= period <= 1000000:
        p.append(f"{F}.period: {period} is out of range [1000, 1000000] (microseconds)")
    idle = c.get("idle")
    if idle is not None and idle not in (0, 1):
        p.append(f"{F}.idle: {idle} must be 0 or 1")
    for k in CPUSET_FIELDS:
        v = c.get(k)
        if v and not LIST_RE.match(v):
            p.append(f"{F}.{k}: {v!r} is not a list of numbers and ranges (such as \"0-2,4\")")
    rt = c.get("realtimeRuntime")
    if rt is not None and rt < -1:
        p.append(f"{F}.realtimeRuntime: {rt} must be -1 (no limit) or at least 0 (microseconds)")
    if layout.version("cpu") == 2:
        for k in ("realtimeRuntime", "realtimePeriod"):
            if c.get(k) is not None:
                p.append(f"{F}.{k}: cgroup v2 has no real-time CPU bandwidth control "
                         "(cpu.rt_runtime_us exists only on cgroup v1)")
    return p


def _cpu_max(c: dict) -> str | None:
    quota, period = c.get("quota"), c.get("period")
    if not _given(c, "quota") and not _given(c, "period"):
        return None
    value = str(quota) if _given(c, "quota") and quota > 0 else "max"
    return f"{value} {period}" if _given(c, "period") else value


def plan(c: dict, layout, probe) -> list[Write]:
    v2 = layout.version("cpu") == 2
    out: list[Write] = []
    if _given(c, "shares"):
        if v2:
            out.append(Write("cpu", "cpu.weight", str(shares_to_weight(c["shares"])), f"{F}.shares"))
        else:
            out.append(Write("cpu", "cpu.shares", str(c["shares"]), f"{F}.shares"))
    bw = "the parent cgroup's quota/period caps the container's"
    if v2:
        cm = _cpu_max(c)
        if cm is not None:
            out.append(Write("cpu", "cpu.max", cm, f"{F}.quota" if _given(c, "quota") else f"{F}.period",
                             hint=bw))
        if c.get("burst") is not None:
            out.append(Write("cpu", "cpu.max.burst", str(c["burst"]), f"{F}.burst",
                             hint="the burst may not exceed the quota",
                             missing="this kernel has no CPU burst (Linux 5.14)"))
    else:
        # period before quota: the quota is checked against the period in force
        if _given(c, "period"):
            out.append(Write("cpu", "cpu.cfs_period_us", str(c["period"]), f"{F}.period", hint=bw))
        if _given(c, "quota"):
            out.append(Write("cpu", "cpu.cfs_quota_us", str(c["quota"]), f"{F}.quota", hint=bw))
        if c.get("burst") is not None:
            out.append(Write("cpu", "cpu.cfs_burst_us", str(c["burst"]), f"{F}.burst",
                             hint="the burst may not exceed the quota",
                             missing="this kernel has no CPU burst (Linux 5.14)"))
        rt = "this kernel has no real-time group scheduling (CONFIG_RT_GROUP_SCHED)"
        if c.get("realtimePeriod") is not None:
            out.append(Write("cpu", "cpu.rt_period_us", str(c["realtimePeriod"]), f"{F}.realtimePeriod",
                             hint="the runtime must fit in the period", missing=rt))
        if c.get("realtimeRuntime") is not None:
            out.append(Write("cpu", "cpu.rt_runtime_us", str(c["realtimeRuntime"]), f"{F}.realtimeRuntime",
                             hint="the real-time runtime must fit in the parent cgroup's, which is 0 "
                             "unless the administrator gave it some", missing=rt))
    if c.get("idle") is not None:
        out.append(Write("cpu", "cpu.idle", str(c["idle"]), f"{F}.idle",
                         missing="this kernel has no idle cgroups (Linux 5.15)"))
    for k in CPUSET_FIELDS:
        if c.get(k):
            out.append(Write("cpuset", f"cpuset.{k}", c[k].replace(" ", ""), f"{F}.{k}",
                             hint=f"they must be among the parent cgroup's cpuset.{k}"))
    return out

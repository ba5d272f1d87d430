"""linux.resources.pids: the maximum number of tasks (pids.max, the same file on v1 and v2).

-1 (any negative value) means no limit ("max"). 0 is a real limit, as the runtime spec says
since 1.2.1 and the kernel accepts: no process of the container can fork. (runc >= 1.4 writes
1 instead, because systemd cannot express 0; with lamina's cgroupfs driver 0 stays 0.) The
limit is written once the init is alone in its cgroup, so even 0 lets it exec the process.
"""

from __future__ import annotations

from lamina.plugins.cgroups.fsio import Write

F = "linux.resources.pids"


def needs(p: dict) -> dict[str, str]:
    return {"pids": f"{F}.limit"} if p.get("limit") is not None else {}


def check(p: dict, layout) -> list[str]:
    return []


def value(limit: int) -> str:
    return "max" if limit < 0 else str(limit)


def plan(p: dict, layout, probe) -> list[Write]:
    if p.get("limit") is None:
        return []
    return [Write("pids", "pids.max", value(p["limit"]), f"{F}.limit")]

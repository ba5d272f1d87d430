"""linux.resources.network: classID (net_cls.classid) and priorities (net_prio.ifpriomap).

Both controllers exist only on cgroup v1; cgroup v2 has no equivalent (traffic is classified
by eBPF or by the cgroup path instead), so asking for them there is refused.
"""

from __future__ import annotations

from lamina.plugins.cgroups.fsio import Write

F = "linux.resources.network"


def needs(n: dict) -> dict[str, str]:
    out = {}
    if n.get("classID") is not None:
        out["net_cls"] = f"{F}.classID"
    if n.get("priorities"):
        out["net_prio"] = f"{F}.priorities"
    return out


def check(n: dict, layout) -> list[str]:
    p = []
    for ctrl, field in needs(n).items():
        if layout.home(ctrl) is None and layout.mode == "unified":
            p.append(f"{field}: cgroup v2 has no {ctrl} controller (it exists only on cgroup v1)")
    for i, pr in enumerate(n.get("priorities") or []):
        if not pr["name"] or "/" in pr["name"] or " " in pr["name"]:
            p.append(f"{F}.priorities[{i}].name: {pr['name']!r} is not a network interface name")
    return p


def plan(n: dict, layout, probe) -> list[Write]:
    out = []
    if n.get("classID") is not None:
        out.append(Write("net_cls", "net_cls.classid", str(n["classID"]), f"{F}.classID"))
    for i, pr in enumerate(n.get("priorities") or []):
        out.append(Write("net_prio", "net_prio.ifpriomap", f"{pr['name']} {pr['priority']}",
                         f"{F}.priorities[{i}]",
                         hint="the interface must exist in the runtime's network namespace"))
    return out

"""linux.resources.unified: raw cgroup v2 files and their values, written last (they win).

Only a cgroup v2 (unified) host can honour it. On a v1 or hybrid host the keys would land in the
controller-less cgroup2 at /sys/fs/cgroup/unified (or nowhere) and limit nothing, so lamina
refuses the config instead. The files that manage membership and state are lamina's own and
refused too: cgroup.procs, cgroup.threads, cgroup.subtree_control, cgroup.freeze, cgroup.kill.
"""

from __future__ import annotations

import re

from lamina.plugins.cgroups.fsio import Write

F = "linux.resources.unified"
KEY_RE = re.compile(r"^[a-z_]+\.[A-Za-z0-9_.]+$")
RESERVED = ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.freeze", "cgroup.kill",
            "cgroup.type")


def controller_of(key: str) -> str:
    return key.split(".", 1)[0]


def needs(u: dict) -> dict[str, str]:
    return {controller_of(k): f"{F}.{k}" for k in u if controller_of(k) != "cgroup"}


def check(u: dict, layout) -> list[str]:
    if layout.mode != "unified":
        what = "a hybrid host (cgroup v1 controllers; the cgroup2 at /sys/fs/cgroup/unified has no " \
               "say over them)" if layout.mode == "hybrid" else "a cgroup v1 host"
        return [f"{F}: needs a cgroup v2 (unified) host, but this is {what}; use the v1 fields of "
                f"linux.resources instead (keys: {', '.join(sorted(u))})"]
    p = []
    for k in u:
        if not KEY_RE.match(k) or ".." in k:
            p.append(f"{F}.{k}: {k!r} is not a cgroup v2 file name (controller.name)")
        elif k in RESERVED:
            p.append(f"{F}.{k}: lamina manages {k} itself; it cannot be set from config.json")
    return p


def plan(u: dict, layout, probe) -> list[Write]:
    return [Write(controller_of(k), k, v, f"{F}.{k}",
                  missing=f"the {controller_of(k)} controller has no such file, or is not available")
            for k, v in u.items()]

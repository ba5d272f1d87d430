"""Reading the host's cgroup layout: shared by the plugins that mount and manage cgroups.

Three layouts exist: legacy v1, hybrid (v1 controllers plus a controller-less cgroup2 at
/sys/fs/cgroup/unified, as on this project's CI) and unified v2.
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Hierarchy:
    mountpoint: str
    version: int  # 1 or 2
    key: str  # the controller list as /proc/<pid>/cgroup names it ('' for cgroup2)


def host_hierarchies() -> list[Hierarchy]:
    """Every cgroup mount under /sys/fs/cgroup, from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            mnt = left.split()[4]
            fstype, _src, superopts = right.split()[:3]
            if not mnt.startswith(ROOT):
                continue
            if fstype == "cgroup2":
                out.append(Hierarchy(mnt, 2, ""))
            elif fstype == "cgroup":
                opts = [o for o in superopts.split(",")
                        if (o not in ("rw", "ro") and "=" not in o) or o.startswith("name=")]
                out.append(Hierarchy(mnt, 1, ",".join(opts)))
    return out


def is_unified(hs: list[Hierarchy]) -> bool:
    return len(hs) == 1 and hs[0].version == 2 and hs[0].mountpoint == ROOT


def own_cgroups(pid: str = "self") -> dict[str, str]:
    """hierarchy key -> cgroup path of a process, as seen from its cgroup namespace."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, key, path = line.rstrip("\n").split(":", 2)
            out[key] = path
    return out

"""The host's cgroup layout, and which hierarchy holds each controller.

- ``v1``: every controller on its own (or a shared) cgroup v1 hierarchy.
- ``hybrid``: v1 hierarchies plus a cgroup2 mount at /sys/fs/cgroup/unified (systemd's
  "hybrid" mode). The cgroup2 there holds the container's processes too, and any controller
  that no v1 hierarchy has and the cgroup2 root offers (often none; hugetlb on this project's
  machines) is managed through it.
- ``unified``: one cgroup2 at /sys/fs/cgroup with all controllers.

Two pseudo-controllers fill the gaps between versions: ``freezer`` (v1 freezer, or cgroup v2's
cgroup.freeze, which every cgroup2 has) and ``devices`` (v1 devices, or a v2 eBPF program).
"""

from __future__ import annotations

import os

from lamina.cgroupinfo import ROOT, Hierarchy, host_hierarchies
from lamina.values import Value

V2_PSEUDO = ("freezer", "devices")
# v1 names of controllers that cgroup v2 renamed
V2_NAMES = {"blkio": "io"}


class Layout(Value):
    __slots__ = ("mode", "hierarchies", "homes", "v2_mount")

    def __init__(self, mode: str, hierarchies: tuple[Hierarchy, ...],
                 homes: dict[str, tuple[str, int]] | None = None, v2_mount: str | None = None) -> None:
        self.mode = mode  # "v1", "hybrid", "unified" or "none"
        self.hierarchies = hierarchies
        # controller -> (mountpoint, version) of the hierarchy that manages it
        self.homes: dict[str, tuple[str, int]] = homes if homes is not None else {}
        self.v2_mount = v2_mount

    def home(self, controller: str) -> tuple[str, int] | None:
        h = self.homes.get(controller)
        if h is None and controller in V2_NAMES:
            h = self.homes.get(V2_NAMES[controller])
        return h

    def version(self, controller: str) -> int | None:
        h = self.home(controller)
        return h[1] if h else None

    def describe(self) -> str:
        """One phrase for error messages: what this host has."""
        if self.mode == "unified":
            ctrls = sorted(c for c in self.homes if c not in V2_PSEUDO)
            return f"cgroup v2 at {ROOT} with controllers {', '.join(ctrls) or '(none)'}"
        v1 = sorted({c for c, (_, v) in self.homes.items() if v == 1})
        text = f"cgroup v1 controllers {', '.join(v1) or '(none)'}"
        if self.mode == "hybrid":
            v2 = sorted(c for c, (_, v) in self.homes.items() if v == 2 and c not in V2_PSEUDO)
            text += f", and a cgroup2 at {self.v2_mount} with {', '.join(v2) or 'no controllers'}"
        return text


def _read_words(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


def detect() -> Layout:
    """Read /proc/self/mountinfo and the cgroup2 root's cgroup.controllers."""
    hs = tuple(host_hierarchies())
    homes: dict[str, tuple[str, int]] = {}
    v2 = next((h for h in hs if h.version == 2), None)
    if v2 is not None and v2.mountpoint == ROOT and len(hs) == 1:
        for c in _read_words(os.path.join(ROOT, "cgroup.controllers")):
            homes[c] = (ROOT, 2)
        for c in V2_PSEUDO:
            homes[c] = (ROOT, 2)
        return Layout("unified", hs, homes, ROOT)
    for h in hs:
        if h.version != 1:
            continue
        for c in h.key.split(","):
            if c and not c.startswith("name="):
                homes.setdefault(c, (h.mountpoint, 1))
    if v2 is None:
        return Layout("v1" if homes else "none", hs, homes, None)
    for c in _read_words(os.path.join(v2.mountpoint, "cgroup.controllers")):
        homes.setdefault(c, (v2.mountpoint, 2))
    for c in V2_PSEUDO:
        homes.setdefault(c, (v2.mountpoint, 2))
    return Layout("hybrid", hs, homes, v2.mountpoint)

"""One module per section of linux.resources: how it is checked and which files it becomes.

Each module has
- ``needs(section) -> {controller: field}``: the controllers the present fields need;
- ``check(section, layout) -> [problem]``: what this layout cannot do, or bad values (pure);
- ``plan(section, layout, probe) -> [Write]``: the files to write, in order, for the version of
  the hierarchy that manages the controller (``layout.version(controller)``). ``probe`` answers
  questions about the container's cgroup (does a file exist, its current value), which some
  writes depend on (BFQ or not, the order of memory and swap limits).

``devices`` is not here: it is applied before any process joins (see lamina.plugins.cgroups.devices).
A module is imported only when a container's config has its section (``module``): most
containers set no limit at all, and every create would otherwise pay for all eight.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Protocol


class Probe(Protocol):
    def exists(self, controller: str, name: str) -> bool: ...

    def read(self, controller: str, name: str) -> str | None: ...


# section -> its module here, in the order they are applied; unified last, so that its raw values
# win (as runc does)
SECTIONS = {
    "cpu": "cpu", "memory": "memory", "pids": "pids", "blockIO": "blkio", "hugepageLimits": "hugetlb",
    "network": "network", "rdma": "rdma", "unified": "unified",
}


def module(section: str) -> ModuleType:
    """The module of one section of linux.resources (a key of SECTIONS)."""
    return importlib.import_module(f"{__name__}.{SECTIONS[section]}")


def present(resources: dict) -> dict:
    """The sections of ``resources`` that ask for something."""
    return {k: v for k, v in (resources or {}).items() if k in SECTIONS and v not in (None, {}, [])}

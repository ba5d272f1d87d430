"""cgroup v1: one directory per hierarchy (cpu, memory, pids, ..., and named ones like
name=systemd), each controller's files in its own hierarchy's directory."""

from __future__ import annotations

import os
import time

from lamina.errors import LaminaError
from lamina.plugins.cgroups import fsio
from lamina.plugins.cgroups.backend import Backend

FREEZE_TIMEOUT = 10.0


class V1Backend(Backend):
    version = 1

    def __init__(self, dirs: dict[str, str], homes: dict[str, str]) -> None:
        self.dirs = dirs  # mountpoint -> the container's directory there
        self.homes = homes  # controller -> mountpoint

    def directories(self) -> list[str]:
        return list(self.dirs.values())

    def placements(self) -> list[tuple[str, str]]:
        return list(self.dirs.items())

    def dir_for(self, controller: str) -> str | None:
        mnt = self.homes.get(controller)
        return self.dirs.get(mnt) if mnt else None

    def can_freeze(self) -> bool:
        return self.dir_for("freezer") is not None

    def freezer_record(self) -> dict | None:
        d = self.dir_for("freezer")
        return {"path": os.path.join(d, "freezer.state"), "frozen": "FROZEN"} if d else None

    def freeze(self, frozen: bool) -> None:
        """Write FROZEN (or THAWED) until the kernel reports it: a task that is busy in the kernel
        keeps the cgroup FREEZING for a while, and writing again retries it."""
        rec = self.freezer_record()
        if rec is None:
            raise LaminaError("pause needs the freezer cgroup controller, which this host lacks")
        want = "FROZEN" if frozen else "THAWED"
        deadline = time.monotonic() + FREEZE_TIMEOUT
        while True:
            fsio.write_file(rec["path"], want)
            now = (fsio.read_file(rec["path"]) or "").strip()
            if now == want:
                return
            if time.monotonic() > deadline:
                if frozen:
                    fsio.write_file(rec["path"], "THAWED")
                raise LaminaError(f"the container's cgroup did not become {want} within "
                                  f"{FREEZE_TIMEOUT:.0f}s ({rec['path']} is {now})")
            time.sleep(0.01)

    def pids_dir(self) -> str | None:
        for c in ("pids", "freezer", "memory", "cpu"):
            d = self.dir_for(c)
            if d:
                return d
        return next(iter(self.dirs.values()), None)

    def pids(self) -> list[int]:
        d = self.pids_dir()
        return fsio.procs(d) if d else []

    def stats(self, controllers: set[str]) -> dict:
        from lamina.plugins.cgroups import stats  # only `events --stats` reads counters

        return stats.v1(self.dir_for, controllers)

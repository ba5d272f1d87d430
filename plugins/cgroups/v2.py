"""cgroup v2: one directory in the unified hierarchy; controllers are made available to it by
writing "+name" into cgroup.subtree_control of every ancestor, from the root down."""

from __future__ import annotations

import os
import signal as signals
import time

from lamina.errors import LaminaError
from lamina.plugins.cgroups import fsio
from lamina.plugins.cgroups.backend import Backend

FREEZE_TIMEOUT = 10.0


class V2Backend(Backend):
    version = 2

    def __init__(self, mount: str, directory: str, controllers: set[str]) -> None:
        self.mount = mount
        self.dir = directory
        self.controllers = controllers  # those this back-end manages (all, on a unified host)

    def directories(self) -> list[str]:
        return [self.dir]

    def placements(self) -> list[tuple[str, str]]:
        return [(self.mount, self.dir)]

    def dir_for(self, controller: str) -> str | None:
        return self.dir if controller in self.controllers or controller == "cgroup" else None

    def enable(self, controllers: set[str], all_available: bool = False) -> None:
        """Enable ``controllers`` (every available one with ``all_available``, as runc does on a
        unified host, so that `update` and `events` find every file later) in each ancestor's
        cgroup.subtree_control. A requested controller that cannot be enabled is an error."""
        wanted = {c for c in controllers if c in self.controllers and c not in ("freezer", "devices")}
        rel = os.path.relpath(self.dir, self.mount)
        parts = [] if rel == "." else rel.split("/")
        cur = self.mount
        for part in parts:
            available = set((fsio.read_file(os.path.join(cur, "cgroup.controllers")) or "").split())
            enabled = set((fsio.read_file(os.path.join(cur, "cgroup.subtree_control")) or "").split())
            missing = wanted - available
            if missing:
                have = " ".join(sorted(available)) or "none"
                raise LaminaError(f"the {', '.join(sorted(missing))} controller is not available in "
                                  f"cgroup {cur} (its cgroup.controllers: {have})")
            todo = (available if all_available else wanted) - enabled
            for c in sorted(todo):
                try:
                    fsio.write_file(os.path.join(cur, "cgroup.subtree_control"), f"+{c}")
                except OSError as e:
                    if c in wanted:
                        why = (" (that cgroup has processes of its own, and cgroup v2 lets only "
                               "leaves hold processes)") if e.errno == 16 else ""
                        raise LaminaError(f"cannot enable the {c} controller in "
                                          f"{cur}/cgroup.subtree_control: {e.strerror.lower()}{why}"
                                          ) from None
            cur = os.path.join(cur, part)

    def can_freeze(self) -> bool:
        return True

    def freezer_record(self) -> dict | None:
        return {"path": os.path.join(self.dir, "cgroup.freeze"), "frozen": "1"}

    def freeze(self, frozen: bool) -> None:
        """Write cgroup.freeze, then wait until cgroup.events reports the whole subtree frozen
        (or thawed): the write only asks, each task stops at its next safe point."""
        want = "1" if frozen else "0"
        path = os.path.join(self.dir, "cgroup.freeze")
        try:
            fsio.write_file(path, want)
        except OSError as e:
            raise LaminaError(f"cannot {'freeze' if frozen else 'thaw'} cgroup {self.dir}: "
                              f"{e.strerror.lower()}") from None
        deadline = time.monotonic() + FREEZE_TIMEOUT
        while True:
            events = fsio.read_kv(os.path.join(self.dir, "cgroup.events"))
            if str(events.get("frozen", "")) == want:
                return
            if time.monotonic() > deadline:
                if frozen:
                    fsio.write_file(path, "0")
                raise LaminaError(f"the container's cgroup {self.dir} did not "
                                  f"{'freeze' if frozen else 'thaw'} within {FREEZE_TIMEOUT:.0f}s")
            time.sleep(0.002)

    def pids(self) -> list[int]:
        return fsio.procs(self.dir)

    def kill(self, sig: int) -> None:
        """SIGKILL through cgroup.kill (Linux 5.14): one write kills the whole subtree, and no
        process can fork its way out of it."""
        if sig == signals.SIGKILL and os.path.exists(os.path.join(self.dir, "cgroup.kill")):
            try:
                fsio.write_file(os.path.join(self.dir, "cgroup.kill"), "1")
                return
            except OSError:
                pass
        self.signal_all(sig)

    def populated(self) -> bool:
        return fsio.read_kv(os.path.join(self.dir, "cgroup.events")).get("populated", 0) == 1

    def remove(self, created: set[str]) -> list[str]:
        if os.path.isdir(self.dir) and self.populated():
            self.kill(signals.SIGKILL)
        return super().remove(created)

    def stats(self, controllers: set[str]) -> dict:
        from lamina.plugins.cgroups import stats  # only `events --stats` reads counters

        return stats.v2(self.dir, controllers)

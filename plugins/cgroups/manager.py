"""The container's cgroup across the host's hierarchies: which back-end does what, and the
record of it kept in state.json (so later verbs need no detection and touch only what create
made).

On a v1 host everything goes to the v1 back-end; on a unified host to the v2 one. On a hybrid
host the v1 back-end manages the v1 controllers and the v2 back-end the cgroup2 directory: it
holds every process of the container too (so cgroup.kill reaches them all at once) and the
controllers no v1 hierarchy has.
"""

from __future__ import annotations

import os
import signal as signals

from lamina.errors import LaminaError
from lamina.plugins.cgroups import fsio
from lamina.plugins.cgroups.backend import Backend
from lamina.plugins.cgroups.layout import Layout
from lamina.plugins.cgroups.v1 import V1Backend
from lamina.plugins.cgroups.v2 import V2Backend


class Manager:
    def __init__(self, layout: Layout, paths: dict[str, str]) -> None:
        self.layout = layout
        self.paths = paths  # mountpoint -> the container's directory, for every hierarchy
        v1_dirs = {m: d for m, d in paths.items() if m != layout.v2_mount}
        v1_homes = {c: m for c, (m, v) in layout.homes.items() if v == 1}
        self.v1 = V1Backend(v1_dirs, v1_homes) if v1_dirs else None
        self.v2 = None
        if layout.v2_mount and layout.v2_mount in paths:
            self.v2 = V2Backend(layout.v2_mount, paths[layout.v2_mount],
                                {c for c, (_, v) in layout.homes.items() if v == 2})

    # ------------------------------------------------------------------ record

    def record(self) -> dict:
        lay = self.layout
        return {"mode": lay.mode, "v2_mount": lay.v2_mount, "paths": self.paths,
                "homes": {c: list(h) for c, h in lay.homes.items()}, "procs_dir": self.procs_dir()}

    @classmethod
    def from_record(cls, rec: dict) -> Manager:
        homes = {c: (h[0], int(h[1])) for c, h in (rec.get("homes") or {}).items()}
        layout = Layout(rec.get("mode", "v1"), (), homes, rec.get("v2_mount"))
        return cls(layout, dict(rec.get("paths") or {}))

    # ------------------------------------------------------------------ which back-end

    def backends(self) -> list[Backend]:
        return [b for b in (self.v1, self.v2) if b is not None]

    def backend_for(self, controller: str) -> Backend | None:
        v = self.layout.version(controller)
        return self.v1 if v == 1 else self.v2 if v == 2 else None

    def procs_dir(self) -> str | None:
        """The directory whose subtree lists every process of the container (read by `ps`)."""
        if self.v2 is not None:
            return self.v2.dir
        return self.v1.pids_dir() if self.v1 else None

    # the Probe the controller planners ask (see lamina.plugins.cgroups.controllers)
    def exists(self, controller: str, name: str) -> bool:
        b = self.backend_for(controller)
        return b is not None and b.exists(controller, name)

    def read(self, controller: str, name: str) -> str | None:
        b = self.backend_for(controller)
        return b.read(controller, name) if b else None

    # ------------------------------------------------------------------ create

    def check_fresh(self) -> None:
        for b in self.backends():
            b.check_fresh()

    def missing(self) -> list[tuple[int, str]]:
        """(cgroup version, directory) of every level of every placement that does not exist
        yet, parents first: what create() will make."""
        out = []
        for b in self.backends():
            for mnt, path in b.placements():
                rel = os.path.relpath(path, mnt)
                cur = mnt
                for part in [] if rel == "." else rel.split("/"):
                    cur = os.path.join(cur, part)
                    if not os.path.isdir(cur):
                        out.append((b.version, cur))
        return out

    def create(self, planned: list[tuple[int, str]], made: list[str]) -> None:
        """mkdir what missing() planned. ``made`` already lists all of it (persisted once, before
        the first mkdir, so a runtime killed midway leaves a record; removing a recorded
        directory that was never made is a no-op)."""
        for version, cur in planned:
            _make(version, cur, made)

    def enable(self, controllers: set[str]) -> None:
        if self.v2 is not None:
            names = {"io" if c == "blkio" else c for c in controllers}
            self.v2.enable(names, all_available=self.layout.mode == "unified")

    def join(self, pid: int) -> None:
        for b in self.backends():
            b.join(pid)

    def file_of(self, w: fsio.Write) -> str | None:
        b = self.backend_for(w.controller)
        d = b.dir_for(w.controller) if b else None
        return os.path.join(d, w.file) if d else None

    def apply(self, writes: list[fsio.Write]) -> None:
        for w in writes:
            b = self.backend_for(w.controller)
            if b is None:
                raise LaminaError(f"{w.field}: no cgroup hierarchy of this host has the {w.controller} "
                                  f"controller ({self.layout.describe()})")
            b.write(w)

    # ------------------------------------------------------------------ running container

    def freezer(self) -> Backend | None:
        return self.backend_for("freezer")

    def freezer_record(self) -> dict | None:
        b = self.freezer()
        return b.freezer_record() if b else None

    def freeze(self, frozen: bool) -> None:
        b = self.freezer()
        if b is None:
            raise LaminaError("pause needs a freezer (the v1 freezer controller, or cgroup v2), "
                              "which this host lacks")
        b.freeze(frozen)

    def pids(self) -> list[int]:
        d = self.procs_dir()
        return fsio.procs(d) if d else []

    def kill(self, sig: int) -> None:
        """Signal every process. SIGKILL goes through the cgroup2 directory when there is one
        (cgroup.kill: all at once, no fork escapes); other signals through the back-end with
        the freezer, which freezes, signals and thaws. A v1-frozen task dies only once thawed,
        so SIGKILL thaws too."""
        frz = self.freezer()
        if sig == signals.SIGKILL and self.v2 is not None:
            self.v2.kill(sig)
        else:
            b = frz or self.v1 or self.v2
            if b is not None:
                b.kill(sig)
        if sig == signals.SIGKILL and frz is not None and frz.is_frozen():
            frz.thaw_quietly()

    def remove(self, created: list[str]) -> list[str]:
        made = set(created)
        b = self.freezer()
        if b is not None and os.path.isdir(os.path.dirname(b.freezer_record()["path"])):
            b.thaw_quietly()
        try:
            self.kill(signals.SIGKILL)
        except (LaminaError, OSError):
            pass
        errors = []
        for b in self.backends():
            errors += b.remove(made)
        leaves = set(self.paths.values())
        for path in sorted(made - leaves, key=len, reverse=True):
            try:
                os.rmdir(path)  # a parent made for this container: gone once no sibling needs it
            except OSError:
                pass
        return errors

    def stats(self) -> dict:
        out: dict = {}
        for b in self.backends():
            have = {c for c, (_, v) in self.layout.homes.items() if v == b.version}
            if b is self.v2 and self.v1 is not None:
                # hybrid: only the controllers really enabled for the container's cgroup2
                have &= set((fsio.read_file(os.path.join(b.dir, "cgroup.controllers")) or "").split())
            elif b is self.v2:
                have.add("cpu")  # cpu.stat is there even without the cpu controller
            for k, v in b.stats(have).items():
                out.setdefault(k, v)
        return out



def _make(version: int, cur: str, made: list[str], depth: int = 0) -> None:
    """mkdir one cgroup directory. One that someone else made meanwhile is not ours: dropped
    from ``made``. A parent that vanished (a sibling container that made it was deleted meanwhile
    and removed it as unused) is made again, recorded as ours, and the mkdir retried."""
    try:
        os.mkdir(cur, 0o755)
    except FileExistsError:
        if cur in made:
            made.remove(cur)
        return
    except FileNotFoundError:
        parent = os.path.dirname(cur)
        if depth > 16 or parent == cur:
            raise LaminaError(f"linux.cgroupsPath: cannot create {cur}: no such file or directory") from None
        if parent not in made:
            made.insert(0, parent)
        _make(version, parent, made, depth + 1)
        _make(version, cur, made, depth + 1)
        return
    except OSError as e:
        raise LaminaError(f"linux.cgroupsPath: cannot create {cur}: {e.strerror.lower()}") from None
    if version == 1:
        _inherit_cpuset(cur)

def _inherit_cpuset(path: str) -> None:
    """A new v1 cpuset cgroup starts with no cpus and no mems, and no task may join it (ENOSPC)
    until both are set: copy them from the parent, as the kernel's clone_children would."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        mine = os.path.join(path, name)
        if not os.path.exists(mine):
            return
        if (fsio.read_file(mine) or "").strip():
            continue
        parent = os.path.dirname(path)
        value = (fsio.read_file(os.path.join(parent, name)) or "").strip()
        if not value and os.path.exists(os.path.join(os.path.dirname(parent), name)):
            # a parent a sibling container has just made and not filled yet: fill it first
            _inherit_cpuset(parent)
            value = (fsio.read_file(os.path.join(parent, name)) or "").strip()
        fsio.write_file(mine, value)

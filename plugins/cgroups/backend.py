"""The one interface both cgroup versions implement for a container's cgroup.

A back-end holds the container's directories in the hierarchies of one version and knows that
version's files: how to put a process in, freeze, list, signal, remove, and read counters.
The manager (lamina.plugins.cgroups.manager) picks the back-end that manages each controller;
on a hybrid host both are in play (v1 for the v1 controllers, v2 for the cgroup2 mount).
"""

from __future__ import annotations

import errno
import os
import signal as signals
import time
from abc import ABC, abstractmethod

from lamina.errors import LaminaError
from lamina.plugins.cgroups import fsio

REMOVE_TIMEOUT = 5.0


class Backend(ABC):
    version: int

    @abstractmethod
    def directories(self) -> list[str]:
        """The container's cgroup directories in this back-end's hierarchies."""

    @abstractmethod
    def placements(self) -> list[tuple[str, str]]:
        """(mountpoint, directory) of each of the container's cgroups in this back-end."""

    @abstractmethod
    def dir_for(self, controller: str) -> str | None:
        """The directory whose files belong to ``controller``, if this back-end manages it."""

    def check_fresh(self) -> None:
        """Refuse a cgroup that exists already with processes in it, or frozen: the container
        would share limits with strangers, or never run."""
        for d in self.directories():
            if not os.path.isdir(d):
                continue
            found = fsio.procs(d)
            if found:
                raise LaminaError(f"linux.cgroupsPath: cgroup {d} already has processes ({len(found)}: "
                                  f"{', '.join(map(str, found[:5]))}); refusing to share it")
        if self.can_freeze() and self.is_frozen():
            raise LaminaError(f"linux.cgroupsPath: cgroup {self.freezer_record()['path']} is frozen; "
                              "a container created in it could never run (thaw it or use another path)")

    def enable(self, controllers: set[str], all_available: bool = False) -> None:  # noqa: B027
        """Make ``controllers`` available in the container's cgroup (v2: subtree_control); v1
        hierarchies have every controller in every cgroup already."""

    def join(self, pid: int) -> None:
        for d in self.directories():
            try:
                fsio.write_file(os.path.join(d, "cgroup.procs"), str(pid))
            except OSError as e:
                raise LaminaError(f"cannot move process {pid} into cgroup {d}: "
                                  f"{e.strerror.lower()}") from None

    def write(self, w: fsio.Write) -> None:
        d = self.dir_for(w.controller)
        if d is None:
            raise LaminaError(f"{w.field}: no cgroup hierarchy of this host has the {w.controller} "
                              "controller")
        fsio.apply(d, w)

    def exists(self, controller: str, name: str) -> bool:
        d = self.dir_for(controller)
        return d is not None and os.path.exists(os.path.join(d, name))

    def read(self, controller: str, name: str) -> str | None:
        d = self.dir_for(controller)
        return fsio.read_file(os.path.join(d, name)) if d else None

    @abstractmethod
    def can_freeze(self) -> bool: ...

    @abstractmethod
    def freezer_record(self) -> dict | None:
        """{"path": file, "frozen": value}: what lamina.state reads to report "paused"."""

    def is_frozen(self) -> bool:
        rec = self.freezer_record()
        return bool(rec) and (fsio.read_file(rec["path"]) or "").strip() == rec["frozen"]

    @abstractmethod
    def freeze(self, frozen: bool) -> None: ...

    @abstractmethod
    def pids(self) -> list[int]: ...

    def signal_all(self, sig: int) -> None:
        """Send ``sig`` to every process, frozen meanwhile so none forks past the signal."""
        frozen_here = False
        if self.can_freeze() and not self.is_frozen():
            try:
                self.freeze(True)
                frozen_here = True
            except LaminaError:
                pass
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if frozen_here:
                self.thaw_quietly()

    def thaw_quietly(self) -> None:
        if self.can_freeze():
            try:
                self.freeze(False)
            except (LaminaError, OSError):
                pass

    def kill(self, sig: int) -> None:
        self.signal_all(sig)

    def remove(self, created: set[str]) -> list[str]:
        """Kill what is left and remove the directories lamina created (with the sub-cgroups
        the container made in them), retrying while the kernel still reports them busy."""
        errors = []
        for d in self.directories():
            if not os.path.isdir(d):
                continue
            deadline = time.monotonic() + REMOVE_TIMEOUT
            while True:
                for pid in fsio.procs(d):
                    try:
                        os.kill(pid, signals.SIGKILL)
                    except ProcessLookupError:
                        pass
                reap_children()
                err = rmdir_tree(d, keep_top=d not in created)
                if err is None:
                    break
                if err.errno != errno.EBUSY or time.monotonic() > deadline:
                    errors.append(f"cannot remove cgroup {err.filename}: {err.strerror.lower()}")
                    break
                time.sleep(0.005)
        return errors

    @abstractmethod
    def stats(self, controllers: set[str]) -> dict:
        """runc's stats object (types.Stats), for the controllers given that this back-end has."""


def rmdir_tree(top: str, keep_top: bool) -> OSError | None:
    """rmdir every cgroup below ``top``, deepest first, then ``top`` itself unless kept."""
    for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -t[0].count("/")):
        if dirpath == top and keep_top:
            continue
        try:
            os.rmdir(dirpath)
        except FileNotFoundError:
            pass
        except OSError as e:
            e.filename = dirpath
            return e
    return None


def reap_children() -> None:
    """Collect our own dead children (a foreground `run` is the container's subreaper), so their
    zombies do not keep the cgroup busy."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass

"""The three runtimes under test, their private state roots, bundles and cleanup.

Every runtime runs the same bundle config: one busybox rootfs made with lamina.testing, and one
small bundle directory per container id whose config.json differs only in ``linux.cgroupsPath``
(``/lamina-bench/<id>``, so parallel containers never share a cgroup) and points ``root.path`` at the
shared rootfs. ``ociVersion`` is 1.0.2 because crun 1.8 refuses the 1.2.0 that lamina's default spec
writes.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import shutil
import time
from dataclasses import dataclass, field

import _reaper

WORK = "/var/tmp/lamina-bench"
CGROUP_PARENT = "lamina-bench"
CGROUP_BASE = "/sys/fs/cgroup"
UNIFIED = "/sys/fs/cgroup/unified"
OCI_VERSION = "1.0.2"


def crun_needs_private_ns() -> bool:
    """crun refuses hybrid cgroups; hiding the (empty) cgroup2 mount in a private mount namespace
    makes the host look like plain cgroup v1 to it. Only on hybrid hosts."""
    return os.path.ismount(UNIFIED) and os.path.ismount(os.path.join(CGROUP_BASE, "memory"))


@dataclass
class Runtime:
    name: str
    binary: str
    root: str
    private_ns: bool = False
    skipped: str | None = None
    ids: list[str] = field(default_factory=list)

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, *args]

    def cmd(self, *args: str) -> str:
        return shlex.join(self.argv(*args))

    def wrap(self, argv: list[str]) -> list[str]:
        """argv as it must be run for this runtime (crun: in a mount namespace without cgroup2)."""
        if not self.private_ns:
            return argv
        return ["unshare", "-m", "sh", "-c", f"umount {UNIFIED} && exec {shlex.join(argv)}"]

    def call(self, *args: str, timeout: float = 60.0) -> _reaper.Result:
        return _reaper.run(self.wrap(self.argv(*args)), timeout=timeout)

    def version(self) -> str:
        r = _reaper.run([self.binary, "--version"], timeout=20)
        first = (r.stdout.strip().splitlines() or ["?"])[0]
        return first

    def pid_of(self, cid: str) -> int:
        r = self.call("state", cid)
        if r.returncode != 0:
            raise RuntimeError(f"{self.name} state {cid}: {r.last_error_line()}")
        return int(json.loads(r.stdout)["pid"])


class Workspace:
    """One bench run's files under /var/tmp/lamina-bench/<token>: the rootfs, bundles, state roots."""

    def __init__(self) -> None:
        self.token = f"lb{os.getpid()}"
        self.dir = os.path.join(WORK, self.token)
        self.bundles = os.path.join(self.dir, "bundles")
        self.rootfs = ""
        self.template: dict = {}
        self.cgroup_parents_before = set(self._cgroup_parents())

    def setup(self) -> None:
        from lamina import testing

        os.makedirs(self.bundles, exist_ok=True)
        b = testing.make_bundle(self.dir, args=["/bin/true"], cid="template")
        self.rootfs = b.rootfs
        cfg = b.config
        cfg["ociVersion"] = OCI_VERSION
        cfg["root"]["path"] = self.rootfs
        self.template = cfg

    def root_for(self, name: str) -> str:
        path = os.path.join(self.dir, f"root-{name}")
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def bundle(self, cid: str, args: list[str]) -> str:
        """A bundle directory for container ``cid`` running ``args``."""
        import copy

        cfg = copy.deepcopy(self.template)
        cfg["process"]["args"] = args
        cfg["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{cid}"
        path = os.path.join(self.bundles, cid)
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(cfg, f)
        return path

    # ------------------------------------------------------------------ cleanup

    def cleanup(self, runtimes: list[Runtime]) -> list[str]:
        """Force-delete every container of this run, remove its cgroups and files; the problems."""
        problems: list[str] = []
        for rt in runtimes:
            if not os.path.isdir(rt.root):
                continue
            for cid in sorted(os.listdir(rt.root)):
                if not cid.startswith(self.token):
                    continue
                r = rt.call("delete", "--force", cid, timeout=60)
                if r.returncode != 0 and os.path.exists(os.path.join(rt.root, cid)):
                    problems.append(f"{rt.name} delete --force {cid}: {r.last_error_line()}")
        _reaper.reap_orphans()
        problems += self._remove_cgroups()
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            os.rmdir(WORK)
        except OSError:
            pass  # another bench run's files are there
        return problems

    def _cgroup_parents(self) -> list[str]:
        return glob.glob(os.path.join(CGROUP_BASE, "*", CGROUP_PARENT))

    def _remove_cgroups(self) -> list[str]:
        """Our containers' cgroups (a runtime may leave one behind), then the parents we made."""
        problems = []
        leftovers = glob.glob(os.path.join(CGROUP_BASE, "*", CGROUP_PARENT, f"{self.token}-*"))
        for path in sorted(leftovers, key=len, reverse=True):
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    err = e
                    time.sleep(0.02)
            else:
                problems.append(f"cannot remove cgroup {path}: {err.strerror}")
        for parent in self._cgroup_parents():
            if parent in self.cgroup_parents_before:
                continue
            if any(e.is_dir() for e in os.scandir(parent)):
                continue  # another bench run's containers: that run removes the parent
            try:
                os.rmdir(parent)
            except OSError as e:
                problems.append(f"cannot remove cgroup {parent}: {e.strerror}")
        return problems

"""Where a container's cgroup files are on this host, found without lamina's own code (from
/proc/self/mountinfo), so the cgroup tests check the kernel's files against expectations of
their own on any layout: v1, hybrid (v1 plus a cgroup2 at /sys/fs/cgroup/unified) or unified v2.

On a hybrid host a controller that no v1 hierarchy has but the cgroup2 offers (hugetlb on the
project's machines) lives in the cgroup2, as lamina manages it there.
"""

from __future__ import annotations

import glob
import os

ROOT = "/sys/fs/cgroup"


class HostCgroups:
    def __init__(self) -> None:
        self.v1: dict[str, str] = {}  # controller -> mountpoint
        self.v2: str | None = None
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                mnt = left.split()[4]
                fstype, _src, opts = right.split()[:3]
                if not mnt.startswith(ROOT):
                    continue
                if fstype == "cgroup2":
                    self.v2 = mnt
                elif fstype == "cgroup":
                    for o in opts.split(","):
                        if o not in ("rw", "ro") and "=" not in o:
                            self.v1.setdefault(o, mnt)
        self.unified = self.v2 == ROOT and not self.v1
        self.v2_controllers = set()
        if self.v2:
            with open(os.path.join(self.v2, "cgroup.controllers")) as f:
                self.v2_controllers = set(f.read().split())

    @property
    def mode(self) -> str:
        return "unified" if self.unified else "hybrid" if self.v2 else "v1"

    def version(self, controller: str) -> int | None:
        """1 or 2: the version of the hierarchy that manages ``controller`` here (None: absent)."""
        if controller in self.v1:
            return 1
        name = "io" if controller == "blkio" else controller
        if self.v2 and (name in self.v2_controllers or controller in ("freezer", "devices")):
            return 2
        return None

    def dir(self, controller: str, cgroup: str) -> str:
        v = self.version(controller)
        assert v is not None, f"no {controller} controller on this host"
        mnt = self.v1[controller] if v == 1 else self.v2
        return os.path.join(mnt, cgroup.lstrip("/"))

    def path(self, controller: str, cgroup: str, name: str) -> str:
        return os.path.join(self.dir(controller, cgroup), name)

    def read(self, controller: str, cgroup: str, name: str) -> str:
        with open(self.path(controller, cgroup, name)) as f:
            return f.read().strip()

    def has(self, controller: str, cgroup: str, name: str) -> bool:
        return self.version(controller) is not None and os.path.exists(self.path(controller, cgroup, name))

    def all_dirs(self, cgroup: str) -> list[str]:
        """Every directory of ``cgroup`` in every hierarchy (what must be gone after delete)."""
        rel = cgroup.strip("/")
        return glob.glob(f"{ROOT}/*/{rel}") + glob.glob(f"{ROOT}/{rel}")


def _openable(name: str) -> bool:
    try:
        os.close(os.open(f"/dev/{name}", os.O_RDONLY | os.O_CLOEXEC))
        return True
    except OSError:
        return False


def block_device() -> tuple[str, int, int]:
    """A whole block device of this machine (name, major, minor) that root can open here (a
    sandbox may keep even root off the system disk): the throttles and device rules need a real
    one. Loop devices come last: they exist only while their driver is loaded."""
    found = []
    for d in sorted(os.listdir("/sys/block")):
        try:
            with open(f"/sys/block/{d}/dev") as f:
                major, minor = (int(x) for x in f.read().strip().split(":"))
        except OSError:
            continue
        if _openable(d):
            found.append((d.startswith("loop"), d, major, minor))
    assert found, "no block device that can be opened"
    _, name, major, minor = sorted(found)[0]
    return name, major, minor

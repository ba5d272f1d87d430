"""`lamina spec`: a starting config.json in the shape runc writes, so existing docs and habits
carry over. Refuses to overwrite an existing file (the author's edits would be lost)."""

from __future__ import annotations

import json
import os
from typing import Any

from lamina import OCI_VERSION
from lamina.errors import LaminaError

# no inheritable and no ambient set: as runc >= 1.2 (an ambient capability cannot be raised
# without the inheritable one, and inheritable never gains anything by default)
_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _unified_cgroup() -> bool:
    """True on a pure cgroup v2 host (cgroup2 mounted at /sys/fs/cgroup)."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def _namespaces() -> list[str]:
    # as `runc spec`: a cgroup namespace only on cgroup v2, where it hides the host's hierarchy
    # cleanly; on v1 and hybrid hosts clients expect the host's cgroup view by default
    names = ["pid", "network", "ipc", "uts", "mount"]
    return names + ["cgroup"] if _unified_cgroup() else names


def default_spec(rootless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(_CAPS) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "lamina",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in _namespaces()],
            "maskedPaths": list(MASKED),
            "readonlyPaths": list(READONLY),
        },
    }
    if rootless:
        _make_rootless(spec)
    return spec


def _make_rootless(spec: dict[str, Any]) -> None:
    """A config an unprivileged user can run, shaped as runc's: a user namespace mapping only the
    caller's ids, the host's network (an unprivileged user could not configure a new one), sysfs
    bound from the host (a new sysfs needs a network namespace owned by init's user ns), no gid=
    on devpts (the group does not exist in the namespace), no device cgroup rules."""
    linux = spec["linux"]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"] + [{"type": "user"}]
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.getuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getgid(), "size": 1}]
    linux.pop("resources", None)
    mounts = []
    for m in spec["mounts"]:
        if m["type"] == "sysfs":
            m = {"destination": "/sys", "type": "none", "source": "/sys",
                 "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
        elif "options" in m:
            m = dict(m, options=[o for o in m["options"] if not o.startswith("gid=")])
        mounts.append(m)
    spec["mounts"] = mounts


def write_spec(bundle: str, rootless: bool = False) -> str:
    path = os.path.join(bundle, "config.json")
    data = json.dumps(default_spec(rootless), indent="\t") + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise LaminaError(f"file {path} exists: remove it first") from None
    except OSError as e:
        raise LaminaError(f"cannot write {path}: {e.strerror.lower()}") from None
    with os.fdopen(fd, "w") as f:
        f.write(data)
    return path

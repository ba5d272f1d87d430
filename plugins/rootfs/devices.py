"""Device nodes in the container's /dev: the default set, linux.devices, links and ptmx."""

from __future__ import annotations

import errno
import os
import stat

from lamina import paths, syscalls
from lamina.errors import LaminaError

# the devices every container gets (runtime spec "Default Devices")
DEFAULT_DEVICES = [
    {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
    {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5},
    {"path": "/dev/full", "type": "c", "major": 1, "minor": 7},
    {"path": "/dev/random", "type": "c", "major": 1, "minor": 8},
    {"path": "/dev/urandom", "type": "c", "major": 1, "minor": 9},
    {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0},
]
LINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
         ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]
TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def check(dev: dict, where: str) -> list[str]:
    problems = []
    if dev["type"] not in TYPES:
        problems.append(f"{where}.type: unknown device type {dev['type']!r} (expected c, b, u or p)")
    elif dev["type"] != "p" and (dev.get("major") is None or dev.get("minor") is None):
        problems.append(f"{where}: major and minor are required for device type {dev['type']!r}")
    if not dev["path"].startswith("/"):
        problems.append(f"{where}.path: must be an absolute path, got {dev['path']!r}")
    elif not os.path.normpath(dev["path"]).startswith("/dev/"):
        problems.append(f"{where}.path: device nodes must be under /dev, got {dev['path']!r}")
    return problems


def _remove_existing(parent: int, name: str) -> None:
    """Whatever the image put there (a symlink to the host, a regular file) goes; a directory
    or mount point is an error."""
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise LaminaError(f"/dev/{name}: is a directory, cannot create a device node there")
    os.unlink(name, dir_fd=parent)


def create(rootfs: str, dev: dict, userns: bool) -> None:
    path = os.path.normpath(dev["path"])
    parent = paths.mkdir_all(rootfs, os.path.dirname(path))
    name = os.path.basename(path)
    try:
        _remove_existing(parent, name)
        mode = TYPES[dev["type"]] | (dev.get("fileMode") if dev.get("fileMode") is not None else 0o666)
        rdev = os.makedev(dev.get("major") or 0, dev.get("minor") or 0)
        try:
            if userns:
                raise PermissionError(errno.EPERM, "mknod not permitted in a user namespace")
            os.mknod(name, mode, rdev, dir_fd=parent)
            os.chmod(name, stat.S_IMODE(mode), dir_fd=parent)  # mknod applies the umask
            os.chown(name, dev.get("uid") or 0, dev.get("gid") or 0, dir_fd=parent, follow_symlinks=False)
        except PermissionError:
            _bind_from_host(parent, name, path)
    except OSError as e:
        raise LaminaError(f"device {path}: {e.strerror.lower()}") from None
    finally:
        os.close(parent)


def _bind_from_host(parent: int, name: str, path: str) -> None:
    """In a user namespace mknod is not allowed: bind the host's node of the same path."""
    fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600, dir_fd=parent)
    os.close(fd)
    tfd = syscalls.openat2(parent, name, os.O_PATH, syscalls.RESOLVE_BENEATH | syscalls.RESOLVE_NO_SYMLINKS)
    try:
        syscalls.mount(path, paths.host_path(tfd), None, syscalls.MS.BIND)
    finally:
        os.close(tfd)


def links(rootfs: str) -> None:
    """/dev/fd, /dev/std{in,out,err}, /dev/core and /dev/ptmx -> pts/ptmx."""
    dev = paths.mkdir_all(rootfs, "/dev")
    try:
        items = list(LINKS)
        if os.path.exists("/proc/kcore"):
            items.append(("/proc/kcore", "/dev/core"))
        items.append(("pts/ptmx", "/dev/ptmx"))
        for target, link in items:
            name = os.path.basename(link)
            try:
                _remove_existing(dev, name)
                os.symlink(target, name, dir_fd=dev)
            except OSError as e:
                raise LaminaError(f"{link}: cannot create symlink to {target}: "
                                  f"{e.strerror.lower()}") from None
    finally:
        os.close(dev)

"""Resolving paths inside a rootfs without ever leaving it.

Every path that comes from config.json is resolved with openat2(RESOLVE_IN_ROOT): symlinks,
absolute or relative, and `..` are interpreted as if the rootfs were `/`, so a malicious image
cannot point a mount or a mask at the host. Magic links (/proc/self/fd/N and the like) are
refused. Callers get an O_PATH fd and act on `/proc/self/fd/<fd>`, never on a path string that
could be swapped between check and use.
"""

from __future__ import annotations

import errno
import os
import stat

from lamina import syscalls

_RESOLVE = syscalls.RESOLVE_IN_ROOT | syscalls.RESOLVE_NO_MAGICLINKS


def _rel(path: str) -> str:
    return os.path.normpath("/" + path).lstrip("/") or "."


def open_in_root(rootfs: str, path: str, flags: int = os.O_PATH, nofollow: bool = False) -> int:
    """An fd for `path` resolved inside `rootfs`; OSError if it does not exist."""
    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return syscalls.openat2(rootfd, _rel(path), flags | (os.O_NOFOLLOW if nofollow else 0), _RESOLVE)
    finally:
        os.close(rootfd)


def host_path(fd: int) -> str:
    """The magic-link path that names an open fd (valid while the host's /proc is at /proc)."""
    return f"/proc/self/fd/{fd}"


def _inside(rootfd: int, fd: int) -> str:
    """Where an opened directory is, as a path inside the root (the kernel's own answer)."""
    rel = os.path.relpath(os.readlink(host_path(fd)), os.readlink(host_path(rootfd)))
    return "" if rel == "." else "/" + rel


def _dangling(dirfd: int, name: str) -> str | None:
    """The target of `name` in `dirfd` if it is a symlink (it resolved to nothing), else None."""
    try:
        return os.readlink(name, dir_fd=dirfd)
    except OSError:
        return None


def mkdir_all(rootfs: str, path: str, mode: int = 0o755) -> int:
    """Create every missing directory of `path` inside `rootfs`, one component at a time and each
    resolved inside it; return an O_PATH fd of the final directory. A dangling symlink on the
    way (an image's /var/run -> /run with no /run) is followed: its target is created, inside
    the root, as the kernel would resolve it."""
    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        cur = os.dup(rootfd)
        done = ""
        parts = _rel(path).split("/")
        links = 0
        while parts:
            part = parts.pop(0)
            if part in (".", ""):
                continue
            try:
                nxt = syscalls.openat2(rootfd, _rel(f"{done}/{part}"), os.O_PATH | os.O_DIRECTORY, _RESOLVE)
            except FileNotFoundError:
                target = _dangling(cur, part)
                if target is not None:
                    links += 1
                    if links > 40:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path) from None
                    # start again from the root with the link replaced by its target
                    base = "" if target.startswith("/") else _inside(rootfd, cur)
                    parts = _rel(f"{base}/{target}").split("/") + parts
                    os.close(cur)
                    cur, done = os.dup(rootfd), ""
                    continue
                # create it under the already-resolved parent, then resolve it again
                try:
                    os.mkdir(part, mode, dir_fd=cur)
                except FileExistsError:
                    pass
                nxt = syscalls.openat2(rootfd, _rel(f"{done}/{part}"), os.O_PATH | os.O_DIRECTORY, _RESOLVE)
            os.close(cur)
            cur, done = nxt, f"{done}/{part}"
        return cur
    finally:
        os.close(rootfd)


def ensure_file(rootfs: str, path: str, mode: int = 0o644, _links: int = 0) -> int:
    """Like mkdir_all for the parent, then create `path` as an empty file if missing (through a
    dangling symlink, its target)."""
    parent = mkdir_all(rootfs, os.path.dirname(_rel(path)) or ".")
    name = os.path.basename(_rel(path))
    try:
        try:
            return syscalls.openat2(parent, name, os.O_PATH, _RESOLVE)
        except FileNotFoundError:
            target = _dangling(parent, name)
            if target is not None:
                if _links >= 40:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path) from None
                if not target.startswith("/"):
                    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                    try:
                        target = f"{_inside(rootfd, parent)}/{target}"
                    finally:
                        os.close(rootfd)
                return ensure_file(rootfs, target, mode, _links + 1)
            pfd = os.open(host_path(parent), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, mode, dir_fd=pfd)
                os.close(fd)
            except FileExistsError:
                pass
            finally:
                os.close(pfd)
            return syscalls.openat2(parent, name, os.O_PATH, _RESOLVE)
    finally:
        os.close(parent)


def is_dir(fd: int) -> bool:
    return stat.S_ISDIR(os.fstat(fd).st_mode)


def exists(rootfs: str, path: str) -> bool:
    try:
        os.close(open_in_root(rootfs, path))
        return True
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return False
        raise

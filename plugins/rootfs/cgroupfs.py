"""A mount of type "cgroup": the container's view of the host's cgroup hierarchies.

Pure cgroup v2 host: one cgroup2 mount. v1 or hybrid host: a tmpfs with one directory per
hierarchy (and `unified` for the hybrid cgroup2). With a cgroup namespace each hierarchy is
mounted afresh, so it shows the namespace's root; without one, the container's own cgroup
directory is bind-mounted, never the whole host tree.
"""

from __future__ import annotations

import os

from lamina import cgroupinfo, paths
from lamina.errors import LaminaError
from lamina.plugins.rootfs import mounts
from lamina.syscalls import MS


def mount_cgroups(ctx, dest: str, o, deferred: list, where: str) -> None:
    from lamina.plugins.namespaces.plugin import namespaces

    rootfs = ctx.rootfs
    cgroupns = "cgroup" in namespaces(ctx.config)
    flags = o.flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RELATIME | MS.NOATIME)
    hier = cgroupinfo.host_hierarchies()
    own = cgroupinfo.own_cgroups()
    try:
        if cgroupinfo.is_unified(hier):
            _one(rootfs, dest, "cgroup2", cgroupinfo.ROOT, own.get("", "/"), cgroupns, flags, o.readonly)
            return
        fd = paths.mkdir_all(rootfs, dest)
        try:
            mounts._mount_fd("tmpfs", fd, "tmpfs", flags, mounts.fs_data(ctx, "tmpfs", ["mode=755"]))
        finally:
            os.close(fd)
        for h in hier:
            if h.mountpoint == cgroupinfo.ROOT or h.key not in own:
                continue
            sub = os.path.join(dest, os.path.relpath(h.mountpoint, cgroupinfo.ROOT))
            fstype = "cgroup2" if h.version == 2 else "cgroup"
            _one(rootfs, sub, fstype, h.mountpoint, own[h.key], cgroupns, flags, o.readonly,
                 opts=None if h.version == 2 else h.key)
        if o.readonly:
            deferred.append((dest, flags | MS.RDONLY))
    except OSError as e:
        raise LaminaError(f"{where}: cgroup mount on {dest}: {e.filename or ''} "
                          f"{e.strerror.lower()}") from None


def _one(rootfs, dest, fstype, host_mnt, own_path, cgroupns, flags, readonly, opts=None) -> None:
    fd = paths.mkdir_all(rootfs, dest)
    try:
        if cgroupns:
            mounts._mount_fd(fstype, fd, fstype, flags | (MS.RDONLY if readonly else 0), opts)
            return
        src = os.path.join(host_mnt, own_path.lstrip("/"))
        mounts._mount_fd(src, fd, None, MS.BIND, None)
    finally:
        os.close(fd)
    mounts._remount(rootfs, dest, flags | (MS.RDONLY if readonly else 0), bind=True)

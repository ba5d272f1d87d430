"""Making the mounts of config.json, each destination resolved inside the rootfs.

Every target is opened with lamina.paths (openat2, RESOLVE_IN_ROOT) and mounted on through its
fd, so a symlink in the image cannot redirect a mount to the host. Runs in the container's
mount namespace, before pivot_root, with the host's /proc at /proc.
"""

from __future__ import annotations

import errno
import os
import stat

from lamina import paths, syscalls
from lamina.errors import LaminaError
from lamina.plugins.rootfs import options as mopts
from lamina.syscalls import MS

# runc lets lxcfs bind these over /proc; nothing else but a real proc may go on or under /proc
PROC_BIND_ALLOWED = {"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
                     "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/pressure/cpu",
                     "/proc/pressure/io", "/proc/pressure/memory", "/proc/net/dev",
                     "/proc/sys/kernel/ns_last_pid"}


def destination(m: dict) -> str:
    """Destinations are absolute in the container; a relative one is taken relative to /."""
    # lstrip first: normpath keeps a leading "//" (POSIX), which would make "/proc" compare unequal
    return os.path.normpath("/" + m["destination"].lstrip("/"))


def _reopen(rootfs: str, dest: str) -> int:
    # an fd opened before a mount names what was covered; re-resolve to reach the new mount
    return paths.open_in_root(rootfs, dest)


def _mount_fd(source, fd: int, fstype, flags: int, data: str | None) -> None:
    syscalls.mount(source, paths.host_path(fd), fstype, flags, data)


def fs_data(ctx, fstype: str, options: list[str]) -> str | None:
    """The data string of a new mount: its own options, then those an LSM plugin asks for on
    this filesystem type (``ctx.scratch["lsm_mount_options"]``, fstype -> options; the selinux
    plugin puts linux.mountLabel there as ``context="..."``). An option the config already gives
    (same name before ``=``) is not added twice."""
    extra = (ctx.scratch.get("lsm_mount_options") or {}).get(fstype) or []
    given = {o.partition("=")[0] for o in options}
    return ",".join([*options, *(o for o in extra if o.partition("=")[0] not in given)]) or None


def _remount(rootfs: str, dest: str, flags: int, bind: bool) -> None:
    fd = _reopen(rootfs, dest)
    try:
        base = MS.REMOUNT | (MS.BIND if bind else 0)
        try:
            _mount_fd(None, fd, None, base | flags, None)
        except PermissionError:
            # in a user namespace the flags the mount already has are locked: keep them
            st = os.statvfs(paths.host_path(fd))
            keep = st.f_flag & (MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RDONLY | MS.NOATIME | MS.NODIRATIME)
            _mount_fd(None, fd, None, base | flags | keep, None)
    finally:
        os.close(fd)


def _target(rootfs: str, dest: str, want_file: bool, must_be_dir: bool, what: str) -> int:
    """Open (creating if missing) the mount point; for proc/sysfs it must be a real directory."""
    if must_be_dir:
        try:
            fd = paths.open_in_root(rootfs, dest, nofollow=True)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise LaminaError(f"{what}: {dest} is a symlink inside the rootfs; refusing to mount "
                                  "there (it must be a real directory)") from None
            if e.errno != errno.ENOENT:
                raise
        else:
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):  # O_PATH|O_NOFOLLOW opens the link itself
                os.close(fd)
                raise LaminaError(f"{what}: {dest} is a symlink inside the rootfs; refusing to mount "
                                  "there (it must be a real directory)")
            if not stat.S_ISDIR(mode):
                os.close(fd)
                raise LaminaError(f"{what}: {dest} is not a directory inside the rootfs; refusing to mount "
                                  "there")
            return fd
    if want_file:
        return paths.ensure_file(rootfs, dest)
    return paths.mkdir_all(rootfs, dest)


def check(m: dict, where: str) -> list[str]:
    """Validation of one mount entry (no side effects)."""
    problems = []
    dest = destination(m)
    o = mopts.parse(m.get("options") or [])
    for u in o.unsupported:
        problems.append(f"{where}.options: {u!r} is not supported by lamina")
    if m.get("uidMappings") or m.get("gidMappings"):
        problems.append(f"{where}.uidMappings: id-mapped mounts are not supported by lamina")
    mtype = m.get("type") or ""
    if not o.bind and not mtype:
        problems.append(f"{where}.type: is required unless options contain \"bind\" or \"rbind\"")
    if dest == "/":
        problems.append(f"{where}.destination: cannot mount over the container's root")
    if (dest == "/proc" or dest.startswith("/proc/")) and mtype != "proc":
        if not (o.bind and dest in PROC_BIND_ALLOWED):
            problems.append(f"{where}.destination: only a proc mount may be placed on {dest}")
    if mtype == "proc" and o.bind:
        problems.append(f"{where}: a proc mount cannot be a bind mount")
    if o.bind and not m.get("source"):
        problems.append(f"{where}.source: a bind mount needs a source")
    return problems


def _refuse_proc_cover(rootfs: str, fd: int, dest: str, mtype: str, bind: bool, where: str) -> None:
    """`check` sees only the destination as written; through a symlink in the image
    (rootfs/p -> /proc) it may still resolve onto procfs. Only a real proc (or an allowed
    lxcfs-style bind) may cover it, or the masks and LSM writes made under /proc later would
    land on the cover (the CVE-2019-19921 class). Closes fd when it refuses."""
    if mtype == "proc":
        return
    rel = os.path.relpath(os.readlink(paths.host_path(fd)), os.path.realpath(rootfs))
    inside = "/" if rel == "." else "/" + rel
    if (inside == "/proc" or inside.startswith("/proc/")) and not (bind and inside in PROC_BIND_ALLOWED):
        os.close(fd)
        raise LaminaError(f"{where}.destination: {dest} resolves to {inside} inside the rootfs; "
                          "only a proc mount may be placed there")


def mount_one(ctx, index: int, m: dict, deferred: list) -> None:
    rootfs = ctx.rootfs
    where = f"mounts[{index}]"
    dest = destination(m)
    o = mopts.parse(m.get("options") or [])
    mtype = m.get("type") or ""
    source = m.get("source") or mtype or "none"
    if mtype == "cgroup" and not o.bind:
        from lamina.plugins.rootfs.cgroupfs import mount_cgroups

        mount_cgroups(ctx, dest, o, deferred, where)
        return
    if o.bind:
        if not os.path.isabs(source):
            source = os.path.join(ctx.bundle, source)
        try:
            src_is_dir = stat.S_ISDIR(os.stat(source).st_mode)
        except OSError as e:
            raise LaminaError(f"{where}: bind source {source}: {e.strerror.lower()}") from None
        fd = _target(rootfs, dest, want_file=not src_is_dir, must_be_dir=False, what=where)
        _refuse_proc_cover(rootfs, fd, dest, mtype, True, where)
        try:
            _mount_fd(source, fd, mtype if mtype not in ("bind", "none", "") else None,
                      MS.BIND | (o.flags & MS.REC), None)
        except OSError as e:
            raise LaminaError(f"{where}: bind {source} on {dest}: {e.strerror.lower()}") from None
        finally:
            os.close(fd)
        extra = o.flags & ~(MS.BIND | MS.REC | MS.REMOUNT)
        if extra:
            try:
                _remount(rootfs, dest, extra, bind=True)
            except OSError as e:
                raise LaminaError(f"{where}: remount {dest} with its options: {e.strerror.lower()}") from None
    else:
        fd = _target(rootfs, dest, want_file=False, must_be_dir=mtype in ("proc", "sysfs"), what=where)
        _refuse_proc_cover(rootfs, fd, dest, mtype, False, where)
        flags = o.flags
        if mtype == "tmpfs" and o.readonly:
            # populated first (devices, sub-mounts, tmpcopyup), made read-only in finalize
            flags &= ~MS.RDONLY
            deferred.append((dest, flags | MS.RDONLY))
        try:
            _mount_fd(source, fd, mtype, flags & ~MS.REMOUNT, fs_data(ctx, mtype, o.data))
        except OSError as e:
            raise LaminaError(f"{where}: mount {source} on {dest} (type {mtype}): "
                              f"{e.strerror.lower()}") from None
        try:
            if "tmpcopyup" in o.extra:
                _copy_up(fd, _reopen(rootfs, dest))
        finally:
            os.close(fd)
    for prop in o.propagation:
        pfd = _reopen(rootfs, dest)
        try:
            _mount_fd(None, pfd, None, prop, None)
        except OSError as e:
            raise LaminaError(f"{where}: set propagation of {dest}: {e.strerror.lower()}") from None
        finally:
            os.close(pfd)


def _copy_up(under: int, over: int) -> None:
    """tmpcopyup (podman): copy what the image had at the mount point into the new tmpfs."""
    import shutil

    try:
        shutil.copytree(paths.host_path(under), paths.host_path(over), symlinks=True, dirs_exist_ok=True)
        st = os.stat(paths.host_path(under))
        os.chmod(paths.host_path(over), stat.S_IMODE(st.st_mode))
        os.chown(paths.host_path(over), st.st_uid, st.st_gid)
    finally:
        os.close(over)


def remount_readonly(rootfs: str, dest: str, flags: int) -> None:
    _remount(rootfs, dest, flags | MS.RDONLY, bind=False)

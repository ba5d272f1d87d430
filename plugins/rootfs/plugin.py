"""Built-in plugin: the container's root filesystem, mounts, /dev, masks and pivot_root."""

from __future__ import annotations

import errno
import os
import stat

from lamina import hookimpl, paths, syscalls
from lamina.errors import LaminaError
from lamina.plugins.rootfs import devices, mounts
from lamina.plugins.rootfs import options as mopts
from lamina.syscalls import MS

NAME = "rootfs"


def _namespaces(config: dict) -> dict:
    return {ns.get("type"): ns for ns in (config.get("linux") or {}).get("namespaces") or []}


@hookimpl
def lamina_claims() -> list[str]:
    return ["root.readonly", "mounts", "linux.devices", "linux.rootfsPropagation", "linux.maskedPaths",
            "linux.readonlyPaths"]


@hookimpl
def lamina_features() -> dict:
    return {"mountOptions": sorted(set(mopts.FLAGS) | set(mopts.PROPAGATION) | mopts.EXTRA)}


@hookimpl
def lamina_validate(config: dict, bundle: str) -> list[str]:
    from lamina.config.load import rootfs_path

    problems = []
    rootfs = rootfs_path(bundle, config)
    if not os.path.isdir(rootfs):
        problems.append(f"root.path: {rootfs}: no such directory")
    if "mount" not in _namespaces(config):
        problems.append("linux.namespaces: a \"mount\" namespace is required: without one the root "
                        "filesystem, mounts and masks would be set up in the host's namespace")
    for i, m in enumerate(config.get("mounts") or []):
        problems.extend(mounts.check(m, f"mounts[{i}]"))
    linux = config.get("linux") or {}
    for i, dev in enumerate(linux.get("devices") or []):
        problems.extend(devices.check(dev, f"linux.devices[{i}]"))
    prop = linux.get("rootfsPropagation")
    if prop and prop not in mopts.PROPAGATION:
        problems.append(f"linux.rootfsPropagation: unknown value {prop!r} "
                        f"(expected one of {', '.join(mopts.PROPAGATION)})")
    for key in ("maskedPaths", "readonlyPaths"):
        for i, p in enumerate(linux.get(key) or []):
            if not p.startswith("/"):
                problems.append(f"linux.{key}[{i}]: must be an absolute path, got {p!r}")
    return problems


@hookimpl
def lamina_prepare(ctx) -> None:
    # what the init needs after the fork, imported now; only what this config uses (shutil
    # pulls in bz2 and lzma: milliseconds on every create that has no tmpcopyup)
    ms = ctx.config.get("mounts") or []
    if any("tmpcopyup" in (m.get("options") or []) for m in ms):
        import shutil  # noqa: F401
    if any(m.get("type") == "cgroup" for m in ms):
        from lamina.plugins.rootfs import cgroupfs  # noqa: F401


def _open_devnull() -> int:
    """The mask source must be the host's real /dev/null (a character device 1:3), never a path
    the image controls (CVE-2025-31133 class). Opened in the container's new mount namespace,
    before any container mount exists: a bind from an fd of another mount namespace is refused
    by the kernel (EINVAL)."""
    fd = os.open("/dev/null", os.O_PATH | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise LaminaError("the host's /dev/null is not the null device; refusing to mask paths with it")
    return fd


def _setup_dev(config: dict) -> bool:
    """Default devices are made unless /dev comes from the host as a bind mount."""
    for m in config.get("mounts") or []:
        if mounts.destination(m) == "/dev" and mopts.parse(m.get("options") or []).bind:
            return False
    return True


def _unescape(field: str) -> str:
    # the kernel escapes space, tab, newline and backslash in octal
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def _mountinfo() -> list[tuple[str, str, str]]:
    """(mount point, root within its filesystem, type) of every mount this process sees."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            out.append((_unescape(fields[4]), _unescape(fields[3]), right.split()[0]))
    return out


def _make_parent_private(rootfs: str) -> None:
    """Make the mount that holds the rootfs directory private (in this namespace only)."""
    real = os.path.realpath(rootfs)
    best = "/"
    for mp, _root, _type in _mountinfo():
        if (real == mp or real.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
            best = mp
    syscalls.mount(None, best, None, MS.PRIVATE)


def _hide_host_pseudo_fs(rootfs: str) -> None:
    """--no-pivot leaves the host's mounts in the namespace under the chroot. A full proc or
    sysfs among them would let the container mount a fresh, unmasked one (the kernel allows
    that when such a mount is already visible): detach them, or cover them where that is
    refused (as runc does)."""
    real = os.path.realpath(rootfs)
    for mp, root, fstype in _mountinfo():
        if root != "/" or fstype not in ("proc", "sysfs") or mp == real or mp.startswith(real + "/"):
            continue
        try:
            syscalls.mount(None, mp, None, MS.SLAVE | MS.REC)  # the unmount must not propagate
            syscalls.umount2(mp, syscalls.MNT_DETACH)
        except FileNotFoundError:
            continue  # under a mount detached just before
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EPERM):
                raise
            syscalls.mount("tmpfs", mp, "tmpfs", MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC)


@hookimpl
def lamina_init_rootfs(ctx) -> None:
    config, rootfs = ctx.config, ctx.rootfs
    linux = config.get("linux") or {}
    ctx.scratch["devnull_fd"] = _open_devnull()
    prop = linux.get("rootfsPropagation")
    # as runc: by default nothing we mount may propagate back to the host (every mount becomes
    # a slave); rootfsPropagation replaces that for the whole namespace, so that "rshared" keeps
    # the host's shared mounts in their peer groups (a bind with "rshared" is then two-way)
    syscalls.mount(None, "/", None, mopts.PROPAGATION[prop] if prop else MS.REC | MS.SLAVE)
    if prop:
        # the bind below must not propagate to the host, and pivot_root refuses a shared parent
        _make_parent_private(rootfs)
    # pivot_root needs the new root to be a mount point
    syscalls.mount(rootfs, rootfs, None, MS.BIND | MS.REC)
    deferred: list = []
    for i, m in enumerate(config.get("mounts") or []):
        mounts.mount_one(ctx, i, m, deferred)
    userns = "user" in _namespaces(config)
    if _setup_dev(config):
        for dev in devices.DEFAULT_DEVICES:
            devices.create(rootfs, dev, userns)
        devices.links(rootfs)
    for dev in linux.get("devices") or []:
        devices.create(rootfs, dev, userns)
    cwd = (config.get("process") or {}).get("cwd")
    if cwd and cwd.startswith("/"):
        try:
            os.close(paths.mkdir_all(rootfs, cwd))
        except OSError as e:  # ELOOP: a magic link such as /proc/self/fd/N (never followed)
            raise LaminaError(f"process.cwd: cannot create {cwd} in the rootfs: "
                              f"{os.strerror(e.errno).lower()}") from None
    ctx.scratch["deferred_ro"] = deferred


def _open_existing(rootfs: str, path: str) -> int | None:
    try:
        return paths.open_in_root(rootfs, path)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None  # the spec: paths that do not exist are skipped
        raise LaminaError(f"{path}: {e.strerror.lower()}") from None


@hookimpl
def lamina_init_finalize(ctx) -> None:
    rootfs = ctx.rootfs
    linux = ctx.config.get("linux") or {}
    for p in linux.get("readonlyPaths") or []:
        fd = _open_existing(rootfs, p)
        if fd is None:
            continue
        try:
            syscalls.mount(paths.host_path(fd), paths.host_path(fd), None, MS.BIND | MS.REC)
        finally:
            os.close(fd)
        try:
            mounts._remount(rootfs, p, MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, bind=True)
        except OSError as e:
            raise LaminaError(f"linux.readonlyPaths: {p}: {e.strerror.lower()}") from None
    devnull = ctx.scratch.pop("devnull_fd")
    for p in linux.get("maskedPaths") or []:
        fd = _open_existing(rootfs, p)
        if fd is None:
            continue
        try:
            if paths.is_dir(fd):
                syscalls.mount("tmpfs", paths.host_path(fd), "tmpfs", MS.RDONLY,
                               mounts.fs_data(ctx, "tmpfs", []))
            else:
                syscalls.mount(paths.host_path(devnull), paths.host_path(fd), None, MS.BIND)
        except OSError as e:
            raise LaminaError(f"linux.maskedPaths: {p}: {e.strerror.lower()}") from None
        finally:
            os.close(fd)
    os.close(devnull)
    for dest, flags in reversed(ctx.scratch.get("deferred_ro", [])):
        try:
            mounts.remount_readonly(rootfs, dest, flags)
        except OSError as e:
            raise LaminaError(f"mounts: remount {dest} read-only: {e.strerror.lower()}") from None
    if (ctx.config.get("root") or {}).get("readonly"):
        try:
            mounts._remount(rootfs, "/", MS.RDONLY, bind=True)
        except OSError as e:
            raise LaminaError(f"root.readonly: remount the root read-only: {e.strerror.lower()}") from None


@hookimpl(trylast=True)
def lamina_init_pivot(ctx) -> bool:
    os.chdir(ctx.rootfs)
    # the old root (ours alone) must not be shared: pivot_root refuses it, and a move onto it
    # would propagate to its peers on the host
    syscalls.mount(None, "/", None, MS.PRIVATE)
    if ctx.options.no_pivot:
        _hide_host_pseudo_fs(ctx.rootfs)
        syscalls.mount(ctx.rootfs, "/", None, MS.MOVE)
        os.chroot(".")
    else:
        # pivot_root(".", ".") stacks the old root on top of the new one; detach it from there.
        # It is made a slave first so the unmount cannot propagate to the host. The cwd is moved
        # onto the old root itself: a plain "." would name the new root underneath, and the
        # recursive slave would then also hit the container's own mounts (an "rshared" bind
        # would lose its peer on the host)
        old_root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            syscalls.pivot_root(".", ".")
            os.fchdir(old_root)
        finally:
            os.close(old_root)
        syscalls.mount(None, ".", None, MS.SLAVE | MS.REC)
        syscalls.umount2(".", syscalls.MNT_DETACH)
    os.chdir("/")
    prop = (ctx.config.get("linux") or {}).get("rootfsPropagation")
    if prop:
        # the new root was made from a private bind: give it the asked propagation now (as runc)
        syscalls.mount(None, "/", None, mopts.PROPAGATION[prop])
    return True


def _mount_points(pid: int) -> dict[str, list[str]]:
    """mount point (as the process sees it, after pivot_root) -> options of its top mount."""
    out: dict[str, list[str]] = {}
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
            out[point] = fields[5].split(",")
    return out


@hookimpl
def lamina_audit(ctx) -> dict:
    """The root and the masks as the init's mount table has them: a masked or read-only path
    counts only if it is a mount point there (absent paths are skipped, as the spec says)."""
    linux = ctx.config.get("linux") or {}
    points = _mount_points(ctx.pid)
    masked = [p for p in linux.get("maskedPaths") or [] if p in points]
    readonly = [p for p in linux.get("readonlyPaths") or [] if "ro" in points.get(p, [])]
    skipped = [p for p in (linux.get("maskedPaths") or []) + (linux.get("readonlyPaths") or [])
               if p not in masked and p not in readonly]
    out = {"root": ctx.rootfs, "root_readonly": "ro" in points.get("/", []), "mounts": len(points),
           "masked_paths": masked, "readonly_paths": readonly}
    if skipped:
        out["absent_paths"] = skipped  # not in the rootfs: nothing to mask
    if linux.get("rootfsPropagation"):
        out["propagation"] = linux["rootfsPropagation"]
    return out

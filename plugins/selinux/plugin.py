"""Built-in plugin: SELinux. process.selinuxLabel, linux.mountLabel, the session keyring's label.

- ``process.selinuxLabel`` is the container process's domain: written to the init's
  ``attr/exec`` as the very last step before its execve (so startContainer hooks and anything
  else the init runs are not labelled), after asking the policy whether that exec would work
  (``execcheck``). `exec` goes through the same hooks (``--process-label``).
- ``linux.mountLabel`` is given as ``context="..."`` to the mounts that take one (tmpfs, devpts,
  mqueue, ramfs: ``lsm_mount_options`` below, applied by the rootfs plugin) and is the label of
  every file the runtime creates in the container while it builds the rootfs (``attr/fscreate``).
  The rootfs itself is not relabelled: label the image (e.g. ``chcon -R -t container_file_t``).
- The session keyring the process plugin creates for the container gets the process label
  (``attr/keycreate``), unless ``--no-new-keyring``.

On a host where SELinux is disabled the labels are ignored with a debug message, as runc does
(so that configs written for SELinux hosts, podman's for one, still run); the admin file can
forbid that: ``[plugin.selinux] required = true`` makes `create` refuse to run without SELinux.
On a host with SELinux enabled, failing to apply a label is always an error.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from lamina import hookimpl, log, paths
from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.plugins.selinux.selinuxfs import SelinuxFS

# labels, procattr, execcheck and selinuxfs are imported only for a container that has a label
# on a host with SELinux (in _prepare, on the host: the init's hooks find them in sys.modules)

NAME = "selinux"
# filesystems that take a context= mount option and hold what the container writes; proc,
# sysfs and cgroup keep their policy labels (as with runc), bind mounts keep their source's.
# mqueue is not among them: its superblock is the IPC namespace's, made when the namespace was,
# so a mount asking for other security settings fails (EINVAL); its root is relabelled instead.
LABELLED_FS = ("tmpfs", "devpts", "ramfs")
RELABELLED_FS = ("mqueue",)
SETTINGS_KEYS = {"required": bool}

_settings: dict[str, Any] = {"required": False}


def enabled() -> bool:
    """SELinux is on in this kernel with a policy loaded (enforcing or permissive)."""
    if not os.path.exists("/sys/fs/selinux/enforce"):
        # no selinuxfs mounted: libselinux would say disabled too, but importing the bindings to
        # ask costs ~5 ms on every create; a kernel that has not even registered selinuxfs is
        # answered without them
        try:
            with open("/proc/filesystems") as f:
                if "\tselinuxfs\n" not in f.read():
                    return False
        except OSError:
            pass
    try:
        import selinux
    except ImportError:
        return os.path.exists("/sys/fs/selinux/enforce")
    return selinux.is_selinux_enabled() == 1


def _labels(config: dict) -> tuple[str | None, str | None]:
    p = config.get("process") if isinstance(config.get("process"), dict) else {}
    linux = config.get("linux") if isinstance(config.get("linux"), dict) else {}
    return p.get("selinuxLabel") or None, linux.get("mountLabel") or None


@hookimpl
def lamina_configure(settings: dict[str, Any]) -> None:
    mine = (settings.get("plugin") or {}).get(NAME) or {}
    if not isinstance(mine, dict):
        raise LaminaError("admin file: [plugin.selinux] must be a table")
    for k, v in mine.items():
        if k not in SETTINGS_KEYS:
            raise LaminaError(f"admin file: plugin.selinux.{k}: unknown setting "
                              f"(known: {', '.join(SETTINGS_KEYS)})")
        if not isinstance(v, SETTINGS_KEYS[k]):
            raise LaminaError(f"admin file: plugin.selinux.{k}: must be a {SETTINGS_KEYS[k].__name__}, "
                              f"got {v!r}")
    _settings["required"] = bool(mine.get("required", False))


@hookimpl
def lamina_claims() -> list[str]:
    return ["process.selinuxLabel", "linux.mountLabel"]


@hookimpl
def lamina_features() -> dict:
    return {"linux": {"selinux": {"enabled": enabled()}}}


def _check_context(value: Any, field: str) -> str | None:
    if not isinstance(value, str):
        return f"{field}: must be a string, got {value!r}"
    from lamina.plugins.selinux import labels

    try:
        labels.parse(value)
        labels.mount_option(value)
    except ValueError as e:
        return f"{field}: {e}"
    import selinux

    try:
        bad = selinux.security_check_context(value) != 0
    except OSError:
        bad = True
    if bad:
        return f"{field}: {value!r} is not a valid context in this host's SELinux policy"
    return None


@hookimpl
def lamina_validate(config: dict, bundle: str) -> list[str]:
    if not enabled():
        if _settings["required"]:
            return ["process.selinuxLabel: SELinux is disabled on this host, but the admin file requires "
                    "it ([plugin.selinux] required = true): refusing to run the container unconfined"]
        return []
    label, mount_label = _labels(config)
    if not label and not mount_label:
        return []
    try:
        import selinux  # noqa: F401
    except ImportError:
        return ["process.selinuxLabel: SELinux is enabled on this host but its Python bindings are missing "
                "(install python3-selinux): cannot apply the labels"]
    problems = []
    for field, value in (("process.selinuxLabel", label), ("linux.mountLabel", mount_label)):
        if value is not None:
            why = _check_context(value, field)
            if why:
                problems.append(why)
    return problems


class Prepared:
    """What the container side needs, opened on the host (after pivot_root neither /proc nor
    selinuxfs may be reachable by path)."""

    __slots__ = ("label", "mount_label", "current", "proc_fd", "fs", "fscreate_fd", "exec_fd")

    def __init__(self, label: str | None, mount_label: str | None, current: str, proc_fd: int,
                 fs: SelinuxFS) -> None:
        self.label = label
        self.mount_label = mount_label
        self.current = current  # the runtime's own context: the init's and `exec`'s until execve
        self.proc_fd = proc_fd
        self.fs = fs
        self.fscreate_fd = -1
        self.exec_fd = -1


def _prepare(ctx) -> None:
    label, mount_label = _labels(ctx.config)
    if ctx.stage == "exec":
        mount_label = None  # exec makes no mounts
    if not label and not mount_label:
        return
    if not enabled():
        log.debug(f"selinux: SELinux is disabled on this host; ignoring process.selinuxLabel={label!r} "
                  f"linux.mountLabel={mount_label!r} (as runc does)")
        return
    import selinux

    # everything the init's hooks use, imported now while the host's files are reachable
    from lamina.plugins.selinux import execcheck, labels, procattr  # noqa: F401
    from lamina.plugins.selinux.selinuxfs import SelinuxFS

    try:
        current = selinux.getcon_raw()[1]
        st = Prepared(label, mount_label, current, procattr.open_proc(), SelinuxFS.open())
    except OSError as e:
        raise LaminaError(f"selinux: cannot reach the SELinux interfaces of this host: {e}") from None
    ctx.scratch[NAME] = st
    if mount_label:
        # read by the rootfs plugin (lamina.plugins.rootfs.mounts.fs_data) for each mount it makes
        opts = ctx.scratch.setdefault("lsm_mount_options", {})
        for fstype in LABELLED_FS:
            opts.setdefault(fstype, []).append(labels.mount_option(mount_label))


@hookimpl
def lamina_prepare(ctx) -> None:
    _prepare(ctx)


@hookimpl
def lamina_exec_prepare(ctx) -> None:
    _prepare(ctx)


def _state(ctx) -> Prepared | None:
    return ctx.scratch.get(NAME)


@hookimpl(tryfirst=True)
def lamina_init_namespaces(ctx) -> None:
    # before the process plugin joins the container's new session keyring (trylast here): the
    # keyring is created with this label. execve resets keycreate.
    st = _state(ctx)
    if st is None or not st.label or ctx.options.no_new_keyring:
        return
    from lamina.plugins.selinux import procattr

    fd = procattr.open_attr(st.proc_fd, "keycreate")
    try:
        procattr.write_attr(fd, st.label, "process.selinuxLabel", "session keyring label")
    finally:
        os.close(fd)


@hookimpl(tryfirst=True)
def lamina_init_rootfs(ctx) -> None:
    # first in this phase: every file and directory the runtime creates from here to pivot_root
    # (mount points, device nodes, /dev links, /dev/console) gets the mount label
    st = _state(ctx)
    if st is None or not st.mount_label:
        return
    from lamina.plugins.selinux import procattr

    st.fscreate_fd = procattr.open_attr(st.proc_fd, "fscreate")
    procattr.write_attr(st.fscreate_fd, st.mount_label, "linux.mountLabel", "label of created files")


def _own_ipc_namespace(config: dict) -> bool:
    for ns in (config.get("linux") or {}).get("namespaces") or []:
        if ns.get("type") == "ipc":
            return not ns.get("path")
    return False


@hookimpl(tryfirst=True)
def lamina_init_finalize(ctx) -> None:
    # every mount is made; label the roots of those that take no context= before the rootfs
    # plugin makes paths read-only (later in this phase)
    st = _state(ctx)
    if st is None or not st.mount_label:
        return
    for i, m in enumerate(ctx.config.get("mounts") or []):
        if m.get("type") not in RELABELLED_FS:
            continue
        dest = os.path.normpath("/" + m["destination"])
        if not _own_ipc_namespace(ctx.config):
            # the host's (or another container's) message queues: not the container's to relabel
            log.debug(f"selinux: mounts[{i}]: {dest} is the mqueue of an IPC namespace the container "
                      "shares; its label is left as it is")
            continue
        fd = paths.open_in_root(ctx.rootfs, dest)
        try:
            os.setxattr(paths.host_path(fd), "security.selinux", st.mount_label.encode())
        except OSError as e:
            raise LaminaError(f"linux.mountLabel: cannot label mounts[{i}] ({dest}) {st.mount_label}: "
                              f"{os.strerror(e.errno).lower()}") from None
        finally:
            os.close(fd)


@hookimpl
def lamina_init_lsm(ctx) -> None:
    st = _state(ctx)
    if st is None:
        return
    from lamina.plugins.selinux import procattr

    if st.fscreate_fd >= 0:
        procattr.write_attr(st.fscreate_fd, None, "linux.mountLabel", "label of created files")
        os.close(st.fscreate_fd)
        st.fscreate_fd = -1
    if st.label:
        # opened now, written at the very end: a seccomp filter loaded in between may not allow
        # the open, and the label must not apply to anything exec'd before the process itself
        st.exec_fd = procattr.open_attr(st.proc_fd, "exec")
    # the host's /proc is not kept one step longer than needed: through it a process of the
    # container that could reach the init's fds would reach the host (CVE-2024-21626 class)
    os.close(st.proc_fd)
    st.proc_fd = -1


@hookimpl(trylast=True)
def lamina_init_ready(ctx) -> None:
    # after the process plugin found the executable (ctx.scratch["exec_path"])
    st = _state(ctx)
    if st is None:
        return
    try:
        if st.label and "exec_path" in ctx.scratch:
            from lamina.plugins.selinux import execcheck

            nnp = bool((ctx.config.get("process") or {}).get("noNewPrivileges"))
            execcheck.check_exec(st.fs, st.current, st.label, ctx.scratch["exec_path"], nnp)
    finally:
        st.fs.close()  # the last use of the host's selinuxfs, before the init waits for `start`


@hookimpl(tryfirst=True)
def lamina_init_exec(ctx) -> None:
    # returns None: the process plugin's implementation (trylast) then does the execve
    st = _state(ctx)
    if st is None or not st.label:
        return None
    from lamina.plugins.selinux import procattr

    procattr.write_attr(st.exec_fd, st.label, "process.selinuxLabel", "exec label")
    return None


@hookimpl
def lamina_audit(ctx) -> dict | None:
    label = (ctx.config.get("process") or {}).get("selinuxLabel")
    mount = (ctx.config.get("linux") or {}).get("mountLabel")
    if not label and not mount:
        return None
    from lamina.plugins.selinux import audit  # the report, its own module

    return audit.report(ctx, label, mount)

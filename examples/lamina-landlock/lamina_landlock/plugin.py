"""The lamina plugin: Landlock rulesets for the container's processes.

Configured by annotations in config.json (each a ':'-separated list of absolute paths, resolved
inside the container):

    "annotations": {
        "org.lamina.landlock.read_only":  "/bin:/etc:/usr",
        "org.lamina.landlock.read_write": "/tmp:/dev"
    }

With either key present, every filesystem access the kernel's Landlock ABI can restrict is
denied outside these paths: below a read_only path a process may read files, list directories
and execute; below a read_write path it may do everything else as well (write, create, remove,
rename, truncate, device ioctls). The admin file may add a baseline layer for every container
(``[plugin.landlock] read_only / read_write``) and ``min_abi``; see rules.py for why the
container's layer can only restrict more.

When (DESIGN §3 and docs/plugins.md): paths are opened in ``lamina_init_lsm``, after pivot_root,
so they resolve in the container's root; the restriction is made in
``lamina_init_before_privileges`` (tryfirst). There the init still holds CAP_SYS_ADMIN, which
landlock_restrict_self(2) accepts in place of no_new_privs, so the container's noNewPrivileges
is left as config.json says. It comes before the seccomp plugin's filter (trylast in the same
phase, or in the next one), which might not allow the Landlock syscalls, and before the
capability drop; every later step of the init (setresuid, capset, the cwd, the exec FIFO, the
startContainer hooks, the exec) runs confined. The one file the init itself still opens, the
exec FIFO, gets a rule of its own (write, that file only). Failures before ``create`` reports
ready fail ``create``.

A container that asks for no Landlock (no annotation, no ``[plugin.landlock]``) costs nothing:
the rules and the syscall wrappers (ctypes, enum) are imported only for one that does, in
``lamina_prepare`` on the host side, so that the init's hooks find them after pivot_root.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any

from lamina import hookimpl
from lamina.errors import LaminaError

from lamina_landlock import PREFIX

if TYPE_CHECKING:
    from lamina_landlock.kernel import FS
    from lamina_landlock.rules import Layer, Settings

# the hook API this plugin was written for (docs/plugins.md, "Versioning")
LAMINA_HOOK_API = 2
NAME = "landlock"
_settings: Settings | None = None  # None: the admin file has no [plugin.landlock]


@hookimpl
def lamina_configure(settings: dict[str, Any]) -> None:
    global _settings
    table = (settings.get("plugin") or {}).get(NAME)
    if table is None:
        _settings = None
        return
    from lamina import adminconf

    from lamina_landlock import rules

    _settings = rules.parse_admin(table, adminconf.path())


def _asked(annotations: dict[str, str]) -> bool:
    """Whether the admin file or the container asks this plugin for anything at all."""
    return _settings is not None or any(k.startswith(PREFIX) for k in annotations)


def _layers(config: dict) -> list[Layer]:
    annotations = config.get("annotations") or {}
    if not _asked(annotations):
        return []
    from lamina_landlock import rules

    return rules.layers(_settings or rules.Settings(), annotations)


@hookimpl
def lamina_claims() -> list[str]:
    # a claim covers the keys below it: both annotations, and any other org.lamina.landlock.*
    # key (which lamina_validate then refuses as unknown)
    return ["annotations." + PREFIX.rstrip(".")]


@hookimpl
def lamina_features() -> dict:
    from lamina_landlock import kernel, rules

    abi = kernel.abi_version()
    return {"linux": {"landlock": {"enabled": abi > 0, "abi": abi,
                                   "accessFs": kernel.names(kernel.handled(abi)),
                                   "annotations": list(rules.KEYS)}}}


@hookimpl
def lamina_validate(config: dict, bundle: str) -> list[str]:
    annotations = config.get("annotations") or {}
    if not _asked(annotations):
        return []
    from lamina_landlock import kernel, rules

    settings = _settings or rules.Settings()
    _, problems = rules.from_annotations(annotations)
    wanted = rules.layers(settings, annotations)
    if not wanted and not settings.min_abi:
        return problems
    abi = kernel.abi_version()
    if wanted and abi < 1:
        field = "annotations" if wanted[-1].source == "annotations" else "admin file plugin.landlock"
        problems.append(f"{field}: Landlock is asked for, but this kernel does not offer it "
                        f"(not built in, or not in the lsm= boot list)")
    elif abi < settings.min_abi:
        problems.append(f"admin file plugin.landlock.min_abi: the admin requires Landlock ABI "
                        f"{settings.min_abi}, this kernel has {abi}")
    return problems


@hookimpl
def lamina_prepare(ctx) -> None:
    # everything the init needs is imported now, on the host side (rules by _layers, and the
    # syscall wrappers, which open libc.so.6); the ABI is read here once
    if _layers(ctx.config):
        from lamina_landlock import kernel

        ctx.scratch["landlock_abi"] = kernel.abi_version()


@hookimpl
def lamina_exec_prepare(ctx) -> None:
    lamina_prepare(ctx)


@hookimpl(tryfirst=True)
def lamina_init_rootfs(ctx) -> None:
    # before pivot_root the state directory is still reachable: keep a handle on the exec FIFO
    # for its rule (an O_PATH fd grants nothing by itself, and it is closed before exec)
    if _layers(ctx.config):
        try:
            ctx.scratch["landlock_fifo"] = os.open(ctx.exec_fifo(), os.O_PATH | os.O_CLOEXEC)
        except OSError as e:
            raise LaminaError(f"landlock: cannot open the exec fifo: {e.strerror.lower()}") from None


def _build(layer: Layer, abi: int, fifo: int | None) -> int:
    """A ruleset fd for one layer: every right of this ABI handled, the listed paths allowed."""
    from lamina_landlock import kernel  # imported by lamina_prepare, on the host

    handled = kernel.handled(abi)
    fd = kernel.create_ruleset(handled)
    try:
        for key, allowed in (("read_only", kernel.READ_ONLY), ("read_write", handled)):
            for path in getattr(layer, key):
                _allow(fd, path, allowed & handled, layer.where[key])
        if fifo is not None:
            kernel.add_path_rule(fd, fifo, kernel.FS.WRITE_FILE, "the exec fifo")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _allow(ruleset: int, path: str, allowed: FS, where: str) -> None:
    from lamina_landlock import kernel

    try:
        pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError as e:
        raise LaminaError(f"{where}: {path}: {e.strerror.lower()}") from None
    try:
        if not stat.S_ISDIR(os.fstat(pfd).st_mode):
            allowed &= kernel.FILE_RIGHTS  # the kernel refuses directory rights on a file
        kernel.add_path_rule(ruleset, pfd, allowed, path)
    except OSError as e:
        raise LaminaError(f"{where}: {path}: {e.strerror.lower()}") from None
    finally:
        os.close(pfd)


@hookimpl
def lamina_init_lsm(ctx) -> None:
    wanted = _layers(ctx.config)
    if not wanted:
        return
    abi = ctx.scratch.get("landlock_abi") or 0
    fifo = ctx.scratch.pop("landlock_fifo", None)
    fds = []
    try:
        for layer in wanted:
            fds.append(_build(layer, abi, fifo))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    finally:
        if fifo is not None:
            os.close(fifo)
    ctx.scratch["landlock_rulesets"] = fds


@hookimpl(tryfirst=True)
def lamina_init_before_privileges(ctx) -> None:
    fds = ctx.scratch.pop("landlock_rulesets", [])
    if not fds:
        return
    from lamina_landlock import kernel

    for fd in fds:
        try:
            kernel.restrict_self(fd)
        except OSError as e:
            raise LaminaError(f"landlock: cannot restrict the container: {e.strerror.lower()} "
                              f"(landlock_restrict_self needs CAP_SYS_ADMIN or no_new_privs)") from None
        finally:
            os.close(fd)


@hookimpl
def lamina_audit(ctx) -> dict | None:
    wanted = _layers(ctx.config)
    if not wanted:
        return None
    from lamina_landlock import kernel

    abi = ctx.scratch.get("landlock_abi") or kernel.abi_version()
    return {"abi": abi, "handled": kernel.names(kernel.handled(abi)),
            "layers": [lay.report() for lay in wanted]}

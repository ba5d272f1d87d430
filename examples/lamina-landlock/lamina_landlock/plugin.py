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
"""

from __future__ import annotations

import os
import stat
from typing import Any

from lamina import hookimpl
from lamina.errors import LaminaError

from lamina_landlock import kernel, rules

# the hook API this plugin was written for (docs/plugins.md, "Versioning")
LAMINA_HOOK_API = 2
NAME = "landlock"
_settings = rules.Settings()


@hookimpl
def lamina_configure(settings: dict[str, Any]) -> None:
    global _settings
    from lamina import adminconf

    _settings = rules.parse_admin((settings.get("plugin") or {}).get(NAME), adminconf.path())


@hookimpl
def lamina_claims() -> list[str]:
    # a claim covers the keys below it: both annotations, and any other org.lamina.landlock.*
    # key (which lamina_validate then refuses as unknown)
    return ["annotations." + rules.PREFIX.rstrip(".")]


@hookimpl
def lamina_features() -> dict:
    abi = kernel.abi_version()
    return {"linux": {"landlock": {"enabled": abi > 0, "abi": abi,
                                   "accessFs": kernel.names(kernel.handled(abi)),
                                   "annotations": list(rules.KEYS)}}}


@hookimpl
def lamina_validate(config: dict, bundle: str) -> list[str]:
    _, problems = rules.from_annotations(config.get("annotations") or {})
    wanted = rules.layers(_settings, config.get("annotations") or {})
    if not wanted and not _settings.min_abi:
        return problems
    abi = kernel.abi_version()
    if wanted and abi < 1:
        field = "annotations" if wanted[-1].source == "annotations" else "admin file plugin.landlock"
        problems.append(f"{field}: Landlock is asked for, but this kernel does not offer it "
                        f"(not built in, or not in the lsm= boot list)")
    elif abi < _settings.min_abi:
        problems.append(f"admin file plugin.landlock.min_abi: the admin requires Landlock ABI "
                        f"{_settings.min_abi}, this kernel has {abi}")
    return problems


@hookimpl
def lamina_prepare(ctx) -> None:
    # everything the init needs is imported now, on the host side (the modules above already are,
    # at load); the ABI is read here once
    ctx.scratch["landlock_abi"] = kernel.abi_version()


@hookimpl
def lamina_exec_prepare(ctx) -> None:
    ctx.scratch["landlock_abi"] = kernel.abi_version()


@hookimpl(tryfirst=True)
def lamina_init_rootfs(ctx) -> None:
    # before pivot_root the state directory is still reachable: keep a handle on the exec FIFO
    # for its rule (an O_PATH fd grants nothing by itself, and it is closed before exec)
    if rules.layers(_settings, ctx.config.get("annotations") or {}):
        try:
            ctx.scratch["landlock_fifo"] = os.open(ctx.exec_fifo(), os.O_PATH | os.O_CLOEXEC)
        except OSError as e:
            raise LaminaError(f"landlock: cannot open the exec fifo: {e.strerror.lower()}") from None


def _build(layer: rules.Layer, abi: int, fifo: int | None) -> int:
    """A ruleset fd for one layer: every right of this ABI handled, the listed paths allowed."""
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


def _allow(ruleset: int, path: str, allowed: kernel.FS, where: str) -> None:
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
    wanted = rules.layers(_settings, ctx.config.get("annotations") or {})
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
    for fd in ctx.scratch.pop("landlock_rulesets", []):
        try:
            kernel.restrict_self(fd)
        except OSError as e:
            raise LaminaError(f"landlock: cannot restrict the container: {e.strerror.lower()} "
                              f"(landlock_restrict_self needs CAP_SYS_ADMIN or no_new_privs)") from None
        finally:
            os.close(fd)


@hookimpl
def lamina_audit(ctx) -> dict | None:
    wanted = rules.layers(_settings, ctx.config.get("annotations") or {})
    if not wanted:
        return None
    abi = ctx.scratch.get("landlock_abi") or kernel.abi_version()
    return {"abi": abi, "handled": kernel.names(kernel.handled(abi)),
            "layers": [lay.report() for lay in wanted]}

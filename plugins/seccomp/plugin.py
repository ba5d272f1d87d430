"""Built-in plugin: linux.seccomp.

Host side: check the section (lamina_validate), compile it with libseccomp before the fork
(lamina_prepare), connect to the notify agent if there is one. Init side: load the compiled
program with seccomp(2) at the moment DESIGN §3 gives it, and hand the notify fd to the agent.
"""

from __future__ import annotations

import os
from typing import Any

from lamina import hookimpl

NAME = "seccomp"


class Prepared:
    """What the init needs to load the filter: built on the host, used after pivot_root.
    (A plain class: dataclasses costs ~1 ms of import on every create.)"""

    __slots__ = ("prog", "flags", "listener", "listener_path", "metadata", "host_pid")

    def __init__(self, prog: Any, flags: int) -> None:
        self.prog = prog  # lamina.syscalls.SockFprog
        self.flags = flags
        self.listener: Any = None  # the connected socket to listenerPath (notify only)
        self.listener_path = ""
        self.metadata: str | None = None
        self.host_pid = 0  # the init's pid as the runtime sees it (for the agent)


def _section(config: dict) -> dict | None:
    linux = config.get("linux")
    return linux.get("seccomp") if isinstance(linux, dict) else None


@hookimpl
def lamina_claims() -> list[str]:
    return ["linux.seccomp"]


@hookimpl
def lamina_features() -> dict:
    from lamina.plugins.seccomp import bindings, kernel, names

    lib = bindings.module()
    allow = lib is not None and kernel.action_available(names.kernel_action(lib.ALLOW))
    if not allow:
        return {"linux": {"seccomp": {"enabled": False}}}
    actions = [a for a in names.actions(lib)
               if kernel.action_available(names.kernel_action(names.action_value(lib, a, None)))]
    return {"linux": {"seccomp": {
        "enabled": True,
        "actions": actions,
        "operators": list(names.operators(lib)),
        "archs": sorted(names.arches(lib)),
        "knownFlags": list(names.FLAGS),
        "supportedFlags": [f for f, bit in names.FLAGS.items() if kernel.flag_supported(bit)],
    }}}


@hookimpl
def lamina_validate(config: dict, bundle: str) -> list[str]:
    section = _section(config)
    if section is None:
        return []
    from lamina.plugins.seccomp import bindings, kernel, profile

    return profile.check(section, bindings.module(), kernel)


def _prepare(ctx, section: dict) -> None:
    """Compile ``section`` for the init (or the process of `exec`) to load."""
    import time

    from lamina import log, syscalls
    from lamina.errors import LaminaError
    from lamina.plugins.seccomp import bindings, compiler, kernel, notify

    lib = bindings.module()
    if lib is None:  # validated at create, but the bindings may have gone since
        raise LaminaError(f"linux.seccomp: {bindings.MISSING}")
    started = time.perf_counter()
    compiled = compiler.compile_profile(section, lib, debug=log.debug)
    log.debug(f"seccomp: {compiled.rules} rules, {compiled.instructions} BPF instructions, compiled in "
              f"{(time.perf_counter() - started) * 1000:.1f} ms")
    flags = kernel.load_flags(compiled.requested_flags, compiled.notify)
    prepared = Prepared(syscalls.SockFprog.of(compiled.bpf), flags)
    if compiled.notify:
        prepared.listener_path = section["listenerPath"]
        prepared.metadata = section.get("listenerMetadata")
        prepared.listener = notify.connect(prepared.listener_path)
    ctx.scratch[NAME] = prepared


@hookimpl
def lamina_prepare(ctx) -> None:
    section = _section(ctx.config)
    if section is not None:
        _prepare(ctx, section)


@hookimpl
def lamina_exec_prepare(ctx) -> None:
    # a process exec'd into the container runs under the container's filter, as runc does it
    # (config.json's process may change, its linux.seccomp may not)
    section = _section(ctx.config)
    if section is None:
        return
    _prepare(ctx, section)


@hookimpl
def lamina_exec_spawned(ctx, pid: int) -> None:
    lamina_child_spawned(ctx, pid)


@hookimpl
def lamina_child_spawned(ctx, pid: int) -> None:
    prepared = ctx.scratch.get(NAME)
    if prepared is not None and prepared.listener is not None:
        prepared.listener.close()  # the init has its own copy; the agent must see EOF once it has sent


@hookimpl
def lamina_init_rootfs(ctx) -> None:
    prepared = ctx.scratch.get(NAME)
    if prepared is not None and prepared.listener is not None:
        # before pivot_root /proc is still the runtime's: /proc/self names this process as the
        # runtime sees it, which is the pid the agent is to be given
        prepared.host_pid = int(os.readlink("/proc/self"))


def _load(ctx) -> None:
    prepared: Prepared | None = ctx.scratch.pop(NAME, None)
    if prepared is None:
        return
    # imported in lamina_prepare, on the host: after pivot_root these come from sys.modules
    import errno

    from lamina import syscalls
    from lamina.errors import LaminaError
    from lamina.plugins.seccomp import notify
    payload = b""
    if prepared.listener is not None:  # built now: after the load, every syscall is filtered
        if ctx.stage == "exec":  # the core learnt the exec'd process's host pid from its fork
            prepared.host_pid = ctx.scratch["host_pid"]
        status = "running" if ctx.stage == "exec" else "creating"
        payload = notify.container_process_state(ctx.oci_state(status), prepared.host_pid,
                                                 prepared.metadata)
    try:
        fd = syscalls.seccomp_set_mode_filter(prepared.prog, prepared.flags)
    except OSError as e:
        hint = (" (without noNewPrivileges, installing a filter needs CAP_SYS_ADMIN)"
                if e.errno == errno.EACCES else "")
        raise LaminaError(f"linux.seccomp: cannot load the filter: {e.filename}: "
                          f"{e.strerror.lower()}{hint}") from None
    if prepared.listener is None:
        return
    try:
        notify.send(prepared.listener, payload, fd)
    except OSError as e:
        raise LaminaError(f"linux.seccomp.listenerPath: cannot send the notify fd to "
                          f"{prepared.listener_path}: "
                          f"{(e.strerror or str(e)).lower()}") from None
    finally:
        os.close(fd)
        prepared.listener.close()


# Ordering (DESIGN §3). Without noNewPrivileges the kernel installs a filter only for a caller
# with CAP_SYS_ADMIN, which lamina_init_privileges drops: so the filter goes in at the end of the
# phase before it, and the privilege changes (setgroups, setresuid, capset, prctl) then run under
# it, as they do in runc and crun. With noNewPrivileges no capability is needed, so it goes in as
# late as possible, after the drop, so that the profile need not allow the calls that set up the
# process. Either way it is in place before `create` reports ready, so the startContainer hooks
# and the exec of process.args run under it. trylast: after every other plugin's step in the phase.
@hookimpl(trylast=True)
def lamina_init_before_privileges(ctx) -> None:
    if not ctx.config["process"].get("noNewPrivileges"):
        _load(ctx)


@hookimpl(trylast=True)
def lamina_init_after_privileges(ctx) -> None:
    if ctx.config["process"].get("noNewPrivileges"):
        _load(ctx)


@hookimpl
def lamina_teardown(ctx) -> None:
    prepared = ctx.scratch.pop(NAME, None)  # a create that failed before the fork
    if prepared is not None and prepared.listener is not None:
        prepared.listener.close()


@hookimpl
def lamina_audit(ctx) -> dict | None:
    profile = (ctx.config.get("linux") or {}).get("seccomp")
    if not profile:
        return None
    from lamina.plugins.seccomp import audit  # the report, its own module

    return audit.report(ctx, profile)

"""The plugin protocol: every hook lamina calls, grouped by phase, in the order they run.

Each hook's docstring says when it runs, in which process and namespaces, and what its result
means. Plugins implement them with ``@lamina.hookimpl``. Ordering the kernel demands is encoded
by the core calling one hook per phase in sequence; ``tryfirst``/``trylast`` only express
"default versus override" inside one phase.

Arguments: ``ctx`` is a :class:`lamina.context.Context` (container id, bundle, parsed
config, rootfs path, command-line options, and ``ctx.plugin_state``, a per-plugin dict that is
saved in state.json and given back to later verbs). Hooks in the *init* process must not block,
start threads, or import anything not imported in ``lamina_prepare``: after pivot_root the
host's Python files are out of reach.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("lamina")
hookimpl = pluggy.HookimplMarker("lamina")

HOOK_API_VERSION = 1

# ---------------------------------------------------------------- host side, any verb


@hookspec
def lamina_configure(settings: dict[str, Any]) -> None:
    """Hand the plugin the host administrator's settings (the admin file, parsed).

    Runs once, right after the plugins are loaded, in the lamina process, before any other
    hook. ``settings`` is the whole admin file; a plugin reads its own table
    ``settings["plugin"][<its name>]``. Raise :class:`lamina.errors.LaminaError` to refuse a bad setting.
    """


@hookspec
def lamina_claims() -> list[str]:
    """Name the config.json fields this plugin honours (dotted paths, e.g. ``linux.seccomp``).

    Runs in the lamina process after loading. A claim covers its sub-fields. Every present,
    security-relevant field must be claimed by an enabled plugin, or ``create`` refuses the config
    (fail closed). Claim only what the plugin really applies.
    """


@hookspec
def lamina_features() -> dict[str, Any]:
    """Return this plugin's part of ``lamina features`` (the runtime-spec features document).

    Runs in the lamina process for the ``features`` verb. The dicts of all plugins are merged:
    lists are concatenated, objects merged key by key.
    """


@hookspec
def lamina_validate(config: dict[str, Any], bundle: str) -> list[str]:
    """Check the fields this plugin claims; return problems as ``"field.path: what is wrong"``.

    Runs in the lamina process before anything is created; no side effects. The core has already
    checked JSON types. All plugins' problems are reported together.
    """


# ---------------------------------------------------------------- host side, create


@hookspec
def lamina_prepare(ctx: Any) -> None:
    """Get ready before the fork: create host resources, compile filters, import modules.

    Runs in the lamina process (host namespaces), after the state directory exists and before the
    init is forked. Whatever the init will need after pivot_root must be imported here. Record in
    ``ctx.plugin_state`` what ``lamina_teardown`` will need to undo it.
    """


@hookspec
def lamina_child_spawned(ctx: Any, pid: int) -> None:
    """The init's first process exists (host pid ``pid``) and waits, still in the host namespaces.

    Runs in the lamina process. The cgroups plugin moves ``pid`` into the container's cgroup here,
    *before* the child unshares, so that the cgroup namespace is rooted at the container's cgroup.
    """


@hookspec
def lamina_write_id_maps(ctx: Any, pid: int) -> None:
    """Write uid_map/gid_map (and setgroups) of the user namespace ``pid`` has just created.

    Runs in the lamina process; the child waits until it returns.
    """


@hookspec
def lamina_create_runtime(ctx: Any) -> None:
    """Run the OCI ``createRuntime`` and ``prestart`` hooks.

    Runs in the lamina process (runtime namespaces) on request of the init, after the init's
    mounts are made and before pivot_root. ``ctx.pid`` is the init's host pid.
    """


@hookspec
def lamina_created(ctx: Any) -> None:
    """The container reached *created*: the init waits on the exec FIFO.

    Runs in the lamina process just before ``create`` returns. Record final state here.
    """


@hookspec
def lamina_started(ctx: Any) -> None:
    """The user process was started (``start`` read the exec FIFO): run OCI ``poststart`` hooks.

    Runs in the lamina process of ``start`` (or ``run``). Raising stops and destroys the container.
    """


@hookspec
def lamina_teardown(ctx: Any) -> None:
    """Undo everything for ``delete`` (or a failed ``create``): cgroups, ``poststop`` hooks, ....

    Runs in the lamina process. Every implementation is called even when an earlier one fails;
    all errors are reported together. Must tolerate half-made state (a create killed midway).
    """


@hookspec(firstresult=True)
def lamina_kill_all(ctx: Any, signal: int) -> bool | None:
    """Send ``signal`` to every process of the container (``kill --all``). First result wins."""


@hookspec(firstresult=True)
def lamina_processes(ctx: Any) -> list[int] | None:
    """Host pids of every process in the container (``ps``). First result wins."""


@hookspec(firstresult=True)
def lamina_freeze(ctx: Any, frozen: bool) -> bool | None:
    """Freeze (``pause``) or thaw (``resume``) every process of the container. First result wins."""


# ---------------------------------------------------------------- init side, in order


@hookspec
def lamina_init_user_namespace(ctx: Any) -> bool:
    """Join or create the user namespace; return True if the host must write id maps.

    Runs in the init's first process, already in the container's cgroup, in host namespaces.
    """


@hookspec
def lamina_init_namespaces(ctx: Any) -> None:
    """Join (setns) or create (unshare) every other namespace; set hostname and time offsets.

    Runs in the init's first process after the id maps are written. The core forks right after,
    so the child becomes PID 1 of a new PID namespace and lives in a new time namespace.
    """


@hookspec
def lamina_init_rootfs(ctx: Any) -> None:
    """Build the container's filesystem under ``ctx.rootfs``: mounts in config order, devices,
    /dev links. Runs in the init (PID 1 of the container), in its mount namespace, before
    pivot_root; the host's /proc is still visible at /proc.
    """


@hookspec
def lamina_init_create_container(ctx: Any) -> None:
    """Run the OCI ``createContainer`` hooks: container namespaces, before pivot_root."""


@hookspec
def lamina_init_finalize(ctx: Any) -> None:
    """Sysctls, read-only and masked paths, read-only remounts (root, /dev, ro tmpfs).

    Runs in the init before pivot_root, after every mount is in place, so that nothing mounted
    later can undo a mask and every path is still resolved under ``ctx.rootfs``.
    """


@hookspec(firstresult=True)
def lamina_init_pivot(ctx: Any) -> bool | None:
    """Make ``ctx.rootfs`` the root (pivot_root, or move+chroot with ``--no-pivot``). First wins."""


@hookspec
def lamina_init_lsm(ctx: Any) -> None:
    """Set LSM labels for the coming exec (SELinux exec label, AppArmor profile, ...)."""


@hookspec
def lamina_init_before_privileges(ctx: Any) -> None:
    """Last step with full privileges: e.g. a seccomp filter when ``noNewPrivileges`` is false
    (installing it then needs CAP_SYS_ADMIN, which the next phase drops)."""


@hookspec
def lamina_init_privileges(ctx: Any) -> None:
    """Become the configured user: rlimits, no_new_privs, groups, uid/gid, capability sets."""


@hookspec
def lamina_init_after_privileges(ctx: Any) -> None:
    """After the drop: e.g. a seccomp filter when ``noNewPrivileges`` is true (as late as possible,
    so the filter need not allow the calls that set up the process)."""


@hookspec
def lamina_init_ready(ctx: Any) -> None:
    """Last checks before ``create`` reports success (cwd, the executable found in the container's
    PATH). A failure here fails ``create``; nothing after this can be reported to it."""


@hookspec
def lamina_init_start_container(ctx: Any) -> None:
    """Run the OCI ``startContainer`` hooks: after ``start`` released the init, before exec."""


@hookspec(firstresult=True)
def lamina_init_exec(ctx: Any) -> bool | None:
    """Replace the init with the user process. The first implementation that returns wins;
    the built-in one execs ``process.args`` and never returns."""

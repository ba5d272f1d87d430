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

# The hook API's version. A third-party plugin declares the version it was written for as a
# module (or object) attribute ``LAMINA_HOOK_API = <int>``; loading refuses a plugin that declares
# nothing, a version newer than HOOK_API_VERSION (it may call hooks this lamina lacks) or one
# older than HOOK_API_MIN (a hook it implements changed since). Adding a hook bumps
# HOOK_API_VERSION; removing a hook or changing its arguments or result also raises HOOK_API_MIN.
# Built-in plugins ship with the core and are always current. History in docs/plugins.md.
HOOK_API_VERSION = 2  # 2: lamina_audit, apply_limits, stats, update, the exec hooks, annotation claims
HOOK_API_MIN = 1

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
    (fail closed). Claim only what the plugin really applies. Annotation keys are claimed as
    ``annotations.<key>`` (a claim covers the keys below it, dot by dot); every annotation under
    ``org.lamina.`` is security-relevant, so a config asking for an absent plugin's annotation is
    refused rather than run without it.
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
def lamina_apply_limits(ctx: Any) -> None:
    """Apply the container's resource limits (``linux.resources``) to its cgroup.

    Runs in the lamina process when the init asks for the createRuntime hooks, right before
    them: the init has made its mounts and waits, alone in its cgroup (its first process has
    exited and been reaped), so a limit as low as ``pids.limit`` 0 cannot stop it from exec'ing,
    and the OCI hooks already see the limits (as with runc). Raise LaminaError to fail create.
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
def lamina_audit(ctx: Any) -> dict[str, Any] | None:
    """Report what this plugin applied to the container, for its audit record.

    Runs in the lamina process of ``create`` right after ``lamina_created``, while the init
    waits on the exec FIFO with its final namespaces, mounts and credentials: read them from
    ``/proc/<ctx.pid>/`` where you can, so the record says what the kernel holds, not only what
    config.json asked. Return a JSON-serialisable dict, or None if the plugin applied nothing.
    The core keeps the dicts (keyed by plugin name) in ``audit.json`` beside state.json, shows
    them in ``lamina inspect`` and writes them to the admin's audit log. No side effects; an
    exception is recorded as that plugin's ``error`` instead of failing the container.
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


@hookspec(firstresult=True)
def lamina_stats(ctx: Any) -> dict[str, Any] | None:
    """The container's resource counters (``events``), in the shape of runc's stats object
    (``cpu``, ``cpuset``, ``memory``, ``pids``, ``blkio``, ``hugetlb``; nanoseconds and bytes).

    Runs in the lamina process of ``events``; reads only. ``memory.raw.oom_kill``, when present,
    counts the container's OOM kills (``events`` reports each new one). First result wins.
    """


@hookspec
def lamina_update(ctx: Any, resources: dict[str, Any]) -> list[str]:
    """Change the limits of a created, running or paused container (``update``).

    Runs in the lamina process of ``update`` holding the container's lock. ``resources`` is a
    runtime-spec LinuxResources object holding only what is to change (already type-checked).
    Check everything before writing anything; raise LaminaError (ConfigError for bad fields) to
    refuse. Return the top-level keys of ``resources`` this plugin applied: a key no plugin
    applied makes ``update`` fail. State saved in ``ctx.plugin_state`` is written back.
    """


# ---------------------------------------------------------------- exec (a new process in a running container)
#
# `lamina exec` reuses the container-side hooks below that make a process (init_lsm,
# init_before_privileges, init_privileges, init_after_privileges, init_ready, init_exec) with
# ``ctx.stage == "exec"`` and the new process in ``ctx.config["process"]``; the three hooks here
# replace what only `create` does (making resources, namespaces, the rootfs).


@hookspec
def lamina_exec_prepare(ctx: Any) -> None:
    """Get ready to exec a process into the running container ``ctx.id`` (init pid ``ctx.pid``).

    Runs in the lamina process of `exec`, before the fork, after validation. Like lamina_prepare
    but creates no host resource: compile filters, import what the container side will need.
    """


@hookspec
def lamina_exec_spawned(ctx: Any, pid: int) -> None:
    """The exec's first process exists (host pid ``pid``), still in the host namespaces.

    Runs in the lamina process. The cgroups plugin moves ``pid`` into the container's cgroup here,
    before it joins the container's cgroup namespace.
    """


@hookspec
def lamina_exec_join(ctx: Any) -> None:
    """Join the namespaces of the container's init (``/proc/<ctx.pid>/ns/*``), user first.

    Runs in the exec's first process, already in the container's cgroup and made non-dumpable.
    The core forks right after, so the child is in the container's pid and time namespaces;
    joining the mount namespace moves the root and cwd to the container's root.
    """


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
    pivot_root; the host's /proc is still visible at /proc. An LSM plugin that needs options on
    the mounts made here puts them, per filesystem type, in ``ctx.scratch["lsm_mount_options"]``
    during ``lamina_prepare`` (the selinux plugin: ``context="<linux.mountLabel>"``).
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

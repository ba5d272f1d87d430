"""`exec`: start one more process in a running container.

The new process joins the container's cgroup, then all its namespaces through a pidfd of the
init (one setns, and no pid-reuse race: the pidfd is checked against the init's start time
before it is used), and gets the same LSM label, seccomp filter and capability handling as the
init, through the same container-side hooks (``ctx.stage == "exec"``). Errors before the process
runs exit 255, as runc's do; afterwards a foreground exec exits with the process's code.
"""

from __future__ import annotations

import copy
import os

from lamina import channel, state
from lamina.container import Container
from lamina.context import Context, CreateOptions
from lamina.errors import ConfigError, ContainerNotRunning, LaminaError

EXIT_EXEC_FAILED = 255


def process_from_flags(base: dict, args: list[str], *, tty: bool, env: list[str], cwd: str | None,
                       user: str | None, additional_gids: list[int], caps: list[str],
                       no_new_privs: bool, process_label: str | None, apparmor: str | None) -> dict:
    """runc's rules: start from the container's own process, replace args, add the flags."""
    p = copy.deepcopy(base)
    p["args"] = list(args)
    p["terminal"] = tty
    p.pop("consoleSize", None)
    if env:
        keys = {e.partition("=")[0] for e in env}
        p["env"] = [e for e in p.get("env") or [] if e.partition("=")[0] not in keys] + list(env)
    if cwd:
        p["cwd"] = cwd
    if user:
        uid, _, gid = user.partition(":")
        try:
            p["user"] = {"uid": int(uid), "gid": int(gid) if gid else 0}
        except ValueError:
            raise LaminaError(f"--user: {user!r} must be uid[:gid] (numbers)") from None
    if additional_gids:
        p.setdefault("user", {"uid": 0, "gid": 0})["additionalGids"] = list(additional_gids)
    if caps:
        c = p.setdefault("capabilities", {})
        for s in ("bounding", "effective", "permitted"):
            c[s] = list(dict.fromkeys((c.get(s) or []) + list(caps)))
    if no_new_privs:
        p["noNewPrivileges"] = True
    if process_label:
        p["selinuxLabel"] = process_label
    if apparmor:
        p["apparmorProfile"] = apparmor
    return p


def load_process_file(path: str) -> dict:
    import json

    try:
        with open(path, "rb") as f:
            p = json.loads(f.read())
    except FileNotFoundError:
        raise LaminaError(f"--process {path}: no such file or directory") from None
    except (OSError, ValueError) as e:
        raise LaminaError(f"--process {path}: {e}") from None
    if not isinstance(p, dict):
        raise ConfigError([f"--process {path}: must be a JSON object (a runtime-spec Process)"])
    return p


def execute(root: str, cid: str, process: dict | None, argv: list[str], opts: CreateOptions,
            detach: bool, ignore_paused: bool = False, **flags) -> int:
    try:
        return _execute(root, cid, process, argv, opts, detach, ignore_paused, **flags)
    except LaminaError as e:
        e.exit_code = EXIT_EXEC_FAILED
        raise


def _execute(root, cid, process, argv, opts, detach, ignore_paused, **flags) -> int:
    from lamina.config import schema

    c = Container.load(root, cid)
    status = c.status()
    if status == "paused" and not ignore_paused:
        raise LaminaError(f"cannot exec in a paused container {cid} (use --ignore-paused to override)")
    if status not in ("running", "created", "paused"):
        raise ContainerNotRunning(cid, status)
    config = state.read_config(c.dir)
    if process is None:
        if not argv:
            raise LaminaError("exec: give a command after the container id, or --process FILE")
        process = process_from_flags(config.get("process") or {}, argv, **flags)
    config = dict(config, process=process)
    problems = [p for p in schema.check_config(config) if p.startswith("process")]
    if problems:
        raise ConfigError(problems)
    from lamina import cgroupwarm

    # the kernel's wait for the first cgroup move passes while we load (see lamina.cgroupwarm)
    warmup = cgroupwarm.start()
    try:
        return _execute_loaded(c, config, process, opts, detach, warmup)
    finally:
        if warmup is not None:
            warmup.reap()


def _execute_loaded(c: Container, config: dict, process: dict, opts: CreateOptions, detach: bool,
                    warmup) -> int:
    from lamina.create import check_process, write_pid_file
    from lamina.pluginmanager import Plugins

    cid, root = c.id, c.root
    plugins = Plugins()
    opts.foreground = not detach
    check_process(config, c.st.get("bundle", ""), opts, plugins)
    ctx = Context(id=cid, root=root, bundle=c.st.get("bundle", ""), config=config, rootfs="/",
                  state_dir=c.dir, options=opts, pid=c.pid, plugin_state=c.st.get("plugins") or {},
                  stage="exec")
    ctx.scratch["init_start"] = c.st.get("init_start")
    from lamina import syscalls

    # a subreaper in both modes: the new process stays our child (alive or a zombie) until we
    # exit, as runc's does. Detached, the caller (conmon, a shim) inherits it only with or after
    # our own exit, so it reaps us first and has read --pid-file before it sees the process's
    # status; were it orphaned to the caller earlier, a quick `exit 5` could be reaped before
    # the caller knew the pid, and conmon then reports 255 instead of 5.
    syscalls.set_subreaper()
    pid, master = _spawn(ctx, plugins, warmup)
    if warmup is not None:
        warmup.reap()
    if c.st.get("audit_log"):
        from lamina import audit

        audit.event(c.st, "exec", exec_pid=pid, args=process.get("args"),
                    user=process.get("user"), tty=bool(process.get("terminal")))
    if opts.pid_file:
        write_pid_file(opts.pid_file, pid)
    if detach:
        if master is not None:
            os.close(master)
        return 0
    from lamina.run import install_handlers, supervise

    pending: list[int] = []
    wake = install_handlers(pending)
    return supervise(pid, master, pending, wake)


def _init_pidfd(ctx: Context) -> int:
    """A pidfd of the init, checked to be the process the container started with."""
    from lamina import syscalls
    from lamina.procinfo import is_alive

    try:
        fd = syscalls.pidfd_open(ctx.pid)
    except OSError:
        raise ContainerNotRunning(ctx.id) from None
    if not is_alive(ctx.pid, ctx.scratch.get("init_start")):
        os.close(fd)
        raise ContainerNotRunning(ctx.id)
    return fd


def _spawn(ctx: Context, plugins, warmup=None) -> tuple[int, int | None]:
    """Fork the exec's first process and follow its handshake until the new process is ready."""
    from lamina import init

    ctx.scratch["init_pidfd"] = _init_pidfd(ctx)
    plugins.exec_prepare(ctx)
    init.import_everything(ctx, plugins)
    ours, theirs = channel.Channel.pair()
    first = os.fork()
    if first == 0:
        ours.close()
        init.exec_first_process(ctx, plugins, theirs)
    theirs.close()
    os.close(ctx.scratch.pop("init_pidfd"))
    pid, master = 0, None
    try:
        plugins.exec_spawned(ctx, first)
        if warmup is not None:
            warmup.stop()  # the new process is in the container's cgroups
        ours.send(channel.GO)
        while True:
            try:
                msg, fds = ours.recv()
            except channel.ChannelClosed:
                raise LaminaError("exec: the new process exited before it was ready") from None
            kind = msg["type"]
            if kind == channel.ERROR:
                raise LaminaError(msg["msg"])
            if kind == channel.INIT_PID:
                pid = msg["pid"]
                _reap(first)
            elif kind == channel.CONSOLE:
                master = _console(ctx, fds)
            elif kind == channel.READY:
                if not pid:  # sent only after INIT_PID (lamina.init.exec_first_process)
                    raise LaminaError("exec: the new process reported ready before its pid (internal error)")
                return pid, master
            else:
                raise LaminaError(f"unexpected message from the exec process: {kind!r}")
    except BaseException:
        if pid:
            _kill(pid)
        if master is not None:
            os.close(master)
        raise
    finally:
        ours.close()
        _reap(first)


def _console(ctx: Context, fds: list[int]) -> int | None:
    if len(fds) != 1:
        raise LaminaError("exec: the new process sent no pty master")
    if ctx.options.console_socket:
        from lamina.console import send_master

        try:
            send_master(ctx.options.console_socket, fds[0])
        finally:
            os.close(fds[0])
        return None
    return fds[0]


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _kill(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

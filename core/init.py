"""The container side of `create`: the init's first process, then PID 1 of the container.

Runs in forked children of the lamina process, in the order of DESIGN §3 (see also the handshake
in lamina.channel). Anything that goes wrong is sent to the lamina process as one ERROR message
while it still listens, and printed as one line on the init's stderr after that.
"""

from __future__ import annotations

import errno
import os
import signal

from lamina import channel
from lamina.errors import LaminaError

# For tests/integration/test_faults.py: the first process sleeps this long (seconds) before it
# reports the pid it forked, as one descheduled under load would; unset, it costs nothing
_DELAY_PID = float(os.environ.get("LAMINA_TEST_DELAY_INIT_PID") or 0)


def _late_pid_for_tests() -> None:
    if _DELAY_PID:
        import time

        time.sleep(_DELAY_PID)

# exit codes of an init whose exec failed after `start` (as shells use them)
EXIT_NOT_FOUND = 127
EXIT_CANNOT_EXEC = 126
EXIT_INIT_FAILED = 255


def import_everything(ctx, plugins) -> None:
    """Import what the init needs after pivot_root, while the host's Python files are visible."""
    import fcntl  # noqa: F401
    import json  # noqa: F401
    import struct  # noqa: F401

    from lamina import paths, syscalls  # noqa: F401

    if (ctx.config.get("process") or {}).get("terminal"):
        from lamina import console  # noqa: F401  (termios: only for a pty)

    plugins.prepare  # noqa: B018  (the plugins imported theirs in lamina_prepare)


def describe(e: BaseException) -> str:
    """One line for any failure, in the wording clients match (`no such file or directory`)."""
    if isinstance(e, LaminaError):
        return str(e)
    if isinstance(e, OSError):
        what = e.filename if e.filename is not None else ""
        return f"{what}: {e.strerror.lower() if e.strerror else e}" if what else str(e)
    return f"{type(e).__name__}: {e}"


def _fail(ctx, e: BaseException) -> None:
    if ctx.channel is not None and isinstance(e, (channel.ChannelClosed, channel.PeerError)):
        os._exit(EXIT_INIT_FAILED)  # the lamina process gave up on us and reports why itself
    msg = describe(e)
    ch = ctx.channel
    if ch is not None:
        try:
            ch.send(channel.ERROR, msg=msg)
            os._exit(EXIT_INIT_FAILED)
        except Exception:
            pass
    try:
        os.write(2, f"lamina: {msg}\n".encode())
    except OSError:
        pass
    code = EXIT_INIT_FAILED
    if isinstance(e, OSError):
        code = EXIT_NOT_FOUND if e.errno == errno.ENOENT else EXIT_CANNOT_EXEC
    os._exit(code)


def _reset_signals() -> None:
    """The user process must not inherit the runtime's signal handling: Python ignores SIGPIPE,
    and a foreground `run` installs forwarding handlers and may block signals."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            # Python knows every disposition it set (or inherited as ignored): only those differ
            if signal.getsignal(sig) not in (signal.SIG_DFL, None):
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass


def first_process(ctx, plugins, ch: channel.Channel) -> None:
    """The init's first process: namespaces, then fork PID 1. Never returns."""
    ctx.channel = ch
    ctx.stage = "init"
    try:
        _reset_signals()
        ch.expect(channel.GO)  # the lamina process has put us in our cgroup
        if plugins.init_user_namespace(ctx):
            ch.send(channel.USERNS)
            ch.expect(channel.MAPS_WRITTEN)
        plugins.init_namespaces(ctx)
        # fork: the child is PID 1 of a new PID namespace and lives in a new time namespace.
        # It sends nothing before INIT_PID is sent (it waits for a byte on a pipe, or EOF): a
        # first process descheduled after the fork let PID 1 reach READY first, and the
        # container was recorded without its pid
        r, w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid:
            _late_pid_for_tests()
            ch.send(channel.INIT_PID, pid=pid)
            os.write(w, b"1")
            os._exit(0)
        os.close(w)
        os.read(r, 1)
        os.close(r)
        container_init(ctx, plugins, ch)
    except BaseException as e:  # noqa: BLE001 - every failure is reported, never a traceback
        _fail(ctx, e)
    os._exit(EXIT_INIT_FAILED)


def container_init(ctx, plugins, ch: channel.Channel) -> None:
    process = ctx.config["process"]
    plugins.init_rootfs(ctx)
    slave = None
    if process.get("terminal"):
        from lamina import console

        master, slave = console.open_pty(ctx.rootfs, process.get("consoleSize"))
        console.bind_console(ctx.rootfs, slave)
        ch.send(channel.CONSOLE, fds=[master])
        os.close(master)
    ch.send(channel.CREATE_RUNTIME)
    # the OCI state given to createContainer/startContainer hooks names the host pid
    ctx.pid = ch.expect(channel.OK).get("pid", 0)
    plugins.init_create_container(ctx)
    plugins.init_finalize(ctx)
    plugins.init_pivot(ctx)
    if slave is not None:
        console.make_controlling(slave)
    else:
        os.setsid()  # signals reach the container only as the runtime forwards them
    plugins.init_lsm(ctx)
    plugins.init_privileges(ctx)
    plugins.init_ready(ctx)
    ch.send(channel.READY)
    ch.close()
    ctx.channel = None
    wait_for_start(ctx)
    plugins.init_start_container(ctx)
    plugins.init_exec(ctx)


def wait_for_start(ctx) -> None:
    """Block until `start` opens the exec FIFO for reading, then tell it we go on. Our end stays
    open (close-on-exec) through the startContainer hooks: `start` reads until EOF, so it
    returns, and runs poststart, only once the user process was exec'd (or the init died)."""
    dirfd = ctx.scratch.pop("state_dir_fd")
    fd = os.open("exec.fifo", os.O_WRONLY | os.O_CLOEXEC, dir_fd=dirfd)
    os.close(dirfd)
    os.write(fd, b"0")
    ctx.scratch["exec_fifo_fd"] = fd


def exec_first_process(ctx, plugins, ch: channel.Channel) -> None:
    """The first process of `exec`: join the container, fork the real process. Never returns.

    Non-dumpable before it joins anything: a process of the container must not be able to
    ptrace it or read its /proc files (fds, memory) while it still holds the runtime's
    privileges and host fds. The exec'd program becomes dumpable again as exec decides."""
    from lamina import syscalls

    ctx.channel = ch
    try:
        _reset_signals()
        syscalls.prctl(syscalls.PR_SET_DUMPABLE, 0, what="PR_SET_DUMPABLE 0")
        ch.expect(channel.GO)  # the lamina process has put us in the container's cgroup
        plugins.exec_join(ctx)
        # fork: the child is in the container's pid and time namespaces. Its pid as the host
        # sees it (a seccomp agent is given that one) is known only here: passed down a pipe
        r, w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid:
            # INIT_PID first: the child goes on (to READY, on the same channel) only once it has
            # read its pid from the pipe, so the lamina process always learns the pid before READY
            _late_pid_for_tests()
            ch.send(channel.INIT_PID, pid=pid)
            os.write(w, str(pid).encode())
            os._exit(0)
        os.close(w)
        ctx.scratch["host_pid"] = int(os.read(r, 32))
        os.close(r)
        exec_process(ctx, plugins, ch)
    except BaseException as e:  # noqa: BLE001 - every failure is reported, never a traceback
        _fail(ctx, e)
    os._exit(EXIT_INIT_FAILED)


def exec_process(ctx, plugins, ch: channel.Channel) -> None:
    process = ctx.config["process"]
    if process.get("terminal"):
        from lamina import console  # imported before we joined the container (import_everything)

        master, slave = console.open_pty("/", process.get("consoleSize"))
        ch.send(channel.CONSOLE, fds=[master])
        os.close(master)
        console.make_controlling(slave)
    else:
        os.setsid()
    plugins.init_lsm(ctx)
    plugins.init_privileges(ctx)
    plugins.init_ready(ctx)
    ch.send(channel.READY)
    ch.close()
    ctx.channel = None
    plugins.init_exec(ctx)

"""`create`, host side: validate, make the state directory, prepare, fork the init, and follow the
handshake (see lamina.channel) until the init waits on the exec FIFO."""

from __future__ import annotations

import os
import signal
import time

from lamina import OCI_VERSION, audit, channel, state
from lamina.config import load as config_load
from lamina.config import schema
from lamina.context import Context, CreateOptions
from lamina.errors import ConfigError, LaminaError
from lamina.ids import check_id
from lamina.procinfo import start_time

# Fault injection for tests/integration/test_faults.py: with LAMINA_TEST_KILL_AT=<phase> this
# process SIGKILLs itself at that phase boundary of create, so that "a runtime killed at any
# point leaves a container `delete --force` removes" is tested deterministically. Read once at
# import; unset, each boundary costs one comparison. Phases, in order: state-dir, persisted,
# prepared, forked, child-spawned, init-pid, create-runtime, ready, created.
_KILL_AT = os.environ.get("LAMINA_TEST_KILL_AT")


def _boundary(phase: str) -> None:
    if _KILL_AT == phase:
        os.kill(os.getpid(), signal.SIGKILL)


def load_and_validate(cid: str, bundle: str, opts: CreateOptions, plugins) -> dict:
    """Parse and check config.json completely; raise ConfigError listing every problem."""
    check_id(cid)
    config = config_load.load(bundle)
    problems = schema.check_config(config)
    if isinstance(config, dict) and not isinstance(config.get("process"), dict):
        if "process" not in config:
            problems.append("process: is required to create a container")
    if problems:
        raise ConfigError(problems)
    check_process(config, bundle, opts, plugins)
    return config


def check_process(config: dict, bundle: str, opts: CreateOptions, plugins) -> None:
    """The plugins' checks plus the terminal/console pairing; shared by create and exec (whose
    config is the container's with the new process in it)."""
    problems = plugins.validate(config, bundle)
    proc = config["process"]
    if proc.get("terminal") and not opts.console_socket and not opts.foreground:
        problems.append("process.terminal: is true, but no --console-socket was given to receive the "
                        "pty master (use --console-socket, or run in the foreground)")
    if opts.console_socket and not proc.get("terminal"):
        problems.append("--console-socket: given, but process.terminal is false")
    if problems:
        raise ConfigError(problems)


def _now_rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _owner() -> str:
    """The user who created the container, by name as `runc list` shows it (uid if unnamed)."""
    import pwd

    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _state_of(ctx: Context, created: str) -> dict:
    return {
        "ociVersion": ctx.config.get("ociVersion", OCI_VERSION),
        "id": ctx.id,
        "pid": ctx.pid,
        "init_start": ctx.scratch.get("init_start"),
        "bundle": ctx.bundle,
        "rootfs": ctx.rootfs,
        "created": created,
        "owner": _owner(),
        "annotations": ctx.config.get("annotations") or {},
        "plugins": ctx.plugin_state,
        "freezer": ctx.scratch.get("freezer"),
        "wants_started": bool(ctx.scratch.get("wants_started")),
        "audit_log": ctx.scratch.get("audit_log"),  # so start/kill/delete log without the admin file
    }


def write_pid_file(path: str, pid: int) -> None:
    """The decimal pid, no newline, atomically (clients read it as soon as it exists)."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


class Creation:
    """One container being created; `run()` returns when it is *created* or raises after cleanup."""

    def __init__(self, root: str, cid: str, bundle: str, opts: CreateOptions) -> None:
        from lamina import cgroupwarm

        # first, so that the kernel's wait for the first cgroup move passes while we load
        self.warmup = cgroupwarm.start()
        try:
            self._load(root, cid, bundle, opts)
        except BaseException:
            self.reap_warmup()
            raise

    def stop_warmup(self) -> None:
        if self.warmup is not None:
            self.warmup.stop()

    def reap_warmup(self) -> None:
        if self.warmup is not None:
            self.warmup.reap()
            self.warmup = None

    def _load(self, root: str, cid: str, bundle: str, opts: CreateOptions) -> None:
        from lamina.pluginmanager import Plugins

        self.plugins = Plugins()
        self.bundle = config_load.bundle_path(bundle)
        try:
            config = load_and_validate(cid, self.bundle, opts, self.plugins)
        except LaminaError as e:
            audit.refused(self.plugins.admin.audit_log, cid, self.bundle, e)
            raise
        self.ctx = Context(id=cid, root=root, bundle=self.bundle, config=config,
                           rootfs=config_load.rootfs_path(self.bundle, config), options=opts)
        self.ctx.scratch["audit_log"] = self.plugins.admin.audit_log
        self.created_at = _now_rfc3339()
        self.lock_fd = -1
        self.console_master: int | None = None

    def persist(self) -> None:
        """Write state.json now: plugins call it before making a host resource, so a runtime
        killed right after still leaves enough for `delete --force` to find and remove it."""
        st = _state_of(self.ctx, self.created_at)
        state.write(self.ctx.state_dir, st)
        state.write(self.ctx.state_dir, st, state.BACKUP_FILE)

    def run(self) -> Context:
        ctx = self.ctx
        ctx.state_dir, self.lock_fd = state.make_container_dir(ctx.root, ctx.id)
        ctx.scratch["persist"] = self.persist
        try:
            # no state.json yet: until a plugin records a host resource (it persists first) there
            # is nothing for `delete --force` to undo, and `state` reads the locked, empty
            # directory as "creating"
            _boundary("state-dir")
            _boundary("persisted")
            state.write(ctx.state_dir, ctx.config, state.CONFIG_FILE)
            fifo = os.path.join(ctx.state_dir, state.FIFO)
            os.mkfifo(fifo, 0o622)
            # writable by all: the init opens it *after* becoming the container's user (any uid);
            # writing only lets `start`'s reader go on, so no one gains anything by it
            os.chmod(fifo, 0o622)
            self.plugins.prepare(ctx)
            self.persist()
            _boundary("prepared")
            self._spawn()
            self.plugins.created(ctx)
            audit.created(ctx, self.plugins, self.created_at)  # audit.json, and the log line
            self.persist()
            _boundary("created")
            if ctx.options.pid_file:
                write_pid_file(ctx.options.pid_file, ctx.pid)
        except BaseException as e:
            self.reap_warmup()
            errors = self.destroy()
            if errors and isinstance(e, LaminaError):
                raise LaminaError(f"{e} (and while cleaning up: {'; '.join(errors)})") from None
            raise
        self.reap_warmup()
        return ctx

    def destroy(self) -> list[str]:
        """Undo a failed create completely: init killed, plugins torn down, state removed."""
        ctx = self.ctx
        if ctx.pid:
            kill_init(ctx.pid, ctx.scratch.get("init_start"))
        errors = self.plugins.teardown(ctx)
        if ctx.state_dir:
            state.remove_dir(ctx.state_dir)
        return errors


    # ------------------------------------------------------------------ the handshake

    def _spawn(self) -> None:
        from lamina import init

        ctx = self.ctx
        ours, theirs = channel.Channel.pair()
        ctx.scratch["state_dir_fd"] = os.open(ctx.state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        init.import_everything(ctx, self.plugins)
        pid = os.fork()
        if pid == 0:  # the init's first process; never returns
            ours.close()
            # flock belongs to the open file: a copy kept by the init would hold the container's
            # lock until exec, and `start` (which takes the lock) would wait forever
            os.close(self.lock_fd)
            init.first_process(ctx, self.plugins, theirs)
        theirs.close()
        os.close(ctx.scratch.pop("state_dir_fd"))
        ctx.scratch["first_pid"] = pid
        try:
            self._follow(ours, pid)
        except channel.ChannelClosed:  # a send to an init that died (killed by a hook, say)
            raise LaminaError(INIT_DIED) from None
        finally:
            ours.close()
            _reap(pid)

    def _follow(self, ch: channel.Channel, first: int) -> None:
        ctx = self.ctx
        _boundary("forked")
        self.plugins.child_spawned(ctx, first)
        self.stop_warmup()  # the init is in its cgroups
        _boundary("child-spawned")
        ch.send(channel.GO)
        while True:
            try:
                msg, fds = ch.recv()
            except channel.ChannelClosed:
                raise LaminaError(INIT_DIED) from None
            kind = msg["type"]
            if kind == channel.ERROR:
                raise LaminaError(msg["msg"])
            if kind == channel.USERNS:
                self.plugins.write_id_maps(ctx, first)
                ch.send(channel.MAPS_WRITTEN)
            elif kind == channel.INIT_PID:
                ctx.pid = msg["pid"]
                ctx.scratch["init_start"] = start_time(ctx.pid)
                self.persist()
                _reap(first)
                _boundary("init-pid")
            elif kind == channel.CONSOLE:
                self._console(fds)
            elif kind == channel.CREATE_RUNTIME:
                try:
                    # the init is alone in its cgroup now (its first process reaped): limits
                    # as low as pids.max=0 cannot stop it, and the OCI hooks see them
                    self.plugins.apply_limits(ctx)
                    self.plugins.create_runtime(ctx)
                except LaminaError as e:
                    ch.send(channel.ERROR, msg=str(e))
                    raise
                _boundary("create-runtime")
                ch.send(channel.OK, pid=ctx.pid)  # the init's own host pid, for its hooks' state
            elif kind == channel.READY:
                if not ctx.pid:  # the init sends READY only after its pid was sent (lamina.init)
                    raise LaminaError("the init reported ready before its pid (internal error)")
                _boundary("ready")
                return
            else:
                raise LaminaError(f"unexpected message from the init: {kind!r}")

    def _console(self, fds: list[int]) -> None:
        if len(fds) != 1:
            raise LaminaError("the init sent no pty master")
        master = fds[0]
        if self.ctx.options.console_socket:
            from lamina.console import send_master

            try:
                send_master(self.ctx.options.console_socket, master)
            finally:
                os.close(master)
        else:
            self.console_master = master


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


INIT_DIED = "container init exited before it was ready (killed, or lamina's own error)"


def kill_init(pid: int, started: int | None) -> None:
    """SIGKILL the init if it is still the process we started (pidfd: no pid-reuse race)."""
    from lamina import syscalls
    from lamina.procinfo import is_alive

    try:
        fd = syscalls.pidfd_open(pid)
    except OSError:
        return
    try:
        if is_alive(pid, started):
            try:
                syscalls.pidfd_send_signal(fd, signal.SIGKILL)
            except OSError:
                pass
    finally:
        os.close(fd)
    # the init may be our child (run, subreaper) or not; wait briefly for it to disappear
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            wpid, _ = os.waitpid(pid, os.WNOHANG)
            if wpid:
                return
        except ChildProcessError:
            pass
        if not is_alive(pid, started):
            return
        time.sleep(0.005)

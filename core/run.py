"""`run`: create + start, and in the foreground stay as the container's supervisor.

The foreground runtime is a subreaper (the init is re-parented to it), forwards every catchable
signal to the init, relays the pty when process.terminal is true, exits with the process's code
(128+signal when it was killed) and deletes the container unless --keep.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

from lamina import syscalls
from lamina.container import Container
from lamina.context import CreateOptions
from lamina.create import Creation
from lamina.errors import LaminaError

# not forwarded: SIGCHLD (ours), SIGWINCH (resizes the pty instead), SIGURG (Go's preemption, as runc)
NOT_FORWARDED = {signal.SIGCHLD, signal.SIGWINCH, signal.SIGURG, signal.SIGKILL, signal.SIGSTOP}


def run(root: str, cid: str, bundle: str, opts: CreateOptions, detach: bool, keep: bool) -> int:
    from lamina import lifecycle

    opts.foreground = not detach
    if not detach:
        syscalls.set_subreaper()
    creation = Creation(root, cid, bundle, opts)
    pending: list[int] = []
    wake_r = -1
    if not detach:
        wake_r = install_handlers(pending)
    ctx = creation.run()
    if not detach and creation.console_master is not None and sys.stdin:
        # before start, not only in the relay: the process's first `stty size` must see it
        copy_size(sys.stdin.fileno(), creation.console_master)
    c = Container.load(root, cid)
    c.lock_fd = creation.lock_fd
    try:
        try:
            lifecycle.start_locked(c, creation.plugins)
        except BaseException:
            if not detach:
                _delete_quietly(c, creation)
            raise
    finally:
        # the lock is not held while the container runs: pause, resume, update or a client's
        # `delete --force` of a foreground container must not wait for it to exit
        c.close()
        creation.lock_fd = -1
    if detach:
        return 0
    code = supervise(ctx.pid, creation.console_master, pending, wake_r)
    if not keep:
        _delete_after(root, cid, creation)
    return code


def copy_size(tty_fd: int, master: int) -> None:
    """Give the container's pty the size of our terminal (when we have one, of a real size)."""
    if tty_fd < 0 or not os.isatty(tty_fd):
        return
    import fcntl
    import struct
    import termios

    size = fcntl.ioctl(tty_fd, termios.TIOCGWINSZ, b"\0" * 8)
    rows, cols = struct.unpack("HH", size[:4])
    if rows and cols:
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)


def _delete_after(root: str, cid: str, creation: Creation) -> None:
    """Delete the exited container, unless someone else did meanwhile."""
    from lamina import lifecycle
    from lamina.errors import ContainerNotFound

    try:
        c = Container.load(root, cid, lock=True)
    except ContainerNotFound:
        return
    try:
        lifecycle.delete_locked(c, force=True, plugins=creation.plugins)
    finally:
        c.close()


def _delete_quietly(c: Container, creation: Creation) -> None:
    from lamina import lifecycle, log

    try:
        lifecycle.delete_locked(c, force=True, plugins=creation.plugins)
    except LaminaError as e:
        log.warning(str(e))


def install_handlers(pending: list[int]) -> int:
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)

    def note(signum, _frame):
        pending.append(signum)

    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP) or sig >= signal.SIGRTMIN and sig > 64:
            continue
        try:
            signal.signal(sig, note)
        except (OSError, ValueError):
            pass
    return r


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _reap(init: int) -> int | None:
    """Reap every exited child (we are a subreaper); the init's exit code if it was among them."""
    result = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return result
        if pid == 0:
            return result
        if pid == init:
            result = _exit_code(status)


def supervise(init: int, master: int | None, pending: list[int], wake_r: int) -> int:
    relay = _Relay(master) if master is not None else None
    code = _reap(init)
    quiet = 0
    try:
        while code is None:
            fds = [wake_r] + (relay.read_fds() if relay else [])
            try:
                ready, _, _ = select.select(fds, [], [], 0.5)
            except InterruptedError:
                ready = []
            quiet += not ready
            if quiet == 1:  # still running after half a second: this process lives on
                import lamina

                lamina.longlived()
            if wake_r in ready:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
            while pending:
                sig = pending.pop(0)
                if sig == signal.SIGCHLD:
                    continue
                if sig == signal.SIGWINCH:
                    if relay:
                        relay.resize()
                    continue
                if sig not in NOT_FORWARDED:
                    try:
                        os.kill(init, sig)
                    except ProcessLookupError:
                        pass
            if relay:
                relay.pump(ready)
            code = _reap(init)
        if relay:
            relay.drain()
    finally:
        if relay:
            relay.close()
    return code


class _Relay:
    """Copies stdin to the pty master and the master to stdout; the host tty is raw meanwhile."""

    def __init__(self, master: int) -> None:
        self.master = master
        # while no slave fd is open a read of the master fails with EIO and select reports it
        # readable at once, for ever: it is then polled only twice a second (a container process
        # may open /dev/console again), not in a busy loop
        self.master_quiet_until = 0.0
        self.stdin = sys.stdin.fileno() if sys.stdin else -1
        self.stdin_open = self.stdin >= 0
        self.saved = None
        if self.stdin_open and os.isatty(self.stdin):
            import termios
            import tty

            self.saved = termios.tcgetattr(self.stdin)
            # TCSANOW, not setraw's default TCSAFLUSH: what was typed ahead goes to the container
            tty.setraw(self.stdin, termios.TCSANOW)
            self.resize()

    def read_fds(self) -> list[int]:
        master = [self.master] if time.monotonic() >= self.master_quiet_until else []
        return master + ([self.stdin] if self.stdin_open else [])

    def resize(self) -> None:
        copy_size(self.stdin, self.master)

    def pump(self, ready: list[int]) -> None:
        if self.master in ready and not self._copy_out():
            self.master_quiet_until = time.monotonic() + 0.5
        if self.stdin_open and self.stdin in ready:
            try:
                data = os.read(self.stdin, 65536)
            except OSError:
                data = b""
            if not data:
                self.stdin_open = False
                try:
                    os.write(self.master, b"\x04")  # EOF for the container's canonical-mode reader
                except OSError:
                    pass
            else:
                _write_all(self.master, data)

    def _copy_out(self) -> bool:
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every slave fd is closed
            return False
        if not data:
            return False
        _write_all(1, data)
        return True

    def drain(self) -> None:
        while select.select([self.master], [], [], 0.05)[0] and self._copy_out():
            pass

    def close(self) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.stdin, termios.TCSADRAIN, self.saved)
        os.close(self.master)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        except OSError:
            return
        data = data[n:]

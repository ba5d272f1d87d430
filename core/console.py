"""The container's terminal: a pty from the container's own devpts instance.

The master goes to the caller (over `--console-socket`: one message, the pty's name, exactly one
SCM_RIGHTS fd) or, for a foreground `run`, to the runtime that relays it. The slave becomes the
init's stdio and controlling terminal and is bind-mounted onto /dev/console.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios

from lamina import syscalls
from lamina.errors import LaminaError

TIOCGPTPEER = 0x5441
TIOCSPTLCK = 0x40045431


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def open_pty(rootfs: str, size: dict | None) -> tuple[int, int]:
    """Open a pty pair from the container's devpts (its /dev/ptmx, resolved inside the rootfs)."""
    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        master = syscalls.openat2(rootfd, "dev/ptmx", os.O_RDWR | os.O_NOCTTY, syscalls.RESOLVE_IN_ROOT)
    except OSError as e:
        raise LaminaError(f"process.terminal: cannot open the container's /dev/ptmx: {e.strerror}") from None
    finally:
        os.close(rootfd)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    if size:
        set_size(slave, size["height"], size["width"])
    return master, slave


def bind_console(rootfs: str, slave: int) -> None:
    """Bind the pty slave onto /dev/console inside the rootfs (created as an empty file)."""
    from lamina.paths import ensure_file

    target = ensure_file(rootfs, "/dev/console", 0o600)
    try:
        syscalls.mount(f"/proc/self/fd/{slave}", f"/proc/self/fd/{target}", None, syscalls.MS.BIND)
    finally:
        os.close(target)


def make_controlling(slave: int) -> None:
    """New session with the pty as controlling terminal and as stdin/stdout/stderr."""
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def send_master(path: str, master: int) -> None:
    """Hand the pty master to whoever listens on --console-socket."""
    import socket

    try:
        name = os.ttyname(master)
    except OSError:
        name = "/dev/ptmx"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.connect(path)
        socket.send_fds(s, [name.encode()], [master])
    except OSError as e:
        raise LaminaError(f"--console-socket {path}: {e.strerror or e}") from None
    finally:
        s.close()

"""The calling thread's SELinux attributes: /proc/thread-self/attr/{exec,fscreate,keycreate}.

Each applies to what the thread does next (its next execve, the files and keys it creates),
and execve resets them all. They are opened through a directory fd of the host's /proc taken
on the host side, so they are reachable after pivot_root and inside an `exec` (where the
container's /proc may be absent); ``thread-self`` there still resolves to the caller, whose
host pid that proc instance knows.
"""

from __future__ import annotations

import errno
import os

from lamina.errors import LaminaError


def open_proc() -> int:
    return os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def open_attr(proc_fd: int, name: str) -> int:
    """An fd for writing this thread's attribute ``name`` (keep it: the write may come later,
    after a seccomp filter that would refuse the open)."""
    return os.open(f"thread-self/attr/{name}", os.O_WRONLY | os.O_CLOEXEC, dir_fd=proc_fd)


def write_attr(fd: int, value: str | None, field: str, what: str) -> None:
    """Set (or with None reset) the attribute behind ``fd``; a refusal is an error naming
    ``field`` (the config.json field the value came from)."""
    data = value.encode() if value else b"\0"
    try:
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        pass
    try:
        os.write(fd, data)
    except OSError as e:
        if e.errno == errno.EINVAL:
            why = "invalid argument (not a context the loaded policy knows)"
        elif e.errno == errno.EACCES:
            why = "permission denied by the SELinux policy"
        else:
            why = os.strerror(e.errno).lower()
        raise LaminaError(f"{field}: cannot set the {what} to {value!r}: {why}") from None


def set_exec_label(label: str, proc_fd: int | None = None, field: str = "process.selinuxLabel") -> None:
    """Make the calling thread's next execve run in ``label`` (setexeccon). The one call both the
    init and `exec` make just before they exec the container's process."""
    own = proc_fd is None
    pfd = open_proc() if own else proc_fd
    try:
        fd = open_attr(pfd, "exec")
    finally:
        if own:
            os.close(pfd)
    try:
        write_attr(fd, label, field, "exec label")
    finally:
        os.close(fd)

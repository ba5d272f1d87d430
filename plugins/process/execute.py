"""Finding the executable in the container and replacing the init with it."""

from __future__ import annotations

import errno
import os
import stat

from lamina.errors import LaminaError

MAX_ARG_STRLEN = 131072  # the kernel's limit for one argv/envp string, NUL included


def env_dict(env: list[str]) -> dict[str, str]:
    out = {}
    for item in env:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def find_executable(arg0: str, env: dict[str, str]) -> str:
    """Resolve args[0] like execvp(3) would, but only with the container's PATH (never the
    runtime's, no default PATH); errors in the wording clients match."""
    if "/" in arg0:
        _check_file(arg0, arg0)
        return arg0
    path = env.get("PATH")
    if not path:
        raise LaminaError(f'exec: "{arg0}": executable file not found in $PATH')
    denied = None
    for d in path.split(":"):
        cand = os.path.join(d or ".", arg0)
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        if os.access(cand, os.X_OK):
            return cand
        denied = cand
    if denied:
        raise LaminaError(f'exec: "{arg0}": {denied}: permission denied')
    raise LaminaError(f'exec: "{arg0}": executable file not found in $PATH')


def _check_file(arg0: str, path: str) -> None:
    try:
        st = os.stat(path)
    except OSError as e:
        raise LaminaError(f'exec: "{arg0}": stat {path}: {os.strerror(e.errno).lower()}') from None
    if stat.S_ISDIR(st.st_mode):
        raise LaminaError(f'exec: "{arg0}": is a directory: permission denied')
    if not os.access(path, os.X_OK):
        raise LaminaError(f'exec: "{arg0}": permission denied')


def execute(path: str, args: list[str], env: list[str], keep_fds: int) -> None:
    """exec; on failure raise an OSError naming the file (shown as one line by the init)."""
    from lamina import syscalls

    # every fd but stdio and the preserved ones is closed by the exec itself (CLOEXEC), so a
    # failing exec can still report its error
    syscalls.close_range(3 + keep_fds, 0xFFFFFFFF, 4)  # CLOSE_RANGE_CLOEXEC
    try:
        os.execve(path, args, env_dict(env))
    except OSError as e:
        msg = os.strerror(e.errno).lower()
        if e.errno == errno.E2BIG:
            msg = "argument list too long"
        raise OSError(e.errno, msg, f"exec {path}") from None

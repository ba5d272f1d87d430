"""What this kernel's seccomp accepts, asked of the kernel itself (never assumed from its version).

Actions: seccomp(SECCOMP_GET_ACTION_AVAIL). Flags: seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL)
checks the flags before it reads the program, so it fails with EFAULT for flags it knows and
EINVAL for the others, and installs nothing.
"""

from __future__ import annotations

import errno
import functools

from lamina import syscalls
from lamina.syscalls import SECCOMP_FILTER_FLAG as F


@functools.cache
def action_available(ret: int) -> bool:
    try:
        return syscalls.seccomp_action_avail(ret)
    except OSError:  # ENOSYS / EINVAL: no seccomp filter support at all
        return False


@functools.cache
def flags_accepted(flags: int) -> bool:
    """Whether the kernel accepts this combination of SECCOMP_FILTER_FLAG_* bits."""
    try:
        syscalls.seccomp_set_mode_filter(None, flags)
    except OSError as e:
        return e.errno == errno.EFAULT
    return False  # unreachable: a NULL program cannot be installed


def flag_supported(bit: int) -> bool:
    # WAIT_KILLABLE_RECV is only valid together with NEW_LISTENER
    extra = F.NEW_LISTENER if bit & F.WAIT_KILLABLE_RECV else 0
    return flags_accepted(bit | extra)


def load_flags(requested: int, notify: bool) -> int:
    """The flags to load a filter with: those asked for, plus what the kernel needs with them."""
    flags = requested
    if notify:
        flags |= F.NEW_LISTENER
        if flags & F.TSYNC:
            # TSYNC reports a failing thread's id in the return value, where NEW_LISTENER returns
            # the fd; TSYNC_ESRCH makes such a failure an error instead, so both can be used
            flags |= F.TSYNC_ESRCH
    else:
        # it only changes how a notifying syscall waits; the kernel refuses it without a listener
        flags &= ~F.WAIT_KILLABLE_RECV
    return flags

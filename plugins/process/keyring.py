"""The container's own session keyring (runc's behaviour, unless ``--no-new-keyring``).

Without it the container would share the session keyring of whoever ran the runtime (a login's
keys: kerberos tickets, ecryptfs, ...). The keyring is named ``_ses.<container id>`` as runc
names it, created in the init's first process after the user namespace is set up (its owner is
then the container's root), and made searchable by that owner's uid (or, in a user namespace,
by others), so a later `exec` can join it by name.
"""

from __future__ import annotations

import errno

from lamina import syscalls
from lamina.errors import LaminaError

KEY_USR_SEARCH = 0x00080000
KEY_OTH_SEARCH = 0x00000008


def join_new_session_keyring(cid: str, userns: bool) -> int | None:
    """Join a new session keyring for container ``cid``; None where the kernel has no keyrings
    (ENOSYS: as runc, the container then simply has none)."""
    try:
        serial = syscalls.keyctl_join_session_keyring(f"_ses.{cid}")
    except OSError as e:
        if e.errno == errno.ENOSYS:
            return None
        raise LaminaError(f"cannot join a new session keyring: {e.strerror.lower()} ({e.filename})") from None
    try:
        perm = int(syscalls.keyctl_describe(serial).split(";")[3], 16)
        syscalls.keyctl_setperm(serial, perm | (KEY_OTH_SEARCH if userns else KEY_USR_SEARCH))
    except (OSError, ValueError, IndexError) as e:
        raise LaminaError(f"cannot set the permissions of the session keyring {serial}: {e}") from None
    return serial

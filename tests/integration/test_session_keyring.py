"""The container's own session keyring (runc's behaviour), and --no-new-keyring.

The keyring is named ``_ses.<id>``; root on the host sees it in /proc/keys (its owner, the
container's root, has view permission) while the container's init holds it.
"""

from __future__ import annotations

import time

import pytest
from lamina import syscalls, testing

pytestmark = pytest.mark.integration


def session_keyrings(cid: str) -> list[int]:
    with open("/proc/keys") as f:
        return [int(ln.split()[0], 16) for ln in f if f" _ses.{cid}:" in ln]


def test_create_joins_a_new_session_keyring(lamina, bundle):
    b = bundle(["/bin/true"])
    assert lamina.create(b).returncode == 0
    keys = session_keyrings(b.id)
    assert len(keys) == 1
    typ, uid, _gid, perm, desc = syscalls.keyctl_describe(keys[0]).split(";", 4)
    assert (typ, uid, desc) == ("keyring", "0", f"_ses.{b.id}")
    assert int(perm, 16) & 0x00080000, "the owner's uid must be able to search it (exec joins it)"
    assert lamina("delete", "--force", b.id).returncode == 0
    # released with the container's last process (the kernel's key gc runs asynchronously). If
    # an earlier test made this pytest a subreaper, the killed init is our zombie, and a zombie
    # still holds its credentials (and so the keyring) until it is reaped
    deadline = time.monotonic() + 10
    while session_keyrings(b.id) and time.monotonic() < deadline:
        testing.reap_orphans()
        time.sleep(0.05)
    assert session_keyrings(b.id) == []


def test_no_new_keyring_keeps_the_callers(lamina, bundle):
    b = bundle(["/bin/true"])
    assert lamina.create(b, "--no-new-keyring").returncode == 0
    assert session_keyrings(b.id) == []


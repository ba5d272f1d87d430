"""The kernel's SELinux interface, selinuxfs, reached through a directory fd.

libselinux finds selinuxfs by path (/sys/fs/selinux), which is gone after pivot_root or once an
`exec` process has joined the container's mount namespace. The init asks its last questions
(may this label run that file?) after that point, so this opens the directory on the host and
speaks the few selinuxfs files it needs itself: ``enforce``, ``class/<c>/index``,
``class/<c>/perms/<p>`` and the ``access`` transaction (write "scon tcon class perms", read the
answer on the same open file).
"""

from __future__ import annotations

import os

MOUNT = "/sys/fs/selinux"
AVD_FLAGS_PERMISSIVE = 0x1  # the source domain is permissive (in an enforcing policy)


class SelinuxFS:
    def __init__(self, dirfd: int) -> None:
        self.fd = dirfd

    @classmethod
    def open(cls, path: str = MOUNT) -> SelinuxFS:
        return cls(os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _read(self, rel: str) -> str:
        fd = os.open(rel, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            return os.read(fd, 4096).decode().strip()
        finally:
            os.close(fd)

    def enforcing(self) -> bool:
        return self._read("enforce") == "1"

    def class_index(self, tclass: str) -> int | None:
        try:
            return int(self._read(f"class/{tclass}/index"))
        except (OSError, ValueError):
            return None  # a class this kernel or policy does not have

    def perm_bits(self, tclass: str, perms: list[str]) -> dict[str, int]:
        """The access-vector bit of each permission the class defines (others are left out)."""
        out = {}
        for p in perms:
            try:
                out[p] = 1 << (int(self._read(f"class/{tclass}/perms/{p}")) - 1)
            except (OSError, ValueError):
                continue
        return out

    def compute_av(self, scon: str, tcon: str, tclass: str, perms: list[str]) -> tuple[list[str], bool]:
        """(the perms of ``perms`` the policy denies to scon on tcon, whether scon is permissive).
        A class or permission the policy does not define is not checked."""
        index = self.class_index(tclass)
        bits = self.perm_bits(tclass, perms) if index is not None else {}
        if not bits:
            return [], False
        requested = 0
        for b in bits.values():
            requested |= b
        fd = os.open("access", os.O_RDWR | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            os.write(fd, f"{scon} {tcon} {index} {requested:x}".encode())
            answer = os.read(fd, 4096).decode().split()
        except OSError as e:
            raise OSError(e.errno, e.strerror, f"selinuxfs access({scon}, {tcon}, {tclass})") from None
        finally:
            os.close(fd)
        allowed = int(answer[0], 16)
        flags = int(answer[5], 16) if len(answer) > 5 else 0
        return [p for p, b in bits.items() if not allowed & b], bool(flags & AVD_FLAGS_PERMISSIVE)

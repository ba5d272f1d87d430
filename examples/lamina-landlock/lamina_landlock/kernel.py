"""The three Landlock system calls, through ctypes, and the access rights of each ABI.

This is a third-party plugin: it keeps its own syscall wrappers instead of lamina's private
``lamina.syscalls``. libc.so.6 is opened at import, which happens on the host side (the plugin
imports this module in lamina_prepare, for a container that asks for Landlock, or for `lamina
features`): after pivot_root the host's libc could no longer be found.
"""

from __future__ import annotations

import ctypes
import enum
import os

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# the same numbers on every architecture (the generic syscall table)
NR_CREATE_RULESET = 444
NR_ADD_RULE = 445
NR_RESTRICT_SELF = 446
CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1


class FS(enum.IntFlag):
    """LANDLOCK_ACCESS_FS_* (linux/landlock.h)."""

    EXECUTE = 1 << 0
    WRITE_FILE = 1 << 1
    READ_FILE = 1 << 2
    READ_DIR = 1 << 3
    REMOVE_DIR = 1 << 4
    REMOVE_FILE = 1 << 5
    MAKE_CHAR = 1 << 6
    MAKE_DIR = 1 << 7
    MAKE_REG = 1 << 8
    MAKE_SOCK = 1 << 9
    MAKE_FIFO = 1 << 10
    MAKE_BLOCK = 1 << 11
    MAKE_SYM = 1 << 12
    REFER = 1 << 13  # ABI 2
    TRUNCATE = 1 << 14  # ABI 3
    IOCTL_DEV = 1 << 15  # ABI 5


# the rights each ABI version added
_BY_ABI = {1: FS(0x1FFF), 2: FS.REFER, 3: FS.TRUNCATE, 4: FS(0), 5: FS.IOCTL_DEV}
# rights that make sense on a file that is not a directory (the kernel refuses the others there)
FILE_RIGHTS = FS.EXECUTE | FS.WRITE_FILE | FS.READ_FILE | FS.TRUNCATE | FS.IOCTL_DEV
READ_ONLY = FS.EXECUTE | FS.READ_FILE | FS.READ_DIR


def handled(abi: int) -> FS:
    """Every filesystem right the kernel of this ABI can restrict."""
    out = FS(0)
    for v, rights in _BY_ABI.items():
        if v <= abi:
            out |= rights
    return out


def names(rights: FS) -> list[str]:
    return [r.name.lower() for r in FS if r & rights]


# struct landlock_ruleset_attr { __u64 handled_access_fs, handled_access_net, scoped; }
class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


# struct landlock_path_beneath_attr { __u64 allowed_access; __s32 parent_fd; } __attribute__((packed))
class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _check(ret: int, call: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), call)
    return ret


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is not built in or not enabled."""
    # int landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    ret = _syscall(ctypes.c_long(NR_CREATE_RULESET), None, ctypes.c_size_t(0),
                   ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(ret), 0)


def create_ruleset(handled_fs: FS) -> int:
    # int landlock_create_ruleset(const struct landlock_ruleset_attr *attr, size_t size, __u32 flags)
    attr = _RulesetAttr(int(handled_fs), 0, 0)
    return _check(_syscall(ctypes.c_long(NR_CREATE_RULESET), ctypes.byref(attr),
                           ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0)),
                  f"landlock_create_ruleset(handled_access_fs={int(handled_fs):#x})")


def add_path_rule(ruleset_fd: int, path_fd: int, allowed: FS, what: str) -> None:
    # int landlock_add_rule(int ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, const void *attr, __u32 flags)
    attr = _PathBeneath(int(allowed), path_fd)
    _check(_syscall(ctypes.c_long(NR_ADD_RULE), ctypes.c_int(ruleset_fd), ctypes.c_int(RULE_PATH_BENEATH),
                    ctypes.byref(attr), ctypes.c_uint32(0)),
           f"landlock_add_rule({what}, allowed_access={int(allowed):#x})")


def restrict_self(ruleset_fd: int) -> None:
    # int landlock_restrict_self(int ruleset_fd, __u32 flags)
    _check(_syscall(ctypes.c_long(NR_RESTRICT_SELF), ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)),
           "landlock_restrict_self")

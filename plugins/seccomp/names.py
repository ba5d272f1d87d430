"""The runtime spec's names for seccomp actions, operators, architectures and flags, and what
libseccomp and the kernel call them.

The spec's names are libseccomp's (config-linux.md: "strings that match the definitions in
seccomp.h"), so each is looked up in the bindings: whatever the installed libseccomp lacks is
unknown here too, and `lamina features` never reports more than the library can build.
Flags are the kernel's (seccomp(2)), because lamina loads the compiled program itself.
"""

from __future__ import annotations

import errno
from types import ModuleType

from lamina.syscalls import SECCOMP_FILTER_FLAG

# each action of config-linux.md and the attribute of the bindings that encodes it; the spec's
# SCMP_ACT_KILL is libseccomp's SCMP_ACT_KILL, which is SCMP_ACT_KILL_THREAD
ACTIONS: dict[str, str] = {
    "SCMP_ACT_KILL": "KILL",
    "SCMP_ACT_KILL_PROCESS": "KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD": "KILL",
    "SCMP_ACT_TRAP": "TRAP",
    "SCMP_ACT_ERRNO": "ERRNO",
    "SCMP_ACT_TRACE": "TRACE",
    "SCMP_ACT_ALLOW": "ALLOW",
    "SCMP_ACT_LOG": "LOG",
    "SCMP_ACT_NOTIFY": "NOTIFY",
}
# actions that carry a 16-bit datum: the errno to return, or the message for the tracer
WITH_DATA = {"SCMP_ACT_ERRNO": 4095, "SCMP_ACT_TRACE": 65535}  # largest useful value of each
DEFAULT_ERRNO = errno.EPERM  # the spec's default for errnoRet and defaultErrnoRet

OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
             "SCMP_CMP_MASKED_EQ")
MAX_ARG_INDEX = 5  # a syscall has at most six arguments

ARCH_PREFIX = "SCMP_ARCH_"

FLAGS: dict[str, SECCOMP_FILTER_FLAG] = {
    "SECCOMP_FILTER_FLAG_TSYNC": SECCOMP_FILTER_FLAG.TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": SECCOMP_FILTER_FLAG.LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": SECCOMP_FILTER_FLAG.SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": SECCOMP_FILTER_FLAG.WAIT_KILLABLE_RECV,
}

SECCOMP_RET_ACTION_FULL = 0xFFFF0000


def actions(lib: ModuleType) -> list[str]:
    """The spec's actions that these bindings can encode."""
    return [name for name, attr in ACTIONS.items() if hasattr(lib, attr)]


def action_value(lib: ModuleType, name: str, data: int | None) -> int:
    """libseccomp's value for action ``name`` (with its errno / trace message when it has one)."""
    attr = getattr(lib, ACTIONS[name])
    if name in WITH_DATA:
        return attr(DEFAULT_ERRNO if data is None else data)
    return attr


def kernel_action(value: int) -> int:
    """The SECCOMP_RET_* action of a libseccomp action value, without its data."""
    return value & 0xFFFFFFFF & SECCOMP_RET_ACTION_FULL


def operators(lib: ModuleType) -> dict[str, int]:
    """The spec's comparison operators and libseccomp's value for each."""
    return {name: getattr(lib, name[len("SCMP_CMP_"):]) for name in OPERATORS
            if hasattr(lib, name[len("SCMP_CMP_"):])}


def arches(lib: ModuleType) -> dict[str, int]:
    """Every architecture libseccomp knows, by its spec name (SCMP_ARCH_X86_64, ...)."""
    return {ARCH_PREFIX + a: getattr(lib.Arch, a) for a in dir(lib.Arch)
            if a.isupper() and a != "NATIVE" and isinstance(getattr(lib.Arch, a), int)}

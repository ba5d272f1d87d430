"""linux.seccomp → a classic BPF program, built by libseccomp in the lamina process.

Compiling on the host, before the fork, makes a profile libseccomp refuses fail `create` early
with its field path, and leaves the init a single seccomp(2) call to make. The program is what
seccomp_export_bpf() writes: exactly what seccomp_load() would hand the kernel.

Choices where the spec is silent, made as runc and crun make them:
- a syscall name libseccomp does not know is skipped (debug log): profiles list syscalls newer
  than the host's library, and a syscall the library cannot name cannot be called by name either;
- a rule whose action equals the default action is skipped (libseccomp refuses it with EACCES,
  and it changes nothing);
- several conditions on the *same* argument cannot be one libseccomp rule, so each becomes a
  rule of its own (any of them matching applies the action); conditions on different arguments
  are one rule (all must match);
- SCMP_CMP_MASKED_EQ takes ``value`` as the mask and ``valueTwo`` as the datum: the argument
  matches when ``arg & value == valueTwo`` (libseccomp's SCMP_CMP(i, SCMP_CMP_MASKED_EQ, mask, datum)).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

from lamina.errors import LaminaError
from lamina.plugins.seccomp import names, profile

BPF_MAXINSNS = 4096  # the kernel's limit for one classic BPF program
SOCK_FILTER_SIZE = 8  # struct sock_filter
NR_SCMP_ERROR = -1


class Compiled:
    """The program and what went into it (a plain class: dataclasses costs ~1 ms of import)."""

    __slots__ = ("bpf", "requested_flags", "notify", "rules", "skipped")

    def __init__(self, bpf: bytes, requested_flags: int, notify: bool) -> None:
        self.bpf = bpf
        self.requested_flags = requested_flags  # SECCOMP_FILTER_FLAG_* bits from linux.seccomp.flags
        self.notify = notify
        self.rules = 0  # libseccomp rules added
        self.skipped: list[str] = []  # what was left out, and why

    @property
    def instructions(self) -> int:
        return len(self.bpf) // SOCK_FILTER_SIZE


def _why(e: Exception) -> str:
    # the bindings raise RuntimeError("Library error (errno = -22)") for every libseccomp failure
    m = re.search(r"errno = (-?\d+)", str(e))
    return os.strerror(abs(int(m.group(1)))).lower() if m else str(e)


def _condition_sets(lib: ModuleType, args: list[dict[str, Any]]) -> list[list[Any]]:
    ops = names.operators(lib)

    def arg(a: dict[str, Any]) -> Any:
        return lib.Arg(a["index"], ops[a["op"]], a["value"], a.get("valueTwo") or 0)

    if not args:
        return [[]]
    indexes = [a["index"] for a in args]
    if len(set(indexes)) < len(indexes):
        return [[arg(a)] for a in args]
    return [[arg(a) for a in args]]


def compile_profile(section: dict[str, Any], lib: ModuleType,
                    debug: Callable[[str], None] = lambda msg: None) -> Compiled:
    """Build the filter; raise LaminaError naming the field libseccomp refused."""
    where = profile.WHERE
    default_name = section["defaultAction"]
    default = names.action_value(lib, default_name, section.get("defaultErrnoRet"))
    try:
        flt = lib.SyscallFilter(default)
    except RuntimeError as e:
        raise LaminaError(f"{where}.defaultAction: libseccomp refuses {default_name}: {_why(e)}") from None
    out = Compiled(b"", profile.requested_flags(section), profile.notify_used(section))
    arches = names.arches(lib)
    for i, arch in enumerate(section.get("architectures") or []):
        try:
            if not flt.exist_arch(arches[arch]):  # the native one is always there
                flt.add_arch(arches[arch])
        except RuntimeError as e:
            raise LaminaError(f"{where}.architectures[{i}]: libseccomp cannot add {arch}: "
                              f"{_why(e)}") from None
    unknown: set[str] = set()
    for i, rule in enumerate(section.get("syscalls") or []):
        rwhere = f"{where}.syscalls[{i}]"
        action = names.action_value(lib, rule["action"], rule.get("errnoRet"))
        if action == default:
            out.skipped.append(f"{rwhere}: same action as the default action")
            debug(f"{rwhere}: skipped, its action is the default action")
            continue
        conditions = _condition_sets(lib, rule.get("args") or [])
        for j, name in enumerate(rule["names"]):
            # __NR_SCMP_ERROR (-1): unknown to libseccomp on every architecture (a name that only
            # other architectures have resolves to a negative pseudo-number and is kept)
            if name in unknown or lib.resolve_syscall(lib.Arch.NATIVE, name) == NR_SCMP_ERROR:
                if name not in unknown:
                    debug(f"{rwhere}.names[{j}]: {name!r} is not a syscall this libseccomp knows; skipped")
                unknown.add(name)
                out.skipped.append(f"{rwhere}.names[{j}]: unknown syscall {name}")
                continue
            for conds in conditions:
                try:
                    flt.add_rule(action, name, *conds)
                except RuntimeError as e:
                    raise LaminaError(f"{rwhere}: libseccomp cannot add the rule for {name}: "
                                      f"{_why(e)}") from None
                out.rules += 1
    out.bpf = export_bpf(flt)
    if out.instructions > BPF_MAXINSNS:
        raise LaminaError(f"{where}: the compiled filter has {out.instructions} instructions, over the "
                          f"kernel's limit of {BPF_MAXINSNS}")
    return out


def export_bpf(flt: Any) -> bytes:
    """The program libseccomp would load, read back through an anonymous file."""
    fd = os.memfd_create("lamina-seccomp", os.MFD_CLOEXEC)
    try:
        with open(fd, "wb", closefd=False) as f:
            flt.export_bpf(f)
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    except RuntimeError as e:
        raise LaminaError(f"{profile.WHERE}: libseccomp cannot generate the filter: {_why(e)}") from None
    finally:
        os.close(fd)

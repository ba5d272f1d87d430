"""The cgroup v2 device controller: an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) built from the
device rules and attached to the container's cgroup.

cgroup v2 has no devices.allow file: the kernel asks every program attached to the cgroup (and
to its ancestors) for each open/mknod of a device node, and refuses unless all say yes. The
program is generated here instruction by instruction, no compiler involved. It checks the rules
from the last to the first and returns the verdict of the first one that matches (the later
rule wins, as with v1's writes); the first rule always denies everything, so whatever no rule
allows is denied.

Context (struct bpf_cgroup_dev_ctx): u32 access_type = (access << 16) | type, u32 major,
u32 minor. Registers after the prologue: r2 type, r3 access, r4 major, r5 minor.
"""

from __future__ import annotations

import os
import struct

from lamina.plugins.cgroups.devices import Rule

DEV_TYPE = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR

# opcodes (class | op | source) of the few instructions used
LDXW = 0x61  # BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
AND32_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
RSH32_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
MOV32_K = 0xB4  # BPF_ALU | BPF_MOV | BPF_K
MOV32_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K: if dst == imm goto pc + 1 + off
JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
JNE_X = 0x5D  # BPF_JMP | BPF_JNE | BPF_X
EXIT = 0x95  # BPF_JMP | BPF_EXIT


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; } (little endian)."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


PROLOGUE = (insn(LDXW, 2, 1, 0) + insn(AND32_K, 2, imm=0xFFFF) +
            insn(LDXW, 3, 1, 0) + insn(RSH32_K, 3, imm=16) +
            insn(LDXW, 4, 1, 4) + insn(LDXW, 5, 1, 8))


def _block(r: Rule) -> tuple[list[tuple], bool]:
    """The checks of one rule as (code, dst, src, imm) jumps to the next block, and whether the
    rule matches unconditionally (then nothing after it can be reached)."""
    checks: list[tuple] = []
    if r.type != "a":
        checks.append((JNE_K, 2, 0, DEV_TYPE[r.type]))
    if r.major is not None:
        checks.append((JNE_K, 4, 0, r.major))
    if r.minor is not None:
        checks.append((JNE_K, 5, 0, r.minor))
    mask = r.access_mask
    if mask != 7:
        checks.append((MOV32_X, 1, 3, None))
        checks.append((AND32_K, 1, 0, mask))
        # allow: every requested bit is granted (r1 == r3); deny: some requested bit is taken
        checks.append((JNE_X, 1, 3, None) if r.allow else (JEQ_K, 1, 0, 0))
    return checks, not checks


def build(rules: list[Rule]) -> bytes:
    """The program's instructions for a rule list (see the module docstring)."""
    out = [PROLOGUE]
    terminated = False
    for r in reversed(rules):
        checks, unconditional = _block(r)
        # each block: its checks, then r0 = verdict; exit. A failed check jumps past the exit.
        n = len(checks) + 2
        for i, (code, dst, src, imm) in enumerate(checks):
            if code in (JNE_K, JNE_X, JEQ_K):
                out.append(insn(code, dst, src, off=n - i - 1, imm=imm or 0))
            else:
                out.append(insn(code, dst, src, imm=imm or 0))
        out.append(insn(MOV32_K, 0, imm=1 if r.allow else 0))
        out.append(insn(EXIT))
        if unconditional:
            terminated = True
            break  # the verifier refuses unreachable instructions
    if not terminated:
        out += [insn(MOV32_K, 0, imm=0), insn(EXIT)]
    return b"".join(out)


def attach(cgroup_dir: str, rules: list[Rule]) -> int:
    """Load the program for ``rules`` and attach it to ``cgroup_dir``; returns its kernel id
    (kept in the container's state, to detach it from a cgroup lamina did not create)."""
    from lamina import syscalls

    code = build(rules)
    try:
        prog, _ = syscalls.bpf_prog_load(syscalls.BPF_PROG_TYPE_CGROUP_DEVICE, code, name="lamina_dev")
    except OSError as e:
        if e.errno not in (13, 22):  # EACCES/EINVAL: ask again for the verifier's explanation
            raise
        prog, _ = syscalls.bpf_prog_load(syscalls.BPF_PROG_TYPE_CGROUP_DEVICE, code, name="lamina_dev",
                                         log_size=1 << 16)
    try:
        fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            syscalls.bpf_prog_attach(fd, prog, syscalls.BPF_CGROUP_DEVICE, syscalls.BPF_F_ALLOW_MULTI)
        finally:
            os.close(fd)
        return syscalls.bpf_prog_id(prog)
    finally:
        os.close(prog)  # the attachment holds the program from now on


def detach(cgroup_dir: str, prog_id: int) -> None:
    """Detach the program ``prog_id`` from ``cgroup_dir`` if it is still attached there."""
    from lamina import syscalls

    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if prog_id not in syscalls.bpf_prog_query(fd, syscalls.BPF_CGROUP_DEVICE):
            return
        prog = syscalls.bpf_prog_get_fd_by_id(prog_id)
        try:
            syscalls.bpf_prog_detach(fd, prog, syscalls.BPF_CGROUP_DEVICE)
        finally:
            os.close(prog)
    finally:
        os.close(fd)

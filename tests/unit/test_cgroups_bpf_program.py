"""The cgroup v2 device program, instruction by instruction: a small interpreter of the BPF
subset the generator emits runs each program on every kind of request and must agree with the
reference semantics of the rule list (lamina.plugins.cgroups.devices.allowed). The kernel's own
verdict on the same programs is tested in tests/integration/test_cgroups_bpf.py."""

from __future__ import annotations

import itertools
import random
import struct

import pytest
from lamina.plugins.cgroups import bpf_devices as bd
from lamina.plugins.cgroups import devices
from lamina.plugins.cgroups.devices import DENY_ALL, Rule

pytestmark = pytest.mark.cgroups

ACC = {"m": 1, "r": 2, "w": 4}
TYPE = {"b": 1, "c": 2}
M32 = 0xFFFFFFFF


def decode(prog: bytes) -> list[tuple[int, int, int, int, int]]:
    assert len(prog) % 8 == 0
    out = []
    for i in range(0, len(prog), 8):
        code, regs, off, imm = struct.unpack("<BBhi", prog[i : i + 8])
        out.append((code, regs & 0xF, regs >> 4, off, imm))
    return out


def check_structure(insns) -> None:
    """What the kernel's verifier insists on, for this subset: jumps land inside the program,
    every instruction is reachable, and no path runs off the end."""
    n = len(insns)
    seen, todo = set(), [0]
    while todo:
        pc = todo.pop()
        if pc in seen:
            continue
        assert 0 <= pc < n, f"jump out of the program to {pc}"
        seen.add(pc)
        code, _, _, off, _ = insns[pc]
        if code == bd.EXIT:
            continue
        if code in (bd.JEQ_K, bd.JNE_K, bd.JNE_X):
            todo.append(pc + 1 + off)
        todo.append(pc + 1)
    assert seen == set(range(n)), f"unreachable instructions: {sorted(set(range(n)) - seen)}"


def execute(insns, dev_type: str, major: int, minor: int, access: str) -> int:
    ctx = struct.pack("<III", (sum(ACC[c] for c in set(access)) << 16) | TYPE[dev_type], major, minor)
    r = [0] * 11
    r[1] = "ctx"
    pc = 0
    for _ in range(10000):
        code, dst, src, off, imm = insns[pc]
        pc += 1
        if code == bd.LDXW:
            assert r[src] == "ctx" and off in (0, 4, 8)
            r[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == bd.AND32_K:
            r[dst] = (r[dst] & imm) & M32
        elif code == bd.RSH32_K:
            r[dst] = (r[dst] & M32) >> imm
        elif code == bd.MOV32_K:
            r[dst] = imm & M32
        elif code == bd.MOV32_X:
            r[dst] = r[src] & M32
        elif code == bd.JEQ_K:
            pc += off if r[dst] == imm else 0
        elif code == bd.JNE_K:
            pc += off if r[dst] != imm else 0
        elif code == bd.JNE_X:
            pc += off if r[dst] != r[src] else 0
        elif code == bd.EXIT:
            return r[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("no exit")


REQUESTS = [
    (t, ma, mi, "".join(a))
    for t in "bc"
    for ma in (1, 7, 8, 136)
    for mi in (0, 3, 5)
    for n in (1, 2, 3)
    for a in itertools.combinations("rwm", n)
]


def agree(rules: list[Rule]) -> None:
    insns = decode(bd.build(rules))
    check_structure(insns)
    for req in REQUESTS:
        want = devices.allowed(rules, *req)
        assert execute(insns, *req) == int(want), (rules, req)


def test_deny_all_alone_is_one_unconditional_block():
    insns = decode(bd.build([DENY_ALL]))
    assert len(insns) == 6 + 2  # the prologue, then r0 = 0; exit
    assert insns[-2][0] == bd.MOV32_K and insns[-2][4] == 0 and insns[-1][0] == bd.EXIT
    agree([DENY_ALL])


def test_encoding_of_the_prologue():
    # r2 = *(u32 *)(r1 + 0): opcode 0x61, dst 2, src 1 in the high nibble, offset 0
    assert bd.build([DENY_ALL])[:8] == bytes([0x61, 0x12, 0, 0, 0, 0, 0, 0])
    # r5 = *(u32 *)(r1 + 8): the minor
    assert bd.build([DENY_ALL])[40:48] == bytes([0x61, 0x15, 8, 0, 0, 0, 0, 0])


def test_later_rules_win_and_partial_access():
    rules = [
        DENY_ALL,
        Rule(True, "c", 1, 3, "rwm"),
        Rule(False, "c", 1, 3, "w"),
        Rule(True, "b", 8, None, "r"),
    ]
    agree(rules)
    insns = decode(bd.build(rules))
    assert execute(insns, "c", 1, 3, "r") == 1
    assert execute(insns, "c", 1, 3, "rw") == 0  # the later deny of w takes w away
    assert execute(insns, "b", 8, 5, "r") == 1 and execute(insns, "b", 8, 5, "rw") == 0
    assert execute(insns, "c", 7, 0, "r") == 0  # nothing allows it


def test_an_allow_all_rule_cuts_off_what_came_before():
    rules = [
        DENY_ALL,
        Rule(False, "c", 1, 3, "rwm"),
        Rule(True, "a", None, None, "rwm"),
        Rule(False, "b", 7, 0, "w"),
    ]
    insns = decode(bd.build(rules))
    check_structure(insns)  # nothing after the unconditional block: the verifier would refuse it
    agree(rules)
    assert execute(insns, "c", 1, 3, "rw") == 1 and execute(insns, "b", 7, 0, "w") == 0


def test_random_rule_lists_agree_with_the_reference():
    rnd = random.Random(4)
    for _ in range(120):
        rules = [DENY_ALL]
        for _ in range(rnd.randint(0, 8)):
            t = rnd.choice("abc")
            rules.append(
                Rule(
                    rnd.random() < 0.6,
                    t,
                    rnd.choice([None, 1, 7, 8, 136]),
                    rnd.choice([None, 0, 3, 5]),
                    "".join(rnd.sample("rwm", rnd.randint(1, 3))),
                )
            )
        agree(rules)


def test_config_rules_keep_the_default_devices():
    cfg = {
        "linux": {
            "resources": {
                "devices": [
                    {"allow": False, "access": "rwm"},
                    {"allow": False, "type": "c", "major": 1, "minor": 3},
                ]
            },
            "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229}],
        }
    }
    rules = devices.rules(cfg)
    insns = decode(bd.build(rules))
    assert execute(insns, "c", 1, 3, "rw") == 1  # /dev/null stays usable
    assert execute(insns, "c", 10, 229, "rw") == 1  # a linux.devices node is allowed
    assert execute(insns, "c", 136, 4, "rw") == 1  # a pty
    assert execute(insns, "b", 8, 0, "r") == 0 and execute(insns, "b", 8, 0, "m") == 1  # mknod only

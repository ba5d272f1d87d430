"""linux.seccomp validation: every problem at once, each with its field path (pure logic).

The kernel's answers (which actions and flags it has) are the one input given here by a stand-in,
so that "a flag the kernel lacks" can be checked on a kernel that has them all; the integration
tests run the same checks against the real kernel.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from lamina.plugins.seccomp import bindings, kernel, names, profile
from lamina.syscalls import SECCOMP_FILTER_FLAG as F

seccomp = pytest.importorskip("seccomp")
DATA = Path(__file__).resolve().parents[1] / "data"
PODMAN = json.loads((DATA / "seccomp-podman-default.json").read_text())


def fake_kernel(missing_flags: int = 0, missing_actions: tuple[int, ...] = (),
                refuse_all_flags: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        action_available=lambda ret: ret not in missing_actions,
        flag_supported=lambda bit: not bit & missing_flags,
        flags_accepted=lambda bits: not refuse_all_flags,
        load_flags=kernel.load_flags)


NOTIFY_MKDIR = {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}


def check(section: dict, k=None) -> list[str]:
    return profile.check(section, seccomp, k or fake_kernel())


def test_podmans_profile_is_valid():
    assert check(PODMAN) == []
    assert profile.check(PODMAN, seccomp, kernel) == []  # and on this kernel


def test_every_problem_with_its_path():
    section = {
        "defaultAction": "SCMP_ACT_NOPE", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_PDP11"],
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_BOGUS"],
        "listenerMetadata": "m",
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
            {"names": [], "action": "SCMP_ACT_ERRNO"},
            {"names": ["kill", ""], "action": "SCMP_ACT_ALLOW", "errnoRet": 3,
             "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]},
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4096},
            {"names": ["read"], "action": "SCMP_ACT_TRACE", "errnoRet": 65535},
        ],
    }
    problems = check(section)
    paths = [p.split(": ", 1)[0] for p in problems]
    assert paths == [
        "linux.seccomp.defaultAction",
        "linux.seccomp.architectures[1]",
        "linux.seccomp.flags[1]",
        "linux.seccomp.listenerPath",
        "linux.seccomp.listenerMetadata",
        "linux.seccomp.syscalls[1].names",
        "linux.seccomp.syscalls[2].names[1]",
        "linux.seccomp.syscalls[2].errnoRet",
        "linux.seccomp.syscalls[2].args[0].index",
        "linux.seccomp.syscalls[2].args[1].op",
        "linux.seccomp.syscalls[3].errnoRet",
    ], problems
    text = "\n".join(problems)
    assert "unknown action 'SCMP_ACT_NOPE'" in text and "unknown architecture 'SCMP_ARCH_PDP11'" in text
    assert "unknown flag 'SECCOMP_FILTER_FLAG_BOGUS'" in text
    assert "unknown operator 'SCMP_CMP_SOMETIMES'" in text
    assert "6 is out of range: a syscall has arguments 0 to 5" in text
    assert "4096 is out of range for SCMP_ACT_ERRNO [0, 4095]" in text
    assert "SCMP_ACT_ALLOW returns no errno" in text


def test_errno_ret_belongs_to_errno_and_trace_only():
    for action in names.ACTIONS:
        problems = check({"defaultAction": "SCMP_ACT_ALLOW",
                          "syscalls": [{"names": ["mkdir"], "action": action, "errnoRet": 5}],
                          "listenerPath": "/run/agent.sock"})
        if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
            assert problems == [], action
        elif action == "SCMP_ACT_ALLOW":
            assert problems == ["linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_ALLOW returns no errno "
                                "(errnoRet is for SCMP_ACT_ERRNO and SCMP_ACT_TRACE only), got 5"]
        else:
            assert [p.split(":")[0] for p in problems] == ["linux.seccomp.syscalls[0].errnoRet"], action


def test_flags_and_actions_the_kernel_lacks():
    k = fake_kernel(missing_flags=F.WAIT_KILLABLE_RECV, missing_actions=(0x7FC00000,))  # USER_NOTIF
    problems = check({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                      "listenerPath": "/run/a.sock", "syscalls": [NOTIFY_MKDIR]}, k)
    assert problems == [
        "linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported by this kernel",
        "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY is not supported by this kernel",
    ]


def test_a_combination_the_kernel_refuses():
    problems = check({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
                      "listenerPath": "/run/a.sock", "syscalls": [NOTIFY_MKDIR]},
                     fake_kernel(refuse_all_flags=True))
    assert problems == ["linux.seccomp.flags: this kernel refuses SECCOMP_FILTER_FLAG_TSYNC together with a "
                        "notify listener"]


def test_notify_needs_a_listener_and_may_not_be_default_or_for_sendmsg():
    assert check({"defaultAction": "SCMP_ACT_ALLOW",
                  "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}) == [
        "linux.seccomp.listenerPath: is required when SCMP_ACT_NOTIFY is used (the runtime sends the notify "
        "fd to the agent listening there)"]
    assert [p.split(":")[0] for p in check({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a"})] == [
        "linux.seccomp.defaultAction"]
    assert [p.split(":")[0] for p in check({
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a",
        "syscalls": [{"names": ["mkdir", "sendmsg"], "action": "SCMP_ACT_NOTIFY"}]})] == [
        "linux.seccomp.syscalls[0].names[1]"]
    long_path = "/" + "x" * 107
    assert check({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": long_path}) == [
        "linux.seccomp.listenerPath: 108 bytes is too long for a unix socket address (at most 107)"]
    # listenerPath without a notify rule is ignored, as the spec says
    assert check({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock"}) == []


def test_unknown_syscall_names_are_not_a_validation_error():
    assert check({"defaultAction": "SCMP_ACT_ALLOW",
                  "syscalls": [{"names": ["mkdir", "not_a_syscall_yet"], "action": "SCMP_ACT_ERRNO"}]}) == []


def test_without_the_bindings_everything_is_refused():
    assert profile.check({"defaultAction": "SCMP_ACT_ALLOW"}, None, kernel) == [
        f"linux.seccomp: {bindings.MISSING}"]
    assert "apt-get install python3-seccomp" in bindings.MISSING


def test_names_come_from_the_bindings():
    assert set(names.actions(seccomp)) == set(names.ACTIONS)
    assert names.action_value(seccomp, "SCMP_ACT_ERRNO", None) == seccomp.ERRNO(1)  # EPERM by default
    assert names.action_value(seccomp, "SCMP_ACT_KILL", None) == names.action_value(
        seccomp, "SCMP_ACT_KILL_THREAD", None) == seccomp.KILL
    assert names.kernel_action(seccomp.KILL_PROCESS) == 0x80000000
    assert names.kernel_action(seccomp.ERRNO(38)) == 0x50000
    assert names.operators(seccomp)["SCMP_CMP_MASKED_EQ"] == seccomp.MASKED_EQ
    assert names.arches(seccomp)["SCMP_ARCH_X86_64"] == seccomp.Arch.X86_64
    assert "SCMP_ARCH_NATIVE" not in names.arches(seccomp)
    # a binding without an action: it is not offered, and a profile using it is refused
    partial = SimpleNamespace(**{k: getattr(seccomp, k) for k in dir(seccomp) if k != "NOTIFY"})
    assert "SCMP_ACT_NOTIFY" not in names.actions(partial)
    section = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a", "syscalls": [NOTIFY_MKDIR]}
    assert profile.check(section, partial, fake_kernel()) == [
        "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY cannot be built with this libseccomp (its "
        "bindings have no NOTIFY)"]


def test_load_flags():
    assert kernel.load_flags(0, False) == 0
    assert kernel.load_flags(F.TSYNC | F.LOG, False) == F.TSYNC | F.LOG
    assert kernel.load_flags(F.WAIT_KILLABLE_RECV, False) == 0  # meaningless without a listener
    assert kernel.load_flags(F.WAIT_KILLABLE_RECV, True) == F.WAIT_KILLABLE_RECV | F.NEW_LISTENER
    assert kernel.load_flags(F.TSYNC, True) == F.TSYNC | F.NEW_LISTENER | F.TSYNC_ESRCH


def test_this_kernel_is_probed_without_installing_anything():
    with open("/proc/self/status") as f:
        before = [line for line in f if line.startswith("Seccomp")]
    assert kernel.flags_accepted(0)
    assert kernel.flag_supported(F.TSYNC) and kernel.flag_supported(F.LOG)
    assert not kernel.flags_accepted(1 << 30)  # no such flag
    assert not kernel.flags_accepted(F.TSYNC | F.NEW_LISTENER)  # needs TSYNC_ESRCH
    assert kernel.action_available(0x7FFF0000)  # SECCOMP_RET_ALLOW
    assert not kernel.action_available(0x12340000)
    with open("/proc/self/status") as f:
        assert [line for line in f if line.startswith("Seccomp")] == before

"""linux.seccomp → BPF with libseccomp, and what the program does once the kernel runs it.

The programs are loaded for real, in a forked child that sets no_new_privs first (so no
privilege is needed and the test process itself stays unfiltered).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import socket
from pathlib import Path

import pytest
from lamina import syscalls
from lamina.errors import LaminaError
from lamina.plugins.seccomp import compiler

seccomp = pytest.importorskip("seccomp")
DATA = Path(__file__).resolve().parents[1] / "data"
PODMAN = json.loads((DATA / "seccomp-podman-default.json").read_text())


def in_filtered_child(section: dict, call) -> int | str:
    """Load the compiled ``section`` in a child, run ``call()``; its errno (0: success) or the
    signal that killed the child ("SIGSYS")."""
    prog = syscalls.SockFprog.of(compiler.compile_profile(section, seccomp).bpf)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # never returns: whatever happens, the child must not go on running the tests
        code = 254
        try:
            os.close(r)
            if os.geteuid() == 0:  # a call the filter should refuse must not reach the host's
                syscalls.unshare(syscalls.CLONE.NEWUTS)
            syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
            syscalls.seccomp_set_mode_filter(prog, 0)
            try:
                call()
                code = 0
            except OSError as e:
                code = e.errno or 255
            os.write(w, bytes([code]))
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 1)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return data[0]


_libc = ctypes.CDLL("libc.so.6", use_errno=True)
x86_64_only = pytest.mark.skipif(os.uname().machine != "x86_64", reason="raw x86_64 syscall numbers")


def raw(number: int, *args: int):
    """syscall(number, *args), for calls the os module does not offer or whose errno it hides."""
    def call():
        if _libc.syscall(number, *[ctypes.c_long(a) for a in args]) < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    return call


def allow_but(*rules: dict, **kw) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules), **kw}


def test_podman_profile_compiles_completely():
    out = compiler.compile_profile(PODMAN, seccomp)
    assert out.skipped == []  # every name is known to this libseccomp
    assert out.rules == sum(len(r["names"]) for r in PODMAN["syscalls"])
    assert 0 < out.instructions <= compiler.BPF_MAXINSNS
    assert len(out.bpf) == out.instructions * 8
    assert not out.notify and out.requested_flags == 0


def test_podman_profile_answers(tmp_path):
    d = str(tmp_path / "d")
    assert in_filtered_child(PODMAN, lambda: os.mkdir(d)) == 0  # listed: allowed
    assert in_filtered_child(PODMAN, lambda: socket.sethostname("x")) == errno.EPERM  # errnoRet 1
    # setns is both allowed and refused with EPERM: libseccomp keeps the first rule
    assert in_filtered_child(PODMAN, lambda: syscalls.setns(-1, 0)) == errno.EBADF
    assert in_filtered_child(PODMAN, lambda: os.sched_rr_get_interval(0)) == 0


@x86_64_only
def test_podman_profile_unlisted_syscall_is_enosys():
    io_uring_setup = raw(425, 0, 0)
    assert in_filtered_child(PODMAN, io_uring_setup) == errno.ENOSYS  # defaultErrnoRet 38
    assert in_filtered_child(allow_but(), io_uring_setup) == errno.EFAULT  # what the kernel says


def test_unknown_names_are_skipped_and_the_rest_applies(tmp_path):
    debug: list[str] = []
    section = allow_but({"names": ["not_a_syscall", "mkdir", "mkdirat", "not_a_syscall"],
                         "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENETDOWN})
    out = compiler.compile_profile(section, seccomp, debug=debug.append)
    assert out.skipped == ["linux.seccomp.syscalls[0].names[0]: unknown syscall not_a_syscall",
                           "linux.seccomp.syscalls[0].names[3]: unknown syscall not_a_syscall"]
    assert debug == ["linux.seccomp.syscalls[0].names[0]: 'not_a_syscall' is not a syscall this libseccomp "
                     "knows; skipped"]
    assert in_filtered_child(section, lambda: os.mkdir(str(tmp_path / "x"))) == errno.ENETDOWN


def test_a_name_only_other_architectures_have_is_kept():
    out = compiler.compile_profile(allow_but({"names": ["socketcall", "vm86"], "action": "SCMP_ACT_ERRNO"}),
                                   seccomp, debug=lambda m: None)
    assert out.skipped == [] and out.rules == 2


def test_rules_equal_to_the_default_action_are_skipped():
    section = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["bdflush"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},  # EPERM == the default's EPERM
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}
    out = compiler.compile_profile(section, seccomp)
    assert out.skipped == ["linux.seccomp.syscalls[0]: same action as the default action"]
    assert out.rules == 1
    # with another errno it is a rule of its own
    section["defaultErrnoRet"] = errno.ENOSYS
    assert compiler.compile_profile(section, seccomp).rules == 2


def test_masked_eq_value_is_the_mask_value_two_the_datum():
    # kill(0, sig) fails when sig & 0x1c == 0x08
    section = allow_but({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENETDOWN,
                         "args": [{"index": 1, "value": 0x1C, "valueTwo": 0x08, "op": "SCMP_CMP_MASKED_EQ"}]})
    def kill(sig: int):
        return lambda: os.kill(os.getpid(), sig)

    assert in_filtered_child(section, kill(8 | 0x20)) == errno.ENETDOWN  # 40 & 0x1c == 8: refused
    # not matching, so sent (to signals this process ignores): 0, SIGCHLD 17 & 0x1c == 0x10,
    # SIGWINCH 28 & 0x1c == 0x1c (with mask and datum swapped, arg & 0x08 == 0x1c, 40 would pass)
    assert [in_filtered_child(section, kill(s)) for s in (0, signal.SIGCHLD, signal.SIGWINCH)] == [0, 0, 0]


@x86_64_only
@pytest.mark.parametrize("op,value,hits", [
    ("SCMP_CMP_EQ", 5, [5]), ("SCMP_CMP_NE", 5, [0, 3, 7]), ("SCMP_CMP_LT", 5, [0, 3]),
    ("SCMP_CMP_LE", 5, [0, 3, 5]), ("SCMP_CMP_GT", 5, [7]), ("SCMP_CMP_GE", 5, [5, 7])])
def test_each_comparison(op, value, hits):
    # umask(mask) never fails on its own: the filter's errno is the only way it can
    section = allow_but({"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENETDOWN,
                         "args": [{"index": 0, "value": value, "op": op}]})

    got = [m for m in (0, 3, 5, 7) if in_filtered_child(section, raw(95, m)) == errno.ENETDOWN]  # umask
    assert got == hits


def test_same_argument_conditions_are_alternatives_others_conjunctions():
    same = allow_but({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
        {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 28, "op": "SCMP_CMP_EQ"}]})
    out = compiler.compile_profile(same, seccomp)
    assert out.rules == 2
    assert in_filtered_child(same, lambda: os.kill(os.getpid(), 0)) == errno.EPERM
    assert in_filtered_child(same, lambda: os.kill(os.getpid(), signal.SIGWINCH)) == errno.EPERM  # 28
    both = allow_but({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]})
    assert compiler.compile_profile(both, seccomp).rules == 1
    assert in_filtered_child(both, lambda: os.kill(os.getpid(), 0)) == 0  # pid differs: not all match


def test_kill_actions_and_trap_end_in_sigsys(tmp_path):
    for action in ("SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"):
        section = allow_but({"names": ["mkdir", "mkdirat"], "action": action})
        assert in_filtered_child(section, lambda: os.mkdir(str(tmp_path / "k"))) == "SIGSYS", action


def test_architectures_add_to_the_native_one():
    one = compiler.compile_profile(allow_but({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}), seccomp)
    three = compiler.compile_profile(allow_but({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                                               architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                                              "SCMP_ARCH_X32"]), seccomp)
    assert three.instructions > one.instructions


def test_libseccomp_refusals_name_the_rule():
    # normally caught by validation; the compiler still names the rule if one gets through
    with pytest.raises(LaminaError, match=r"^linux\.seccomp\.syscalls\[1\]: libseccomp cannot add the rule "
                                          r"for kill: invalid argument$"):
        bad_index = [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]
        compiler.compile_profile(allow_but({"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
                                           {"names": ["kill"], "action": "SCMP_ACT_KILL", "args": bad_index}),
                                 seccomp)


def test_flags_and_notify_are_recorded():
    section = allow_but({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}, listenerPath="/run/a.sock",
                        flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"])
    out = compiler.compile_profile(section, seccomp)
    flag = syscalls.SECCOMP_FILTER_FLAG
    assert out.notify and out.requested_flags == flag.LOG | flag.TSYNC

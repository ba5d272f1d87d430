"""linux.seccomp with real containers, real filters and a real notify agent (issue 5).

tests/data/seccomp-podman-default.json is the `linux.seccomp` section podman 4.3.1 generated for
`podman create busybox true` (from ../shared/conformance/real-configs/podman-default.json, copied
so that the suite does not depend on that tree): default action ERRNO(ENOSYS), explicit EPERM
rules. Busybox has no applet for some syscalls (acct) and reaches others only after checks of its
own (swapon stats its argument first), so a few tests drop a *probe* into the rootfs: a 200-byte
static x86_64 ELF, assembled below, that makes one syscall and exits with its errno (0 on success).
"""

from __future__ import annotations

import copy
import errno
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lamina import syscalls, testing

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
PODMAN = json.loads((HERE.parent / "data" / "seccomp-podman-default.json").read_text())
LISTENER = HERE.parent / "tools" / "seccomp_listener.py"
SIGSYS_EXIT = 128 + signal.SIGSYS  # 159
ENETDOWN = errno.ENETDOWN  # 100, "Network is down": an errno nothing else would produce here

seccomp = pytest.importorskip("seccomp")  # libseccomp's bindings (python3-seccomp)


@pytest.fixture(autouse=True, scope="module")
def _subreaper():
    syscalls.set_subreaper()  # orphaned inits come to us, not to a PID 1 that does not reap them


@pytest.fixture(autouse=True)
def _reap():
    yield
    testing.reap_orphans()


def nr(name: str) -> int:
    return seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)


# ------------------------------------------------------------------ helpers


def probe_elf(number: int, args: tuple[int, ...] = ()) -> bytes:
    """A static x86_64 ELF: ``syscall(number, *args)``, then exit_group(errno or 0)."""
    # mov rdi/rsi/rdx/r10/r8/r9, imm64: the six syscall arguments
    regs = (b"\x48\xbf", b"\x48\xbe", b"\x48\xba", b"\x49\xba", b"\x49\xb8", b"\x49\xb9")
    code = b"\xb8" + struct.pack("<I", number)  # mov eax, number
    for prefix, a in zip(regs, list(args) + [0] * (6 - len(args)), strict=True):
        code += prefix + struct.pack("<Q", a & (2**64 - 1))  # mov reg, imm64
    code += (b"\x0f\x05"  # syscall
             b"\x48\x3d\x01\xf0\xff\xff"  # cmp rax, -4095
             b"\x73\x04"  # jae error
             b"\x31\xff"  # xor edi, edi
             b"\xeb\x05"  # jmp exit
             b"\x48\x89\xc7"  # error: mov rdi, rax
             b"\xf7\xdf"  # neg edi
             b"\xb8\xe7\x00\x00\x00"  # exit: mov eax, 231 (exit_group)
             b"\x0f\x05")  # syscall
    base, ehsize, phsize = 0x400000, 64, 56
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack(
        "<HHIQQQIHHHHHH", 2, 0x3E, 1, base + ehsize + phsize, ehsize, 0, 0, ehsize, phsize, 1, 0, 0, 0)
    size = ehsize + phsize + len(code)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)  # PT_LOAD, R+X
    return ehdr + phdr + code


needs_x86_64 = pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probe is x86_64 code")


def add_probe(b: testing.Bundle, name: str, syscall: str, args: tuple[int, ...] = ()) -> str:
    path = os.path.join(b.rootfs, "bin", f"probe-{name}")
    with open(path, "wb") as f:
        f.write(probe_elf(nr(syscall), args))
    os.chmod(path, 0o755)
    return f"/bin/probe-{name}"


def with_seccomp(b: testing.Bundle, section: dict | None, nnp: bool | None = None,
                 caps: tuple[str, ...] = ()) -> testing.Bundle:
    if section is None:
        b.config["linux"].pop("seccomp", None)
    else:
        b.config["linux"]["seccomp"] = copy.deepcopy(section)
    if nnp is not None:
        b.config["process"]["noNewPrivileges"] = nnp
    for s in ("bounding", "effective", "permitted"):
        have = b.config["process"]["capabilities"][s]
        b.config["process"]["capabilities"][s] = sorted(set(have) | set(caps))
    return b.write()


def rule(names: list[str], action: str, **kw) -> dict:
    return {"names": names, "action": action, **kw}


def allow_but(*rules: dict, **kw) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules), **kw}


def podman_caps() -> tuple[str, ...]:
    return ("CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
            "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
            "CAP_SETUID", "CAP_SYS_CHROOT")


def podman_bundle(bundle, args: list[str], nnp: bool = False, extra_caps: tuple[str, ...] = (),
                  section: dict | None = PODMAN) -> testing.Bundle:
    """A busybox bundle as podman configures its process: its capabilities, its profile."""
    b = bundle(args)
    for s in ("bounding", "effective", "permitted"):
        b.config["process"]["capabilities"][s] = sorted(set(podman_caps()) | set(extra_caps))
    return with_seccomp(b, section, nnp=nnp)


class KernelLog:
    """New records of /dev/kmsg since it was opened (audit records of seccomp are type=1326)."""

    def __init__(self) -> None:
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)

    def lines(self) -> list[str]:
        out = []
        while True:
            try:
                out.append(os.read(self.fd, 8192).decode(errors="replace"))
            except BlockingIOError:
                return out
            except OSError as e:
                if e.errno == errno.EPIPE:  # records overwritten while we read: go on
                    continue
                raise

    def close(self) -> None:
        os.close(self.fd)


# ------------------------------------------------------------------ podman's default profile


@pytest.mark.parametrize("nnp", [False, True], ids=["nnp-false", "nnp-true"])
def test_podman_profile_runs_a_shell_session(lamina, bundle, nnp):
    script = ("echo start; ls / >/dev/null && cat /etc/passwd | wc -l; mkdir /tmp/d && touch /tmp/d/f "
              "&& mv /tmp/d/f /tmp/d/g && rm -r /tmp/d; sleep 0.05; id -u; hostname; "
              "grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/self/status; echo done")
    b = podman_bundle(bundle, ["sh", "-c", script], nnp=nnp)
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    lines = p.stdout.split("\n")
    assert lines[:3] == ["start", "3", "0"]
    assert "Seccomp:\t2" in lines and "Seccomp_filters:\t1" in lines
    assert f"NoNewPrivs:\t{int(nnp)}" in lines
    assert lines[-2] == "done"


def test_podman_sethostname_eperm_even_with_cap_sys_admin(lamina, bundle):
    b = podman_bundle(bundle, ["sh", "-c", "hostname lamina-x; echo rc=$?; hostname"],
                      extra_caps=("CAP_SYS_ADMIN",))
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert "rc=1" in p.stdout and "lamina-x" not in p.stdout
    assert "Operation not permitted" in p.stderr
    # control: the same container without the filter may set its (namespaced) hostname
    b2 = podman_bundle(bundle, ["sh", "-c", "hostname lamina-x; echo rc=$?; hostname"],
                       extra_caps=("CAP_SYS_ADMIN",), section=None)
    p = lamina.run(b2)
    assert p.returncode == 0 and p.stdout.split() == ["rc=0", "lamina-x"], p.stderr


@needs_x86_64
def test_podman_swapon_and_acct_eperm(lamina, bundle):
    def run(section):
        script = "/bin/probe-swapon; echo swapon=$?; /bin/probe-acct; echo acct=$?"
        b = podman_bundle(bundle, ["sh", "-c", script],
                          extra_caps=("CAP_SYS_ADMIN", "CAP_SYS_PACCT"), section=section)
        add_probe(b, "swapon", "swapon")  # swapon(NULL, 0): EFAULT once the kernel looks at it
        add_probe(b, "acct", "acct")  # acct(NULL): accounting off (per pid namespace): 0
        p = lamina.run(b)
        assert p.returncode == 0, p.stderr
        return p.stdout.split()

    assert run(PODMAN) == ["swapon=1", "acct=1"]  # EPERM from the profile
    assert run(None) == ["swapon=14", "acct=0"]  # the kernel's own answers, with the capabilities


@needs_x86_64
def test_podman_unlisted_syscall_fails_enosys(lamina, bundle):
    listed = {n for r in PODMAN["syscalls"] for n in r["names"]}
    assert "io_uring_setup" not in listed
    for section, expected in ((PODMAN, errno.ENOSYS), (None, errno.EFAULT)):
        b = podman_bundle(bundle, ["/bin/probe-uring"], section=section)
        add_probe(b, "uring", "io_uring_setup")  # io_uring_setup(0, NULL)
        p = lamina.run(b)
        assert p.returncode == expected, p.stderr


@needs_x86_64
def test_default_errno_ret_is_what_unlisted_syscalls_return(lamina, bundle):
    section = {**PODMAN, "defaultErrnoRet": errno.EREMOTEIO}
    b = podman_bundle(bundle, ["/bin/probe-uring"], section=section)
    add_probe(b, "uring", "io_uring_setup")
    assert lamina.run(b).returncode == errno.EREMOTEIO


# ------------------------------------------------------------------ actions, one by one


def test_errno_with_a_custom_errno(lamina, bundle):
    b = with_seccomp(bundle(["mkdir", "/tmp/x"]),
                     allow_but(rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet=ENETDOWN)))
    p = lamina.run(b)
    assert p.returncode == 1 and "Network is down" in p.stderr
    assert not os.path.exists(os.path.join(b.rootfs, "tmp", "x"))


def test_errno_defaults_to_eperm(lamina, bundle):
    b = with_seccomp(bundle(["sh", "-c", "mkdir /tmp/x; echo rc=$?"]),
                     allow_but(rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO")))
    p = lamina.run(b)
    assert p.stdout == "rc=1\n" and "Operation not permitted" in p.stderr


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL",
                                    "SCMP_ACT_TRAP"])
@pytest.mark.parametrize("nnp", [False, True], ids=["nnp-false", "nnp-true"])
def test_killing_actions_exit_128_plus_sigsys(lamina, bundle, action, nnp):
    b = with_seccomp(bundle(["mkdir", "/tmp/x"]), allow_but(rule(["mkdir", "mkdirat"], action)), nnp=nnp)
    p = lamina.run(b)
    assert p.returncode == SIGSYS_EXIT, p.stderr
    assert not os.path.exists(os.path.join(b.rootfs, "tmp", "x"))


def test_kill_in_a_child_of_the_shell_kills_only_the_child(lamina, bundle):
    b = with_seccomp(bundle(["sh", "-c", "mkdir /tmp/x; echo rc=$?"]),
                     allow_but(rule(["mkdir", "mkdirat"], "SCMP_ACT_KILL_PROCESS")))
    p = lamina.run(b)
    # busybox runs mkdir as an applet in a forked child: the kernel kills that child alone
    assert p.returncode == 0 and p.stdout == f"rc={SIGSYS_EXIT}\n", p.stderr


def test_trace_without_a_tracer_fails_the_call_with_enosys(lamina, bundle):
    b = with_seccomp(bundle(["sh", "-c", "mkdir /tmp/x; echo rc=$?"]),
                     allow_but(rule(["mkdir", "mkdirat"], "SCMP_ACT_TRACE", errnoRet=7)))
    p = lamina.run(b)
    # seccomp(2): with no tracer attached, SECCOMP_RET_TRACE makes the call fail with ENOSYS
    assert p.stdout == "rc=1\n" and "Function not implemented" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(b.rootfs, "tmp", "x"))


def audit_records(args: list[str], section: dict, lamina, bundle, match: str, attempts: int = 3) -> list[str]:
    """Run a container; the seccomp audit records (type=1326) containing ``match`` it left in the
    kernel log. Without auditd they go through printk, whose rate limit (10 in 5 s) other tests
    may have used up: then wait for it and try again."""
    for attempt in range(attempts):
        log = KernelLog()
        try:
            b = with_seccomp(bundle(args), section)
            p = lamina.run(b)
            assert p.returncode in (0, 1), p.stderr
            time.sleep(0.2)
            records = [line for line in log.lines() if "type=1326" in line and match in line]
        finally:
            log.close()
        if records or attempt == attempts - 1:
            return records
        time.sleep(5.5)
    return []


def test_log_action_allows_and_logs(lamina, bundle):
    records = audit_records(["mkdir", "/tmp/logged"], allow_but(rule(["mkdir", "mkdirat"], "SCMP_ACT_LOG")),
                            lamina, bundle, "code=0x7ffc0000")
    assert any(f"syscall={nr('mkdir')} " in r for r in records), records


def test_masked_eq_takes_value_as_mask_and_value_two_as_datum(lamina, bundle):
    # kill(pid, sig) fails when sig & 0x1c == 0x08: SIGUSR1 (10) matches, SIGUSR2 (12) does not;
    # with the operands swapped (mask 0x08, datum 0x1c) nothing would ever match
    masked = {"index": 1, "value": 0x1C, "valueTwo": 0x08, "op": "SCMP_CMP_MASKED_EQ"}
    b = with_seccomp(bundle(["sh", "-c", "trap '' USR1 USR2; kill -USR1 $$; echo usr1=$?; "
                                         "kill -USR2 $$; echo usr2=$?; kill -0 $$; echo zero=$?"]),
                     allow_but(rule(["kill"], "SCMP_ACT_ERRNO", errnoRet=ENETDOWN, args=[masked])))
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["usr1=1", "usr2=0", "zero=0"]
    assert "Network is down" in p.stderr


def test_conditions_on_the_same_argument_are_alternatives(lamina, bundle):
    # runc's and crun's reading: two conditions on one argument cannot both be one libseccomp
    # rule, so each is a rule of its own
    args = [{"index": 1, "value": signal.SIGUSR1, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": signal.SIGUSR2, "op": "SCMP_CMP_EQ"}]
    b = with_seccomp(bundle(["sh", "-c", "trap '' USR1 USR2 HUP; kill -USR1 $$; echo a=$?; kill -USR2 $$; "
                                         "echo b=$?; kill -HUP $$; echo c=$?"]),
                     allow_but(rule(["kill"], "SCMP_ACT_ERRNO", args=args)))
    p = lamina.run(b)
    assert p.stdout.split() == ["a=1", "b=1", "c=0"], p.stderr


def test_conditions_on_different_arguments_must_all_match(lamina, bundle):
    args = [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"},
            {"index": 1, "value": signal.SIGUSR1, "op": "SCMP_CMP_EQ"}]
    b = with_seccomp(bundle(["sh", "-c", "trap '' USR1 USR2; kill -USR1 $$; echo a=$?; kill -USR2 $$; "
                                         "echo b=$?; kill -USR1 0; echo c=$?"]),
                     allow_but(rule(["kill"], "SCMP_ACT_ERRNO", args=args)))
    p = lamina.run(b)
    assert p.stdout.split() == ["a=1", "b=0", "c=0"], p.stderr


# ------------------------------------------------------------------ flags


@pytest.mark.parametrize("flag", ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                  "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
def test_flag_is_accepted_and_the_filter_applies(lamina, bundle, flag):
    b = with_seccomp(bundle(["sh", "-c", "mkdir /tmp/x; echo rc=$?; grep ^Seccomp: /proc/self/status"]),
                     allow_but(rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet=ENETDOWN), flags=[flag]))
    p = lamina.run(b)
    assert p.returncode == 0 and p.stdout.split() == ["rc=1", "Seccomp:", "2"], p.stderr
    assert "Network is down" in p.stderr


def test_log_flag_logs_errno_actions(lamina, bundle):
    """SECCOMP_FILTER_FLAG_LOG: the kernel logs the filter's ERRNO answers, which it does not
    without the flag (kernel.seccomp.actions_logged lists errno, but only for filters that ask)."""
    with open("/proc/sys/kernel/seccomp/actions_logged") as f:
        if "errno" not in f.read().split():
            pytest.skip("kernel.seccomp.actions_logged does not include errno")

    def section(code: int, flags: list[str]) -> dict:
        return allow_but(rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet=code), flags=flags)

    # the record carries the action without its data: code=0x50000 is SECCOMP_RET_ERRNO
    match = f'comm="mkdir" exe="/bin/busybox" sig=0 arch={seccomp.system_arch():x} syscall={nr("mkdir")} '
    unflagged = audit_records(["mkdir", "/tmp/x"], section(errno.EMEDIUMTYPE, []), lamina, bundle, match,
                              attempts=1)
    flagged = audit_records(["mkdir", "/tmp/x"], section(errno.ENOMEDIUM, ["SECCOMP_FILTER_FLAG_LOG"]),
                            lamina, bundle, match)
    assert unflagged == [] and len(flagged) == 1 and "code=0x50000" in flagged[0], flagged


# ------------------------------------------------------------------ ordering


def test_filter_is_loaded_before_the_privilege_drop_without_no_new_privileges(lamina, bundle):
    section = allow_but(rule(["setgroups"], "SCMP_ACT_ERRNO", errnoRet=ENETDOWN))
    # without noNewPrivileges the filter goes in before lamina sets groups and ids, so the
    # runtime's own setgroups is refused by it ...
    b = with_seccomp(bundle(["true"]), section, nnp=False)
    p = lamina.run(b)
    assert p.returncode == 1 and "setgroups: network is down" in p.stderr.lower(), p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    # ... with it, as late as possible: after the drop, so the same profile runs
    b = with_seccomp(bundle(["true"]), section, nnp=True)
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr


def test_start_container_hooks_run_under_the_filter_create_container_hooks_do_not(lamina, bundle, tmp_path):
    b = bundle(["true"])
    # createContainer runs before pivot_root (it sees the host's paths), startContainer after it
    where = {"createContainer": str(tmp_path / "createContainer"), "startContainer": "/tmp/startContainer"}
    grep = "grep ^Seccomp: /proc/self/status > {}"
    b.config["hooks"] = {k: [{"path": "/bin/sh", "args": ["sh", "-c", grep.format(w)]}]
                         for k, w in where.items()}
    with_seccomp(b, allow_but(rule(["mkdir"], "SCMP_ACT_ERRNO")), nnp=True)
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    status = {"createContainer": Path(where["createContainer"]).read_text().split(),
              "startContainer": Path(b.rootfs, "tmp", "startContainer").read_text().split()}
    assert status == {"createContainer": ["Seccomp:", "0"], "startContainer": ["Seccomp:", "2"]}

# ------------------------------------------------------------------ unknown and redundant rules


def test_unknown_syscall_names_are_skipped_with_a_debug_log(lamina, bundle):
    b = with_seccomp(bundle(["sh", "-c", "mkdir /dev/shm/foo; echo rc=$?"]),
                     allow_but(rule(["mkdir", "mkdirat", "this_syscall_does_not_exist"], "SCMP_ACT_ERRNO"),
                               architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]))
    lamina.ids.add(b.id)
    p = lamina("--debug", "run", "--bundle", b.path, b.id)
    assert p.returncode == 0 and "rc=1" in p.stdout, p.stderr
    assert "'this_syscall_does_not_exist' is not a syscall this libseccomp knows; skipped" in p.stderr
    p = lamina.run(b)  # and without --debug, nothing is said
    assert p.returncode == 0
    assert p.stderr == "mkdir: can't create directory '/dev/shm/foo': Operation not permitted\n"


def test_rules_repeating_the_default_action_are_harmless(lamina, bundle):
    section = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
               "syscalls": [rule(["bdflush"], "SCMP_ACT_ERRNO", errnoRet=1), *PODMAN["syscalls"][1:]]}
    b = with_seccomp(bundle(["echo", "ok"]), section)
    p = lamina.run(b)
    assert p.returncode == 0 and p.stdout == "ok\n", p.stderr


# ------------------------------------------------------------------ SCMP_ACT_NOTIFY


class Listener:
    """tests/tools/seccomp_listener.py serving one container."""

    def __init__(self, tmp: Path, *how: str) -> None:
        self.socket = str(tmp / "agent.sock")
        self.state_file = tmp / "agent-state.json"
        self.log = tmp / "agent-calls.jsonl"
        self.proc = subprocess.Popen([sys.executable, str(LISTENER), "--socket", self.socket,
                                      "--state-file", str(self.state_file), "--log", str(self.log), *how],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = select.select([self.proc.stdout], [], [], 10)[0]
        assert ready and self.proc.stdout.readline() == "listening\n", self.proc.stderr.read()

    def finish(self, timeout: float = 10) -> tuple[dict, list[dict]]:
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        calls = [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []
        return json.loads(self.state_file.read_text()), calls

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def listener(tmp_path):
    made: list[Listener] = []

    def start(*how: str) -> Listener:
        made.append(Listener(tmp_path, *how))
        return made[-1]

    yield start
    for li in made:
        li.stop()


def notify_section(sock: str, flags: list[str] | None = None, metadata: str = "test-metadata") -> dict:
    return allow_but(rule(["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY"), listenerPath=sock,
                     listenerMetadata=metadata, flags=flags or [])


MKDIR_SCRIPT = "mkdir /tmp/n; echo rc=$?; test -d /tmp/n; echo exists=$?"


@pytest.mark.parametrize("flags", [[], ["SECCOMP_FILTER_FLAG_TSYNC"],
                                   ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]],
                         ids=["no-flags", "tsync", "wait-killable-recv"])
@pytest.mark.parametrize("nnp", [False, True], ids=["nnp-false", "nnp-true"])
def test_notify_agent_answers_with_an_errno(lamina, bundle, listener, flags, nnp):
    agent = listener("--errno", str(ENETDOWN))
    b = with_seccomp(bundle(["sh", "-c", MKDIR_SCRIPT]), notify_section(agent.socket, flags), nnp=nnp)
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["rc=1", "exists=1"] and "Network is down" in p.stderr
    state, calls = agent.finish()
    # the container process state, as the runtime spec describes it
    assert state["fds"] == ["seccompFd"] and state["metadata"] == "test-metadata"
    assert state["ociVersion"] and state["state"]["id"] == b.id and state["state"]["status"] == "creating"
    assert state["state"]["bundle"] == b.path and state["state"]["pid"] == state["pid"]
    assert state["_nspid"] == [state["pid"], 1]  # the host pid of the container's PID 1
    assert [c["nr"] for c in calls] == [nr("mkdir")]


def test_notify_agent_fakes_success(lamina, bundle, listener):
    agent = listener("--success", "0")
    b = with_seccomp(bundle(["sh", "-c", MKDIR_SCRIPT]), notify_section(agent.socket))
    p = lamina.run(b)
    # mkdir "succeeded" without running: the agent answered, not the kernel
    assert p.returncode == 0 and p.stdout.split() == ["rc=0", "exists=1"], p.stderr
    agent.finish()


def test_notify_agent_lets_the_call_continue(lamina, bundle, listener):
    agent = listener("--continue")
    b = with_seccomp(bundle(["sh", "-c", MKDIR_SCRIPT]), notify_section(agent.socket))
    p = lamina.run(b)
    assert p.returncode == 0 and p.stdout.split() == ["rc=0", "exists=0"], p.stderr
    _, calls = agent.finish()
    assert len(calls) == 1


def test_notify_state_pid_is_the_init_of_lamina_state(lamina, bundle, listener, tmp_path):
    agent = listener("--errno", str(errno.EPERM))
    b = with_seccomp(bundle(["mkdir", "/tmp/n"]), notify_section(agent.socket, metadata=""))
    with open(tmp_path / "out", "wb") as out:
        p = subprocess.run(lamina.argv("create", "--bundle", b.path, b.id), stdout=out, stderr=out,
                           stdin=subprocess.DEVNULL, timeout=60)
    lamina.ids.add(b.id)
    assert p.returncode == 0, (tmp_path / "out").read_text()
    init = lamina.state(b.id)["pid"]
    assert lamina("start", b.id).returncode == 0
    state, calls = agent.finish()
    assert state["pid"] == init and "metadata" not in state
    assert len(calls) == 1


def test_notify_without_an_agent_fails_create_and_leaves_nothing(lamina, bundle, tmp_path):
    b = with_seccomp(bundle(["true"]), notify_section(str(tmp_path / "nobody-listens.sock")))
    p = lamina.run(b)
    assert p.returncode == 1
    assert p.stderr.startswith("lamina: linux.seccomp.listenerPath: cannot connect to the seccomp agent at ")
    assert p.stderr.count("\n") == 1
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


# ------------------------------------------------------------------ exec


def started(lamina, b: testing.Bundle, tmp_path: Path) -> int:
    """Create and start ``b`` (its stdio to a file), return its init's pid."""
    with open(tmp_path / f"{b.id}.out", "wb") as out:
        p = subprocess.run(lamina.argv("create", "--bundle", b.path, b.id), stdout=out, stderr=out,
                           stdin=subprocess.DEVNULL, timeout=60)
    lamina.ids.add(b.id)
    assert p.returncode == 0, (tmp_path / f"{b.id}.out").read_text()
    assert lamina("start", b.id).returncode == 0
    return lamina.state(b.id)["pid"]


@pytest.mark.parametrize("nnp", [False, True], ids=["nnp-false", "nnp-true"])
def test_exec_runs_under_the_containers_filter(lamina, bundle, tmp_path, nnp):
    b = with_seccomp(bundle(["sleep", "100"]),
                     allow_but(rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet=ENETDOWN)), nnp=nnp)
    started(lamina, b, tmp_path)
    p = lamina("exec", b.id, "sh", "-c", "grep ^Seccomp: /proc/self/status; mkdir /tmp/e; echo rc=$?")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["Seccomp:", "2", "rc=1"] and "Network is down" in p.stderr
    p = lamina("exec", "--no-new-privs", b.id, "mkdir", "/tmp/e")
    assert p.returncode == 1 and "Network is down" in p.stderr
    assert not os.path.exists(os.path.join(b.rootfs, "tmp", "e"))


def test_exec_into_a_notify_container_reaches_the_agent(lamina, bundle, listener, tmp_path):
    agent = listener("--errno", str(ENETDOWN), "--connections", "2")
    b = with_seccomp(bundle(["sleep", "100"]), notify_section(agent.socket))
    init = started(lamina, b, tmp_path)
    p = lamina("exec", "--pid-file", str(tmp_path / "exec.pid"), b.id, "sh", "-c", MKDIR_SCRIPT)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["rc=1", "exists=1"] and "Network is down" in p.stderr
    assert lamina("kill", b.id, "KILL").returncode == 0
    state, calls = agent.finish()
    assert state["pid"] == init
    exec_state = json.loads((tmp_path / "agent-state.json.1").read_text())
    # the exec'd process's own host pid (as --pid-file says), in the container's pid namespace
    assert exec_state["pid"] == int((tmp_path / "exec.pid").read_text())
    assert len(exec_state["_nspid"]) == 2 and exec_state["_nspid"][1] != 1
    assert exec_state["state"]["status"] == "running" and exec_state["state"]["id"] == b.id
    assert [c["nr"] for c in calls] == [nr("mkdir")]


# ------------------------------------------------------------------ the conformance cases


def test_case_029_init_killed_by_kill_process(lamina, bundle):
    b = with_seccomp(bundle(["mkdir", "/dev/shm/x"]),
                     allow_but(rule(["mkdir", "mkdirat"], "SCMP_ACT_KILL_PROCESS")), nnp=False)
    assert lamina.run(b).returncode == SIGSYS_EXIT


def test_case_031_unknown_names_beside_real_ones(lamina, bundle):
    b = with_seccomp(bundle(["sh", "-c", "mkdir /dev/shm/foo; echo rc=$?"]),
                     allow_but(rule(["mkdir", "mkdirat", "this_syscall_does_not_exist",
                                     "another_fake_syscall"], "SCMP_ACT_ERRNO"),
                               architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
                     nnp=False)
    p = lamina.run(b)
    assert p.returncode == 0 and p.stdout == "rc=1\n" and "Operation not permitted" in p.stderr


def test_case_032_allow_rule_under_allow_default(lamina, bundle):
    b = with_seccomp(bundle(["echo", "ok"]), allow_but(rule(["getpid", "getppid"], "SCMP_ACT_ALLOW")))
    p = lamina.run(b)
    assert p.returncode == 0 and p.stdout == "ok\n", p.stderr


def test_case_033_errno_ret_100(lamina, bundle):
    b = with_seccomp(bundle(["mkdir", "/dev/shm/foo"]),
                     allow_but(rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet=100)), nnp=False)
    p = lamina.run(b)
    assert p.returncode != 0 and "Network is down" in p.stdout + p.stderr


def test_case_035_log_then_notify_without_listener_then_unknown_arch(lamina, bundle):
    # (SCMP_ACT_LOG as the default logs every syscall: printk's rate limit is used up after it)
    b = with_seccomp(bundle(["echo", "logged-ok"]),
                     {"defaultAction": "SCMP_ACT_LOG", "syscalls": [rule(["mkdir"], "SCMP_ACT_ERRNO")]})
    p = lamina.run(b)
    assert p.returncode == 0 and p.stdout == "logged-ok\n", p.stderr
    with_seccomp(b, allow_but(rule(["mkdir"], "SCMP_ACT_NOTIFY")))
    p = lamina.run(b)
    assert p.returncode != 0 and "listenerpath" in (p.stdout + p.stderr).lower()
    with_seccomp(b, allow_but(rule(["mkdir"], "SCMP_ACT_ERRNO"), architectures=["SCMP_ARCH_X86_64",
                                                                                "SCMP_ARCH_NOT_REAL"]))
    p = lamina.run(b)
    assert p.returncode != 0 and "NOT_REAL" in p.stdout + p.stderr


# ------------------------------------------------------------------ bad profiles


BAD = {
    "unknown-action": (allow_but(rule(["mkdir"], "SCMP_ACT_FOO")),
                       "linux.seccomp.syscalls[0].action: unknown action 'SCMP_ACT_FOO'"),
    "unknown-default-action": ({"defaultAction": "ALLOW"},
                               "linux.seccomp.defaultAction: unknown action 'ALLOW'"),
    "unknown-arch": (allow_but(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_NOT_REAL"]),
                     "linux.seccomp.architectures[1]: unknown architecture 'SCMP_ARCH_NOT_REAL'"),
    "bad-op": (allow_but(rule(["kill"], "SCMP_ACT_ERRNO",
                              args=[{"index": 1, "value": 9, "op": "SCMP_CMP_XOR"}])),
               "linux.seccomp.syscalls[0].args[0].op: unknown operator 'SCMP_CMP_XOR'"),
    "arg-index-6": (allow_but(rule(["kill"], "SCMP_ACT_ERRNO",
                                   args=[{"index": 6, "value": 9, "op": "SCMP_CMP_EQ"}])),
                    "linux.seccomp.syscalls[0].args[0].index: 6 is out of range"),
    "notify-without-listener": (allow_but(rule(["mkdir"], "SCMP_ACT_NOTIFY")),
                                "linux.seccomp.listenerPath: is required when SCMP_ACT_NOTIFY is used"),
    "notify-default": ({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/x.sock"},
                       "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"),
    "notify-sendmsg": (allow_but(rule(["sendmsg"], "SCMP_ACT_NOTIFY"), listenerPath="/run/x.sock"),
                       "linux.seccomp.syscalls[0].names[0]: SCMP_ACT_NOTIFY cannot be used for sendmsg"),
    "metadata-without-listener": (allow_but(listenerMetadata="x"),
                                  "linux.seccomp.listenerMetadata: must not be set without listenerPath"),
    "relative-listener": (allow_but(rule(["mkdir"], "SCMP_ACT_NOTIFY"), listenerPath="agent.sock"),
                          "linux.seccomp.listenerPath: must be an absolute path, got 'agent.sock'"),
    "unknown-flag": (allow_but(flags=["SECCOMP_FILTER_FLAG_FOO"]),
                     "linux.seccomp.flags[0]: unknown flag 'SECCOMP_FILTER_FLAG_FOO'"),
    "errno-ret-on-allow": (allow_but(rule(["mkdir"], "SCMP_ACT_KILL", errnoRet=1)),
                           "linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_KILL returns no errno"),
    "default-errno-ret-on-allow": ({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1},
                                   "linux.seccomp.defaultErrnoRet: SCMP_ACT_ALLOW returns no errno"),
    "errno-too-big": (allow_but(rule(["mkdir"], "SCMP_ACT_ERRNO", errnoRet=5000)),
                      "linux.seccomp.syscalls[0].errnoRet: 5000 is out of range for SCMP_ACT_ERRNO "
                      "[0, 4095]"),
    "no-names": (allow_but(rule([], "SCMP_ACT_ERRNO")),
                 "linux.seccomp.syscalls[0].names: must contain at least one"),
    "type": (allow_but(rule(["mkdir"], "SCMP_ACT_ERRNO", errnoRet=-1)),
             "linux.seccomp.syscalls[0].errnoRet: -1 is out of range"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_profile_is_refused_with_its_field_path_and_leaves_nothing(lamina, bundle, case):
    section, message = BAD[case]
    b = with_seccomp(bundle(["true"]), section)
    p = lamina.run(b)
    assert p.returncode == 1 and p.stdout == ""
    assert message in p.stderr and p.stderr.startswith("lamina: ") and p.stderr.count("\n") == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_every_problem_is_reported_at_once(lamina, bundle):
    section = {"defaultAction": "SCMP_ACT_BOGUS", "architectures": ["SCMP_ARCH_VAX"], "flags": ["NOPE"],
               "syscalls": [rule(["mkdir"], "SCMP_ACT_NOTIFY"),
                            rule(["kill"], "SCMP_ACT_ERRNO",
                                 args=[{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"},
                                       {"index": 0, "value": 1, "op": "EQ"}])]}
    b = with_seccomp(bundle(["true"]), section)
    p = lamina.run(b)
    assert p.returncode == 1
    for path in ("linux.seccomp.defaultAction:", "linux.seccomp.architectures[0]:", "linux.seccomp.flags[0]:",
                 "linux.seccomp.listenerPath:", "linux.seccomp.syscalls[1].args[0].index:",
                 "linux.seccomp.syscalls[1].args[1].op:"):
        assert path in p.stderr, path
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_disabled_plugin_means_linux_seccomp_is_refused(lamina, bundle, admin_file):
    admin = admin_file('[plugins]\ndisable = ["seccomp"]\n')
    b = with_seccomp(bundle(["true"]), allow_but(rule(["mkdir"], "SCMP_ACT_ERRNO")))
    p = lamina.run(b, admin=admin)
    assert p.returncode == 1 and "no enabled plugin honours linux.seccomp" in p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    assert lamina.run(bundle(["true"]), admin=admin).returncode == 0  # without the field it runs


# ------------------------------------------------------------------ without libseccomp's bindings


@pytest.fixture
def no_bindings(tmp_path):
    """An environment where `import seccomp` fails, as on a host without python3-seccomp."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "seccomp.py").write_text("raise ImportError('python3-seccomp is not installed here')\n")
    cache = tmp_path / "cache"
    return {"PYTHONPATH": str(shadow), "LAMINA_CACHE_DIR": str(cache)}


def test_without_bindings_the_plugin_loads_but_refuses_linux_seccomp(lamina, bundle, no_bindings):
    env = {**lamina.env(), **no_bindings}
    p = subprocess.run(lamina.argv("features"), env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["linux"]["seccomp"] == {"enabled": False}
    b = with_seccomp(bundle(["true"]), allow_but(rule(["mkdir"], "SCMP_ACT_ERRNO")))
    p = subprocess.run(lamina.argv("run", "--bundle", b.path, b.id), env=env, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    lamina.ids.add(b.id)
    assert p.returncode == 1
    assert "linux.seccomp: libseccomp's Python bindings (module seccomp) cannot be imported" in p.stderr
    assert "apt-get install python3-seccomp" in p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    b2 = bundle(["echo", "fine"])
    p = subprocess.run(lamina.argv("run", "--bundle", b2.path, b2.id), env=env, capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    lamina.ids.add(b2.id)
    assert p.returncode == 0 and p.stdout == "fine\n", p.stderr


# ------------------------------------------------------------------ bench/seccomp_cost.py


@pytest.mark.skipif(not shutil.which("hyperfine"), reason="hyperfine is not installed")
def test_cost_benchmark_runs(lamina, tmp_path):
    out = tmp_path / "cost.json"
    script = HERE.parents[1] / "bench" / "seccomp_cost.py"
    argv = [sys.executable, str(script), "--lamina", lamina.binary, "--runs", "2", "--warmup", "1",
            "--json", str(out)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "with podman's profile" in p.stdout
    data = json.loads(out.read_text())
    assert set(data["run_s"]) == {"lamina", "lamina+seccomp"}
    assert data["parts_median_s"]["instructions"] > 1000 and 0 < data["parts_median_s"]["compile"] < 1


# ------------------------------------------------------------------ lamina features


def test_features_report_what_this_host_supports(lamina):
    p = lamina("features")
    assert p.returncode == 0, p.stderr
    sc = json.loads(p.stdout)["linux"]["seccomp"]
    assert sc["enabled"] is True
    # the kernel's own list of actions, in its names
    kernel_names = {"kill_process": "SCMP_ACT_KILL_PROCESS", "kill_thread": "SCMP_ACT_KILL_THREAD",
                    "trap": "SCMP_ACT_TRAP", "errno": "SCMP_ACT_ERRNO", "user_notif": "SCMP_ACT_NOTIFY",
                    "trace": "SCMP_ACT_TRACE", "log": "SCMP_ACT_LOG", "allow": "SCMP_ACT_ALLOW"}
    with open("/proc/sys/kernel/seccomp/actions_avail") as f:
        avail = {kernel_names[a] for a in f.read().split() if a in kernel_names}
    assert set(sc["actions"]) - {"SCMP_ACT_KILL"} == avail
    assert ("SCMP_ACT_KILL" in sc["actions"]) == ("SCMP_ACT_KILL_THREAD" in avail)
    ops = ("NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ")
    assert set(sc["operators"]) == {f"SCMP_CMP_{o}" for o in ops}
    libs = {f"SCMP_ARCH_{a}" for a in dir(seccomp.Arch) if a.isupper() and a != "NATIVE"}
    assert set(sc["archs"]) == libs and "SCMP_ARCH_X86_64" in sc["archs"]
    assert set(sc["supportedFlags"]) <= set(sc["knownFlags"])
    assert set(sc["knownFlags"]) == {f"SECCOMP_FILTER_FLAG_{f}" for f in
                                     ("TSYNC", "LOG", "SPEC_ALLOW", "WAIT_KILLABLE_RECV")}

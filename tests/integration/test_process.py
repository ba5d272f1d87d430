"""The process plugin (and the sysctls of the namespaces plugin) with real containers: user and
groups, umask, the five capability sets as /proc/self/status shows them, rlimits,
no_new_privs, oom_score_adj, sysctls, env/cwd/args and the lookup of args[0] in the
container's own PATH, with the error wording clients match.

Root on this machine lacks CAP_SYS_RESOURCE: raising a hard rlimit or lowering oom_score_adj
fails for every runtime; the tests expect the clear error then, and the value otherwise.
"""

from __future__ import annotations

import os
import resource
import stat
import subprocess

import pytest
from lamina import testing

pytestmark = pytest.mark.integration

CAP = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_NET_BIND_SERVICE": 10, "CAP_SYS_ADMIN": 21, "CAP_AUDIT_WRITE": 29}
CAP_SYS_RESOURCE = 24


def sh(bundle, script: str) -> testing.Bundle:
    return bundle(["sh", "-c", script])


def ran(lamina, b: testing.Bundle, **kw) -> str:
    __tracebackhide__ = True
    p = lamina.run(b.write(), **kw)
    assert p.returncode == 0, f"exit {p.returncode}: {p.stdout}{p.stderr}"
    return p.stdout


def refused(lamina, b: testing.Bundle, code: int = 1) -> str:
    """Run a container that must not start: the exit code, one line on stderr, nothing left."""
    __tracebackhide__ = True
    p = lamina.run(b.write())
    assert p.returncode == code, f"exit {p.returncode}: {p.stdout}{p.stderr}"
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    return p.stderr.strip()


def status(out: str) -> dict[str, str]:
    return {k: v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def mask(*names: str) -> str:
    m = 0
    for n in names:
        m |= 1 << CAP[n]
    return f"{m:016x}"


def have_cap(n: int) -> bool:
    with open("/proc/self/status") as f:
        eff = int(status(f.read())["CapEff"], 16)
    return bool(eff & (1 << n))


# ------------------------------------------------------------------ user, groups, umask


def test_numeric_user_groups_without_passwd(lamina, bundle):
    # conformance case 009: ids need no lookup in the image
    b = sh(bundle, "id -u; id -g; id -G")
    os.unlink(os.path.join(b.rootfs, "etc", "passwd"))
    os.unlink(os.path.join(b.rootfs, "etc", "group"))
    b.config["process"]["user"] = {"uid": 12345, "gid": 23456, "additionalGids": [44, 1000, 65534]}
    assert ran(lamina, b).splitlines() == ["12345", "23456", "23456 44 1000 65534"]


def test_no_additional_gids_drops_the_runtimes_groups(lamina, bundle):
    b = sh(bundle, "id -G; grep Groups /proc/self/status")
    b.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    lines = ran(lamina, b).splitlines()
    assert lines[0] == "1000"
    assert lines[1].split(":")[1].strip() == ""


def test_umask(lamina, bundle):
    b = sh(bundle, "umask; touch /tmp/f; mkdir /tmp/d; stat -c '%a' /tmp/f /tmp/d")
    b.config["process"]["user"]["umask"] = 0o027
    assert ran(lamina, b).split() == ["0027", "640", "750"]


def test_umask_unset_is_inherited_from_the_caller(lamina, bundle):
    # the runtime spec: when unspecified, the umask is not changed (runc would force 0022)
    b = sh(bundle, "umask")
    b.config["process"]["user"].pop("umask", None)

    def caller_umask() -> None:
        os.umask(0o077)

    assert ran(lamina, b, preexec_fn=caller_umask).strip() == "0077"


def test_umask_out_of_range_is_refused(lamina, bundle):
    b = sh(bundle, "true")
    b.config["process"]["user"]["umask"] = 0o1000
    assert "process.user.umask: 512 is out of range" in refused(lamina, b)


# ------------------------------------------------------------------ capabilities


CAPS_SCRIPT = "grep -E '^(Cap|NoNewPrivs)' /proc/self/status"


def test_default_capability_sets_exactly(lamina, bundle):
    got = status(ran(lamina, sh(bundle, CAPS_SCRIPT)))
    m = mask("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
    assert got == {"CapInh": "0" * 16, "CapPrm": m, "CapEff": m, "CapBnd": m, "CapAmb": "0" * 16,
                   "NoNewPrivs": "1"}


def five_sets(b: testing.Bundle) -> None:
    b.config["process"]["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"],
        "effective": ["CAP_KILL"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }


# Each expected value below is what runc 1.1 gives for the same config on this kernel: after
# execve the kernel recomputes the sets (ambient joins permitted and effective; without
# no_new_privs root gets its bounding set; a non-root user keeps only the ambient ones).
BND = mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN")
AMB = mask("CAP_NET_BIND_SERVICE")


def test_five_sets_as_root(lamina, bundle):
    b = sh(bundle, CAPS_SCRIPT)
    five_sets(b)
    got = status(ran(lamina, b))
    assert got == {"CapInh": AMB, "CapPrm": mask("CAP_KILL", "CAP_NET_BIND_SERVICE"),
                   "CapEff": mask("CAP_KILL", "CAP_NET_BIND_SERVICE"), "CapBnd": BND, "CapAmb": AMB,
                   "NoNewPrivs": "1"}


def test_five_sets_as_a_user(lamina, bundle):
    b = sh(bundle, CAPS_SCRIPT)
    five_sets(b)
    b.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    got = status(ran(lamina, b))
    assert got == {"CapInh": AMB, "CapPrm": AMB, "CapEff": AMB, "CapBnd": BND, "CapAmb": AMB,
                   "NoNewPrivs": "1"}


def test_five_sets_as_root_without_no_new_privs(lamina, bundle):
    b = sh(bundle, CAPS_SCRIPT)
    five_sets(b)
    b.config["process"]["noNewPrivileges"] = False
    got = status(ran(lamina, b))
    assert got == {"CapInh": AMB, "CapPrm": BND, "CapEff": BND, "CapBnd": BND, "CapAmb": AMB,
                   "NoNewPrivs": "0"}


def test_ambient_needs_permitted_and_inheritable(lamina, bundle):
    # the kernel allows an ambient capability only when it is permitted and inheritable; the
    # others are left out, as runc does (the process only ever gets less)
    b = sh(bundle, CAPS_SCRIPT)
    b.config["process"]["capabilities"]["ambient"] = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    b.config["process"]["capabilities"]["inheritable"] = ["CAP_KILL"]
    b.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    got = status(ran(lamina, b))
    assert got["CapAmb"] == mask("CAP_KILL") and got["CapEff"] == mask("CAP_KILL")


def test_inheritable_never_gains_anything_by_default(lamina, bundle):
    for caps in (None, {}, {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}):
        b = sh(bundle, CAPS_SCRIPT)
        if caps is None:
            del b.config["process"]["capabilities"]
        else:
            b.config["process"]["capabilities"] = caps
        got = status(ran(lamina, b))
        assert got["CapInh"] == "0" * 16 and got["CapAmb"] == "0" * 16, caps
        if not caps:  # no capabilities asked for: none at all (as runc)
            assert got["CapBnd"] == got["CapPrm"] == got["CapEff"] == "0" * 16


def test_capabilities_are_enforced(lamina, bundle):
    b = sh(bundle, "chown 1000 /tmp 2>&1; echo rc=$?")
    assert "Operation not permitted" in ran(lamina, b)
    b = sh(bundle, "chown 1000 /tmp && echo chowned")
    b.config["process"]["capabilities"]["effective"].append("CAP_CHOWN")
    b.config["process"]["capabilities"]["permitted"].append("CAP_CHOWN")
    b.config["process"]["capabilities"]["bounding"].append("CAP_CHOWN")
    assert ran(lamina, b) == "chowned\n"


def test_unknown_capability_is_refused(lamina, bundle):
    b = sh(bundle, "true")
    b.config["process"]["capabilities"]["effective"].append("CAP_MAKE_COFFEE")
    assert "process.capabilities.effective[3]: unknown capability 'CAP_MAKE_COFFEE'" in refused(lamina, b)


# ------------------------------------------------------------------ rlimits, no_new_privs, oom


def test_rlimits_lowered(lamina, bundle):
    b = sh(bundle, "ulimit -n; ulimit -Hn; ulimit -c; ulimit -Hc")
    b.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                                      {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096}]
    # ulimit -c counts in 512-byte blocks (busybox: 1024 bytes)
    out = ran(lamina, b).split()
    assert out[:2] == ["100", "200"]
    assert out[2] == "0" and int(out[3]) in (4, 8)


def test_rlimit_hard_above_the_callers(lamina, bundle):
    # conformance case 011: only a runtime with CAP_SYS_RESOURCE may raise a hard limit
    n = resource.getrlimit(resource.RLIMIT_NOFILE)[1] + 1
    b = sh(bundle, "ulimit -Hn")
    b.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": n, "hard": n}]
    if have_cap(CAP_SYS_RESOURCE):
        assert ran(lamina, b).strip() == str(n)
    else:
        msg = refused(lamina, b)
        assert f"process.rlimits[0]: setrlimit(RLIMIT_NOFILE, soft={n}, hard={n}): " \
               "operation not permitted" in msg


def test_rlimit_soft_above_hard_and_unknown_type_are_refused(lamina, bundle):
    b = sh(bundle, "true")
    b.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 20, "hard": 10},
                                      {"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]
    p = lamina.run(b.write())
    assert p.returncode == 1
    assert "process.rlimits[0]: RLIMIT_NOFILE soft limit 20 is above its hard limit 10" in p.stderr
    assert "process.rlimits[1].type: unknown rlimit 'RLIMIT_BOGUS'" in p.stderr


def test_no_new_privileges(lamina, bundle):
    b = sh(bundle, "grep NoNewPrivs /proc/self/status")
    assert ran(lamina, b).split() == ["NoNewPrivs:", "1"]
    b = sh(bundle, "grep NoNewPrivs /proc/self/status")
    b.config["process"]["noNewPrivileges"] = False
    assert ran(lamina, b).split() == ["NoNewPrivs:", "0"]


def test_oom_score_adj_positive(lamina, bundle):
    b = sh(bundle, "cat /proc/self/oom_score_adj")
    b.config["process"]["oomScoreAdj"] = 300
    assert ran(lamina, b).strip() == "300"


def test_oom_score_adj_unset_is_inherited(lamina, bundle):
    b = sh(bundle, "cat /proc/self/oom_score_adj")
    b.config["process"].pop("oomScoreAdj", None)
    with open("/proc/self/oom_score_adj") as f:
        mine = f.read().strip()
    assert ran(lamina, b).strip() == mine


def test_oom_score_adj_negative(lamina, bundle):
    b = sh(bundle, "cat /proc/self/oom_score_adj")
    b.config["process"]["oomScoreAdj"] = -100
    if have_cap(CAP_SYS_RESOURCE):
        assert ran(lamina, b).strip() == "-100"
    else:
        msg = refused(lamina, b)
        assert msg == "lamina: process.oomScoreAdj: cannot write -100 to oom_score_adj: permission denied"


def test_oom_score_adj_out_of_range(lamina, bundle):
    b = sh(bundle, "true")
    b.config["process"]["oomScoreAdj"] = 1001
    assert "process.oomScoreAdj: 1001 is out of range for oom_score_adj" in refused(lamina, b)


# ------------------------------------------------------------------ sysctl


def read_sysctl(name: str) -> str:
    with open("/proc/sys/" + name.replace(".", "/")) as f:
        return f.read().strip()


def test_namespaced_sysctls(lamina, bundle):
    host_fwd, host_shmmax = read_sysctl("net.ipv4.ip_forward"), read_sysctl("kernel.shmmax")
    b = sh(bundle, "cd /proc/sys; cat net/ipv4/ip_forward kernel/shmmax net/ipv4/ping_group_range")
    want_fwd = "0" if host_fwd == "1" else "1"
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": want_fwd, "kernel.shmmax": "123456789",
                                   "net.ipv4.ping_group_range": "0 2147483647"}
    assert ran(lamina, b).split() == [want_fwd, "123456789", "0", "2147483647"]
    assert (read_sysctl("net.ipv4.ip_forward"), read_sysctl("kernel.shmmax")) == (host_fwd, host_shmmax)


def test_non_namespaced_sysctl_is_refused_at_validate(lamina, bundle):
    before = read_sysctl("vm.swappiness")
    b = sh(bundle, "true")
    b.config["linux"]["sysctl"] = {"vm.swappiness": "1"}
    msg = refused(lamina, b)
    assert "linux.sysctl.vm.swappiness: not a namespaced sysctl; it would change the host" in msg
    assert read_sysctl("vm.swappiness") == before


def test_sysctl_needs_its_own_namespace(lamina, bundle):
    b = sh(bundle, "true")
    b.config["linux"]["namespaces"] = [ns for ns in b.config["linux"]["namespaces"]
                                       if ns["type"] != "network"]
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    assert "linux.sysctl.net.ipv4.ip_forward: needs a \"network\" namespace of the container's own" \
        in refused(lamina, b)


def test_unknown_sysctl_fails_clearly(lamina, bundle):
    b = sh(bundle, "true")
    b.config["linux"]["sysctl"] = {"net.ipv4.lt_no_such_knob": "1"}
    msg = refused(lamina, b)
    assert "linux.sysctl.net.ipv4.lt_no_such_knob: cannot write '1': no such file or directory" in msg


# ------------------------------------------------------------------ env, cwd, args


def test_env_is_exactly_the_configured_one(lamina, bundle):
    b = bundle(["/bin/busybox", "env"])
    b.config["process"]["env"] = ["PATH=/bin", "A=1", "B=with spaces", "EMPTY="]
    assert ran(lamina, b).splitlines() == ["PATH=/bin", "A=1", "B=with spaces", "EMPTY="]


def test_args_are_passed_unchanged(lamina, bundle):
    b = bundle(["/bin/busybox", "printf", "[%s]\\n", "a b", "  c", "$HOME", "*", ""])
    assert ran(lamina, b).splitlines() == ["[a b]", "[  c]", "[$HOME]", "[*]", "[]"]


def test_cwd_is_created_and_used(lamina, bundle):
    b = sh(bundle, "pwd")
    b.config["process"]["cwd"] = "/work/dir"
    assert ran(lamina, b) == "/work/dir\n"
    assert os.path.isdir(os.path.join(b.rootfs, "work", "dir"))


def test_relative_cwd_is_refused(lamina, bundle):
    b = sh(bundle, "true")
    b.config["process"]["cwd"] = "work"
    assert "process.cwd: must be an absolute path, got 'work'" in refused(lamina, b)


def test_exit_code_of_the_process(lamina, bundle):
    p = lamina.run(sh(bundle, "exit 7"))
    assert p.returncode == 7


def test_bare_name_found_in_the_containers_path(lamina, bundle):
    b = bundle(["lt-tool", "arg"])
    os.makedirs(os.path.join(b.rootfs, "opt", "tools"))
    tool = os.path.join(b.rootfs, "opt", "tools", "lt-tool")
    with open(tool, "w") as f:
        f.write("#!/bin/sh\necho tool \"$@\" from $0\n")
    os.chmod(tool, 0o755)
    b.config["process"]["env"] = ["PATH=/nonexistent:/opt/tools:/bin"]
    assert ran(lamina, b) == "tool arg from /opt/tools/lt-tool\n"


def test_true_is_found_through_the_env_path(lamina, bundle):
    b = bundle(["true"])
    b.config["process"]["env"] = ["PATH=/bin"]
    assert lamina.run(b.write()).returncode == 0


def test_the_runtimes_path_is_never_used(lamina, bundle):
    # python3 is on the host's PATH, not in the container's; /usr/bin exists in both
    b = bundle(["python3"])
    b.config["process"]["env"] = ["PATH=/usr/bin"]
    msg = refused(lamina, b)
    assert msg == 'lamina: exec: "python3": executable file not found in $PATH'


def test_no_path_in_env_means_not_found(lamina, bundle):
    # conformance case 004
    b = bundle(["true"])
    b.config["process"]["env"] = ["TERM=xterm"]
    assert refused(lamina, b) == 'lamina: exec: "true": executable file not found in $PATH'


def test_missing_absolute_executable_fails_create(lamina, bundle):
    # conformance case 005: create fails (not start) and leaves no state
    b = bundle(["/no/such/binary"])
    p = lamina.create(b)
    assert p.returncode == 1
    assert "no such file or directory" in p.stderr and "/no/such/binary" in p.stderr
    assert lamina("state", b.id).returncode != 0
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_directory_as_executable_is_permission_denied(lamina, bundle):
    # conformance case 006
    assert "permission denied" in refused(lamina, bundle(["/bin"]))


def test_file_without_exec_bit_is_permission_denied(lamina, bundle):
    b = bundle(["/not-exec"])
    path = os.path.join(b.rootfs, "not-exec")
    with open(path, "w") as f:
        f.write("#!/bin/sh\ntrue\n")
    os.chmod(path, 0o644)
    assert 'exec: "/not-exec": permission denied' in refused(lamina, b)
    b = bundle(["not-exec"])
    with open(os.path.join(b.rootfs, "bin", "not-exec"), "w") as f:
        f.write("#!/bin/sh\ntrue\n")
    os.chmod(os.path.join(b.rootfs, "bin", "not-exec"), 0o644)
    assert "permission denied" in refused(lamina, b)


def test_bad_interpreter_is_one_error_line(lamina, bundle):
    # conformance case 007: the script exists, its #! interpreter does not: execve's ENOENT
    # comes after create succeeded, and is reported exactly once
    b = bundle(["/run.sh"])
    path = os.path.join(b.rootfs, "run.sh")
    with open(path, "w") as f:
        f.write("#!/no/such/interp arg\necho never\n")
    os.chmod(path, 0o755)
    p = lamina.run(b.write())
    assert p.returncode != 0
    out = (p.stdout + p.stderr).strip().splitlines()
    assert len(out) == 1 and "/run.sh" in out[0] and "no such file or directory" in out[0], out
    assert stat.S_ISREG(os.stat(path).st_mode)


def test_empty_args_are_refused(lamina, bundle):
    # conformance case 001
    b = bundle(["true"])
    b.config["process"]["args"] = []
    assert "process.args: must be a non-empty list" in refused(lamina, b)


def test_huge_environment_passes_intact(lamina, bundle):
    # conformance case 058: 200 variables of 4 KiB each go through the runtime's own channels
    b = sh(bundle, "env | grep -c '^BIG'; echo ${#BIG199}")
    b.config["process"]["env"] += [f"BIG{i}={'x' * 4096}" for i in range(200)]
    assert ran(lamina, b).split() == ["200", "4096"]


def test_one_env_string_over_the_kernels_limit(lamina, bundle):
    b = sh(bundle, "true")
    b.config["process"]["env"].append("HUGE=" + "x" * 200000)
    assert "argument list too long" in refused(lamina, b)


def test_env_not_key_value_is_refused(lamina, bundle):
    b = sh(bundle, "true")
    b.config["process"]["env"].append("JUSTAKEY")
    assert "process.env[2]: 'JUSTAKEY' is not of the form KEY=VALUE" in refused(lamina, b)


def test_container_stdio_is_the_callers(lamina, bundle, tmp_path):
    b = sh(bundle, "echo out; echo err >&2")
    with open(tmp_path / "o", "w") as o, open(tmp_path / "e", "w") as e:
        p = lamina.run(b.write(), stdout=o, stderr=e)
    assert p.returncode == 0
    assert (tmp_path / "o").read_text() == "out\n" and (tmp_path / "e").read_text() == "err\n"
    assert subprocess.run(["true"]).returncode == 0

"""podman 4 (through conmon) with lamina as its OCI runtime, each scenario also with runc.

podman calls the runtime with `--log-format=json --log FILE` (lamina is in runtime_supports_json),
creates with `--pid-file`, execs with `exec --process F --detach --pid-file P`, and reads its
errors from the log file as one JSON object.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from clientkit import IMAGE, new_name

pytestmark = [pytest.mark.integration, pytest.mark.clients]


class Pod:
    """podman for one test and one runtime; detached containers it started are removed after."""

    def __init__(self, pm, runtime: str) -> None:
        self.pm = pm
        self.runtime = runtime
        self.names: list[str] = []

    def __call__(self, *args: str, **kw):
        return self.pm(*args, runtime=self.runtime, **kw)

    def run(self, *args: str, **kw):
        """`podman run --rm ARGS` (args: options, then the image and command)."""
        return self("run", "--rm", *args, **kw)

    def detached(self, *args: str) -> str:
        name = new_name()
        self.names.append(name)
        p = self("run", "-d", "--name", name, *args)
        assert p.returncode == 0, p.stderr
        return name

    def cleanup(self) -> None:
        if self.names:
            self.pm("rm", "--force", "--time", "0", *self.names)


@pytest.fixture
def pod(podman_session, runtime):
    p = Pod(podman_session, runtime)
    yield p
    p.cleanup()


def ok(p) -> str:
    assert p.returncode == 0, f"exit {p.returncode}: {p.stderr}"
    return p.stdout


def status_field(status: str, field: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in status.splitlines() if line.startswith(field + ":"))


def wait_for(pred, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.1)


def test_run_rm_echo(pod):
    assert ok(pod.run(IMAGE, "echo", "hello")) == "hello\n"


def test_exit_code_propagates(pod):
    assert pod.run(IMAGE, "sh", "-c", "exit 3").returncode == 3


def test_env_workdir_and_user(pod):
    out = ok(pod.run("-e", "FOO=bar", "-w", "/tmp", "-u", "1000:1000", IMAGE,
                     "sh", "-c", 'echo "$FOO $(pwd) $(id -u) $(id -g)"'))
    assert out == "bar /tmp 1000 1000\n"


def test_read_only_root(pod):
    out = ok(pod.run("--read-only", IMAGE, "sh", "-c",
                     "touch /x 2>&1; echo rc=$?; touch /tmp/x && echo tmp-ok"))
    assert "Read-only file system" in out and "rc=1" in out
    assert "tmp-ok" in out  # podman's default tmpfs on /tmp under --read-only


def test_cap_drop_and_add(pod):
    status = ok(pod.run("--cap-drop", "all", "--cap-add", "net_raw", IMAGE, "cat", "/proc/self/status"))
    net_raw = 1 << 13
    for field in ("CapEff", "CapPrm", "CapBnd"):
        assert int(status_field(status, field), 16) == net_raw, field
    assert int(status_field(status, "CapInh"), 16) == 0
    assert int(status_field(status, "CapAmb"), 16) == 0


def test_default_caps_lack_sys_admin(pod):
    eff = int(status_field(ok(pod.run(IMAGE, "cat", "/proc/self/status")), "CapEff"), 16)
    assert eff & (1 << 0)  # CAP_CHOWN: podman's default set
    assert not eff & (1 << 21)  # CAP_SYS_ADMIN is not in it


def test_memory_and_pids_limits_in_the_cgroup(pod, podman_session):
    script = ("grep -E ':(memory|pids):' /proc/self/cgroup; "
              "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max")
    if not os.path.isdir("/sys/fs/cgroup/memory"):
        script = "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
    lines = ok(pod.run("--memory", "64m", "--pids-limit", "50", IMAGE, "sh", "-c", script)).split()
    assert lines[-2:] == [str(64 << 20), "50"]
    # the container's cgroup is below the suite's parent (podman's --cgroup-parent)
    assert all(podman_session.cgroup_parent in line for line in lines[:-2]), lines


def test_no_new_privileges(pod):
    assert status_field(ok(pod.run(IMAGE, "cat", "/proc/self/status")), "NoNewPrivs") == "0"
    out = ok(pod.run("--security-opt", "no-new-privileges", IMAGE, "cat", "/proc/self/status"))
    assert status_field(out, "NoNewPrivs") == "1"


def test_detached_exec_top_and_stop(pod):
    name = pod.detached(IMAGE, "sh", "-c",
                        'trap "echo got-term; exit 0" TERM; echo started; while true; do sleep 0.1; done')
    assert ok(pod("exec", name, "sh", "-c", "echo exec-ok")) == "exec-ok\n"
    p = pod("exec", name, "sh", "-c", "exit 5")
    if p.returncode == 255 and not p.stderr:
        # podman's own race: its cleanup process may remove an exec session before `podman
        # exec` read the exit code (podman PRs 10405, 13600); seen rarely with any runtime
        p = pod("exec", name, "sh", "-c", "exit 5")
    assert p.returncode == 5, p.stderr
    out = ok(pod("exec", "-e", "X=1", "-w", "/tmp", "-u", "1000", name,
                 "sh", "-c", 'echo "$X $(pwd) $(id -u)"'))
    assert out == "1 /tmp 1000\n"
    top = ok(pod("top", name, "pid", "args"))
    assert "while true" in top
    t0 = time.monotonic()
    ok(pod("stop", "--time", "20", name))
    assert time.monotonic() - t0 < 10, "SIGTERM did not stop the container: podman had to kill it"
    assert ok(pod("inspect", "--format", "{{.State.ExitCode}}", name)).strip() == "0"
    assert "got-term" in ok(pod("logs", name))


def test_kill(pod):
    name = pod.detached(IMAGE, "sleep", "300")
    ok(pod("kill", name))
    assert ok(pod("wait", name)).strip() == "137"


def test_kill_with_a_signal_name(pod):
    name = pod.detached(IMAGE, "sh", "-c", 'trap "exit 7" USR1; while true; do sleep 0.1; done')
    time.sleep(0.3)  # the trap is set
    ok(pod("kill", "--signal", "USR1", name))
    assert ok(pod("wait", name)).strip() == "7"


def test_pause_and_unpause(pod):
    name = pod.detached(IMAGE, "sh", "-c", "while true; do date +%s%N > /tmp/tick; sleep 0.05; done")
    ok(pod("pause", name))
    assert ok(pod("inspect", "--format", "{{.State.Status}}", name)).strip() == "paused"
    p = pod("exec", name, "true")
    assert p.returncode != 0 and "running" in p.stderr
    ok(pod("unpause", name))
    assert ok(pod("inspect", "--format", "{{.State.Status}}", name)).strip() == "running"
    first = ok(pod("exec", name, "cat", "/tmp/tick"))
    assert wait_for(lambda: ok(pod("exec", name, "cat", "/tmp/tick")) != first), "the loop did not resume"


def test_stats_no_stream(pod):
    name = pod.detached(IMAGE, "sh", "-c", "sleep 300 & sleep 300")
    stats = json.loads(ok(pod("stats", "--no-stream", "--format", "json", name)))
    assert len(stats) == 1
    assert int(stats[0]["pids"]) >= 2
    assert not stats[0]["mem_usage"].startswith("0B")


def test_tty(pod):
    out = ok(pod.run("-t", IMAGE, "sh", "-c", "tty; stty size"))
    lines = out.replace("\r", "").split("\n")
    assert lines[0].startswith("/dev/pts/"), out


def test_stdin_piping(pod):
    data = "".join(f"line {i}\n" for i in range(1000))
    assert ok(pod.run("-i", IMAGE, "sh", "-c", "cat; echo end", input=data)) == data + "end\n"


def test_uidmap(pod, open_tmp):
    out = ok(pod.run("--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536", "-v", f"{open_tmp}:/out",
                     IMAGE, "sh", "-c", "cat /proc/self/uid_map; id -u; touch /out/made"))
    assert out.split() == ["0", "100000", "65536", "0"]
    st = os.stat(os.path.join(open_tmp, "made"))
    assert (st.st_uid, st.st_gid) == (100000, 100000)


def test_hostname(pod):
    assert ok(pod.run("--hostname", "lamina-host", IMAGE, "hostname")) == "lamina-host\n"


def test_network_none(pod):
    assert ok(pod.run("--network", "none", IMAGE, "ls", "/sys/class/net")).split() == ["lo"]


def test_tmpfs(pod):
    out = ok(pod.run("--tmpfs", "/scratch:size=1m,mode=1777", IMAGE, "sh", "-c",
                     "grep ' /scratch ' /proc/mounts; echo x > /scratch/f && cat /scratch/f"))
    mount, data = out.splitlines()
    assert mount.startswith("tmpfs /scratch tmpfs ") and "size=1024k" in mount
    assert data == "x"


def test_bind_mounts_rw_and_ro(pod, tmp_path):
    (tmp_path / "f").write_text("from host\n")
    out = ok(pod.run("-v", f"{tmp_path}:/rw", "-v", f"{tmp_path}:/ro:ro", IMAGE, "sh", "-c",
                     "cat /rw/f; echo from-container > /rw/new; { echo x > /ro/z; } 2>&1; echo ro-rc=$?"))
    assert out.startswith("from host\n")
    assert "ro-rc=1" in out and "Read-only file system" in out
    assert (tmp_path / "new").read_text() == "from-container\n"
    assert not (tmp_path / "z").exists()


def test_a_megabyte_of_output_arrives_byte_exact(pod, tmp_path):
    blob = os.urandom(1 << 20)
    (tmp_path / "blob").write_bytes(blob)
    p = pod.run("-v", f"{tmp_path}:/data:ro", IMAGE, "cat", "/data/blob")
    assert p.returncode == 0, p.stderr
    assert p.stdout_bytes == blob


def test_init(pod):
    out = ok(pod.run("--init", IMAGE, "ps", "-o", "pid,args"))
    first = out.splitlines()[1].split(None, 1)
    assert first[0] == "1" and "init" in first[1], out


def test_logs(pod):
    name = pod.detached(IMAGE, "sh", "-c", "echo line1; echo line2 >&2; exec sleep 300")
    assert wait_for(lambda: "line2" in pod("logs", name).stderr + pod("logs", name).stdout)
    p = pod("logs", name)
    assert "line1" in p.stdout and "line2" in p.stderr


def test_custom_seccomp_profile(pod, tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    out = ok(pod.run("--security-opt", f"seccomp={tmp_path}/profile.json", IMAGE, "sh", "-c",
                     "mkdir /tmp/d 2>&1; echo rc=$?; grep '^Seccomp:' /proc/self/status;"
                     " touch /tmp/f && echo ok"))
    assert "Operation not permitted" in out and "rc=1" in out
    assert "Seccomp:\t2" in out and out.endswith("ok\n")


def test_missing_binary_shows_the_runtime_message(pod):
    p = pod.run(IMAGE, "/no/such/binary")
    assert p.returncode == 127, p.stderr
    # podman read the runtime's JSON log (one object) and shows its message
    assert f"{pod.runtime}:" in p.stderr and '"/no/such/binary"' in p.stderr
    assert "no such file or directory" in p.stderr


def test_not_executable_shows_the_runtime_message(pod):
    p = pod.run(IMAGE, "/etc/passwd")
    assert p.returncode == 126, p.stderr
    assert f"{pod.runtime}:" in p.stderr and "permission denied" in p.stderr

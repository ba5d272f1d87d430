"""`lamina exec` against real containers, and the faults clients provoke (DESIGN §5, §6).

The clients call `exec --process F --detach --pid-file P` (podman/conmon, containerd's shim) and
match runc's error wording; a failed call must change nothing: the container keeps running with
the same init, and no pid file, process or cgroup is left behind.
"""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import subprocess
import tempfile
import time

import pytest
from lamina import testing
from lamina.testing import wait_for
from test_console import ConsoleReceiver

# the kit's subreaper fixture: container inits are re-parented to the test, and reaped after it
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("subreaper")]

CAP_SYS_ADMIN = 21


def running(lamina, bundle, args=None, **config) -> testing.Bundle:
    """A detached container running `args` (default: sleep), with config.process tweaks."""
    b = bundle(args or ["sleep", "300"])
    b.config["process"].update(config)
    b.write()
    p = lamina.run(b, "--detach")
    assert p.returncode == 0, p.stderr
    assert wait_for(lambda: lamina.state(b.id)["status"] == "running")
    return b


def stopped(lamina, bundle) -> testing.Bundle:
    """A container whose init was killed: its state says stopped, its directory is still there."""
    b = running(lamina, bundle)
    assert lamina("kill", b.id, "KILL").returncode == 0
    assert wait_for(lambda: lamina.state(b.id)["status"] == "stopped")
    return b


def status(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def unchanged(lamina, b, pid: int) -> None:
    """The container still runs with the same init."""
    st = lamina.state(b.id)
    assert st["status"] == "running" and st["pid"] == pid


def exec_detached(lamina, cid: str, *args: str, pid_file: str, pass_fds=(), extra=()) -> int:
    # the process keeps the runtime's stdio: a pipe would reach EOF only when it exits
    with tempfile.TemporaryFile() as err:
        p = subprocess.run(lamina.argv("exec", "--detach", "--pid-file", pid_file, *extra, cid, *args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                           pass_fds=pass_fds, timeout=60, env=lamina.env())
        err.seek(0)
        assert p.returncode == 0, err.read()
    with open(pid_file) as f:
        text = f.read()
    assert text.isdigit(), repr(text)  # the decimal pid, no newline
    return int(text)


# ---------------------------------------------------------------------------------- behaviour


def test_exec_joins_every_namespace_and_the_cgroup(lamina, bundle, tmp_path):
    b = running(lamina, bundle)
    init = lamina.state(b.id)["pid"]
    pid = exec_detached(lamina, b.id, "sleep", "30", pid_file=str(tmp_path / "pid"))
    try:
        for ns in ("mnt", "pid", "net", "ipc", "uts", "cgroup", "user"):
            assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{init}/ns/{ns}"), ns
        with open(f"/proc/{pid}/cgroup") as a, open(f"/proc/{init}/cgroup") as c:
            assert a.read() == c.read()
        assert f"/{b.id}" in open(f"/proc/{init}/cgroup").read()
        # the process sees no fd of the runtime: only the stdio it was given
        assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    unchanged(lamina, b, init)


def test_exit_code_is_the_process_code(lamina, bundle):
    b = running(lamina, bundle)
    assert lamina("exec", b.id, "sh", "-c", "exit 7").returncode == 7
    assert lamina("exec", b.id, "sh", "-c", "kill -9 $$").returncode == 137
    p = lamina("exec", b.id, "echo", "out")
    assert (p.returncode, p.stdout) == (0, "out\n")


def test_failure_before_the_process_runs_exits_255_and_changes_nothing(lamina, bundle):
    b = running(lamina, bundle)
    init = lamina.state(b.id)["pid"]
    p = lamina("exec", b.id, "/no/such/binary")
    assert p.returncode == 255
    assert '"/no/such/binary"' in p.stderr and "no such file or directory" in p.stderr
    p = lamina("exec", "--cwd", "/missing/dir", b.id, "pwd")
    assert p.returncode == 255 and "/missing/dir" in p.stderr
    assert not os.path.exists(os.path.join(b.rootfs, "missing"))
    unchanged(lamina, b, init)
    assert lamina("exec", b.id, "true").returncode == 0


def test_env_cwd_user_and_additional_gids(lamina, bundle):
    b = running(lamina, bundle)
    p = lamina("exec", "--env", "A=1", "-e", "PATH=/bin", "--cwd", "/tmp", "--user", "1000:1000",
               "--additional-gids", "5", "-g", "7", b.id,
               "sh", "-c", 'echo "$A $PATH $(pwd)"; cat /proc/self/status')
    assert p.returncode == 0, p.stderr
    first, rest = p.stdout.split("\n", 1)
    assert first == "1 /bin /tmp"
    s = status(rest)
    assert s["Uid"].split() == ["1000"] * 4 and s["Gid"].split() == ["1000"] * 4
    assert s["Groups"].split() == ["5", "7"]


def test_flags_after_the_id_belong_to_the_command(lamina, bundle):
    b = running(lamina, bundle)
    p = lamina("exec", b.id, "echo", "--cwd", "-t")
    assert (p.returncode, p.stdout) == (0, "--cwd -t\n")


def test_cap_adds_a_capability(lamina, bundle):
    b = running(lamina, bundle)
    base = int(status(lamina("exec", b.id, "cat", "/proc/self/status").stdout)["CapEff"], 16)
    assert not base & (1 << CAP_SYS_ADMIN)
    s = status(lamina("exec", "--cap", "CAP_SYS_ADMIN", b.id, "cat", "/proc/self/status").stdout)
    for field in ("CapEff", "CapPrm", "CapBnd"):
        assert int(s[field], 16) == base | (1 << CAP_SYS_ADMIN), field


def test_no_new_privs(lamina, bundle):
    b = running(lamina, bundle, noNewPrivileges=False)
    assert status(lamina("exec", b.id, "cat", "/proc/self/status").stdout)["NoNewPrivs"] == "0"
    out = lamina("exec", "--no-new-privs", b.id, "cat", "/proc/self/status").stdout
    assert status(out)["NoNewPrivs"] == "1"


def test_process_label_is_ignored_with_selinux_disabled(lamina, bundle):
    if os.path.exists("/sys/fs/selinux/enforce"):
        pytest.skip("SELinux is enabled here: the label would be applied (tests/integration/test_selinux.py)")
    b = running(lamina, bundle)
    p = lamina("exec", "--process-label", "system_u:system_r:container_t:s0", b.id, "echo", "ok")
    assert (p.returncode, p.stdout) == (0, "ok\n"), p.stderr


def test_process_file(lamina, bundle, tmp_path):
    b = running(lamina, bundle)
    proc = dict(testing.base_config()["process"], args=["sh", "-c", 'echo "$X $(pwd) $(id -u)"'],
                env=["PATH=/bin", "X=from-file"], cwd="/etc", user={"uid": 1000, "gid": 1000})
    (tmp_path / "process.json").write_text(json.dumps(proc))
    p = lamina("exec", "-p", str(tmp_path / "process.json"), b.id)
    assert (p.returncode, p.stdout) == (0, "from-file /etc 1000\n"), p.stderr
    p = lamina("exec", "--process", str(tmp_path / "process.json"), b.id)
    assert p.returncode == 0, p.stderr


def test_tty_with_console_socket(lamina, bundle, tmp_path):
    b = running(lamina, bundle)
    r = ConsoleReceiver(str(tmp_path / "console.sock"))
    try:
        pid = exec_detached(lamina, b.id, "sh", "-c", "tty; echo $TERM; sleep 0.5",
                            pid_file=str(tmp_path / "pid"),
                            extra=("--tty", "--console-socket", r.path, "--env", "TERM=xterm"))
        master = r.master()
        out = b""
        deadline = time.monotonic() + 10
        while b"xterm" not in out and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    out += os.read(master, 4096)
                except OSError:
                    break
        assert out.replace(b"\r", b"").split(b"\n")[:2] == [b"/dev/pts/0", b"xterm"], out
        _, st = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(st) == 0
    finally:
        r.close()


def test_tty_without_console_socket_is_relayed_in_the_foreground(lamina, bundle):
    b = running(lamina, bundle)
    p = lamina("exec", "--tty", b.id, "tty")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().startswith("/dev/pts/")


def test_detach_pid_file_and_the_callers_reaping(lamina, bundle, tmp_path):
    """Detached, the process is handed to the caller (a subreaper) with the runtime's exit, not
    before: a caller that reaps the runtime first has read --pid-file before it can see the
    process's status (conmon and the shims rely on this, as runc gives it)."""
    b = running(lamina, bundle)
    pid_file = tmp_path / "pid"
    # hold the runtime just before it writes the pid file: its temporary file is a FIFO here
    argv = lamina.argv("exec", "--detach", "--pid-file", str(pid_file), b.id, "sh", "-c", "exit 5")
    runtime = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=lamina.env())
    fifo = tmp_path / f".pid.{runtime.pid}.tmp"
    os.mkfifo(fifo)
    try:
        time.sleep(1.0)  # the process has run and exited meanwhile
        # nothing but the runtime may have become our child yet
        assert os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    finally:
        with open(fifo, "rb") as f:  # let the runtime write the pid and exit
            text = f.read().decode()
    assert runtime.wait(30) == 0
    pid = int(text)
    assert pid > 0, f"pid file: {text!r}"  # waitpid(0) would wait for any child: forever
    assert stat.S_ISFIFO(os.stat(pid_file).st_mode)  # our FIFO, renamed into place by the runtime
    _, st = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(st) == 5


def test_preserve_fds(lamina, bundle, tmp_path):
    b = running(lamina, bundle)
    r, w = os.pipe()
    extra_r, extra_w = os.pipe()  # passed to the runtime but not preserved: the process must not see it
    try:
        os.set_inheritable(w, True)
        p = subprocess.run(lamina.argv("exec", "--preserve-fds", "1", b.id, "sh", "-c",
                                       "echo via-fd3 >&3; ls /proc/self/fd; true"),
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                           env=lamina.env(), pass_fds=(3, 4),
                           preexec_fn=lambda: (os.dup2(w, 3), os.dup2(extra_w, 4)))
        assert p.returncode == 0, p.stderr
        os.close(w)
        os.close(extra_w)
        assert os.read(r, 100) == b"via-fd3\n"
        fds = p.stdout.split()
        assert "3" in fds and "4" not in fds[:-1], fds  # ls's own directory fd comes last
    finally:
        for fd in (r, extra_r):
            os.close(fd)


def test_runtime_is_not_dumpable_before_it_joins(lamina, bundle, temp_plugin, tmp_path, monkeypatch):
    """A plugin's exec_join that runs first (still in the host namespaces) finds the process
    non-dumpable: nothing in the container can ptrace it or read its /proc files."""
    out = tmp_path / "dumpable"
    temp_plugin("dumpcheck", (
        "import ctypes, os\nfrom lamina import hookimpl\nLAMINA_HOOK_API = 2\n"
        "_libc = ctypes.CDLL('libc.so.6', use_errno=True)\n"
        "@hookimpl(tryfirst=True)\n"
        "def lamina_exec_join(ctx):\n"
        "    with open(os.environ['LAMINA_TEST_DUMPABLE'], 'w') as f:\n"
        "        f.write(f\"{_libc.prctl(3, 0, 0, 0, 0)} {os.readlink('/proc/self/ns/mnt')}\")\n"))
    monkeypatch.setenv("LAMINA_TEST_DUMPABLE", str(out))
    b = running(lamina, bundle)
    assert lamina("exec", b.id, "true").returncode == 0
    dumpable, mnt = out.read_text().split()
    assert dumpable == "0"
    assert mnt == os.readlink("/proc/self/ns/mnt")  # it had joined nothing yet


# ---------------------------------------------------------------------------------- faults


def test_exec_into_a_stopped_container(lamina, bundle):
    b = stopped(lamina, bundle)
    p = lamina("exec", b.id, "true")
    assert p.returncode == 255 and "container not running" in p.stderr
    assert lamina.state(b.id)["status"] == "stopped"


def test_exec_into_a_paused_container(lamina, bundle):
    b = running(lamina, bundle)
    init = lamina.state(b.id)["pid"]
    assert lamina("pause", b.id).returncode == 0
    t0 = time.monotonic()
    p = lamina("exec", b.id, "true")
    assert p.returncode == 255 and "paused" in p.stderr and time.monotonic() - t0 < 5
    assert lamina.state(b.id)["status"] == "paused"
    assert lamina("resume", b.id).returncode == 0
    unchanged(lamina, b, init)
    assert lamina("exec", b.id, "true").returncode == 0


def test_exec_into_a_missing_container(lamina):
    p = lamina("exec", "lt-nosuch", "true")
    assert p.returncode == 255 and "does not exist" in p.stderr


def test_missing_process_json(lamina, bundle, tmp_path):
    b = running(lamina, bundle)
    init = lamina.state(b.id)["pid"]
    p = lamina("exec", "--process", str(tmp_path / "nope.json"), b.id)
    assert p.returncode == 255
    assert "nope.json" in p.stderr and "no such file or directory" in p.stderr
    (tmp_path / "bad.json").write_text("{not json")
    p = lamina("exec", "--process", str(tmp_path / "bad.json"), b.id)
    assert p.returncode == 255 and "bad.json" in p.stderr
    (tmp_path / "noargs.json").write_text(json.dumps({"cwd": "/", "args": []}))
    p = lamina("exec", "--process", str(tmp_path / "noargs.json"), b.id)
    assert p.returncode == 255 and "process.args" in p.stderr
    unchanged(lamina, b, init)


def test_kill_of_a_stopped_container(lamina, bundle):
    b = stopped(lamina, bundle)
    p = lamina("kill", b.id, "9")
    assert p.returncode == 1 and "container not running" in p.stderr
    assert lamina.state(b.id)["status"] == "stopped"
    p = lamina("kill", "lt-nosuch", "9")
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_delete_of_a_running_container_needs_force(lamina, bundle):
    b = running(lamina, bundle)
    init = lamina.state(b.id)["pid"]
    p = lamina("delete", b.id)
    assert p.returncode == 1 and "not stopped" in p.stderr and "running" in p.stderr
    unchanged(lamina, b, init)
    assert lamina("delete", "--force", b.id).returncode == 0
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_update_with_a_malformed_body(lamina, bundle, tmp_path):
    b = running(lamina, bundle)
    init = lamina.state(b.id)["pid"]
    state_file = os.path.join(lamina.root, b.id, "state.json")
    limit_file = f"/sys/fs/cgroup/memory/{b.cgroups_path.strip('/')}/memory.limit_in_bytes"
    if not os.path.exists(limit_file):
        limit_file = f"/sys/fs/cgroup/{b.cgroups_path.strip('/')}/memory.max"
    before = (open(state_file).read(), open(limit_file).read())
    for body, words in (("{not json", ["not a JSON object"]), ("[1, 2]", ["must be a JSON object"]),
                        ('{"memory": {"limit": "x"}}', ["linux.resources.memory.limit", "'x'"])):
        (tmp_path / "res.json").write_text(body)
        p = lamina("update", "--resources", str(tmp_path / "res.json"), b.id)
        assert p.returncode == 1, body
        assert all(w in p.stderr for w in words), p.stderr
        assert len(p.stderr.splitlines()) == 1
    p = lamina("update", "--resources", "-", b.id, input=b"{oops")
    assert p.returncode == 1 and "not a JSON object" in p.stderr
    unchanged(lamina, b, init)
    assert (open(state_file).read(), open(limit_file).read()) == before


def test_json_log_holds_one_object_per_error(lamina, bundle, tmp_path):
    """podman json-decodes the whole --log file as one object; containerd takes the last line."""
    b = running(lamina, bundle)
    log = tmp_path / "log.json"
    p = subprocess.run(lamina.argv("exec", b.id, "/no/such", log=str(log), log_format="json"),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, env=lamina.env(), timeout=60)
    assert p.returncode == 255
    rec = json.loads(log.read_text())
    assert rec["level"] == "error" and '"/no/such"' in rec["msg"] and rec["time"]
    assert p.stderr.strip() == f"lamina: {rec['msg']}"
    # the `--log-format=json` spelling, as podman writes it
    p = subprocess.run([lamina.binary, "--log-format=json", "--log", str(log), "--root", lamina.root,
                        "kill", "lt-nosuch"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       env=lamina.env(), timeout=60)
    assert p.returncode == 1
    last = json.loads(log.read_text().splitlines()[-1])
    assert "does not exist" in last["msg"]

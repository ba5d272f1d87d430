"""OCI hooks with real containers: all six kinds at their points of the runtime spec's lifecycle,
in their namespaces, with the state JSON on stdin, exactly the given env, a timeout, and the
failure of each phase (create fails and leaves nothing; a failed poststart stops the container
and poststop still runs; a failed poststop is only a warning).

Hooks are busybox sh scripts: /bin/sh on the host is dash, in the container busybox.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from lamina import testing
from lamina.testing import wait_for

pytestmark = pytest.mark.integration

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
# where the runtime spec runs each kind: the runtime's namespaces or the container's
IN_CONTAINER = {"createContainer", "startContainer"}
STATUS = {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
          "startContainer": "created", "poststart": "running", "poststop": "stopped"}
BUSYBOX = "/bin/busybox"


def hook(script: str, **fields) -> dict:
    """A hook running `script` with busybox sh (on the host: /bin/busybox; in the container:
    the rootfs's own /bin/busybox, at the same path)."""
    return {"path": BUSYBOX, "args": ["sh", "-c", script], **fields}


class Logged:
    """A bundle whose hooks of every kind record into a directory that is bind-mounted into the
    container at /shared (so a hook in either mount namespace can write there)."""

    def __init__(self, bundle, args: list[str], kinds=KINDS, extra: str = "") -> None:
        self.b = bundle(args)
        self.dir = os.path.join(self.b.path, "shared")
        os.makedirs(self.dir)
        self.b.config["mounts"].append({"destination": "/shared", "type": "bind", "source": self.dir,
                                        "options": ["rbind"]})
        self.b.config["annotations"] = {"com.example.test": "hooks", "n": "1"}
        hooks = {}
        for kind in kinds:
            d = "/shared" if kind == "startContainer" else self.dir
            hooks[kind] = [hook(f"cat > {d}/{kind}.json; echo {kind} >> {d}/log; hostname > {d}/{kind}.host;"
                                f" readlink /proc/self/ns/mnt > {d}/{kind}.mnt; {extra}")]
        self.b.config["hooks"] = hooks
        self.b.write()

    def log(self) -> list[str]:
        try:
            with open(os.path.join(self.dir, "log")) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def read(self, kind: str, what: str) -> str:
        with open(os.path.join(self.dir, f"{kind}.{what}")) as f:
            return f.read()


def test_all_six_kinds_at_their_lifecycle_points(lamina, bundle, subreaper):
    t = Logged(bundle, ["sh", "-c", "echo user >> /shared/log; sleep 0.5"])
    assert lamina.create(t.b).returncode == 0
    # create: prestart and createRuntime in the runtime, createContainer in the container;
    # poststart is not run by create (the runtime spec, and conformance case 045)
    assert t.log() == ["prestart", "createRuntime", "createContainer"]
    assert lamina("start", t.b.id).returncode == 0
    # start returns once startContainer ran and the process was executed, and poststart ran
    # (the user process may write its line before or after poststart ran, never before its exec)
    log = t.log()
    assert [x for x in log if x != "user"] == list(KINDS[:5]), log
    assert "user" not in log or log.index("user") > log.index("startContainer"), log
    assert wait_for(lambda: lamina.state(t.b.id)["status"] == "stopped")
    assert "poststop" not in t.log()
    assert lamina("delete", t.b.id).returncode == 0
    assert t.log()[-1] == "poststop" and t.log().count("poststop") == 1
    assert sorted(t.log()) == sorted([*KINDS, "user"])


def test_state_on_stdin(lamina, bundle, subreaper):
    t = Logged(bundle, ["sleep", "0.3"])
    assert lamina.create(t.b).returncode == 0
    pid = lamina.state(t.b.id)["pid"]
    assert lamina("start", t.b.id).returncode == 0
    assert wait_for(lambda: lamina.state(t.b.id)["status"] == "stopped")
    assert lamina("delete", t.b.id).returncode == 0
    for kind in KINDS:
        st = json.loads(t.read(kind, "json"))
        assert st["id"] == t.b.id, kind
        assert st["pid"] == pid, kind  # the host's pid of the init, in every phase
        assert st["status"] == STATUS[kind], kind
        assert st["bundle"] == t.b.path, kind
        assert st["annotations"] == {"com.example.test": "hooks", "n": "1"}, kind
        assert st["ociVersion"] == t.b.config["ociVersion"], kind


def test_each_kind_runs_in_its_namespaces(lamina, bundle, subreaper):
    t = Logged(bundle, ["sleep", "30"])
    t.b.config["hostname"] = "in-" + t.b.id[-8:]
    t.b.write()
    assert lamina.create(t.b).returncode == 0
    pid = lamina.state(t.b.id)["pid"]
    container_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    assert lamina("start", t.b.id).returncode == 0
    assert lamina("kill", t.b.id, "KILL").returncode == 0
    assert wait_for(lambda: lamina.state(t.b.id)["status"] == "stopped")
    assert lamina("delete", t.b.id).returncode == 0
    host_mnt, host_name = os.readlink("/proc/self/ns/mnt"), os.uname().nodename
    for kind in KINDS:
        mnt, name = t.read(kind, "mnt").strip(), t.read(kind, "host").strip()
        if kind in IN_CONTAINER:
            assert (mnt, name) == (container_mnt, t.b.config["hostname"]), kind
        else:
            assert (mnt, name) == (host_mnt, host_name), kind


def test_start_container_path_resolves_in_the_container(lamina, bundle, subreaper):
    b = bundle(["true"])
    shared = os.path.join(b.path, "shared")
    os.makedirs(shared)
    b.config["mounts"].append({"destination": "/shared", "type": "bind", "source": shared,
                               "options": ["rbind"]})
    script = os.path.join(b.rootfs, "lt-only-in-the-container")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nls / > /shared/root-listing\n")
    os.chmod(script, 0o755)
    b.config["hooks"] = {"startContainer": [{"path": "/lt-only-in-the-container"}]}
    p = lamina.run(b.write())
    assert p.returncode == 0, p.stderr
    with open(os.path.join(shared, "root-listing")) as f:
        listing = f.read().split()
    # after pivot_root: the container's root, not the host's
    assert "lt-only-in-the-container" in listing and "shared" in listing


def test_poststart_runs_after_the_user_process_was_executed(lamina, bundle, subreaper):
    b = bundle(["sleep", "31.5"])
    out = os.path.join(b.path, "cmdline")
    b.config["hooks"] = {
        # a slow startContainer hook: the exec comes later than the start's FIFO handshake
        "startContainer": [hook("sleep 0.5")],
        "poststart": [hook(f"pid=$(sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/');"
                           f" tr '\\0' ' ' < /proc/$pid/cmdline > {out}")],
    }
    assert lamina.create(b.write()).returncode == 0
    assert lamina("start", b.id).returncode == 0
    with open(out) as f:
        assert f.read().strip() == "sleep 31.5"


def test_hook_env_is_exactly_the_given_one(lamina, bundle, monkeypatch):
    b = bundle(["true"])
    out = os.path.join(b.path, "env")
    # "; true": as the last command sh would exec tr, and the environ of an image exec'd away
    # reads empty
    b.config["hooks"] = {"createRuntime": [hook(f"{BUSYBOX} tr '\\0' '\\n' < /proc/$$/environ > {out}; true",
                                                env=["A=1", "B=two words", "PATH=/nowhere"])]}
    monkeypatch.setenv("LT_RUNTIME_ENV", "must-not-reach-the-hook")
    p = lamina.run(b.write())
    assert p.returncode == 0, p.stderr
    with open(out) as f:
        assert f.read().split("\n")[:-1] == ["A=1", "B=two words", "PATH=/nowhere"]


def test_hook_args_and_path(lamina, bundle):
    # args[0] is the hook's argv[0]; path is what is executed
    b = bundle(["true"])
    out = os.path.join(b.path, "argv")
    args = ["sh", "-c", f"echo \"$0 $1\" > {out}", "zero", "one"]
    b.config["hooks"] = {"prestart": [{"path": BUSYBOX, "args": args}]}
    assert lamina.run(b.write()).returncode == 0
    with open(out) as f:
        assert f.read() == "zero one\n"


def pids_running(cmdline: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if f.read().replace(b"\0", b" ").strip() == cmdline.encode():
                        found.append(int(name))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_timeout_kills_the_hook_and_fails_create(lamina, bundle, kind):
    b = bundle(["true"])
    tag = f"sleep 37.{KINDS.index(kind)}{os.getpid() % 100}"
    b.config["hooks"] = {kind: [hook(f"exec {tag}", timeout=1)]}
    before = testing.mount_table()
    t0 = time.monotonic()
    p = lamina.create(b.write())
    assert time.monotonic() - t0 < 10
    assert p.returncode == 1
    assert f"hook #0 ({kind}) {BUSYBOX}: timeout after 1s: killed" in p.stderr
    assert pids_running(tag) == []
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    assert testing.mount_table() == before


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_phase_hook_leaves_nothing(lamina, bundle, kind):
    b = bundle(["true"])
    marker = os.path.join(b.path, "poststop-ran")
    b.config["hooks"] = {kind: [hook("true"), hook("echo it broke; exit 3")],
                         "poststop": [hook(f"echo ran >> {marker}")]}
    before = testing.mount_table()
    p = lamina.create(b.write())
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert f"hook #1 ({kind}) {BUSYBOX} failed: exit status 3: it broke" in p.stderr
    assert lamina("state", b.id).returncode == 1
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    assert testing.mount_table() == before
    # the lifecycle goes on at delete: poststop runs, once
    with open(marker) as f:
        assert f.read() == "ran\n"


def test_failing_start_container_hook_stops_the_container(lamina, bundle):
    b = bundle(["sh", "-c", "echo user-process-ran"])
    marker = os.path.join(b.path, "poststop-ran")
    b.config["hooks"] = {"startContainer": [hook("exit 4")], "poststop": [hook(f"echo ran >> {marker}")]}
    p = lamina.run(b.write())
    assert p.returncode != 0
    assert "user-process-ran" not in p.stdout
    assert "hook #0 (startContainer) /bin/busybox failed: exit status 4" in p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    with open(marker) as f:
        assert f.read() == "ran\n"


def test_failing_poststart_stops_the_container_and_poststop_still_runs(lamina, bundle, subreaper):
    # conformance case 046, with create/start/delete as containerd calls them
    b = bundle(["sleep", "30"])
    marker = os.path.join(b.path, "poststop-ran")
    b.config["hooks"] = {"poststart": [hook("exit 5")], "poststop": [hook(f"echo ran >> {marker}")]}
    assert lamina.create(b.write()).returncode == 0
    p = lamina("start", b.id)
    assert p.returncode == 1
    assert "hook #0 (poststart) /bin/busybox failed: exit status 5" in p.stderr and "stopped" in p.stderr
    assert lamina.state(b.id)["status"] == "stopped"
    assert not os.path.exists(marker)  # poststop belongs to delete
    assert lamina("delete", b.id).returncode == 0
    with open(marker) as f:
        assert f.read() == "ran\n"
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_failing_poststart_in_run(lamina, bundle):
    b = bundle(["sleep", "30"])
    marker = os.path.join(b.path, "poststop-ran")
    b.config["hooks"] = {"poststart": [hook("exit 5")], "poststop": [hook(f"echo ran >> {marker}")]}
    t0 = time.monotonic()
    p = lamina.run(b.write())
    assert p.returncode != 0 and time.monotonic() - t0 < 20
    assert "hook #0 (poststart)" in p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    with open(marker) as f:
        assert f.read() == "ran\n"


def test_failing_poststop_is_a_warning_and_the_rest_still_run(lamina, bundle, subreaper):
    b = bundle(["true"])
    marker = os.path.join(b.path, "second-ran")
    b.config["hooks"] = {"poststop": [hook("exit 6"), hook(f"echo ran >> {marker}")]}
    assert lamina.create(b.write()).returncode == 0
    assert lamina("start", b.id).returncode == 0
    assert wait_for(lambda: lamina.state(b.id)["status"] == "stopped")
    p = lamina("delete", b.id)
    assert p.returncode == 0, p.stderr
    assert "warning: hook #0 (poststop) /bin/busybox failed: exit status 6" in p.stderr
    with open(marker) as f:
        assert f.read() == "ran\n"
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_hook_validation(lamina, bundle):
    b = bundle(["true"])
    b.config["hooks"] = {"prestart": [{"path": "relative/hook"}],
                         "createRuntime": [{"path": "/no/such/hook"}],
                         "poststop": [{"path": BUSYBOX, "timeout": 0}],
                         "poststart": [{"path": BUSYBOX, "env": ["NOEQUALS"]}]}
    p = lamina.run(b.write())
    assert p.returncode == 1
    for msg in ("hooks.prestart[0].path: must be an absolute path, got 'relative/hook'",
                "hooks.createRuntime[0].path: /no/such/hook: no such file or directory",
                "hooks.poststop[0].timeout: must be greater than zero, got 0",
                "hooks.poststart[0].env[0]: 'NOEQUALS' is not of the form KEY=VALUE"):
        assert msg in p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_hook_that_is_not_executable_fails_clearly(lamina, bundle, tmp_path):
    path = tmp_path / "not-exec"
    path.write_text("#!/bin/sh\ntrue\n")
    b = bundle(["true"])
    b.config["hooks"] = {"createRuntime": [{"path": str(path)}]}
    p = lamina.run(b.write())
    assert p.returncode == 1
    assert f"hook #0 (createRuntime) {path}: permission denied" in p.stderr
    assert subprocess.run(["true"]).returncode == 0

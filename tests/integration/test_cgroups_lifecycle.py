"""The container's cgroup through its life: where it is made (cgroupsPath absolute, relative,
absent; the cgroup namespace's root), what is refused (a populated or frozen existing cgroup,
the systemd driver), pause/resume, events, update, kill --all, ps, and that delete leaves
nothing behind. Real containers, on whatever layout the host has (see cgroupfiles.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from cgroupfiles import HostCgroups
from lamina import testing
from lamina.testing import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.cgroups]

MiB = 1 << 20
CG = HostCgroups()


@pytest.fixture(autouse=True)
def _reaper(subreaper):
    yield


def started(lamina, bundle, args=("sleep", "300"), resources: dict | None = None, **linux):
    b = bundle(list(args))
    if resources is not None:
        b.config["linux"]["resources"] = resources
    b.config["linux"].update(linux)
    b.write()
    p = lamina.run(b, "-d")
    assert p.returncode == 0, p.stderr
    return b


def own_cgroups(pid: int | str = "self") -> dict[str, str]:
    """hierarchy key ('' for cgroup2) -> path, from /proc/<pid>/cgroup."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, key, path = line.rstrip("\n").split(":", 2)
            out[key] = path
    return out


def gone(lamina, b, cgroups_path: str | None = None) -> list[str]:
    return testing.leftovers(lamina.root, b.id, cgroups_path or b.cgroups_path)


# ---------------------------------------------------------------- placement


@pytest.mark.cgroupv2
def test_absolute_path_in_every_hierarchy(lamina, bundle):
    b = started(lamina, bundle)
    where = own_cgroups(lamina.state(b.id)["pid"])
    assert where and all(path == b.cgroups_path for path in where.values()), where
    assert lamina("delete", "--force", b.id).returncode == 0
    assert gone(lamina, b) == [] and CG.all_dirs(b.cgroups_path) == []


@pytest.mark.parametrize("how", ["relative", "absent"])
def test_relative_and_default_path_nest_under_the_runtime(lamina, bundle, how):
    """A relative cgroupsPath (and the default, the id) is placed under the cgroup of the
    runtime itself, separately in every hierarchy (runc's rule)."""
    b = bundle(["sleep", "300"])
    rel = f"lamina-test-rel-{b.id}/{b.id}" if how == "relative" else b.id
    if how == "relative":
        b.config["linux"]["cgroupsPath"] = rel
    else:
        del b.config["linux"]["cgroupsPath"]
    b.write()
    mine = own_cgroups()
    p = lamina.run(b, "-d")
    assert p.returncode == 0, p.stderr
    where = own_cgroups(lamina.state(b.id)["pid"])
    for key, path in where.items():
        assert path == os.path.join(mine[key], rel), (key, path, mine[key])
    assert lamina("delete", "--force", b.id).returncode == 0
    for path in set(mine.values()):
        # the leaf, and (relative) the parent made for it, are gone from every hierarchy
        assert testing.leftovers(lamina.root, b.id, os.path.join(path, rel)) == []
        assert CG.all_dirs(os.path.join(path, rel.split("/")[0])) == []


@pytest.mark.cgroupv2
def test_cgroup_namespace_is_rooted_at_the_container(lamina, bundle):
    b = bundle(["cat", "/proc/self/cgroup"])
    b.config["linux"]["namespaces"].append({"type": "cgroup"})
    p = lamina.run(b.write())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split()
    assert lines and all(line.endswith(":/") for line in lines), lines


def test_existing_populated_cgroup_is_refused(lamina, bundle):
    b = bundle(["true"])
    ctrl = "pids" if CG.version("pids") else "memory"
    d = CG.dir(ctrl, b.cgroups_path)
    os.makedirs(d)
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(sleeper.pid))
        p = lamina.create(b)
        assert p.returncode == 1 and "already has processes" in p.stderr and str(sleeper.pid) in p.stderr, (
            p.stderr
        )
        assert "linux.cgroupsPath" in p.stderr
        assert os.path.isdir(d) and sleeper.poll() is None  # not ours: left as it was
        assert not os.path.exists(os.path.join(lamina.root, b.id))
    finally:
        sleeper.kill()
        sleeper.wait()
        for path in sorted(CG.all_dirs(b.cgroups_path), key=len, reverse=True):
            wait_for(lambda p=path: _rmdir(p))


def _rmdir(path: str) -> bool:
    try:
        os.rmdir(path)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


@pytest.mark.cgroupv2
def test_existing_frozen_cgroup_is_refused(lamina, bundle):
    b = bundle(["true"])
    d = CG.dir("freezer", b.cgroups_path)
    os.makedirs(d)
    v1 = CG.version("freezer") == 1
    ctl, frozen, thawed = ("freezer.state", "FROZEN", "THAWED") if v1 else ("cgroup.freeze", "1", "0")
    try:
        with open(os.path.join(d, ctl), "w") as f:
            f.write(frozen)
        p = lamina.create(b)
        assert p.returncode == 1 and "is frozen" in p.stderr and "linux.cgroupsPath" in p.stderr, p.stderr
        assert not os.path.exists(os.path.join(lamina.root, b.id))
        with open(os.path.join(d, ctl)) as f:
            assert f.read().strip() == frozen  # not ours: left as it was
    finally:
        with open(os.path.join(d, ctl), "w") as f:
            f.write(thawed)
        for path in sorted(CG.all_dirs(b.cgroups_path), key=len, reverse=True):
            wait_for(lambda p=path: _rmdir(p))


def test_case_062_systemd_driver(lamina, bundle):
    b = bundle(["true"])
    b.config["linux"]["cgroupsPath"] = "/lamina/x"
    p = lamina("--systemd-cgroup", "run", "--bundle", b.write().path, b.id)
    assert p.returncode == 1 and '"slice:prefix:name"' in p.stderr, p.stderr
    b.config["linux"]["cgroupsPath"] = f"system.slice:lamina:{b.id}"
    p = lamina("--systemd-cgroup", "run", "--bundle", b.write().path, b.id)
    assert p.returncode == 1, p.stderr
    if os.path.isdir("/run/systemd/system"):
        assert "not supported" in p.stderr, p.stderr
    else:
        assert "systemd not running on this host" in p.stderr, p.stderr
    assert gone(lamina, b, "system.slice") == [] and not os.path.exists(os.path.join(lamina.root, b.id))
    # without --systemd-cgroup a slice:prefix:name path is refused too, never taken as a directory
    p = lamina.create(b)
    assert p.returncode == 1 and "--systemd-cgroup" in p.stderr, p.stderr


# ---------------------------------------------------------------- pause, resume


@pytest.mark.cgroupv2
def test_pause_and_resume(lamina, bundle, tmp_path):
    b = bundle(["sh", "-c", "while :; do date +%s%N > /out/tick; sleep 0.05; done"])
    b.config["mounts"].append(
        {"destination": "/out", "type": "bind", "source": str(tmp_path), "options": ["rbind", "rw"]}
    )
    os.makedirs(os.path.join(b.rootfs, "out"))
    assert lamina.run(b.write(), "-d").returncode == 0
    tick = tmp_path / "tick"
    assert wait_for(tick.exists)
    ctl, frozen = ("freezer.state", "FROZEN") if CG.version("freezer") == 1 else ("cgroup.freeze", "1")
    assert lamina("pause", b.id).returncode == 0
    assert lamina.state(b.id)["status"] == "paused"
    assert CG.read("freezer", b.cgroups_path, ctl) == frozen
    if ctl == "cgroup.freeze":
        assert "frozen 1" in CG.read("freezer", b.cgroups_path, "cgroup.events")
    before = tick.read_text()
    time.sleep(0.3)
    assert tick.read_text() == before  # nothing runs
    p = lamina("pause", b.id)
    assert p.returncode == 1 and "not running" in p.stderr and "paused" in p.stderr, p.stderr
    assert lamina("resume", b.id).returncode == 0
    assert lamina.state(b.id)["status"] == "running"
    assert wait_for(lambda: tick.read_text() != before)
    p = lamina("resume", b.id)
    assert p.returncode == 1 and "not paused" in p.stderr, p.stderr
    # a paused container can be deleted with --force: thawed, killed, removed
    assert lamina("pause", b.id).returncode == 0
    assert lamina("delete", "--force", b.id).returncode == 0
    assert gone(lamina, b) == []


# ---------------------------------------------------------------- events


@pytest.mark.cgroupv2
def test_events_stats_from_real_counters(lamina, bundle):
    res = {"memory": {"limit": 64 * MiB}, "pids": {"limit": 20}}
    b = started(
        lamina,
        bundle,
        ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 300"],
        resources=res,
    )
    time.sleep(0.5)
    p = lamina("events", "--stats", b.id)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1
    ev = json.loads(lines[0])
    assert ev["type"] == "stats" and ev["id"] == b.id
    d = ev["data"]
    assert d["pids"] == {"current": 1, "limit": 20}, d["pids"]
    assert d["memory"]["usage"]["limit"] == 64 * MiB and d["memory"]["usage"]["usage"] > 0
    assert d["cpu"]["usage"]["total"] > 0
    assert d["memory"]["raw"]["oom_kill"] == 0
    p = lamina("events", "--stats", "nonesuch-" + b.id)
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_events_stream_reports_oom_kills(lamina, bundle):
    """Without --stats: a stats line every interval, an oom line per OOM kill, until it stops."""
    hog = 'sh -c "x=\\$(head -c 64000000 /dev/zero | tr \\"\\\\0\\" a)"; sleep 1; exit 0'
    b = bundle(["sh", "-c", f"sleep 0.5; {hog}"])
    b.config["linux"]["resources"] = {"memory": {"limit": 16 * MiB}}
    assert lamina.run(b.write(), "-d").returncode == 0
    p = lamina("events", "--interval", "200ms", b.id, timeout=30)
    assert p.returncode == 0, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds.count("stats") >= 2 and "oom" in kinds, kinds
    assert all(e["id"] == b.id for e in events)
    p = lamina("events", "--interval", "5 parsecs", b.id)
    assert p.returncode == 1 and "--interval" in p.stderr


# ---------------------------------------------------------------- update


def _files(b) -> dict[str, str]:
    cg = b.cgroups_path
    if CG.version("memory") == 1:
        return {
            "memory": CG.read("memory", cg, "memory.limit_in_bytes"),
            "swap": CG.read("memory", cg, "memory.memsw.limit_in_bytes")
            if CG.has("memory", cg, "memory.memsw.limit_in_bytes")
            else "",
            "shares": CG.read("cpu", cg, "cpu.shares"),
            "quota": CG.read("cpu", cg, "cpu.cfs_quota_us") + " " + CG.read("cpu", cg, "cpu.cfs_period_us"),
            "cpus": CG.read("cpuset", cg, "cpuset.cpus"),
            "pids": CG.read("pids", cg, "pids.max"),
        }
    return {
        "memory": CG.read("memory", cg, "memory.max"),
        "swap": CG.read("memory", cg, "memory.swap.max") if CG.has("memory", cg, "memory.swap.max") else "",
        "shares": CG.read("cpu", cg, "cpu.weight"),
        "quota": CG.read("cpu", cg, "cpu.max"),
        "cpus": CG.read("cpuset", cg, "cpuset.cpus"),
        "pids": CG.read("pids", cg, "pids.max"),
    }


@pytest.mark.cgroupv2
def test_update_with_flags(lamina, bundle):
    b = started(lamina, bundle, resources={"memory": {"limit": 64 * MiB}, "pids": {"limit": 20}})
    p = lamina(
        "update",
        "--memory",
        "128m",
        "--cpu-shares",
        "512",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "30",
        b.id,
    )
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p.stderr
    f = _files(b)
    v1 = CG.version("memory") == 1
    assert f["memory"] == str(128 * MiB)
    assert f["shares"] == ("512" if v1 else "59")
    assert f["quota"] == ("20000 100000" if v1 else "20000 100000")
    assert f["cpus"] == "0" and f["pids"] == "30"
    # runc's flag name, and a size with a unit; -1 lifts the limit
    assert (
        lamina("update", "--cpu-share", "256", "--memory", "-1", "--pids-limit", "-1", b.id).returncode == 0
    )
    f = _files(b)
    assert f["pids"] == "max" and f["memory"] in ("max", "9223372036854771712")
    assert f["shares"] == (
        "256" if v1 else str(__import__("math").ceil(10 ** ((64 + 125 * 8) / 612 - 7 / 34)))
    )
    # the stored values were merged: state says what is applied
    assert lamina.state(b.id)["status"] == "running"


def test_update_swap_and_limit_in_either_order(lamina, bundle):
    b = bundle(["sleep", "300"])
    b.config["linux"]["resources"] = {"memory": {"limit": 64 * MiB, "swap": 64 * MiB}}
    p = lamina.run(b.write(), "-d")
    if p.returncode != 0 and "does not exist" in p.stderr:
        pytest.skip(f"no swap accounting: {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr
    # up: memory+swap must grow first (v1 requires memsw >= limit after every write)
    assert lamina("update", "--memory", "256m", "--memory-swap", "512m", b.id).returncode == 0
    f = _files(b)
    assert f["memory"] == str(256 * MiB)
    assert f["swap"] == (str(512 * MiB) if CG.version("memory") == 1 else str(256 * MiB))
    # down: the limit must shrink first
    assert lamina("update", "--memory", "32m", "--memory-swap", "48m", b.id).returncode == 0
    f = _files(b)
    assert f["memory"] == str(32 * MiB)
    assert f["swap"] == (str(48 * MiB) if CG.version("memory") == 1 else str(16 * MiB))
    # a limit above the stored swap is checked against it, as create would
    p = lamina("update", "--memory", "64m", b.id)
    assert p.returncode == 1 and "linux.resources.memory.swap" in p.stderr and "below" in p.stderr, p.stderr


def test_update_with_resources_file_and_stdin(lamina, bundle, tmp_path):
    b = started(lamina, bundle, resources={"pids": {"limit": 20}})
    res = tmp_path / "res.json"
    res.write_text(json.dumps({"pids": {"limit": 44}, "cpu": {"shares": 2048}}))
    p = lamina("update", "--resources", str(res), b.id)
    assert p.returncode == 0, p.stderr
    assert _files(b)["pids"] == "44"
    p = lamina("update", "-r", "-", b.id, input=json.dumps({"pids": {"limit": 45}}).encode())
    assert p.returncode == 0, p.stderr
    assert _files(b)["pids"] == "45"
    # refusals: bad JSON, bad type, devices, both forms at once, nothing to do, unknown container
    res.write_text("{not json")
    p = lamina("update", "-r", str(res), b.id)
    assert p.returncode == 1 and "not a JSON object" in p.stderr
    p = lamina("update", "-r", "-", b.id, input=b'{"pids": {"limit": "many"}}')
    assert p.returncode == 1 and "linux.resources.pids.limit" in p.stderr and "integer" in p.stderr
    p = lamina("update", "-r", "-", b.id, input=b'{"devices": [{"allow": true, "access": "rwm"}]}')
    assert p.returncode == 1 and "linux.resources.devices" in p.stderr
    p = lamina("update", "-r", str(res), "--pids-limit", "3", b.id)
    assert p.returncode == 1 and "cannot be combined" in p.stderr
    p = lamina("update", b.id)
    assert p.returncode == 1 and "nothing to change" in p.stderr
    p = lamina("update", "--memory", "lots", b.id)
    assert p.returncode == 1 and "--memory" in p.stderr and "not a size" in p.stderr
    p = lamina("update", "--pids-limit", "3", "nonesuch-" + b.id)
    assert p.returncode == 1 and "does not exist" in p.stderr
    assert _files(b)["pids"] == "45"
    # a stopped container is not updated
    assert lamina("kill", b.id, "KILL").returncode == 0
    assert wait_for(lambda: lamina.state(b.id)["status"] == "stopped")
    p = lamina("update", "--pids-limit", "3", b.id)
    assert p.returncode == 1 and "stopped" in p.stderr


# ---------------------------------------------------------------- kill --all


def _procs(b) -> list[int]:
    with open(CG.path("pids" if CG.version("pids") else "freezer", b.cgroups_path, "cgroup.procs")) as f:
        return [int(x) for x in f.read().split()]


@pytest.mark.cgroupv2
def test_kill_all(lamina, bundle):
    # a handler (not an ignored signal, which the children would inherit across exec)
    b = started(
        lamina, bundle, ["sh", "-c", "trap true TERM; sleep 300 & sleep 300 & while :; do wait; done"]
    )
    assert wait_for(lambda: len(_procs(b)) == 3)
    # TERM reaches every process; the trapping shell survives it, the sleeps do not
    assert lamina("kill", "--all", b.id, "TERM").returncode == 0
    assert wait_for(lambda: len(_procs(b)) == 1), _procs(b)
    # a paused container: SIGKILL still kills everything (it is thawed to die)
    assert lamina("pause", b.id).returncode == 0
    assert lamina("kill", "--all", b.id, "KILL").returncode == 0
    assert wait_for(lambda: _procs(b) == [])
    assert wait_for(lambda: lamina.state(b.id)["status"] == "stopped")
    assert lamina("delete", b.id).returncode == 0
    assert gone(lamina, b) == []


# ---------------------------------------------------------------- ps


def _ps(lamina, tmp_path, *args: str) -> subprocess.CompletedProcess:
    """`lamina ps ...` with the host's ps, or busybox's on a guest without procps."""
    env = lamina.env()
    if shutil.which("ps") is None:
        os.makedirs(tmp_path / "psbin", exist_ok=True)
        if not os.path.lexists(tmp_path / "psbin" / "ps"):
            os.symlink("/bin/busybox", tmp_path / "psbin" / "ps")
        env["PATH"] = f"{tmp_path / 'psbin'}:{env['PATH']}"
    return subprocess.run(
        lamina.argv("ps", *args),
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )


def test_ps_table_and_json(lamina, bundle, tmp_path):
    b = started(lamina, bundle, ["sh", "-c", "sleep 300 & sleep 301 & wait"])
    assert wait_for(lambda: len(_procs(b)) == 3)
    pids = sorted(_procs(b))
    p = lamina("ps", "--format", "json", b.id)
    assert p.returncode == 0 and sorted(json.loads(p.stdout)) == pids, (p.stdout, p.stderr)
    for args in ([], ["-o", "pid,comm"], ["--", "-o", "pid,args"]):
        p = _ps(lamina, tmp_path, b.id, *args)
        assert p.returncode == 0, p.stderr
        header, *rows = p.stdout.splitlines()
        col = header.split().index("PID")
        assert sorted(int(r.split()[col]) for r in rows) == pids, p.stdout
        if "args" in args[-1:] or not args:
            assert sum(r.endswith("sleep 301") for r in rows) == 1, p.stdout
    p = _ps(lamina, tmp_path, b.id, "-o", "comm")
    assert p.returncode == 1 and "PID" in p.stderr
    assert lamina("ps", "nonesuch-" + b.id).returncode == 1


def test_ps_loads_no_plugin(lamina, bundle):
    b = started(lamina, bundle)
    code = (
        "import sys\nfrom lamina.cli.main import run_cli\n"
        f"assert run_cli(['--root', {lamina.root!r}, 'ps', '--format', 'json', {b.id!r}]) == 0\n"
        "sys.stdout.flush()\n"
        "print(sorted(m for m in ('pluggy', 'stevedore', 'importlib.metadata') if m in sys.modules))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    pids, loaded = p.stdout.splitlines()
    assert json.loads(pids) == [lamina.state(b.id)["pid"]] and loaded == "[]", p.stdout


# ---------------------------------------------------------------- removal


def test_delete_removes_sub_cgroups_the_container_made(lamina, bundle):
    """With a cgroup namespace and a writable cgroup mount the container makes cgroups of its own
    below its cgroup and moves into one; delete removes them all, deepest first."""
    if CG.unified:
        script = "mkdir -p /sys/fs/cgroup/sub/deeper && echo $$ > /sys/fs/cgroup/sub/deeper/cgroup.procs"
    else:
        ctrl = "pids" if CG.version("pids") == 1 else "memory"
        script = (
            f"mkdir -p /sys/fs/cgroup/{ctrl}/sub/deeper && "
            f"echo $$ > /sys/fs/cgroup/{ctrl}/sub/deeper/cgroup.procs"
        )
    b = bundle(["sh", "-c", f"{script} && touch /tmp/moved; exec sleep 300"])
    b.config["linux"]["namespaces"].append({"type": "cgroup"})
    for m in b.config["mounts"]:
        if m["type"] == "cgroup":
            m["options"] = [o for o in m.get("options", []) if o != "ro"] + ["rw"]
    assert lamina.run(b.write(), "-d").returncode == 0
    assert wait_for(lambda: os.path.exists(os.path.join(b.rootfs, "tmp", "moved")))
    assert any("sub/deeper" in d for d in CG.all_dirs(b.cgroups_path + "/sub/deeper"))
    pid = lamina.state(b.id)["pid"]
    assert (
        own_cgroups(pid)
        .get("" if CG.unified else ("pids" if CG.version("pids") == 1 else "memory"), "")
        .endswith("/sub/deeper")
    )
    assert lamina("delete", "--force", b.id).returncode == 0
    assert gone(lamina, b) == [] and CG.all_dirs(b.cgroups_path) == []


def test_failed_create_leaves_no_cgroup(lamina, bundle):
    """A limit the kernel refuses (a cpu this machine does not have) fails create after the
    cgroup was made and the init joined it: everything goes."""
    b = bundle(["true"])
    b.config["linux"]["resources"] = {"cpu": {"cpus": "4095"}}
    p = lamina.create(b.write())
    assert p.returncode == 1 and "linux.resources.cpu.cpus" in p.stderr, p.stderr
    assert gone(lamina, b) == [] and CG.all_dirs(b.cgroups_path) == []

"""Helpers for testing lamina and lamina plugins against real containers (root, busybox-static).

A bundle is a directory with config.json and rootfs/; the rootfs is a copy of a busybox tree
built once from the host's static busybox (every applet a /bin symlink), so each test may
change its own rootfs freely. Test containers get unique ids and a cgroupsPath under one parent
(``/lamina-test``) that the suite owns and sweeps.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from typing import Any

CACHE = os.environ.get("LAMINA_TEST_CACHE", "/var/tmp/lamina-test")
CGROUP_TOP = "lamina-test"
# one subtree per test session (its pid), so parallel sessions never sweep each other's cgroups
CGROUP_PARENT = f"{CGROUP_TOP}/s{os.getpid()}"
BUSYBOX = "/bin/busybox"


def busybox_rootfs() -> str:
    """The shared, read-only template rootfs (built on first use)."""
    dst = os.path.join(CACHE, "busybox-rootfs")
    if os.path.exists(os.path.join(dst, ".complete")):
        return dst
    if not os.path.exists(BUSYBOX):
        raise RuntimeError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    tmp = f"{dst}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "tmp", "etc", "root", "home/user", "var/tmp"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(tmp, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        p = os.path.join(tmp, "bin", a)
        if not os.path.lexists(p):
            os.symlink("busybox", p)
    os.symlink("bin", os.path.join(tmp, "sbin"))
    os.makedirs(os.path.join(tmp, "usr"), exist_ok=True)
    os.symlink("../bin", os.path.join(tmp, "usr", "bin"))
    with open(os.path.join(tmp, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    with open(os.path.join(tmp, "etc", "group"), "w") as f:
        f.write("root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n")
    os.chmod(os.path.join(tmp, "tmp"), 0o1777)
    open(os.path.join(tmp, ".complete"), "w").close()
    shutil.rmtree(dst, ignore_errors=True)
    os.rename(tmp, dst)
    return dst


def base_config(args: list[str] | None = None) -> dict[str, Any]:
    """runc's default spec, not a terminal, writable root, cgroup namespace off (as runc's)."""
    from lamina.defaultspec import default_spec

    cfg = default_spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args or ["/bin/true"]
    cfg["root"]["readonly"] = False
    cfg["linux"]["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]
    return cfg


def unique_id(prefix: str = "lt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Bundle:
    """A bundle on disk; edit ``config`` and call ``write()`` (done by ``make_bundle``)."""

    path: str
    id: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def rootfs(self) -> str:
        return os.path.join(self.path, "rootfs")

    @property
    def cgroups_path(self) -> str:
        return self.config.get("linux", {}).get("cgroupsPath", "")

    def write(self) -> Bundle:
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=1)
        return self

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def make_bundle(parent: str, args: list[str] | None = None, config: dict[str, Any] | None = None,
                cid: str | None = None) -> Bundle:
    """A fresh bundle under ``parent`` with its own copy of the busybox rootfs."""
    cid = cid or unique_id()
    path = os.path.join(parent, cid)
    os.makedirs(path, exist_ok=True)
    shutil.copytree(busybox_rootfs(), os.path.join(path, "rootfs"), symlinks=True)
    cfg = copy.deepcopy(config) if config is not None else base_config(args)
    if args is not None:
        cfg["process"]["args"] = args
    cfg.setdefault("linux", {}).setdefault("cgroupsPath", f"/{CGROUP_PARENT}/{cid}")
    return Bundle(path, cid, cfg).write()


# ---------------------------------------------------------------------- what a container leaves


def mount_table(*within: str) -> set[str]:
    """The host mount namespace's mounts (mountinfo lines), to compare before and after; with
    `within`, only those whose mount point is one of these paths or below one (what other test
    sessions mount elsewhere on the host meanwhile then does not disturb the comparison)."""
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    if not within:
        return set(lines)
    tops = [p.rstrip("/") for p in within]
    return {line for line in lines
            if any(mp == t or mp.startswith(t + "/") for mp in [line.split()[4]] for t in tops)}


def wait_for(pred, timeout: float = 10.0, step: float = 0.02):
    """Poll ``pred`` until it returns something true or ``timeout`` seconds passed; its last value."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def reap_orphans() -> None:
    """Reap zombie children of this process: inits and helpers re-parented to it (tests are
    subreapers). Call only while no subprocess.Popen of this process is outstanding."""
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == b"Z" and int(fields[1]) == me:
            try:
                os.waitpid(int(name), os.WNOHANG)
            except ChildProcessError:
                pass


def leftovers(root: str, cid: str, cgroups_path: str = "") -> list[str]:
    """Everything of container `cid` still on the host: its state directory under `root`, its
    cgroup directories in every hierarchy, and processes in those cgroups or whose command line
    names it (an init before exec). Empty when the container is gone completely."""
    import glob

    reap_orphans()
    found = []
    if os.path.lexists(os.path.join(root, cid)):
        found.append(f"state dir {os.path.join(root, cid)}")
    rel = cgroups_path.strip("/")
    if rel:
        dirs = glob.glob(f"/sys/fs/cgroup/*/{rel}") + glob.glob(f"/sys/fs/cgroup/{rel}")
        found += [f"cgroup {p}" for p in dirs]
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{name}/cgroup") as f:
                cg = f.read()
        except OSError:
            continue
        if cid.encode() in argv or (rel and (f"/{rel}\n" in cg or f"/{rel}/" in cg)):
            found.append(f"process {name} {b' '.join(argv).decode(errors='replace').strip()}")
    return found


# ---------------------------------------------------------------------- plugins and admin files


def toml_text(data: dict[str, Any]) -> str:
    """A small TOML writer for admin files given as dicts (strings, numbers, booleans, lists of
    those, nested tables): ``{"plugins": {"disable": ["cgroups"]}, "policy": {...}}``."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {v!r} as TOML")

    lines: list[str] = []

    def table(prefix: str, d: dict[str, Any]) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        if prefix and (scalars or not d):
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{k} = {value(v)}")
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}" if prefix else k, v)

    table("", data)
    return "\n".join(lines) + "\n"


def install_plugin(directory: str, name: str, source: str, dist: str | None = None,
                   version: str = "0.0.1", module: str | None = None) -> str:
    """Make ``source`` an installed lamina plugin called ``name`` without pip: a module and a
    ``.dist-info`` with its entry point (group ``lamina.plugins``) in ``directory``, which is
    then to be put on PYTHONPATH of the lamina command (``Runtime.pythonpath``). Returns
    ``directory``. The plugin is found exactly as one installed with pip would be."""
    dist = dist or f"lamina-test-{name}"
    module = module or f"lamina_test_plugin_{name.replace('-', '_')}"
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, f"{module}.py"), "w") as f:
        f.write(source)
    info = os.path.join(directory, f"{dist.replace('-', '_')}-{version}.dist-info")
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    with open(os.path.join(info, "entry_points.txt"), "w") as f:
        f.write(f"[lamina.plugins]\n{name} = {module}\n")
    return directory


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """The records of a JSON-lines file (an audit log, a recording plugin's output)."""
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def ran(lamina, b: Bundle, *extra: str) -> str:
    """`lamina run` of ``b`` in the foreground, which must succeed: the container's stdout."""
    __tracebackhide__ = True
    p = lamina.run(b.write(), *extra)
    assert p.returncode == 0, f"exit {p.returncode}: {p.stdout}{p.stderr}"
    return p.stdout


def refused(lamina, b: Bundle, *extra: str) -> str:
    """`lamina run` of ``b``, which must be refused the way bad input always is: exit 1, one line
    on stderr, no traceback, nothing left behind. That line, stripped."""
    __tracebackhide__ = True
    p = lamina.run(b.write(), *extra)
    assert p.returncode == 1, f"exit {p.returncode}: {p.stdout}{p.stderr}"
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert leftovers(lamina.root, b.id, b.cgroups_path) == []
    return p.stderr.strip()

"""Built-in plugin: the container's cgroup (minimal: placement, device rules, freezer, removal).

The cgroup is made in `prepare`, the init's first process is moved into it before it unshares
(so a cgroup namespace is rooted there), and it is removed on teardown. Only directories this
plugin created are ever removed.
"""

from __future__ import annotations

import errno
import os
import signal as signals
import time

from lamina import hookimpl
from lamina.errors import LaminaError
from lamina.plugins.cgroups import devices
from lamina.plugins.cgroups.hierarchy import container_paths

NAME = "cgroups"


@hookimpl
def lamina_claims() -> list[str]:
    return ["linux.cgroupsPath", "linux.resources.devices"]


@hookimpl
def lamina_features() -> dict:
    return {"linux": {"cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False}}}


@hookimpl
def lamina_validate(config: dict, bundle: str) -> list[str]:
    linux = config.get("linux") or {}
    problems = []
    path = linux.get("cgroupsPath")
    if path is not None:
        if ":" in path:
            problems.append(f"linux.cgroupsPath: {path!r} looks like a systemd slice:prefix:name path, but "
                            "the systemd cgroup driver is not supported")
        if ".." in path.split("/"):
            problems.append(f"linux.cgroupsPath: {path!r} must not contain '..'")
    for i, r in enumerate((linux.get("resources") or {}).get("devices") or []):
        problems.extend(devices.check(r, f"linux.resources.devices[{i}]"))
    return problems


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


@hookimpl
def lamina_prepare(ctx) -> None:
    linux = ctx.config.get("linux") or {}
    paths = container_paths(linux.get("cgroupsPath"), ctx.id)
    mine = ctx.mine(NAME)
    mine["paths"] = paths
    mine["created"] = []
    ctx.scratch["persist"]()  # recorded before anything is made: delete --force can find it
    for mnt, path in paths.items():
        if os.path.isdir(path):
            procs = _procs(path)
            if procs:
                raise LaminaError(f"linux.cgroupsPath: cgroup {path} already has processes "
                                  f"({len(procs)}); refusing to share it")
        made = _mkdirs(mnt, path)
        mine["created"].extend(made)
        ctx.scratch["persist"]()
    dev = paths.get("/sys/fs/cgroup/devices")
    if dev:
        for allow, rule in devices.rules(ctx.config):
            try:
                _write(os.path.join(dev, "devices.allow" if allow else "devices.deny"), rule)
            except OSError as e:
                raise LaminaError(f"linux.resources.devices: cannot apply {'allow' if allow else 'deny'} "
                                  f"{rule!r}: {e.strerror.lower()}") from None
    frz = paths.get("/sys/fs/cgroup/freezer")
    if frz:
        ctx.scratch["freezer"] = {"path": os.path.join(frz, "freezer.state"), "frozen": "FROZEN"}


def _mkdirs(mnt: str, path: str) -> list[str]:
    made = []
    rel = os.path.relpath(path, mnt)
    cur = mnt
    for part in rel.split("/"):
        if part in ("", "."):
            continue
        cur = os.path.join(cur, part)
        try:
            os.mkdir(cur, 0o755)
            made.append(cur)
        except FileExistsError:
            continue
        except OSError as e:
            raise LaminaError(f"linux.cgroupsPath: cannot create {cur}: {e.strerror.lower()}") from None
        _inherit_cpuset(cur)
    return made


def _inherit_cpuset(path: str) -> None:
    """A new v1 cpuset cgroup starts with no cpus and no mems, and no task may join it (ENOSPC)
    until both are set: copy them from the parent, as the kernel's clone_children would."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        mine = os.path.join(path, name)
        if not os.path.exists(mine):
            return
        with open(mine) as f:
            if f.read().strip():
                continue
        with open(os.path.join(os.path.dirname(path), name)) as f:
            value = f.read().strip()
        _write(mine, value)


def _procs(path: str) -> list[int]:
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


@hookimpl
def lamina_child_spawned(ctx, pid: int) -> None:
    for path in ctx.mine(NAME).get("paths", {}).values():
        try:
            _write(os.path.join(path, "cgroup.procs"), str(pid))
        except OSError as e:
            raise LaminaError(f"cannot move the init into cgroup {path}: {e.strerror.lower()}") from None


def _freezer(ctx) -> str | None:
    return ctx.mine(NAME).get("paths", {}).get("/sys/fs/cgroup/freezer")


def _any_path(ctx) -> str | None:
    paths = ctx.mine(NAME).get("paths", {})
    for key in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/freezer", "/sys/fs/cgroup/unified"):
        if key in paths:
            return paths[key]
    return next(iter(paths.values()), None)


@hookimpl
def lamina_processes(ctx) -> list[int] | None:
    path = _any_path(ctx)
    return _procs(path) if path else None


@hookimpl
def lamina_freeze(ctx, frozen: bool) -> bool | None:
    frz = _freezer(ctx)
    if not frz:
        raise LaminaError("pause needs the freezer cgroup controller, which this host lacks")
    want = "FROZEN" if frozen else "THAWED"
    _write(os.path.join(frz, "freezer.state"), want)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(os.path.join(frz, "freezer.state")) as f:
            if f.read().strip() == want:
                return True
        time.sleep(0.002)
    raise LaminaError(f"the container's cgroup did not reach {want} in time")


@hookimpl
def lamina_kill_all(ctx, signal: int) -> bool | None:
    path = _any_path(ctx)
    if not path:
        return None
    frz = _freezer(ctx)
    # freeze first so nothing forks past the signal, thaw so the signal is delivered
    if frz and signal == signals.SIGKILL:
        try:
            _write(os.path.join(frz, "freezer.state"), "FROZEN")
        except OSError:
            frz = None
    for pid in _procs(path):
        try:
            os.kill(pid, signal)
        except ProcessLookupError:
            pass
    if frz and signal == signals.SIGKILL:
        _write(os.path.join(frz, "freezer.state"), "THAWED")
    return True


@hookimpl
def lamina_teardown(ctx) -> None:
    mine = ctx.mine(NAME)
    created = mine.get("created") or []
    if not created:
        return
    frz = _freezer(ctx)
    if frz and os.path.isdir(frz):
        try:
            _write(os.path.join(frz, "freezer.state"), "THAWED")
        except OSError:
            pass
    errors = []
    leaves = set(mine.get("paths", {}).values())
    for path in sorted(created, key=len, reverse=True):
        if path not in leaves:
            # a parent we made for it: remove it if no other container uses it now
            try:
                os.rmdir(path)
            except OSError:
                pass
            continue
        for attempt in range(400):
            for pid in _procs(path):
                try:
                    os.kill(pid, signals.SIGKILL)
                except ProcessLookupError:
                    pass
            _reap_children()
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY or attempt == 399:
                    errors.append(f"cannot remove cgroup {path}: {e.strerror.lower()}")
                    break
                time.sleep(0.005)
    if errors:
        raise LaminaError("; ".join(errors))


def _reap_children() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


@hookimpl
def lamina_exec_spawned(ctx, pid: int) -> None:
    # an exec'd process is bound by the container's limits like the init: joined before it
    # enters the container's cgroup namespace
    lamina_child_spawned(ctx, pid)

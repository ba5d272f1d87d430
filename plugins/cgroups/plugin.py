"""Built-in plugin: the container's cgroup, on cgroup v1, hybrid and unified v2 hosts.

When what happens (see docs/cgroups.md):
- validate: every field of linux.resources is checked against this host's layout; a field it
  cannot apply is an error (fail closed), never a warning.
- prepare (before the fork): the cgroup directories are made (a populated or frozen existing
  one is refused), v2 controllers enabled, and the device rules put in place (v1 devices files,
  or an eBPF program on v2), so no process is ever in the cgroup without them.
- child spawned: the init's first process joins, before it unshares, so a cgroup namespace is
  rooted at the container's cgroup.
- apply limits: every other limit is written when the init asks for the createRuntime hooks:
  then the init is alone in its cgroup (so pids.limit 0 or 1 cannot stop it), and the hooks see
  the limits (as runc's).
- teardown: thaw, kill what is left, remove what this plugin made, retrying while busy.
"""

from __future__ import annotations

import os

from lamina import hookimpl
from lamina.errors import ConfigError, LaminaError
from lamina.plugins.cgroups import controllers, devices
from lamina.plugins.cgroups.hierarchy import container_paths
from lamina.plugins.cgroups.layout import Layout, detect
from lamina.plugins.cgroups.manager import Manager

NAME = "cgroups"
RESOURCES = ("devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma", "unified")


@hookimpl
def lamina_claims() -> list[str]:
    return ["linux.cgroupsPath"] + [f"linux.resources.{r}" for r in RESOURCES]


@hookimpl
def lamina_features() -> dict:
    return {"linux": {"cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False,
                                 "rdma": True}}}


def check_resources(resources: dict, layout: Layout) -> list[str]:
    """What ``layout`` cannot apply of ``resources`` (sections as in config.json), or bad values."""
    problems = []
    for name, section in controllers.present(resources).items():
        mod = controllers.module(name)
        found = mod.check(section, layout)
        if not found:
            for ctrl, field in mod.needs(section).items():
                if layout.home(ctrl) is None:
                    found.append(f"{field}: needs the {ctrl} cgroup controller, which this host does "
                                 f"not have ({layout.describe()})")
        problems += found
    return problems


@hookimpl
def lamina_validate(config: dict, bundle: str) -> list[str]:
    linux = config.get("linux") or {}
    problems = []
    path = linux.get("cgroupsPath")
    if path is not None:
        # "slice:prefix:name": exactly two colons (a str test, not a regex compiled on every create)
        if path.count(":") == 2 and not path.startswith("/"):
            problems.append(f"linux.cgroupsPath: {path!r} is a systemd \"slice:prefix:name\" path, which "
                            "needs --systemd-cgroup (the systemd driver); the cgroupfs driver takes a "
                            "directory path")
        elif ".." in path.split("/"):
            problems.append(f"linux.cgroupsPath: {path!r} must not contain '..'")
    resources = linux.get("resources") or {}
    for i, r in enumerate(resources.get("devices") or []):
        problems += devices.check(r, f"linux.resources.devices[{i}]")
    layout = detect()
    if layout.mode == "none":
        return problems + ["no cgroup hierarchy is mounted under /sys/fs/cgroup: lamina cannot apply "
                           "device rules or limits"]
    return problems + check_resources(resources, layout)


def _manager(ctx) -> Manager | None:
    rec = ctx.mine(NAME)
    return Manager.from_record(rec) if rec.get("paths") else None


@hookimpl
def lamina_prepare(ctx) -> None:
    linux = ctx.config.get("linux") or {}
    layout = detect()
    m = Manager(layout, container_paths(linux.get("cgroupsPath"), ctx.id))
    # before anything is recorded: teardown kills what is in the recorded cgroups, and a refused
    # (busy) cgroup belongs to someone else
    m.check_fresh()
    mine = ctx.mine(NAME)
    mine.update(m.record())
    planned = m.missing()
    mine["created"] = [d for _, d in planned]
    persist = ctx.scratch["persist"]
    persist()  # recorded before anything is made: delete --force can find and remove it
    m.create(planned, mine["created"])
    needed = set()
    for name, section in controllers.present(linux.get("resources") or {}).items():
        needed |= set(controllers.module(name).needs(section))
    m.enable(needed)
    _apply_devices(ctx, m, mine)
    ctx.scratch["freezer"] = m.freezer_record()
    # the rest of the record is written by the core's persist after every plugin's prepare


def _apply_devices(ctx, m: Manager, mine: dict) -> None:
    rules = devices.rules(ctx.config)
    b = m.backend_for("devices")
    if b is None:
        raise LaminaError("linux.resources.devices: no cgroup of this host can restrict devices")
    d = b.dir_for("devices")
    if b.version == 1:
        for r in rules:
            try:
                with open(os.path.join(d, "devices.allow" if r.allow else "devices.deny"), "w") as f:
                    f.write(r.line())
            except OSError as e:
                raise LaminaError(f"linux.resources.devices: cannot apply {'allow' if r.allow else 'deny'} "
                                  f"{r.line()!r} in {d}: {e.strerror.lower()}") from None
        return
    from lamina.plugins.cgroups import bpf_devices

    try:
        mine["bpf"] = {"dir": d, "id": bpf_devices.attach(d, rules)}
    except OSError as e:
        raise LaminaError(f"linux.resources.devices: cannot attach the device program to {d}: {e}") from None


@hookimpl
def lamina_child_spawned(ctx, pid: int) -> None:
    m = _manager(ctx)
    if m is not None:
        m.join(pid)


@hookimpl
def lamina_exec_spawned(ctx, pid: int) -> None:
    # an exec'd process is bound by the container's limits like the init: joined before it
    # enters the container's cgroup namespace
    lamina_child_spawned(ctx, pid)


def _writes(m: Manager, sections: dict) -> list:
    out = []
    for name in controllers.SECTIONS:
        if name in sections:
            out += controllers.module(name).plan(sections[name], m.layout, m)
    return out


@hookimpl
def lamina_apply_limits(ctx) -> None:
    m = _manager(ctx)
    if m is None:
        return
    sections = controllers.present((ctx.config.get("linux") or {}).get("resources") or {})
    writes = _writes(m, sections)
    m.apply(writes)
    mine = ctx.mine(NAME)
    mine["resources"] = sections
    mine["files"] = sorted({(w.field, m.file_of(w)) for w in writes if m.file_of(w)})  # for the audit



def merge_resources(old: dict, new: dict) -> dict:
    """``new`` over ``old``, section by section: objects field by field, hugepageLimits by page
    size, rdma by device, and whole lists otherwise."""
    out = {k: v for k, v in old.items()}
    for k, v in new.items():
        if k == "hugepageLimits":
            by = {h["pageSize"]: h for h in old.get(k) or []}
            by.update({h["pageSize"]: h for h in v})
            out[k] = list(by.values())
        elif isinstance(v, dict) and isinstance(old.get(k), dict):
            merged = dict(old[k])
            merged.update(v)
            out[k] = merged
        else:
            out[k] = v
    return out


@hookimpl
def lamina_update(ctx, resources: dict) -> list[str]:
    m = _manager(ctx)
    if m is None:
        return []
    if resources.get("devices"):
        raise LaminaError("linux.resources.devices: device rules cannot be changed by update (as with runc); "
                          "recreate the container")
    new = controllers.present(resources)
    mine = ctx.mine(NAME)
    merged = merge_resources(mine.get("resources") or {}, new)
    problems = check_resources({k: merged[k] for k in new}, m.layout)
    if problems:
        raise ConfigError(problems)
    needed = set()
    for name in new:
        needed |= set(controllers.module(name).needs(merged[name]))
    m.enable(needed)
    writes = _writes(m, {k: merged[k] for k in new})
    m.apply(writes)
    mine["resources"] = merged
    files = {tuple(x) for x in mine.get("files") or []}
    mine["files"] = sorted(files | {(w.field, m.file_of(w)) for w in writes if m.file_of(w)})
    return sorted(new) + (["devices"] if "devices" in resources else [])


@hookimpl
def lamina_processes(ctx) -> list[int] | None:
    m = _manager(ctx)
    return m.pids() if m else None


@hookimpl
def lamina_freeze(ctx, frozen: bool) -> bool | None:
    m = _manager(ctx)
    if m is None:
        raise LaminaError("the container has no cgroup to freeze")
    m.freeze(frozen)
    return True


@hookimpl
def lamina_kill_all(ctx, signal: int) -> bool | None:
    m = _manager(ctx)
    if m is None:
        return None
    m.kill(signal)
    return True


@hookimpl
def lamina_stats(ctx) -> dict | None:
    m = _manager(ctx)
    return m.stats() if m else None


@hookimpl
def lamina_teardown(ctx) -> None:
    mine = ctx.mine(NAME)
    m = _manager(ctx)
    if m is None:
        return
    errors = m.remove(mine.get("created") or [])
    bpf = mine.get("bpf")
    if bpf and bpf["dir"] not in (mine.get("created") or []) and os.path.isdir(bpf["dir"]):
        from lamina.plugins.cgroups import bpf_devices

        try:
            bpf_devices.detach(bpf["dir"], bpf["id"])  # a cgroup lamina did not make keeps no program of it
        except OSError as e:
            errors.append(f"cannot detach the device program from {bpf['dir']}: {e}")
    if errors:
        raise LaminaError("; ".join(errors))


from lamina.plugins.cgroups.audit import lamina_audit  # noqa: E402,F401  (the audit report, its own module)

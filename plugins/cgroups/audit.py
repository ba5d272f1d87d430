"""The cgroups plugin's audit report: where the kernel placed the init, and the limits set.

Read from /proc/<pid>/cgroup and the cgroup's own files (what the kernel holds), independent of
how the plugin manages the hierarchies. Kept apart from plugin.py; plugin.py re-exports it.
"""

from __future__ import annotations

import os

from lamina import hookimpl

# limit files read back, by the linux.resources key that sets them (v1 and v2 names)
FILES = {
    "memory": ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
               "memory.max", "memory.swap.max", "memory.low"),
    "cpu": ("cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.weight", "cpu.max",
            "cpuset.cpus", "cpuset.mems"),
    "pids": ("pids.max",),
    "blockIO": ("blkio.weight", "io.weight"),
}


@hookimpl
def lamina_audit(ctx) -> dict:
    """The init's cgroup in each hierarchy and the configured limits as the cgroup files say."""
    from lamina.cgroupinfo import host_hierarchies

    mounts = {h.key: h.mountpoint for h in host_hierarchies()}
    paths: dict[str, str] = {}
    rels: set[str] = set()
    with open(f"/proc/{ctx.pid}/cgroup") as f:
        for line in f:
            _, key, path = line.rstrip("\n").split(":", 2)
            if key in mounts:
                paths[key or "unified"] = os.path.join(mounts[key], path.lstrip("/"))
                rels.add(path)
    out: dict = {"path": rels.pop() if len(rels) == 1 else sorted(paths.values())}
    resources = (ctx.config.get("linux") or {}).get("resources") or {}
    limits = {}
    for key, files in FILES.items():
        if key not in resources:
            continue
        for name in files:
            for p in paths.values():
                try:
                    with open(os.path.join(p, name)) as f:
                        limits[name] = f.read().strip()
                    break
                except OSError:
                    continue
    # every other file a limit was written to (hugetlb, io.max, ...), as apply_limits recorded it
    for _field, path in ctx.plugin_state.get("cgroups", {}).get("files") or []:
        try:
            with open(path) as f:
                limits.setdefault(os.path.basename(path), f.read().strip())
        except OSError:
            continue
    if limits:
        out["limits"] = limits
    bpf = ctx.plugin_state.get("cgroups", {}).get("bpf")
    if bpf:
        out["device_program"] = bpf  # cgroup v2: the eBPF program's id and where it is attached
    dev = paths.get("devices")
    if dev and resources.get("devices"):
        try:
            with open(os.path.join(dev, "devices.list")) as f:
                out["device_rules"] = f.read().splitlines()
        except OSError:
            pass
    return out

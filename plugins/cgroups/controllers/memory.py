"""linux.resources.memory: limit, reservation, swap, swappiness, disableOOMKiller, useHierarchy,
kernelTCP, checkBeforeUpdate.

The runtime spec's ``swap`` is the limit of memory *plus* swap (v1's memory.memsw.limit_in_bytes);
cgroup v2 limits swap alone, so there memory.swap.max = swap - limit. A value of 0 means "not
set" (as runc reads it); -1 means unlimited. ``kernel`` is ignored: the kernel dropped
kernel-memory limits (writes fail since Linux 6.1) and the spec marks the field NOT RECOMMENDED.
"""

from __future__ import annotations

from lamina.errors import LaminaError
from lamina.plugins.cgroups.fsio import Write

F = "linux.resources.memory"
SIZES = ("limit", "reservation", "swap", "kernelTCP")


def needs(m: dict) -> dict[str, str]:
    used = [k for k, v in m.items() if v is not None and k != "kernel"]
    return {"memory": f"{F}.{used[0]}"} if used else {}


def _set(v) -> bool:
    return v is not None and v != 0


def check(m: dict, layout) -> list[str]:
    p = []
    for k in SIZES:
        v = m.get(k)
        if v is not None and v < -1:
            p.append(f"{F}.{k}: {v} is not a size (bytes, or -1 for unlimited)")
    limit, swap = m.get("limit"), m.get("swap")
    if _set(swap) and swap != -1:
        if not _set(limit) or limit == -1:
            p.append(f"{F}.swap: {swap} needs {F}.limit (swap is the limit of memory plus swap)")
        elif swap < limit:
            p.append(f"{F}.swap: {swap} is below {F}.limit {limit}: swap is the limit of memory plus "
                     "swap, so it must be at least the memory limit (or -1 for unlimited swap)")
    sw = m.get("swappiness")
    if sw is not None and sw > 100:
        p.append(f"{F}.swappiness: {sw} is out of range [0, 100]")
    if layout.version("memory") == 2:
        if sw is not None:
            p.append(f"{F}.swappiness: cgroup v2 has no per-cgroup swappiness; remove the field")
        if m.get("disableOOMKiller"):
            p.append(f"{F}.disableOOMKiller: cgroup v2 cannot turn the OOM killer off for a cgroup")
        if m.get("useHierarchy") is False:
            p.append(f"{F}.useHierarchy: cgroup v2 memory accounting is always hierarchical")
        if _set(m.get("kernelTCP")):
            p.append(f"{F}.kernelTCP: cgroup v2 has no separate TCP buffer limit")
    return p


def _usage_check(m: dict, probe, usage_file: str) -> None:
    limit = m.get("limit")
    if not m.get("checkBeforeUpdate") or not _set(limit) or limit == -1:
        return
    usage = probe.read("memory", usage_file)
    if usage is not None and usage.strip().isdigit() and limit < int(usage):
        raise LaminaError(f"{F}.limit: {limit} is below the container's current memory usage "
                          f"({int(usage)} bytes, {usage_file}) and {F}.checkBeforeUpdate is set")


def plan(m: dict, layout, probe) -> list[Write]:
    return _v2(m, probe) if layout.version("memory") == 2 else _v1(m, probe)


def _v1(m: dict, probe) -> list[Write]:
    _usage_check(m, probe, "memory.usage_in_bytes")
    out: list[Write] = []
    limit, swap = m.get("limit"), m.get("swap")
    memsw = "memory.memsw.limit_in_bytes"
    if limit == -1 and not _set(swap) and probe.exists("memory", memsw):
        swap = -1  # unlimited memory with swap unset: lift memory+swap too, or the limit cannot rise
    w_limit = Write("memory", "memory.limit_in_bytes", str(limit), f"{F}.limit",
                    hint="the kernel could not reclaim the container's memory below the new limit"
                    if limit and limit > 0 else "")
    w_swap = Write("memory", memsw, str(swap), f"{F}.swap",
                   hint="memory+swap must stay at least the memory limit",
                   missing="swap accounting is off: boot the kernel with swapaccount=1")
    if _set(limit) and _set(swap):
        # memsw >= limit must hold after each write: raise memsw first when it grows past the
        # current limit, otherwise lower the limit first
        cur = probe.read("memory", "memory.limit_in_bytes")
        current = int(cur) if cur and cur.strip().lstrip("-").isdigit() else -1
        out += [w_swap, w_limit] if swap == -1 or current < 0 or current <= swap else [w_limit, w_swap]
    elif _set(limit):
        out.append(w_limit)
    elif _set(swap):
        out.append(w_swap)
    if _set(m.get("reservation")):
        out.append(Write("memory", "memory.soft_limit_in_bytes", str(m["reservation"]), f"{F}.reservation"))
    if m.get("swappiness") is not None:
        out.append(Write("memory", "memory.swappiness", str(m["swappiness"]), f"{F}.swappiness"))
    if m.get("disableOOMKiller") is not None:
        out.append(Write("memory", "memory.oom_control", "1" if m["disableOOMKiller"] else "0",
                         f"{F}.disableOOMKiller"))
    if m.get("useHierarchy") is not None:
        out.append(Write("memory", "memory.use_hierarchy", "1" if m["useHierarchy"] else "0",
                         f"{F}.useHierarchy", hint="this kernel's memory accounting is always hierarchical"
                         if not m["useHierarchy"] else ""))
    if _set(m.get("kernelTCP")):
        out.append(Write("memory", "memory.kmem.tcp.limit_in_bytes", str(m["kernelTCP"]), f"{F}.kernelTCP"))
    return out


def swap_v2(limit, swap) -> str | None:
    """memory.swap.max for a spec (limit, swap) pair, or None to leave it alone."""
    if swap == -1 or (limit == -1 and not _set(swap)):
        return "max"
    if not _set(swap):
        return None
    return str(swap - limit)


def plan_v2_value(v: int) -> str:
    return "max" if v == -1 else str(v)


def _v2(m: dict, probe) -> list[Write]:
    _usage_check(m, probe, "memory.current")
    out: list[Write] = []
    limit, swap = m.get("limit"), m.get("swap")
    if _set(limit):
        out.append(Write("memory", "memory.max", plan_v2_value(limit), f"{F}.limit"))
    sv = swap_v2(limit, swap)
    if sv is not None and (_set(swap) or probe.exists("memory", "memory.swap.max")):
        out.append(Write("memory", "memory.swap.max", sv, f"{F}.swap",
                         missing="this kernel has no swap controller (CONFIG_MEMCG_SWAP)"))
    if _set(m.get("reservation")):
        out.append(Write("memory", "memory.low", plan_v2_value(m["reservation"]), f"{F}.reservation"))
    return out

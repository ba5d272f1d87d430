"""linux.resources.blockIO: weights, per-device weights and throttles (v1 blkio, v2 io).

Weights go to BFQ's files when the kernel has BFQ (blkio.bfq.weight, io.bfq.weight: same scale
as the spec, 1-1000), else to the generic ones: v1 blkio.weight (CFQ's, gone since Linux 5.0),
v2 io.weight, whose scale is 1-10000: io.weight = 1 + (weight - 10) * 9999 / 990 (runc's and
crun's linear mapping of [10, 1000] on [1, 10000]). leafWeight existed only with CFQ on v1.
A throttle rate of 0 removes that limit.
"""

from __future__ import annotations

from lamina.plugins.cgroups.fsio import Write

F = "linux.resources.blockIO"
THROTTLES = {  # spec field -> (v1 file, v2 io.max key)
    "throttleReadBpsDevice": ("blkio.throttle.read_bps_device", "rbps"),
    "throttleWriteBpsDevice": ("blkio.throttle.write_bps_device", "wbps"),
    "throttleReadIOPSDevice": ("blkio.throttle.read_iops_device", "riops"),
    "throttleWriteIOPSDevice": ("blkio.throttle.write_iops_device", "wiops"),
}
NO_CFQ = "leaf weights need the CFQ I/O scheduler, which Linux removed in 5.0"


def io_weight(weight: int) -> int:
    """The spec's (v1) weight [10, 1000] on cgroup v2's io.weight [1, 10000]."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def needs(b: dict) -> dict[str, str]:
    used = [k for k, v in b.items() if v not in (None, [], 0)]
    return {"blkio": f"{F}.{used[0]}"} if used else {}


def check(b: dict, layout) -> list[str]:
    p = []
    for k in ("weight", "leafWeight"):
        v = b.get(k)
        if v and not 10 <= v <= 1000:
            p.append(f"{F}.{k}: {v} is out of range [10, 1000]")
    for i, d in enumerate(b.get("weightDevice") or []):
        for k in ("weight", "leafWeight"):
            v = d.get(k)
            if v and not 10 <= v <= 1000:
                p.append(f"{F}.weightDevice[{i}].{k}: {v} is out of range [10, 1000]")
    v2 = layout.version("blkio") == 2
    if v2 and b.get("leafWeight"):
        p.append(f"{F}.leafWeight: cgroup v2 has no leaf weights ({NO_CFQ})")
    for i, d in enumerate(b.get("weightDevice") or []):
        if v2 and d.get("leafWeight"):
            p.append(f"{F}.weightDevice[{i}].leafWeight: cgroup v2 has no leaf weights ({NO_CFQ})")
    for k in THROTTLES:
        for i, d in enumerate(b.get(k) or []):
            if d["major"] < 0 or d["minor"] < 0:
                p.append(f"{F}.{k}[{i}]: {d['major']}:{d['minor']} is not a device number")
    return p


def plan(b: dict, layout, probe) -> list[Write]:
    return _v2(b, probe) if layout.version("blkio") == 2 else _v1(b, probe)


def _v1(b: dict, probe) -> list[Write]:
    out = []
    bfq = probe.exists("blkio", "blkio.bfq.weight")
    no_weight = "this kernel has neither BFQ nor CFQ I/O weights"
    if b.get("weight"):
        out.append(Write("blkio", "blkio.bfq.weight" if bfq else "blkio.weight", str(b["weight"]),
                         f"{F}.weight", missing=no_weight))
    if b.get("leafWeight"):
        out.append(Write("blkio", "blkio.leaf_weight", str(b["leafWeight"]), f"{F}.leafWeight",
                         missing=NO_CFQ))
    for i, d in enumerate(b.get("weightDevice") or []):
        dev = f"{d['major']}:{d['minor']}"
        if d.get("weight"):
            out.append(Write("blkio", "blkio.bfq.weight_device" if bfq else "blkio.weight_device",
                             f"{dev} {d['weight']}", f"{F}.weightDevice[{i}].weight",
                             hint="the device must exist and, for BFQ weights, use the BFQ scheduler",
                             missing=no_weight))
        if d.get("leafWeight"):
            out.append(Write("blkio", "blkio.leaf_weight_device", f"{dev} {d['leafWeight']}",
                             f"{F}.weightDevice[{i}].leafWeight", missing=NO_CFQ))
    for k, (v1file, _) in THROTTLES.items():
        for i, d in enumerate(b.get(k) or []):
            out.append(Write("blkio", v1file, f"{d['major']}:{d['minor']} {d['rate']}", f"{F}.{k}[{i}]",
                             hint="the device must be a whole block device of this host"))
    return out


def _v2(b: dict, probe) -> list[Write]:
    out = []
    bfq = probe.exists("io", "io.bfq.weight")
    if b.get("weight"):
        w = b["weight"] if bfq else io_weight(b["weight"])
        out.append(Write("io", "io.bfq.weight" if bfq else "io.weight", str(w), f"{F}.weight",
                         missing="this kernel has no I/O weight control (io.weight or io.bfq.weight)"))
    for i, d in enumerate(b.get("weightDevice") or []):
        if d.get("weight"):
            w = d["weight"] if bfq else io_weight(d["weight"])
            out.append(Write("io", "io.bfq.weight" if bfq else "io.weight", f"{d['major']}:{d['minor']} {w}",
                             f"{F}.weightDevice[{i}].weight", hint="the device must exist"))
    for k, (_, key) in THROTTLES.items():
        for i, d in enumerate(b.get(k) or []):
            rate = d["rate"] or "max"
            out.append(Write("io", "io.max", f"{d['major']}:{d['minor']} {key}={rate}", f"{F}.{k}[{i}]",
                             hint="the device must be a whole block device of this host"))
    return out

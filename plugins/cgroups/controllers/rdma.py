"""linux.resources.rdma: per-device limits of RDMA/IB handles and objects (rdma.max, the same
on v1 and v2). The device must exist on the host; an absent limit is "max"."""

from __future__ import annotations

import re

from lamina.plugins.cgroups.fsio import Write

F = "linux.resources.rdma"
NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def needs(r: dict) -> dict[str, str]:
    return {"rdma": F} if r else {}


def check(r: dict, layout) -> list[str]:
    return [f"{F}.{dev}: {dev!r} is not an RDMA device name" for dev in r if not NAME_RE.match(dev)]


def line(dev: str, limits: dict) -> str:
    def v(k: str) -> str:
        return "max" if limits.get(k) is None else str(limits[k])

    return f"{dev} hca_handle={v('hcaHandles')} hca_object={v('hcaObjects')}"


def plan(r: dict, layout, probe) -> list[Write]:
    return [Write("rdma", "rdma.max", line(dev, limits or {}), f"{F}.{dev}",
                  hint="the device must be an RDMA device of this host (see rdma.max of the parent)")
            for dev, limits in r.items()]

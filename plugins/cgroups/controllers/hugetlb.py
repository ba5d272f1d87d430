"""linux.resources.hugepageLimits: per page size, the limit of huge pages in bytes.

v1: hugetlb.<size>.limit_in_bytes, v2: hugetlb.<size>.max; where the kernel has reservation
accounting (hugetlb.<size>.rsvd.*) the same limit is set on reservations too, so a process
cannot reserve pages it could not fault in (as runc does). <size> is the spec's pageSize
("2MB", "1GB", "64KB"), which must be a huge page size of this host.
"""

from __future__ import annotations

import os
import re

from lamina.plugins.cgroups.fsio import Write

F = "linux.resources.hugepageLimits"
SIZE_RE = re.compile(r"^(\d+)(KB|MB|GB)$")
UNIT_KB = {"KB": 1, "MB": 1024, "GB": 1024 * 1024}


def host_sizes() -> list[str]:
    """The host's huge page sizes, named as the hugetlb controller names them."""
    out = []
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return out
    for n in names:
        m = re.match(r"^hugepages-(\d+)kB$", n)
        if not m:
            continue
        kb = int(m.group(1))
        out.append(f"{kb >> 20}GB" if kb >= 1 << 20 else f"{kb >> 10}MB" if kb >= 1 << 10 else f"{kb}KB")
    return sorted(out, key=lambda s: int(SIZE_RE.match(s).group(1)) * UNIT_KB[SIZE_RE.match(s).group(2)])


def needs(limits: list) -> dict[str, str]:
    return {"hugetlb": F} if limits else {}


def check(limits: list, layout) -> list[str]:
    p = []
    sizes = host_sizes()
    for i, h in enumerate(limits):
        ps = h["pageSize"]
        if not SIZE_RE.match(ps):
            p.append(f"{F}[{i}].pageSize: {ps!r} is not a page size such as \"2MB\" or \"1GB\"")
        elif ps not in sizes:
            p.append(f"{F}[{i}].pageSize: {ps} is not a huge page size of this host "
                     f"(it has {', '.join(sizes) or 'none'})")
    return p


def plan(limits: list, layout, probe) -> list[Write]:
    v2 = layout.version("hugetlb") == 2
    out = []
    for i, h in enumerate(limits):
        ps, limit = h["pageSize"], str(h["limit"])
        main, rsvd = ((f"hugetlb.{ps}.max", f"hugetlb.{ps}.rsvd.max") if v2 else
                      (f"hugetlb.{ps}.limit_in_bytes", f"hugetlb.{ps}.rsvd.limit_in_bytes"))
        out.append(Write("hugetlb", main, limit, f"{F}[{i}].limit"))
        if probe.exists("hugetlb", rsvd):
            out.append(Write("hugetlb", rsvd, limit, f"{F}[{i}].limit"))
    return out

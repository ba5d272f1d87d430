"""Where a container's cgroup goes in each of the host's hierarchies."""

from __future__ import annotations

import os

from lamina.cgroupinfo import host_hierarchies, own_cgroups


def container_paths(cgroups_path: str | None, cid: str) -> dict[str, str]:
    """mountpoint -> directory of the container's cgroup. An absolute cgroupsPath is taken from
    each hierarchy's root; a relative one (and the default, the id) from the cgroup of the
    runtime itself in that hierarchy, separately for every hierarchy, as runc does."""
    rel = cgroups_path if cgroups_path else cid
    own = own_cgroups()
    out = {}
    for h in host_hierarchies():
        if h.key not in own:
            continue
        sub = rel if rel.startswith("/") else os.path.join(own[h.key], rel)
        out[h.mountpoint] = os.path.normpath(os.path.join(h.mountpoint, sub.lstrip("/")))
    return out

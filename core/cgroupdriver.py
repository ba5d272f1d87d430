"""The cgroup driver `create` and `run` use: lamina has the cgroupfs one (the cgroups plugin).

``--systemd-cgroup`` asks for systemd's driver, where linux.cgroupsPath is "slice:prefix:name"
and the container lives in a transient scope unit. lamina does not implement it; what it does
is tell precisely why a config cannot run with it, instead of silently falling back to cgroupfs.
"""

from __future__ import annotations

import os
import re

from lamina.errors import LaminaError

SYSTEMD_PATH_RE = re.compile(r"^[^:/]*:[^:/]*:[^:/]+$")


def systemd_running() -> bool:
    """What sd_booted(3) checks: systemd is PID 1 and made its runtime directory."""
    return os.path.isdir("/run/systemd/system")


def refuse_systemd(bundle: str | None) -> None:
    from lamina.config import load as config_load

    try:
        config = config_load.load(config_load.bundle_path(bundle))
    except LaminaError:
        config = {}  # create reports the unreadable config itself
    linux = (config.get("linux") if isinstance(config, dict) else None) or {}
    path = linux.get("cgroupsPath") if isinstance(linux, dict) else None
    if path and (not isinstance(path, str) or not SYSTEMD_PATH_RE.match(path)):
        raise LaminaError(f"--systemd-cgroup: linux.cgroupsPath {path!r} is not of the form "
                          "\"slice:prefix:name\" (such as \"system.slice:lamina:<id>\")")
    if not systemd_running():
        raise LaminaError("systemd not running on this host, cannot use the systemd cgroup driver "
                          "(--systemd-cgroup); use the default cgroupfs driver")
    raise LaminaError("--systemd-cgroup: the systemd cgroup driver is not supported yet; "
                      "use the default cgroupfs driver")

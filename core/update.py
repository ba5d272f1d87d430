"""`update`: change the resource limits of a created, running or paused container.

The new values come either as a runtime-spec LinuxResources object (``--resources FILE`` or
``-`` for stdin, as containerd and podman send them) or from runc's single-value flags; the two
are not mixed. Only the fields given change; the plugin that owns them merges them with what
was applied before, checks the result as create would, and writes it.
"""

from __future__ import annotations

import json
import re
import sys

from lamina import state
from lamina.config import schema
from lamina.container import Container
from lamina.errors import ConfigError, LaminaError

SIZE_RE = re.compile(r"^(-?\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE)
MULT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(flag: str, text: str) -> int:
    """A byte size as runc's flags take it: 1048576, 64m, 1g, 512KiB; -1 for unlimited."""
    m = SIZE_RE.match(text.strip())
    if not m:
        raise LaminaError(f"{flag}: {text!r} is not a size (bytes, or a number with k, m, g, t; "
                          "-1 for unlimited)")
    value = float(m.group(1))
    if value < 0:
        if value != -1 or m.group(2):
            raise LaminaError(f"{flag}: {text!r}: the only negative size is -1 (unlimited)")
        return -1
    return int(value * MULT[m.group(2).lower()])


def from_flags(*, memory=None, memory_reservation=None, memory_swap=None, cpu_shares=None, cpu_quota=None,
               cpu_period=None, cpu_rt_runtime=None, cpu_rt_period=None, cpuset_cpus=None, cpuset_mems=None,
               pids_limit=None, blkio_weight=None) -> dict:
    """LinuxResources from runc's `update` flags (None: not given)."""
    res: dict = {}
    mem = {k: parse_size(f"--{flag}", v) for k, flag, v in (
        ("limit", "memory", memory), ("reservation", "memory-reservation", memory_reservation),
        ("swap", "memory-swap", memory_swap)) if v is not None}
    if mem:
        res["memory"] = mem
    cpu = {k: v for k, v in (("shares", cpu_shares), ("quota", cpu_quota), ("period", cpu_period),
                             ("realtimeRuntime", cpu_rt_runtime), ("realtimePeriod", cpu_rt_period),
                             ("cpus", cpuset_cpus), ("mems", cpuset_mems)) if v is not None}
    if cpu:
        res["cpu"] = cpu
    if pids_limit is not None:
        res["pids"] = {"limit": pids_limit}
    if blkio_weight is not None:
        res["blockIO"] = {"weight": blkio_weight}
    return res


def load_resources(path: str) -> dict:
    """--resources: a LinuxResources JSON object from a file, or from stdin with ``-``."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
        res = json.loads(data)
    except FileNotFoundError:
        raise LaminaError(f"--resources {path}: no such file or directory") from None
    except (OSError, ValueError) as e:
        raise LaminaError(f"--resources {path}: not a JSON object: {e}") from None
    if not isinstance(res, dict):
        raise LaminaError(f"--resources {path}: must be a JSON object (a runtime-spec LinuxResources)")
    return res


def update(root: str, cid: str, resources: dict) -> None:
    problems: list[str] = []
    schema.check(schema.RESOURCES, resources, "linux.resources", problems)
    if problems:
        raise ConfigError(problems)
    if not any(v not in (None, {}, []) for v in resources.values()):
        raise LaminaError("update: nothing to change (give --resources or one of the limit flags)")
    c = Container.load(root, cid, lock=True)
    try:
        if c.status() == "stopped":
            raise LaminaError(f"cannot update container {cid}: it is stopped")
        from lamina.pluginmanager import Plugins

        ctx = c.context()
        Plugins().update(ctx, resources)
        c.st["plugins"] = ctx.plugin_state
        state.write(c.dir, c.st)
        state.write(c.dir, c.st, state.BACKUP_FILE)
    finally:
        c.close()

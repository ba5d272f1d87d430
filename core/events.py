"""`events`: the container's resource counters (and OOM kills) as runc prints them.

``--stats`` prints one {"type": "stats", "id", "data"} line and exits; without it, a stats
line every interval and an {"type": "oom", "id"} line for each new OOM kill, until the
container stops. The counters come from the plugin that owns the cgroup (``lamina_stats``).
"""

from __future__ import annotations

import json
import re
import sys
import time

from lamina.container import Container
from lamina.errors import ContainerNotRunning, LaminaError

UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """A Go duration ("5s", "1m30s", "250ms") in seconds, as runc's --interval takes it."""
    t = text.strip()
    parts = DURATION_RE.findall(t)
    if not parts or "".join(n + u for n, u in parts) != t:
        raise LaminaError(f"--interval: {text!r} is not a duration (such as 5s, 250ms, 1m)")
    seconds = sum(float(n) * UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise LaminaError(f"--interval: {text!r} must be positive")
    return seconds


def _oom_kills(data: dict | None) -> int:
    return int(((data or {}).get("memory") or {}).get("raw", {}).get("oom_kill", 0))


def events(root: str, cid: str, stats_only: bool, interval: float, out=None) -> None:
    out = out or sys.stdout
    c = Container.load(root, cid)
    if c.status() == "stopped":
        raise ContainerNotRunning(cid, "stopped")
    from lamina.pluginmanager import Plugins

    plugins = Plugins()
    ctx = c.context()

    def emit(obj: dict) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    data = plugins.stats(ctx)
    if data is None:
        raise LaminaError(f"events: no enabled plugin reports the counters of container {cid}")
    emit({"type": "stats", "id": cid, "data": data})
    if stats_only:
        return
    seen_oom = _oom_kills(data)
    next_stats = time.monotonic() + interval
    import lamina

    lamina.longlived()
    while True:
        time.sleep(min(0.5, interval))
        stopped = c.status() == "stopped"
        data = plugins.stats(ctx)  # read even when stopped: an OOM kill may be why
        kills = _oom_kills(data)
        for _ in range(max(0, kills - seen_oom)):
            emit({"type": "oom", "id": cid})
        seen_oom = max(seen_oom, kills)
        if stopped:
            return
        if time.monotonic() >= next_stats:
            emit({"type": "stats", "id": cid, "data": data})
            next_stats += interval
